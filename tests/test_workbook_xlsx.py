"""XlsxWorkbook against real files from xlsxwriter, openpyxl and LibreOffice.

The promise under test: a save changes the cells asked for and nothing else in the
user's workbook; every other zip member is copied byte for byte.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from smmsheet.errors import WorkbookBusyError, WorkbookError
from smmsheet.workbook import WorkbookAdapter, open_workbook
from smmsheet.workbook.xlsx import XlsxWorkbook, cells, excel_lock_file, sheet_patch, zipio

from . import workbooks as wb

ORDERS = wb.ORDERS_PART
#: The first bytes of an OLE compound file: an encrypted workbook, or an old .xls.
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def calamine_rows(path: Path, sheet: str) -> list[list[object]]:
    with CalamineWorkbook.from_path(str(path)) as book:
        return book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)


def openpyxl_cell(path: Path, sheet: str, ref: str) -> openpyxl.cell.cell.Cell:
    book = openpyxl.load_workbook(path)
    return book[sheet][ref]


def assert_only_changed(
    before: list[tuple[str, bytes]],
    after: Path,
    changed: set[str],
    added: frozenset[str] = frozenset(),
) -> None:
    """Same members in the same order (plus ``added``); all but ``changed`` byte-identical."""
    new = [(name, data) for name, data in wb.members(after) if name not in added]
    assert [name for name, _ in new] == [name for name, _ in before]
    differing = {name for (name, a), (_, b) in zip(before, new, strict=True) if a != b}
    assert differing == changed


# -- reading ---------------------------------------------------------------------------


def test_read_values_starts_at_a1_when_data_starts_at_c5(tmp_path: Path) -> None:
    path = tmp_path / "sparse.xlsx"
    wb.build_sparse_workbook(path)
    rows = XlsxWorkbook(path).read_values("Orders")
    assert len(rows) == 8
    assert rows[:4] == [[], [], [], []]
    assert rows[4][:4] == [None, None, "Service", "Link"]
    assert rows[5][2:4] == [101.0, "https://example.com/1"]
    assert all(value is None for value in rows[6])
    assert rows[7][2:5] == [102.0, None, "late column"]


def test_read_values_gives_cached_formula_results_and_none_for_empty(rich: Path) -> None:
    rows = XlsxWorkbook(rich).read_values("Orders")
    assert rows[0][:8] == wb.ORDERS_HEADER
    assert rows[1][:5] == [101.0, "https://example.com/post/1", 1000.0, 0.5, 0.5]
    assert rows[1][5] is None  # empty Order ID
    assert rows[3][4] == 1.5


def test_sheet_names_are_worksheets_in_order(rich: Path, tmp_path: Path) -> None:
    assert XlsxWorkbook(rich).sheet_names() == ["Orders", "Report", "Prices"]
    path = tmp_path / "chartsheet.xlsx"
    wb.build_chartsheet_workbook(path, "Chart1")
    assert XlsxWorkbook(path).sheet_names() == ["Data"]


def test_adapter_satisfies_the_protocol(rich: Path) -> None:
    assert isinstance(XlsxWorkbook(rich), WorkbookAdapter)
    assert isinstance(open_workbook(str(rich)), XlsxWorkbook)
    assert XlsxWorkbook(str(rich)).path == rich


def test_reads_include_buffered_writes_and_close_drops_them(rich: Path) -> None:
    before = rich.read_bytes()
    book = XlsxWorkbook(rich)
    book.write_cells("orders", {(2, 6): 5001, (10, 2): "new"})
    rows = book.read_values("Orders")
    assert rows[1][5] == 5001
    assert rows[9][1] == "new"
    book.close()
    assert book.read_values("Orders")[1][5] is None
    book.save()
    assert rich.read_bytes() == before


# -- writing: the rest of the workbook is untouched ------------------------------------


@pytest.mark.parametrize("suffix", [".xlsx", ".xlsm"])
def test_write_leaves_every_other_member_byte_identical(
    tmp_path: Path, patcher: str, suffix: str
) -> None:
    path = tmp_path / f"orders{suffix}"
    vba = wb.vba_project(tmp_path) if suffix == ".xlsm" else None
    wb.build_rich_workbook(path, vba=vba)
    before = wb.members(path)
    raw_before = wb.raw_members(path)

    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(2, 6): 5001, (2, 7): "Pending", (3, 8): 1.25})
    book.save()

    assert_only_changed(before, path, {ORDERS})
    raw_after = wb.raw_members(path)
    for name, (method, data) in raw_before.items():
        if name != ORDERS:
            assert raw_after[name] == (method, data), f"{name} was recompressed"
    if vba is not None:
        assert wb.read_member(path, "xl/vbaProject.bin") == vba
        assert b"vbaProject" in wb.read_member(path, "[Content_Types].xml")


def test_written_values_read_back_in_calamine_and_openpyxl(rich: Path, patcher: str) -> None:
    values = {
        (2, 6): 5001,
        (2, 7): "Pending",
        (2, 8): 1.25,
        (3, 6): Decimal("12.5"),
        (3, 7): True,
        (4, 7): "  two\r\nlines <&> ",
        (5, 7): "Ünïcödé ✓ 😀",
    }
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", values)
    book.save()

    rows = calamine_rows(rich, "Orders")
    assert rows[1][5:8] == [5001.0, "Pending", 1.25]
    assert rows[2][5:7] == [12.5, True]
    assert rows[3][6] == "  two\r\nlines <&> "
    assert rows[4][6] == "Ünïcödé ✓ 😀"
    sheet = openpyxl.load_workbook(rich, read_only=True)["Orders"]
    got = {(c.row, c.column): c.value for row in sheet.iter_rows() for c in row if c.value}
    assert got[(2, 6)] == 5001
    assert got[(2, 8)] == 1.25
    assert got[(3, 7)] is True
    assert got[(4, 7)] == "  two\r\nlines <&> "
    assert XlsxWorkbook(rich).read_values("Orders")[1][6] == "Pending"


@pytest.mark.parametrize("text", ["=1+1", "+SUM(A1:A2)", "-2+3", "@cmd", '=HYPERLINK("x")'])
def test_text_that_looks_like_a_formula_stays_text(rich: Path, patcher: str, text: str) -> None:
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 7): text})
    book.save()
    written = wb.cell(wb.read_member(rich, ORDERS), "G2")
    assert written is not None
    assert written.get("t") == "inlineStr"
    assert written.find(f"{{{wb.MAIN_NS}}}f") is None
    cell = openpyxl_cell(rich, "Orders", "G2")
    assert cell.data_type == "s"
    assert cell.value == text
    assert calamine_rows(rich, "Orders")[1][6] == text


def test_untouched_cells_keep_their_exact_xml(rich: Path, patcher: str) -> None:
    before = wb.cell_elements(wb.read_member(rich, ORDERS))
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 6): 1, (3, 7): "x", (4, 9): 2, (20, 1): "far"})
    book.save()
    after = wb.cell_elements(wb.read_member(rich, ORDERS))
    written = {"F2", "G3", "I4", "A20"}
    for ref, element in before.items():
        if ref not in written:
            assert after[ref] == element, ref
    assert b"<f>C3*D3/1000</f><v>1.0</v>" in after["E3"]
    assert set(after) == set(before) | written


def test_overwritten_cell_keeps_its_style(rich: Path, patcher: str) -> None:
    styled = wb.cell(wb.read_member(rich, ORDERS), "G2")
    assert styled is not None and styled.get("s")
    formula = wb.cell(wb.read_member(rich, ORDERS), "E2")
    assert formula is not None
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 7): "Completed", (2, 5): 9.5})
    book.save()
    xml = wb.read_member(rich, ORDERS)
    status, total = wb.cell(xml, "G2"), wb.cell(xml, "E2")
    assert status is not None and total is not None
    assert status.get("s") == styled.get("s")
    assert total.get("s") == formula.get("s")
    assert openpyxl_cell(rich, "Orders", "G2").font.i is True


def test_none_clears_values_and_drops_unstyled_cells(rich: Path, patcher: str) -> None:
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 1): None, (2, 7): None, (2, 4): None, (30, 30): None})
    book.save()
    xml = wb.read_member(rich, ORDERS)
    assert wb.cell(xml, "A2") is None  # no style: the element goes
    for ref in ("G2", "D2"):  # styled: stays, empty
        kept = wb.cell(xml, ref)
        assert kept is not None and kept.get("s") and len(kept) == 0 and kept.get("t") is None
    assert 30 not in wb.row_numbers(xml)
    assert calamine_rows(rich, "Orders")[1][:4] == ["", "https://example.com/post/1", 1000.0, ""]


# -- writing: where cells go ------------------------------------------------------------


def test_new_column_new_rows_and_gaps_go_in_sheet_order(tmp_path: Path, patcher: str) -> None:
    path = tmp_path / "sparse.xlsx"
    wb.build_sparse_workbook(path)
    book = XlsxWorkbook(path)
    book.write_cells(
        "Orders",
        {
            (5, 6): "Order ID",  # new header to the right
            (5, 1): "first",  # before the first cell of a row
            (6, 5): 7,  # between existing cells? no: after D6, a new last cell
            (7, 4): "row 7 was empty",  # a row that does not exist, between rows
            (8, 4): "gap",  # between C8 and E8 in an existing row
            (12, 3): "beyond",  # past the last row
            (2, 2): "above",  # before the first row
        },
    )
    book.save()
    xml = wb.read_member(path, ORDERS)
    assert wb.row_numbers(xml) == [2, 5, 6, 7, 8, 12]
    assert wb.cells_in_row(xml, 5) == ["A5", "C5", "D5", "F5"]
    assert wb.cells_in_row(xml, 6) == ["C6", "D6", "E6"]
    assert wb.cells_in_row(xml, 8) == ["C8", "D8", "E8"]
    assert wb.dimension(xml) == "A2:F12"
    rows = XlsxWorkbook(path).read_values("Orders")
    assert rows[4][:6] == ["first", None, "Service", "Link", None, "Order ID"]
    assert rows[6][3] == "row 7 was empty"
    assert rows[7][2:5] == [102.0, "gap", "late column"]
    assert rows[11][2] == "beyond"
    assert rows[1][1] == "above"
    assert openpyxl.load_workbook(path)["Orders"]["D8"].value == "gap"


def test_row_spans_hint_is_widened(rich: Path, patcher: str) -> None:
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 12): "far right"})
    book.save()
    xml = wb.read_member(rich, ORDERS).decode()
    assert '<row r="2" spans="1:12"' in xml


def test_cells_written_without_r_attributes_land_in_the_right_place(
    tmp_path: Path, patcher: str
) -> None:
    path = tmp_path / "no-r.xlsx"
    wb.build_openpyxl_workbook(path)
    xml = wb.read_member(path, ORDERS)
    stripped = xml.replace(b' r="', b' data-r="')  # placeholders, removed next
    import re

    stripped = re.sub(rb' data-r="[^"]*"', b"", stripped)
    wb.replace_member(path, ORDERS, stripped)
    assert b' r="' not in wb.read_member(path, ORDERS)
    book = XlsxWorkbook(path)
    assert book.read_values("Orders")[1][0] == 102.0
    book.write_cells("Orders", {(2, 6): 5001, (3, 3): 77, (9, 2): "new row"})
    book.save()
    rows = XlsxWorkbook(path).read_values("Orders")
    assert rows[1][:6] == [102.0, "https://example.com/post/2", 2000.0, 0.5, 1.0, 5001.0][:6] or (
        rows[1][5] == 5001.0
    )
    assert rows[1][5] == 5001.0
    assert rows[2][2] == 77.0
    assert rows[8][1] == "new row"
    assert rows[0][:8] == wb.ORDERS_HEADER


# -- foreign writers --------------------------------------------------------------------


def test_libreoffice_workbook_takes_writes(tmp_path: Path, patcher: str) -> None:
    path = tmp_path / "lo.xlsx"
    shutil.copy(wb.LIBREOFFICE_ORDERS, path)
    before = wb.members(path)
    old_cells = wb.cell_elements(wb.read_member(path, ORDERS))
    book = XlsxWorkbook(path)
    assert book.sheet_names() == ["Orders", "Notes"]
    assert book.read_values("Orders")[1][:3] == [101.0, "https://example.com/post/1", 1000.0]
    book.write_cells(
        "Orders",
        {(2, 6): 9001, (2, 7): "Pending", (3, 8): dt.datetime(2024, 5, 6, 7, 8), (1, 9): "Error"},
    )
    book.save()
    # LibreOffice leaves formulas uncalculated on load, so Excel is asked to recalculate.
    assert_only_changed(before, path, {ORDERS, "xl/workbook.xml"})
    workbook_xml = wb.read_member(path, "xl/workbook.xml")
    assert b'fullCalcOnLoad="1"' in workbook_xml
    old_workbook = dict(before)["xl/workbook.xml"]
    assert workbook_xml.replace(b' fullCalcOnLoad="1"', b"") == old_workbook
    new_cells = wb.cell_elements(wb.read_member(path, ORDERS))
    assert new_cells["E2"] == old_cells["E2"]
    status = wb.cell(wb.read_member(path, ORDERS), "G2")
    assert status is not None and status.get("s") == "1"
    rows = calamine_rows(path, "Orders")
    assert rows[1][5:7] == [9001.0, "Pending"]
    assert rows[2][7] == dt.datetime(2024, 5, 6, 7, 8)
    assert rows[0][8] == "Error"
    assert openpyxl.load_workbook(path)["Orders"]["H3"].is_date


def test_openpyxl_workbook_takes_writes(tmp_path: Path, patcher: str) -> None:
    path = tmp_path / "op.xlsx"
    wb.build_openpyxl_workbook(path)
    before = wb.members(path)
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(2, 6): 1, (2, 7): "Done", (3, 8): None, (7, 1): "tail"})
    book.save()
    assert_only_changed(before, path, {ORDERS})
    sheet = openpyxl.load_workbook(path)["Orders"]
    assert [sheet["F2"].value, sheet["G2"].value, sheet["H3"].value, sheet["A7"].value] == [
        1,
        "Done",
        None,
        "tail",
    ]
    assert sheet["G2"].font.b is True
    assert sheet["E2"].value == "=C2*D2/1000"


# -- formulas -----------------------------------------------------------------------------


def test_overwritten_formula_leaves_the_calc_chain(rich: Path, patcher: str) -> None:
    wb.add_calc_chain(rich, '<c r="E2" i="1"/><c r="E3"/><c r="E4" l="1"/><c r="E5"/>')
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 5): 1.0, (4, 5): "manual"})
    book.save()
    chain = wb.read_member(rich, "xl/calcChain.xml")
    assert b'r="E2"' not in chain and b'r="E4"' not in chain
    assert b'<c r="E3" i="1"/>' in chain  # the sheet id moves to the first entry left
    assert b'<c r="E5" l="1"/>' in chain  # so does the new-level mark


def test_calc_chain_goes_with_its_relationship_once_empty(rich: Path, patcher: str) -> None:
    wb.add_calc_chain(rich, '<c r="E2" i="1"/><c r="E3"/>')
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 5): 1, (3, 5): 2})
    book.save()
    names = [name for name, _ in wb.members(rich)]
    assert "xl/calcChain.xml" not in names
    assert b"calcChain" not in wb.read_member(rich, "xl/_rels/workbook.xml.rels")
    assert b"calcChain" not in wb.read_member(rich, "[Content_Types].xml")
    assert openpyxl.load_workbook(rich)["Orders"]["E2"].value == 1


def test_calc_chain_of_other_sheets_is_kept(rich: Path, patcher: str) -> None:
    wb.add_calc_chain(rich, '<c r="E2" i="3"/><c r="E2" i="1"/>')
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 5): 1})
    book.save()
    chain = wb.read_member(rich, "xl/calcChain.xml")
    assert b'<c r="E2" i="3"/>' in chain and chain.count(b"<c ") == 1


def make_shared_formulas(path: Path) -> None:
    """Turn E2:E6 of the rich workbook into one shared formula, as Excel writes fills."""
    import re

    xml = wb.read_member(path, ORDERS)
    xml = xml.replace(b"<f>C2*D2/1000</f>", b'<f t="shared" ref="E2:E6" si="0">C2*D2/1000</f>')
    xml = re.sub(rb"<f>C[3-6]\*D[3-6]/1000</f>", b'<f t="shared" si="0"/>', xml)
    wb.replace_member(path, ORDERS, xml)


def test_overwriting_a_shared_formula_master_moves_it(rich: Path, patcher: str) -> None:
    make_shared_formulas(rich)
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 5): "manual", (4, 5): 7})
    book.save()
    xml = wb.read_member(rich, ORDERS)
    master = wb.cell(xml, "E3")
    assert master is not None
    formula = master.find(f"{{{wb.MAIN_NS}}}f")
    assert formula is not None
    assert (formula.text, formula.get("ref"), formula.get("si")) == ("C3*D3/1000", "E3:E6", "0")
    sheet = openpyxl.load_workbook(rich)["Orders"]
    assert [sheet[f"E{r}"].value for r in range(2, 7)] == [
        "manual",
        "=C3*D3/1000",
        7,
        "=C5*D5/1000",
        "=C6*D6/1000",
    ]
    assert calamine_rows(rich, "Orders")[4][4] == 2.0  # cached values stay


def test_overwriting_a_shared_formula_member_keeps_the_rest(rich: Path, patcher: str) -> None:
    make_shared_formulas(rich)
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(3, 5): 0})
    book.save()
    sheet = openpyxl.load_workbook(rich)["Orders"]
    assert [sheet[f"E{r}"].value for r in range(2, 7)] == [
        "=C2*D2/1000",
        0,
        "=C4*D4/1000",
        "=C5*D5/1000",
        "=C6*D6/1000",
    ]


def test_array_formula_cells_are_refused_and_nothing_changes(tmp_path: Path, patcher: str) -> None:
    import xlsxwriter

    path = tmp_path / "array.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    sheet.write_column("A1", [1, 2, 3])
    sheet.write_array_formula("B1:B3", "{=A1:A3*2}", None, 2)
    book.close()
    before = path.read_bytes()
    adapter = XlsxWorkbook(path)
    adapter.write_cells("Orders", {(2, 2): "x"})
    with pytest.raises(WorkbookError, match="B2 is part of the array formula B1:B3"):
        adapter.save()
    assert path.read_bytes() == before
    assert list(tmp_path.glob(".~smmsheet-*")) == []


def test_rows_out_of_order_are_refused_rather_than_written_twice(rich: Path, patcher: str) -> None:
    """Row 3 stored before row 2: a new cell in row 2 must not create a second row 2."""
    xml = wb.read_member(rich, ORDERS)
    start, middle = xml.index(b'<row r="2"'), xml.index(b'<row r="3"')
    end = xml.index(b'<row r="4"')
    wb.replace_member(rich, ORDERS, xml[:start] + xml[middle:end] + xml[start:middle] + xml[end:])
    before = rich.read_bytes()
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(1, 12): "Error", (2, 12): "x", (3, 12): "y"})
    with pytest.raises(WorkbookError, match="rows are out of order"):
        book.save()
    assert rich.read_bytes() == before


@pytest.mark.parametrize("other", ["ORDERS", "Orders"])
def test_two_sheets_named_alike_are_refused_before_anything_is_read(rich: Path, other: str) -> None:
    """Excel takes sheet names without case; a file naming two sheets alike had its rows read
    from the first and its Order IDs written into the second, another sheet of the user's."""
    xml = wb.read_member(rich, "xl/workbook.xml").replace(
        b'name="Report"', f'name="{other}"'.encode()
    )
    wb.replace_member(rich, "xl/workbook.xml", xml)
    before = rich.read_bytes()
    with pytest.raises(WorkbookError, match=f"two sheets 'Orders' and '{other}'"):
        XlsxWorkbook(rich)
    assert rich.read_bytes() == before


