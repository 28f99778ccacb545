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
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from decimal import Decimal
from itertools import pairwise

from smmsheet.errors import WorkbookError

from ..base import CellValue, cell_value_problem, clean_text, hidden_by_merge

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
    "MergedCells",
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


#: Merged ranges this many columns wide or wider are checked against every write instead.
_WIDE_MERGE = 64


class MergedCells:
    """A sheet's merged ranges: a value written into one of their cells but the first
    would not show, so a row's Order ID or Error there would be out of the user's sight.

    >>> MergedCells(["F2:F3"]).hiding([((2, 6), 1001), ((3, 6), None), ((3, 6), 1002)])
    ('F3', 'F2:F3')
    """

    def __init__(self, refs: Iterable[str]) -> None:
        #: By column, the ranges over it (top, left, bottom, right): most columns have none.
        self._by_col: dict[int, list[tuple[int, int, int, int]]] = {}
        #: Ranges too wide to list under each column (a title merged across the sheet).
        self._wide: list[tuple[int, int, int, int]] = []
        for ref in refs:
            first, _, last = ref.partition(":")
            start, end = find_ref(first), find_ref(last)
            if start is None or end is None:
                continue  # one cell, or no reference: nothing hidden
            (top, bottom), (left, right) = sorted((start[0], end[0])), sorted((start[1], end[1]))
            block = (top, left, bottom, right)
            if block[3] - block[1] >= _WIDE_MERGE:
                self._wide.append(block)
                continue
            for col in range(block[1], block[3] + 1):
                self._by_col.setdefault(col, []).append(block)
        #: By column, where its ranges start, when none overlap (Excel's never do): the one
        #: range a row may be in is found by bisection, not by reading them all (a column
        #: merged across on each of 100,000 rows).
        self._tops: dict[int, list[int]] = {}
        for col, over in self._by_col.items():
            over.sort()
            if all(above[2] < below[0] for above, below in pairwise(over)):
                self._tops[col] = [block[0] for block in over]
        blocks = [*self._wide, *(b for col in self._by_col.values() for b in col)]
        #: The first and last row any range covers: a write elsewhere is let pass at once.
        self._rows = (
            min((b[0] for b in blocks), default=0),
            max((b[2] for b in blocks), default=0),
        )

    def hiding(self, writes: Iterable[tuple[tuple[int, int], CellValue]]) -> tuple[str, str] | None:
        """The first cell given a value that merged cells hide, and their range; else None.
        Clearing such a cell (None) hides nothing."""
        if not (self._by_col or self._wide):
            return None
        first, last = self._rows
        for (row, col), value in writes:
            if value is None or not first <= row <= last:
                continue
            over: Sequence[tuple[int, int, int, int]] = self._by_col.get(col, ())
            tops = self._tops.get(col)
            if tops is not None:  # the last range to start at or above the row
                at = bisect_right(tops, row) - 1
                over = over[at : at + 1] if at >= 0 else ()
            for top, left, bottom, right in (*over, *self._wide):
                if top <= row <= bottom and left <= col <= right and (row, col) != (top, left):
                    return f"{col_letters(col)}{row}", range_ref(top, left, bottom, right)
        return None

    def check(self, writes: Iterable[tuple[tuple[int, int], CellValue]], where: str) -> None:
        """Refuse writes :meth:`hiding` finds, with one sentence that says what to do."""
        hidden = self.hiding(writes)
        if hidden is not None:
            raise WorkbookError(f"{where}: {hidden_by_merge(*hidden)}; nothing was changed")


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
