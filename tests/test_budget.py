"""Never over budget: unknown prices, package estimates and the charges the panel reports.

Real .xlsx files and the simulator, with services whose listing misleads (no rate, a
package billed per 1000) as real panels do.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from decimal import Decimal

import pytest

from smmsheet.batch import Preview
from smmsheet.journal import Action, Journal, Resolution, State, journal_path
from smmsheet.money import Rates
from smmsheet.panel import PanelClient
from smmsheet.simulator import PanelSimulator

from .conftest import make_orders_book, read_orders, run_engine
from .scripted import ScriptedPanel, json_reply

NO_RATE, RATE_NA, RATE_NEGATIVE, PACKAGE_PER_1000 = 30, 31, 32, 33


@pytest.fixture
def sim(misleading_sim: PanelSimulator) -> PanelSimulator:
    """The default catalogue plus the misleading services (replaces conftest's ``sim``)."""
    return misleading_sim


run = run_engine


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


@pytest.mark.parametrize(
    ("listed", "read"),
    [
        ("0.90", "0.90"),
        ("$0.90", "0.90"),
        ("12.50 EUR", "12.50"),
        ("1 500", "1500"),
        ("1.234,56", "1234.56"),
        ("0,5", "0.5"),
        ("1.5k", None),
        ("1_000", None),
        ("0x10", None),
        ("0.5 - 1.5", None),
        ("from 0.5", None),
        ("1,234", None),  # 1234 or 1.234: a price is never guessed
    ],
)
def test_a_rate_is_read_exactly_or_is_no_price(listed, read):
    from smmsheet.models import Service

    rate = Service.from_api({"service": 1, "rate": listed}).rate
    assert rate == (None if read is None else Decimal(read))


def place_under_a_cap(tmp_path, rates, cap):
    """Place one row of 1000 of service 1, listed at each of ``rates``, under ``cap``: the
    row as it then reads, and the adds the panel got."""
    entries = [
        {"service": 1, "name": "F", "type": "Default", "rate": rate, "min": 10, "max": 100000}
        for rate in rates
    ]

    def script(form):
        if form["action"] == "services":
            return json_reply(json.dumps(entries))
        if form["action"] == "balance":
            return json_reply('{"balance": "100000", "currency": "USD"}')
        return json_reply('{"order": 1}')

    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://x", 1000)])
    with ScriptedPanel(script) as panel, PanelClient(panel.url, "k") as c:
        run(book, c, "place", max_spend=Decimal(cap))
    [row] = read_orders(book)
    return row, [f for f in panel.forms if f["action"] == "add"]


@pytest.mark.parametrize("listed", ["1 500", "1.5k", "0x10", "1.234,56"])
def test_a_cap_is_never_passed_on_a_misread_rate(tmp_path, listed):
    """Found by an attacker's review: the first number in the text was taken as the rate."""
    row, adds = place_under_a_cap(tmp_path, [listed], 5)
    assert not adds and row["Order ID"] is None and row["Error"]


@pytest.mark.parametrize("rates", [["100", "0.01"], ["0.01", "100"]])
def test_a_service_listed_twice_at_two_prices_is_capped_at_the_dearer(tmp_path, rates):
    """A panel listing service 1 in two categories, at 0.01 and at 100 per 1000: the last
    entry's price was taken, and an order charged 100 passed a cap of 1."""
    row, adds = place_under_a_cap(tmp_path, rates, 1)
    assert not adds and row["Order ID"] is None and "max-spend" in row["Error"]


def test_smm_cost_of_a_service_without_a_price_says_so(client):
    from smmsheet.formulas import UdfPanel, smm_cost

    assert smm_cost(RATE_NA, 100, panel=UdfPanel(client)) == (
        f"#SMM: the panel lists no price for service {RATE_NA}"
    )


PACKAGE = 11  # billed at its rate, 3.00 a package


def test_packages_are_not_refused_on_an_estimate_1000_times_too_high(tmp_path, sim, client):
    sim.balance = Decimal(5)
    rows = [(PACKAGE_PER_1000, f"https://p/{i}") for i in range(10)]  # 3.00 listed, 0.003 billed
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    report = run(book, client, "place")
    assert len(sim.orders) == 10 and not report.failed
    assert sim.balance == Decimal("4.97")
    assert report.preview is not None and report.preview.cost_low == Decimal("0.03")
    assert report.preview.cost == Decimal(30)


def test_a_cap_is_checked_against_the_highest_plausible_package_price(tmp_path, sim, client):
    rows = [(PACKAGE_PER_1000, f"https://p/{i}") for i in range(3)]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    run(book, client, "place", max_spend=Decimal(5))
    out = read_orders(book)
    assert len(sim.orders) == 1 and "up to 3.00" in out[1]["Error"]


def test_a_package_billed_at_its_rate_beyond_the_balance_is_refused_by_the_panel(
    tmp_path, sim, client
):
    sim.balance = Decimal(5)
    book = make_orders_book(tmp_path / "o.xlsx", [(PACKAGE, f"https://p/{i}") for i in range(3)])
    report = run(book, client, "place")
    out = read_orders(book)
    assert len(sim.orders) == 1 and sim.balance == Decimal(2)
    # Adds go out concurrently, so any one of the three rows may be the one the panel took.
    [placed] = [r for r in out if r["Order ID"]]
    assert placed["Error"] in (None, "")
    assert [r["Error"] for r in out if r is not placed] == ["Not enough funds on balance"] * 2
    assert report.counts()[("place", "failed")] == 2


def test_totals_use_the_charges_the_panel_reported_and_say_when_they_differ(tmp_path, sim, client):
    rows = [
        (PACKAGE_PER_1000, "https://p/1"),
        (PACKAGE_PER_1000, "https://p/2"),
        (1, "https://a", 100),
    ]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    report = run(book, client, "place")
    assert report.spent == Decimal("0.096") and report.uncharged == 0
    assert report.spent == Decimal(1000) - sim.balance
    [said] = [m for m in report.messages if "other amounts than estimated" in m]
    assert "row 2: estimated 3.00, charged 0.003" in said and "row 4" not in said
    assert "2 orders" in said


def test_a_quantity_the_type_ignores_is_a_note_in_the_row_and_the_row_is_placed(
    tmp_path, sim, client
):
    lines = "\n".join(f"nice {i}" for i in range(10))
    rows = [
        (PACKAGE, "https://p/1", 5),
        (2, "https://c/1", 100, None, None, lines),  # Custom Comments: 10 lines
        (2, "https://c/2", 10, None, None, lines),  # says the same as the lines: no note
    ]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    report = run(book, client, "place")
    out = read_orders(book)
    assert all(r["Order ID"] for r in out) and not report.failed
    assert out[0]["Error"] == (
        "Note: Quantity 5 is ignored: a Package service orders one package a row"
    )
    assert out[1]["Error"] == (
        "Note: Quantity 100 is ignored: Custom Comments orders one per line of Comments (10 lines)"
    )
    assert out[2]["Error"] is None
    assert sim.orders[out[1]["Order ID"]].quantity == 10
    assert report.counts()[("place", "note")] == 2
    sim.advance(1)
    run(book, client, "status")  # a refresh does not wipe the note
    assert read_orders(book)[0]["Error"].startswith("Note: Quantity 5")


@pytest.mark.parametrize("posts", [None, 0])
def test_a_subscription_without_posts_never_passes_a_cap(tmp_path, sim, client, posts):
    """Found by an attacker's review: priced as one post, it ran for every new post."""
    header = ("Service", "Link", "Username", "Min", "Max", "Delay", "Posts")
    rows = [(17, None, "someone", 100, 200, 0, posts)]
    book = make_orders_book(tmp_path / "o.xlsx", rows, header)
    report = run(book, client, "place", max_spend=Decimal(2))
    [row] = read_orders(book)
    assert row["Order ID"] is None and "Subscription without Posts" in row["Error"]
    assert sim.counts["add"] == 0 and report.failed


def test_a_subscription_with_posts_is_priced_for_them(tmp_path, sim, client):
    header = ("Service", "Link", "Username", "Min", "Max", "Delay", "Posts")
    book = make_orders_book(tmp_path / "o.xlsx", [(17, None, "someone", 100, 200, 0, 3)], header)
    report = run(book, client, "place", dry_run=True)
    assert report.preview is not None and report.preview.cost > 0


# ------------------------------------------------------------------ Max spend per day


def _tomorrow() -> dt.datetime:
    return dt.datetime.now() + dt.timedelta(days=1)


def test_max_spend_per_day_counts_the_days_earlier_runs_and_starts_again_tomorrow(
    tmp_path, sim, client
):
    # Max spend holds for one run: a cron job every 10 minutes spent it every 10 minutes.
    book = make_orders_book(tmp_path / "o.xlsx", [(1, f"https://x/{i}", 1000) for i in range(4)])
    run(book, client, "place", max_spend_per_day=Decimal(2))  # 0.90 each: two fit
    assert sim.counts["add"] == 2
    report = run(book, client, "place", max_spend_per_day=Decimal(2), max_spend=Decimal(5))
    assert sim.counts["add"] == 2  # the day's 1.80 is spent: nothing more today
    said = "--max-spend-per-day 2 USD: 1.80 spent earlier today, nothing more in this run"
    assert said in report.messages  # a cron job's log says why the rows wait
    out = read_orders(book)
    assert [r["Order ID"] for r in out] == [1001, 1002, None, None]
    assert out[2]["Error"] == (
        "Not placed: would exceed --max-spend-per-day 2 USD (1.80 spent earlier today; "
        "this order 0.90): it waits for tomorrow's runs, or a higher cap"
    )
    run(book, client, "place", max_spend_per_day=Decimal(2), now=_tomorrow)
    assert sim.counts["add"] == 4 and all(r["Order ID"] for r in read_orders(book))


def test_an_add_that_may_have_been_placed_counts_for_the_day_and_a_refused_one_does_not(
    tmp_path, sim, client
):
    book = make_orders_book(
        tmp_path / "o.xlsx", [(1, "https://x/1", 1000), (1, "https://x/2", 1000)]
    )
    with Journal(journal_path(book)) as journal:
        spent = {"sheet": "Orders", "fingerprint": "f", "action": Action.ADD}
        maybe = journal.intent(row=9, request={}, cost=Decimal("0.70"), currency="USD", **spent)
        journal.outcome(maybe, State.AMBIGUOUS, "timed out")
        refused = journal.intent(row=10, request={}, cost=Decimal(5), currency="USD", **spent)
        journal.outcome(refused, State.REJECTED, "Not enough funds")
        again = journal.intent(row=11, request={}, cost=Decimal(5), currency="USD", **spent)
        journal.outcome(again, State.AMBIGUOUS, "timed out")
        journal.resolve(again, Resolution.PLACE_AGAIN)  # the panel does not show it
    run(book, client, "place", max_spend_per_day=Decimal(2))  # 0.70 + 0.90: one more fits
    assert [r["Order ID"] for r in read_orders(book)] == [1001, None]
    assert "(0.70 spent earlier today, 0.90 by the rows above;" in read_orders(book)[1]["Error"]


def test_an_order_of_today_with_no_cost_on_record_keeps_the_day_cap_shut(tmp_path, sim, client):
    # An add journaled by an older smmsheet (or an unpriced one): what the day cost is not
    # known, so nothing priced is placed under the day's cap until tomorrow.
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://x/1", 100)])
    with Journal(journal_path(book)) as journal:
        old = journal.intent(sheet="Orders", row=9, fingerprint="f", action=Action.ADD, request={})
        journal.outcome(old, State.ACCEPTED, "77")
    report = run(book, client, "place", max_spend_per_day=Decimal(100))
    assert sim.counts["add"] == 0 and report.failed
    said = read_orders(book)[0]["Error"]
    assert said.startswith("Not placed: --max-spend-per-day 100 USD cannot be kept: 1 order")
    assert said.endswith("or for today clear --max-spend-per-day and use Max spend instead")
    run(book, client, "place", max_spend_per_day=Decimal(100), now=_tomorrow)
    assert sim.counts["add"] == 1


def test_orders_of_the_day_in_a_currency_without_a_rate_keep_the_day_cap_shut(
    tmp_path, sim, client
):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://x/1", 100)])
    with Journal(journal_path(book)) as journal:
        eur = journal.intent(
            sheet="Orders", row=9, fingerprint="f", action=Action.ADD, request={},
            cost=Decimal(1), currency="EUR", panel="eu",
        )  # fmt: skip
        journal.outcome(eur, State.ACCEPTED, "77")
    run(book, client, "place", max_spend_per_day=Decimal(100))
    assert sim.counts["add"] == 0
    assert "no rate for EUR in the Settings sheet" in read_orders(book)[0]["Error"]
    run(book, client, "place", max_spend_per_day=Decimal(100), money=Rates("USD", {"EUR": 2}))
    assert sim.counts["add"] == 1


def test_the_journal_keeps_each_adds_estimate_for_the_days_count(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://x/1", 1000), (30, "https://u", 100)])
    run(book, client, "place", allow_unpriced=True)
    with Journal(journal_path(book)) as journal:
        kept = [(e.cost, e.currency) for e in journal.entries()]
    assert kept == [(Decimal("0.90"), "USD"), (None, "USD")]


def test_a_journal_started_anew_today_keeps_the_day_cap_shut(tmp_path, sim, client):
    # The lost journal held today's adds: a new one counting from 0 spent the cap again.
    book = make_orders_book(tmp_path / "o.xlsx", [(1, f"https://x/{i}", 1000) for i in range(4)])
    run(book, client, "place", max_spend_per_day=Decimal(2))
    assert sim.counts["add"] == 2
    journal_path(book).unlink()
    run(book, client, "place", max_spend_per_day=Decimal(2), journal_lost=lambda _: True)
    assert sim.counts["add"] == 2
    said = read_orders(book)[2]["Error"]
    assert said.startswith("Not placed: --max-spend-per-day 2 USD cannot be kept: this workbook")
    # "or use Max spend for today": the user set Max spend beside it, and nothing was placed
    assert said.endswith("or for today clear --max-spend-per-day and use Max spend instead")
    run(book, client, "place", max_spend_per_day=Decimal(2), max_spend=Decimal(1))
    assert sim.counts["add"] == 2  # still shut today, a run cap beside it or not
    run(book, client, "place", max_spend=Decimal(1))  # following the message
    assert sim.counts["add"] == 3
    run(book, client, "place", max_spend_per_day=Decimal(2), now=_tomorrow)
    assert sim.counts["add"] == 4


def test_a_row_over_the_day_cap_says_what_the_rows_above_took_and_what_to_do(tmp_path, sim, client):
    # "0.00 spent earlier today; this order 0.90" under a cap of 1.5 read as a refusal for
    # nothing: the 0.90 of the row above was not said, nor when the row can go.
    book = make_orders_book(tmp_path / "o.xlsx", [(1, f"https://x/{i}", 1000) for i in range(2)])
    run(book, client, "place", max_spend_per_day=Decimal("1.5"))
    said = read_orders(book)[1]["Error"]
    assert said.startswith(
        "Not placed: would exceed --max-spend-per-day 1.5 USD (0.00 spent earlier today, "
        "0.90 by the rows above; this order 0.90)"
    )
    assert said.endswith("it waits for tomorrow's runs, or a higher cap")


def _zone_at(monkeypatch: pytest.MonkeyPatch, local: dt.time) -> None:
    """Set TZ (POSIX, a whole-second offset) to a zone whose clock shows ``local`` now."""
    utc = dt.datetime.now(dt.UTC)
    seconds = utc.hour * 3600 + utc.minute * 60 + utc.second
    behind = (seconds - (local.hour * 3600 + local.minute * 60)) % 86400  # POSIX: west is +
    hours, rest = divmod(behind, 3600)
    monkeypatch.setenv("TZ", f"ZZZ+{hours}:{rest // 60:02}:{rest % 60:02}")
    time.tzset()


def test_a_time_zone_changed_between_runs_does_not_start_the_day_afresh(
    tmp_path, sim, client, monkeypatch
):
    # TZ set so that midnight had just passed made the day's earlier adds yesterday's: each
    # zone change spent the day's cap once more.
    book = make_orders_book(tmp_path / "o.xlsx", [(1, f"https://x/{i}", 1000) for i in range(4)])
    try:
        _zone_at(monkeypatch, dt.time(12, 0))
        run(book, client, "place", max_spend_per_day=Decimal(2))
        assert sim.counts["add"] == 2
        with sqlite3.connect(journal_path(book)) as db:  # placed an hour ago
            db.execute("UPDATE entries SET created = created - 3600")
        db.close()
        _zone_at(monkeypatch, dt.time(0, 30))  # midnight was half an hour ago here
        run(book, client, "place", max_spend_per_day=Decimal(2))
        assert sim.counts["add"] == 2
        assert "(1.80 spent earlier today" in read_orders(book)[2]["Error"]
        run(book, client, "place", max_spend_per_day=Decimal(2), now=_tomorrow)
        assert sim.counts["add"] == 4
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_row_the_day_cap_can_never_hold_does_not_say_to_wait_for_tomorrow(tmp_path, sim, client):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://x/1", 1000)])
    run(book, client, "place", max_spend_per_day=Decimal("0.50"))
    said = read_orders(book)[0]["Error"]
    assert said.endswith("this order alone is more than the cap; raise the cap to place it")
