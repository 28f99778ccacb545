"""The stream patcher's fast row path: the everyday row patched as bytes.

The promise under test: a row patched by the fast path comes out byte for byte as the
general text path writes it, and any row the fast path cannot take (cells in another
form, a new cell between others, other attributes, extLst) goes through the general path.
Each case is saved twice, with the fast path on and off, and the sheets compared; the
values are read back too, so both paths being wrong alike fails as well.
"""

from __future__ import annotations

import datetime as dt
import struct
import zipfile
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from smmsheet.errors import WorkbookError
from smmsheet.workbook.base import CellValue
from smmsheet.workbook.xlsx import XlsxWorkbook, sheet_patch, sheet_stream, sheet_tree

from . import workbooks as wb

ORDERS = wb.ORDERS_PART
NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'

#: Rows in the forms the fast path meets, each with the writes aimed at it. Style 1 is a
#: bold font in the base workbook (xlsxwriter), so a kept ``s="1"`` shows in the result.
EDGE_ROWS = (
    # the everyday row: its Status cell overwritten, results appended past its end, spans
    '<row r="2" spans="1:5"><c r="A2"><v>1</v></c><c r="D2"><v>1001</v></c>'
    '<c r="E2" t="inlineStr"><is><t>Pending</t></is></c></row>'
    # a cell whose r is not first: the general path
    '<row r="3"><c r="A3"><v>1</v></c><c s="1" r="E3"><v>5</v></c></row>'
    # a formula overwritten, and one left alone in the same row
    '<row r="4"><c r="A4"><v>2</v></c><c r="B4"><f>A4*3</f><v>6</v></c>'
    '<c r="E4"><f>A4*2</f><v>4</v></c></row>'
    # a shared string overwritten by a number; another kept
    '<row r="5"><c r="A5" t="s"><v>0</v></c><c r="E5" s="1" t="s"><v>0</v></c></row>'
    # an inline string with a literal _x0041_ kept; one overwritten by text with escapes
    '<row r="6"><c r="A6" t="inlineStr"><is><t>_x005F_x0041_</t></is></c>'
    '<c r="E6" t="inlineStr"><is><t>old</t></is></c></row>'
    # a new cell between two that exist
    '<row r="7"><c r="A7"><v>1</v></c><c r="M7" s="1"><v>9</v></c></row>'
    # empty styled and unstyled cells, cleared and set
    '<row r="8"><c r="A8"><v>1</v></c><c r="E8" s="1"/><c r="F8"><v>3</v></c>'
    '<c r="G8" s="1"><v>4</v></c><c r="I8" s="1"/><c r="J8"><v>5</v></c>'
    '<c r="K8"><v>6</v></c></row>'
    # a cell with an attribute beyond r, s and t: the general path keeps it
    '<row r="9"><c r="A9"><v>1</v></c><c r="E9" s="1" ph="1"><v>5</v></c></row>'
    # a self-closing row, and rows whose numbers share digits with others
    '<row r="11"/>'
    '<row r="12"><c r="A12"><v>12</v></c><c r="E12"><v>0</v></c></row>'
    # the same values written into a styled and an unstyled cell
    '<row r="13"><c r="E13" s="1"><v>1</v></c><c r="F13"><v>1</v></c>'
    '<c r="G13" s="1"><v>1</v></c><c r="H13"><v>1</v></c></row>'
    # a row that holds no cell, not self-closing
    '<row r="14"></row>'
    '<row r="120"><c r="A120"><v>120</v></c><c r="E120"><v>0</v></c></row>'
)
WHEN = dt.datetime(2026, 11, 25, 22, 52, 55)
EDGE_WRITES: dict[tuple[int, int], CellValue] = {
    (2, 5): "In progress",
    (2, 6): Decimal("0.09000"),
    (2, 7): 1201,
    (2, 8): 100,
    (2, 9): "USD",
    (2, 13): WHEN,
    (3, 5): "x",
    (3, 6): 2.5,
    (4, 5): 7,
    (5, 5): 8,
    (6, 5): "_x0042_ & <b>\r",
    (7, 6): "between",
    (8, 5): "filled",
    (8, 7): None,
    (8, 8): None,  # a cell that does not exist, cleared: nothing to write
    (8, 9): None,
    (8, 11): None,
    (9, 5): "y",
    (11, 5): "in a row that was empty",
    (12, 5): Decimal("-0"),
    (12, 6): Decimal("0"),
    (12, 7): -0.0,
    (12, 8): 0.0,
    (13, 5): "same",
    (13, 6): "same",
    (13, 7): Decimal("2.5"),
    (13, 8): Decimal("2.5"),
    (14, 5): "first cell",
    (120, 5): True,
    (120, 6): dt.date(2024, 2, 29),
    (120, 13): WHEN,
    (121, 5): "a new row",
}


