"""An in-memory stand-in for the slice of Excel's object model (via xlwings) smmsheet touches.

Excel cannot run on Linux, so this is the one place the tests fake something. It models
what matters for correctness, not a spreadsheet engine:

- assigning through ``Range.value`` is parsed the way Excel parses typed input (a leading
  apostrophe marks text and is dropped; ``=``/``+``/``-``/``@`` start a formula; numbers,
  TRUE/FALSE and ISO dates are coerced; a ``Decimal`` arrives as a 4-decimal Currency);
- reading returns what xlwings returns: floats for numbers, datetimes, None for empty
  cells and for formulas (it cannot evaluate them, so a stored formula reads as an error);
- every range write is logged, so tests can check that writes are blocks, not cells;
- what makes Excel refuse a write: a legacy (CSE) array formula written in part, a locked
  cell of a protected sheet; and what Excel tells about them up front (``has_array``,
  ``api.ProtectContents``, ``api.Locked``: True, False, or None for a mixed range).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?%?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?$")


@dataclass(frozen=True)
class Formula:
    """A cell holding a formula (what a string starting with "=" becomes in Excel).

    ``result`` is what the cell shows when a test sets it up with one (Excel would have
    calculated it); formulas written through ``Range.value`` have none.
    """

    text: str
    result: Any = None


def excel_entry(value: Any) -> Any:
    """What Excel stores when ``value`` is assigned to a cell through ``Range.Value``."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):  # COM: VT_CY, four decimals
        return float(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN))
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, str):
        raise TypeError(f"Excel cannot take a {type(value).__name__}")
    if value.startswith("'"):
        return value[1:] or None
    if value[0] in "=@" or (value[0] in "+-" and not _NUMBER.match(value)):
        return Formula(value)
    if _NUMBER.match(value):
        number = float(value.rstrip("%"))
        return number / 100 if value.endswith("%") else number
    if value.upper() in {"TRUE", "FALSE"}:
        return value.upper() == "TRUE"
    if _ISO_DATE.match(value):
        return dt.datetime.fromisoformat(value)
    return value


def read_back(stored: Any, err_to_str: bool = False) -> Any:
    """What xlwings returns for a stored cell (a formula's result, when the test gave one).

    An error value (:class:`CellError`) is None, or its text with ``err_to_str``, as
    xlwings' ``_clean_value_data_element`` does on Windows for the errors it names; a COM
    error code it does not name (an int, such as #SPILL!'s) comes through as it is.
    """
    value = stored.result if isinstance(stored, Formula) else stored
    if isinstance(value, CellError):
        return str(value) if err_to_str else None
    return value


def formula_text(stored: Any) -> str:
    """What ``Range.formula`` gives for a stored cell: its formula, or its constant as text."""
    if isinstance(stored, Formula):
        return stored.text
    if stored is None:
        return ""
    if isinstance(stored, float) and stored.is_integer():
        return str(int(stored))
    return str(stored)


class FakeApp:
    """``xw.App``: a status bar and alerts that answer from a script."""

    def __init__(self, answers: list[str] | None = None) -> None:
        self.status_bar: Any = False
        self.status_history: list[Any] = []
        self.alerts: list[dict[str, Any]] = []
        self.answers = list(answers or [])
        self.books = FakeBooks(self)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "status_bar" and "status_history" in self.__dict__:
            self.status_history.append(value)
        super().__setattr__(name, value)

    def alert(
        self,
        prompt: str,
        title: str | None = None,
        buttons: str = "ok",
        mode: str | None = None,
        callback: Any = None,
    ) -> str:
        self.alerts.append({"prompt": prompt, "title": title, "buttons": buttons, "mode": mode})
        if buttons == "ok":
            return "ok"
        return self.answers.pop(0) if self.answers else "no"


class FakeBooks:
    """``app.books``: the books this app created with ``add()`` (a new, unsaved Book<n>)."""

    def __init__(self, app: FakeApp) -> None:
        self.app = app
        self.created: list[FakeBook] = []

    def add(self) -> FakeBook:
        book = FakeBook(app=self.app, fullname=f"Book{len(self.created) + 2}")
        self.created.append(book)
        return book


