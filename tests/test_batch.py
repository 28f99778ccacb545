"""The batch engine over real .xlsx files and the simulator: money safety first."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from smmsheet import batch
from smmsheet.batch import Engine, Preview, RunOptions
from smmsheet.errors import LayoutError, WorkbookBusyError, WorkbookError
from smmsheet.journal import Action, Journal, State, journal_path
from smmsheet.orders import AMBIGUOUS_MARK
from smmsheet.panel import PanelClient
from smmsheet.workbook.xlsx import XlsxWorkbook

from .conftest import ORDER_HEADER as ORDER_HEADER_FOR_TESTS
from .conftest import (
    assert_sheet_matches_panel,
    fail_saves_after_the_marker,
    make_orders_book,
    read_orders,
    run_engine,
)
from .scripted import ScriptedPanel, json_reply

run = run_engine


GOOD_ROWS = [
    (1, "https://instagram.com/a", 100),
    (3, "https://instagram.com/p/b", 50),
    (2, "https://instagram.com/p/c", None, None, None, "\n".join(f"nice {i}" for i in range(10))),
]


def test_place_writes_order_ids_and_charges_the_balance(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS)
    report = run(book, client, "place")
    rows = read_orders(book)
    assert sorted(r["Order ID"] for r in rows) == [1001, 1002, 1003]
    assert_sheet_matches_panel(book, sim)
    assert all(r["Status"] == "Pending" and r["Error"] is None for r in rows)
    assert sum(o.charge for o in sim.orders.values()) == Decimal(1000) - sim.balance
    assert report.spent == Decimal("0.09") + Decimal("0.0125") + Decimal("0.08")
    assert rows[0]["Charge"] == pytest.approx(0.09) and rows[0]["Currency"] == "USD"
    assert not report.failed and report.saved


def test_rerun_places_nothing_twice(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS)
    run(book, client, "place")
    run(book, client, "place")
    run(book, client, "run")
    assert sim.counts["add"] == 3 and len(sim.orders) == 3


def test_a_row_copied_with_its_order_id_is_named_not_silently_skipped(tmp_path, sim, client):
    # A reseller copies a placed row down to order the same again for another link, Order ID
    # and all: the copy is never placed (it has an id) and nothing said so.
    from openpyxl import load_workbook

    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS[:2])
    run(book, client, "place")
    edit = load_workbook(book)
    sheet = edit["Orders"]
    for cell in sheet[2]:
        sheet.cell(row=4, column=cell.column, value=cell.value)
    sheet["B4"] = "https://instagram.com/another"
    edit.save(book)
    report = run(book, client, "place")
    assert sim.counts["add"] == 2  # never placed twice: the copy carries an id
    [said] = [m for m in report.messages if "1001" in m]
    assert said.startswith("Order ID 1001 is in rows 2 and 4:")
    assert "clear its Order ID" in said
    assert not [m for m in run(book, client, "status").messages if "1002" in m]


def test_invalid_rows_get_their_message_and_the_rest_goes_on(tmp_path, sim, client):
    book = make_orders_book(
        tmp_path / "o.xlsx",
        [
            (999, "https://x", 100),
            (1, "https://x", 10),
            (1, None, 100),
            (2, "https://x"),
            (1, "https://ok", 100),
        ],
    )
    report = run(book, client, "place")
    rows = read_orders(book)
    assert "Unknown service 999" in rows[0]["Error"]
    assert "below the minimum 50" in rows[1]["Error"]
    assert "Link required" in rows[2]["Error"]
    assert "Comments required" in rows[3]["Error"]
    assert rows[4]["Order ID"] == 1001 and rows[4]["Error"] is None
    assert report.failed and sim.counts["add"] == 1


def test_fixed_row_is_placed_on_the_next_run_and_its_error_cleared(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://x", 10)])
    run(book, client, "place")
    xb = XlsxWorkbook(book)
    xb.write_cells("Orders", {(2, 3): 100})
    xb.save()
    run(book, client, "place")
    [row] = read_orders(book)
    assert row["Order ID"] == 1001 and row["Error"] is None


def test_batch_beyond_the_balance_is_cut_in_sheet_order(tmp_path, sim, client):
    sim.balance = Decimal("0.20")
    rows = [(1, f"https://x/{i}", 100) for i in range(4)]  # 0.09 each
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    report = run(book, client, "place")
    out = read_orders(book)
    assert [r["Order ID"] is not None for r in out] == [True, True, False, False]
    assert_sheet_matches_panel(book, sim)
    assert "insufficient balance" in out[2]["Error"]
    assert report.failed and sim.counts["add"] == 2


def test_max_spend_caps_the_run(tmp_path, sim, client):
    rows = [(1, f"https://x/{i}", 100) for i in range(3)]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    run(book, client, "place", max_spend=Decimal("0.10"))
    out = read_orders(book)
    assert out[0]["Order ID"] == 1001 and "max-spend" in out[1]["Error"]
    assert sim.counts["add"] == 1


def test_dry_run_sends_nothing_and_leaves_the_file_alone(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", [*GOOD_ROWS, (999, "x", 1)])
    before = book.read_bytes()
    report = run(book, client, "run", dry_run=True)
    assert book.read_bytes() == before
    assert sim.counts["add"] == 0
    assert report.preview == Preview(3, Decimal("0.1825"), "USD", Decimal("1000.00000"))
    assert not journal_path(book).exists() or Journal(journal_path(book)).entries() == []


def test_declined_confirmation_sends_nothing(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS)
    seen = []
    run(book, client, "place", confirm=lambda p: seen.append(p) or False)
    assert seen[0].orders == 3 and sim.counts["add"] == 0
    assert all(r.get("Order ID") is None for r in read_orders(book))


def test_crash_between_send_and_write_back_is_reconciled(tmp_path, sim, client, monkeypatch):
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS)
    fail_saves_after_the_marker(monkeypatch)
    with pytest.raises(WorkbookError):
        run(book, client, "place")
    monkeypatch.undo()
    assert all(r.get("Order ID") is None for r in read_orders(book))  # nothing reached the file
    assert len(sim.orders) == 3
    report = run(book, client, "place")
    assert sorted(r["Order ID"] for r in read_orders(book)) == [1001, 1002, 1003]
    assert_sheet_matches_panel(book, sim)
    assert sim.counts["add"] == 3
    assert any("recovered 3" in m for m in report.messages)


def test_a_save_that_fails_after_placing_names_the_orders_even_when_the_journal_is_gone(
    tmp_path, sim, client, monkeypatch
):
    # The workbook's folder was deleted during the run: the message said the outcomes were
    # "kept in the journal ... and will be written on the next run", in a folder that no
    # longer existed, and named no order: 2 paid orders the user could not find.
    from smmsheet.workbook import open_workbook

    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS[:2])
    fail_saves_after_the_marker(monkeypatch)
    with Journal(journal_path(book)) as journal:
        engine = Engine(open_workbook(str(book)), client, journal, RunOptions(), command="place")
        journal_path(book).unlink()  # gone with its folder
        with pytest.raises(WorkbookError):
            engine.execute("place")
    [said] = [m for m in engine.report.messages if "paid requests" in m]
    assert "will be written on the next run" not in said and "is gone" in said
    assert re.search(r"row 2: order 100[12]", said) and re.search(r"row 3: order 100[12]", said)
    monkeypatch.undo()


def test_interrupted_request_without_outcome_is_marked_ambiguous(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS[:1])
    from smmsheet.orders import OrderTable

    row = OrderTable.from_values(XlsxWorkbook(book).read_values("Orders")).rows[0]
    with Journal(journal_path(book)) as j:  # the process died right after this line
        j.intent(
            sheet="Orders",
            row=2,
            fingerprint=row.fingerprint(),
            action="add",
            request={"service": "1"},
        )
    run(book, client, "place")
    [out] = read_orders(book)
    assert out["Order ID"] is None and out["Error"].startswith(AMBIGUOUS_MARK)
    assert sim.counts["add"] == 0
    run(book, client, "run")  # still not retried
    assert sim.counts["add"] == 0


def test_drop_after_accept_is_ambiguous_never_retried_until_cleared(tmp_path, sim, client):
    sim.faults.drop_after_accept = 1.0
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS[:1])
    report = run(book, client, "place")
    [out] = read_orders(book)
    assert out["Error"].startswith(AMBIGUOUS_MARK) and report.failed
    assert len(sim.orders) == 1 and sim.counts["add"] == 1
    sim.faults.drop_after_accept = 0.0
    run(book, client, "place")
    assert sim.counts["add"] == 1
    # the user checked the panel and typed the id: the row is now an ordinary order
    xb = XlsxWorkbook(book)
    xb.write_cells("Orders", {(2, 9): 1001})
    xb.save()
    run(book, client, "status")
    [out] = read_orders(book)
    assert out["Status"] in ("Pending", "In progress") and out["Error"] is None
    assert sim.counts["add"] == 1


def test_order_id_removed_from_the_sheet_is_restored_not_bought_again(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS[:1])
    before = book.read_bytes()
    run(book, client, "place")
    book.write_bytes(before)  # e.g. an older copy of the file came back from a sync folder
    report = run(book, client, "place")
    [out] = read_orders(book)
    assert out["Order ID"] == 1001 and "restored from journal" in out["Error"]
    assert sim.counts["add"] == 1 and report.counts()[("place", "restored")] == 1


def test_rows_moved_after_a_crash_are_found_by_their_content(tmp_path, sim, client, monkeypatch):
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS[:2])
    fail_saves_after_the_marker(monkeypatch)
    with pytest.raises(WorkbookError):
        run(book, client, "place")
    monkeypatch.undo()
    # the user inserted a row at the top before the next run
    make_orders_book(book, [(1, "https://new", 100), *GOOD_ROWS[:2]])
    run(book, client, "status")
    out = read_orders(book)
    assert out[0]["Order ID"] is None and {out[1]["Order ID"], out[2]["Order ID"]} == {1001, 1002}
    assert_sheet_matches_panel(book, sim)
    assert sim.counts["add"] == 2


def test_refresh_sends_100_ids_a_request_and_skips_final_orders(tmp_path, sim, client):
    rows = [(1, f"https://x/{i}", 50) for i in range(250)]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    run(book, client, "place")
    sim.reset_counts()
    run(book, client, "status")
    assert sim.counts["status"] == 3
    sim.advance(5)
    run(book, client, "status")
    assert all(r["Status"] == "Completed" and r["Remains"] == 0 for r in read_orders(book))
    sim.reset_counts()
    run(book, client, "status")
    assert sim.counts["status"] == 0


def test_refresh_writes_only_the_cells_whose_value_changed(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS)
    run(book, client, "place")
    sim.auto_progress = False
    run(book, client, "status")  # the sheet now says what the panel says
    written: dict[tuple[int, int], object] = {}

    class Recording(XlsxWorkbook):
        def write_cells(self, sheet, cells):
            written.update(cells)
            super().write_cells(sheet, cells)

    minutes = iter(range(1000))
    options = RunOptions(now=lambda: dt.datetime(2026, 1, 1) + dt.timedelta(minutes=next(minutes)))
    with Journal(journal_path(book)) as journal:
        Engine(Recording(book), client, journal, options).execute("status")
    updated = list(read_orders(book)[0]).index("Updated") + 1
    assert sorted(written) == [(2, updated), (3, updated), (4, updated)]  # not Charge 0.09 etc.


def test_per_id_status_errors_land_in_their_row(tmp_path, sim, client):
    book = make_orders_book(
        tmp_path / "o.xlsx",
        [
            (1, "https://x", 100, None, None, None, None, None, 1001),
            (1, "y", 100, None, None, None, None, None, 424242),
        ],
        header=(
            *("Service", "Link", "Quantity", "Runs", "Interval", "Comments", "Refill", "Cancel"),
            "Order ID",
        ),
    )
    sim_order = sim  # the sheet claims 1001 but the panel never saw it
    assert not sim_order.orders
    report = run(book, client, "status")
    out = read_orders(book)
    assert out[0]["Error"].startswith("status: Incorrect order ID")
    assert out[1]["Error"].startswith("status: Incorrect order ID")
    assert report.failed


def test_an_order_the_panel_no_longer_knows_says_how_to_stop_asking(tmp_path, sim, client):
    # A workbook from last month whose order the panel purged: every cron `status` failed
    # with "Incorrect order ID" and nothing said how to make it stop.
    header = (*ORDER_HEADER_FOR_TESTS, "Order ID", "Status")
    book = make_orders_book(
        tmp_path / "o.xlsx", [(1, "https://x", 100, *[None] * 5, 424242)], header=header
    )
    run(book, client, "status")
    [out] = read_orders(book)
    assert out["Error"] == (
        "status: Incorrect order ID. Check the Order ID; for an order the panel no longer "
        "lists, type its last status (Completed, Canceled) into Status: it is not asked again"
    )
    _type_into(book, {(2, "Status"): "Completed"})  # following the message
    asked = sim.counts["status"]
    report = run(book, client, "status")
    assert sim.counts["status"] == asked and not report.failed


def test_a_status_request_the_panel_refused_as_a_whole_never_says_to_type_a_status(
    tmp_path, sim, client, monkeypatch
):
    # The panel refused the request ("Maximum 50 orders per request"), not the orders: every
    # row was told to check its id or type its last status, which stops its refreshes for good.
    from smmsheet.errors import PanelRejectedError

    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100), (1, "https://b", 100)])
    run(book, client, "place")

    def refused(ids):
        raise PanelRejectedError("status: Maximum 1 order per request", action="status")

    monkeypatch.setattr(client, "_status_chunk", refused)
    run(book, client, "status")
    for out in read_orders(book):
        assert out["Error"] == "status: Maximum 1 order per request"


def test_refill_flag_creates_refill_and_is_cleared(tmp_path, sim, client):
    rows = [
        (1, "https://a", 100, None, None, None, "x"),
        (3, "https://b", 100, None, None, None, "x"),
        (1, "https://c", 100, None, None, None, None),
    ]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    run(book, client, "place")  # refill flags on not-yet-completed orders are sent later
    sim.advance(5)
    report = run(book, client, "refill")
    out = read_orders(book)
    assert out[0]["Refill ID"] == 501 and out[0]["Refill"] is None and out[0]["Error"] is None
    assert out[1]["Refill"] is None and "does not offer refill" in out[1]["Error"]
    assert out[2]["Refill ID"] is None
    assert report.failed
    run(book, client, "refill-status")
    run(book, client, "refill-status")
    out = read_orders(book)
    assert out[0]["Refill Status"] in ("In progress", "Completed")


def test_refill_without_order_id_is_a_row_error(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100, None, None, None, "x")])
    run(book, client, "refill")
    [out] = read_orders(book)
    assert out["Error"] == "refill: no Order ID in this row" and sim.counts["refill"] == 0


def test_cancel_flag(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100), (3, "https://b", 100)])
    run(book, client, "place")
    _type_into(book, {(2, "Cancel"): "x", (3, "Cancel"): "yes"})
    balance = sim.balance
    run(book, client, "cancel")
    out = read_orders(book)
    assert out[0]["Cancel"] is None and out[0]["Status"] == "Cancel requested"
    assert "does not offer cancel" in out[1]["Error"] and out[1]["Cancel"] is None
    # the two adds ran concurrently: find row 2's order by its link, not by its id
    order = next(o for o in sim.orders.values() if o.link == "https://a")
    assert order.status == "Canceled" and sim.balance > balance
    run(book, client, "status")
    assert read_orders(book)[0]["Status"] == "Canceled"


@pytest.mark.parametrize("command", ["place", "run"])
def test_a_row_marked_cancel_before_it_was_placed_is_not_bought(tmp_path, sim, client, command):
    # Service 3 offers no cancel: placed, then "cannot cancel", the order ran and was paid.
    rows = [(3, "https://a", 100, None, None, None, None, "x"), (3, "https://b", 100)]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    report = run(book, client, command)
    marked, plain = read_orders(book)
    assert [o.link for o in sim.orders.values()] == ["https://b"] and plain["Order ID"] == 1001
    assert marked["Order ID"] is None and marked["Cancel"] == "x"
    assert marked["Error"].endswith("a row marked Cancel is not placed: clear Cancel to place it")
    assert report.failed
    _type_into(book, {(2, "Cancel"): None})
    run(book, client, "place")
    assert read_orders(book)[0]["Order ID"] == 1002


def test_a_link_edited_after_its_order_was_placed_is_said_not_silently_kept(tmp_path, sim, client):
    # The reseller fixed a typo in a placed row's Link and ran place again: "nothing to do",
    # and they believed the order now went to the new link.
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://x.com/typo", 100)])
    run(book, client, "place")
    _type_into(book, {(2, "Link"): "https://x.com/right"})
    report = run(book, client, "place")
    assert sim.counts["add"] == 1 and read_orders(book)[0]["Order ID"] == 1001
    [said] = [m for m in report.messages if "row 2" in m]
    assert said == (
        "row 2: its Link was changed after order 1001 was placed: the order still goes to "
        "https://x.com/typo. To order https://x.com/right, put it in a new row"
    )
    _type_into(book, {(2, "Link"): "https://x.com/typo"})
    assert not run(book, client, "place").messages


def test_run_does_everything_in_one_save(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS)
    report = run(book, client, "run")
    counts = report.counts()
    assert counts[("place", "placed")] == 3 and counts[("status", "updated")] == 3
    assert sim.counts["status"] == 1


def test_panel_text_that_looks_like_a_formula_is_written_as_text(tmp_path):
    evil = "=cmd|' /C calc'!A0"

    def script(form):
        if form["action"] == "services":
            return json_reply(
                '[{"service":1,"name":"x","type":"Default","rate":"1","min":"1","max":"100"}]'
            )
        if form["action"] == "balance":
            return json_reply('{"balance":"10","currency":"USD"}')
        return json_reply('{"error":"' + evil.replace("'", "\\u0027") + '"}')

    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://x", 10)])
    with ScriptedPanel(script) as panel, PanelClient(panel.url, "k") as c:
        run(book, c, "place")
    from openpyxl import load_workbook

    cell = load_workbook(book)["Orders"]["Q2"]
    assert cell.value == evil and cell.data_type == "s"


def test_workbook_open_in_excel_is_refused_before_anything_is_sent(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "orders.xlsx", GOOD_ROWS)
    (tmp_path / "~$orders.xlsx").write_bytes(b"owner")
    with pytest.raises(WorkbookBusyError, match="open in Excel"):
        run(book, client, "place")
    assert sim.counts["add"] == 0


def test_other_sheets_and_user_columns_are_untouched(tmp_path, sim, client):
    header = ("My notes", "Service", "Link", "Quantity")
    book = make_orders_book(
        tmp_path / "o.xlsx", [("vip", 1, "https://a", 100)], header, extra_sheets=True
    )
    run(book, client, "run")
    from openpyxl import load_workbook

    wb = load_workbook(book)
    assert wb["Notes"]["A1"].value == "keep me" and wb["Notes"]["B2"].value == "=1+1"
    assert wb["Orders"]["A2"].value == "vip" and wb["Orders"]["E1"].value == "Order ID"
    assert wb["Orders"]["E2"].value == 1001


def test_journal_failing_after_the_send_does_not_lose_the_order_id(
    tmp_path, sim, client, monkeypatch
):
    from smmsheet.errors import JournalError

    def broken(self, entry_id, state, result):
        raise JournalError("cannot write the journal: disk I/O error")

    monkeypatch.setattr(Journal, "outcome", broken)
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS[:2])
    report = run(book, client, "place")
    assert sorted(r["Order ID"] for r in read_orders(book)) == [1001, 1002]
    assert any("only in the sheet" in m for m in report.messages)
    monkeypatch.undo()
    run(book, client, "run")  # the unsynced "sent" entries must not disturb placed rows
    assert sim.counts["add"] == 2
    assert all(r["Error"] is None for r in read_orders(book))


def test_sheet_name_is_matched_ignoring_case_like_excel(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS[:1])
    run(book, client, "place", sheet="orders")
    run(book, client, "place", sheet="ORDERS")
    assert sim.counts["add"] == 1 and read_orders(book)[0]["Order ID"] == 1001
    with Journal(journal_path(book)) as journal:
        assert {e.sheet for e in journal.entries()} == {"Orders"}


def test_refill_whose_answer_was_lost_is_not_resent_until_flagged_again(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100, None, None, None, "x")])
    run(book, client, "place")
    sim.advance(5)
    sim.faults.error_rate = 1.0  # a 502 after the request left: the refill may exist
    report = run(book, client, "refill")
    [out] = read_orders(book)
    assert out["Refill"] is None and "refill: may have been sent" in out["Error"]
    assert report.counts()[("refill", "ambiguous")] == 1 and report.failed
    sim.faults.error_rate = 0.0
    sim.reset_counts()
    run(book, client, "run")
    assert sim.counts["refill"] == 0


def test_refused_refill_keeps_its_flag_for_the_next_run(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100, None, None, None, "x")])
    run(book, client, "place")
    run(book, client, "refill")  # not completed yet: the panel refuses
    [out] = read_orders(book)
    assert out["Refill"] == "x" and out["Error"] == "refill: Order is not completed"
    sim.advance(5)
    run(book, client, "refill")
    assert read_orders(book)[0]["Refill ID"] == 501


@pytest.mark.parametrize("lost_reply", ["500", "502", "503", "302"])
def test_add_processed_then_answered_5xx_or_redirect_is_never_bought_again(
    tmp_path, sim, client, lost_reply
):
    sim.faults.drop_after_accept, sim.faults.lost_reply = 1.0, lost_reply
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS[:1])
    report = run(book, client, "place")
    assert report.counts()[("place", "ambiguous")] == 1 and len(sim.orders) == 1
    sim.faults.drop_after_accept = 0.0
    run(book, client, "place")
    run(book, client, "run")
    assert sim.counts["add"] == 1 and len(sim.orders) == 1
    [out] = read_orders(book)
    assert out["Error"].startswith(AMBIGUOUS_MARK)


def _one_id_panel(order: str, status: str):
    """A ScriptedPanel script: one service, every add answered with order id ``order`` (as
    JSON), every order in ``status``."""

    def script(form):
        if form["action"] == "balance":
            return json_reply('{"balance": "100", "currency": "USD"}')
        if form["action"] == "services":
            return json_reply(
                '[{"service": 1, "name": "F", "type": "Default", "rate": "1", "min": 10,'
                ' "max": 1000}]'
            )
        if form["action"] == "add":
            return json_reply(f'{{"order": {order}}}')
        ids = form["orders"].split(",")
        return json_reply(json.dumps({i: {"status": status, "charge": "0.1"} for i in ids}))

    return script


def test_text_order_ids_are_written_and_refreshed_exactly_as_given(tmp_path):
    script = _one_id_panel('"ORD-880332"', "Completed")
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://x", 100)])
    with ScriptedPanel(script) as panel, PanelClient(panel.url, "k") as c:
        run(book, c, "place")
        [out] = read_orders(book)
        assert out["Order ID"] == "ORD-880332" and out["Status"] == "Completed"
        run(book, c, "place")
        assert [f["action"] for f in panel.forms].count("add") == 1
        asked = {f["orders"] for f in panel.forms if f["action"] == "status"}
        assert asked == {"ORD-880332"}, "the id goes back to the panel as the panel gave it"


# --------------------------------------------------------------------------- unknown outcomes


def _ambiguous_book(tmp_path, sim, client):
    """One row whose add the panel processed but whose answer was lost."""
    sim.faults.drop_after_accept = 1.0
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS[:1])
    run(book, client, "place")
    sim.faults.drop_after_accept = 0.0
    [out] = read_orders(book)
    assert out["Error"].startswith(AMBIGUOUS_MARK) and "Order ID column" in out["Error"]
    return book


def _rename_sheet(book, old, new):
    import openpyxl

    wb = openpyxl.load_workbook(book)
    wb[old].title = new
    wb.save(book)


@pytest.mark.parametrize("flag", ["Cancel", "Refill"])
def test_a_flag_on_a_row_that_may_have_been_placed_keeps_what_its_error_says(
    tmp_path, sim, client, flag
):
    # "clear Cancel to place it" over "check panel: may have been placed" sent the user the
    # wrong way: the row is blocked until they say what the panel shows.
    book = _ambiguous_book(tmp_path, sim, client)
    _type_into(book, {(2, flag): "x"})
    report = run(book, client, "run")
    [out] = read_orders(book)
    assert out["Error"].startswith(AMBIGUOUS_MARK) and sim.counts["add"] == 1
    assert (2, flag.lower(), "invalid") in {(r.row, r.step, r.outcome) for r in report.results}


def test_a_renamed_order_sheet_keeps_its_journal_may_have_been_placed_row_blocked(
    tmp_path, sim, client
):
    # Renamed "November" (the message for a missing Orders sheet says to name it with
    # --sheet): the journal keys entries by sheet name, so the row whose add was lost
    # was no longer blocked and was bought a second time.
    book = _ambiguous_book(tmp_path, sim, client)
    _rename_sheet(book, "Orders", "November")
    run(book, client, "place", sheet="November")
    assert sim.counts["add"] == 1
    [out] = read_orders(book, "November")
    assert out["Order ID"] is None and out["Error"].startswith(AMBIGUOUS_MARK)


@pytest.mark.parametrize("renamed", ["ORDERS", "Orders "])
def test_an_order_sheet_renamed_to_a_name_that_still_finds_it_keeps_its_journal(
    tmp_path, sim, client, renamed
):
    book = _ambiguous_book(tmp_path, sim, client)
    _rename_sheet(book, "Orders", "-")  # openpyxl would make "ORDERS" "ORDERS1" at once
    _rename_sheet(book, "-", renamed)
    run(book, client, "place")
    assert sim.counts["add"] == 1


def test_a_renamed_order_sheet_gets_a_cleared_order_id_back_from_the_journal(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS[:1])
    run(book, client, "place")
    _type_into(book, {(2, "Order ID"): None})
    _rename_sheet(book, "Orders", "November")
    report = run(book, client, "place", sheet="November")
    assert sim.counts["add"] == 1 and read_orders(book, "November")[0]["Order ID"] == 1001
    assert report.counts()[("place", "restored")] == 1


def _type_into(book, cells):
    xb = XlsxWorkbook(book)
    table_header = [str(v) for v in xb.read_values("Orders")[0]]
    xb.write_cells("Orders", {(row, table_header.index(h) + 1): v for (row, h), v in cells.items()})
    xb.save()


@pytest.mark.parametrize(
    ("typed", "kept"), [(1001, 1001), ("1001", 1001), ("#1001", 1001), ("ORD-1001", "ORD-1001")]
)
def test_typing_the_id_into_the_error_cell_as_the_sheet_says_never_buys_it_again(
    tmp_path, sim, client, typed, kept
):
    book = _ambiguous_book(tmp_path, sim, client)
    _type_into(book, {(2, "Error"): typed})
    report = run(book, client, "place")
    [out] = read_orders(book)
    assert out["Order ID"] == kept and out["Error"] is None
    assert report.counts()[("place", "resolved")] == 1
    run(book, client, "place")
    assert sim.counts["add"] == 1 and len(sim.orders) == 1


def test_clearing_the_error_cell_no_longer_places_the_row_again(tmp_path, sim, client):
    book = _ambiguous_book(tmp_path, sim, client)
    _type_into(book, {(2, "Error"): None})
    report = run(book, client, "place")
    [out] = read_orders(book)
    assert out["Order ID"] is None and out["Error"].startswith(AMBIGUOUS_MARK)
    assert sim.counts["add"] == 1 and report.failed


def test_place_again_in_the_error_cell_places_the_row_once(tmp_path, sim, client):
    book = _ambiguous_book(tmp_path, sim, client)
    sim.set_status(1001, "Completed")  # the panel refuses a second active order for a link
    _type_into(book, {(2, "Error"): "place again"})
    run(book, client, "place")
    run(book, client, "place")
    [out] = read_orders(book)
    assert out["Order ID"] == 1002 and out["Error"] is None
    assert sim.counts["add"] == 2


def test_id_typed_into_the_order_id_column_settles_the_journal(tmp_path, sim, client):
    book = _ambiguous_book(tmp_path, sim, client)
    _type_into(book, {(2, "Order ID"): 1001})
    run(book, client, "run")
    with Journal(journal_path(book)) as journal:
        assert journal.unresolved_adds("Orders") == []
    _type_into(book, {(2, "Order ID"): None})  # later the id is lost: it comes back
    run(book, client, "place")
    assert sim.counts["add"] == 1


def test_an_order_id_cell_that_is_not_an_id_is_an_error_not_a_purchase(tmp_path, sim, client):
    book = make_orders_book(
        tmp_path / "o.xlsx",
        [(1, "https://x", 100, None, None, None, None, None, -3)],
        header=(*ORDER_HEADER_FOR_TESTS, "Order ID"),
    )
    run(book, client, "place")
    [out] = read_orders(book)
    assert "not an order id" in out["Error"] and sim.counts["add"] == 0


def test_an_order_id_that_is_an_excel_error_or_never_calculated_is_not_bought(
    tmp_path, sim, client
):
    """calamine reads #REF! (an id lookup whose sheet was deleted) and a formula saved
    without its value (openpyxl, scripts) as empty cells: the ids they stand for may
    exist, so those rows are errors, never purchases, and the formulas stay."""
    book = make_orders_book(
        tmp_path / "o.xlsx",
        [
            (1, "https://x/1", 100, None, None, None, None, None, "#REF!"),
            (1, "https://x/2", 100, None, None, None, None, None, "=Ids!A2"),
            (1, "https://x/3", 100),
        ],
        header=(*ORDER_HEADER_FOR_TESTS, "Order ID"),
    )
    run(book, client, "place")
    broken, uncalculated, new = read_orders(book)
    assert sim.counts["add"] == 1 and new["Order ID"] == 1001
    assert "'#REF!' (an Excel error)" in broken["Error"] and broken["Order ID"] == "#REF!"
    assert "no calculated value" in uncalculated["Error"]
    assert uncalculated["Order ID"] == "=Ids!A2"


# --------------------------------------------------------------------------- older copies


def test_older_copy_with_a_row_inserted_at_the_top_gets_its_ids_back(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS)
    run(book, client, "place")
    placed = {r["Link"]: r["Order ID"] for r in read_orders(book)}
    make_orders_book(book, [(1, "https://instagram.com/new", 100), *GOOD_ROWS])
    report = run(book, client, "place")
    out = read_orders(book)
    assert {r["Link"]: r["Order ID"] for r in out[1:]} == placed
    assert out[0]["Order ID"] == 1004
    assert all("restored from journal" in r["Error"] for r in out[1:])
    assert sim.counts["add"] == 4 and report.counts()[("place", "restored")] == 3


def test_an_id_the_panel_gave_twice_is_said_and_never_buys_an_older_copys_row_again(tmp_path):
    """A panel answered order 77 for two rows placed in two runs (a panel reusing ids, or
    one order for both). The run says so, and an older copy of the sheet, in which only
    the first row holds 77, gets the second row's id back instead of buying it again."""
    import shutil

    from openpyxl import load_workbook

    script = _one_id_panel("77", "Pending")
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://x/1", 100)])
    older = tmp_path / "older.xlsx"
    with ScriptedPanel(script) as panel, PanelClient(panel.url, "k") as c:
        run(book, c, "place")
        sheet = load_workbook(book)
        sheet["Orders"].append([1, "https://x/2", 100])
        sheet.save(book)
        shutil.copy(book, older)
        report = run(book, c, "place")
        assert [r["Order ID"] for r in read_orders(book)] == [77, 77]
        assert any("order id 77 for 2 rows (2, 3)" in m for m in report.messages)
        # ... and not called a row copied with its id, to clear to place it again
        assert not [m for m in report.messages if "copied with its Order ID" in m]
        shutil.copy(older, book)
        run(book, c, "place")
        assert [f["action"] for f in panel.forms].count("add") == 2
    assert [r["Order ID"] for r in read_orders(book)] == [77, 77]


