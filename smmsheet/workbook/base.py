"""The adapter interface every workbook backend implements (file on disk, live Excel)."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from ..errors import WorkbookError
from ..values import UnknownValue as UnknownValue  # re-exported: a read's cell value

#: What a cell holds as far as smmsheet is concerned. ``str`` is ALWAYS written as text,
#: never as a formula, even when it starts with "=" (panel text is untrusted).
CellValue = str | int | float | Decimal | bool | dt.datetime | dt.date | None


class LinkedText(str):
    """The text a hyperlinked cell shows, carrying where the link points in ``target``.

    ``read_values`` returns it for a cell with a hyperlink (Insert > Link) or a
    ``HYPERLINK()`` formula, so every caller that expects text keeps working while the
    engine can order the link's real address instead of the words shown::

        >>> cell = LinkedText("Client post", "https://instagram.com/p/abc")
        >>> cell == "Client post", cell.target
        (True, 'https://instagram.com/p/abc')

    ``target`` is ``None`` when the cell is a link whose address cannot be known: a link
    to a place inside the workbook (``location`` only), a ``HYPERLINK`` whose first
    argument is not a plain text constant (``HYPERLINK(B2)``, ``HYPERLINK("https://"&B2)``),
    an empty address, or two links on one cell that disagree. The engine must then refuse
    the row rather than order the shown text. String methods return plain ``str``
    (``cell.strip()`` has no target), so read ``target`` before transforming the text.
    """

    __slots__ = ("target",)
    target: str | None

    def __new__(cls, text: str, target: str | None) -> LinkedText:
        self = super().__new__(cls, text)
        self.target = target
        return self

    def __repr__(self) -> str:
        return f"LinkedText({str(self)!r}, target={self.target!r})"

    def __reduce__(self) -> tuple[type[LinkedText], tuple[str, str | None]]:
        return (LinkedText, (str(self), self.target))


@dataclass(frozen=True)
class NewColumn:
    """A column smmsheet adds to a sheet: its header text and how its cells look.

    ``width`` is in Excel's character units; ``number_format`` an Excel format code
    (``"#,##0"``, ``"yyyy-mm-dd hh:mm"``). None leaves the sheet's default.
    """

    title: str
    width: float | None = None
    number_format: str | None = None


#: Called with each row of a sheet as :meth:`WorkbookAdapter.read_values` reads it.
RowWatch = Callable[[Sequence[CellValue]], None]


@runtime_checkable
class WorkbookAdapter(Protocol):
    """A workbook as smmsheet sees it: read a sheet's values, write cells in bulk, commit.

    Rows and columns are 1-based like Excel. Writes are buffered until :meth:`save`;
    nothing reaches the user's file before then, and ``save`` is all-or-nothing.
    """

    def sheet_names(self) -> list[str]:
        """Names of the worksheets, in workbook order."""
        ...

    def read_values(self, sheet: str, watch: RowWatch | None = None) -> list[list[CellValue]]:
        """All values of ``sheet`` as rows starting at A1 (cached values for formulas).

        Rows may have different lengths; trailing empty cells may be missing. A cell with
        a hyperlink (Insert > Link) or a ``HYPERLINK()`` formula comes back as
        :class:`LinkedText`: the text shown, with the link's target in ``target``, or
        ``None`` there when the target cannot be known (the engine must then refuse the
        row, never order the text shown). An empty cell stays ``None`` even if linked.

        ``watch``, when given, is called with each row, top to bottom, as soon as it is
        read: a caller starts work on the first rows while the others are still read. It
        sees the values as read (a linked cell may still be plain text); what
        ``read_values`` returns is what counts.
        """
        ...

    def totals_rows(self, sheet: str) -> Mapping[int, Mapping[int, CellValue]]:
        """What the rows of a Table's totals held when ``sheet`` was last read, by row and
        column ({} before a read). :meth:`read_values` gives those cells as empty: a
        totals row is never an order, and a user who typed one there is told so."""
        ...

    def hidden_rows(self, sheet: str, rows: Collection[int]) -> set[int]:
        """Which of ``rows`` of ``sheet`` are hidden: by a filter, by hand, or folded away.

        Asked only about the rows a run would place: a row out of sight is not bought. An
        engine that cannot tell raises WorkbookError (before anything is bought).
        """
        ...

    def write_cells(self, sheet: str, cells: Mapping[tuple[int, int], CellValue]) -> None:
        """Buffer ``{(row, col): value}`` writes into ``sheet``; ``None`` clears a cell.

        A value no cell can hold faithfully (see :func:`cell_value_problem`) raises
        :class:`~smmsheet.errors.WorkbookError` and nothing is buffered.
        """
        ...

    def prepare(self, sheet: str, before_row: int) -> bool:
        """A hint while a run waits on the panel: the rows of ``sheet`` above ``before_row``
        are buffered as the next :meth:`save` will write them, so it may start on them now.

        Only ever a head start: rows written again later, and every other buffered change,
        are saved all the same. Returns whether the hint is taken: an adapter with nothing
        to gain returns False, and the run may stop giving it.
        """
        ...

    def replace_sheet(self, sheet: str, rows: Sequence[Sequence[CellValue]]) -> None:
        """Buffer replacing every value of ``sheet`` (created at the end if missing)."""
        ...

    def add_columns(self, sheet: str, header_row: int, columns: Mapping[int, NewColumn]) -> None:
        """Buffer new columns of ``sheet``: ``{col: NewColumn}``, headers in ``header_row``.

        Each header is written as text; the column gets its width and number format (the
        cells written into it by this save too). When an Excel Table (a table part) has
        its header in ``header_row`` and ends just left of the new columns, it grows to
        take them (its range, filter and column list), as Excel does when one types next
        to a Table. Where a backend has no such notion only the headers are written.
        """
        ...

    def check_writable(
        self, sheet: str | None = None, cells: Collection[tuple[int, int]] = ()
    ) -> None:
        """Raise :class:`~smmsheet.errors.WorkbookError` now if :meth:`save` could not write.

        Called before any paid request: an order must not be bought for a sheet that
        cannot take its Order ID. Without ``sheet`` it checks the workbook as a whole
        (open in Excel, read-only). With ``sheet`` it also proves, without changing the
        workbook or what is buffered, that a save writing ``cells`` of that sheet (any
        value: a number or a text) together with everything already buffered would
        succeed; the error is one sentence naming the first cell or part that would fail
        (a cell of an array formula, a column beyond XFD, XML the writer cannot parse).
        """
        ...

    def read_marker(self) -> str | None:
        """The workbook's journal marker (see :meth:`write_marker`), or None if it has none.

        A marker buffered by :meth:`write_marker` is returned before it is saved.
        """
        ...

    def write_marker(self, text: str) -> None:
        """Buffer storing ``text`` in the workbook itself, hidden, until :meth:`save`.

        The marker identifies the journal that belongs to the workbook (for example
        ``"smmsheet-journal v1 <uuid> run <uuid>"``), so that a missing or wrong journal
        can be told apart from a workbook never run against. It survives saves by Excel,
        openpyxl and LibreOffice. ``text`` must pass :func:`check_marker`.
        """
        ...

    def save(self) -> None:
        """Write all buffered changes; the workbook is never left half-written."""
        ...

    def close(self) -> None:
        """Release resources; buffered changes not saved are dropped."""
        ...


# --------------------------------------------------------------------------- shared limits

#: Excel's limits, which every adapter enforces before anything is buffered.
MAX_CELL_CHARS = 32767
MAX_ROW = 1_048_576
MAX_COL = 16_384
#: The largest and smallest magnitudes Excel stores (larger is refused, smaller shows 0).
MAX_EXCEL_NUMBER = 9.99999999999999e307
MIN_EXCEL_NUMBER = 2.2250738585072014e-308
#: The largest integer a cell (an IEEE double) holds exactly; larger ones lose digits.
MAX_EXACT_INT = 2**53
#: Where the journal marker lives: a hidden workbook-level defined name.
MARKER_NAME = "_smmsheet_journal"
#: Excel refuses text constants longer than this in a formula, a defined name's included.
MAX_MARKER_CHARS = 255

#: Characters no worksheet can hold (XML 1.0 forbids them); panel text is untrusted.
_ILLEGAL_TEXT = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_INVALID_SHEET_NAME = re.compile(r"[:\\/?*\[\]]")
_FIRST_DAY = dt.date(1900, 1, 1)


def clean_text(text: str, limit: int = MAX_CELL_CHARS) -> str:
    """Text a cell can hold: characters XML cannot carry removed, cut at ``limit``.

    Excel counts in UTF-16 units (an emoji is two) and repairs a file whose cell holds more,
    so text that may be longer is cut there, never inside a character.
    """
    text = _ILLEGAL_TEXT.sub("", text)[:limit]
    if 2 * len(text) <= limit:
        return text
    return text.encode("utf-16-le")[: 2 * limit].decode("utf-16-le", errors="ignore")


def cell_value_problem(value: object) -> str | None:
    """Why ``value`` cannot be stored in a cell faithfully, or None when it can.

    Panel replies are untrusted: a charge of ``1e400`` or a 5,000-digit start count must
    become that row's error, not a crash while saving. Long text is fine (it is cut at
    Excel's 32,767 characters), so is any bool, date from 1900 on, or ordinary number.

    >>> cell_value_problem(Decimal("0.27")) is None, cell_value_problem(10**400)
    (True, 'the number 100000000000... (401 digits) is too large for a cell to hold exactly')
    """
    if value is None or isinstance(value, str | bool):
        return None
    if isinstance(value, int):
        if -MAX_EXACT_INT <= value <= MAX_EXACT_INT:
            return None
        return f"{_describe(value)} is too large for a cell to hold exactly"
    if isinstance(value, float | Decimal):
        return _number_problem(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return f"the time {value.isoformat()} has a time zone, which a cell cannot hold"
    if isinstance(value, dt.date):
        day = value.date() if isinstance(value, dt.datetime) else value
        return None if day >= _FIRST_DAY else f"Excel has no dates before 1900 ({day})"
    return f"a {type(value).__name__} is not a cell value"


def _number_problem(value: float | Decimal) -> str | None:
    if isinstance(value, Decimal) and not value.is_finite():
        return f"{value} is not a finite number"
    number = float(value)  # a finite Decimal too large for a double becomes inf, never raises
    magnitude = abs(number)
    if MIN_EXCEL_NUMBER <= magnitude <= MAX_EXCEL_NUMBER or value == 0:
        return None
    if not math.isfinite(number) and not isinstance(value, Decimal):
        return f"{value!r} is not a finite number"
    if magnitude > MAX_EXCEL_NUMBER or not math.isfinite(number):
        return f"{_describe(value)} is larger than the largest number Excel stores"
    return f"{_describe(value)} is smaller than the smallest number Excel stores"


def _describe(value: float | Decimal) -> str:
    """``value`` named for a message; a huge one by its first digits and its length."""
    if isinstance(value, int) and value.bit_length() > 14_000:  # str() refuses 4,300+ digits
        return f"a number with about {value.bit_length() * 30103 // 100_000:,} digits"
    text = repr(value) if isinstance(value, float) else str(value)
    if len(text) <= 24:
        return f"the number {text}"
    return f"the number {text[:12]}... ({len(text.lstrip('-')):,} digits)"


def check_marker(text: str) -> str:
    """``text`` if it can be a journal marker: printable, one line, 1 to 255 characters."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_MARKER_CHARS:
        raise WorkbookError(f"a workbook marker must be 1 to {MAX_MARKER_CHARS} characters")
    if not text.isprintable():
        raise WorkbookError("a workbook marker must be printable text on one line")
    return text


