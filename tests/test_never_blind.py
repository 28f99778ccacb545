"""Nothing is bought whose outcome cannot be written, and a link is ordered by its address.

Issue 8 items 6 and 7, end to end: real .xlsx files, the simulator over loopback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from smmsheet.cli import cli
from smmsheet.panel import PanelClient
from smmsheet.simulator import PanelSimulator

from .conftest import ORDER_HEADER, make_orders_book, openpyxl_orders, read_orders
from .scripted import ScriptedPanel, json_reply
from .test_batch import run


def _place(book: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["place", str(book), "--yes"], catch_exceptions=False)
    return result.exit_code, result.output


def test_a_header_row_reaching_column_xfd_buys_nothing(tmp_path, panel_env: PanelSimulator):
    book, sheet = openpyxl_orders(
        ["Service", "Link", "Quantity"], [1, "https://instagram.com/p/xfd", 100]
    )
    sheet.cell(row=1, column=16384, value="my notes")  # the last column Excel has
    path = tmp_path / "wide.xlsx"
    book.save(path)
    before = path.read_bytes()
    code, output = _place(path)
    assert code == 2 and "Traceback" not in output and output.count("\n") == 1, output
    assert panel_env.counts["add"] == 0 and path.read_bytes() == before


def test_an_array_formula_over_the_order_id_cells_buys_nothing(tmp_path, panel_env):
    from openpyxl.worksheet.formula import ArrayFormula

    book, sheet = openpyxl_orders(
        ["Service", "Link", "Quantity", "Order ID"],
        [1, "https://instagram.com/p/arr1", 100],
        [1, "https://instagram.com/p/arr2", 100],
    )
    sheet["D2"] = ArrayFormula("D2:D3", "=A2:A3*0")
    path = tmp_path / "array.xlsx"
    book.save(path)
    code, output = _place(path)
    assert code == 2 and "D2" in output and "Traceback" not in output, output
    assert panel_env.counts["add"] == 0


def test_an_absurd_number_in_a_status_reply_is_that_rows_error(tmp_path):
    huge = "1" + "0" * 400

    def script(form):
        if form["action"] == "balance":
            return json_reply('{"balance": "100", "currency": "USD"}')
        ids = form["orders"].split(",")
        replies = {i: {"status": "Pending", "charge": "0.5", "remains": "5"} for i in ids}
        replies["1001"] = {"status": "Pending", "charge": huge, "start_count": "7" * 5000}
        replies["1002"]["charge"] = "1e400"  # short to read, still no cell can hold it
        replies["1003"]["start_count"] = "Unknown"  # not a number: simply no start count
        return json_reply(json.dumps(replies))

    header = (*ORDER_HEADER, "Order ID")
    ids = (1001, 1002, 1003)
    rows = [(1, f"https://a/{oid}", 100, None, None, None, None, None, oid) for oid in ids]
    book = make_orders_book(tmp_path / "o.xlsx", rows, header=header)
    with ScriptedPanel(script) as panel, PanelClient(panel.url, "k") as client:
        report = run(book, client, "status")
    first, second, third = read_orders(book)
    assert "the panel sent a charge" in first["Error"] and first["Charge"] is None
    assert "the panel sent a charge" in second["Error"] and second["Charge"] is None
    assert third["Status"] == "Pending" and third["Charge"] == pytest.approx(0.5)
    assert third["Error"] is None and third["Start Count"] is None
    assert report.failed and report.saved


# --------------------------------------------------------------------------- hyperlinks


def _linked_book(tmp_path: Path, write_link) -> Path:
    """An order workbook whose Link cell B2 is written by ``write_link(sheet)`` (xlsxwriter,
    which stores a formula's cached value the way Excel does)."""
    import xlsxwriter

    path = tmp_path / "links.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    book.add_worksheet("Notes")
    sheet.write_row(0, 0, ["Service", "Link", "Quantity"])
    sheet.write_row(1, 0, [1, None, 100])
    write_link(sheet)
    book.close()
    return path


def _inserted_link(sheet) -> None:
    sheet.write_url("B2", "https://instagram.com/p/real-target", string="Client post")


def _hyperlink_formula(sheet) -> None:
    sheet.write_formula(
        "B2", '=HYPERLINK("https://instagram.com/p/real-target","Post 2")', None, "Post 2"
    )


@pytest.mark.parametrize("setup", [_inserted_link, _hyperlink_formula], ids=["insert", "formula"])
def test_a_hyperlinked_link_cell_is_ordered_with_its_address(tmp_path, panel_env, setup):
    path = _linked_book(tmp_path, setup)
    code, output = _place(path)
    assert code == 0, output
    [order] = panel_env.orders.values()
    assert order.link == "https://instagram.com/p/real-target"


def test_an_openpyxl_hyperlink_is_ordered_with_its_address(tmp_path, panel_env):
    book, sheet = openpyxl_orders(["Service", "Link", "Quantity"], [1, "Client post", 100])
    sheet["B2"].hyperlink = "https://instagram.com/p/openpyxl-target"
    path = tmp_path / "links.xlsx"
    book.save(path)
    code, output = _place(path)
    assert code == 0, output
    [order] = panel_env.orders.values()
    assert order.link == "https://instagram.com/p/openpyxl-target"


def test_an_uncalculated_hyperlink_formula_is_ordered_with_its_address(tmp_path, panel_env):
    # A script (openpyxl) writes =HYPERLINK(...) with no saved value: "Link required" before.
    link = '=HYPERLINK("https://instagram.com/p/scripted","Post")'
    book, _ = openpyxl_orders(["Service", "Link", "Quantity"], [1, link, 100])
    path = tmp_path / "scripted.xlsx"
    book.save(path)
    code, output = _place(path)
    assert code == 0, output
    [order] = panel_env.orders.values()
    assert order.link == "https://instagram.com/p/scripted"


def test_a_link_formula_saved_without_its_value_is_not_ordered_as_0(tmp_path, panel_env):
    # xlsxwriter (and pandas through it) saves every formula's value as 0: the order went
    # to the panel with the link "0" while Excel shows the address the formula builds.
    import xlsxwriter

    path = tmp_path / "scripted.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    sheet.write_row(0, 0, ["Service", "Link", "Quantity", "Post"])
    sheet.write_row(1, 0, [1, None, 100, "abc"])
    sheet.write_formula(1, 1, '="https://instagram.com/p/"&D2')
    book.close()
    code, _ = _place(path)
    [row] = read_orders(path)
    assert code == 1 and panel_env.counts["add"] == 0 and row["Order ID"] is None
    assert row["Error"].startswith("Link holds the number 0, not an address")


def _internal_link(sheet) -> None:
    sheet.write_url("B2", "internal:Notes!A1", string="See notes")


def _computed_formula(sheet) -> None:
    sheet.write_formula("B2", '=HYPERLINK("https://instagram.com/p/"&A2,"Post")', None, "Post")


@pytest.mark.parametrize("setup", [_internal_link, _computed_formula], ids=["internal", "computed"])
def test_a_hyperlink_whose_address_cannot_be_known_is_refused_in_its_row(
    tmp_path, panel_env, setup
):
    path = _linked_book(tmp_path, setup)
    code, _ = _place(path)
    [row] = read_orders(path)
    assert "hyperlink" in row["Error"] and row["Order ID"] is None
    assert code == 1 and panel_env.counts["add"] == 0
