"""Hyperlinked cells read as LinkedText: the text shown, and where the link really points.

A Link cell made with Insert > Link showing "Client post", or holding
``=HYPERLINK("https://x.com/p/2","Post 2")``, must be ordered with its target, never
with the text shown (issue 8 item 7). Files come from xlsxwriter, openpyxl, LibreOffice
and hand-written XML; the live adapter is driven through the fake Excel.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import openpyxl
import pytest
from openpyxl.worksheet.hyperlink import Hyperlink

from smmsheet.errors import WorkbookError
from smmsheet.workbook.base import LinkedText, UnknownValue
from smmsheet.workbook.links import calls_hyperlink, formula_target
from smmsheet.workbook.live import XlwingsWorkbook
from smmsheet.workbook.xlsx import XlsxWorkbook, adapter, cells

from . import workbooks as wb
from .fake_excel import FakeBook


def value_at(rows: list[list[object]], ref: str) -> object:
    row, col = cells.parse_ref(ref)
    return rows[row - 1][col - 1] if row <= len(rows) and col <= len(rows[row - 1]) else None


def assert_links(
    rows: list[list[object]], expected: dict[str, tuple[str, str | None] | str]
) -> None:
    for ref, wanted in expected.items():
        got = value_at(rows, ref)
        if isinstance(wanted, str):
            assert type(got) is str and got == wanted, ref
        else:
            assert isinstance(got, LinkedText), (ref, got)
            assert (str(got), got.target) == wanted, ref


# -- the text constant of a HYPERLINK formula ------------------------------------------


@pytest.mark.parametrize(
    ("formula", "target"),
    [
        ('=HYPERLINK("https://x.com/p/2","Post 2")', "https://x.com/p/2"),
        ('HYPERLINK( "https://x.com/p/2" , "Post 2")', "https://x.com/p/2"),
        ('=hyperlink("https://x.com")', "https://x.com"),
        ('=_xlfn.HYPERLINK("https://x.com")', "https://x.com"),
        ('=HYPERLINK("https://x.com/?q=""a""")', 'https://x.com/?q="a"'),
        ("=HYPERLINK(B2)", None),
        ('=HYPERLINK("https://"&B2,"x")', None),
        ('=HYPERLINK("")', None),
        ('=IF(A1,HYPERLINK("https://x.com"))', None),
    ],
)
def test_a_hyperlink_formula_gives_its_target_only_when_it_is_a_text_constant(
    formula: str, target: str | None
) -> None:
    assert calls_hyperlink(formula)
    assert formula_target(formula) == target


@pytest.mark.parametrize(
    "formula", ["=A1", '="see HYPERLINKS"', "=MYHYPERLINK(1)", "=X.HYPERLINK(1)"]
)
def test_other_formulas_are_no_links(formula: str) -> None:
    assert not calls_hyperlink(formula)


def test_linked_text_is_a_str_that_keeps_its_target() -> None:
    cell = LinkedText("Client post", "https://x.com")
    assert cell == "Client post" and isinstance(cell, str) and cell.target == "https://x.com"
    assert pickle.loads(pickle.dumps(cell)).target == "https://x.com"
    assert type(cell.strip()) is str
    assert repr(cell) == "LinkedText('Client post', target='https://x.com')"


# -- files -----------------------------------------------------------------------------


def test_xlsxwriter_links_and_hyperlink_formulas_read_with_their_targets(tmp_path: Path) -> None:
    path = tmp_path / "links.xlsx"
    wb.build_linked_workbook(path)
    rows = XlsxWorkbook(path).read_values("Orders")
    assert_links(rows, wb.LINKED_CELLS)
    assert rows[0] == ["Service", "Link", "Quantity", "Other"]
    assert type(rows[0][1]) is str
    assert rows[1][0] == 102.0


def test_openpyxl_hyperlinks_read_with_their_targets(tmp_path: Path) -> None:
    path = tmp_path / "links.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Orders"
    book.create_sheet("Notes")
    sheet.append(["Service", "Link"])
    sheet["B2"] = "Client post"
    sheet["B2"].hyperlink = "https://instagram.com/p/client"
    sheet["B3"] = 5
    sheet["B3"].hyperlink = "https://x.com/p/5"
    sheet["B4"] = "See notes"
    sheet["B4"].hyperlink = Hyperlink(ref="B4", location="Notes!A1")
    sheet["B5"].hyperlink = "https://x.com/p/typed"  # openpyxl shows the address itself
    book.save(path)
    rows = XlsxWorkbook(path).read_values("Orders")
    assert_links(
        rows,
        {
            "B2": ("Client post", "https://instagram.com/p/client"),
            "B3": ("5", "https://x.com/p/5"),  # a number shown is read as its text
            "B4": ("See notes", None),
            "B5": ("https://x.com/p/typed", "https://x.com/p/typed"),
            "A1": "Service",
        },
    )