def _sheet(rows: str, *, prefix: str = "", cols: str = "") -> bytes:
    """A worksheet holding ``rows`` (written for the default namespace) under ``prefix``."""
    if prefix:
        rows = rows.replace("<", f"<{prefix}:").replace(f"<{prefix}:/", f"</{prefix}:")
    p = f"{prefix}:" if prefix else ""
    ns = NS.replace("xmlns=", f"xmlns:{prefix}=") if prefix else NS
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<{p}worksheet {ns}>'
        f'<{p}dimension ref="A1:E120"/>{cols}<{p}sheetData>{rows}</{p}sheetData></{p}worksheet>'
    ).encode()


def _book(tmp_path: Path, name: str, sheet: bytes) -> Path:
    """An xlsxwriter workbook (shared string 0 "shared", style 1 bold) whose Orders sheet is
    ``sheet``."""
    import xlsxwriter

    path = tmp_path / name
    book = xlsxwriter.Workbook(str(path))
    orders = book.add_worksheet("Orders")
    orders.write_string("A1", "shared")
    orders.write_number("B1", 1, book.add_format({"bold": True}))
    book.close()
    wb.replace_member(path, ORDERS, sheet)
    return path


def _saved_both_ways(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sheet: bytes,
    writes: Mapping[tuple[int, int], CellValue],
) -> tuple[Path, bytes, bytes]:
    """The workbook saved with the fast row path, and both paths' sheet XML."""
    results: dict[bool, bytes] = {}
    path = tmp_path / "unused.xlsx"
    # Both through the stream patcher: a comparison of two tree patches would prove nothing.
    monkeypatch.setattr(sheet_patch, "TreePatcher", _NoTree)
    for fast in (False, True):
        monkeypatch.setattr(sheet_stream, "FAST_ROWS", fast)
        path = _book(tmp_path, f"{fast}.xlsx", sheet)
        book = XlsxWorkbook(path)
        book.write_cells("Orders", writes)
        book.save()
        results[fast] = wb.read_member(path, ORDERS)
    return path, results[True], results[False]


