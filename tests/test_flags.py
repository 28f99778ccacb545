"""Refill and Cancel flags: what can never work is refused in the sheet, not sent forever.

Real .xlsx files and the simulator over loopback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from smmsheet.batch import is_final_refusal
from smmsheet.journal import Journal, journal_path
from smmsheet.panel import PanelClient
from smmsheet.simulator import PanelSimulator
from smmsheet.workbook.xlsx import XlsxWorkbook

from .conftest import fail_saves_after_the_marker, make_orders_book, read_orders, run_engine

SILENT = 34  # lists neither refill nor cancel, offers both
NO_REFILL_NO_CANCEL = 3
BOTH = 1
REFILL_COL, CANCEL_COL = 7, 8


@pytest.fixture
def sim(misleading_sim: PanelSimulator) -> PanelSimulator:
    """The default catalogue plus the misleading services (replaces conftest's ``sim``)."""
    return misleading_sim


run = run_engine


def placed_book(tmp_path: Path, client: PanelClient, *services: int) -> Path:
    """A workbook whose rows (one per service) are placed, with no flag set yet."""
    rows = [(sid, f"https://x/{i}", 100) for i, sid in enumerate(services)]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    run(book, client, "place")
    return book


def flag(book: Path, cells: dict[tuple[int, int], str]) -> None:
    xb = XlsxWorkbook(book)
    xb.write_cells("Orders", cells)
    xb.save()


def test_a_dry_run_does_not_say_it_removed_a_flag_it_left(tmp_path, sim, client):
    book = placed_book(tmp_path, client, NO_REFILL_NO_CANCEL)
    flag(book, {(2, REFILL_COL): "x"})
    report = run(book, client, "refill", dry_run=True)
    [result] = [r for r in report.results if r.step == "refill"]
    assert read_orders(book)[0]["Refill"] == "x" and sim.counts["refill"] == 0
    assert "was removed" not in result.message and "a run removes the flag" in result.message


def test_a_flag_the_service_does_not_offer_is_refused_once_and_never_sent(tmp_path, sim, client):
    book = placed_book(tmp_path, client, NO_REFILL_NO_CANCEL, NO_REFILL_NO_CANCEL)
    sim.advance(5)
    flag(book, {(2, REFILL_COL): "x", (3, CANCEL_COL): "x"})
    first = run(book, client, "run")
    out = read_orders(book)
    assert sim.counts["refill"] == 0 and sim.counts["cancel"] == 0
    assert out[0]["Refill"] is None and "service 3 does not offer refill" in out[0]["Error"]
    assert out[1]["Cancel"] is None and "service 3 does not offer cancel" in out[1]["Error"]
    assert first.failed  # said once...
    again = run(book, client, "run")
    assert not again.failed  # ...and the next cron run is quiet
    assert sim.counts["refill"] == 0 and sim.counts["cancel"] == 0


def test_a_flag_on_a_service_whose_listing_does_not_say_is_left_to_the_panel(tmp_path, sim, client):
    book = placed_book(tmp_path, client, SILENT)
    sim.advance(5)
    flag(book, {(2, REFILL_COL): "x"})
    report = run(book, client, "refill")
    assert sim.counts["refill"] == 1 and read_orders(book)[0]["Refill ID"] == 501
    assert not report.failed


def test_a_cancel_the_panel_refuses_for_good_clears_the_flag(tmp_path, sim, client):
    book = placed_book(tmp_path, client, BOTH)
    sim.advance(5)  # completed: it can never be canceled now
    flag(book, {(2, CANCEL_COL): "x"})
    report = run(book, client, "cancel")
    [out] = read_orders(book)
    assert out["Cancel"] is None and report.failed
    assert out["Error"].startswith("cancel: Order cannot be canceled; this will not change")
    sim.reset_counts()
    assert not run(book, client, "run").failed and sim.counts["cancel"] == 0


def test_a_refill_refusal_that_may_change_keeps_the_flag(tmp_path, sim, client):
    book = placed_book(tmp_path, client, BOTH)
    flag(book, {(2, REFILL_COL): "x"})
    run(book, client, "refill")  # not completed yet
    [out] = read_orders(book)
    assert out["Refill"] == "x" and out["Error"] == "refill: Order is not completed"


@pytest.mark.parametrize(
    "message",
    [
        "Order cannot be canceled",
        "Order can't be cancelled",
        "Order is completed",
        "This order is already canceled",
        "Incorrect order ID",
        "Refill is disabled for this service",
        "Cancel is disabled for this service",
        "Refill not available for this service",
        "Refill period expired",
    ],
)
def test_refusals_that_can_never_change(message):
    assert is_final_refusal(message)


@pytest.mark.parametrize(
    "message",
    [
        "Order is not completed",
        "Refill is not available yet",
        "Refill not available until 2026-01-10 12:00",
        "Order cannot be canceled yet",
        "Too many requests",
        "You have an active refill for this order",
        "Internal error",
    ],
)
def test_refusals_that_may_change(message):
    assert not is_final_refusal(message)


def test_a_refusal_written_by_run_survives_its_own_status_refresh(tmp_path, sim, client):
    book = placed_book(tmp_path, client, BOTH)
    flag(book, {(2, REFILL_COL): "x"})
    run(book, client, "run")  # refill refused (not completed), then every open order refreshed
    [out] = read_orders(book)
    assert out["Refill"] == "x" and out["Error"] == "refill: Order is not completed"
    assert out["Status"] == "In progress"


def test_cancel_asks_which_orders_and_a_no_sends_nothing(tmp_path, sim, client):
    book = placed_book(tmp_path, client, BOTH, BOTH, BOTH)
    flag(book, {(2, CANCEL_COL): "x", (4, CANCEL_COL): "x"})
    seen = []
    report = run(book, client, "cancel", confirm_cancel=lambda p: seen.append(p) or False)
    ids = [str(r["Order ID"]) for r in read_orders(book)]  # adds run concurrently: any order
    assert [(p.orders, p.rows) for p in seen] == [((ids[0], ids[2]), (2, 4))]
    assert sim.counts["cancel"] == 0 and not report.failed
    assert [r["Cancel"] for r in read_orders(book)] == ["x", None, "x"]
    assert any("canceling not confirmed" in m for m in report.messages)
    run(book, client, "cancel", confirm_cancel=lambda p: True)
    assert sim.counts["cancel"] == 1 and sim.orders[int(ids[2])].status == "Canceled"


def test_a_dry_run_cancel_sends_and_asks_nothing(tmp_path, sim, client):
    book = placed_book(tmp_path, client, BOTH)
    flag(book, {(2, CANCEL_COL): "x"})
    before = book.read_bytes()
    report = run(book, client, "run", dry_run=True, confirm_cancel=lambda p: 1 / 0)
    assert report.counts()[("cancel", "would cancel")] == 1
    assert sim.counts["cancel"] == 0 and book.read_bytes() == before


def test_a_final_cancel_refusal_lost_in_a_crash_is_recovered_with_its_flag_cleared(
    tmp_path, sim, client, monkeypatch
):
    from smmsheet.errors import WorkbookError

    book = placed_book(tmp_path, client, BOTH)
    sim.advance(5)
    flag(book, {(2, CANCEL_COL): "x"})

    fail_saves_after_the_marker(monkeypatch)
    with pytest.raises(WorkbookError):
        run(book, client, "cancel")  # refused and journaled; the sheet never heard of it
    monkeypatch.undo()
    assert read_orders(book)[0]["Cancel"] == "x" and sim.counts["cancel"] == 1
    report = run(book, client, "run")
    [out] = read_orders(book)
    assert out["Cancel"] is None and "this will not change" in out["Error"]
    assert sim.counts["cancel"] == 1 and any("recovered 1" in m for m in report.messages)


def test_a_row_placed_after_its_recovered_refusal_has_its_error_cleared(tmp_path, sim, client):
    from smmsheet.orders import OrderTable

    book = make_orders_book(tmp_path / "o.xlsx", [(BOTH, "https://a", 100)])
    row = OrderTable.from_values(XlsxWorkbook(book).read_values("Orders")).rows[0]
    with Journal(journal_path(book)) as journal:  # a run refused for funds, killed before saving
        entry = journal.intent(
            sheet="Orders", row=2, fingerprint=row.fingerprint(), action="add", request={}
        )
        journal.outcome(entry, "rejected", "Not enough funds on balance")
    run(book, client, "place")  # recovers the refusal, then places the row
    [out] = read_orders(book)
    assert out["Order ID"] == 1001 and out["Error"] is None


@pytest.mark.parametrize("typed", ["xx", "refill", "ok", "done"])
def test_a_flag_cell_holding_a_word_that_is_no_flag_says_so_in_its_row(
    tmp_path, sim, client, typed
):
    # "refill" typed into the Refill column (or "xx", "ok") was read as no flag: nothing was
    # sent and nothing said why, so the reseller waited for a refill never asked for.
    book = placed_book(tmp_path, client, BOTH, BOTH)
    sim.advance(5)
    flag(book, {(2, REFILL_COL): typed, (3, REFILL_COL): "no"})
    report = run(book, client, "refill")
    first, second = read_orders(book)
    assert first["Refill"] == typed and second["Refill"] == "no"  # the user's text stays
    assert first["Error"] == f"refill: {typed!r} is not a flag: type x to ask for a refill"
    assert second["Error"] is None and sim.counts["refill"] == 0 and report.failed