def test_older_copy_with_rows_sorted_gets_every_id_back(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS)
    run(book, client, "place")
    placed = {r["Link"]: r["Order ID"] for r in read_orders(book)}
    make_orders_book(book, list(reversed(GOOD_ROWS)))
    run(book, client, "place")
    out = read_orders(book)
    assert {r["Link"]: r["Order ID"] for r in out} == placed
    assert_sheet_matches_panel(book, sim)
    assert sim.counts["add"] == 3


def test_k_journaled_orders_restore_at_most_k_rows_with_their_content(tmp_path, sim, client):
    same = (1, "https://instagram.com/same", 100)
    book = make_orders_book(tmp_path / "o.xlsx", [same])
    run(book, client, "place")
    sim.set_status(1001, "Completed")  # the panel refuses a second active order for a link
    header = (*ORDER_HEADER_FOR_TESTS, "Order ID")
    make_orders_book(book, [(*same, None, None, None, None, None, 1001), same], header=header)
    run(book, client, "place")
    sim.set_status(1002, "Completed")
    assert sim.counts["add"] == 2
    make_orders_book(book, [same, same, same])  # an old copy plus one new identical row
    run(book, client, "place")
    out = read_orders(book)
    assert sorted(r["Order ID"] for r in out) == [1001, 1002, 1003]
    assert sim.counts["add"] == 3