def test_fast_rows_write_the_same_bytes_as_the_general_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, fast, general = _saved_both_ways(tmp_path, monkeypatch, _sheet(EDGE_ROWS), EDGE_WRITES)
    assert fast == general
    sheet = openpyxl.load_workbook(path)["Orders"]
    assert [sheet[ref].value for ref in ("E2", "F2", "G2", "I2", "M2")] == [
        "In progress",
        0.09,
        1201,
        "USD",
        WHEN,
    ]
    assert (sheet["E3"].value, sheet["E3"].font.b, sheet["F3"].value) == ("x", True, 2.5)
    assert (sheet["B4"].value, sheet["E4"].value) == ("=A4*3", 7)  # one formula kept
    assert (sheet["A5"].value, sheet["E5"].value, sheet["E5"].font.b) == ("shared", 8, True)
    texts = XlsxWorkbook(path).read_values("Orders")[5]  # calamine decodes _xHHHH_
    assert (texts[0], texts[4]) == ("_x0041_", "_x0042_ & <b>\r")
    assert b"<t>_x005F_x0041_</t>" in fast  # the untouched cell's text as it was
    assert [c.coordinate for c in sheet[7] if c.value is not None] == ["A7", "F7", "M7"]
    assert (sheet["E8"].value, sheet["E8"].font.b, sheet["F8"].value) == ("filled", True, 3)
    assert (sheet["G8"].value, sheet["G8"].font.b, sheet["I8"].font.b) == (None, True, True)
    assert (sheet["J8"].value, sheet["K8"].value) == (5, None)
    assert wb.cells_in_row(fast, 8) == ["A8", "E8", "F8", "G8", "I8", "J8"]
    assert (sheet["E9"].value, sheet["E11"].value) == ("y", "in a row that was empty")
    assert [sheet["E12"].value, sheet["F12"].value, sheet["G12"].value, sheet["H12"].value] == [
        0
    ] * 4
    assert (sheet["E120"].value, sheet["F120"].value.date(), sheet["E121"].value) == (
        True,
        dt.date(2024, 2, 29),
        "a new row",
    )
    assert sheet["M120"].value == WHEN
    assert [sheet[ref].font.b for ref in ("E13", "F13", "G13", "H13")] == [True, False] * 2
    assert b"<v>-0.0</v>" in fast and b"<v>0.0</v>" in fast  # a zero's sign is its own
    assert wb.cells_in_row(fast, 2) == ["A2", "D2", "E2", "F2", "G2", "H2", "I2", "M2"]
    assert b'<row r="2" spans="1:13">' in fast
    assert wb.cells_in_row(fast, 12) == ["A12", "E12", "F12", "G12", "H12"]
    assert wb.cells_in_row(fast, 120) == ["A120", "E120", "F120", "M120"]
    assert wb.cells_in_row(fast, 14) == ["E14"]


def test_overwritten_formulas_leave_the_calc_chain_on_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = (
        '<row r="2"><c r="A2"><v>2</v></c><c r="E2"><f>A2*2</f><v>4</v></c>'
        '<c r="F2"><f>A2*3</f><v>6</v></c></row>'
    )
    monkeypatch.setattr(sheet_stream.StreamPatcher, "_patch_row", _general_path_refused)
    path = _book(tmp_path, "chain.xlsx", _sheet(rows))
    wb.add_calc_chain(path, '<c r="E2" i="1"/><c r="F2"/>')
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(2, 5): 1})
    book.save()
    chain = wb.read_member(path, "xl/calcChain.xml")
    assert b'r="E2"' not in chain and b'r="F2"' in chain
    sheet = openpyxl.load_workbook(path)["Orders"]
    assert (sheet["E2"].value, sheet["F2"].value) == (1, "=A2*3")


class _NoTree:
    def __init__(self, *args: object) -> None:
        raise AssertionError("fell back to the tree patcher")


def tree_patcher_calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The tree patcher as it is, each time it is made recorded in the list returned."""
    tree = sheet_tree.TreePatcher
    used: list[object] = []

    def spy(*args: Any) -> Any:
        used.append(args)
        return tree(*args)

    monkeypatch.setattr(sheet_patch, "TreePatcher", spy)
    return used


def test_a_row_with_ext_lst_goes_to_the_tree_patcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = '<row r="2"><c r="A2"><v>1</v></c><c r="E2"><v>5</v><extLst/></c></row>'
    monkeypatch.setattr(sheet_stream, "FAST_ROWS", True)
    used = tree_patcher_calls(monkeypatch)
    path = _book(tmp_path, "ext.xlsx", _sheet(rows))
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(2, 5): "z", (2, 6): 1})
    book.save()
    assert len(used) == 1
    assert openpyxl.load_workbook(path)["Orders"]["F2"].value == 1


def _general_path_refused(*args: object) -> str:
    raise AssertionError("an everyday row went through the general text path")


def test_the_refresh_rows_take_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows a status refresh writes: existing cells overwritten, results appended past
    a row's end or put between its cells (a placed row has Updated but no Charge yet)."""
    rows = "".join(
        f'<row r="{r}"><c r="A{r}"><v>1</v></c><c r="D{r}"><v>{r}</v></c>'
        f'<c r="E{r}" t="inlineStr"><is><t>Pending</t></is></c>'
        + (f'<c r="M{r}" s="1"><v>46000.5</v></c>' if r % 2 else "")
        + "</row>"
        for r in range(2, 50)
    )
    writes: dict[tuple[int, int], CellValue] = {}
    for r in range(2, 50):
        writes.update({(r, 5): "Completed", (r, 7): r * 10, (r, 8): 0, (r, 13): WHEN})
    path, fast, general = _saved_both_ways(tmp_path, monkeypatch, _sheet(rows), writes)
    assert fast == general
    monkeypatch.setattr(sheet_stream.StreamPatcher, "_patch_row", _general_path_refused)
    path = _book(tmp_path, "refresh.xlsx", _sheet(rows))
    book = XlsxWorkbook(path)
    book.write_cells("Orders", writes)
    book.save()
    assert wb.read_member(path, ORDERS) == fast
    values = XlsxWorkbook(path).read_values("Orders")
    assert [values[r - 1][4] for r in (2, 49)] == ["Completed", "Completed"]
    assert [values[r - 1][6] for r in (2, 49)] == [20, 490]


