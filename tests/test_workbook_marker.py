"""The journal marker in a saved workbook: a hidden defined name, kept by other writers.

The engine stores its journal's identity in the workbook itself (issue 8 item 5), so the
marker must survive the writers a user may save with, and must not make the file one
Excel's schema check rejects.
"""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from lxml import etree

from smmsheet.workbook.xlsx import XlsxWorkbook, sheet_patch

from . import workbooks as wb

MARKER = 'smmsheet-journal v1 0b4a61f2-"x" run 77c1d3aa'
DEFINED_NAME = f"{{{wb.MAIN_NS}}}definedName"


def workbook_children(path: Path) -> list[str]:
    root = etree.fromstring(wb.read_member(path, "xl/workbook.xml"))
    return [etree.QName(child).localname for child in root]


def defined_names(path: Path) -> list[dict[str, str | None]]:
    root = etree.fromstring(wb.read_member(path, "xl/workbook.xml"))
    return [{**element.attrib, "text": element.text} for element in root.iter(DEFINED_NAME)]


def test_the_marker_is_a_hidden_name_in_the_schema_position(tmp_path: Path) -> None:
    path = tmp_path / "plain.xlsx"
    wb.build_sparse_workbook(path)  # no <definedNames> yet
    before = wb.members(path)
    book = XlsxWorkbook(path)
    book.write_marker(MARKER)
    book.save()
    after = wb.members(path)
    assert [name for name, _ in after] == [name for name, _ in before]
    changed = [name for (name, data), (_, new) in zip(before, after, strict=True) if data != new]
    assert changed == ["xl/workbook.xml"]
    children = workbook_children(path)
    assert children.index("sheets") < children.index("definedNames") < children.index("calcPr")
    assert defined_names(path) == [
        {"name": "_smmsheet_journal", "hidden": "1", "text": '"' + MARKER.replace('"', '""') + '"'}
    ]
    assert XlsxWorkbook(path).read_marker() == MARKER


def test_writing_the_marker_again_replaces_it_and_keeps_other_names(rich: Path) -> None:
    for text in ("first", "second"):
        book = XlsxWorkbook(rich)
        book.write_marker(text)
        book.save()
    names = {str(n["name"]): n["text"] for n in defined_names(rich)}
    assert names == {"Rates": "Prices!$C$2:$C$4", "_smmsheet_journal": '"second"'}
    assert XlsxWorkbook(rich).read_marker() == "second"


def test_a_sheet_level_name_is_not_the_marker(tmp_path: Path) -> None:
    path = tmp_path / "scoped.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Orders"
    sheet.defined_names["_smmsheet_journal"] = openpyxl.workbook.defined_name.DefinedName(
        "_smmsheet_journal", attr_text='"not ours"'
    )
    book.save(path)
    adapter = XlsxWorkbook(path)
    assert adapter.read_marker() is None
    adapter.write_marker(MARKER)
    adapter.save()
    assert XlsxWorkbook(path).read_marker() == MARKER
    assert len(defined_names(path)) == 2


def test_the_marker_is_read_from_xml_only_a_lenient_reader_accepts(rich: Path) -> None:
    book = XlsxWorkbook(rich)
    book.write_marker(MARKER)
    book.save()
    xml = wb.read_member(rich, "xl/workbook.xml")
    wb.replace_member(
        rich, "xl/workbook.xml", xml.replace(b"<workbookPr", b'<workbookPr a="" a=""')
    )
    assert XlsxWorkbook(rich).read_marker() == MARKER


def test_the_marker_survives_an_openpyxl_round_trip(rich: Path, tmp_path: Path) -> None:
    book = XlsxWorkbook(rich)
    book.write_marker(MARKER)
    book.save()
    copy = tmp_path / "openpyxl.xlsx"
    openpyxl.load_workbook(rich).save(copy)
    assert XlsxWorkbook(copy).read_marker() == MARKER
    [marker] = [n for n in defined_names(copy) if n["name"] == "_smmsheet_journal"]
    assert marker["hidden"] == "1"


@pytest.mark.skipif(wb.SOFFICE is None, reason="LibreOffice (soffice) is not installed")
def test_the_marker_survives_a_libreoffice_round_trip(rich: Path, tmp_path: Path) -> None:
    book = XlsxWorkbook(rich)
    book.write_marker(MARKER)
    book.save()
    copy = wb.libreoffice_resave(rich, tmp_path / "lo")
    again = XlsxWorkbook(copy)
    assert again.read_marker() == MARKER
    # LibreOffice writes every name as visible; the next save hides the marker again.
    again.write_marker(MARKER)
    again.save()
    [marker] = [n for n in defined_names(copy) if n["name"] == "_smmsheet_journal"]
    assert marker["hidden"] == "1"


BUILDERS = {
    "xlsxwriter": wb.build_rich_workbook,
    "openpyxl": wb.build_openpyxl_workbook,
    "no-names": wb.build_sparse_workbook,
    "libreoffice": lambda path: shutil.copy(wb.LIBREOFFICE_ORDERS, path),
}


@pytest.mark.skipif(
    wb.OOXML_VALIDATOR is None, reason="the Open XML SDK validator is not installed"
)
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "tree"])
@pytest.mark.parametrize("writer", sorted(BUILDERS))
def test_saved_workbooks_pass_the_open_xml_schema_check_as_well_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str, stream: bool
) -> None:
    """Every kind of edit at once: values, a date style, a new row, a new sheet, the marker."""
    monkeypatch.setattr(sheet_patch, "STREAM_PATCHING", stream)
    path = tmp_path / "orders.xlsx"
    BUILDERS[writer](path)
    before = wb.schema_errors(path)
    book = XlsxWorkbook(path)
    book.write_cells(
        "Orders",
        {
            (2, 6): 5001,
            (2, 7): "Pending <&>",
            (3, 8): Decimal("1.25"),
            (4, 9): dt.datetime(2024, 1, 2, 3, 4),
            (2, 5): None,
            (30, 3): "new row",
            (1, 12): "Error",
        },
    )
    book.replace_sheet("Services", [["ID", "Name"], [1, "Likes"]])
    book.write_marker(MARKER)
    book.save()
    assert wb.schema_errors(path) - before == set()


@pytest.fixture
def rich(tmp_path: Path) -> Path:
    path = tmp_path / "orders.xlsx"
    wb.build_rich_workbook(path)
    return path