def test_a_cell_written_twice_in_its_row_is_refused_and_nothing_changes(
    rich: Path, patcher: str
) -> None:
    """F2 stored twice, an Order ID then an empty text: calamine reads the last, so the row was
    bought again, and the first copy got the new id while the empty one stayed: the next run
    read the row as unplaced once more."""
    xml = wb.read_member(rich, ORDERS)
    twice = b'<c r="F2"><v>4242</v></c><c r="F2" t="inlineStr"><is><t></t></is></c>'
    wb.replace_member(rich, ORDERS, xml.replace(b'<c r="G2" s="3"/>', twice + b'<c r="G2" s="3"/>'))
    before = rich.read_bytes()
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 6): 1001, (2, 8): "Pending"})
    with pytest.raises(WorkbookError, match="cells of row 2 are out of order"):
        book.save()
    assert rich.read_bytes() == before


def test_writes_with_formulas_ask_excel_to_recalculate(tmp_path: Path, patcher: str) -> None:
    path = tmp_path / "calc.xlsx"
    wb.build_rich_workbook(path)
    xml = wb.read_member(path, "xl/workbook.xml").replace(b' fullCalcOnLoad="1"', b"")
    wb.replace_member(path, "xl/workbook.xml", xml)
    book = XlsxWorkbook(path)
    book.write_cells("Prices", {(6, 1): "note"})  # the formulas are on another sheet
    book.save()
    assert b'fullCalcOnLoad="1"' in wb.read_member(path, "xl/workbook.xml")