def test_a_namespace_prefix_is_kept_on_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = '<row r="2"><c r="A2"><v>1</v></c><c r="E2" s="1"><v>5</v></c></row>'
    sheet = _sheet(rows, prefix="x")
    writes: dict[tuple[int, int], CellValue] = {(2, 5): "done", (2, 6): 3, (2, 7): WHEN}
    path, fast, general = _saved_both_ways(tmp_path, monkeypatch, sheet, writes)
    assert fast == general
    assert b'<x:c r="E2" s="1" t="inlineStr"><x:is><x:t xml:space="preserve">done' in fast
    sheet_values = openpyxl.load_workbook(path)["Orders"]
    assert (sheet_values["E2"].value, sheet_values["F2"].value) == ("done", 3)


def test_new_cells_take_their_column_style_on_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = '<row r="2"><c r="A2"><v>1</v></c></row><row r="3"><c r="A3"><v>1</v></c></row>'
    cols = '<cols><col min="6" max="6" width="9" style="1" customWidth="1"/></cols>'
    writes: dict[tuple[int, int], CellValue] = {(2, 6): 5, (3, 6): "five", (3, 7): 6}
    path, fast, general = _saved_both_ways(tmp_path, monkeypatch, _sheet(rows, cols=cols), writes)
    assert fast == general
    sheet = openpyxl.load_workbook(path)["Orders"]
    assert (sheet["F2"].font.b, sheet["F3"].font.b, sheet["G3"].font.b) == (True, True, False)


@pytest.mark.parametrize("fast", [True, False], ids=["fast-rows", "text-rows"])
def test_a_cell_appended_to_a_row_out_of_order_is_not_written_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    """A hostile row whose cells are out of column order (F2 before E2): appending F2 after
    its last cell would give the row two F2. Both stream paths hand it to the tree
    patcher, which refuses the row; the file is left as it was."""
    monkeypatch.setattr(sheet_stream, "FAST_ROWS", fast)
    rows = '<row r="2"><c r="F2"><v>6</v></c><c r="E2"><v>5</v></c></row>'
    path = _book(tmp_path, "unordered.xlsx", _sheet(rows))
    before = path.read_bytes()
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(2, 5): 50, (2, 6): 60})
    with pytest.raises(WorkbookError, match="out of order"):
        book.save()
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "row",
    [
        '<row r="2"><c r="A2"><v>1</v></c><c r="M2"><v>2</v></c><c r="H2"><v>3</v></c></row>',
        '<row r="2"><c r="A2"><v>1</v></c><c r="M3"><v>2</v></c></row>',
    ],
    ids=["cells-out-of-order", "a-cell-of-another-row"],
)
def test_a_new_cell_in_an_odd_row_goes_to_the_tree_patcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row: str
) -> None:
    """Where a new cell goes between others of a row that is out of order, or that holds a
    cell of another row, only the tree patcher can say: the fast path must not guess."""
    used = tree_patcher_calls(monkeypatch)
    monkeypatch.setattr(sheet_stream, "FAST_ROWS", True)
    path = _book(tmp_path, "odd.xlsx", _sheet(row))
    before = path.read_bytes()
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(2, 6): "new"})
    if "H2" in row:  # the tree patcher refuses a row out of order: nothing is written
        with pytest.raises(WorkbookError, match="out of order"):
            book.save()
        assert path.read_bytes() == before
    else:
        book.save()
        assert wb.cells_in_row(wb.read_member(path, ORDERS), 2).count("F2") == 1
    assert len(used) == 1