def test_a_new_row_like_one_still_in_the_sheet_is_bought(tmp_path, sim, client):
    same = (1, "https://instagram.com/again", 100)
    book = make_orders_book(tmp_path / "o.xlsx", [same])
    run(book, client, "place")
    sim.set_status(1001, "Completed")
    rows = read_orders(book)
    make_orders_book(
        book,
        [(*same, None, None, None, None, None, rows[0]["Order ID"]), same],
        header=(*ORDER_HEADER_FOR_TESTS, "Order ID"),
    )
    run(book, client, "place")
    assert sim.counts["add"] == 2 and len(sim.orders) == 2


def test_place_again_buys_a_restored_row_once_more(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS[:1])
    before = book.read_bytes()
    run(book, client, "place")
    book.write_bytes(before)
    run(book, client, "place")  # restored
    sim.set_status(1001, "Completed")
    _type_into(book, {(2, "Order ID"): None, (2, "Error"): "PLACE AGAIN"})
    run(book, client, "place")
    run(book, client, "place")
    [out] = read_orders(book)
    assert out["Order ID"] == 1002 and sim.counts["add"] == 2


def test_quantity_typed_as_a_date_or_with_separators_is_never_misread(tmp_path, sim, client):
    rows = [
        (1, "https://a", dt.datetime(2024, 3, 5)),  # once placed as quantity 2024
        (1, "https://b", "10 000"),  # once placed as quantity 10
        (1, "https://c", "10\u202f000"),
        (1, "https://d", "10.000"),
        (1, "https://e", 150.5),
        (1, "https://f", True),
    ]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    report = run(book, client, "place")
    out = read_orders(book)
    assert sorted(o.quantity for o in sim.orders.values()) == [10000, 10000]
    assert [r["Order ID"] is not None for r in out] == [False, True, True, False, False, False]
    assert out[0]["Error"].startswith("Quantity must be a whole number, got a date (2024-03-05)")
    assert "could mean 10000 or 10" in out[3]["Error"]
    assert "got 150.5" in out[4]["Error"] and "got TRUE" in out[5]["Error"]
    assert report.counts()[("place", "invalid")] == 4