def test_workbook_without_formulas_keeps_its_workbook_part(tmp_path: Path, patcher: str) -> None:
    path = tmp_path / "plain.xlsx"
    wb.build_sparse_workbook(path)
    before = wb.members(path)
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(6, 5): 1})
    book.save()
    assert_only_changed(before, path, {ORDERS})


# -- replace_sheet ------------------------------------------------------------------------


def test_replace_sheet_adds_a_new_services_sheet(rich: Path) -> None:
    before = wb.members(rich)
    book = XlsxWorkbook(rich)
    rows = [["ID", "Name", "Rate"], [1, "Likes", 0.5], [2, "Views =cheap", None, "extra"]]
    book.replace_sheet("Services", rows)
    assert book.sheet_names()[-1] == "Services"
    book.save()
    assert book.sheet_names() == ["Orders", "Report", "Prices", "Services"]
    changed = {"xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml"}
    new_part = "xl/worksheets/sheet4.xml"
    assert_only_changed(before, rich, changed, added=frozenset({new_part}))
    names = [name for name, _ in wb.members(rich)]
    assert names.index(new_part) == names.index("xl/worksheets/sheet3.xml") + 1
    assert calamine_rows(rich, "Services") == [
        ["ID", "Name", "Rate", ""],
        [1.0, "Likes", 0.5, ""],
        [2.0, "Views =cheap", "", "extra"],
    ]
    sheet = openpyxl.load_workbook(rich)["Services"]
    assert sheet["B3"].value == "Views =cheap" and sheet["B3"].data_type == "s"
    workbook_xml = wb.read_member(rich, "xl/workbook.xml").decode()
    assert '<sheet name="Services" sheetId="4" r:id="rId' in workbook_xml


def test_replace_sheet_replaces_values_of_an_existing_sheet(rich: Path, patcher: str) -> None:
    before = wb.members(rich)
    report_part = "xl/worksheets/sheet2.xml"
    book = XlsxWorkbook(rich)
    book.replace_sheet("report", [["Service", "Name"], [101, "Likes"]])
    book.save()
    assert_only_changed(before, rich, {report_part})
    xml = wb.read_member(rich, report_part)
    assert b"<drawing " in xml  # the chart stays on the sheet
    assert calamine_rows(rich, "Report") == [["Service", "Name"], [101.0, "Likes"]]


def test_replace_sheet_clears_formulas_and_keeps_formatted_cells(rich: Path) -> None:
    book = XlsxWorkbook(rich)
    book.replace_sheet("Orders", [["only"]])
    book.save()
    xml = wb.read_member(rich, ORDERS)
    assert b"<f>" not in xml
    styled = wb.cell(xml, "G2")
    assert styled is not None and styled.get("s") and len(styled) == 0
    rows = XlsxWorkbook(rich).read_values("Orders")
    assert rows[0][0] == "only"
    assert all(value is None for row in rows[1:] for value in row)


