"""Every reply dialect of real panels, end to end through the engine over a real .xlsx.

Each dialect of the simulator (``smmsheet.simulator.DIALECTS``) words replies like one
family of real panels. The same story runs against each: place (one row refused by the
panel), refill and cancel of several orders a request (some refused, per order), status
until every order is final, refill again, refill status, balance.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import requests

from smmsheet.batch import Engine, Report, RunOptions
from smmsheet.journal import Journal, journal_path
from smmsheet.orders import is_final
from smmsheet.panel import PanelClient
from smmsheet.simulator import (
    DEFAULT_API_KEY,
    DIALECTS,
    E_ACTIVE,
    E_NOT_COMPLETED,
    E_ORDER,
    PanelSimulator,
)
from smmsheet.workbook import open_workbook

from .conftest import ORDER_HEADER, make_orders_book, read_orders

HEADER = (*ORDER_HEADER, "Order ID")
REFILL_COLUMN, CANCEL_COLUMN, ORDER_COLUMN = 7, 8, 9
ROWS = [
    (1, "https://instagram.com/a", 100),  # A: refill refused until completed, then refilled
    (1, "https://instagram.com/a", 200),  # B: same link while A is active: the panel refuses
    (4, "https://youtube.com/c", 500),  # C: canceled while in progress
    (3, "https://instagram.com/p/partial-d", 40),  # D: ends Partial
    (3, "https://instagram.com/p/fail-e", 40),  # E: ends Fail
    # F: an Order ID typed by hand that this panel does not know; its cancel is refused
    (1, "https://instagram.com/f", 100, None, None, None, None, None, "ORD-404"),
]
A, B, C, D, E, F = range(6)


def run(path: Path, client: PanelClient, command: str) -> Report:
    with Journal(journal_path(path)) as journal:
        engine = Engine(open_workbook(str(path)), client, journal, RunOptions(), command=command)
        return engine.execute(command)


def write(path: Path, cells: dict[tuple[int, int], object]) -> None:
    book = open_workbook(str(path))
    book.write_cells("Orders", {(index + 2, column): v for (index, column), v in cells.items()})
    book.save()


def errors(path: Path) -> list[str]:
    return [str(row.get("Error") or "") for row in read_orders(path)]


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_the_engine_runs_end_to_end_in_every_dialect(tmp_path, dialect):
    book = make_orders_book(tmp_path / "o.xlsx", ROWS, header=HEADER)
    with (
        PanelSimulator(dialect=dialect, balance="50") as sim,
        PanelClient(sim.url, DEFAULT_API_KEY, backoff=0.001, max_workers=1) as client,
    ):
        # place: the panel's own refusal reaches the row, in the panel's words
        run(book, client, "place")
        rows = read_orders(book)
        assert rows[B]["Order ID"] is None and E_ACTIVE in rows[B]["Error"], rows[B]
        for index in (A, C, D, E):
            order = sim.find_order(rows[index]["Order ID"])
            assert order is not None and order.link == ROWS[index][1], rows[index]
            assert rows[index]["Error"] is None and rows[index]["Status"], rows[index]
        assert not is_final(rows[A]["Status"])

        # refill and cancel, several orders a request: per-order answers and refusals
        write(book, {(A, REFILL_COLUMN): "x", (C, REFILL_COLUMN): "x"})
        run(book, client, "refill")
        write(book, {(C, REFILL_COLUMN): None, (C, CANCEL_COLUMN): "x", (F, CANCEL_COLUMN): "x"})
        run(book, client, "cancel")
        rows = read_orders(book)
        assert E_NOT_COMPLETED in rows[A]["Error"] and rows[A]["Refill"] == "x"
        assert rows[C]["Status"] == "Cancel requested" and rows[C]["Cancel"] is None
        assert E_ORDER in rows[F]["Error"], rows[F]
        write(book, {(F, ORDER_COLUMN): None, (F, CANCEL_COLUMN): None})

        # status until every order is final, whatever the spelling
        for _ in range(3):
            run(book, client, "status")
        rows = read_orders(book)
        for index in (A, C, D, E):
            assert is_final(rows[index]["Status"]), (dialect, rows[index]["Status"])
            order = sim.find_order(rows[index]["Order ID"])
            assert order is not None and order.status in (
                "Completed",
                "Canceled",
                "Partial",
                "Fail",
            )
        assert rows[D]["Remains"] == 10 and rows[A]["Remains"] == 0
        asked = sim.counts["status"]
        run(book, client, "status")
        assert sim.counts["status"] == asked, "final statuses are not asked for again"

        # refills of a completed and a canceled order in one request: one id, one refusal
        write(book, {(C, REFILL_COLUMN): "x"})
        run(book, client, "refill")
        rows = read_orders(book)
        assert rows[A]["Refill"] is None and rows[A]["Error"] is None
        assert E_NOT_COMPLETED in rows[C]["Error"]
        [refill] = sim.refills.values()
        assert str(rows[A]["Refill ID"]) == sim.public_id(refill)
        for _ in range(3):  # Pending, In progress, then final
            run(book, client, "refill-status")
        assert is_final(read_orders(book)[A]["Refill Status"], refill=True)
        asked = sim.counts["refill_status"]
        run(book, client, "refill-status")
        assert sim.counts["refill_status"] == asked

        # balance, in every wording the dialect has
        for _ in range(3):
            balance = client.balance()
            assert balance.amount == sim.balance and balance.amount < Decimal(50)

    assert not any("unexpected" in text for text in errors(book)), errors(book)


def test_every_dialect_answers_a_bad_key_as_an_invalid_key(tmp_path):
    from smmsheet.errors import InvalidKeyError

    for dialect in DIALECTS:
        with PanelSimulator(dialect=dialect) as sim, PanelClient(sim.url, "wrong") as client:
            with pytest.raises(InvalidKeyError, match="Invalid API key"):
                client.balance()


def test_http_errors_dialect_really_answers_with_http_statuses():
    with PanelSimulator(dialect="http-errors") as sim:
        bad_key = requests.post(sim.url, data={"key": "x", "action": "balance"}, timeout=5)
        unknown = requests.post(
            sim.url, data={"key": sim.api_key, "action": "status", "order": "9"}, timeout=5
        )
    assert (bad_key.status_code, unknown.status_code) == (401, 404)
    assert bad_key.json() == {"error": "Invalid API key"}
    assert unknown.json() == {"error": "Incorrect order ID"}


@pytest.mark.parametrize(
    ("status", "final"),
    [
        *((spelled, True) for spelled in ("Cancelled", "Refunded", "CANCELED ", "Failed", "Fail")),
        *((spelled, True) for spelled in ("completed", "Partial", " partial")),
        *((spelled, False) for spelled in ("Processing", "in_progress", "In progress", "pending")),
        ("In_Progress", False),
        ("", False),
    ],
)
def test_final_status_detection_knows_every_spelling(status, final):
    assert is_final(status) is final
