"""Output columns smmsheet adds: they join the Excel Table beside them, with widths and formats.

Issue 11 item 6: columns added next to a Table landed outside it, unstyled, at the default
width ("Start Coun", "2026-11-2" in renders). Both adapters: the .xlsx file one (through the
engine and the simulator) and the live one (through the fake Excel).
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path

import pytest

from smmsheet.orders import OUTPUT_COLUMNS
from smmsheet.workbook.base import NewColumn, column_letters
from smmsheet.workbook.xlsx import XlsxWorkbook

from . import workbooks as wb
from .conftest import read_orders, run_engine
from .contract_workbook import RemoteHarness, remote_engine_available, remote_xlwings
from .fake_excel import FakeBook

HEADER = ["Service", "Link", "Quantity"]
ROWS = [[1, "https://instagram.com/a", 100], [3, "https://instagram.com/b", 50]]


def table_book(
    path: Path, *, extra: list[str] = (), widths: dict[str, float] | None = None
) -> Path:
    """An order sheet that is an Excel Table (A1:C3, written by xlsxwriter), with ``extra``
    header cells right of it (outside the Table)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    columns = [{"header": title} for title in HEADER]
    sheet.add_table("A1:C3", {"columns": columns, "data": ROWS, "style": "Table Style Medium 2"})
    for offset, title in enumerate(extra):
        sheet.write(0, len(HEADER) + 1 + offset, title)
    for letters, width in (widths or {}).items():
        sheet.set_column(f"{letters}:{letters}", width)
    book.close()
    return path