def test_replace_then_write_cells_applies_both(rich: Path) -> None:
    book = XlsxWorkbook(rich)
    book.replace_sheet("Services", [["ID"], [1]])
    book.write_cells("Services", {(2, 2): "Likes"})
    book.save()
    assert calamine_rows(rich, "Services") == [["ID", ""], [1.0, "Likes"]]


def test_replace_sheet_refuses_bad_sheet_names(rich: Path) -> None:
    with pytest.raises(WorkbookError, match="not a valid sheet name"):
        XlsxWorkbook(rich).replace_sheet("a/b", [])


# -- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("date1904", [False, True])
def test_dates_and_datetimes_round_trip(tmp_path: Path, patcher: str, date1904: bool) -> None:
    import xlsxwriter

    path = tmp_path / "dates.xlsx"
    book = xlsxwriter.Workbook(str(path), {"date_1904": date1904})
    sheet = book.add_worksheet("Orders")
    sheet.write("A1", "Updated")
    sheet.write_datetime("B2", dt.datetime(2020, 1, 1), book.add_format({"num_format": "d mmm"}))
    book.close()
    moment = dt.datetime(2024, 2, 29, 13, 45, 30)
    adapter = XlsxWorkbook(path)
    adapter.write_cells("Orders", {(2, 1): moment, (3, 1): dt.date(1999, 12, 31), (2, 2): moment})
    adapter.save()
    rows = calamine_rows(path, "Orders")
    assert rows[1][0] == moment
    assert rows[2][0] == dt.date(1999, 12, 31)  # a date format without time reads as a date
    assert rows[1][1] == moment
    sheet_ = openpyxl.load_workbook(path)["Orders"]
    assert sheet_["A2"].value == moment and sheet_["A2"].number_format == "m/d/yy h:mm"
    assert sheet_["A3"].is_date
    assert sheet_["B2"].number_format == "d mmm"  # a date format of its own is kept


def test_excel_1900_serials_match_excel(tmp_path: Path) -> None:
    assert cells.excel_serial(dt.date(1900, 1, 1), False) == 1
    assert cells.excel_serial(dt.date(1900, 2, 28), False) == 59
    assert cells.excel_serial(dt.date(1900, 3, 1), False) == 61
    assert cells.excel_serial(dt.datetime(2024, 1, 1, 12), False) == 45292.5
    assert cells.excel_serial(dt.date(1904, 1, 2), True) == 1
    with pytest.raises(WorkbookError):
        cells.excel_serial(dt.date(1899, 1, 1), False)


def test_illegal_xml_characters_are_stripped(rich: Path, patcher: str) -> None:
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 7): "bad\x00\x01\x0b\x1f\ud800\ufffe text\tok"})
    book.save()
    assert calamine_rows(rich, "Orders")[1][6] == "bad text\tok"
    assert openpyxl_cell(rich, "Orders", "G2").value == "bad text\tok"


def test_excel_escape_sequences_stay_literal(rich: Path, patcher: str) -> None:
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 7): "_x0041_ and _x000D_"})
    book.save()
    # Excel (and calamine) decode "_xHHHH_" in cell text, so the "_" is escaped; openpyxl
    # decodes only shared strings and would show the escape in this inline string.
    assert calamine_rows(rich, "Orders")[1][6] == "_x0041_ and _x000D_"
    assert b">_x005F_x0041_ and _x005F_x000D_<" in wb.read_member(rich, ORDERS)


def test_bad_values_and_coordinates_are_refused_before_anything_is_buffered(rich: Path) -> None:
    book = XlsxWorkbook(rich)
    with pytest.raises(WorkbookError, match="finite"):
        book.write_cells("Orders", {(2, 7): float("nan")})
    with pytest.raises(TypeError):
        book.write_cells("Orders", {(2, 7): [1, 2]})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        book.write_cells("Orders", {(0, 1): 1})
    with pytest.raises(TypeError):
        book.write_cells("Orders", {(True, 1): 1})
    with pytest.raises(WorkbookError, match="no worksheet named 'Nope'"):
        book.write_cells("Nope", {(1, 1): 1})
    assert book.read_values("Orders")[1][6] is None


def test_long_text_is_cut_at_excel_limit(rich: Path, patcher: str) -> None:
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 7): "x" * 40000})
    book.save()
    assert len(calamine_rows(rich, "Orders")[1][6]) == 32767


def test_long_text_beyond_the_basic_plane_is_cut_at_excels_limit_in_utf16_units(
    rich: Path, patcher: str
) -> None:
    # Excel counts an emoji as two characters: 20,000 of them would make it repair the file.
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 7): "\U0001f600" * 20000, (3, 7): "a" + "\U0001f600" * 20000})
    book.save()
    rows = calamine_rows(rich, "Orders")
    assert rows[1][6] == "\U0001f600" * 16383  # 32,766 units: no half emoji at the end
    assert rows[2][6] == "a" + "\U0001f600" * 16383  # 32,767 units


# -- refusing and atomicity ---------------------------------------------------------------


@pytest.mark.parametrize("lock_name", ["~$orders.xlsx", "~$ders.xlsx"])
def test_excel_lock_file_refuses_open_and_save(rich: Path, lock_name: str) -> None:
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 6): 1})
    before = rich.read_bytes()
    lock = rich.with_name(lock_name)
    lock.write_bytes(b"owner")
    assert excel_lock_file(rich) == lock
    message = f"orders.xlsx is open in Excel (lock file {lock_name}); close it and run again"
    with pytest.raises(WorkbookBusyError) as raised:
        book.save()
    assert str(raised.value) == message
    with pytest.raises(WorkbookBusyError):
        XlsxWorkbook(rich)
    assert rich.read_bytes() == before
    lock.unlink()
    assert excel_lock_file(rich) is None
    book.save()
    assert calamine_rows(rich, "Orders")[1][5] == 1.0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("orders.csv", b"a,b\n1,2\n", "not an .xlsx or .xlsm workbook"),
        ("orders.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "not an .xlsx or .xlsm workbook"),
        ("orders.xlsx", b"this is not a zip", "not a valid Excel workbook"),
        ("orders.xlsx", None, "does not exist"),
        # a typo in the extension names a missing file: say so, not "save it as .xlsx"
        ("orders.xslx", None, "orders.xslx does not exist"),
        # Excel's "Encrypt with Password" writes an OLE file, not a zip
        ("orders.xlsx", OLE_MAGIC + b"\x00" * 100, "password-protected .* remove the password"),
        ("orders.xlsx", b"", "is empty"),
    ],
)
def test_unusable_files_give_one_clear_error(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WorkbookError, match=message) as raised:
        XlsxWorkbook(path)
    assert "\n" not in str(raised.value)
    if content is not None:
        assert path.read_bytes() == content


def test_zip_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "orders.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(WorkbookError, match="not an Excel workbook"):
        XlsxWorkbook(path)


def test_a_binary_workbook_renamed_xlsx_is_refused_by_name(tmp_path: Path) -> None:
    """An .xlsb renamed .xlsx was refused as "File not found 'xl/_rels/workbook.xml.rels'"."""
    path = tmp_path / "orders.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("_rels/.rels", "<Relationships/>")
        archive.writestr("xl/workbook.bin", b"\x83\x01\x00")
        archive.writestr("xl/_rels/workbook.bin.rels", "<Relationships/>")
    with pytest.raises(WorkbookError, match=r"binary workbook \(\.xlsb\) .* save it as \.xlsx"):
        XlsxWorkbook(path)


def test_a_sheet_whose_part_cannot_be_found_is_refused_in_words(rich: Path) -> None:
    """A relationship naming the sheet's part with a backslash was refused as "...: Orders"."""
    rels = wb.read_member(rich, "xl/_rels/workbook.xml.rels")
    wb.replace_member(
        rich,
        "xl/_rels/workbook.xml.rels",
        rels.replace(b"worksheets/sheet1", b"worksheets\\sheet1"),
    )
    with pytest.raises(WorkbookError, match="the part it points to is not in the file"):
        XlsxWorkbook(rich).read_values("Orders")


