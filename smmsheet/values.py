"""Values read from outside smmsheet: panel replies tolerantly, what a person typed exactly. Pure.

Two readings, on purpose. A panel's reply is read tolerantly (:func:`parse_decimal`,
:func:`parse_int`, :func:`parse_id`, :func:`parse_bool`, :func:`parse_text`): panels write
``"1,234.56"``, ``"12.50 EUR"``, ``"Unknown"`` or ``null``, and a value that cannot be read is
"no value", never an exception. What a person typed into a workbook decides what is bought
and how much may be spent, so there nothing is guessed (:func:`whole_number`,
:func:`amount`): a date, a TRUE/FALSE, a fraction where a whole number is asked for, or text
that could mean two numbers is refused with an :class:`Unreadable` that says what was seen.

Typed thousands may be grouped with spaces (also no-break and narrow no-break spaces),
apostrophes, commas or dots; the last ``.`` or ``,`` after the groups is the decimal mark. One
mark followed by exactly three digits (``"10.000"``, ``"1,500"``) reads two ways (ten thousand,
or ten with three decimals), and is refused, except that a whole number may use a comma for
thousands (``"10,000"``), since a quantity never has three decimals.

Example::

    >>> parse_decimal("1,234.56"), parse_id(1001.0), parse_int("Unknown")
    (Decimal('1234.56'), '1001', None)
    >>> whole_number("10 000"), whole_number(1001.0), whole_number("10,000")
    (10000, 1001, 10000)
    >>> amount("$1,234.50"), amount("25,00 EUR")
    (Decimal('1234.50'), Decimal('25.00'))
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from decimal import Decimal, InvalidOperation

__all__ = [
    "MAX_ID_CHARS",
    "MAX_NUMBER_DIGITS",
    "Unreadable",
    "UnknownValue",
    "EXCEL_ERRORS",
    "EXCEL_ERROR_NUMBERS",
    "excel_error",
    "amount",
    "is_blank",
    "money",
    "parse_bool",
    "parse_decimal",
    "parse_id",
    "parse_int",
    "parse_text",
    "plural",
    "profile_name",
    "whole_number",
]

# --------------------------------------------------------------------------- panel replies

_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?", re.ASCII)
_NUMBER_ONLY = re.compile(r"[-+]?[\d.,]+", re.ASCII)
_SCIENTIFIC = re.compile(r"\s*[-+]?\d+(?:\.\d*)?[eE][-+]?\d+\s*", re.ASCII)
#: Longest order or refill id we accept from a panel or a cell; longer is garbage.
MAX_ID_CHARS = 100
#: Digits before the decimal point of the largest count or amount we read; beyond is garbage
#: (and Python refuses to turn an int of more than 4,300 digits into text).
MAX_NUMBER_DIGITS = 30
_ID_LIMIT = 10**MAX_ID_CHARS
#: A script's empty value written out as text ({"order": "undefined"}): no id.
_NO_ID_WORDS = frozenset({"undefined", "null", "none", "nil", "nan", "false", "true"})


class UnknownValue(str):
    """A cell whose value cannot be known: an Excel error, or a formula never calculated.

    A workbook's ``read_values`` returns it where the file holds such a cell (an empty
    cell reads as None). Its text is what Excel shows (``#REF!``, ``#N/A``) or, for a
    formula without a calculated value, the formula (``=Ids!A2``). It is never an id:
    an Order ID that reads as one stops its row, since the id it stands for may exist.

        >>> UnknownValue("#REF!") == "#REF!"
        True
    """

    __slots__ = ()


#: Excel's error values by their number (``xlErr...``); COM hands an error cell over as
#: the HRESULT ``0x800A0000 + number``, and xlwings' ``err_to_str`` names only the first seven.
EXCEL_ERROR_NUMBERS = {
    2000: "#NULL!",
    2007: "#DIV/0!",
    2015: "#VALUE!",
    2023: "#REF!",
    2029: "#NAME?",
    2036: "#NUM!",
    2042: "#N/A",
    2043: "#GETTING_DATA",
    2045: "#SPILL!",
    2046: "#CONNECT!",
    2047: "#BLOCKED!",
    2048: "#UNKNOWN!",
    2049: "#FIELD!",
    2050: "#CALC!",
}
#: Excel's error values as a cell shows them (and xlwings hands them over as text).
EXCEL_ERRORS = frozenset(EXCEL_ERROR_NUMBERS.values())
_COM_ERROR_BASE = -0x7FF60000  # 0x800A0000 as a signed 32-bit HRESULT


def excel_error(value: object) -> UnknownValue | None:
    """An Excel error value as xlwings reads it (its text, or COM's HRESULT for the errors
    xlwings does not name), as :class:`UnknownValue`; None for any other value.

    >>> excel_error("#REF!"), excel_error(-2146826243), excel_error(5.0)
    ('#REF!', '#SPILL!', None)
    """
    if type(value) is str:
        return UnknownValue(value) if value in EXCEL_ERRORS else None
    if type(value) is int and value < 0:
        name = EXCEL_ERROR_NUMBERS.get(value - _COM_ERROR_BASE)
        return None if name is None else UnknownValue(name)
    return None


def is_blank(value: object) -> bool:
    """An empty cell or setting: None, or text of spaces only."""
    return value is None or (isinstance(value, str) and not value.strip())


def parse_decimal(value: object) -> Decimal | None:
    """Read a panel number: ``"0.90"``, ``1.5``, ``"1,234.56"``, ``"12.50 EUR"``, ``"0,5"``.

    None when there is no number, or one too large to be real (more than 30 digits).

    >>> parse_decimal("1,234.56")
    Decimal('1234.56')
    """
    if type(value) is str and len(value) <= MAX_NUMBER_DIGITS and _PLAIN_NUMBER.fullmatch(value):
        return Decimal(value)  # the common case: "0.27819", "3572"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return _sane(value)
    if isinstance(value, int):
        return Decimal(value) if abs(value) < 10**MAX_NUMBER_DIGITS else None
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else _sane(Decimal(repr(value)))
    text = str(value)
    if _SCIENTIFIC.fullmatch(text):  # "1e3", "2.5E-4": not "1" followed by junk
        return _sane(Decimal(text.strip()))
    match = _GROUPED_NUMBER.search(text)
    if not match:
        return None
    text = match.group(0)
    if any(space in text for space in _GROUP_SPACES):  # "1 234,50", "1'000": exact or nothing
        try:
            return _sane(_read_text(text, comma_groups=True))
        except Unreadable:
            return None
    if "," in text:
        if "." in text:  # "1,234.56" / "1.234,50": the last mark is the decimal one
            comma = text.rfind(",") > text.rfind(".")
            text = text.replace(".", "").replace(",", ".") if comma else text.replace(",", "")
        elif re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+", text):  # "1,234" / "12,345,678"
            text = text.replace(",", "")
        else:  # "0,5": a decimal comma
            text = text.replace(",", ".")
    try:
        return _sane(Decimal(text))
    except InvalidOperation:
        return None


def _sane(number: Decimal) -> Decimal | None:
    """``number`` when it is finite with at most ``MAX_NUMBER_DIGITS`` integer digits."""
    if not number.is_finite() or number.adjusted() >= MAX_NUMBER_DIGITS:
        return None
    if number.adjusted() < -MAX_NUMBER_DIGITS:  # 1e-999999: zero for any sheet
        return Decimal(0)
    return number


def parse_int(value: object) -> int | None:
    """Read a panel count or id: ``"3572"``, ``3572``, ``"3,572"``, ``12.0``; None if unreadable.

    Numbers of more than ``MAX_NUMBER_DIGITS`` digits are unreadable, never a ValueError.
    """
    if type(value) is int:  # fast paths: ids in a 100,000-order refresh are ints or "3572"
        return value if abs(value) < 10**MAX_NUMBER_DIGITS else None
    if type(value) is str and value.isascii() and value.isdigit():
        return int(value) if len(value) <= MAX_NUMBER_DIGITS else None
    number = parse_decimal(value)
    if number is None or number != number.to_integral_value():
        return None
    return int(number)


def parse_id(value: object) -> str | None:
    """An order or refill id exactly as given, as text; None when there is no usable id.

    Panels send ids as numbers (``151``) or text (``"ORD-01HG..."``). A number becomes its
    digits (a workbook reads ``1001`` back as ``1001.0``); text is kept as it is, stripped.
    0, negative numbers, empty text, booleans, ids too long to be real, a float too large
    to be exact and a script's empty value as text (``"undefined"``, ``"null"``) are "no id".

    >>> parse_id(1001.0), parse_id("ORD-880332"), parse_id(0)
    ('1001', 'ORD-880332', None)
    """
    if type(value) is int:  # fast path: the ids of a big refresh, given as numbers
        return str(value) if 0 < value < _ID_LIMIT else None
    if type(value) is float and 0 < value < 1e15 and value.is_integer():
        return str(int(value))  # fast path: a sheet's ids read back as 1001.0 (exact below 2**53)
    if type(value) is str:
        if value.isascii() and value.isdigit() and len(value) <= MAX_ID_CHARS:
            return value if value.strip("0") else None  # fast path: "1001", as given here
        text = value.strip()
        if not text or len(text) > MAX_ID_CHARS or not text.isprintable() or "\ufffd" in text:
            # control characters, lone surrogates, bytes that were not UTF-8 (read as
            # U+FFFD): no id a panel gave on purpose, nor one that can be sent back exactly
            return None
        if not _NUMBER_ONLY.fullmatch(text):
            # "ORD-01HG...", "ord_5f2": kept exactly
            return None if text.lower() in _NO_ID_WORDS else text
        if text.isdigit():
            return text if text.strip("0") else None
        number = parse_decimal(text)  # "1,234", "151.0", "-5"
        if number is None or number <= 0 or number != number.to_integral_value():
            return None
        return str(int(number))
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if 0 < value < _ID_LIMIT else None
    if isinstance(value, float | Decimal):
        try:
            integral = value == int(value)
        except (OverflowError, ValueError):  # inf, nan
            return None
        exact = not isinstance(value, float) or value < 2**53  # a larger float lost digits
        if integral and exact and 0 < value < _ID_LIMIT:
            return str(int(value))
        return None
    if isinstance(value, UnknownValue):  # #REF!, or a formula never calculated: no id
        return None
    if isinstance(value, str):  # a str subclass (a hyperlinked cell's text)
        return parse_id(str(value))
    return None  # [1001] or {"id": 1001} is no id: never the text of a Python object


def parse_bool(value: object) -> bool:
    """Read a panel flag: ``true``, ``"true"``, ``1``, ``"1"``, ``"yes"`` are True."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "y", "on"}
    return bool(value)


def parse_text(value: object) -> str:
    """A panel text field, stripped; ``""`` for null.

    An object, a list or a boolean where text belongs is shown as the panel wrote it (its
    JSON), never as a Python repr.

    >>> parse_text(" Completed "), parse_text({"text": "Done"}), parse_text(True)
    ('Completed', '{"text": "Done"}', 'true')
    """
    if type(value) is str:  # the common case, first
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bool | dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value).strip()