def check_sheet_name(name: str) -> str:
    """``name`` if Excel accepts it as a sheet name, else :class:`WorkbookError`."""
    if not name or len(name) > 31 or _INVALID_SHEET_NAME.search(name) or name[0] == "'":
        raise WorkbookError(f"{name!r} is not a valid sheet name")
    return name


def check_grid_size(rows: Sequence[Sequence[object]]) -> None:
    """Refuse a block of rows that does not fit in a worksheet."""
    if len(rows) > MAX_ROW or any(len(row) > MAX_COL for row in rows):
        raise WorkbookError(f"{len(rows)} rows do not fit in a worksheet")


def blank_blocks(
    grid: list[list[CellValue]], blocks: Iterable[tuple[int, int, int, int]]
) -> dict[int, dict[int, CellValue]]:
    """Empty the cells of ``grid`` in each (top, left, bottom, right) block, in place; what
    they held, by row and column (the cells that held something).

    Used for a Table's totals row: its SUBTOTAL results are no order, whatever they look like.
    """
    held: dict[int, dict[int, CellValue]] = {}
    for top, left, bottom, right in blocks:
        for number, line in enumerate(grid[top - 1 : bottom], start=top):
            for c in range(left - 1, min(right, len(line))):
                if line[c] is not None:
                    held.setdefault(number, {})[c + 1] = line[c]
                    line[c] = None
    return held