def test_read_only_file_is_refused_on_save(rich: Path) -> None:
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 6): 1})
    before = rich.read_bytes()
    rich.chmod(0o444)
    try:
        with pytest.raises(WorkbookError, match="read-only"):
            book.save()
    finally:
        rich.chmod(0o644)
    assert rich.read_bytes() == before
    assert list(rich.parent.glob(".~smmsheet-*")) == []


def test_read_only_folder_is_refused_on_save(rich: Path) -> None:
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 6): 1})
    before = rich.read_bytes()
    rich.parent.chmod(0o555)
    try:
        with pytest.raises(WorkbookError, match="read-only"):
            book.save()
    finally:
        rich.parent.chmod(0o755)
    assert rich.read_bytes() == before
    assert list(rich.parent.glob(".~smmsheet-*")) == []


def test_failed_rename_leaves_the_original_and_no_temp_file(
    rich: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 6): 1})
    before = rich.read_bytes()

    def refuse(src: object, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(WorkbookError, match="cannot write orders.xlsx: Permission denied"):
        book.save()
    assert rich.read_bytes() == before
    assert sorted(p.name for p in rich.parent.iterdir()) == ["orders.xlsx"]


def test_failure_halfway_through_the_zip_leaves_the_original(
    rich: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 6): 1})
    before = rich.read_bytes()
    real_copy = zipio.copy_member
    copied: list[str] = []

    def copy_then_fail(source: object, member: zipfile.ZipInfo, target: object) -> None:
        if len(copied) == 3:
            raise RuntimeError("disk on fire")
        copied.append(member.filename)
        real_copy(source, member, target)  # type: ignore[arg-type]

    monkeypatch.setattr(zipio, "copy_member", copy_then_fail)
    with pytest.raises(RuntimeError, match="disk on fire"):
        book.save()
    assert rich.read_bytes() == before
    assert sorted(p.name for p in rich.parent.iterdir()) == ["orders.xlsx"]


def test_save_keeps_permission_bits(rich: Path) -> None:
    rich.chmod(0o640)
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 6): 1})
    book.save()
    assert stat.S_IMODE(rich.stat().st_mode) == 0o640


def test_save_without_changes_does_not_touch_the_file(rich: Path) -> None:
    stamp = rich.stat().st_mtime_ns
    XlsxWorkbook(rich).save()
    assert rich.stat().st_mtime_ns == stamp


def test_damaged_sheet_xml_is_refused_and_the_file_kept(rich: Path) -> None:
    wb.replace_member(rich, ORDERS, b"<worksheet><sheetData><row r='1'>")
    before = rich.read_bytes()
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 6): 1})
    with pytest.raises(WorkbookError, match="damaged"):
        book.save()
    assert rich.read_bytes() == before


# -- scale ----------------------------------------------------------------------------------


def test_twenty_thousand_rows_written_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "big.xlsx"
    wb.build_rich_workbook(path, rows=20_000)
    cells: dict[tuple[int, int], object] = {}
    for r in range(2, 20_002):
        cells[(r, 6)] = 10_000 + r
        cells[(r, 7)] = "Completed" if r % 3 else "=not a formula"
        cells[(r, 8)] = r / 100
        cells[(r, 12)] = f"row {r}"
    book = XlsxWorkbook(path)
    book.write_cells("Orders", cells)  # type: ignore[arg-type]
    book.save()
    rows = XlsxWorkbook(path).read_values("Orders")
    assert len(rows) == 20_001
    for r in (2, 3, 4, 9_999, 20_001):
        line = rows[r - 1]
        assert line[4] == 0.5 * (r - 1)  # the formula's cached value is still there
        assert (line[5], line[6], line[7], line[11]) == (
            10_000 + r,
            "Completed" if r % 3 else "=not a formula",
            r / 100,
            f"row {r}",
        )


def test_temp_files_never_linger_after_success(rich: Path) -> None:
    book = XlsxWorkbook(rich)
    book.write_cells("Orders", {(2, 6): 1})
    book.save()
    assert sorted(os.listdir(rich.parent)) == ["orders.xlsx"]


# -- the two patchers -------------------------------------------------------------------------


@pytest.mark.parametrize("writer", ["xlsxwriter", "openpyxl", "libreoffice"])
def test_everyday_writes_take_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str
) -> None:
    path = tmp_path / "orders.xlsx"
    if writer == "xlsxwriter":
        wb.build_rich_workbook(path)
    elif writer == "openpyxl":
        wb.build_openpyxl_workbook(path)
    else:
        shutil.copy(wb.LIBREOFFICE_ORDERS, path)

    class NoTree:
        def __init__(self, *args: object) -> None:
            raise AssertionError("fell back to the tree patcher")

    monkeypatch.setattr(sheet_patch, "TreePatcher", NoTree)
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(2, 5): 1, (2, 7): "x", (3, 1): None, (9, 9): dt.date(2024, 1, 1)})
    book.save()
    assert XlsxWorkbook(path).read_values("Orders")[1][6] == "x"


@pytest.mark.parametrize("writer", ["xlsxwriter", "openpyxl", "libreoffice"])
def test_both_patchers_write_the_same_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str
) -> None:
    writes: dict[tuple[int, int], object] = {
        (1, 1): "Svc",
        (2, 5): 9.75,
        (2, 7): "=text",
        (3, 2): None,
        (3, 4): None,
        (4, 6): True,
        (4, 9): dt.datetime(2024, 3, 4, 5, 6),
        (5, 3): Decimal("3.5"),
        (6, 1): "a & b < c",
        (12, 2): "new row",
    }
    results = {}
    for mode in (True, False):
        path = tmp_path / f"{mode}.xlsx"
        if writer == "xlsxwriter":
            wb.build_rich_workbook(path)
        elif writer == "openpyxl":
            wb.build_openpyxl_workbook(path)
        else:
            shutil.copy(wb.LIBREOFFICE_ORDERS, path)
        monkeypatch.setattr(sheet_patch, "STREAM_PATCHING", mode)
        book = XlsxWorkbook(path)
        book.write_cells("Orders", writes)  # type: ignore[arg-type]
        book.save()
        xml = wb.read_member(path, ORDERS)
        results[mode] = (wb.cell_elements(xml), wb.dimension(xml), wb.members(path))
    stream, tree = results[True], results[False]
    assert stream[0] == tree[0]
    assert stream[1] == tree[1]
    assert [m for m in stream[2] if m[0] != ORDERS] == [m for m in tree[2] if m[0] != ORDERS]


def test_save_through_a_symlink_keeps_the_link(rich: Path) -> None:
    link = rich.with_name("link.xlsx")
    link.symlink_to(rich)
    book = XlsxWorkbook(link)
    book.write_cells("Orders", {(2, 6): 1})
    book.save()
    assert link.is_symlink()
    assert calamine_rows(rich, "Orders")[1][5] == 1.0


def test_durations_and_times_read_as_day_fractions(tmp_path: Path) -> None:
    import xlsxwriter

    path = tmp_path / "times.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    sheet.write_number("A1", 1.5, book.add_format({"num_format": "[h]:mm"}))
    sheet.write_number("B1", 0.25, book.add_format({"num_format": "hh:mm"}))
    book.close()
    assert XlsxWorkbook(path).read_values("Orders") == [[1.5, 0.25]]


def test_replace_sheet_refuses_the_name_of_a_chart_sheet(tmp_path: Path) -> None:
    path = tmp_path / "chart.xlsx"
    wb.build_chartsheet_workbook(path, "Services")
    with pytest.raises(WorkbookError, match="chart sheet named 'services'"):
        XlsxWorkbook(path).replace_sheet("services", [["x"]])


# -- the package's layers ----------------------------------------------------------------------

