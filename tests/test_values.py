"""Values from outside: panel replies read tolerantly; numbers typed by people read exactly,
or refused with the reason (never truncated)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from smmsheet.values import (
    Unreadable,
    amount,
    parse_bool,
    parse_decimal,
    parse_id,
    parse_int,
    parse_text,
    whole_number,
)

NNBSP, NBSP = "\u202f", "\u00a0"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.90", Decimal("0.90")),
        ("1,234.56", Decimal("1234.56")),
        ("12.50 EUR", Decimal("12.50")),
        ("0,5", Decimal("0.5")),
        ("12,345,678", Decimal("12345678")),
        # A panel writing its numbers the European way: read whole, never as the first group.
        ("1 234,50", Decimal("1234.50")),
        (f"1{NBSP}234", Decimal("1234")),
        (f"1{NNBSP}000{NNBSP}000 RUB", Decimal("1000000")),
        ("1.234,50", Decimal("1234.50")),
        ("1'234.5", Decimal("1234.5")),
        ("-1 234", Decimal("-1234")),
        ("1.500", Decimal("1.500")),  # a charge of three decimals, as panels send it
        (3, Decimal(3)),
        (1.25, Decimal("1.25")),
        ("", None),
        (None, None),
        ("n/a", None),
        (True, None),
    ],
)
def test_parse_decimal(raw, expected):
    assert parse_decimal(raw) == expected


def test_parse_int_and_bool():
    assert parse_int("3,572") == 3572 and parse_int(12.0) == 12 and parse_int("1.5") is None
    assert parse_bool("true") and parse_bool(1) and parse_bool("1") and not parse_bool("false")
    assert not parse_bool(0) and parse_bool(True)


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        (1001.0, 1001),  # the workbook reader gives every number as a float
        (50, 50),
        (" 50 ", 50),
        ("10 000", 10000),
        (f"10{NBSP}000", 10000),
        (f"10{NNBSP}000", 10000),
        ("10'000", 10000),
        ("10,000", 10000),
        ("1,000,000", 1000000),
        ("1.000.000", 1000000),
        ("1,000.00", 1000),
        ("1.000,00", 1000),
        ("10,00", 10),
        ("-5", -5),
    ],
)
def test_whole_numbers_are_read_exactly(typed, number):
    assert whole_number(typed) == number


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        (dt.datetime(2024, 3, 5), "a date (2024-03-05)"),
        (dt.date(2024, 3, 5), "a date (2024-03-05)"),
        (True, "TRUE"),
        (10.5, "10.5"),
        ("10.5", "'10.5'"),
        ("1,5", "'1,5'"),
        ("10.000", "'10.000'"),
        ("lots", "'lots'"),
        ("1e3", "'1e3'"),
        ("1 0000", "'1 0000'"),
        ("12,345,67", "'12,345,67'"),
        (float("nan"), "nan"),
    ],
)
def test_what_is_not_exactly_a_whole_number_is_refused(typed, shown):
    with pytest.raises(Unreadable) as caught:
        whole_number(typed)
    assert caught.value.shown == shown


def test_a_dot_before_three_digits_is_ambiguous_and_says_what_to_type():
    with pytest.raises(Unreadable, match="could mean 10000 or 10: type 10000 or 10"):
        whole_number("10.000")


@pytest.mark.parametrize(
    "typed", [25, 25.0, "25", "$25", "25 USD", "25 usd", "25,00", "25.00 €", "€ 25", "USD 25"]
)
def test_the_same_amount_written_many_ways(typed):
    assert amount(typed) == Decimal(25)


@pytest.mark.parametrize(
    ("typed", "value"),
    [("1,234.50", "1234.50"), ("1.234,50 EUR", "1234.50"), (f"1{NNBSP}234,5", "1234.5")],
)
def test_amounts_with_thousands(typed, value):
    assert amount(typed) == Decimal(value)


@pytest.mark.parametrize(
    "typed", ["two dollars", "USD", "100 mln", "1,500", "1.500", True, dt.date(2024, 1, 1), ""]
)
def test_unreadable_amounts_are_refused(typed):
    with pytest.raises(Unreadable):
        amount(typed)


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        (" Completed ", "Completed"),
        (None, ""),
        (1500, "1500"),
        ({"text": "Completed", "code": [1, 2]}, '{"text": "Completed", "code": [1, 2]}'),
        (["Likes", "Views"], '["Likes", "Views"]'),
        (True, "true"),
    ],
)
def test_panel_text_that_is_not_text_reads_as_the_panel_wrote_it_not_as_python(sent, shown):
    """A panel sending an object, a list or a boolean where text belongs: the cell and the
    output show its JSON, never a Python repr ("{'text': ...}", "True")."""
    assert parse_text(sent) == shown


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1001", "1001"),  # the engine's own ids, asked again: the fast path
        ("007", "007"),  # a panel's id with leading zeros is its id as written
        ("0", None),
        ("000", None),
        (" 1001 ", "1001"),
        ("1" * 100, "1" * 100),
        ("1" * 101, None),  # longer than any real id
        ("\uff11\uff12", "\uff11\uff12"),  # full-width digits: text, kept as written
        ("\u0661\u0662", "\u0661\u0662"),  # Arabic-Indic digits: the same
        ("1,234", "1234"),
        ("151.0", "151"),
        ("-5", None),
        ("ORD-880332", "ORD-880332"),
        (1001.0, "1001"),
        (1001, "1001"),
        (True, None),
        ("undefined", None),  # a script's missing value as text, never an id
        ("NULL", None),
        (2.0**53, None),  # a float past 2**53 holds no exact id
        (2.0**53 - 1, str(2**53 - 1)),
    ],
)
def test_parse_id(raw, expected):
    assert parse_id(raw) == expected