class FakeRange:
    """``sheet.range((r1, c1), (r2, c2))``."""

    def __init__(self, sheet: FakeSheet, first: tuple[int, int], last: tuple[int, int]) -> None:
        self.sheet = sheet
        self.row, self.column = first
        self.last_row, self.last_column = last
        self._ndim: int | None = None
        self._err_to_str = False

    @property
    def shape(self) -> tuple[int, int]:
        return self.last_row - self.row + 1, self.last_column - self.column + 1

    @property
    def last_cell(self) -> FakeRange:
        corner = (self.last_row, self.last_column)
        return FakeRange(self.sheet, corner, corner)

    def options(self, ndim: int | None = None, err_to_str: bool = False, **_: Any) -> FakeRange:
        self._ndim = ndim
        self._err_to_str = err_to_str
        return self

    @property
    def value(self) -> Any:
        self.sheet.book.log.append(("read", self.sheet.name, self.shape))
        grid = [
            [
                read_back(self.sheet.cells.get((r, c)), self._err_to_str)
                for c in range(self.column, self.last_column + 1)
            ]
            for r in range(self.row, self.last_row + 1)
        ]
        if self._ndim == 2:
            return grid
        if self.shape == (1, 1):
            return grid[0][0]
        return grid[0] if len(grid) == 1 else grid

    @value.setter
    def value(self, data: Any) -> None:
        rows = data if isinstance(data, list) and data and isinstance(data[0], list) else [[data]]
        if (len(rows), max(len(r) for r in rows)) != self.shape:
            raise ValueError(f"{len(rows)} rows do not fit {self.shape}")
        self.sheet.book.log.append(("write", self.sheet.name, self.shape))
        keys = self.keys()
        if self.sheet.protected and any(key not in self.sheet.unlocked for key in keys):
            raise RuntimeError("The cell or chart you're trying to change is on a protected sheet.")
        for key in keys:
            array = self.sheet.in_array(key)
            if array is not None and not set(_cells_of(array)) <= set(keys):
                raise RuntimeError("You can't change part of an array.")
        for dr, row in enumerate(rows):
            for dc, item in enumerate(row):
                stored = excel_entry(item)
                key = (self.row + dr, self.column + dc)
                if stored is None:
                    self.sheet.cells.pop(key, None)
                else:
                    self.sheet.cells[key] = stored

    @property
    def formula(self) -> Any:
        """xlwings' ``Range.formula``: a str for one cell, else a tuple of row tuples."""
        self.sheet.book.log.append(("formulas", self.sheet.name, self.shape))
        grid = tuple(
            tuple(
                formula_text(self.sheet.cells.get((r, c)))
                for c in range(self.column, self.last_column + 1)
            )
            for r in range(self.row, self.last_row + 1)
        )
        return grid[0][0] if self.shape == (1, 1) else grid

    @property
    def has_array(self) -> bool | None:
        """xlwings' ``Range.has_array`` (COM ``HasArray``): None when the cells differ."""
        return _all_any(self.sheet.in_array(key) is not None for key in self.keys())

    @property
    def api(self) -> FakeRangeApi:
        return FakeRangeApi(self)

    @property
    def row_height(self) -> float | None:
        """xlwings' ``Range.row_height``: 0 for hidden rows, None when the rows differ."""
        if not self.sheet.heights_answer:
            raise NotImplementedError("row_height")
        rows = range(self.row, self.last_row + 1)
        heights = {0.0 if row in self.sheet.hidden else 15.0 for row in rows}
        return heights.pop() if len(heights) == 1 else None

    def keys(self) -> list[tuple[int, int]]:
        return [
            (r, c)
            for r in range(self.row, self.last_row + 1)
            for c in range(self.column, self.last_column + 1)
        ]

    @property
    def number_format(self) -> str:
        return self.sheet.formats.get(self.column, "General")

    @number_format.setter
    def number_format(self, value: str) -> None:
        self.sheet.book.log.append(("number_format", self.sheet.name, value))
        if self.last_row == 1_048_576:  # a whole column below a row: the column's format
            for col in range(self.column, self.last_column + 1):
                self.sheet.formats[col] = value

    @property
    def column_width(self) -> float:
        return self.sheet.widths.get(self.column, 8.43)

    @column_width.setter
    def column_width(self, value: float) -> None:
        for col in range(self.column, self.last_column + 1):
            self.sheet.widths[col] = value

    def clear_contents(self) -> None:
        for r in range(self.row, self.last_row + 1):
            for c in range(self.column, self.last_column + 1):
                self.sheet.cells.pop((r, c), None)