#: The layers of smmsheet.workbook.xlsx, lowest first: each may import only those before it.
LAYERS = [
    "names",
    "cells",
    "zipio",
    "zipsafe",
    "hidden",
    "links",
    "unknown",
    "opc",
    "preview",
    "styles",
    "columns",
    "sheet_tree",
    "sheet_stream",
    "sheet_patch",
    "prepared",
    "prepared_process",
    "charts",
    "chart_sheet",
    "save",
    "adapter",
]


def test_each_layer_imports_only_the_layers_below_it() -> None:
    import ast

    import smmsheet.workbook.xlsx as package

    folder = Path(package.__file__).parent
    assert sorted(LAYERS) == sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
    for index, layer in enumerate(LAYERS):
        tree = ast.parse((folder / f"{layer}.py").read_text(encoding="utf-8"))
        siblings = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        }
        assert siblings <= set(LAYERS[:index]), f"{layer} imports {siblings - set(LAYERS[:index])}"


# -- memory at scale ----------------------------------------------------------------------


def _big_sheet(path: Path, rows: int) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Orders")
    for r in range(rows):
        sheet.write_row(r, 0, [1, f"https://x.com/p/{r}/ünï", 100, 1000 + r, "Pending"])
    book.close()


def _result_cells(rows: int) -> dict[tuple[int, int], object]:
    # Six result cells a row, given row by row in column order, as the engine gives them.
    return {
        (r, c): value
        for r in range(2, rows + 1)
        for c, value in ((5, "In progress"), (6, 0.09), (7, r), (8, 100), (9, "USD"), (13, "t"))
    }


def test_buffered_rows_are_compact(tmp_path: Path) -> None:
    """A million buffered rows in a dict each were 380 MB held through the save."""
    import tracemalloc

    path = tmp_path / "big.xlsx"
    _big_sheet(path, 5001)
    book = XlsxWorkbook(path)
    cells = _result_cells(5001)
    # Only what smmsheet's own lines allocate: the traced total also counts any other
    # thread's allocations (a daemon thread an earlier test left behind) in the window.
    ours = [tracemalloc.Filter(True, str(Path(sheet_patch.__file__).parents[2] / "*"))]
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot().filter_traces(ours)
        book.write_cells("Orders", cells)
        after = tracemalloc.take_snapshot().filter_traces(ours)
    finally:
        tracemalloc.stop()
    per_row = sum(stat.size_diff for stat in after.compare_to(before, "filename")) / 5000
    assert per_row < 250  # ~190 (the cells' own objects aside); a dict a row: ~400
    assert book.read_values("Orders")[1][4:9] == ["In progress", 0.09, 2, 100, "USD"]


def test_save_holds_the_sheet_once_not_inflated_twice_and_decoded(tmp_path: Path) -> None:
    """The save held the sheet XML as bytes twice (ZipFile.read) and once more decoded."""
    import tracemalloc

    path = tmp_path / "big.xlsx"
    _big_sheet(path, 40_000)
    with zipfile.ZipFile(path) as archive:
        size = archive.getinfo(wb.ORDERS_PART).file_size
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(2, 5): "In progress"})
    tracemalloc.start()
    try:
        book.save()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The part once, plus a few MB of inflated and checked slices; it was ~6 times the part.
    assert peak < 1.2 * size + 12 * 2**20
    rows = XlsxWorkbook(path).read_values("Orders")
    assert rows[1][4] == "In progress" and rows[2][4] == "Pending"
    assert rows[39_999][1] == "https://x.com/p/39999/ünï"


def test_a_sheet_too_large_to_hold_is_saved_in_memory_that_does_not_grow_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A million-row sheet's 250 MB of XML were held whole through its save, on top of the
    run's rows: the peak of a million-row refresh. A sheet larger than a save holds whole
    (here 1 MB) is patched as it inflates, a segment of rows at a time: eight times the
    rows cost the save little more memory (the compressed result grows with it)."""
    import tracemalloc

    import xlsxwriter

    from smmsheet.workbook.xlsx import opc, save, sheet_stream

    monkeypatch.setattr(save, "HELD_WHOLE", 1 << 20)
    monkeypatch.setattr(opc, "CHUNK", 64 << 10)
    monkeypatch.setattr(sheet_stream, "SEGMENT", 256 << 10)
    sizes: dict[int, int] = {}
    peaks: dict[int, int] = {}
    for rows in (10_000, 80_000):
        path = tmp_path / f"{rows}.xlsx"
        book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_urls": False})
        sheet = book.add_worksheet("Orders")
        for r in range(rows):
            sheet.write_row(r, 0, [1, f"https://x.com/p/{r}/ünï", 100, 1000 + r, "Pending"])
        book.close()
        with zipfile.ZipFile(path) as archive:
            sizes[rows] = archive.getinfo(wb.ORDERS_PART).file_size
        workbook = XlsxWorkbook(path)
        workbook.write_cells("Orders", {(2, 5): "In progress", (rows // 2, 5): "Completed"})
        tracemalloc.start()
        try:
            workbook.save()
            peaks[rows] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        values = XlsxWorkbook(path).read_values("Orders")
        assert [values[1][4], values[rows // 2 - 1][4], values[-1][4]] == [
            "In progress",
            "Completed",
            "Pending",
        ]
    extra = sizes[80_000] - sizes[10_000]  # 16 MB more XML
    assert peaks[80_000] - peaks[10_000] < extra / 4  # ~2.8 MB; held whole: more than 16 MB


def test_rows_not_written_keep_their_bytes_and_written_rows_their_non_ascii_text(
    tmp_path: Path,
) -> None:
    path = tmp_path / "big.xlsx"
    _big_sheet(path, 50)
    before = wb.read_member(path, wb.ORDERS_PART)
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(10, 5): "Ünïcödé ✓ 😀", (10, 7): 7})
    book.save()
    after = wb.read_member(path, wb.ORDERS_PART)
    rows_before = before[before.index(b"<sheetData") : before.index(b'<row r="10"')]
    rows_after = after[after.index(b"<sheetData") : after.index(b'<row r="10"')]
    assert rows_after == rows_before  # rows 1-9 copied as they were
    assert before[before.index(b'<row r="11"') :] == after[after.index(b'<row r="11"') :]
    rows = XlsxWorkbook(path).read_values("Orders")
    assert rows[9][1] == "https://x.com/p/9/ünï"
    assert rows[9][4:7] == ["Ünïcödé ✓ 😀", None, 7]


def test_every_text_is_cleaned_however_often_it_repeats_and_however_many_differ(
    tmp_path: Path,
) -> None:
    path = tmp_path / "big.xlsx"
    _big_sheet(path, 10)
    book = XlsxWorkbook(path)
    cells: dict[tuple[int, int], object] = {(r, 6): "same\x00 text" for r in range(2, 5001)}
    cells.update({(r, 7): f"row {r}\x01" for r in range(2, 5001)})  # > the 4,096 remembered
    book.write_cells("Orders", cells)  # type: ignore[arg-type]
    book.save()
    rows = XlsxWorkbook(path).read_values("Orders")
    assert {tuple(row[5:7]) for row in rows[1:5000]} == {
        ("same text", f"row {r}") for r in range(2, 5001)
    }


def test_the_same_time_in_every_row_is_encoded_once_and_dates_keep_their_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every row's Updated is the run's time: its date serial took a tenth of a big save."""
    from smmsheet.workbook.xlsx import sheet_stream

    calls: list[object] = []
    real = sheet_stream.encode_value

    def counted(value: object, date1904: bool) -> tuple[str | None, str, bool | None]:
        calls.append(value)
        return real(value, date1904)  # type: ignore[arg-type]

    monkeypatch.setattr(sheet_stream, "encode_value", counted)
    path = tmp_path / "big.xlsx"
    _big_sheet(path, 300)
    when, day = dt.datetime(2026, 11, 25, 21, 10, 5), dt.date(2026, 11, 25)
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(r, 13): when for r in range(2, 301)} | {(2, 14): day})
    book.save()
    assert calls == [when, day]
    rows = XlsxWorkbook(path).read_values("Orders")
    assert {row[12] for row in rows[1:300]} == {when}
    assert rows[1][13] == dt.datetime(2026, 11, 25) or rows[1][13] == day


