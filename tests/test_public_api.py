"""The public API is pinned, and importing it stays light (Excel imports it per macro)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import smmsheet

ROOT = Path(__file__).resolve().parent.parent


def test_all_is_pinned_and_every_name_resolves():
    assert sorted(smmsheet.__all__) == smmsheet.__all__
    for name in smmsheet.__all__:
        assert getattr(smmsheet, name) is not None


HEAVY = ("pandas", "openpyxl", "xlwings", "lxml", "python_calamine", "requests")


@pytest.mark.parametrize(
    ("module", "also_absent"),
    [
        ("smmsheet.cli", ()),  # `smmsheet --help` stays instant
        ("smmsheet.excel", ("smmsheet.batch", "smmsheet.panel")),  # imported per ribbon click
        # the order model and the panel's typed results read values without the HTTP client
        ("smmsheet.orders", ("smmsheet.panel", "urllib3")),
        ("smmsheet.models", ("smmsheet.panel", "urllib3")),
        ("smmsheet.formulas", ()),  # the formulas' bodies run without xlwings
        ("smmsheet.batch", ("smmsheet.panel", "urllib3")),  # the engine drives a client given
    ],
)
def test_entry_modules_import_nothing_heavy(module, also_absent):
    names = (*HEAVY, *also_absent)
    code = f"import sys, smmsheet, {module}; print(sorted(set({names!r}) & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_version_is_written_in_one_place():
    import tomllib

    from click.testing import CliRunner

    from smmsheet._version import __version__
    from smmsheet.cli import cli
    from smmsheet.panel import USER_AGENT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "smmsheet._version.__version__"}
    assert smmsheet.__version__ == __version__
    assert USER_AGENT.startswith(f"smmsheet/{__version__} ")
    version = CliRunner().invoke(cli, ["--version"], prog_name="smmsheet").output
    assert version == f"smmsheet, version {__version__}\n"


def test_the_lazy_names_are_imported_for_type_checkers_too():
    tree = ast.parse((ROOT / "smmsheet" / "__init__.py").read_text())
    [block] = [node for node in tree.body if ast.unparse(node).startswith("if TYPE_CHECKING:")]
    seen = {
        alias.name: f"smmsheet.{node.module}"
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names
    }
    assert seen == smmsheet._LAZY


def test_a_type_checker_sees_each_public_name_as_the_real_thing(tmp_path):
    """``from smmsheet import PanelClient`` is the class to mypy, not ``Any`` (lazy import)."""
    lazy = sorted(smmsheet._LAZY.items())
    lines = [
        "from typing import assert_type, reveal_type",
        *(f"from smmsheet import {name}" for name, _ in lazy),
        *(f"import {module}" for module in sorted(set(smmsheet._LAZY.values()))),
        f"assert_type(PanelClient, type[{smmsheet._LAZY['PanelClient']}.PanelClient])",
    ]
    for name, module in lazy:  # the public name and the real one, revealed side by side
        lines += [f"reveal_type({name})", f"reveal_type({module}.{name})"]
    snippet = tmp_path / "uses_smmsheet.py"
    snippet.write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", str(snippet)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    revealed = re.findall(r'Revealed type is "(.*)"', result.stdout)
    assert len(revealed) == 2 * len(lazy)
    for (name, _), public, real in zip(lazy, revealed[::2], revealed[1::2], strict=True):
        assert public == real != "Any", name