def table_xml(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return archive.read("xl/tables/table1.xml").decode()


def table_ref(path: Path) -> str:
    found = re.search(r'<table [^>]*\bref="([A-Z0-9:]+)"', table_xml(path))
    assert found is not None
    return found.group(1)


def test_output_columns_join_the_table_they_are_added_to(tmp_path, client):
    path = table_book(tmp_path / "orders.xlsx")
    report = run_engine(path, client, "place")
    assert report.saved and not report.failed
    xml = table_xml(path)
    last = column_letters(len(HEADER) + len(OUTPUT_COLUMNS))
    assert table_ref(path) == f"A1:{last}3"
    assert f'<autoFilter ref="A1:{last}3"/>' in xml
    names = re.findall(r'<tableColumn id="(\d+)" name="([^"]+)"', xml)
    assert [name for _, name in names] == HEADER + list(OUTPUT_COLUMNS.values())
    assert [int(i) for i, _ in names] == list(range(1, len(names) + 1))
    assert f'count="{len(names)}"' in xml


def test_output_columns_have_widths_and_formats_that_sort_and_filter(tmp_path, client):
    from openpyxl import load_workbook

    path = table_book(tmp_path / "orders.xlsx")
    run_engine(path, client, "place")
    sheet = load_workbook(path)["Orders"]
    header = [c.value for c in sheet[1]]
    charge, updated, start = (header.index(t) + 1 for t in ("Charge", "Updated", "Start Count"))
    order_id, error = header.index("Order ID") + 1, header.index("Error") + 1
    assert sheet.cell(2, charge).number_format == '#,##0.00### "USD"'
    assert isinstance(sheet.cell(2, updated).value, dt.datetime)  # a date-time, not text
    assert sheet.cell(2, updated).number_format == "yyyy-mm-dd hh:mm"
    assert sheet.cell(2, start).number_format == "#,##0"
    assert sheet.cell(2, order_id).number_format == "0"
    widths = {c: sheet.column_dimensions[column_letters(c)].width for c in (start, updated, error)}
    assert widths[start] >= len("Start Count") + 2 and widths[updated] >= 16
    assert widths[error] >= 30


def test_rows_placed_by_a_later_run_take_the_columns_formats(tmp_path, client, patcher):
    """The formats live on the columns: a row added after the columns were made gets them
    (as a cell typed into a formatted column does in Excel)."""
    from openpyxl import load_workbook

    path = table_book(tmp_path / "orders.xlsx")
    run_engine(path, client, "place")
    book = load_workbook(path)
    book["Orders"].append([3, "https://instagram.com/p/c", 60])
    book.save(path)
    run_engine(path, client, "place")
    sheet = load_workbook(path)["Orders"]
    header = [c.value for c in sheet[1]]
    charge = header.index("Charge") + 1
    assert sheet.cell(4, charge).value is not None
    assert sheet.cell(4, charge).number_format == sheet.cell(2, charge).number_format


def test_columns_beyond_a_gap_leave_the_table_alone(tmp_path, client):
    path = table_book(tmp_path / "orders.xlsx", extra=["Notes"])
    run_engine(path, client, "place")
    assert table_ref(path) == "A1:C3"


def test_the_users_own_column_width_is_kept(tmp_path, client):
    from openpyxl import load_workbook

    path = table_book(tmp_path / "orders.xlsx", widths={"D": 31})
    run_engine(path, client, "place")
    sheet = load_workbook(path)["Orders"]
    assert sheet["D1"].value == "Order ID"
    assert sheet.column_dimensions["D"].width == pytest.approx(31, abs=1)


def test_a_table_that_already_has_a_column_of_that_name_is_not_changed(tmp_path):
    """Excel refuses a Table with two columns of one name: rather leave it as it was."""
    from smmsheet.workbook.xlsx import XlsxWorkbook

    path = table_book(tmp_path / "orders.xlsx")
    book = XlsxWorkbook(path)
    book.add_columns("Orders", 1, {4: NewColumn("link", 10, None)})
    book.save()
    assert table_ref(path) == "A1:C3"


@pytest.mark.skipif(wb.OOXML_VALIDATOR is None, reason="the Open XML validator is not installed")
def test_the_grown_table_is_valid_open_xml(tmp_path, client):
    path = table_book(tmp_path / "orders.xlsx")
    run_engine(path, client, "run")
    assert wb.schema_errors(path) == set()


@pytest.mark.skipif(wb.SOFFICE is None, reason="LibreOffice is not installed")
def test_libreoffice_opens_the_grown_table_with_its_new_columns(tmp_path, client):
    path = table_book(tmp_path / "orders.xlsx")
    run_engine(path, client, "place")
    resaved = wb.libreoffice_resave(path, tmp_path / "lo")
    with zipfile.ZipFile(resaved) as archive:
        tables = [n for n in archive.namelist() if n.startswith("xl/tables/")]
        assert tables, "LibreOffice dropped the Table"
        xml = archive.read(tables[0]).decode()
    assert 'name="Updated"' in xml and 'name="Order ID"' in xml
    last = column_letters(len(HEADER) + len(OUTPUT_COLUMNS))
    assert re.search(rf'ref="A1:{last}3"', xml)


# --------------------------------------------------------------------------- live Excel


def test_live_excel_grows_the_table_and_formats_the_new_columns():
    from smmsheet.workbook.live import XlwingsWorkbook

    fake = FakeBook({"Orders": [HEADER, *ROWS]})
    sheet = fake.sheets["Orders"]
    table = sheet.add_table(1, 1, 3, 3)
    book = XlwingsWorkbook(fake)
    book.add_columns(
        "Orders",
        1,
        {4: NewColumn("Order ID", 12, "0"), 5: NewColumn("Updated", 17, "yyyy-mm-dd hh:mm")},
    )
    book.write_cells("Orders", {(2, 4): 1001, (2, 5): dt.datetime(2026, 11, 25, 21, 0)})
    book.save()
    assert table.block == (1, 1, 3, 5)
    assert table.columns == [*HEADER, "Order ID", "Updated"]
    assert sheet.widths == {4: 12, 5: 17}
    assert sheet.formats == {4: "0", 5: "yyyy-mm-dd hh:mm"}


def test_live_excel_leaves_a_table_that_ends_elsewhere_alone():
    from smmsheet.workbook.live import XlwingsWorkbook

    fake = FakeBook({"Orders": [[*HEADER, None, "Notes"], *ROWS]})
    table = fake.sheets["Orders"].add_table(1, 1, 3, 3)
    book = XlwingsWorkbook(fake)
    book.add_columns("Orders", 1, {6: NewColumn("Order ID", 12, "0")})
    book.save()
    assert table.block == (1, 1, 3, 3)


@remote_xlwings
def test_the_remote_engine_is_sent_the_new_columns_widths_and_formats():
    """xlwings Server / Office.js: widths and formats go as actions; it has no tables here."""
    if not remote_engine_available():
        pytest.skip("set XLWINGS_LICENSE_KEY=noncommercial to run xlwings' remote engine")
    harness = RemoteHarness()
    book = harness.open({"Orders": [HEADER, *ROWS]})
    book.add_columns("Orders", 1, {4: NewColumn("Charge", 12, "#,##0.00###")})
    book.write_cells("Orders", {(2, 4): 0.09})
    book.save()
    assert harness.reopen(book).read_values("Orders")[0][3] == "Charge"
    sent = {action["func"]: action for action in harness.actions}
    assert sent["setColumnWidth"]["args"] == [12]
    assert sent["setNumberFormat"]["args"] == ["#,##0.00###"]


@pytest.mark.parametrize("content", [b"<table", b'<table xmlns="x" ref="not a range"/>'])
def test_a_table_part_that_cannot_be_read_is_left_as_it_is(tmp_path, client, content):
    """A hostile or broken table part costs the Table its new columns, not the run."""
    path = table_book(tmp_path / "orders.xlsx")
    wb.replace_member(path, "xl/tables/table1.xml", content)
    report = run_engine(path, client, "place")
    assert report.saved and not report.failed
    assert wb.read_member(path, "xl/tables/table1.xml") == content
    assert sorted(row["Order ID"] for row in read_orders(path)) == [1001, 1002]


def test_new_headers_look_like_the_header_beside_them(tmp_path, client, patcher):
    """Not a Table: the new headers take the format of the last header (bold on a fill)."""
    from openpyxl import load_workbook
    from openpyxl.styles import Font, PatternFill

    from .conftest import openpyxl_orders

    book, sheet = openpyxl_orders(HEADER, *ROWS)
    for cell in sheet[1]:
        cell.font, cell.fill = Font(bold=True), PatternFill("solid", fgColor="FFD966")
    path = tmp_path / "orders.xlsx"
    book.save(path)
    run_engine(path, client, "place")
    sheet = load_workbook(path)["Orders"]
    assert [c.value for c in sheet[1]][3:] == list(OUTPUT_COLUMNS.values())
    for cell in sheet[1][3:]:
        assert cell.font.b and cell.fill.fgColor.rgb == "00FFD966", cell.value
    assert sheet.cell(2, 4).font.b is False  # the values below are not headers


def totals_book(path: Path) -> Path:
    """An order Table (A1:C4) whose totals row counts Service and Link and sums Quantity:
    its cached values (3, 2, 300) look like an order for service 3."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    columns = [
        {"header": "Service", "total_function": "count", "total_value": 3},
        {"header": "Link", "total_function": "count", "total_value": 2},
        {"header": "Quantity", "total_function": "sum", "total_value": 150},
    ]
    sheet.add_table("A1:C4", {"columns": columns, "data": ROWS, "total_row": True})
    book.close()
    return path


def test_a_tables_totals_row_is_never_placed_as_an_order(tmp_path, sim, client):
    """Found in review: the totals row (=SUBTOTAL cells) read as a row like any other, and
    its cached counts made an order for service 3, link '2', quantity 150."""
    path = totals_book(tmp_path / "totals.xlsx")
    report = run_engine(path, client, "place")
    assert sorted(o.link for o in sim.orders.values()) == [r[1] for r in ROWS]
    rows = read_orders(path)
    assert rows[2]["Quantity"] == "=SUBTOTAL(109,[Quantity])"  # the totals row, as it was
    assert all(rows[2][OUTPUT_COLUMNS[key]] is None for key in OUTPUT_COLUMNS)
    last = column_letters(len(HEADER) + len(OUTPUT_COLUMNS))  # every output column joins
    assert not report.failed and table_ref(path) == f"A1:{last}4"
    assert not [m for m in report.messages if "totals row" in m]  # sums, not an order


@pytest.mark.parametrize("as_link", [False, True], ids=["typed", "Insert > Link"])
def test_an_order_typed_into_a_tables_totals_row_is_not_placed_and_the_user_is_told(
    tmp_path, sim, client, as_link
):
    """The Table's last row is its totals row: a user who typed the next order into it
    (over the SUBTOTAL cells) saw nothing happen. It is still never an order (a totals row
    is the Table's sums), and the summary names the row and how to add the order."""
    import xlsxwriter

    path = tmp_path / "typed.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    columns = [
        {"header": "Service", "total_string": "Total"},
        {"header": "Link", "total_function": "count"},
        {"header": "Quantity", "total_function": "sum"},
    ]
    sheet.add_table("A1:C4", {"columns": columns, "data": ROWS, "total_row": True})
    typed = "https://instagram.com/p/typed-into-the-totals"
    sheet.write_row(3, 0, [1, typed, 100])  # over the totals row's cells
    if as_link:
        sheet.write_url(3, 1, typed, string="Client post")
    book.close()
    assert XlsxWorkbook(path).read_values("Orders")[3] == [None, None, None]
    report = run_engine(path, client, "place")
    assert sorted(o.link for o in sim.orders.values()) == [r[1] for r in ROWS]
    told = [m for m in report.messages if "totals row" in m]
    assert len(told) == 1 and "Row 4 " in told[0] and typed in told[0], report.messages
    assert "Insert > Table Rows Above" in told[0]


def test_a_label_in_a_tables_totals_row_is_not_taken_for_an_order(tmp_path, sim, client):
    import xlsxwriter

    path = tmp_path / "label.xlsx"
    book = xlsxwriter.Workbook(str(path))
    columns = [
        {"header": "Service", "total_string": "Total"},
        {"header": "Link", "total_string": "No. of links: see Avg. per link"},
        {"header": "Quantity", "total_function": "sum"},
    ]
    book.add_worksheet("Orders").add_table(
        "A1:C4", {"columns": columns, "data": ROWS, "total_row": True}
    )
    book.close()
    report = run_engine(path, client, "place")
    assert len(sim.orders) == len(ROWS)
    assert not [m for m in report.messages if "totals row" in m], report.messages


def test_live_excel_tells_what_a_tables_totals_row_held():
    from smmsheet.workbook.live import XlwingsWorkbook

    fake = FakeBook({"Orders": [HEADER, *ROWS, ["Total", "https://x/typed", 150]]})
    fake.sheets["Orders"].add_table(1, 1, 4, 3).show_totals = True
    book = XlwingsWorkbook(fake)
    assert book.totals_rows("orders") == {}  # nothing read yet
    assert book.read_values("Orders")[3] == [None, None, None]
    assert book.totals_rows("orders") == {4: {1: "Total", 2: "https://x/typed", 3: 150}}


def test_live_excel_never_reads_a_tables_totals_row_as_an_order():
    from smmsheet.workbook.live import XlwingsWorkbook

    fake = FakeBook({"Orders": [HEADER, *ROWS, [3, 2, 150]]})
    fake.sheets["Orders"].add_table(1, 1, 4, 3).show_totals = True
    values = XlwingsWorkbook(fake).read_values("Orders")
    assert values[:3] == [HEADER, *ROWS] and values[3] == [None, None, None]


@pytest.mark.skipif(wb.OOXML_VALIDATOR is None, reason="the Open XML validator is not installed")
def test_new_table_column_ids_stay_within_what_excel_reads(tmp_path, client):
    """Found in review: a Table whose column id is UInt32's largest (valid, as a tool that
    numbers columns sparsely writes) got ids 4294967296... past it: a file Excel repairs."""
    path = table_book(tmp_path / "orders.xlsx")
    xml = wb.read_member(path, "xl/tables/table1.xml")
    wb.replace_member(path, "xl/tables/table1.xml", xml.replace(b'id="3"', b'id="4294967295"'))
    assert wb.schema_errors(path) == set()
    run_engine(path, client, "place")
    assert wb.schema_errors(path) == set()
    assert table_ref(path) == f"A1:{column_letters(len(HEADER) + len(OUTPUT_COLUMNS))}3"


@pytest.mark.parametrize("currency", ["USD", "USDT", "RUB", "JPY", ""])
def test_a_charge_column_is_wide_enough_for_its_amounts_and_currency(currency):
    """Found in review (LibreOffice render): a charge of 122.99999 USD showed as ### in the
    Charge column smmsheet added: 12 characters wide, for a number and a currency code."""
    from smmsheet.orders import column_look

    look = column_look("charge", currency)
    widest = f"{9_999.99999:,.5f}" + (f" {currency}" if currency else "")  # 9,999.99999 USD
    assert look.width is not None and look.width >= len(widest) + 1


def test_a_note_below_the_order_rows_does_not_keep_the_table_from_growing(tmp_path, client):
    """Output columns step over a column only where they would overwrite something: a cell
    in a row that is no order (a note under the Table) is never written, so it does not
    split the new columns (and the Table then takes them all)."""
    from openpyxl import load_workbook

    path = table_book(tmp_path / "orders.xlsx")
    book = load_workbook(path)
    book["Orders"]["F10"] = "checked by Ann"
    book.save(path)
    run_engine(path, client, "place")
    assert table_ref(path) == f"A1:{column_letters(len(HEADER) + len(OUTPUT_COLUMNS))}3"
    assert load_workbook(path)["Orders"]["F10"].value == "checked by Ann"