def test_error_cells_and_uncalculated_formulas_read_as_unknown_not_empty(tmp_path) -> None:
    """calamine reads both as "": an Order ID of #REF! would then mean "place this row"."""
    from smmsheet.workbook.base import UnknownValue

    path = tmp_path / "o.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["#REF!", "=Ids!A2", "=1+1", None, "text"])
    book.save(path)
    [row] = XlsxWorkbook(path).read_values(sheet.title)
    assert row[:3] == ["#REF!", "=Ids!A2", "=1+1"] and row[3:] == [None, "text"]
    assert all(isinstance(cell, UnknownValue) for cell in row[:3])


def test_an_uncalculated_formula_in_a_prefixed_sheet_reads_as_unknown(tmp_path) -> None:
    """The Open XML SDK writes <x:c><x:f>..</x:f></x:c>: no plain hint is in it, and the
    Order ID read as empty would buy the row again."""
    import re

    from smmsheet.workbook.base import UnknownValue

    path = tmp_path / "o.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Order ID", "=Ids!A2"])
    book.save(path)
    xml = wb.read_member(path, wb.ORDERS_PART).replace(b"<v></v>", b"")
    head, _, body = xml.partition(b"<worksheet")
    body = re.sub(rb"<(/?)(\w+)", rb"<\1x:\2", b"<worksheet" + body)
    wb.replace_member(path, wb.ORDERS_PART, head + body.replace(b'xmlns="', b'xmlns:x="'))
    assert b"<x:f>Ids!A2</x:f></x:c>" in wb.read_member(path, wb.ORDERS_PART)
    [row] = XlsxWorkbook(path).read_values(sheet.title)
    assert row == ["Order ID", "=Ids!A2"] and isinstance(row[1], UnknownValue)


def test_a_long_prefixed_hint_cut_between_two_chunks_is_still_found(tmp_path) -> None:
    """The scan searched each chunk with the last 64 bytes of the one before: a prefix of
    100 letters makes ``</P:f></P:c>`` 210 bytes long, and cut at a chunk's end it was
    found in neither. The Order ID read as empty would buy the row again."""
    from smmsheet.workbook.base import UnknownValue
    from smmsheet.workbook.xlsx.zipsafe import _CHUNK

    path = tmp_path / "o.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["Order ID"])
    book.save(path)
    p = b"p" * 100
    main = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    head = b'<?xml version="1.0"?><' + p + b":worksheet xmlns:" + p + b'="' + main + b'"><'
    head += p + b":sheetData><" + p + b':row r="1"><' + p + b':c r="A1" t="inlineStr"><'
    head += p + b":is><" + p + b":t>Order ID</" + p + b":t></" + p + b":is></" + p + b":c>"
    cell = b"<" + p + b':c r="A2"><' + p + b":f>Ids!A2"
    hint = b"</" + p + b":f></" + p + b":c>"
    tail = b"</" + p + b":row></" + p + b":sheetData></" + p + b":worksheet>"
    filler = b"<" + p + b':c r="B1" t="inlineStr"><' + p + b":is><" + p + b":t>"
    close = b"</" + p + b":t></" + p + b":is></" + p + b":c></" + p + b":row><" + p
    close += b':row r="2">'
    pad = _CHUNK - len(head + filler + close + cell) - len(hint) // 2  # the hint cut in two
    xml = head + filler + b"x" * pad + close + cell + hint + tail
    assert xml.index(hint) < _CHUNK < xml.index(hint) + len(hint)
    wb.replace_member(path, wb.ORDERS_PART, xml)
    rows = XlsxWorkbook(path).read_values(book.active.title)
    assert len(rows) == 2, "A2 read as empty"
    assert rows[1][0] == "=Ids!A2" and isinstance(rows[1][0], UnknownValue)


@pytest.mark.parametrize(
    ("plain", "written"),
    [
        (b"<f>Ids!A2</f><v></v></c>", b"\n    <f>Ids!A2</f>\n  </c>"),  # an indented sheet
        (b"<f>Ids!A2</f><v></v></c>", b"<f>Ids!A2</f><v> </v></c>"),  # a value of spaces
    ],
)
def test_an_uncalculated_formula_with_white_space_reads_as_unknown(tmp_path, plain, written):
    """No hint was in either: the Order ID read as empty (or as a space, which is empty)
    and the row would have been bought again."""
    from smmsheet.workbook.base import UnknownValue

    path = tmp_path / "o.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Order ID", "=Ids!A2"])
    book.save(path)
    xml = wb.read_member(path, wb.ORDERS_PART)
    assert plain in xml
    xml = xml.replace(plain, written).replace(b"<sheetData>", b"<sheetData>\n  ")
    wb.replace_member(path, wb.ORDERS_PART, xml)
    [row] = XlsxWorkbook(path).read_values(sheet.title)
    assert row == ["Order ID", "=Ids!A2"] and isinstance(row[1], UnknownValue)


def test_unknown_cells_are_found_around_their_hints_as_a_whole_parse_finds_them() -> None:
    """Only the cells around a hint are read (one #N/A must not parse 100,000 rows): the
    same cells as a parse of the whole sheet, a prefixed sheet or a cell without r parsed."""
    from smmsheet.workbook.xlsx.unknown import unknown_cells

    cells = (
        '<c r="D2" t="e"/><c r="E2"><f t="shared" si="0"/></c>'
        '<c r="F2" t="str"><f>IF(1,"")</f><v></v></c><c r="G2"><f>A1&amp;B1</f><v/></c>'
        '<c r="H2" t="str"><f>X</f></c><c r="I2"><f>1+1</f><v>2</v></c>'
        '<c r="J2" t="e"><f>Ids!A1</f><v>#REF!</v></c><c r="K2" t="s"><v>0</v></c>'
    )
    expected = [(2, 4, "#VALUE!"), (2, 5, "="), (2, 7, "=A1&B1"), (2, 8, "=X"), (2, 10, "#REF!")]
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    plain = f'<worksheet xmlns="{main}"><sheetData><row r="2">{cells}</row></sheetData></worksheet>'
    prefixed = plain.replace("<", "<x:").replace("<x:/", "</x:").replace('xmlns="', 'xmlns:x="')
    unnamed = plain.replace(' r="D2"', "")
    assert unknown_cells(plain.encode()) == expected
    assert unknown_cells(prefixed.encode()) == expected
    # a first cell without r is in column A; the cells after it name their own
    assert unknown_cells(unnamed.encode()) == [(2, 1, "#VALUE!"), *expected[1:]]
    assert unknown_cells(b"<sheetData><row r='1'><c r='A1' t='e'><v>#N/A</v></c></row>") == [
        (1, 1, "#N/A")
    ]


# -- hidden rows ----------------------------------------------------------------------------

HIDING_XML = (
    b'<x:worksheet xmlns:x="m"><x:cols><x:col min="2" max="2" hidden="1"/></x:cols><x:sheetData>'
    b'<x:row r="2" spans="1:5"><x:c r="A2"><x:v>1</x:v></x:c></x:row>'
    b'<x:row r="3" spans="1:5" hidden="1" x14ac:dyDescent="0.25"><x:c r="A3"/></x:row>'
    b"<x:row hidden='true' r='4'/>"
    b'<x:row r="5" hidden="0"/><x:row r="6" customHeight="1" ht="0.0" hidden="false"/>'
    b'<x:row r="9" ht="15.75" customHeight="1"/><x:row r="10" ht="0.5"/>'
    b'<x:row r="7" outlineLevel="1" hidden="1" collapsed="1"/>'
    b'<x:row r="8"><x:c r="A8" t="inlineStr"><x:is><x:t>hidden="1"</x:t></x:is></x:c></x:row>'
    b"</x:sheetData></x:worksheet>"
)


def _hidden_in_chunks(xml: bytes, size: int) -> set[int]:
    """The hidden rows read from ``xml`` given in chunks of ``size`` bytes."""
    from smmsheet.workbook.xlsx.hidden import hidden_rows

    return hidden_rows(xml[i : i + size] for i in range(0, len(xml), size))