def check_cell_range(row: int, col: int) -> None:
    """Refuse a cell outside Excel's grid with one sentence saying where it falls."""
    if 0 < row <= MAX_ROW and 0 < col <= MAX_COL:
        return
    if col > MAX_COL:
        raise WorkbookError(
            f"row {row}, column {col} is beyond column XFD, the last of Excel's {MAX_COL:,} columns"
        )
    if row > MAX_ROW:
        raise WorkbookError(f"row {row} is beyond the last of Excel's {MAX_ROW:,} rows")
    raise WorkbookError(
        f"cell (row {row}, column {col}) is outside a worksheet: rows and columns start at 1"
    )


def hidden_by_merge(cell: str, area: str) -> str:
    """Why nothing is written into ``cell``, which the merged cells ``area`` hide: a row's
    Order ID or Error there would be out of the user's sight."""
    return (
        f"{cell} is hidden under the merged cells {area}, so what smmsheet writes there would "
        "not show; unmerge them (Home > Merge & Center > Unmerge Cells) and run again"
    )


def column_letters(col: int) -> str:
    """Excel's letters for column number ``col``: 1 is ``A``, 28 is ``AB``, 16384 ``XFD``."""
    letters = ""
    while col > 0:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def find_sheet(names: Sequence[str], sheet: str) -> str | None:
    """The name in ``names`` that is ``sheet`` as Excel compares names (ignoring case), or
    else the one that is ``sheet`` but for spaces around it, which a tab does not show.

    >>> find_sheet(["orders ", "Settings"], "Orders")
    'orders '
    """
    wanted = sheet.casefold()
    found = next((name for name in names if name.casefold() == wanted), None)
    if found is None:
        wanted = wanted.strip()
        found = next((name for name in names if name.strip().casefold() == wanted), None)
    return found


def own_sheet(
    names: Sequence[str], candidates: Sequence[str], is_ours: Callable[[str], bool]
) -> str | None:
    """The first of ``candidates`` that no sheet has yet, or whose sheet smmsheet wrote.

    ``is_ours`` is asked about an existing sheet (by the name the workbook spells); None
    when every candidate is a sheet of the user's, which must then be left alone.

    >>> own_sheet(["Orders", "Services"], ["Services", "Services (smmsheet)"], lambda n: False)
    'Services (smmsheet)'
    """
    for wanted in candidates:
        found = find_sheet(names, wanted)
        if found is None:
            return wanted
        if is_ours(found):
            return found
    return None
