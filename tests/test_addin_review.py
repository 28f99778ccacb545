"""The built add-in as a validator, a user's shell and a hostile workbook see it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from smmsheet.addin import ADDIN_NAME, build_addin

from .workbooks import OOXML_VALIDATOR


@pytest.mark.skipif(OOXML_VALIDATOR is None, reason="the Open XML validator is not installed")
def test_the_built_addin_passes_the_open_xml_validator(tmp_path: Path) -> None:
    path = tmp_path / ADDIN_NAME
    build_addin(path, interpreters={"Interpreter_Win": r"C:\Users\Jörg\OneDrive\v\pythonw.exe"})
    assert OOXML_VALIDATOR is not None
    done = subprocess.run(
        [OOXML_VALIDATOR, str(path)], capture_output=True, text=True, timeout=300, check=False
    )
    report = json.loads(done.stdout)
    assert report["ok"], report["errors"]
