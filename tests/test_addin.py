"""The Excel add-in: parsed back from the built .xlam (zip, ribbon XML, VBA source) and checked.

Nothing here opens Excel; the ribbon, the VBA modules and the config sheet are read out of
the file the way Excel would find them, and tied back to the Python they call.
"""

from __future__ import annotations

import io
import json
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from lxml import etree

from smmsheet import excel
from smmsheet.addin import (
    ADDIN_NAME,
    BUTTONS,
    CONFIG_LOOKUP_EDITS,
    CONFIG_SHEET,
    CUSTOM_UI_NS,
    HELP_SUB,
    HELP_VBA_MODULE,
    MAC_FORMULA_TEXT,
    addin_dir,
    build_addin,
    read_addin,
    template_path,
)
from smmsheet.cli import addin_cli
from smmsheet.errors import ConfigError
from smmsheet.udf import udf_names

from .workbooks import OOXML_VALIDATOR, schema_errors

FORMULA_NAMES = udf_names()

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "workbook_templates" / ADDIN_NAME
NS = {"ui": CUSTOM_UI_NS}
BUTTON_LABELS = {
    "Place orders",
    "Refresh status",
    "Refill",
    "Refill status",
    "Cancel",
    "Balance",
    "Load services",
    "Self-test",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("addin") / ADDIN_NAME
    build_addin(path)
    return path


@pytest.fixture(scope="module")
def modules(built: Path) -> dict[str, str]:
    """VBA module name -> source, read back out of the built file's vbaProject.bin."""
    from pyopenvba import ExcelFile

    with ExcelFile(built) as book:
        return {name: book.get_module(name).replace("\r\n", "\n") for name in book.module_names()}


@pytest.fixture(scope="module")
def template_modules() -> dict[str, str]:
    from pyopenvba import ExcelFile

    with ExcelFile(template_path()) as book:
        return {name: book.get_module(name).replace("\r\n", "\n") for name in book.module_names()}


@pytest.fixture(scope="module")
def ribbon(built: Path) -> etree._Element:
    with zipfile.ZipFile(built) as package:
        return etree.fromstring(package.read("customUI/customUI.xml"))


def subs(source: str) -> dict[str, str]:
    """Sub name -> its parameter list, for every Sub of a module."""
    return dict(re.findall(r"^Sub (\w+)\(([^)]*)\)", source, flags=re.M))


# --------------------------------------------------------------------------- ribbon <-> VBA


def test_the_ribbon_has_a_smmsheet_tab_with_its_buttons(ribbon: etree._Element) -> None:
    tabs = ribbon.findall(".//ui:tab", NS)
    assert [tab.get("label") for tab in tabs] == ["smmsheet"]
    labels = [b.get("label") for b in ribbon.findall(".//ui:button", NS)]
    assert set(labels) == BUTTON_LABELS and len(labels) == len(BUTTON_LABELS)


def test_every_ribbon_action_has_its_vba_callback(
    ribbon: etree._Element, modules: dict[str, str]
) -> None:
    for button in ribbon.findall(".//ui:button", NS):
        module, _, callback = (button.get("onAction") or "").partition(".")
        assert module in modules, f"{button.get('label')}: no VBA module {module}"
        assert subs(modules[module]).get(callback) == "control As IRibbonControl", callback


def test_every_runpython_target_is_a_macro_of_smmsheet_excel(modules: dict[str, str]) -> None:
    calls = [
        call
        for source in modules.values()
        for call in re.findall(r'RunPython "([^"]*)"', source)
        if "smmsheet" in call
    ]
    assert len(calls) == len(BUTTON_LABELS)
    for call in calls:
        match = re.fullmatch(r"import smmsheet\.excel; smmsheet\.excel\.(\w+)\(\)", call)
        assert match, call
        name = match.group(1)
        assert name in excel.MACROS and callable(getattr(excel, name)), name
    assert {b.macro for b in BUTTONS} == set(excel.MACROS)


def test_the_formulas_are_declared_as_xlwings_import_functions_would(
    modules: dict[str, str],
) -> None:
    from .windows_xlwings import xlwings_generated_udf_vba

    expected = xlwings_generated_udf_vba().replace("\r\n", "\n")
    ours = re.sub(
        r"(?m)^    #If Mac Then\n(?:        .*\n)+    #End If\n", "", modules["xlwings_udfs"]
    )
    assert ours.rstrip("\n") == expected.rstrip("\n")


def test_on_a_mac_every_formula_shows_a_short_text_not_a_vba_or_dll_error(
    modules: dict[str, str],
) -> None:
    bodies = re.findall(r"(?ms)^Function (\w+)\(.*?\n(.*?)^End Function", modules["xlwings_udfs"])
    assert {name for name, _ in bodies} == set(FORMULA_NAMES)
    for name, body in bodies:
        first = body.split("\n")[:3]
        assert first == [
            "    #If Mac Then",
            f'        {name} = "{MAC_FORMULA_TEXT}"',
            "        Exit Function",
        ], name  # before XLPy (the DLL) is reached
    assert MAC_FORMULA_TEXT.startswith("#SMM: ") and "Refresh status" in MAC_FORMULA_TEXT
    assert len(MAC_FORMULA_TEXT) <= 120


def test_the_formulas_get_function_wizard_help_in_the_smmsheet_category(
    modules: dict[str, str],
) -> None:
    from .windows_xlwings import udf_module_with_real_decorators

    windows_udf = udf_module_with_real_decorators()
    source = modules[HELP_VBA_MODULE]
    calls = re.findall(
        r"""Application\.MacroOptions Macro:="'" & ThisWorkbook\.Name & "'!(\w+)", _\n"""
        r'        Description:="((?:[^"]|"")*)", Category:="((?:[^"]|"")*)"'
        r'(?:, _\n        ArgumentDescriptions:=Array\(((?:"(?:[^"]|"")*"(?:, )?)*)\))?',
        source,
    )
    assert sorted(name for name, *_ in calls) == sorted(FORMULA_NAMES)
    for name, description, category, args in calls:
        info = getattr(windows_udf, name).__xlfunc__  # what xlwings' Import Functions uses
        assert description.replace('""', '"') == info["ret"]["doc"][:255]
        assert category == info["category"] == "smmsheet"
        docs = [d.replace('""', '"') for d in re.findall(r'"((?:[^"]|"")*)"', args)]
        assert docs == [a["doc"][:255] for a in info["args"] if not a["vba"]], name
    assert "On Error Resume Next" in source
    this = modules["ThisWorkbook"]
    assert re.search(rf"(?m)^Private Sub Workbook_Open\(\)\n    {HELP_SUB}\nEnd Sub", this)


def test_xlwings_own_vba_is_kept_except_the_project_name_and_config_lookup(
    modules: dict[str, str], template_modules: dict[str, str]
) -> None:
    expected = template_modules["xlwings"].replace(
        'PROJECT_NAME As String = "myaddin"', 'PROJECT_NAME As String = "smmsheet"'
    )
    # test_a_workbook_the_user_opens_cannot_choose_what_the_addin_runs says why:
    for before, after in CONFIG_LOOKUP_EDITS:
        expected = expected.replace(before, after)
    assert modules["xlwings"] == expected
    for name in ("Dictionary", "Sheet2"):
        assert modules[name] == template_modules[name]
    assert modules["ThisWorkbook"].startswith(template_modules["ThisWorkbook"].rstrip("\n"))
    assert "RibbonMyAddin" not in modules
    added = {"xlwings_udfs", "RibbonSmmsheet", HELP_VBA_MODULE}
    assert set(modules) == {*template_modules, *added} - {"RibbonMyAddin"}


def config_cells(path: Path) -> dict[str, str]:
    """The add-in's config sheet as xlwings' GetConfigFromSheet reads it: A1 down, keys and B."""
    with zipfile.ZipFile(path) as package:
        workbook = package.read("xl/workbook.xml").decode()
    assert re.findall(r'<sheet name="([^"]+)"', workbook) == [CONFIG_SHEET]
    assert "absPath" not in workbook
    return read_addin(path)[0]


def test_the_config_sheet_names_the_formulas_and_keeps_the_workbook_off_the_path(
    built: Path,
) -> None:
    assert config_cells(built) == {
        "UDF MODULES": "smmsheet.udf",
        "ADD_WORKBOOK_TO_PYTHONPATH": "false",  # prepare_sys_path adds folders only for "true"
    }


def test_an_interpreter_given_to_build_goes_into_the_config_sheet(tmp_path: Path) -> None:
    path = tmp_path / ADDIN_NAME
    odd = r"C:\Users\A & B <x>\venv\Scripts\pythonw.exe"
    build_addin(
        path, interpreters={"Interpreter_Win": odd, "Interpreter_Mac": "/opt/py/bin/python"}
    )
    settings = config_cells(path)
    assert settings["INTERPRETER_WIN"] == odd
    assert settings["INTERPRETER_MAC"] == "/opt/py/bin/python"
    assert settings["ADD_WORKBOOK_TO_PYTHONPATH"] == "false"
    with pytest.raises(ConfigError, match="not an interpreter setting"):
        build_addin(interpreters={"LICENSE_KEY": "x"})


# --------------------------------------------------------------------------- VBA project


def decompress(data: bytes) -> bytes:
    """MS-OVBA 2.4.1 decompression, written from the spec (not pyopenvba's, which built it)."""
    assert data[0] == 1, "CompressedContainer signature"
    out = bytearray()
    pos = 1
    while pos < len(data):
        header = int.from_bytes(data[pos : pos + 2], "little")
        size = (header & 0x0FFF) + 3
        chunk_end = min(pos + size, len(data))
        start = len(out)
        pos += 2
        if not header & 0x8000:  # raw chunk
            out += data[pos : pos + 4096]
            pos += 4096
            continue
        while pos < chunk_end:
            flags = data[pos]
            pos += 1
            for bit in range(8):
                if pos >= chunk_end:
                    break
                if not flags & (1 << bit):
                    out.append(data[pos])
                    pos += 1
                    continue
                token = int.from_bytes(data[pos : pos + 2], "little")
                pos += 2
                done = len(out) - start
                bits = max((done - 1).bit_length(), 4)
                length_mask = 0xFFFF >> bits
                offset = (token >> (16 - bits)) + 1
                length = (token & length_mask) + 3
                for _ in range(length):
                    out.append(out[-offset])
    return bytes(out)


def dir_records(path: Path) -> list[tuple[int, bytes]]:
    """The project information and reference records of the built add-in's VBA dir stream."""
    from pyopenvba.cfb import CFB

    with zipfile.ZipFile(path) as package:
        cfb = CFB.from_bytes(package.read("xl/vbaProject.bin"))
    raw = decompress(cfb.get_stream_in_storage("VBA", "dir"))
    records = []
    pos = 0
    while pos + 6 <= len(raw):
        rid, size = (
            int.from_bytes(raw[pos : pos + 2], "little"),
            int.from_bytes(raw[pos + 2 : pos + 6], "little"),
        )
        end = pos + (12 if rid == 0x09 else 6 + size)
        records.append((rid, raw[pos + 6 : end]))
        pos = end
    return records


def project_stream(path: Path) -> str:
    from pyopenvba.cfb import CFB

    with zipfile.ZipFile(path) as package:
        cfb = CFB.from_bytes(package.read("xl/vbaProject.bin"))
    return cfb.get_stream("PROJECT").decode("latin-1")


def test_the_vba_project_is_named_smmsheet(built: Path) -> None:
    records = dict(dir_records(built))
    assert records[0x04] == b"smmsheet"  # PROJECTNAME, what the VBA editor shows
    assert re.findall(r'(?m)^Name="([^"]*)"', project_stream(built)) == ["smmsheet"]
    assert b"MyAddin" not in b"".join(body for _, body in dir_records(built))


def test_no_folder_of_the_template_author_is_left_in_the_dir_stream(built: Path) -> None:
    from pyopenvba import ExcelFile

    with ExcelFile(template_path()) as template_book:
        template_dir = repr(template_book.vba_project().dir_raw)
    assert "\\\\Users\\\\" in template_dir  # the template does carry one: the test can fail
    text = b"".join(body for _, body in dir_records(built)).decode("latin-1")
    assert not re.search(r"(?i)[a-z]:\\users\\|/Users/|\\Temp\\VBE\\", text), text
    extended = [body for rid, body in dir_records(built) if rid == 0x30]
    original = [body for rid, body in dir_records(built) if rid == 0x33]
    assert extended and len(extended) == len(original)
    for ext, libid in zip(extended, original, strict=True):
        size = int.from_bytes(ext[:4], "little")
        assert ext[4 : 4 + size] == libid  # the Forms library by its registered name


def test_no_key_or_personal_data_travels_in_the_addin(built: Path, modules: dict[str, str]) -> None:
    with zipfile.ZipFile(built) as package:
        text = "\n".join(
            package.read(name).decode("utf-8", "replace") for name in package.namelist()
        )
    text += "\n".join(modules.values())
    forbidden = [
        r"(?i)api[_ -]?key\s*[=:]\s*\S",
        r"(?i)\b(secret|token|password)\s*[=:]\s*[\"']?\w{6,}",
        r"\bsk-[A-Za-z0-9_-]{8,}",
        r"sim-test-key",
        r"noncommercial",
        r"(?i)license_key\s*=\s*\"\w",
        r"(?i)C:\\Users\\",
        r"Felix",
    ]
    for pattern in forbidden:
        assert not re.search(pattern, text), pattern


# --------------------------------------------------------------------------- reproducible


def test_building_twice_gives_identical_bytes() -> None:
    assert build_addin() == build_addin()


def test_the_committed_addin_equals_a_fresh_build(modules: dict[str, str]) -> None:
    """Same parts, order, dates and content as a build from the installed xlwings.

    Byte equality across machines would also pin the zlib version, so the parts are
    compared uncompressed; building twice on one machine is byte-identical (above).
    """
    import xlwings

    assert COMMITTED.is_file(), "run: smmsheet addin build --out " + str(COMMITTED)
    from pyopenvba import ExcelFile

    with ExcelFile(COMMITTED) as book:
        committed_version = re.search(
            r'XLWINGS_VERSION As String = "([^"]+)"', book.get_module("xlwings")
        )
    assert committed_version
    if committed_version.group(1) != xlwings.__version__:
        pytest.skip(
            f"{COMMITTED.name} is built for xlwings {committed_version.group(1)}, "
            f"{xlwings.__version__} is installed: `smmsheet addin install` builds a matching one"
        )
    fresh = build_addin()
    with zipfile.ZipFile(COMMITTED) as old, zipfile.ZipFile(io.BytesIO(fresh)) as new:
        assert [(i.filename, i.date_time) for i in old.infolist()] == [
            (i.filename, i.date_time) for i in new.infolist()
        ]
        for name in new.namelist():
            assert old.read(name) == new.read(name), f"{name} differs: rebuild the add-in"


def test_pyopenvba_finds_nothing_to_repair_in_the_addin(built: Path) -> None:
    from pyopenvba import ExcelFile, check_file

    assert check_file(built).issues == ()
    with ExcelFile(built) as book:
        assert book.validate() == []


def test_building_without_pyopenvba_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyopenvba", None)
    with pytest.raises(ConfigError, match=r"pip install 'pyopenvba"):
        build_addin()


# --------------------------------------------------------------------------- install, CLI


@pytest.fixture
def runner() -> Iterator[tuple[CliRunner, click.Group]]:
    """The add-in commands mounted on the real `smmsheet` command, as cli.py registers them."""
    from smmsheet.cli import cli

    added = "addin" not in cli.commands
    if added:
        cli.add_command(addin_cli, "addin")
    try:
        yield CliRunner(), cli
    finally:
        if added:
            cli.commands.pop("addin", None)


def test_addin_build_writes_the_file(runner: tuple[CliRunner, click.Group], tmp_path: Path) -> None:
    run, cli = runner
    out = tmp_path / "out" / "smmsheet.xlam"
    result = run.invoke(cli, ["addin", "build", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert zipfile.is_zipfile(out) and f"Wrote {out}" in result.output


def test_addin_install_copies_into_the_given_folder(
    runner: tuple[CliRunner, click.Group], tmp_path: Path
) -> None:
    run, cli = runner
    result = run.invoke(cli, ["addin", "install", "--dir", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / ADDIN_NAME).is_file()


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="Excel exists there")
@pytest.mark.parametrize("args", [["addin", "install"], ["addin", "path"]])
def test_without_excel_install_and_path_fail_with_one_clear_line(
    runner: tuple[CliRunner, click.Group], args: list[str]
) -> None:
    run, cli = runner
    result = run.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 2
    assert "Excel is not available on this system" in result.output
    assert "Traceback" not in result.output


def test_xlstart_folder_on_windows_and_macos(tmp_path: Path) -> None:
    windows = addin_dir("win32", {"APPDATA": r"C:\Users\u\AppData\Roaming"})
    assert windows.parts[-3:] == ("Microsoft", "Excel", "XLSTART")
    sandbox = addin_dir("darwin", {}, home=tmp_path)
    assert str(sandbox).endswith("Microsoft/Office/Excel/XLSTART")
    (tmp_path / "Library/Group Containers/UBF8T346G9.Office/User Content").mkdir(parents=True)
    assert str(addin_dir("darwin", {}, home=tmp_path)).endswith("User Content/Startup/Excel")
    with pytest.raises(ConfigError, match="APPDATA"):
        addin_dir("win32", {})


def test_install_on_windows_names_pythonw_of_this_environment(tmp_path: Path) -> None:
    from smmsheet.addin import default_interpreter, install_addin

    scripts = tmp_path / "venv" / "Scripts"
    scripts.mkdir(parents=True)
    (scripts / "python.exe").write_bytes(b"")
    (scripts / "pythonw.exe").write_bytes(b"")
    pythonw = default_interpreter("win32", str(scripts / "python.exe"))
    assert pythonw == str(scripts / "pythonw.exe")  # no console window for each click
    assert default_interpreter("win32", str(tmp_path / "python.exe")).endswith("python.exe")
    installed = install_addin(tmp_path / "XLSTART", interpreter=pythonw, platform="win32")
    assert config_cells(installed.addin)["INTERPRETER_WIN"] == pythonw
    assert installed.mac_script is None
    default = install_addin(tmp_path / "other", platform="win32")
    assert default.interpreters == {"Interpreter_Win": default_interpreter("win32")}


def test_install_on_macos_names_the_interpreter_and_enables_runpython(tmp_path: Path) -> None:
    import xlwings

    from smmsheet.addin import install_addin

    installed = install_addin(platform="darwin", home=tmp_path)
    assert installed.addin.parent.name == "XLSTART" and installed.addin.is_file()
    assert config_cells(installed.addin)["INTERPRETER_MAC"] == sys.executable
    script = tmp_path / "Library/Application Scripts/com.microsoft.Excel"
    assert installed.mac_script == script / f"xlwings-{xlwings.__version__}.applescript"
    assert (
        installed.mac_script.read_bytes()
        == (Path(xlwings.__file__).parent / installed.mac_script.name).read_bytes()
    )


def test_addin_build_takes_the_interpreters(
    runner: tuple[CliRunner, click.Group], tmp_path: Path
) -> None:
    run, cli = runner
    out = tmp_path / ADDIN_NAME
    args = ["addin", "build", "--out", str(out), "--interpreter", r"D:\py\pythonw.exe"]
    result = run.invoke(cli, [*args, "--interpreter-mac", "/usr/bin/python3"])
    assert result.exit_code == 0, result.output
    settings = config_cells(out)
    assert settings["INTERPRETER_WIN"] == r"D:\py\pythonw.exe"
    assert settings["INTERPRETER_MAC"] == "/usr/bin/python3"


# --------------------------------------------------------------------------- doctor


def fake_python(tmp_path: Path, *, dll: str | None) -> Path:
    """A Windows venv layout: Scripts\\pythonw.exe, and the xlwings DLL where pip puts it."""
    scripts = tmp_path / "venv" / "Scripts"
    scripts.mkdir(parents=True)
    (scripts / "pythonw.exe").write_bytes(b"")
    if dll:
        (tmp_path / "venv" / dll).write_bytes(b"")
    return scripts / "pythonw.exe"


def test_doctor_passes_with_this_python_and_a_panel_that_answers(
    tmp_path: Path, sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smmsheet.addin import doctor

    from .conftest import point_cli_at

    point_cli_at(sim, tmp_path, monkeypatch)
    path = tmp_path / ADDIN_NAME
    build_addin(path, interpreters={"Interpreter_Mac": sys.executable})
    checks = doctor(path, platform="darwin", home=tmp_path)  # really runs this Python
    lines = [c.line() for c in checks]
    failed = [c for c in checks if not c.ok]
    assert [c.name for c in failed] == ["RunPython (macOS)"], lines
    assert any(line.startswith("ok    imports smmsheet: smmsheet ") for line in lines), lines
    # as docs/excel.md shows it and `smmsheet balance` prints it, not "1000.00000 USD"
    assert any(line.endswith("answers: balance 1000.00 USD") for line in lines), lines


@pytest.mark.parametrize(
    ("dll", "probe", "failing"),
    [
        ("xlwings64-{v}.dll", (0, "1.0 {v}"), []),
        (None, (0, "1.0 {v}"), ["xlwings DLL"]),
        ("xlwings64-{v}.dll", (0, "1.0 0.30.0"), ["imports smmsheet"]),
        (
            "xlwings64-{v}.dll",
            (1, "ModuleNotFoundError: No module named 'smmsheet'"),
            ["imports smmsheet"],
        ),
    ],
    ids=["venv-ok", "no-dll", "other-xlwings", "no-smmsheet"],
)
def test_doctor_on_windows_checks_the_dll_where_xlwings_vba_looks(
    tmp_path: Path, dll: str | None, probe: tuple[int, str], failing: list[str]
) -> None:
    import xlwings

    from smmsheet.addin import doctor

    version = xlwings.__version__
    python = fake_python(tmp_path, dll=dll.format(v=version) if dll else None)
    path = tmp_path / "XLSTART" / ADDIN_NAME
    build_addin(path, interpreters={"Interpreter_Win": str(python)})
    ran: list[list[str]] = []

    def run(command: list[str]) -> tuple[int, str]:
        ran.append(command)
        return probe[0], probe[1].format(v=version)

    checks = doctor(path, platform="win32", run=run, balance=lambda: "balance 5 USD")
    assert ran and ran[0][0] == str(python)
    assert [c.name for c in checks if not c.ok] == failing, [c.line() for c in checks]


def test_doctor_fails_an_addin_without_interpreter_or_file(tmp_path: Path) -> None:
    from smmsheet.addin import doctor
    from smmsheet.errors import ConfigError as Refused

    path = tmp_path / ADDIN_NAME
    build_addin(path)
    checks = doctor(path, platform="win32", balance=lambda: "ok")
    assert [c.name for c in checks if not c.ok] == ["interpreter"]

    def down() -> str:
        raise Refused("no panel URL")

    missing = doctor(tmp_path / "nowhere.xlam", platform="win32", balance=down)
    assert [c.ok for c in missing] == [False, False]


def test_addin_doctor_prints_one_line_per_check_and_exits_1_on_a_failure(
    runner: tuple[CliRunner, click.Group], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, cli = runner
    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("SMMSHEET_PANEL_URL", raising=False)
    path = tmp_path / ADDIN_NAME
    build_addin(path)
    result = run.invoke(cli, ["addin", "doctor", "--addin", str(path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert all(line.startswith(("ok  ", "FAIL")) for line in lines), lines
    assert any(line.startswith("FAIL  panel: no panel URL") for line in lines)


@pytest.mark.skipif(OOXML_VALIDATOR is None, reason="the Open XML validator is not installed")
def test_the_built_addin_passes_the_open_xml_validator(tmp_path: Path) -> None:
    path = tmp_path / ADDIN_NAME
    build_addin(path, interpreters={"Interpreter_Win": r"C:\Users\Jörg\OneDrive\v\pythonw.exe"})
    assert schema_errors(path) == set()


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


@pytest.mark.parametrize("command", ["path", "install"])
def test_an_addin_commands_json_error_names_the_command(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On Linux `addin path --json` failed with "command": "addin", where its success (and
    # every other addin document) says "addin path": a script keyed on it missed the error.
    monkeypatch.setattr("sys.platform", "linux")
    result = _cli(["addin", command, "--json"])
    document = json.loads(result.output)
    assert result.exit_code == 2 and document["ok"] is False, result.output
    assert document["command"] == f"addin {command}"


@pytest.mark.parametrize("command", ["path", "doctor", "install"])
def test_without_excel_an_addin_command_suggests_only_its_own_options(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On Linux `addin path` and `addin doctor` said "... or pass --dir": neither has it
    # (No such option: --dir), only install does; doctor checks a built file with --addin.
    import re

    from smmsheet.cli import cli

    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("SMMSHEET_PANEL_URL", "http://127.0.0.1:9/api/v2")  # doctor's panel
    monkeypatch.setenv("SMMSHEET_API_KEY", "k")
    result = _cli(["addin", command])
    assert "Excel is not available" in result.output
    own = {opt for p in cli.commands["addin"].commands[command].params for opt in p.opts}  # type: ignore[attr-defined]
    suggested = set(re.findall(r"--[a-z-]+", result.output))
    assert suggested <= own, result.output


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
