"""Cell encoding: Python values as cell XML text, Excel date serials, A1 references, and the
checks a value passes before it is buffered.

Pure functions over values and strings; no XML trees, no zip. Imports :mod:`..base` only.

>>> encode_value(dt.date(2024, 1, 1), date1904=False)
(None, '45292.0', False)
>>> parse_ref("AB12"), range_ref(2, 2, 9, 4)
((12, 28), 'B2:D9')
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from smmsheet.errors import WorkbookError

from ..base import CellValue, cell_value_problem, clean_text

__all__ = [
    "CALAMINE_ODD_TYPES",
    "check_value",
    "col_letters",
    "col_number",
    "encode_value",
    "EXCEL_ESCAPE",
    "excel_serial",
    "find_ref",
    "from_calamine",
    "parse_range",
    "parse_ref",
    "range_ref",
    "xml_escape",
    "xml_unescape",
]


# Excel decodes "_xHHHH_" in cell text; a literal one is written with its "_" escaped.
EXCEL_ESCAPE = re.compile("(_x[0-9A-Fa-f]{4}_)")
_CELL_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]+)$")
_ENTITY = re.compile(r"&(?:(amp|lt|gt|quot|apos)|#([0-9]+)|#x([0-9A-Fa-f]+));")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)
_LOTUS_LEAP_DAY = dt.datetime(1900, 3, 1)
CALAMINE_ODD_TYPES = frozenset({dt.timedelta, dt.time})


def from_calamine(value: object) -> CellValue:
    """A calamine value as a CellValue: "" is an empty cell, durations are day fractions."""
    if value == "":
        return None
    if isinstance(value, dt.timedelta):
        return value / dt.timedelta(days=1)
    if isinstance(value, dt.time):
        return (value.hour * 3600 + value.minute * 60 + value.second) / 86400 + (
            value.microsecond / 86_400_000_000
        )
    return value  # type: ignore[return-value]


def check_value(value: CellValue) -> CellValue:
    """Refuse what a cell cannot hold before anything is buffered; clean untrusted text."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if not isinstance(value, int | float | Decimal | dt.date):
        raise TypeError(f"cannot write a {type(value).__name__} to a cell")
    problem = cell_value_problem(value)
    if problem is not None:
        raise WorkbookError(f"cannot write to a cell: {problem}")
    return value


_LETTERS_TO_COL: dict[str, int] = {}
_COL_TO_LETTERS: dict[int, str] = {}


def col_letters(col: int) -> str:
    letters = _COL_TO_LETTERS.get(col)
    if letters is None:
        n, out = col, ""
        while n:
            n, rem = divmod(n - 1, 26)
            out = chr(65 + rem) + out
        letters = _COL_TO_LETTERS[col] = out
    return letters


def col_number(letters: str) -> int:
    col = _LETTERS_TO_COL.get(letters)
    if col is None:
        col = 0
        for char in letters.upper():
            col = col * 26 + ord(char) - 64
        _LETTERS_TO_COL[letters] = col
    return col


def parse_ref(ref: str) -> tuple[int, int]:
    """``"AB12"`` -> ``(12, 28)``."""
    match = _CELL_REF.match(ref)
    if match is None:
        raise WorkbookError(f"bad cell reference {ref!r} in the workbook")
    return int(match.group(2)), col_number(match.group(1))


def find_ref(ref: str) -> tuple[int, int] | None:
    """:func:`parse_ref` for a reference read from a file that may hold anything: None for
    what is no cell reference (surrounding spaces and lower case letters are let pass)."""
    match = _CELL_REF.match(ref.strip())
    if match is None:
        return None
    return int(match.group(2)), col_number(match.group(1).upper())


def parse_range(ref: str) -> tuple[int, int, int, int]:
    """``"B2:D9"`` -> ``(2, 2, 9, 4)`` as (top, left, bottom, right)."""
    first, _, last = ref.partition(":")
    top, left = parse_ref(first)
    bottom, right = parse_ref(last) if last else (top, left)
    return top, left, bottom, right


def range_ref(top: int, left: int, bottom: int, right: int) -> str:
    first = f"{col_letters(left)}{top}"
    if (top, left) == (bottom, right):
        return first
    return f"{first}:{col_letters(right)}{bottom}"


def excel_serial(value: dt.date, date1904: bool) -> float:
    """The day number Excel stores for ``value`` (wall-clock time; tzinfo is dropped)."""
    if isinstance(value, dt.datetime):
        moment = value.replace(tzinfo=None)
    else:
        moment = dt.datetime(value.year, value.month, value.day)
    if date1904:
        epoch = _EPOCH_1904
    elif moment < _LOTUS_LEAP_DAY:
        # Excel counts a 29 Feb 1900 that never was; days before it are one lower.
        epoch = _EPOCH_1900 + dt.timedelta(days=1)
    else:
        epoch = _EPOCH_1900
    serial = (moment - epoch) / dt.timedelta(days=1)
    if serial < (0 if date1904 else 1):
        raise WorkbookError(f"cannot write {value!r}: Excel has no dates that early")
    return serial


def encode_value(value: CellValue, date1904: bool) -> tuple[str | None, str, bool | None]:
    """A non-empty value as (the cell's ``t`` attribute, its text, is-a-date-with-time).

    Text is returned Excel-escaped ("_x0041_" stays literal) but not XML-escaped.
    """
    if isinstance(value, str):
        return "inlineStr", EXCEL_ESCAPE.sub(r"_x005F\1", value), None
    if isinstance(value, bool):
        return "b", "1" if value else "0", None
    if isinstance(value, dt.date):
        with_time = isinstance(value, dt.datetime)
        return None, repr(excel_serial(value, date1904)), with_time
    if isinstance(value, int):
        return None, str(int(value)), None
    if isinstance(value, float | Decimal):
        return None, repr(float(value)), None
    raise TypeError(f"cannot write a {type(value).__name__} to a cell")


def xml_unescape(text: str) -> str:
    """XML character and entity references resolved (the five XML entities only).

    >>> xml_unescape("a &amp; b &#233;&#x41;")
    'a & b éA'
    """
    if "&" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        name, decimal, hexadecimal = match.groups()
        if name:
            return _ENTITIES[name]
        return chr(int(decimal) if decimal else int(hexadecimal, 16))

    return _ENTITY.sub(one, text)


def xml_escape(text: str) -> str:
    """``text`` escaped for element content; CR as a reference so parsers keep it."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\r", "&#13;")
