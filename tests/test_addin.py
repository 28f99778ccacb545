"""The Excel add-in: parsed back from the built .xlam (zip, ribbon XML, VBA source) and checked.

Nothing here opens Excel; the ribbon, the VBA modules and the config sheet are read out of
the file the way Excel would find them, and tied back to the Python they call.
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from lxml import etree

from smmsheet import excel
from smmsheet.addin import (
    ADDIN_NAME,
    BUTTONS,
    CONFIG_SHEET,
    CUSTOM_UI_NS,
    addin_cli,
    addin_dir,
    build_addin,
    template_path,
)
from smmsheet.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "workbook_templates" / ADDIN_NAME
NS = {"ui": CUSTOM_UI_NS}
SEVEN = {
    "Place orders",
    "Refresh status",
    "Refill",
    "Refill status",
    "Cancel",
    "Balance",
    "Load services",
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


def test_the_ribbon_has_a_smmsheet_tab_with_the_seven_buttons(ribbon: etree._Element) -> None:
    tabs = ribbon.findall(".//ui:tab", NS)
    assert [tab.get("label") for tab in tabs] == ["smmsheet"]
    labels = [b.get("label") for b in ribbon.findall(".//ui:button", NS)]
    assert set(labels) == SEVEN and len(labels) == 7


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
    assert len(calls) == 7
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
    assert modules["xlwings_udfs"].rstrip("\n") == expected.rstrip("\n")


def test_xlwings_own_vba_is_kept_except_the_project_name(
    modules: dict[str, str], template_modules: dict[str, str]
) -> None:
    expected = template_modules["xlwings"].replace(
        'PROJECT_NAME As String = "myaddin"', 'PROJECT_NAME As String = "smmsheet"'
    )
    assert modules["xlwings"] == expected
    for name in ("ThisWorkbook", "Dictionary", "Sheet2"):
        assert modules[name] == template_modules[name]
    assert "RibbonMyAddin" not in modules
    assert set(modules) == {*template_modules, "xlwings_udfs", "RibbonSmmsheet"} - {"RibbonMyAddin"}


def test_the_config_sheet_holds_only_the_udf_module_setting(built: Path) -> None:
    with zipfile.ZipFile(built) as package:
        workbook = package.read("xl/workbook.xml").decode()
        shared = etree.fromstring(package.read("xl/sharedStrings.xml"))
        sheet = etree.fromstring(package.read("xl/worksheets/sheet1.xml"))
    assert re.findall(r'<sheet name="([^"]+)"', workbook) == [CONFIG_SHEET]
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    strings = [t.text for t in shared.iter(f"{main}t")]
    cells = {c.get("r"): strings[int(c.findtext(f"{main}v") or 0)] for c in sheet.iter(f"{main}c")}
    assert cells == {"A1": "UDF Modules", "B1": "smmsheet.udf"}
    assert "absPath" not in workbook


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

    assert COMMITTED.is_file(), "run: python -m smmsheet.addin build --out " + str(COMMITTED)
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