class FakeRangeApi:
    """``range.api``: the COM properties smmsheet asks before writing."""

    def __init__(self, cells: FakeRange) -> None:
        self._range = cells

    @property
    def Locked(self) -> bool | None:  # noqa: N802 - COM's spelling
        unlocked = self._range.sheet.unlocked
        return _all_any(key not in unlocked for key in self._range.keys())

    @property
    def MergeCells(self) -> bool | None:  # noqa: N802 - COM's spelling
        """True when every cell is in merged cells, False when none is, None when they differ."""
        return _all_any(self._range.sheet.in_merge(key) is not None for key in self._range.keys())

    @property
    def EntireRow(self) -> FakeEntireRow:  # noqa: N802 - COM's spelling
        return FakeEntireRow(self._range)

    def SpecialCells(self, kind: int) -> FakeCount:  # noqa: N802 - COM's spelling
        """Only ``xlCellTypeVisible`` (12): the cells of rows not hidden; Excel raises when
        none is (or, for one cell, looks at the whole used range: never asked here)."""
        sheet = self._range.sheet
        if not sheet.special_cells_answer:  # Excel for Mac's AppleScript
            raise AttributeError("Unknown property, element or command: 'SpecialCells'")
        assert kind == 12 and self._range.shape[0] > 1, "only the visible cells of a run"
        sheet.asked_hidden += 1
        rows = range(self._range.row, self._range.last_row + 1)
        shown = sum(row not in sheet.hidden for row in rows) * self._range.shape[1]
        if not shown:
            raise RuntimeError("No cells were found.")
        return FakeCount(shown)

    @property
    def MergeArea(self) -> FakeComRange:  # noqa: N802 - COM's spelling
        """The merged cells the range's first cell is in (the cell itself when none)."""
        key = (self._range.row, self._range.column)
        return FakeComRange(*(self._range.sheet.in_merge(key) or (*key, *key)))


class FakeEntireRow:
    """``range.api.EntireRow``: only ``Hidden``."""

    def __init__(self, cells: FakeRange) -> None:
        self._range = cells

    @property
    def Hidden(self) -> bool | None:  # noqa: N802 - COM's spelling
        """True when every row is hidden, False when none is, None when they differ."""
        sheet = self._range.sheet
        if not sheet.entire_row_answers:  # Excel for Mac's AppleScript has no EntireRow
            raise AttributeError("Unknown property, element or command: 'EntireRow'")
        sheet.asked_hidden += 1
        rows = range(self._range.row, self._range.last_row + 1)
        answer = _all_any(row in sheet.hidden for row in rows)
        return sheet.partly_hidden if answer is None else answer


class FakeCount:
    """``Range.Rows`` / ``Range.Columns``: only their ``Count``."""

    def __init__(self, count: int) -> None:
        self.Count = count  # noqa: N815 - COM's spelling


class FakeComRange:
    """The COM ``Range`` of a hyperlink: where it starts and how large it is."""

    def __init__(self, top: int, left: int, bottom: int, right: int) -> None:
        self.Row, self.Column = top, left  # noqa: N815 - COM's spelling
        self.Rows = FakeCount(bottom - top + 1)  # noqa: N815
        self.Columns = FakeCount(right - left + 1)  # noqa: N815


class FakeHyperlink:
    """A COM ``Hyperlink``: ``Address`` (empty inside the book), ``SubAddress``, ``Range``."""

    def __init__(self, cells: FakeComRange, address: str, sub_address: str) -> None:
        self.Range = cells  # noqa: N815 - COM's spelling
        self.Address = address  # noqa: N815
        self.SubAddress = sub_address  # noqa: N815


class FakeUsedRange:
    """``sheet.api.UsedRange``: only ``Find`` over formulas, which is all smmsheet asks."""

    def __init__(self, sheet: FakeSheet) -> None:
        self._sheet = sheet

    def Find(self, what: str, LookIn: int = 0, LookAt: int = 0) -> Any:  # noqa: N802, N803
        assert (LookIn, LookAt) == (-4123, 2), "smmsheet looks in formulas, for a part"
        for key, stored in self._sheet.cells.items():
            if what.casefold() in formula_text(stored).casefold():
                return FakeComRange(*key, *key)
        return None