def test_previews_say_their_cost_and_orders_in_the_same_words_to_every_shell():
    from smmsheet.batch import CancelPreview

    assert Preview(6, Decimal("9.021"), "USD", Decimal(50)).cost_text() == "about 9.021"
    ranged = Preview(1, Decimal("9"), "USD", Decimal(50), cost_low=Decimal("0.009"))
    assert ranged.cost_text() == "0.009 to 9.00"
    many = CancelPreview(tuple(map(str, range(1001, 1013))), tuple(range(2, 14)))
    assert many.listed(2) == "12 orders: 1001 (row 2), 1002 (row 3) and 10 more"
    assert CancelPreview(("7",), (4,)).listed() == "1 order: 7 (row 4)"


def test_a_missing_order_sheet_is_the_layout_error_the_error_tree_names(tmp_path, client):
    from smmsheet.errors import LayoutError

    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS[:1])
    with pytest.raises(LayoutError, match="no sheet 'Nope'"):
        run(book, client, "status", sheet="Nope")


def test_a_title_row_merged_across_the_table_is_no_order_and_blocks_no_run(tmp_path, sim, client):
    # "Client Bob" over that client's rows, merged across every column: the run refused
    # (Error hidden under the merge) where it used to place the orders below it.
    import openpyxl

    book = tmp_path / "o.xlsx"
    wb = openpyxl.Workbook()
    sheet = wb.active
    sheet.title = "Orders"
    sheet.append(["Service", "Link", "Quantity", "Order ID", "Status", "Error"])
    sheet.append(["Client Bob"])
    sheet.merge_cells("A2:F2")
    sheet.append([1, "https://x/1", 100])
    sheet.append(["Instagram Likes", "https://x/2", 100])  # a name, not an id: its error
    wb.save(book)
    run(book, client, "place")
    out = openpyxl.load_workbook(book)["Orders"]
    assert [out.cell(r, 4).value for r in (2, 3, 4)] == [None, 1001, None]
    assert out.cell(2, 1).value == "Client Bob" and "A2:F2" in out.merged_cells
    assert out.cell(2, 6).value is None and out.cell(4, 6).value  # the title: no Error
    assert sim.counts["add"] == 1


def test_a_workbook_without_a_worksheet_says_so_not_an_empty_list(tmp_path, client):
    # Its Orders a dialog or macro sheet: "(sheets: ): rename the order sheet to 'Orders'".
    from smmsheet.errors import LayoutError

    from .memory_book import MemoryWorkbook

    with Journal(journal_path(tmp_path / "o.xlsx")) as journal:
        with pytest.raises(LayoutError) as raised:
            Engine(MemoryWorkbook({}), client, journal, RunOptions())
    assert str(raised.value) == (
        "the workbook has no worksheet (a chart, dialog or macro sheet holds no orders): "
        "the orders go on a worksheet named 'Orders'"
    )


def test_an_order_sheet_renamed_with_a_space_after_its_name_is_still_found(tmp_path, sim, client):
    import openpyxl

    book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS[:1])
    wb = openpyxl.load_workbook(book)
    wb["Orders"].title = "orders "  # looks the same in the sheet tab
    wb.save(book)
    run(book, client, "place")
    assert read_orders(book, "orders ")[0]["Order ID"] == 1001