def test_a_signalling_nan_is_refused_like_any_other_bad_number(tmp_path: Path) -> None:
    path = _book(tmp_path, "nan.xlsx", _sheet('<row r="2"><c r="A2"><v>1</v></c></row>'))
    book = XlsxWorkbook(path)
    with pytest.raises(WorkbookError, match="not a finite number"):
        book.write_cells("Orders", {(2, 2): Decimal("0.5"), (3, 2): Decimal("sNaN")})
    assert XlsxWorkbook(path).read_values("Orders")[1] == [1]


def test_an_early_date_is_refused_however_often_it_repeats(tmp_path: Path) -> None:
    """Each distinct date is checked once: the check still holds for every row."""
    path = _book(tmp_path, "dates.xlsx", _sheet('<row r="2"><c r="A2"><v>1</v></c></row>'))
    book = XlsxWorkbook(path)
    fine = dt.datetime(2026, 1, 1, 12, 30)
    early = dt.datetime(1899, 1, 1)
    with pytest.raises(WorkbookError, match="no dates before 1900"):
        book.write_cells("Orders", {(r, 13): fine if r < 50 else early for r in range(2, 60)})
    book.write_cells("Orders", {(r, 13): fine for r in range(2, 60)})
    book.save()
    assert XlsxWorkbook(path).read_values("Orders")[58][12] == fine


@pytest.mark.parametrize(
    ("second", "error"),
    [
        ((2.0, 6), TypeError),  # equal to the row before, but no integer
        ((True, 6), TypeError),
        ((2, True), TypeError),
        ((2, 0), ValueError),
        ((2, 16_385), ValueError),
    ],
)
def test_every_cell_of_a_row_has_its_coordinates_checked(
    tmp_path: Path, second: tuple[Any, Any], error: type[Exception]
) -> None:
    """write_cells checks a row number once per row: a cell after the first of its row
    must still be refused when its row or column is no valid coordinate."""
    path = _book(tmp_path, "coords.xlsx", _sheet('<row r="2"><c r="A2"><v>1</v></c></row>'))
    book = XlsxWorkbook(path)
    row = 1 if second[0] is True else 2
    with pytest.raises(error):
        book.write_cells("Orders", {(row, 5): 1, second: 2})
    book.save()
    assert XlsxWorkbook(path).read_values("Orders")[1] == [1]


# -- a large sheet, patched as it inflates ---------------------------------------------------