class FakeSheetApi:
    """``sheet.api``: the COM properties of a worksheet smmsheet reads."""

    def __init__(self, sheet: FakeSheet) -> None:
        self._sheet = sheet

    @property
    def ProtectContents(self) -> bool:  # noqa: N802 - COM's spelling
        return self._sheet.protected

    @property
    def Hyperlinks(self) -> list[FakeHyperlink]:  # noqa: N802 - COM's spelling
        return list(self._sheet.hyperlinks)

    @property
    def UsedRange(self) -> FakeUsedRange:  # noqa: N802 - COM's spelling
        return FakeUsedRange(self._sheet)


class FakeSheet:
    """``xw.Sheet``: cells in a dict keyed by (row, col)."""

    def __init__(self, book: FakeBook, name: str) -> None:
        self.book = book
        self.name = name
        self.cells: dict[tuple[int, int], Any] = {}
        self.protected = False
        self.unlocked: set[tuple[int, int]] = set()  # cells are locked unless unlocked
        self.arrays: list[tuple[int, int, int, int]] = []  # top, left, bottom, right
        self.merges: list[tuple[int, int, int, int]] = []  # top, left, bottom, right
        self.hyperlinks: list[FakeHyperlink] = []
        self.widths: dict[int, float] = {}
        self.formats: dict[int, str] = {}  # col -> number format of the cells below a header
        self.tables: list[FakeTable] = []
        self.hidden: set[int] = set()  # rows hidden by a filter or by hand
        self.asked_hidden = 0  # how many times Excel was asked which rows show
        #: What EntireRow.Hidden says of rows only some of which are hidden: Null (None), as
        #: for MergeCells; Microsoft does not say, so tests try False too.
        self.partly_hidden: bool | None = None
        self.special_cells_answer = True  # False: an engine without SpecialCells
        self.entire_row_answers = True  # False: an engine without COM's EntireRow.Hidden
        self.heights_answer = True  # False: an engine without Range.row_height either

    def add_table(self, top: int, left: int, bottom: int, right: int) -> FakeTable:
        """Insert > Table over the block, its first row the header (test setup)."""
        table = FakeTable(self, (top, left, bottom, right))
        self.tables.append(table)
        return table

    def add_hyperlink(
        self,
        ref: tuple[int, int] | tuple[int, int, int, int],
        address: str,
        sub_address: str = "",
        text: Any = None,
    ) -> None:
        """Insert > Link over a cell or block (test setup); ``text`` is what it shows."""
        block = ref if len(ref) == 4 else (*ref, *ref)
        self.hyperlinks.append(FakeHyperlink(FakeComRange(*block), address, sub_address))
        if text is not None:
            self.cells[block[:2]] = text

    def set_formula(self, key: tuple[int, int], text: str, result: Any) -> None:
        """A formula Excel has calculated to ``result`` (test setup)."""
        self.cells[key] = Formula(text, result)

    @property
    def api(self) -> FakeSheetApi:
        return FakeSheetApi(self)

    def add_array_formula(self, top: int, left: int, bottom: int, right: int, text: str) -> None:
        """A legacy (Ctrl+Shift+Enter) array formula over the block (test setup)."""
        self.arrays.append((top, left, bottom, right))
        for key in _cells_of((top, left, bottom, right)):
            self.cells[key] = Formula("{=" + text + "}")

    def in_array(self, key: tuple[int, int]) -> tuple[int, int, int, int] | None:
        return _block_of(key, self.arrays)

    def merge(self, top: int, left: int, bottom: int, right: int) -> None:
        """Home > Merge & Center over the block (test setup): its first cell shows for all."""
        self.merges.append((top, left, bottom, right))

    def in_merge(self, key: tuple[int, int]) -> tuple[int, int, int, int] | None:
        return _block_of(key, self.merges)

    def range(self, first: tuple[int, int], last: tuple[int, int] | None = None) -> FakeRange:
        return FakeRange(self, first, last or first)

    @property
    def used_range(self) -> FakeRange:
        if not self.cells:
            return FakeRange(self, (1, 1), (1, 1))
        rows = [r for r, _ in self.cells]
        cols = [c for _, c in self.cells]
        return FakeRange(self, (min(rows), min(cols)), (max(rows), max(cols)))

    def clear_contents(self) -> None:
        self.book.log.append(("clear", self.name, None))
        self.cells.clear()

    def set_rows(self, rows: list[list[Any]], top: int = 1, left: int = 1) -> None:
        """Put values in as a user would type them (test setup, not logged)."""
        for r, row in enumerate(rows):
            for c, item in enumerate(row):
                stored = excel_entry(item)
                if stored is not None:
                    self.cells[(top + r, left + c)] = stored