# --------------------------------------------------------------------------- typed by a person


def profile_name(value: object) -> str:
    """A Panel cell (or a formula's panel argument) as the profile it names; "" for the
    default panel. A whole number names its profile as its text does (Excel reads a typed
    2 as 2.0).

    >>> profile_name(2.0), profile_name(" eu "), profile_name(None)
    ('2', 'eu', '')
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()


#: Characters that only ever group thousands.
_GROUP_SPACES = " \u00a0\u202f\u2009\u2007'\u2019"
#: A number in a panel's text, its thousands possibly grouped by spaces ("1 234,50 RUB").
_GROUPED_NUMBER = re.compile(
    rf"[-+]?[\d.,]+(?:[{_GROUP_SPACES}][0-9]{{3}}(?![0-9])(?:[.,][0-9]+)?)*"
)
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


# --------------------------------------------------------------------------- words for people

#: Amounts are shown with 2 decimals, more when the amount has them (panels charge in
#: thousandths), never more than this.
MAX_PLACES = 5


def money(amount: Decimal | float | int | str | None) -> str:
    """An amount as every line of output shows it: 2 decimals, up to 5 when it has them.

    >>> money(Decimal("4.97900")), money(Decimal("1000.00000")), money(Decimal("0.0060"))
    ('4.979', '1000.00', '0.006')
    """
    if amount is None:
        return ""
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    if not value.is_finite():
        return str(value)
    exponent = value.normalize().as_tuple().exponent
    places = min(max(2, -exponent if isinstance(exponent, int) else 0), MAX_PLACES)
    return f"{value:.{places}f}"


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 order``, ``2 orders``, ``1 entry``/``3 entries`` (``many`` when not ``word + s``).

    >>> plural(1, "order"), plural(2, "order"), plural(0, "entry", "entries")
    ('1 order', '2 orders', '0 entries')
    """
    return f"{count} {word if count == 1 else (many or word + 's')}"
