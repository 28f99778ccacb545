"""Never over budget: unknown prices, package estimates and the charges the panel reports.

Real .xlsx files and the simulator, with services whose listing misleads (no rate, a
package billed per 1000) as real panels do.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from smmsheet.batch import Engine, Preview, Report, RunOptions
from smmsheet.journal import Journal, journal_path
from smmsheet.panel import PanelClient
from smmsheet.simulator import PanelSimulator, default_services, misleading_services
from smmsheet.workbook import open_workbook

from .conftest import make_orders_book, read_orders

NO_RATE, RATE_NA, RATE_NEGATIVE, PACKAGE_PER_1000 = 30, 31, 32, 33


@pytest.fixture
def sim() -> Iterator[PanelSimulator]:
    """The default catalogue plus the misleading services (replaces conftest's ``sim``)."""
    with PanelSimulator(services=default_services() + misleading_services()) as server:
        yield server


def run(path: Path, client: PanelClient, command: str, **options) -> Report:
    book = open_workbook(str(path))
    with Journal(journal_path(path)) as journal:
        return Engine(book, client, journal, RunOptions(**options)).execute(command)


UNPRICED_ROWS = [
    (sid, f"https://x/{sid}/{i}", 100) for sid in (NO_RATE, RATE_NA, RATE_NEGATIVE) for i in (1, 2)
]


def test_unknown_prices_never_pass_a_cap(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", UNPRICED_ROWS)
    report = run(book, client, "place", max_spend=Decimal("0.01"))
    assert sim.counts["add"] == 0 and not sim.orders
    out = read_orders(book)
    assert all(r["Order ID"] is None for r in out)
    assert all("gives no price for service" in r["Error"] for r in out)
    assert "--max-spend 0.01" in out[0]["Error"]
    assert report.counts()[("place", "unpriced")] == 6 and report.failed


def test_unknown_prices_are_refused_without_a_cap_unless_allowed(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", [*UNPRICED_ROWS[:3], (1, "https://ok", 100)])
    report = run(book, client, "place")
    out = read_orders(book)
    assert [r["Order ID"] for r in out] == [None, None, None, 1001]
    assert "cannot be checked against the balance" in out[0]["Error"]
    assert "--allow-unpriced" in out[0]["Error"] and report.failed
    run(book, client, "place", allow_unpriced=True, max_spend=Decimal(100))  # a cap still wins
    assert sim.counts["add"] == 1
    report = run(book, client, "place", allow_unpriced=True)
    assert sim.counts["add"] == 4 and all(r["Order ID"] for r in read_orders(book))
    assert report.preview is not None and report.preview.unknown_cost == (2, 3, 4)


def test_the_confirmation_lists_rows_whose_price_is_unknown(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://ok", 100), *UNPRICED_ROWS[:2]])
    seen: list[Preview] = []
    run(book, client, "place", confirm=lambda p: seen.append(p) or False)
    assert seen == [Preview(1, Decimal("0.09"), "USD", Decimal("1000.00000"), unpriced=(3, 4))]
    assert sim.counts["add"] == 0


def test_a_missing_na_or_negative_rate_is_no_price_not_a_free_one(client):
    services = {s.id: s for s in client.services()}
    assert [services[i].rate for i in (NO_RATE, RATE_NA, RATE_NEGATIVE)] == [None, None, None]
    assert services[1].rate == Decimal("0.90")


def test_smm_cost_of_a_service_without_a_price_says_so(client):
    from smmsheet.udf import UdfPanel, smm_cost

    assert smm_cost(RATE_NA, 100, panel=UdfPanel(client)) == (
        f"#SMM: the panel lists no price for service {RATE_NA}"
    )