#: Rows that make the streamed walk stop or look back: a merged range and an array formula
#: (known only from the part after the rows, or from an earlier row), a shared formula's
#: master, a comment, rows out of order, a row inserted between two, non-ASCII text.
ODD_SHEETS = {
    "merged": (
        '<row r="2"><c r="A2"><v>1</v></c></row><row r="3"><c r="A3"><v>1</v></c></row>',
        '<mergeCells count="1"><mergeCell ref="D3:F3"/></mergeCells>',
        {(2, 5): "x", (3, 5): "hidden under the merge"},
        "hidden under the merged cells D3:F3",
    ),
    "array formula": (
        '<row r="2"><c r="A2"><f t="array" ref="A2:E3">1+1</f><v>2</v></c></row>'
        '<row r="3"><c r="A3"><v>2</v></c></row><row r="4"><c r="A4"><v>1</v></c></row>',
        "",
        {(4, 5): "fine", (3, 5): "inside the array"},
        "E3 is part of the array formula A2:E3",
    ),
    "shared master": (
        '<row r="2"><c r="E2"><f t="shared" ref="E2:E3" si="0">A2*2</f><v>2</v></c></row>'
        '<row r="3"><c r="E3"><f t="shared" si="0"/><v>2</v></c></row>',
        "",
        {(2, 5): "over the master", (3, 6): 1},
        '<c r="E3"><f t="shared" si="0" ref="E3">A3*2</f>',  # the master moved down
    ),
    "comment": (
        '<row r="2"><c r="A2"><v>1</v></c></row><!-- <row r="9"> --><row r="3"/>',
        "",
        {(3, 5): "after a comment"},
        "after a comment</t>",
    ),
    "out of order": (
        '<row r="2"><c r="A2"><v>1</v></c></row><row r="5"><c r="A5"><v>5</v></c></row>'
        '<row r="4"><c r="A4"><v>4</v></c></row>',
        "",
        {(3, 5): "inserted", (4, 5): "four"},
        "rows are out of order",
    ),
    "a close in the rows": (
        '<row r="2"><c r="A2" t="inlineStr"><is><t>x</t></is></c><c r="B2" a="</sheetData>"/>'
        '</row><row r="3"><c r="A3"><v>3</v></c></row>',
        "",
        {(3, 5): "past the false close"},
        '<c r="E3" t="inlineStr"><is><t xml:space="preserve">past the false close</t>',
    ),
    "inserted and text": (
        '<row r="2"><c r="A2" t="inlineStr"><is><t>ünï ✓ 😀</t></is></c></row>'
        '<row r="9"><c r="A9"><v>9</v></c></row>',
        "",
        {(5, 5): "between ✓", (9, 2): "ü", (12, 1): "past the end"},
        '<row r="5"><c r="E5" t="inlineStr"><is><t xml:space="preserve">between ✓',
    ),
}


def _in(tmp_path: Path, folder: str) -> Path:
    """A folder of its own: two saves of one name say the same in their messages."""
    (tmp_path / folder).mkdir()
    return tmp_path / folder


def _saved_sheet(path: Path, writes: Mapping[tuple[int, int], CellValue]) -> bytes | str:
    """The saved sheet's XML, or the message of the error the save raised."""
    book = XlsxWorkbook(path)
    book.write_cells("Orders", writes)
    try:
        book.save()
    except WorkbookError as exc:
        return str(exc)
    return wb.read_member(path, ORDERS)


def _streamed(monkeypatch: pytest.MonkeyPatch, chunk: int, segment: int) -> None:
    """Every sheet saved as it inflates, ``chunk`` bytes at a time, in ``segment``s."""
    from smmsheet.workbook.xlsx import opc, save

    monkeypatch.setattr(save, "HELD_WHOLE", -1)
    monkeypatch.setattr(opc, "CHUNK", chunk)
    monkeypatch.setattr(sheet_stream, "SEGMENT", segment)


#: (inflated chunk, segment) sizes: a row cut anywhere, a segment a row; and a few rows each.
CHUNKINGS = [(1, 1), (7, 1), (64, 300)]


@pytest.mark.parametrize(("chunk", "segment"), CHUNKINGS)
@pytest.mark.parametrize("prefix", ["", "x"])
def test_a_sheet_patched_as_it_inflates_is_the_sheet_patched_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, segment: int, prefix: str
) -> None:
    """A sheet larger than a save holds whole is walked a segment of rows at a time: the
    same bytes come out, wherever its chunks and segments are cut."""
    sheet = _sheet(EDGE_ROWS, prefix=prefix)
    whole = _saved_sheet(_book(_in(tmp_path, "whole"), "book.xlsx", sheet), EDGE_WRITES)
    _streamed(monkeypatch, chunk, segment)
    monkeypatch.setattr(sheet_patch, "TreePatcher", _NoTree)  # streamed, not given up
    streamed = _saved_sheet(_book(_in(tmp_path, "streamed"), "book.xlsx", sheet), EDGE_WRITES)
    assert isinstance(whole, bytes) and streamed == whole