def test_an_uncalculated_hyperlink_formula_reads_with_its_target(tmp_path: Path) -> None:
    # openpyxl (a script filling the sheet) saves formulas without a value: the cell read as
    # empty, so the row said "Link required" beside a link the user can see in Excel.
    path = tmp_path / "script.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Orders"
    sheet.append(["Service", "Link", "Quantity"])
    sheet.append([3, '=HYPERLINK("https://instagram.com/p/h2","Post 2")', 100])
    sheet.append([3, '=HYPERLINK("https://instagram.com/p/"&A3,"Post 3")', 100])
    sheet.append([3, None, 100, '=HYPERLINK("https://x.com/p/last")'])
    book.save(path)
    rows = XlsxWorkbook(path).read_values("Orders")
    assert_links(rows, {"B2": ("", "https://instagram.com/p/h2")})
    # no address to know, nothing calculated: a value that cannot be known, not an empty cell
    assert isinstance(value_at(rows, "B3"), UnknownValue)
    assert value_at(rows, "B3") == '=HYPERLINK("https://instagram.com/p/"&A3,"Post 3")'
    assert value_at(rows, "B4") is None
    assert_links(rows, {"D4": ("", "https://x.com/p/last")})  # past the row's last value


@pytest.mark.skipif(wb.SOFFICE is None, reason="LibreOffice (soffice) is not installed")
def test_links_survive_a_libreoffice_save(tmp_path: Path) -> None:
    path = tmp_path / "links.xlsx"
    wb.build_linked_workbook(path)
    saved = wb.libreoffice_resave(path, tmp_path / "lo")
    rows = XlsxWorkbook(saved).read_values("Orders")
    assert_links(rows, wb.LINKED_CELLS)


MAIN = wb.MAIN_NS
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def hand_made(path: Path, sheet_data: str, hyperlinks: str, rels: str = "") -> None:
    """An order workbook whose sheet XML (namespace prefix ``x:``) and rels are given."""
    wb.build_sparse_workbook(path)
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><x:worksheet xmlns:x="{MAIN}" '
        f'xmlns:rel="{REL}"><x:sheetData>{sheet_data}</x:sheetData>{hyperlinks}</x:worksheet>'
    )
    wb.replace_member(path, wb.ORDERS_PART, xml.encode())
    if rels:
        document = (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            f'openxmlformats.org/package/2006/relationships">{rels}</Relationships>'
        )
        part = "xl/worksheets/_rels/sheet1.xml.rels"
        exists = part in dict(wb.members(path))
        wb.replace_member(path, part, document.encode(), add=not exists)


def text_cell(ref: str, text: str) -> str:
    return f'<x:c r="{ref}" t="inlineStr"><x:is><x:t>{text}</x:t></x:is></x:c>'


def external(rel_id: str, target: str) -> str:
    return (
        f'<Relationship Id="{rel_id}" Type="{REL}/hyperlink" Target="{target}" '
        'TargetMode="External"/>'
    )


def test_hand_written_ranges_shared_formulas_and_prefixes_are_understood(tmp_path: Path) -> None:
    path = tmp_path / "hand.xlsx"
    rows = [
        f'<x:row r="1">{text_cell("A1", "Service")}{text_cell("B1", "Link")}</x:row>',
        f'<x:row r="2">{text_cell("B2", "Range one")}{text_cell("D2", "whole column")}</x:row>',
        f'<x:row r="3">{text_cell("B3", "Range two")}</x:row>',
        '<x:row r="4"><x:c r="B4" t="str"><x:f t="shared" ref="B4:B6" si="0">'
        'HYPERLINK("https://x.com/s","Shared "&amp;A4)</x:f><x:v>Shared 4</x:v></x:c></x:row>',
        '<x:row r="5"><x:c r="B5" t="str"><x:f t="shared" si="0"/><x:v>Shared 5</x:v></x:c>'
        "</x:row>",
        '<x:row r="6"><x:c r="B6" t="str"><x:f t="shared" si="0"/><x:v>Shared 6</x:v></x:c>'
        "</x:row>",
        f'<x:row r="7">{text_cell("B7", "Missing relationship")}</x:row>',
        f'<x:row r="8">{text_cell("B8", "With location")}</x:row>',
        f'<x:row r="9">{text_cell("B9", "Two links")}</x:row>',
    ]
    links = (
        '<x:hyperlinks><x:hyperlink ref="B2:B3" rel:id="rId1"/>'
        '<x:hyperlink ref="B7" rel:id="rId404"/>'
        '<x:hyperlink ref="B8" rel:id="rId2" location="part-2"/>'
        '<x:hyperlink ref="D1:D1048576" location="Notes!A1"/>'
        '<x:hyperlink ref="B9" rel:id="rId1"/><x:hyperlink ref="B9" rel:id="rId2"/>'
        "</x:hyperlinks>"
    )
    rels = external("rId1", "https://x.com/range") + external("rId2", "https://x.com/page")
    hand_made(path, "".join(rows), links, rels)
    values = XlsxWorkbook(path).read_values("Orders")
    assert_links(
        values,
        {
            "B2": ("Range one", "https://x.com/range"),
            "B3": ("Range two", "https://x.com/range"),
            "B4": ("Shared 4", "https://x.com/s"),
            "B5": ("Shared 5", "https://x.com/s"),
            "B6": ("Shared 6", "https://x.com/s"),
            "B7": ("Missing relationship", None),
            "B8": ("With location", "https://x.com/page#part-2"),
            "B9": ("Two links", None),  # they disagree: which one is meant cannot be told
            "D2": ("whole column", None),
            "A1": "Service",
        },
    )
    assert value_at(values, "D3") is None  # an empty linked cell stays empty