class FakeTable:
    """``xw.main.Table`` (a ListObject): its range, and ``resize`` as Excel's does it."""

    def __init__(self, sheet: FakeSheet, block: tuple[int, int, int, int]) -> None:
        self.sheet = sheet
        self.block = block
        self.show_totals = False  # Table Design > Total Row: the block's last row

    @property
    def totals_row_range(self) -> FakeRange | None:
        top, left, bottom, right = self.block
        return FakeRange(self.sheet, (bottom, left), (bottom, right)) if self.show_totals else None

    @property
    def range(self) -> FakeRange:
        top, left, bottom, right = self.block
        return FakeRange(self.sheet, (top, left), (bottom, right))

    @property
    def columns(self) -> list[str]:
        """The header names, as Excel takes them from the header cells."""
        top, left, _, right = self.block
        return [str(self.sheet.cells.get((top, c), f"Column{c}")) for c in range(left, right + 1)]

    def resize(self, cells: FakeRange) -> None:
        if (cells.row, cells.column) != self.block[:2]:
            raise RuntimeError("A table's header row cannot move.")
        self.block = (cells.row, cells.column, cells.last_row, cells.last_column)


def _all_any(flags: Any) -> bool | None:
    """True when every flag is set, False when none is, None when they differ (COM's Null)."""
    seen = set(flags)
    return None if len(seen) > 1 else (True in seen)


def _block_of(
    key: tuple[int, int], blocks: list[tuple[int, int, int, int]]
) -> tuple[int, int, int, int] | None:
    """The first of ``blocks`` (top, left, bottom, right) that holds the cell ``key``."""
    row, col = key
    for top, left, bottom, right in blocks:
        if top <= row <= bottom and left <= col <= right:
            return top, left, bottom, right
    return None


def _cells_of(block: tuple[int, int, int, int]) -> list[tuple[int, int]]:
    top, left, bottom, right = block
    return [(r, c) for r in range(top, bottom + 1) for c in range(left, right + 1)]


class FakeSheets:
    """``xw.Sheets``: ordered, case-insensitive lookup, ``add``."""

    def __init__(self, book: FakeBook) -> None:
        self.book = book
        self._sheets: list[FakeSheet] = []

    def __iter__(self) -> Iterator[FakeSheet]:
        return iter(list(self._sheets))

    def __len__(self) -> int:
        return len(self._sheets)

    def __getitem__(self, key: str | int) -> FakeSheet:
        if isinstance(key, int):
            return self._sheets[key]
        for sheet in self._sheets:
            if sheet.name.casefold() == key.casefold():
                return sheet
        raise KeyError(key)

    def add(
        self,
        name: str | None = None,
        before: FakeSheet | None = None,
        after: FakeSheet | None = None,
    ) -> FakeSheet:
        sheet = FakeSheet(self.book, name or f"Sheet{len(self._sheets) + 1}")
        index = self._sheets.index(after) + 1 if after is not None else 0
        self._sheets.insert(index, sheet)
        self.book.log.append(("add_sheet", sheet.name, None))
        return sheet


class FakeNameApi:
    """``name.api``: COM's ``Name.Visible``, which hides a name from the Name Manager."""

    def __init__(self) -> None:
        self.Visible = True  # noqa: N815 - COM's spelling


class FakeName:
    """``xw.Name``: a book-level defined name (``refers_to`` is its formula, with "=")."""

    def __init__(self, name: str, refers_to: str) -> None:
        self.name = name
        self.api = FakeNameApi()
        self._refers_to = ""
        self.refers_to = refers_to

    @property
    def refers_to(self) -> str:
        return self._refers_to

    @refers_to.setter
    def refers_to(self, formula: str) -> None:
        constant = re.fullmatch(r'="((?:[^"]|"")*)"', formula)
        if constant is not None and len(constant.group(1).replace('""', '"')) > 255:
            raise RuntimeError("Text values in formulas are limited to 255 characters.")
        self._refers_to = formula