def test_adds_in_flight_take_short_gil_turns_and_give_the_interpreters_back(tmp_path, sim, client):
    """As status requests do (tests/test_panel.py): an add's worker waited for the GIL."""
    import sys

    from smmsheet.runtime import QUICK_TURN

    seen: list[float] = []
    sim.on_request = lambda request: (
        seen.append(sys.getswitchinterval()) if request.action == "add" else None
    )
    before = sys.getswitchinterval()
    rows = [(1, f"https://instagram.com/p/turns-{i}", 100) for i in range(20)]
    run(make_orders_book(tmp_path / "o.xlsx", rows), client, "place")
    assert len(sim.orders) == 20 == len(seen)
    assert max(seen) <= QUICK_TURN < before == sys.getswitchinterval()


def test_a_run_reads_and_refreshes_with_few_garbage_collections_and_gives_them_back(
    tmp_path, sim, client, monkeypatch
):
    """A 100,000-row refresh made seven full collections, 0.35 s, two while requests flew."""
    import gc

    from smmsheet.runtime import BULK_THRESHOLD
    from smmsheet.workbook.xlsx.adapter import XlsxWorkbook

    rows = [(1, f"https://instagram.com/p/gc-{i}", 100) for i in range(5)]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    run(book, client, "place")
    seen: dict[str, int] = {}
    read = XlsxWorkbook.read_values

    def reading(self, sheet, watch=None):
        seen["read"] = gc.get_threshold()[0]
        return read(self, sheet, watch)

    monkeypatch.setattr(XlsxWorkbook, "read_values", reading)
    sim.on_request = lambda request: (  # not a late word of the place's adds
        seen.setdefault("status", gc.get_threshold()[0]) if request.action == "status" else None
    )
    before = gc.get_threshold()
    run(book, client, "status")
    assert seen == {"read": BULK_THRESHOLD, "status": BULK_THRESHOLD}
    assert gc.get_threshold() == before


def test_each_add_costs_one_journal_transaction_not_two(tmp_path, sim, client, monkeypatch):
    """An add's answer and the next add's intent are made durable together: one wait on the
    disk per add (issue 14: 20,000 commits for 10,000 orders were a tenth of the run). The
    intent is still durable before its add is sent, and every answer is journaled."""
    transactions: list[str] = []
    for name in ("_write", "outcome_then_intent"):
        real = getattr(Journal, name)

        def counted(self, *args, real=real, name=name, **kwargs):
            transactions.append(name)
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Journal, name, counted)
    rows = [(1, f"https://instagram.com/p/window-{i}", 100) for i in range(120)]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    transactions.clear()
    run(book, client, "place")
    assert len(sim.orders) == 120
    adds = [t for t in transactions if t == "outcome_then_intent"]
    assert len(adds) >= 120 - client.max_workers
    assert len(transactions) <= 120 + 2 * client.max_workers + 10  # + marker, sync marks
    with Journal(journal_path(book), lock=False) as journal:
        entries = [e for e in journal.entries() if e.action == Action.ADD]
    assert len(entries) == 120 and {e.state for e in entries} == {State.ACCEPTED}
    assert sorted(int(e.result_id or 0) for e in entries) == sorted(sim.orders)


def test_rows_left_when_the_key_is_refused_mid_run_are_not_sent_and_say_so(tmp_path):
    from smmsheet.errors import InvalidKeyError

    def script(form):
        if form["action"] == "services":
            item = {"service": 1, "name": "F", "type": "Default", "rate": "1"}
            return json_reply(json.dumps([{**item, "min": 10, "max": 1000}]))
        if form["action"] == "balance":
            return json_reply('{"balance": "100", "currency": "USD"}')
        return json_reply('{"error": "Invalid API key"}')

    rows = [(1, f"https://x/{i}", 100) for i in range(40)]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    key = "sk-test-0123456789"
    with ScriptedPanel(script) as panel, PanelClient(panel.url, key, max_workers=2) as c:
        with pytest.raises(InvalidKeyError):
            run(book, c, "place")
        sent = [f for f in panel.forms if f["action"] == "add"]
    assert len(sent) <= 4, "the run stops sending once the key is refused"
    out = read_orders(book)
    assert all(r["Order ID"] is None for r in out)
    assert sum("run was stopped" in (r["Error"] or "") for r in out) >= 36
    # Every row says what became of it: the ones sent say the key was refused (they were
    # left blank, the refusal only in the journal until the next run).
    refused = [r for r in out if "run was stopped" not in (r["Error"] or "")]
    assert len(refused) == len(sent)
    assert all("Invalid API key" in (r["Error"] or "") for r in refused)


