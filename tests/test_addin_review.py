"""The built add-in as a validator, a user's shell and a hostile workbook see it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

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


def _cli(args: list[str]) -> Any:
    from smmsheet.cli import cli

    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_addin_doctor_json_lists_every_check_and_never_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "k3y-in-the-environment-0042"
    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("SMMSHEET_PANEL_URL", f"http://127.0.0.1:9/api/v2?key={key}")
    monkeypatch.setenv("SMMSHEET_API_KEY", key)
    path = tmp_path / ADDIN_NAME
    build_addin(path)
    result = _cli(["addin", "doctor", "--addin", str(path), "--json"])
    assert key not in result.output
    document = json.loads(result.output)
    assert (document["command"], document["ok"], document["exit_code"]) == (
        "addin doctor",
        False,
        1,
    )
    checks = {check["name"]: check for check in document["checks"]}
    assert checks["add-in"]["ok"] is True
    assert checks["panel"]["ok"] is False
    assert result.exit_code == 1


@pytest.mark.parametrize("command", ["build", "path", "install"])
def test_every_addin_command_takes_json(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPDATA", str(tmp_path / "AppData"))
    monkeypatch.setattr("sys.platform", "win32")
    args = {
        "build": ["--out", str(tmp_path / ADDIN_NAME)],
        "path": [],
        "install": ["--dir", str(tmp_path / "XLSTART"), "--interpreter", r"C:\P y\pythonw.exe"],
    }[command]
    result = _cli(["addin", command, *args, "--json"])
    document = json.loads(result.output)
    assert document["ok"] is True, result.output
    assert document["command"] == f"addin {command}"
    assert str(document["addin"]).endswith(ADDIN_NAME)


def test_doctor_without_excel_still_checks_the_panel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smmsheet.addin import doctor

    checks = doctor(platform="linux", home=tmp_path, balance=lambda: "balance 5 USD")
    assert [(c.name, c.ok) for c in checks] == [("add-in", False), ("panel", True)]


def _get_config(path: Path) -> str:
    """The body of xlwings' GetConfig in the built add-in's VBA."""
    from pyopenvba import ExcelFile

    with ExcelFile(path) as book:
        source = book.get_module("xlwings")
    start = source.index("Function GetConfig(")
    return source[start : source.index("End Function", start)]


def test_a_workbook_the_user_opens_cannot_choose_what_the_addin_runs(tmp_path: Path) -> None:
    """A stranger's .xlsx (no macros) with a hidden sheet ``smmsheet.conf`` saying
    ``Interpreter_Win = \\\\host\\share\\x.exe`` or ``PYTHONPATH = \\\\host\\share``, or a file
    ``smmsheet.conf`` beside it in Downloads, would pick the program Excel starts at the
    next ribbon click or SMM_* formula. Only the add-in's own sheet and the user's own
    file (``%USERPROFILE%\\.smmsheet\\smmsheet.conf``) may configure it."""
    path = tmp_path / ADDIN_NAME
    build_addin(path)
    body = _get_config(path)
    assert "SheetExists(ActiveWorkbook" not in body
    assert 'source = "" Or source = "directory"' not in body
    assert "GetConfigFromSheet(ThisWorkbook)" in body  # the add-in's own sheet still counts
    assert 'source = "" Or source = "user"' in body  # and the user's own file


@pytest.mark.parametrize(
    ("user", "code_page", "ok"),
    [("Jörg", "cp1252", True), ("Дмитрий", "cp1252", False), ("Дмитрий", "cp1251", True)],
    ids=["german-on-western", "cyrillic-on-western", "cyrillic-on-cyrillic"],
)
def test_doctor_flags_an_interpreter_path_excel_cannot_pass_to_xlwings(
    tmp_path: Path, user: str, code_page: str, ok: bool
) -> None:
    """xlwings' VBA declares its DLL calls and LoadLibraryA with ``ByVal ... As String``:
    Excel hands them the interpreter's path in the system's ANSI code page, so a folder
    name outside it (a Cyrillic user name on a Western Windows) loads no DLL."""
    import xlwings

    from smmsheet.addin import doctor

    venv = tmp_path / "Users" / user / "OneDrive - Firma GmbH" / "venv 1"
    scripts = venv / "Scripts"
    scripts.mkdir(parents=True)
    python = scripts / "pythonw.exe"
    python.write_bytes(b"")
    (venv / f"xlwings64-{xlwings.__version__}.dll").write_bytes(b"")
    path = tmp_path / ADDIN_NAME
    build_addin(path, interpreters={"Interpreter_Win": str(python)})

    def run(command: list[str]) -> tuple[int, str]:
        return 0, f"1.0 {xlwings.__version__}"

    checks = doctor(
        path, platform="win32", run=run, balance=lambda: "balance 5 USD", code_page=code_page
    )
    failed = [c.name for c in checks if not c.ok]
    assert failed == ([] if ok else ["interpreter path"]), [c.line() for c in checks]