@pytest.mark.parametrize("size", [1, 3, 5, 17, 1 << 20])
@pytest.mark.parametrize(
    "case",
    ["every writer's form", "no prefix", "rows without r", "a greater-than in a value"],
)
def test_hidden_rows_are_read_from_the_sheet_however_its_chunks_are_cut(
    case: str, size: int
) -> None:
    """Rows hidden by Excel (``hidden="1"``), LibreOffice (``"true"``), odd spellings, a
    folded outline or a height of 0; not a hidden column, not ``hidden="0"`` at a height,
    not a cell whose text reads hidden="1". A hidden row without ``r`` is the one after the
    row before it (it was not told at all, and a run placed it). A ">" in an attribute
    value ends no tag (the hidden attribute after it was not seen, and a hostile file's
    hidden row was bought)."""
    xml, hidden = {
        "every writer's form": (HIDING_XML, {3, 4, 6, 7}),
        "no prefix": (HIDING_XML.replace(b"<x:", b"<").replace(b"</x:", b"</"), {3, 4, 6, 7}),
        "rows without r": (HIDDEN_WITHOUT_R, {3, 6, 9}),
        "a greater-than in a value": (HIDDEN_AFTER_A_GREATER_THAN, {3, 5}),
    }[case]
    assert _hidden_in_chunks(xml, size) == hidden


def test_a_sheet_that_hides_its_rows_by_default_places_nothing(
    panel_env: object, tmp_path: Path
) -> None:
    """``<sheetFormatPr zeroHeight="1">``: every row not told otherwise is out of sight, and
    the rows alone cannot say which show. Read as all shown, its rows were bought; now the
    place stops before anything is sent, saying how to show them."""
    import re

    from click.testing import CliRunner

    from smmsheet.cli import cli

    from .conftest import make_orders_book

    path = make_orders_book(tmp_path / "zero.xlsx", [(1, "https://a", 100), (3, "https://b", 50)])
    xml = wb.read_member(path, ORDERS)
    assert b"zeroHeight" not in xml and b"<sheetFormatPr " in xml
    xml = re.sub(rb"<sheetFormatPr ", b'<sheetFormatPr zeroHeight="1" ', xml, count=1)
    wb.replace_member(path, ORDERS, xml)
    book = XlsxWorkbook(path)
    with pytest.raises(WorkbookError, match="hides its rows unless told otherwise"):
        book.hidden_rows("Orders", [2, 3])
    result = CliRunner().invoke(cli, ["place", str(path), "--yes"])
    assert result.exit_code != 0 and panel_env.counts["add"] == 0
    assert "Hide & Unhide > Unhide Rows" in result.output


def _hiding_book(path: Path, orders: int, hidden: set[int], *, header: bool = True) -> Path:
    """An Orders sheet written by openpyxl: a header, ``orders`` rows, ``hidden`` hidden."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Orders"
    if header:
        sheet.append(["Service", "Link", "Quantity"])
    first = 0 if header else 1
    for n in range(first, first + orders):
        sheet.append([1, f"https://instagram.com/p/{n}", 100])
    for row in hidden:
        sheet.row_dimensions[row].hidden = True
    workbook.save(path)
    return path


@pytest.mark.skipif(wb.SOFFICE is None, reason="LibreOffice (soffice) is not installed")
def test_rows_libreoffice_saves_hidden_are_hidden(tmp_path: Path) -> None:
    """A workbook filtered and saved in LibreOffice: its hidden rows are the ones told."""
    path = _hiding_book(tmp_path / "filtered.xlsx", 6, {3, 6})
    saved = wb.libreoffice_resave(path, tmp_path / "lo")
    assert XlsxWorkbook(saved).hidden_rows("Orders", range(2, 8)) == {3, 6}


#: Rows without ``r`` (allowed: a row then follows the one before), mixed with rows that have
#: one, under a prefix: the hidden ones are 3, 6 and 9.
HIDDEN_WITHOUT_R = (
    b'<x:worksheet xmlns:x="m"><x:sheetData>'
    b'<x:row r="2"><x:c r="A2"><x:v>1</x:v></x:c></x:row>'
    b'<x:row hidden="1"><x:c><x:v>1</x:v></x:c></x:row>'
    b"<x:row><x:c><x:v>1</x:v></x:c></x:row>"
    b'<x:row r="5"/><x:row hidden="true" spans="1:3"/>'
    b'<x:row r="8"/><x:row hidden="1"/><x:row/>'
    b"</x:sheetData></x:worksheet>"
)


def test_a_file_whose_rows_have_no_r_has_its_hidden_row_told(tmp_path: Path) -> None:
    """A workbook whose writer leaves out the rows' ``r``: openpyxl and calamine read row 3
    as hidden and as the third row; hidden_rows said no row was hidden."""
    import re

    path = _hiding_book(tmp_path / "no-r.xlsx", 5, {3})
    xml = wb.read_member(path, wb.ORDERS_PART)
    xml = re.sub(rb' r="[A-Z]*[0-9]+"', b"", xml)
    wb.replace_member(path, wb.ORDERS_PART, xml)
    assert openpyxl.load_workbook(path)["Orders"].row_dimensions[3].hidden
    book = XlsxWorkbook(path)
    assert book.read_values("Orders")[2][1] == "https://instagram.com/p/1"
    assert book.hidden_rows("Orders", range(2, 7)) == {3}


def test_a_row_hidden_in_an_odd_spelling_is_hidden(tmp_path: Path) -> None:
    """``hidden=" 1 "`` (XML Schema booleans allow the spaces) and ``hidden="on"``: Excel's
    schema, LibreOffice and openpyxl hide those rows; hidden_rows took only "1" and "true"
    and the rows were bought. Only a value that says false leaves a row shown."""
    path = _hiding_book(tmp_path / "odd.xlsx", 8, set(), header=False)
    spellings = {2: " 1 ", 3: "on", 4: "TRUE", 5: " false ", 6: "0", 7: "False"}
    xml = wb.read_member(path, wb.ORDERS_PART)
    for row, value in spellings.items():
        xml = xml.replace(f'<row r="{row}">'.encode(), f"<row r='{row}' hidden='{value}'>".encode())
    wb.replace_member(path, wb.ORDERS_PART, xml)
    dimensions = openpyxl.load_workbook(path)["Orders"].row_dimensions
    assert all(dimensions[row].hidden for row in (2, 3, 4))  # openpyxl hides "False" too
    assert XlsxWorkbook(path).hidden_rows("Orders", range(1, 9)) == {2, 3, 4}


#: Row start tags whose attribute values hold a ">" (XML allows it): rows 3 and 5 hidden.
HIDDEN_AFTER_A_GREATER_THAN = (
    b'<worksheet xmlns="m" xmlns:n="u"><sheetData>'
    b'<row r="2" n:note="a>b"><c r="A2"><v>1</v></c></row>'
    b'<row r="3" n:note="x > y" hidden="1"><c r="A3"><v>1</v></c></row>'
    b"<row r='4' n:note='>'/>"
    b"<row n:note='>>' hidden='true'/>"
    b"</sheetData></worksheet>"
)


def test_a_file_with_a_greater_than_before_hidden_is_read_as_openpyxl_reads_it(
    tmp_path: Path,
) -> None:
    """The same in a real workbook: openpyxl hides row 3, and so does hidden_rows."""
    path = _hiding_book(tmp_path / "gt.xlsx", 4, set(), header=False)
    xml = wb.read_member(path, wb.ORDERS_PART)
    xml = xml.replace(b'<row r="3">', b'<row r="3" spans="1:3" x14ac:x="a>b" hidden="1">')
    xml = xml.replace(b"<worksheet ", b'<worksheet xmlns:x14ac="urn:x14ac" ', 1)
    wb.replace_member(path, wb.ORDERS_PART, xml)
    assert openpyxl.load_workbook(path)["Orders"].row_dimensions[3].hidden
    book = XlsxWorkbook(path)
    assert book.read_values("Orders")[2][1] == "https://instagram.com/p/3"
    assert book.hidden_rows("Orders", range(1, 5)) == {3}