@pytest.mark.parametrize("failing", ["intent", "outcome_then_intent"])
def test_rows_left_when_the_journal_fails_mid_run_are_not_sent_and_say_so(
    tmp_path, sim, client, monkeypatch, failing
):
    """A journal that fails mid-run (disk full) stops the run: every accepted order is in
    the sheet, and every row not sent says so, also the one a worker had taken when its
    intent could not be written (it was left blank: nothing told the user it was skipped)."""
    from smmsheet.batch import NOT_SENT_STOPPED
    from smmsheet.errors import JournalError

    real, calls = getattr(Journal, failing), []

    def fails_later(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 3:
            raise JournalError("cannot write the journal: database or disk is full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Journal, failing, fails_later)
    book = make_orders_book(
        tmp_path / "o.xlsx", [(1, f"https://instagram.com/p/full-{i}", 100) for i in range(20)]
    )
    with pytest.raises(JournalError, match="disk is full"):
        run(book, client, "place")
    out = read_orders(book)
    assert_sheet_matches_panel(book, sim)
    assert all(r["Order ID"] is not None or r["Error"] == NOT_SENT_STOPPED for r in out)
    assert sum(r["Order ID"] is None for r in out) == 20 - len(sim.orders) > 0
    monkeypatch.undo()
    run(book, client, "place")  # said, not blocked: the next run places them, once each
    assert len(sim.orders) == sim.counts["add"] == 20
    assert_sheet_matches_panel(book, sim)


#: Every column a refresh writes (a first run adds the missing ones, and saves afresh).
REFRESH_HEADER = (
    *("Service", "Link", "Quantity", "Order ID", "Status", "Charge", "Start Count"),
    *("Remains", "Currency", "Refill ID", "Refill Status", "Error", "Updated", "Refill until"),
)


def _open_orders(sim, count, status="In progress"):
    from smmsheet.simulator import SimOrder

    first = sim.state.next_order_id
    sim.state.add_orders(
        SimOrder(
            id=first + n,
            service=1,
            link=f"https://x/{n}",
            quantity=100,
            charge=Decimal("0.09"),
            start_count=n,
            remains=100 - n % 7,
            status=status,
            currency=sim.currency,
            fields={},
            created=0.0,
        )
        for n in range(count)
    )
    sim.auto_progress = False
    return [(1, f"https://x/{n}", 100, first + n, "Pending") for n in range(count)]


def test_refresh_buffers_its_writes_in_the_rows_not_a_dict_of_every_cell(tmp_path, sim, client):
    """A (row, col) dict of every written cell was ~700 MB for a million rows; the rows
    already hold the values, so the engine keeps which cells of a row changed. (What the
    refresh hands the book as it goes, and the save the book starts on them, are the
    book's: the workbook package is left out of the count.)"""
    import tracemalloc

    from smmsheet import workbook

    count = 2000
    rows = _open_orders(sim, count)
    header = ("Service", "Link", "Quantity", "Order ID", "Status")
    book = make_orders_book(tmp_path / "o.xlsx", rows, header)
    with Journal(journal_path(book)) as journal:
        engine = Engine(XlsxWorkbook(book), client, journal, RunOptions())
        not_the_book = [tracemalloc.Filter(False, str(Path(workbook.__file__).parent / "*"))]
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot().filter_traces(not_the_book)
            engine.refresh()
            after = tracemalloc.take_snapshot().filter_traces(not_the_book)
            grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
            per_row = grown / count
        finally:
            tracemalloc.stop()
        engine.commit()
    # Six cells a row changed: new values (shared where equal), the row's list grown to hold
    # them, the report entry and a mask: ~500 bytes; a dict entry and key a cell made ~1,240.
    assert per_row < 800
    after = read_orders(book)
    assert after[0]["Status"] == "In progress" and after[-1]["Start Count"] == count - 1
    assert after[5]["Charge"] == 0.09 and after[5]["Currency"] == sim.currency


def test_a_refresh_hands_rows_to_the_book_and_its_save_starts_on_them(
    tmp_path, sim, client, monkeypatch
):
    """Each chunk's rows go to the book as they are answered, with the first row still
    waiting: the save then patches nothing afresh, and the file is the file written
    without that head start (one order in two rows, one answered late, one the panel
    does not know: their rows too)."""
    from smmsheet.workbook.xlsx import save

    when = dt.datetime(2026, 11, 26, 1, 2, 3)
    # Every other row sold on (its Profit written), every third with a refill window that
    # ends soon (its Error noted): what the run's last passes write, written early.
    rows = [
        (*row, *(None,) * 8, when.date() + dt.timedelta(days=n % 9) if n % 3 == 0 else None)
        + ((Decimal("0.2") if n % 2 else None),)
        for n, row in enumerate(_open_orders(sim, 1250))
    ]
    rows.insert(40, rows[900])  # order 900's rows: row 42 and row 902
    rows.append((1, "https://x/unknown", 100, 999_999, "Pending"))
    books = {}
    prepares: list[int] = []
    patched: list[str] = []
    early = False
    real_patch, real_prepare = save.patch_sheet, XlsxWorkbook.prepare
    monkeypatch.setattr(save, "patch_sheet", lambda *a: patched.append(a[4]) or real_patch(*a))

    def prepare(self, sheet, before_row):
        if not early:
            return False
        prepares.append(before_row)
        return real_prepare(self, sheet, before_row)

    monkeypatch.setattr(XlsxWorkbook, "prepare", prepare)
    monkeypatch.setattr(batch, "_HAND_OVER_ROWS", 100)  # a hand-over a chunk: 13 of them
    monkeypatch.setattr(batch._Idle, "fits", lambda self: True)  # however fast the panel
    header = (*REFRESH_HEADER, "Sell price", "Cost", "Profit", "Margin")
    for early in (False, True):
        book = make_orders_book(tmp_path / f"{early}.xlsx", rows, header)
        patched.clear()
        report = run_engine(book, client, "status", now=lambda: when)
        assert report.saved
        books[early] = (book, list(patched))
    book, patched = books[True]
    assert not any("'Orders'" in where for where in patched), "the save began afresh"
    assert prepares == sorted(prepares) and len(prepares) >= 12
    assert read_orders(book) == read_orders(books[False][0])
    after = read_orders(book)
    assert after[41]["Status"] == after[901]["Status"] == "In progress"
    assert after[-1]["Error"] and after[-1]["Updated"] == when
    assert after[500]["Updated"] == when and after[500]["Remains"] == 100 - 499 % 7
    assert after[1]["Profit"] is not None and after[2]["Profit"] is None
    assert after[3]["Error"].endswith("(3 days left)") and after[7]["Error"] is None


def test_a_book_that_declines_the_head_start_is_handed_no_more_rows(
    tmp_path, sim, client, monkeypatch
):
    """A book that cannot start its save early (the live workbook, a sheet too large to
    hold) says so, and the refresh keeps its rows for the commit, as before."""
    rows = _open_orders(sim, 1250)
    book = make_orders_book(tmp_path / "o.xlsx", rows, REFRESH_HEADER)
    calls: list[int] = []
    real_write = XlsxWorkbook.write_cells

    def write_cells(self, sheet, cells):
        calls.append(len(cells))
        return real_write(self, sheet, cells)

    monkeypatch.setattr(XlsxWorkbook, "write_cells", write_cells)
    monkeypatch.setattr(XlsxWorkbook, "prepare", lambda self, sheet, before_row: False)
    monkeypatch.setattr(batch, "_HAND_OVER_ROWS", 100)
    monkeypatch.setattr(batch._Idle, "fits", lambda self: True)
    assert run_engine(book, client, "status").saved
    assert len(calls) == 2 and calls[0] < calls[1], calls  # one hand-over, then the commit
    assert read_orders(book)[-1]["Status"] == "In progress"


def test_rows_are_handed_over_only_in_the_time_spent_waiting_for_the_panel():
    """A panel that answers at once leaves the refresh no wait to fill: the work of an
    early save would only slow it, and is put off while it does not fit in the waits."""
    now = [0.0]
    idle = batch._Idle(clock=lambda: now[0])
    now[0] = 0.05  # the first answer after 50 ms
    idle.arrived()
    assert idle.fits()
    with idle.spending():
        now[0] += 0.08  # a hand-over of 80 ms
    idle.waiting()
    now[0] += 0.01
    idle.arrived()
    assert not idle.fits()  # 80 ms spent, 60 ms waited
    idle.waiting()
    now[0] += 0.03
    idle.arrived()
    assert idle.fits() and (idle.waited, idle.spent) == pytest.approx((0.09, 0.08))


def test_the_first_row_waiting_follows_answers_from_two_panels_in_any_order():
    from smmsheet.batch import _Waiting
    from smmsheet.orders import OrderRow

    def rows(*numbers):
        return [OrderRow(row=n, values={}) for n in numbers]

    waiting = _Waiting(
        {
            "a": {"1": rows(2, 9), "2": rows(4), "3": rows(7)},
            "b": {"1": rows(3), "5": rows(5, 6)},
        }
    )
    assert waiting.answered([4]) == 2  # a/2 answered: row 2's order is still waiting
    assert waiting.answered([3]) == 2  # b/1
    assert waiting.answered([2]) == 5  # a/1: orders a/1, b/1, a/2 answered, rows 2-4
    assert waiting.answered([5]) == 7  # b/5 (rows 5 and 6)
    assert waiting.answered([7]) > 1_048_576  # a/3: none waiting


def test_a_renamed_workbook_is_told_which_journal_is_its_own(tmp_path, client, sim):
    """Renaming orders.xlsx leaves its journal under the old name: the refusal names it,
    so the reseller renames it too instead of starting a new journal blind."""
    from smmsheet.errors import JournalMismatchError

    book = make_orders_book(tmp_path / "orders.xlsx", [(1, "https://a/1", 100)])
    run(book, client, "place")
    renamed = book.rename(tmp_path / "april.xlsx")
    (tmp_path / "junk.xlsx.smmsheet-journal.sqlite").write_bytes(b"no journal")  # passed over
    with pytest.raises(JournalMismatchError) as refused:
        run(renamed, client, "place")
    message = str(refused.value)
    assert "orders.xlsx.smmsheet-journal.sqlite beside it holds this workbook's runs" in message
    # "rename it" after "the workbook" read as: rename the workbook to that journal's name
    assert "rename that journal file to april.xlsx.smmsheet-journal.sqlite" in message
    assert "the workbook was moved, renamed or copied without its journal" in message
    journal_path(book).rename(journal_path(renamed))  # following the message works
    assert run(renamed, client, "place").results == [] and sim.counts["add"] == 1


def test_a_copy_made_before_the_first_run_does_not_buy_its_rows_again(tmp_path, client, sim):
    """A careless user copied orders.xlsx before its first run, placed the original, then
    ran the copy: no marker and a journal of its own that knew nothing, so every row was
    bought again. The original's journal beside it knows those rows; the run stops (exit 2
    in cron) until the user agrees they are new orders."""
    import shutil

    from smmsheet.errors import JournalMismatchError

    book = make_orders_book(tmp_path / "orders.xlsx", GOOD_ROWS)
    copy = tmp_path / "orders (2).xlsx"
    shutil.copy(book, copy)
    run(book, client, "place")
    assert sim.counts["add"] == len(GOOD_ROWS)
    before = copy.read_bytes()
    preview = run(copy, client, "place", dry_run=True)
    assert any("looks like a copy of it" in m for m in preview.messages)
    with pytest.raises(JournalMismatchError) as refused:
        run(copy, client, "place")
    message = str(refused.value)
    assert f"{len(GOOD_ROWS)} rows of this workbook (rows 2, 3, 4" in message
    assert "orders.xlsx placed from the same rows" in message
    assert sim.counts["add"] == len(GOOD_ROWS) and copy.read_bytes() == before
    agreed = run(copy, client, "place", journal_lost=lambda problem: True)  # new orders
    assert sim.counts["add"] == 2 * len(GOOD_ROWS)  # sent (the simulator refuses a link twice)
    assert any("placed too, as agreed" in m for m in agreed.messages)


def test_a_copy_run_while_the_original_works_waits_for_its_journal(
    tmp_path, client, sim, monkeypatch
):
    """`run clients/ --yes` (and `watch`) run the workbooks of a folder at once: the copy
    read the original's journal while the original's run held it, passed it over as
    unreadable, and bought every row again on the second run. A journal another run
    holds, of a workbook that has run before, is waited for; still held, nothing is
    placed and the run says why."""
    import shutil
    import threading
    import time

    from smmsheet.errors import JournalMismatchError

    book = make_orders_book(tmp_path / "orders.xlsx", GOOD_ROWS)
    copy = tmp_path / "orders (2).xlsx"
    shutil.copy(book, copy)
    run(book, client, "place")
    monkeypatch.setattr(batch, "OTHER_JOURNAL_WAIT", 0.3)
    with Journal(journal_path(book)):  # the original's run is under way
        with pytest.raises(JournalMismatchError) as refused:
            run(copy, client, "place")
    assert "orders.xlsx.smmsheet-journal.sqlite is held by another run" in str(refused.value)
    assert sim.counts["add"] == len(GOOD_ROWS)
    monkeypatch.setattr(batch, "OTHER_JOURNAL_WAIT", 30.0)
    refused: list[str] = []

    def run_the_copy() -> None:
        with pytest.raises(JournalMismatchError) as stopped:
            run(copy, client, "place")
        refused.append(str(stopped.value))

    with Journal(journal_path(book)):
        worker = threading.Thread(target=run_the_copy)
        worker.start()
        time.sleep(0.3)  # the original's run ends while the copy waits for its journal
    worker.join(30)
    assert refused and "looks like a copy of it" in refused[0]
    assert sim.counts["add"] == len(GOOD_ROWS)


def test_a_new_workbook_does_not_wait_for_another_new_ones_journal(tmp_path, client, sim):
    """Two workbooks that never ran, run at once, each hold their journal while they look
    at the other's: neither waits for the other (nothing to buy twice there yet)."""
    first = make_orders_book(tmp_path / "a.xlsx", GOOD_ROWS[:1])
    second = make_orders_book(tmp_path / "b.xlsx", GOOD_ROWS[1:])
    with Journal(journal_path(first)):
        run(second, client, "place")
    assert sim.counts["add"] == len(GOOD_ROWS) - 1


@pytest.mark.parametrize("repeated", [1, 2])
def test_a_new_workbook_repeating_orders_of_another_is_placed(tmp_path, client, sim, repeated):
    """A reseller's repeat orders (rows as another workbook of the folder placed them, at
    the same rows) among more new ones are no copy: nothing stops."""
    book = make_orders_book(tmp_path / "november.xlsx", GOOD_ROWS)
    run(book, client, "place")
    new = [(1, f"https://instagram.com/p/new{n}", 100) for n in range(2 * repeated - 1)]
    december = make_orders_book(tmp_path / "december.xlsx", [*GOOD_ROWS[:repeated], *new])
    report = run(december, client, "place")
    assert sim.counts["add"] == len(GOOD_ROWS) + 3 * repeated - 1
    assert not any("copy" in m for m in report.messages)


def test_a_dry_run_of_a_workbook_without_its_journal_says_the_run_will_stop(tmp_path, client, sim):
    # The dry run listed the rows it "would place" and exited 0; the run itself then
    # stopped with exit 2, and the dry run had not said how to go on (--new-journal).
    import shutil

    book = make_orders_book(tmp_path / "orders.xlsx", [(1, "https://a/1", 100)])
    run(book, client, "place")
    copy = tmp_path / "copy.xlsx"
    shutil.copy(book, copy)
    preview = run(copy, client, "place", dry_run=True)
    [said] = [m for m in preview.messages if "journal" in m]
    assert "a run that places, refills or cancels stops here until then" in said
    assert "--new-journal" in said
    assert "replacing the empty journal" not in said  # a dry run makes none
    status = run(copy, client, "status")
    assert not [m for m in status.messages if "stops here" in m]
    assert sim.counts["add"] == 1


def test_merged_streams_raise_their_error_and_are_closed_when_the_reader_stops():
    import threading

    from smmsheet.batch import merged

    closed: list[str] = []

    def stream(key: str, items: list[int], fail: bool = False):
        try:
            yield from items
            if fail:
                raise ValueError(f"{key} broke")
        finally:
            closed.append(key)

    both = merged({"a": stream("a", [1, 2, 3]), "b": stream("b", [10, 20])}, "test-merge")
    assert sorted(both) == [("a", 1), ("a", 2), ("a", 3), ("b", 10), ("b", 20)]
    assert sorted(closed) == ["a", "b"]
    closed.clear()
    failing = merged({"a": stream("a", [1]), "b": stream("b", [], fail=True)}, "test-merge")
    with pytest.raises(ValueError, match="b broke"):
        list(failing)
    assert sorted(closed) == ["a", "b"]  # the other stream too, before the error is raised
    closed.clear()
    endless = merged({"a": stream("a", list(range(10**6))), "b": stream("b", [1])}, "test-merge")
    next(endless)
    endless.close()  # the reader stops early: every stream is closed, no thread is left
    assert sorted(closed) == ["a", "b"]
    assert not [t for t in threading.enumerate() if t.name.startswith("test-merge")]


def test_a_refused_key_on_one_panel_keeps_what_the_other_panel_answered(tmp_path):
    """Refreshing two panels at once: panel b refusing its key stops the run, but panel a's
    answers, asked at the same time, are still written (they were thrown away, depending on
    which panel answered first; one after the other, a's came first and were kept)."""
    from smmsheet.errors import InvalidKeyError
    from smmsheet.panels import Panels
    from smmsheet.simulator import DEFAULT_API_KEY, PanelSimulator
    from smmsheet.workbook import open_workbook

    from .two_panels import book

    header = ("Service", "Link", "Quantity", "Panel")
    rows = [(1, f"https://x/a{i}", 100) for i in range(250)]
    rows += [(1, f"https://x/b{i}", 100, "b") for i in range(5)]
    path = book(tmp_path / "o.xlsx", header, rows)
    with PanelSimulator() as sim_a, PanelSimulator() as sim_b:

        def execute(command: str, key_b: str) -> None:
            with (
                PanelClient(sim_a.url, DEFAULT_API_KEY, backoff=0.001) as a,
                PanelClient(sim_b.url, key_b, backoff=0.001) as b,
                Journal(journal_path(path)) as journal,
            ):
                panels = Panels(a, default_name="a", open_profile=lambda name: b)
                Engine(open_workbook(str(path)), panels, journal, RunOptions()).execute(command)

        execute("place", DEFAULT_API_KEY)
        sim_a.advance(5)
        with pytest.raises(InvalidKeyError) as refused:
            execute("status", "sk-revoked-0123456789")
        # Which of the two panels refused its key: b's own address, never the key.
        assert sim_b.url in str(refused.value) and sim_a.url not in str(refused.value)
        assert "sk-revoked" not in str(refused.value)
    out = read_orders(path)
    assert {r["Status"] for r in out[:250]} == {"Completed"}
    assert {r["Status"] for r in out[250:]} == {"Pending"}


@pytest.mark.parametrize("command", ["place", "status"])
def test_ctrl_c_while_rows_are_handed_to_the_book_loses_none_of_them(
    tmp_path, sim, client, monkeypatch, command
):
    """Ctrl-C (or any error) inside the book's write_cells at a refresh's hand-over: the
    rows taken from the run's buffer for it are still saved by the commit the run makes on
    its way out. ``place`` refreshes the rows it placed: their new Order IDs, not saved yet,
    were among the rows taken, and the journal marked them synced all the same (a next run
    would not find them in the sheet); ``status``: the statuses were not saved at all."""
    if command == "place":
        book = make_orders_book(tmp_path / "o.xlsx", GOOD_ROWS)
    else:  # every output column there: a first run adding columns hands nothing over
        book = make_orders_book(tmp_path / "o.xlsx", _open_orders(sim, 30), REFRESH_HEADER)
    monkeypatch.setattr(batch, "_HAND_OVER_ROWS", 1)
    monkeypatch.setattr(batch._Idle, "fits", lambda self: True)
    real_hand_over, real_write = Engine._hand_over, XlsxWorkbook.write_cells
    interrupted: list[bool] = []

    def hand_over(self, numbers, before_row):
        interrupted.append(False)
        try:
            return real_hand_over(self, numbers, before_row)
        finally:
            interrupted.pop()

    def write_cells(self, sheet, cells):
        if interrupted and not interrupted[-1]:
            interrupted[-1] = True
            list(cells.items())  # part of the way through
            raise KeyboardInterrupt
        return real_write(self, sheet, cells)

    monkeypatch.setattr(Engine, "_hand_over", hand_over)
    monkeypatch.setattr(XlsxWorkbook, "write_cells", write_cells)
    with pytest.raises(KeyboardInterrupt):
        run(book, client, command)
    after = read_orders(book)
    if command == "place":
        assert_sheet_matches_panel(book, sim)
        assert sorted(r["Order ID"] for r in after) == sorted(sim.orders)
    else:
        assert all(r["Status"] == "In progress" for r in after)
    monkeypatch.setattr(Engine, "_hand_over", real_hand_over)
    monkeypatch.setattr(XlsxWorkbook, "write_cells", real_write)
    run(book, client, "run")
    assert sim.counts["add"] == (3 if command == "place" else 0)


def test_a_refresh_stopped_by_an_error_gives_the_gil_turns_back_while_its_error_is_kept(
    tmp_path, sim, client
):
    """A fleet keeps a book's error (BookRun.error) and with it the run's frames: the one
    panel's status stream they hold, suspended, kept the 1 ms turns for the whole process
    and its request threads waiting, for as long as the error was kept."""
    import sys
    import threading

    from smmsheet.errors import WorkbookError

    header = (*ORDER_HEADER_FOR_TESTS, "Order ID", "Status")
    rows = [
        (1, f"https://instagram.com/p/kept-{i}", 100, None, None, None, None, None, 1000 + i, "")
        for i in range(1000)
    ]
    book = make_orders_book(tmp_path / "o.xlsx", rows, header)
    before = sys.getswitchinterval()

    def progress(label: str, done: int, total: int) -> None:
        if label == "status" and done:
            raise WorkbookError("the book could not be written")  # a hand-over's save, say

    with pytest.raises(WorkbookError) as kept:  # kept, as run_books keeps it
        run(book, client, "status", progress=progress)
    assert kept.value
    assert sys.getswitchinterval() == before
    assert not [t for t in threading.enumerate() if t.name == "smmsheet-chunks"]


def test_merged_stopped_while_starting_its_readers_stops_the_ones_started(sim, client, monkeypatch):
    """A Ctrl-C in a reader's start() left the readers already started reading their
    panel's whole stream (every status request sent, 1 ms GIL turns held) with no one to
    read what they put."""
    import threading
    import time

    from smmsheet.batch import merged

    start = threading.Thread.start

    def starting(thread: threading.Thread) -> None:
        start(thread)
        if thread.name == "test-start-1":
            raise KeyboardInterrupt

    monkeypatch.setattr(threading.Thread, "start", starting)
    streams = {key: client.status_chunks(range(1, 5001)) for key in ("a", "b")}
    reading = merged(streams, "test-start")
    with pytest.raises(KeyboardInterrupt):
        next(reading)
    time.sleep(0.3)
    assert not [
        t
        for t in threading.enumerate()
        if t.name.startswith(("test-start", "smmsheet-"))
        if t.name != "smmsheet-deadlines"
    ]
    assert sim.counts["status"] < 50  # of 2 x 50 chunks


# --------------------------------------------------------------------------- asked ahead


def _eventually(test, seconds: float = 10.0) -> None:
    """Wait for ``test``: the simulator tells ``on_request`` after it has answered."""
    import time

    end = time.monotonic() + seconds
    while not test():
        assert time.monotonic() < end, "not in time"
        time.sleep(0.01)


def _chunk_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name == "smmsheet-chunks"]


def test_a_status_run_asks_the_panel_while_it_still_reads_its_sheet(
    tmp_path, sim, client, monkeypatch
):
    """Issue 14: a 100,000-row refresh sent nothing for its first second (the read, the
    table, the gather). The first open orders read are asked about at once, nothing is
    asked twice, and every row gets its own order's answer."""
    import time

    rows = _open_orders(sim, 250)
    book = make_orders_book(tmp_path / "o.xlsx", rows, REFRESH_HEADER[:5])
    asked: list[tuple[str, ...]] = []
    sim.on_request = lambda request: asked.append(request.ids)
    read = XlsxWorkbook.read_values

    during_read: list[int] = []

    def reading(self, sheet, watch=None):
        grid = read(self, sheet, watch)
        end = time.monotonic() + 10
        while not asked and time.monotonic() < end:  # a read that asked nothing ahead
            time.sleep(0.01)  # would wait here in vain: the read ends before any request
        during_read.append(len(asked))
        return grid

    monkeypatch.setattr(XlsxWorkbook, "read_values", reading)
    report = run(book, client, "status")
    assert during_read[0] >= 1, "nothing was asked while the sheet was read"
    assert sim.counts["status"] == 3  # 250 ids: 100 + 100 ahead, the last 50 with the refresh
    _eventually(lambda: len(asked) == 3)  # the simulator tells after it has answered
    assert sorted(int(i) for ids in asked for i in ids) == [r[3] for r in rows]
    assert not report.failed
    assert_sheet_matches_panel(book, sim)
    out = read_orders(book)
    assert {r["Status"] for r in out} == {"In progress"}
    assert [r["Start Count"] for r in out] == list(range(250))
    assert not _chunk_threads()


def test_an_id_asked_ahead_that_the_refresh_does_not_want_is_dropped(tmp_path, sim, client):
    """A Table's totals row reads as a row while the sheet is read (its count, 199, looks
    like an order id) and is blanked after: the panel's answer about "order 199" belongs
    to no row and is dropped; the totals row stays as it was."""
    import xlsxwriter

    rows = _open_orders(sim, 199)
    path = tmp_path / "totals.xlsx"
    book = xlsxwriter.Workbook(str(path))
    columns = [{"header": h} for h in REFRESH_HEADER[:3]]
    columns += [
        {"header": "Order ID", "total_function": "count", "total_value": 199},
        {"header": "Status"},
    ]
    sheet = book.add_worksheet("Orders")
    sheet.add_table(f"A1:E{len(rows) + 2}", {"columns": columns, "data": rows, "total_row": True})
    book.close()
    asked: list[str] = []
    sim.on_request = lambda request: asked.extend(request.ids)
    report = run(path, client, "status")
    _eventually(lambda: "199" in asked)  # asked ahead, with the first 200 ids read
    assert not report.failed and not report.error_rows
    out = read_orders(path)
    assert out[-1]["Order ID"] == "=SUBTOTAL(103,[Order ID])" and out[-1]["Status"] is None
    assert [r["Status"] for r in out[:-1]] == ["In progress"] * 199
    assert not _chunk_threads()


def test_an_adapter_without_a_row_watch_refreshes_as_before(tmp_path, sim, client):
    """A WorkbookAdapter written before ``read_values(watch=)`` failed every status run
    with a TypeError; it now reads as it did, and the refresh asks for every id itself."""
    from smmsheet.batch import Engine, RunOptions
    from smmsheet.journal import Journal, journal_path

    class Older(XlsxWorkbook):
        def read_values(self, sheet):  # type: ignore[override]
            return super().read_values(sheet)

    rows = _open_orders(sim, 150)
    path = make_orders_book(tmp_path / "o.xlsx", rows, REFRESH_HEADER[:5])
    with Journal(journal_path(path)) as journal:
        engine = Engine(Older(path), client, journal, RunOptions(), command="status")
        report = engine.execute("status")
    assert not report.failed and report.saved
    assert sim.counts["status"] == 2
    assert [r["Status"] for r in read_orders(path)] == ["In progress"] * 150
    assert not _chunk_threads()


def _read_until_asked_ahead(monkeypatch, sim) -> None:
    """Reads of the sheet given a watch (status asked ahead) end once a request went out."""
    read = XlsxWorkbook.read_values

    def reading(self, sheet, watch=None):
        grid = read(self, sheet, watch)
        if watch is not None:
            _eventually(lambda: sim.counts.get("status", 0) >= 1)
        return grid

    monkeypatch.setattr(XlsxWorkbook, "read_values", reading)


def test_a_status_run_on_a_read_only_workbook_asks_the_panel_nothing(
    tmp_path, sim, client, monkeypatch
):
    """The run refuses a file it cannot save before its refresh; it used to read the sheet
    first, asking ahead about its first 20,000 open orders, and then wait for the requests
    in flight (a request's deadline, on a panel that hangs) before it told the user."""
    import os
    import stat
    import sys

    sim.faults.latency = 0.05
    rows = _open_orders(sim, 3000)
    book = make_orders_book(tmp_path / "orders.xlsx", rows, REFRESH_HEADER[:5])
    before_bytes, before = book.read_bytes(), sys.getswitchinterval()
    os.chmod(book, stat.S_IRUSR | stat.S_IRGRP)
    _read_until_asked_ahead(monkeypatch, sim)
    with pytest.raises(WorkbookError, match="read-only"):
        run(book, client, "status")
    assert sim.counts.get("status", 0) == 0
    assert not _chunk_threads()
    assert sys.getswitchinterval() == before
    assert book.read_bytes() == before_bytes


def test_a_status_run_stopped_after_its_read_stops_what_it_asked_ahead(
    tmp_path, sim, client, monkeypatch
):
    """A sheet with no room for its output columns is refused once it is read, when its
    first open orders were asked about already: those requests stop, none is left."""
    import sys

    from smmsheet.orders import MAX_COL

    sim.faults.latency = 0.05
    rows = _open_orders(sim, 300)
    header = [*REFRESH_HEADER[:5], *[""] * (MAX_COL - 6), "Notes"]
    book = make_orders_book(tmp_path / "orders.xlsx", rows, header)
    before_bytes, before = book.read_bytes(), sys.getswitchinterval()
    _read_until_asked_ahead(monkeypatch, sim)
    with pytest.raises(LayoutError, match="no room for the output columns"):
        run(book, client, "status")
    assert sim.counts["status"] >= 1
    assert not _chunk_threads()
    assert sys.getswitchinterval() == before
    assert book.read_bytes() == before_bytes


def test_a_panel_down_for_the_requests_asked_ahead_is_one_message(tmp_path, sim, client):
    """As without asking ahead: no request got through, so one message, no row touched."""
    rows = _open_orders(sim, 250)
    book = make_orders_book(tmp_path / "o.xlsx", rows, REFRESH_HEADER[:5])
    sim.faults.error_rate = 1.0
    report = run(book, client, "status")
    assert report.panel_failed
    assert [m for m in report.messages if "nothing refreshed" in m]
    assert all(r.get("Error") is None and r["Status"] == "Pending" for r in read_orders(book))
    assert not _chunk_threads()


def test_a_command_other_than_the_one_announced_asks_nothing_ahead_twice(tmp_path, sim, client):
    """An engine told `status` and run for `place` refreshes only what it placed."""
    rows = _open_orders(sim, 250)
    book = make_orders_book(
        tmp_path / "o.xlsx", [*rows, (1, "https://x/new", 100)], REFRESH_HEADER[:5]
    )
    with Journal(journal_path(book)) as journal:
        engine = Engine(XlsxWorkbook(book), client, journal, RunOptions(), command="status")
        engine.execute("place")
    assert len(sim.orders) == 251
    assert not _chunk_threads()
    out = read_orders(book)
    assert out[-1]["Order ID"] is not None and out[-1]["Status"] == "Pending"


def test_cancel_on_a_row_whose_order_id_cannot_be_read_never_says_nothing_to_cancel(
    tmp_path, sim, client
):
    # The Order ID became #REF! (a column deleted under a formula): the order exists. "no Order
    # ID in this row, so nothing to cancel; ... clear Cancel to place it" left it running and
    # sent the user to buy it again.
    import openpyxl

    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    run(book, client, "place")
    wb = openpyxl.load_workbook(book)
    header = [c.value for c in wb["Orders"][1]]
    wb["Orders"].cell(2, header.index("Order ID") + 1).value = "#REF!"
    wb["Orders"].cell(2, header.index("Cancel") + 1).value = "x"
    wb.save(book)
    report = run(book, client, "cancel")
    [out] = read_orders(book)
    assert "nothing to cancel" not in out["Error"] and "place it" not in out["Error"]
    assert "#REF!" in out["Error"] and out["Cancel"] == "x" and report.failed


def test_a_run_on_a_sheet_hiding_its_rows_by_default_still_refreshes(tmp_path, sim, client):
    """A sheet whose rows are hidden unless told (``<sheetFormatPr zeroHeight="1">``: Excel's
    "hide every unused row") with a row that will never place (an unknown service): a
    scheduled ``run`` stopped at the place, every time, and its open orders were never
    refreshed again. The rows that may be out of sight are still not bought; each says why,
    and the refresh goes on."""
    import re

    from . import workbooks as wb

    path = make_orders_book(tmp_path / "zero.xlsx", [(1, "https://a", 100), (999, "https://b", 1)])
    first = run_engine(path, client, "place")
    assert sim.counts["add"] == 1 and first.saved
    part = wb.ORDERS_PART
    xml = re.sub(
        rb"<sheetFormatPr ", b'<sheetFormatPr zeroHeight="1" ', wb.read_member(path, part), count=1
    )
    assert b"zeroHeight" in xml
    wb.replace_member(path, part, xml)
    asked = sim.counts["status"]
    report = run_engine(path, client, "run", confirm=lambda preview: True)
    assert sim.counts["add"] == 1  # nothing that may be hidden was bought
    assert sim.counts["status"] > asked  # the open order was asked about
    assert report.saved
    rows = read_orders(path)
    assert rows[0]["Order ID"] is not None and rows[1]["Order ID"] is None
    assert "Unhide Rows" in rows[1]["Error"]