class FakeNames:
    """``xw.Names``: iterate, ``add(name, refers_to)``; names are case-insensitive."""

    def __init__(self) -> None:
        self._names: list[FakeName] = []

    def __iter__(self) -> Iterator[FakeName]:
        return iter(list(self._names))

    def add(self, name: str, refers_to: str) -> FakeName:
        if any(n.name.casefold() == name.casefold() for n in self._names):
            raise RuntimeError(f"The name {name} already exists.")
        added = FakeName(name, refers_to)
        self._names.append(added)
        return added


class FakeBookApi:
    """The slice of COM's ``Workbook`` smmsheet asks: unsaved edits, read-only."""

    def __init__(self) -> None:
        self.Saved = True
        self.ReadOnly = False


class FakeBook:
    """``xw.Book``: sheets, an app, a full name and a save counter."""

    def __init__(
        self,
        sheets: dict[str, list[list[Any]]] | None = None,
        *,
        fullname: str = "Book1",
        app: FakeApp | None = None,
    ) -> None:
        self.app = app or FakeApp()
        self.fullname = fullname
        self.name = fullname.replace("\\", "/").rsplit("/", 1)[-1]
        self.sheets = FakeSheets(self)
        self.names = FakeNames()
        self.log: list[tuple[str, str, Any]] = []
        self.saved = 0
        #: COM's ``Workbook``: ``Saved`` is False while the user has unsaved edits.
        self.api = FakeBookApi()
        for name, rows in (sheets or {"Sheet1": []}).items():
            sheet = FakeSheet(self, name)
            sheet.set_rows(rows)
            self.sheets._sheets.append(sheet)

    def save(self, path: str | None = None) -> None:
        self.saved += 1
        self.api.Saved = True

    def writes(self) -> list[tuple[str, str, Any]]:
        """Every range write logged so far."""
        return [entry for entry in self.log if entry[0] == "write"]


class CellError(str):
    """An error value (``#N/A``...) given to a formula: xlwings hands it over as None, or as
    its text for an argument declared with ``err_to_str``."""


class ExcelCalculation:
    """Excel calculating xlwings formulas: one cell after another, on one thread.

    This is the synchronous branch of xlwings' ``call_udf`` (``xlwings/udfs.py``), which
    runs on the COM server's one thread while Excel waits: the function's ``__xlfunc__``
    (from the real decorators, ``tests/windows_xlwings.py``) says how each argument
    arrives. A cell argument comes as its value, a range as rows of values, ``ndim=2``
    makes every argument 2-D, a missing optional argument takes its default, an error
    value (:class:`CellError`) is None or its text. No Range
    object is handed over: the formulas get their arguments and nothing else (Excel's
    documentation asks UDFs not to touch ranges while they calculate). A function in
    xlwings' async mode is refused: Excel would show "#N/A waiting..." and xlwings would
    rewrite the formula later.
    """

    def __init__(self, module: Any) -> None:
        self.module = module
        self.calls = 0
        self.threads: set[int] = set()

    def cell(self, name: str, *args: Any) -> Any:
        """Calculate one cell ``=name(args...)``; ``args`` are values or lists of rows."""
        import threading

        func = getattr(self.module, name)
        info = func.__xlfunc__
        if info.get("async_mode"):
            raise AssertionError(f"{name} runs in xlwings' async mode")
        converted = []
        for position, spec in enumerate(info["args"]):
            value = args[position] if position < len(args) else spec.get("optional")
            if isinstance(value, CellError):  # as xlwings' _clean_value_data_element
                value = str(value) if spec["options"].get("err_to_str") else None
            if spec["options"].get("ndim") == 2 and not isinstance(value, list):
                value = [[value]]
            converted.append(value)
        self.calls += 1
        self.threads.add(threading.get_ident())
        return func(*converted)

    def fill_down(self, name: str, column: list[Any], *rest: Any) -> list[Any]:
        """A formula filled down next to ``column``: each cell refers to its own row."""
        return [self.cell(name, value, *rest) for value in column]
