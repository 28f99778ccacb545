"""Numbers a person typed into a workbook: read exactly, or refused with the reason. Pure.

Panel replies are read tolerantly (:func:`smmsheet.panel.parse_decimal`); what a person typed
decides what is bought and how much may be spent, so here nothing is guessed: a date, a
TRUE/FALSE, a fraction where a whole number is asked for, or text that could mean two
numbers is refused with a :class:`Unreadable` that says what was seen.

Thousands may be grouped with spaces (also no-break and narrow no-break spaces), apostrophes,
commas or dots; the last ``.`` or ``,`` after the groups is the decimal mark. One mark
followed by exactly three digits (``"10.000"``, ``"1,500"``) reads two ways (ten thousand, or
ten with three decimals), and is refused, except that a whole number may use a comma for
thousands (``"10,000"``), since a quantity never has three decimals.

Example::

    >>> whole_number("10 000"), whole_number(1001.0), whole_number("10,000")
    (10000, 1001, 10000)
    >>> amount("$1,234.50"), amount("25,00 EUR")
    (Decimal('1234.50'), Decimal('25.00'))
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation

__all__ = ["Unreadable", "amount", "whole_number"]

#: Characters that only ever group thousands.
_GROUP_SPACES = " \u00a0\u202f\u2009\u2007'\u2019"
_SHAPE = re.compile(r"[+-]?\d[\d.,\u00a0\u202f\u2009\u2007 '\u2019]*")
#: A currency mark before or after an amount: a symbol or a three-letter code.
#: Codes are upper case ("25 USD"); a few common ones in any case ("25 usd"), so that words
#: such as "mln" are not taken for a currency.
_CURRENCY = r"(?:[$€£¥₽₹₺₴₦₩]|[A-Z]{3}|(?i:usd|eur|gbp|rub|inr|try|uah|brl|idr|cad|aud))"
_AMOUNT = re.compile(
    rf"\s*(?:{_CURRENCY}\s*)?(?P<number>[^$€£¥₽₹₺₴₦₩A-Za-z]+?)\s*(?:{_CURRENCY})?\s*"
)


class Unreadable(ValueError):
    """A typed value that is not the number asked for.

    ``shown`` is the value as the user should recognise it (``'lots'``, ``a date
    (2024-03-05)``); ``hint``, when set, says what to type instead.
    """

    def __init__(self, shown: str, hint: str = "") -> None:
        super().__init__(f"{shown}; {hint}" if hint else shown)
        self.shown = shown
        self.hint = hint


def _shown(value: object) -> str:
    """How a cell value is named in a message."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        timed = value.time() != dt.time()
        stamp = value.strftime("%Y-%m-%d %H:%M" if timed else "%Y-%m-%d")
        return f"a date ({stamp})"
    if isinstance(value, dt.date):
        return f"a date ({value.isoformat()})"
    if isinstance(value, dt.time):
        return f"a time ({value.isoformat()})"
    if isinstance(value, float):
        return repr(value)
    return repr(str(value).strip()) if isinstance(value, str) else str(value)


def _not_a_number_cell(value: object) -> Unreadable | None:
    """Cells that hold something else than a number, whatever they display."""
    if isinstance(value, bool):
        return Unreadable(_shown(value))
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return Unreadable(_shown(value), "format the cell as Number and type the number again")
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return Unreadable(_shown(value))
    return None


def _read_text(text: str, *, comma_groups: bool) -> Decimal:
    """The exact number written in ``text``; raises :class:`Unreadable` when there is none."""
    body = text.strip()
    if not _SHAPE.fullmatch(body) or not body[-1].isdigit():
        raise Unreadable(repr(text.strip()))
    sign = ""
    if body[0] in "+-":
        sign, body = body[0], body[1:]
    spaces = {c for c in body if c in _GROUP_SPACES}
    marks = [c for c in body if c in ".,"]
    if len(spaces) > 1:
        raise Unreadable(repr(text.strip()))
    group = spaces.pop() if spaces else ""
    decimal = ""
    if "." in marks and "," in marks:  # "1,234.50" / "1.234,50": the last mark is decimal
        decimal = "." if body.rfind(".") > body.rfind(",") else ","
        if group or marks.count(decimal) != 1:
            raise Unreadable(repr(text.strip()))
        group = "," if decimal == "." else "."
    elif len(marks) > 1:  # "1,000,000" / "1.000.000": only groups
        if group:
            raise Unreadable(repr(text.strip()))
        group = marks[0]
    elif marks:
        mark = marks[0]
        head, tail = body.split(mark)
        looks_grouped = len(tail) == 3 and not group and 1 <= len(head) <= 3
        if looks_grouped and mark == "," and comma_groups:
            group = ","
        elif looks_grouped and head != "0":
            big, small = int(head + tail), f"{Decimal(head + '.' + tail).normalize():f}"
            raise Unreadable(
                repr(text.strip()),
                f"it could mean {big} or {small}: type {big} or {small} without separators",
            )
        else:
            decimal = mark
    whole, _, fraction = body.partition(decimal) if decimal else (body, "", "")
    groups = whole.split(group) if group else [whole]
    valid = all(g.isdigit() and g.isascii() for g in groups) and (
        len(groups) == 1 or (1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]))
    )
    if not valid or (decimal and not (fraction.isdigit() and fraction.isascii())):
        raise Unreadable(repr(text.strip()))
    try:
        return Decimal(sign + "".join(groups) + ("." + fraction if decimal else ""))
    except InvalidOperation:
        raise Unreadable(repr(text.strip())) from None


def whole_number(value: object) -> int:
    """A whole number typed in a cell (a number, or text with thousands separators).

    Raises :class:`Unreadable` for a date, TRUE/FALSE, a fraction or text that is not
    exactly one whole number; never truncates.

    >>> whole_number("1.000.000"), whole_number(" 50 ")
    (1000000, 50)
    """
    problem = _not_a_number_cell(value)
    if problem is not None:
        raise problem
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        if isinstance(value, Decimal) and not value.is_finite():
            raise Unreadable(_shown(value))
        if value != int(value):
            raise Unreadable(_shown(value))
        return int(value)
    number = _read_text(str(value), comma_groups=True)
    if number != number.to_integral_value():
        raise Unreadable(repr(str(value).strip()))
    return int(number)


def amount(value: object) -> Decimal:
    """An amount of money typed in a cell or a flag: ``25``, ``"$25"``, ``"25,00 €"``.

    A currency mark (a symbol or a three-letter code) before or after the number is
    allowed and ignored: amounts are in the panel account's currency. Raises
    :class:`Unreadable` for anything else, and for ``"1,500"``-like text that reads two ways.

    >>> amount("25 USD"), amount(" 1 234,5 ")
    (Decimal('25'), Decimal('1234.5'))
    """
    problem = _not_a_number_cell(value)
    if problem is not None:
        raise problem
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise Unreadable(_shown(value))
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    text = str(value)
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise Unreadable(repr(text.strip()))
    try:
        return _read_text(match.group("number"), comma_groups=False)
    except Unreadable as exc:
        raise Unreadable(repr(text.strip()), exc.hint) from None