@pytest.mark.parametrize(("chunk", "segment"), CHUNKINGS)
@pytest.mark.parametrize("case", ODD_SHEETS)
def test_what_only_the_whole_sheet_tells_is_found_when_it_is_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, segment: int, case: str
) -> None:
    """A merged range after the rows, an array formula rows above, a shared formula's
    master, a comment, rows out of order: the streamed save refuses or hands the sheet to
    the tree patcher exactly as the save of the sheet held whole does."""
    rows, after, writes, expected = ODD_SHEETS[case]
    sheet = _sheet(rows).replace(b"</sheetData>", b"</sheetData>" + after.encode())
    whole = _saved_sheet(_book(_in(tmp_path, "whole"), "book.xlsx", sheet), writes)
    _streamed(monkeypatch, chunk, segment)
    path = _book(_in(tmp_path, "streamed"), "book.xlsx", sheet)
    before = path.read_bytes()
    streamed = _saved_sheet(path, writes)
    assert streamed == whole
    assert expected in (whole if isinstance(whole, str) else whole.decode())
    if isinstance(whole, str):  # refused: nothing written
        assert path.read_bytes() == before
        assert "changed" in whole


def test_a_streamed_sheet_whose_crc_is_wrong_is_not_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CRC is known only once the last chunk is in: a damaged part found then still
    leaves the workbook as it was."""
    path = _book(tmp_path, "damaged.xlsx", _sheet(EDGE_ROWS))
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        member = archive.getinfo(ORDERS)
    wrong = struct.pack("<I", member.CRC ^ 1)
    data[member.header_offset + 14 : member.header_offset + 18] = wrong  # local header
    central = data.rfind(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(ORDERS)] != ORDERS.encode():
        central = data.rfind(b"PK\x01\x02", 0, central)
    data[central + 16 : central + 20] = wrong  # central directory
    path.write_bytes(bytes(data))
    _streamed(monkeypatch, 64, 300)
    before = path.read_bytes()
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(2, 5): "x"})
    with pytest.raises(WorkbookError, match="damaged"):
        book.save()
    assert path.read_bytes() == before


#: Sheets with a second ``<sheetData>`` (or one in a comment): how each goes around the rows.
SECOND_SHEET_DATA = {
    "after": (b"</sheetData>", b'</sheetData><sheetData><row r="9"><c r="A9"/></row></sheetData>'),
    "self-closed after": (b"</sheetData>", b"</sheetData><sheetData/>"),
    "self-closed before": (b"<sheetData>", b"<sheetData/><sheetData>"),
    "in a comment before": (b"<sheetData>", b"<!-- <sheetData> --><sheetData>"),
    "self-closed in a comment before": (b"<sheetData>", b"<!-- <sheetData/> --><sheetData>"),
}


@pytest.mark.parametrize(("chunk", "segment"), CHUNKINGS)
@pytest.mark.parametrize("case", SECOND_SHEET_DATA)
def test_a_second_sheet_data_goes_to_the_tree_patcher_streamed_or_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, segment: int, case: str
) -> None:
    """A hostile sheet with two ``<sheetData>``: the streamed save stopped at the first
    ``</sheetData>`` and wrote row 9, which lives in the second, as a new row of the first
    (row 9 twice in the file) where the whole save patched it in place; a ``<sheetData/>``
    in a comment before the real one took the writes into the comment, both ways. Each now
    leaves the sheet to the tree patcher, streamed or whole, and gives the same bytes."""
    old, new = SECOND_SHEET_DATA[case]
    sheet = _sheet(EDGE_ROWS).replace(old, new)
    writes: dict[tuple[int, int], CellValue] = {(2, 5): "In progress", (9, 5): "nine"}
    calls = tree_patcher_calls(monkeypatch)
    whole = _saved_sheet(_book(_in(tmp_path, "whole"), "book.xlsx", sheet), writes)
    _streamed(monkeypatch, chunk, segment)
    path = _book(_in(tmp_path, "streamed"), "book.xlsx", sheet)
    streamed = _saved_sheet(path, writes)
    assert streamed == whole
    assert len(calls) == 2  # each save gave the sheet to the tree patcher
    if "comment" in case:  # the writes are where a reader finds them
        assert openpyxl.load_workbook(path)["Orders"]["E2"].value == "In progress"


#: The main namespace bound twice, as the default and as ``x``: rows or cells under the
#: prefix the sheetData does not use.
TWO_PREFIXES = NS + ' xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
FOREIGN_PREFIX = {
    "rows": (
        "x:",
        '<row r="2"><c r="A2"><v>1</v></c></row><row r="3"><c r="A3"><v>2</v></c></row>',
    ),
    "cells": (
        "",
        '<row r="2"><x:c r="A2"><x:v>1</x:v></x:c><x:c r="E2"><x:v>5</x:v></x:c></row>'
        '<row r="3"><c r="A3"><v>2</v></c></row>',
    ),
}


@pytest.mark.parametrize(("chunk", "segment"), [*CHUNKINGS, (1 << 20, 1 << 20)])
@pytest.mark.parametrize("case", FOREIGN_PREFIX)
def test_rows_or_cells_under_another_prefix_go_to_the_tree_patcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, segment: int, case: str
) -> None:
    """``<x:sheetData>`` holding ``<row>`` (the same namespace, another prefix): the stream
    patcher saw no row 2 and wrote a second one after row 3, and Excel repairs such a
    file; a cell under another prefix was written twice the same way. Whole or streamed,
    the sheet now goes to the tree patcher, which writes into the row and cell there are."""
    prefix, rows = FOREIGN_PREFIX[case]
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<{prefix}worksheet '
        f'{TWO_PREFIXES}><{prefix}dimension ref="A1:E3"/><{prefix}sheetData>{rows}'
        f"</{prefix}sheetData></{prefix}worksheet>"
    ).encode()
    calls = tree_patcher_calls(monkeypatch)
    if chunk < 1 << 20:
        _streamed(monkeypatch, chunk, segment)
    path = _book(tmp_path, "book.xlsx", sheet)
    saved = _saved_sheet(path, {(2, 5): "x"})
    assert isinstance(saved, bytes) and len(calls) == 1
    assert saved.count(b'r="2"') == 1 and saved.count(b'r="E2"') == 1
    assert openpyxl.load_workbook(path)["Orders"]["E2"].value == "x"


@pytest.mark.parametrize(("chunk", "segment"), [*CHUNKINGS, (1 << 20, 1 << 20)])
@pytest.mark.parametrize("fast", [True, False])
def test_a_row_whose_attribute_value_holds_a_tag_end_goes_to_the_tree_patcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, segment: int, fast: bool
) -> None:
    """``<row r="2" x14ac:n="a/>b">``: XML allows "/>" in a value, the row's start tag was
    taken to end there, as a self-closing row, and the saved sheet was not XML (Excel
    repairs it, losing the row). A written row whose tag's quotes do not pair now goes to
    the tree patcher, streamed or whole."""
    monkeypatch.setattr(sheet_stream, "FAST_ROWS", fast)
    rows = (
        '<row r="2" x14ac:n="a/>b"><c r="A2"><v>1</v></c><c r="E2"><v>0</v></c></row>'
        '<row r="3" x14ac:n="c>d"><c r="A3"><v>2</v></c></row>'
    )
    sheet = _sheet(rows).replace(b"<worksheet ", b'<worksheet xmlns:x14ac="urn:x14ac" ')
    calls = tree_patcher_calls(monkeypatch)
    if chunk < 1 << 20:
        _streamed(monkeypatch, chunk, segment)
    path = _book(tmp_path, "book.xlsx", sheet)
    assert isinstance(_saved_sheet(path, {(2, 5): "x", (3, 5): "y"}), bytes)
    assert len(calls) == 1
    values = [[cell.value for cell in row] for row in openpyxl.load_workbook(path)["Orders"]]
    assert values[1][0] == 1 and values[1][4] == "x" and values[2][0] == 2 and values[2][4] == "y"
