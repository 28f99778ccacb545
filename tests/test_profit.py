"""Profit per row: Sell price in, Cost, Profit and Margin out, from the charge the panel
reported, converted with the Settings sheet's rates into one currency (issue 13, item 3).

The engine tests run two simulators at once: ``a`` (the default profile, USD) and ``b``
(EUR). Service 1 costs 0.90 a 1000 on both: 100 of it is charged 0.09.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from smmsheet.config import workbook_settings
from smmsheet.errors import ConfigError
from smmsheet.money import NoRate, Rates, profit

from .conftest import read_orders
from .two_panels import book, run, two_panels_fixture  # noqa: F401

HEADER = ("Service", "Link", "Quantity", "Panel", "Sell price", "Sell per order")
USD = [("Currency", "USD"), ("Rate EUR", "1.10")]


def money(row):
    """Cost, Profit and Margin as the exact decimals the cells show."""
    return tuple(
        None if row[k] is None else Decimal(str(row[k])) for k in ("Cost", "Profit", "Margin")
    )


def test_profit_per_1000_from_the_charge_the_panel_reported(tmp_path, two_panels):
    path = book(tmp_path / "o.xlsx", HEADER, [(1, "https://x/a", 100, None, "1.50")])
    report = run(path, "place")
    [row] = read_orders(path)
    assert not report.failed and row["Charge"] == 0.09
    # sold 100 at 1.50 a 1000 = 0.15; cost 0.09; margin 0.06 / 0.15
    assert money(row) == (Decimal("0.09"), Decimal("0.06"), Decimal("0.4"))


def test_profit_per_order_when_sell_per_order_is_set(tmp_path, two_panels):
    path = book(tmp_path / "o.xlsx", HEADER, [(1, "https://x/a", 100, None, "$0.20", "x")])
    run(path, "place")
    assert money(read_orders(path)[0]) == (Decimal("0.09"), Decimal("0.11"), Decimal("0.55"))


def test_a_charge_in_another_currency_is_converted_at_the_settings_rate(tmp_path, two_panels):
    rows = [(1, "https://x/a", 100, None, "1.50"), (1, "https://x/b", 100, "b", "1.50")]
    path = book(tmp_path / "o.xlsx", HEADER, rows, settings=USD)
    run(path, "place")
    usd, eur = read_orders(path)
    assert eur["Currency"] == "EUR" and eur["Charge"] == 0.09
    # 0.09 EUR x 1.10 = 0.099 USD exactly; 0.15 - 0.099 = 0.051; 0.051 / 0.15 = 0.34
    assert money(eur) == (Decimal("0.099"), Decimal("0.051"), Decimal("0.34"))
    assert money(usd) == (Decimal("0.09"), Decimal("0.06"), Decimal("0.4"))


def test_a_missing_rate_is_the_rows_error_never_a_guess(tmp_path, two_panels):
    rows = [(1, "https://x/b", 100, "b", "1.50")]
    path = book(tmp_path / "o.xlsx", HEADER, rows, settings=[("Currency", "USD")])
    report = run(path, "place")
    [row] = read_orders(path)
    assert row["Order ID"] == 1001 and money(row) == (None, None, None)
    assert row["Error"].startswith("profit: no rate for EUR") and report.failed


def test_adding_the_rate_later_fills_the_row_and_clears_its_error(tmp_path, two_panels):
    from openpyxl import load_workbook

    rows = [(1, "https://x/b", 100, "b", "1.50")]
    path = book(tmp_path / "o.xlsx", HEADER, rows, settings=[("Currency", "USD")])
    run(path, "place")
    workbook = load_workbook(path)
    workbook["Settings"].append(["Rate EUR", "1.10"])
    workbook.save(path)
    report = run(path, "status")
    [row] = read_orders(path)
    assert not report.failed and row["Error"] is None
    assert money(row)[0] == Decimal("0.099")


def test_a_sell_price_that_cannot_be_read_is_the_rows_error(tmp_path, two_panels):
    path = book(tmp_path / "o.xlsx", HEADER, [(1, "https://x/a", 100, None, "cheap")])
    run(path, "place")
    [row] = read_orders(path)
    assert row["Order ID"] == 1001 and "Sell price must be an amount" in row["Error"]


def test_a_sheet_without_sell_price_gets_no_profit_columns(tmp_path, two_panels):
    path = book(tmp_path / "o.xlsx", ("Service", "Link", "Quantity"), [(1, "https://x/a", 100)])
    run(path, "place")
    assert not {"Cost", "Profit", "Margin"} & set(read_orders(path)[0])


def test_a_partial_order_earns_what_was_delivered_a_canceled_one_nothing(tmp_path, two_panels):
    rows = [(1, "https://x/p", 1000, None, "1.50"), (1, "https://x/c", 1000, None, "1.50")]
    path = book(tmp_path / "o.xlsx", HEADER, rows)
    run(path, "place")
    ids = {o.link: o.id for o in two_panels.a.orders.values()}  # adds go out concurrently
    two_panels.a.set_status(ids["https://x/p"], "Partial", remains=400)
    two_panels.a.set_status(ids["https://x/c"], "Canceled")
    run(path, "status")
    partial, canceled = read_orders(path)
    cost, gain, _ = money(partial)
    assert gain == Decimal("0.90") - cost  # 600 delivered at 1.50 a 1000
    assert money(canceled)[1] == -money(canceled)[0] and money(canceled)[2] is None


def test_exact_decimals_no_binary_rounding():
    result = profit(
        charge=Decimal("0.1"),
        currency="eur",
        sell_price=Decimal("0.7"),
        per_order=True,
        quantity=0,
        remains=None,
        status="Completed",
        rates=Rates("USD", {"EUR": Decimal("3")}),
    )
    assert (result.cost, result.profit, result.margin) == (
        Decimal("0.3"),
        Decimal("0.4"),
        Decimal("0.5714"),
    )


def test_no_reporting_currency_leaves_amounts_as_charged_and_unknown_currency_is_an_error():
    assert Rates().convert(Decimal("0.5"), "GBP") == Decimal("0.5")
    with pytest.raises(NoRate, match="did not say which currency"):
        Rates("USD").convert(Decimal(1), None)


@pytest.mark.parametrize("value", ["-1", "0", "abc"])
def test_a_rate_that_cannot_be_used_stops_the_run(value):
    with pytest.raises(ConfigError, match="Settings!B2"):
        workbook_settings([("Currency", "USD"), ("Rate EUR", value)])


def test_settings_read_the_reporting_currency_and_rates_in_either_spelling():
    settings = workbook_settings(
        [("Currency", "usd"), ("Rate EUR", "1.10"), ("GBP rate", 1.25), ("Rate TRY", None)]
    )
    assert settings.currency == "USD"
    assert dict(settings.rates) == {"EUR": Decimal("1.10"), "GBP": Decimal("1.25")}


def test_a_sell_price_no_cell_can_hold_the_profit_of_is_the_rows_error(tmp_path, two_panels):
    """A Sell price of 1.7e308 a 1000 makes a revenue past the largest number a cell holds:
    the row says so, and the file is still saved (no save that fails on every run)."""
    path = book(tmp_path / "o.xlsx", HEADER, [(1, "https://x/a", 10000, None, 1.7e308)])
    report = run(path, "place")
    [row] = read_orders(path)
    assert row["Order ID"] == 1001 and report.saved
    assert "no cell can hold the profit" in row["Error"]
    assert money(row) == (None, None, None)


def test_a_reporting_currency_that_is_no_currency_code_stops_the_run():
    with pytest.raises(ConfigError, match="Settings!B1 must be a three-letter code"):
        workbook_settings([("Currency", "US dollars")])


def test_the_dashboard_reads_panel_cost_and_profit_as_this_run_wrote_them(tmp_path, two_panels):
    from smmsheet.session import write_report

    rows = [(1, "https://x/a", 100, None, "1.50"), (1, "https://x/b", 100, "b", "1.50")]
    path = book(tmp_path / "o.xlsx", HEADER, rows, settings=USD)
    run(path, "place")
    summary = write_report(path).summary
    assert summary.cost == Decimal("0.189") and summary.profit == Decimal("0.111")
    assert summary.by_panel["a"]["Profit"] == Decimal("0.06")
    assert summary.by_panel["b"]["Profit"] == Decimal("0.051")
    assert summary.by_panel["b"]["EUR"] == Decimal("0.09")


def test_a_settings_row_of_the_users_own_that_ends_in_rate_is_not_a_currency():
    settings = workbook_settings([("Tax rate", "20%"), ("Hourly rate", "abc"), ("RATE GBP", 1.3)])
    assert dict(settings.rates) == {"GBP": Decimal("1.3")}
