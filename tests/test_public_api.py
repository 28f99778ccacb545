"""The public API is pinned, and importing it stays light (Excel imports it per macro)."""

from __future__ import annotations

import subprocess
import sys

import smmsheet


def test_all_is_pinned_and_every_name_resolves():
    assert sorted(smmsheet.__all__) == smmsheet.__all__
    for name in smmsheet.__all__:
        assert getattr(smmsheet, name) is not None


def test_import_pulls_in_no_heavy_packages():
    code = (
        "import sys, smmsheet, smmsheet.cli; "
        "heavy = {'pandas', 'openpyxl', 'xlwings', 'lxml', 'python_calamine', 'requests'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
