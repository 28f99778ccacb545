"""The public API is pinned, and importing it stays light (Excel imports it per macro)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import smmsheet


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
    ],
)
def test_entry_modules_import_nothing_heavy(module, also_absent):
    names = (*HEAVY, *also_absent)
    code = f"import sys, smmsheet, {module}; print(sorted(set({names!r}) & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_version_is_written_in_one_place():
    import tomllib
    from pathlib import Path

    from click.testing import CliRunner

    from smmsheet._version import __version__
    from smmsheet.cli import cli
    from smmsheet.panel import USER_AGENT

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "smmsheet._version.__version__"}
    assert smmsheet.__version__ == __version__
    assert USER_AGENT.startswith(f"smmsheet/{__version__} ")
    version = CliRunner().invoke(cli, ["--version"], prog_name="smmsheet").output
    assert version == f"smmsheet, version {__version__}\n"