def test_formula_cells_without_a_reference_are_found_by_parsing(tmp_path: Path) -> None:
    path = tmp_path / "no-refs.xlsx"
    rows = (
        f'<x:row r="1">{text_cell("A1", "Service")}{text_cell("B1", "Link")}</x:row>'
        '<x:row><x:c/><x:c t="str"><x:f>HYPERLINK("https://x.com/no-ref","No ref")</x:f>'
        "<x:v>No ref</x:v></x:c></x:row>"
    )
    hand_made(path, rows, "")
    values = XlsxWorkbook(path).read_values("Orders")
    assert_links(values, {"B2": ("No ref", "https://x.com/no-ref"), "B1": "Link"})


def test_buffered_writes_replace_a_linked_value(tmp_path: Path) -> None:
    path = tmp_path / "links.xlsx"
    wb.build_linked_workbook(path)
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(2, 2): "typed over"})
    assert book.read_values("Orders")[1][1] == "typed over"
    assert type(book.read_values("Orders")[1][1]) is str


def test_a_sheet_without_the_word_hyperlink_is_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cheap path: a byte search, then nothing else, for a sheet without links."""
    path = tmp_path / "plain.xlsx"
    wb.build_rich_workbook(path, rows=50)

    def forbidden(*args: object) -> object:
        raise AssertionError("a sheet without links was searched for them")

    monkeypatch.setattr(adapter, "sheet_links", forbidden)
    rows = XlsxWorkbook(path).read_values("Orders")
    assert len(rows) == 51 and all(type(v) is not LinkedText for row in rows for v in row)


def test_a_lying_sheet_is_refused_by_the_link_search_with_its_own_words(tmp_path: Path) -> None:
    path = tmp_path / "liar.xlsx"
    wb.build_zip_bomb(path, 32, declared=1_000)
    with pytest.raises(WorkbookError, match="holds more than the 1,000 bytes it declares"):
        XlsxWorkbook(path).read_values("Orders")


# -- live Excel --------------------------------------------------------------------------


def test_live_links_and_hyperlink_formulas_read_with_their_targets() -> None:
    book = FakeBook({"Orders": [["Service", "Link", "Quantity"], [101, None, 100]]})
    sheet = book.sheets["Orders"]
    sheet.add_hyperlink((2, 2), "https://instagram.com/p/client", text="Client post")
    sheet.add_hyperlink((3, 2), "", "Notes!A1", text="See notes")
    sheet.add_hyperlink((4, 2), "https://x.com/p", "part", text="Fragment")
    sheet.add_hyperlink((5, 4, 6, 4), "https://x.com/block")
    sheet.cells[(5, 4)] = "block top"
    sheet.set_formula((5, 2), '=HYPERLINK("https://x.com/p/2","Post 2")', "Post 2")
    sheet.set_formula((6, 2), '=HYPERLINK(C6,"Dynamic")', "Dynamic")
    sheet.set_formula((7, 2), "=A1", "Service")
    rows = XlwingsWorkbook(book).read_values("Orders")
    assert_links(
        rows,
        {
            "B2": ("Client post", "https://instagram.com/p/client"),
            "B3": ("See notes", None),
            "B4": ("Fragment", "https://x.com/p#part"),
            "D5": ("block top", "https://x.com/block"),
            "B5": ("Post 2", "https://x.com/p/2"),
            "B6": ("Dynamic", None),
            "B7": "Service",
            "A1": "Service",
        },
    )
    assert value_at(rows, "D6") is None


def test_live_formulas_are_read_only_when_excel_finds_a_hyperlink_formula() -> None:
    book = FakeBook({"Orders": [["Service", "Link"], [101, "https://x.com/plain"]]})
    book.sheets["Orders"].set_formula((3, 1), "=A2+1", 102.0)
    XlwingsWorkbook(book).read_values("Orders")
    assert [entry[0] for entry in book.log] == ["read"]
    book.sheets["Orders"].set_formula((3, 2), '=HYPERLINK("https://x.com/3")', "https://x.com/3")
    XlwingsWorkbook(book).read_values("Orders")
    assert [entry[0] for entry in book.log] == ["read", "read", "formulas"]


def test_copies_of_the_libreoffice_fixture_keep_reading_plain_values(tmp_path: Path) -> None:
    path = tmp_path / "lo.xlsx"
    shutil.copy(wb.LIBREOFFICE_ORDERS, path)
    rows = XlsxWorkbook(path).read_values("Orders")
    assert rows[1][1] == "https://example.com/post/1" and type(rows[1][1]) is str
