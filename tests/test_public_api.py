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
