"""Live Excel adapter: a workbook open in Excel, reached through xlwings.

The Excel object model is touched through a deliberately tiny surface, so the adapter runs
unchanged on Windows (COM), macOS (AppleScript), the xlwings remote engine (xlwings Server /
Office.js) and, in the tests, an in-memory fake of that surface:

- ``book.sheets`` (iterate, ``[name]``, ``.add(name=..., after=...)``), ``sheet.name``;
- ``sheet.used_range.last_cell.row`` / ``.column``;
- ``sheet.range((r1, c1), (r2, c2)).options(ndim=2, err_to_str=True).value`` (one bulk
  read per sheet; error values as their text);
- ``sheet.range((r1, c1), (r2, c2)).value = [[...], ...]`` (one bulk write per block);
- ``sheet.clear_contents()``, ``book.save()``, ``book.fullname``;
- ``book.app.status_bar`` (guarded: the remote engine has none);
- ``book.names`` (iterate, ``.add(name, refers_to)``, ``name.refers_to``) for the marker;
- guarded, where the engine has them (Windows COM; the fake models them):
  ``range.has_array``, ``range.formula``, ``sheet.api.ProtectContents``,
  ``range.api.Locked``, ``sheet.api.Hyperlinks``, ``sheet.api.UsedRange.Find``,
  ``name.api.Visible``; for new columns ``range.column_width``, ``range.number_format``,
  ``sheet.tables`` (``table.range``, ``table.resize(range)``).

Text is written with a leading apostrophe. Assigning a string through ``Range.Value`` is
parsed by Excel as if typed: ``=HYPERLINK(...)`` becomes a formula, ``-x``/``+x``/``@x``
formulas too, ``00123`` a number, ``1-2`` a date. The apostrophe is Excel's own text
marker: it becomes the cell's ``PrefixCharacter``, is not part of ``Range.Value`` (so reading
back returns exactly the text written) and changes nothing else about the cell. The other
way, setting ``number_format = "@"`` first, was rejected: it leaves the cells formatted as
Text, so numbers written or typed into them later (an Order ID, a Charge) would be stored
as text and break ``SUM`` and lookups. Every ``str`` gets the apostrophe, not only the ones
that look dangerous, because what Excel coerces depends on the user's locale ("WAHR",
"1.2.", "Jan 5").

Live Excel has no transactions: :meth:`XlwingsWorkbook.save` validates and converts every
buffered value before the first write, so our own errors never leave a sheet half written;
if Excel itself refuses a write (a protected sheet), the error says which block and the
engine keeps the outcomes in its journal.

Example::

    import xlwings as xw
    from smmsheet.workbook.live import XlwingsWorkbook

    book = XlwingsWorkbook(xw.Book.caller())
    rows = book.read_values("Orders")
    book.write_cells("Orders", {(2, 8): 1001, (2, 9): "Pending"})
    book.save()                       # one range write per contiguous column run
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import WorkbookError
from ..values import excel_error
from .base import (
    MARKER_NAME,
    MAX_CELL_CHARS,
    MAX_ROW,
    CellValue,
    NewColumn,
    RowWatch,
    blank_blocks,
    cell_value_problem,
    check_cell_range,
    check_grid_size,
    check_marker,
    check_sheet_name,
    clean_text,
    column_letters,
    find_sheet,
    hidden_by_merge,
)
from .charts import ChartSheet
from .links import LinkRange, apply_links, calls_hyperlink, formula_target

__all__ = ["TEXT_PREFIX", "XlwingsWorkbook", "column_runs", "to_excel"]

#: Excel's "this is text" marker; not part of the cell's value.
TEXT_PREFIX = "'"
#: Excel's limits: characters per cell, rows and columns per sheet.

# Characters a workbook file cannot carry (C0 controls except tab/LF/CR, lone surrogates).


def to_excel(value: CellValue) -> Any:
    """A CellValue as it must be assigned to ``Range.value`` so Excel stores exactly it.

    Text gets the apostrophe text marker, ``Decimal`` becomes ``float`` (COM would turn it
    into a 4-decimal Currency), ``None`` clears the cell.

    >>> to_excel("=HYPERLINK(1)"), to_excel(Decimal("0.27819")), to_excel(None)
    ("'=HYPERLINK(1)", 0.27819, None)
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = clean_text(value, MAX_CELL_CHARS - 1)  # the apostrophe takes one character
        return TEXT_PREFIX + text if text else None
    if not isinstance(value, int | float | Decimal | dt.date):
        raise TypeError(f"cannot write a {type(value).__name__} to a cell")
    problem = cell_value_problem(value)
    if problem is not None:  # COM would raise OverflowError, or store something else
        raise WorkbookError(f"cannot write to a cell: {problem}")
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, Decimal):
        return float(value)
    return value


def column_runs(
    cells: Mapping[tuple[int, int], Any],
) -> Iterator[tuple[int, int, list[Any]]]:
    """Group ``{(row, col): value}`` into contiguous vertical runs ``(col, first_row, values)``.

    >>> list(column_runs({(2, 1): "a", (3, 1): "b", (5, 1): "c", (2, 4): 1}))
    [(1, 2, ['a', 'b']), (1, 5, ['c']), (4, 2, [1])]
    """
    run: list[Any] = []
    col = start = previous = 0
    for row_, col_ in sorted(cells, key=lambda rc: (rc[1], rc[0])):
        if run and col_ == col and row_ == previous + 1:
            run.append(cells[(row_, col_)])
        else:
            if run:
                yield col, start, run
            run, col, start = [cells[(row_, col_)]], col_, row_
        previous = row_
    if run:
        yield col, start, run


@dataclass
class _SheetEdit:
    """Buffered changes to one sheet: an optional full replacement, then single cells."""

    cells: dict[tuple[int, int], CellValue] = field(default_factory=dict)
    replacement: list[list[CellValue]] | None = None
    #: Columns added by this save: header row, then ``{col: NewColumn}``.
    columns: tuple[int, dict[int, NewColumn]] | None = None


class XlwingsWorkbook:
    """A workbook open in Excel (an ``xlwings.Book``) behind the WorkbookAdapter interface.

    ``persist=True`` also saves the file after the cells are written when the book has a
    local path, so the journal's "synced" really means "on disk"; unsaved books (``Book1``)
    and cloud documents are left to the user's own Save.
    """

    def __init__(self, book: Any, *, persist: bool = True) -> None:
        self.book = book
        self.persist = persist
        self._pending: dict[str, _SheetEdit] = {}
        self._marker: str | None = None  # a journal marker buffered until save
        self._totals: dict[str, dict[int, dict[int, CellValue]]] = {}  # totals_rows(), by sheet
        #: Range writes sent to Excel by the last :meth:`save` (tests, benchmarks).
        self.writes = 0

    def __repr__(self) -> str:
        return f"XlwingsWorkbook({self.fullname!r})"

    @property
    def fullname(self) -> str:
        """The book's full name: a path, a URL (OneDrive/SharePoint) or just ``Book1``."""
        try:
            return str(self.book.fullname)
        except Exception:  # the remote engine and unsaved books may not know it
            return str(getattr(self.book, "name", "workbook"))

    # -- reading ---------------------------------------------------------------------

    def sheet_names(self) -> list[str]:
        """Names of the worksheets, then sheets about to be added by :meth:`replace_sheet`."""
        names = self._excel_sheet_names()
        known = {n.casefold() for n in names}
        return names + [n for n in self._pending if n.casefold() not in known]

    def read_values(self, sheet: str, watch: RowWatch | None = None) -> list[list[CellValue]]:
        """All values of ``sheet`` as rows from A1, in ONE bulk read of the used range.

        Linked cells come back as :class:`~.base.LinkedText`: inserted links through COM's
        ``Hyperlinks``, ``HYPERLINK`` formulas through a second bulk read (of formulas),
        made only when Excel finds one, or when the engine cannot search. Excel hands the
        range over at once: ``watch`` sees each row after it.
        """
        name = self._resolve(sheet)
        edit = self._pending.get(name)
        if edit is not None and edit.replacement is not None:
            grid = [list(row) for row in edit.replacement]
        elif name.casefold() in {n.casefold() for n in self._excel_sheet_names()}:
            grid = self._read_grid(name)
        else:
            grid = []
        if edit is not None:
            for (row, col), value in edit.cells.items():
                while len(grid) < row:
                    grid.append([])
                line = grid[row - 1]
                if len(line) < col:
                    line.extend([None] * (col - len(line)))
                line[col - 1] = value
        if watch is not None:
            for line in grid:
                watch(line)
        return grid

    def _read_grid(self, name: str) -> list[list[CellValue]]:
        try:
            sheet = self.book.sheets[name]
            last = sheet.used_range.last_cell
            rows, cols = int(last.row), int(last.column)
            # err_to_str: an error cell (an Order ID showing #REF!) read as empty would be
            # an order to place again; as its text it is an UnknownValue (_from_excel).
            raw = sheet.range((1, 1), (rows, cols)).options(ndim=2, err_to_str=True).value
        except Exception as exc:
            raise WorkbookError(f"cannot read sheet {name!r} from Excel: {exc}") from exc
        grid = [[_from_excel(v) for v in row] for row in raw or []]
        while grid and all(v is None for v in grid[-1]):
            grid.pop()
        ranges = _link_ranges(sheet, rows, cols)
        if ranges:
            apply_links(grid, ranges)
        self._totals[name] = blank_blocks(grid, _totals_rows(sheet))
        return grid

    def totals_rows(self, sheet: str) -> Mapping[int, Mapping[int, CellValue]]:
        return self._totals.get(self._resolve(sheet), {})

    def hidden_rows(self, sheet: str, rows: Collection[int]) -> set[int]:
        """Which of ``rows`` Excel hides (``EntireRow.Hidden``: a filter, by hand, an
        outline), asked of runs of rows at once; WorkbookError when Excel cannot tell."""
        name = self._resolve(sheet)
        if name.casefold() not in {n.casefold() for n in self._excel_sheet_names()}:
            return set()
        target = self.book.sheets[name]
        found: set[int] = set()
        for first, last in _runs(sorted(set(rows))):
            _hidden_rows(target, first, last, found)
        return found

    # -- buffering -------------------------------------------------------------------

    def write_cells(self, sheet: str, cells: Mapping[tuple[int, int], CellValue]) -> None:
        """Buffer ``{(row, col): value}`` writes into ``sheet``; ``None`` clears a cell."""
        name = self._resolve(sheet)
        checked = {_check_coordinate(key): _check_value(value) for key, value in cells.items()}
        self._pending.setdefault(name, _SheetEdit()).cells.update(checked)

    def prepare(self, sheet: str, before_row: int) -> bool:
        """Nothing to start early: the save writes ranges into the open workbook."""
        return False

    def add_columns(self, sheet: str, header_row: int, columns: Mapping[int, NewColumn]) -> None:
        """Buffer new columns: headers, widths, number formats; a Table next to them grows.

        Saved after the cells: each column's width and number format (the cells below the
        header), then ``Table.resize`` for a Table whose header row is ``header_row`` and
        which ends just left of the columns. Engines without tables or formats (the
        remote one) write the headers only.
        """
        self.write_cells(sheet, {(header_row, col): new.title for col, new in columns.items()})
        edit = self._pending[self._resolve(sheet)]
        known = edit.columns[1] if edit.columns and edit.columns[0] == header_row else {}
        edit.columns = (header_row, {**known, **columns})

    def replace_sheet(self, sheet: str, rows: Sequence[Sequence[CellValue]]) -> None:
        """Buffer replacing every value of ``sheet`` (created at the end if missing)."""
        try:
            name = self._resolve(sheet)
        except WorkbookError:
            name = check_sheet_name(sheet)
        check_grid_size(rows)
        replacement = [[_check_value(v) for v in row] for row in rows]
        self._pending[name] = _SheetEdit(replacement=replacement)

    def _resolve(self, sheet: str) -> str:
        """The sheet's name as the workbook spells it (Excel names are case-insensitive)."""
        name = find_sheet(self.sheet_names(), sheet)
        if name is None:
            raise WorkbookError(f"the workbook has no worksheet named {sheet!r}")
        return name

    def _excel_sheet_names(self) -> list[str]:
        try:
            return [str(s.name) for s in self.book.sheets]
        except Exception as exc:
            raise WorkbookError(f"cannot list the sheets of the workbook: {exc}") from exc

    # -- the journal marker ------------------------------------------------------------

    def read_marker(self) -> str | None:
        """The text of the workbook-level name ``_smmsheet_journal``, or None without one."""
        if self._marker is not None:
            return self._marker
        name = self._marker_name()
        if name is None:
            return None
        value = str(_ask(lambda: name.refers_to, "") or "").strip().removeprefix("=")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return value[1:-1].replace('""', '"')
        return value  # not a text constant (edited by hand): the engine will see it differs

    def write_marker(self, text: str) -> None:
        """Buffer ``text`` as the journal marker: a hidden book-level name, set by :meth:`save`."""
        self._marker = check_marker(text)

    def _marker_name(self) -> Any:
        """The book-level ``_smmsheet_journal`` name (sheet-level names are ``Sheet!name``)."""
        try:
            names = list(self.book.names)
        except Exception as exc:
            raise WorkbookError(f"cannot read the names of the workbook: {exc}") from exc
        wanted = MARKER_NAME.casefold()
        return next((n for n in names if str(n.name).casefold() == wanted), None)

    def _save_marker(self, text: str) -> None:
        """Set the marker's name to the text constant, hidden where the engine allows."""
        formula = '="' + text.replace('"', '""') + '"'
        try:
            name = self._marker_name()
            if name is None:
                name = self.book.names.add(MARKER_NAME, formula)
            else:
                name.refers_to = formula
        except WorkbookError:
            raise
        except Exception as exc:
            raise WorkbookError(
                f"the cells were written but Excel refused the name {MARKER_NAME}: {exc}"
            ) from exc
        _ask(lambda: setattr(name.api, "Visible", False))  # COM only; elsewhere it shows

    # -- committing ------------------------------------------------------------------

    def check_writable(
        self, sheet: str | None = None, cells: Collection[tuple[int, int]] = ()
    ) -> None:
        """Refuse now, before anything is sent, what would make :meth:`save` fail.

        Always: a file Excel opened read-only (it could not be saved). With ``sheet``:
        cells outside the grid, and, for ``cells`` and every cell already buffered, cells
        of a legacy array formula (Excel will not change part of one) and locked cells of
        a protected sheet. Excel is asked once per contiguous column run, and only what
        the engine can tell is checked: Windows (COM) tells all of it, xlwings' remote
        engine knows no array formulas (its save then reports Excel's refusal).
        """
        self._check_not_read_only()
        if sheet is None:
            return
        name = self._resolve(sheet)
        planned = {name: {_check_coordinate(key): None for key in cells}}
        for other, edit in self._pending.items():
            planned.setdefault(other, {}).update(dict.fromkeys(edit.cells))
        existing = {n.casefold() for n in self._excel_sheet_names()}
        for target, keys in planned.items():
            if target.casefold() in existing and keys:
                self._check_cells(target, keys)

    def _check_not_read_only(self) -> None:
        if not self.persist or self.local_path() is None:
            return
        try:
            read_only = bool(self.book.api.ReadOnly)
        except Exception:  # noqa: BLE001 - engines without COM cannot tell; save() reports it
            return
        if read_only:
            raise WorkbookError(
                f"{self.book.name} is open read-only: save a copy you can write, then run again"
            )

    def _check_cells(self, name: str, keys: Mapping[tuple[int, int], None]) -> None:
        """Refuse cells of ``name`` that Excel would refuse to write (arrays, protection)."""
        sheet = self.book.sheets[name]
        protected = _ask(lambda: bool(sheet.api.ProtectContents), False)
        for col, first, values in column_runs(keys):
            last = first + len(values) - 1
            cell = _first_array_cell(sheet, col, first, last)
            if cell is not None:
                raise WorkbookError(
                    f"{name}!{cell} is part of an array formula, which Excel will not let "
                    "smmsheet change in part; clear the array formula or move the column"
                )
            hidden = _first_hidden_by_merge(sheet, col, first, last)
            if hidden is not None:
                raise WorkbookError(f"{name}!{hidden_by_merge(*hidden)}")
            if protected and _any_locked(sheet, col, first, last):
                raise WorkbookError(
                    f"the sheet {name!r} is protected and its cells "
                    f"{column_letters(col)}{first}:{column_letters(col)}{last} are locked; "
                    "unprotect the sheet or unlock those cells"
                )

    def save(self) -> None:
        """Write the buffered changes in blocks (one range write per contiguous column run)."""
        if not self._pending and self._marker is None:
            return
        plan = [(name, self._blocks(edit)) for name, edit in self._pending.items()]
        self.writes = 0
        for name, (replacement, runs) in plan:
            sheet = self._target_sheet(name, create=replacement is not None)
            where = name
            try:
                if replacement is not None:
                    sheet.clear_contents()
                    if replacement:
                        where = f"{name}!A1"
                        bottom, right = len(replacement), len(replacement[0])
                        sheet.range((1, 1), (bottom, right)).value = replacement
                        self.writes += 1
                for col, first, values in runs:
                    where = f"{name}!R{first}C{col}"
                    last = first + len(values) - 1
                    sheet.range((first, col), (last, col)).value = [[v] for v in values]
                    self.writes += 1
            except Exception as exc:
                raise WorkbookError(
                    f"Excel refused to write {where}: {exc}; cells before it were written"
                ) from exc
            columns = self._pending[name].columns
            if columns is not None:
                _format_columns(sheet, *columns)
        self._pending.clear()
        if self._marker is not None:
            self._save_marker(self._marker)
            self._marker = None
        if self.persist and self.local_path() is not None:
            try:
                self.book.save()
            except Exception as exc:
                raise WorkbookError(
                    f"the cells were written but Excel could not save {self.fullname}: {exc}"
                ) from exc

    def _blocks(
        self, edit: _SheetEdit
    ) -> tuple[list[list[Any]] | None, list[tuple[int, int, list[Any]]]]:
        """Convert every value up front, so a bad one fails before anything is written."""
        replacement = None
        if edit.replacement is not None:
            width = max((len(row) for row in edit.replacement), default=0)
            replacement = [
                [to_excel(v) for v in row] + [None] * (width - len(row)) for row in edit.replacement
            ]
            if width == 0:
                replacement = []
        cells = {key: to_excel(value) for key, value in edit.cells.items()}
        return replacement, list(column_runs(cells))

    def _target_sheet(self, name: str, *, create: bool) -> Any:
        try:
            for sheet in self.book.sheets:
                if str(sheet.name).casefold() == name.casefold():
                    return sheet
            if not create:
                raise WorkbookError(f"the sheet {name!r} is no longer in the workbook")
            sheets = list(self.book.sheets)
            return self.book.sheets.add(name=name, after=sheets[-1] if sheets else None)
        except WorkbookError:
            raise
        except Exception as exc:
            raise WorkbookError(f"cannot create the sheet {name!r}: {exc}") from exc

    def write_chart_sheet(self, sheet: ChartSheet, names: Sequence[str]) -> str:
        """Refused: native charts are written into saved files only (``smmsheet report``)."""
        raise WorkbookError(
            "report works on saved files: save and close the workbook in Excel, then run "
            "smmsheet report on it"
        )

    def close(self) -> None:
        """Drop buffered changes that were not saved; the book stays open in Excel."""
        self._pending.clear()
        self._marker = None
        self.status(None)

    # -- around the data -------------------------------------------------------------

    def local_path(self) -> Path | None:
        """The workbook file on this machine, or None (unsaved, OneDrive/SharePoint URL)."""
        name = self.fullname
        if "://" in name or not os.path.isabs(name):
            return None
        path = Path(name)
        return path if path.is_file() else None

    def status(self, text: str | None) -> None:
        """Show ``text`` in Excel's status bar (None gives it back to Excel); best effort."""
        try:
            self.book.app.status_bar = text if text is not None else False
        except Exception:  # the remote engine and some hosts have no status bar
            pass

    def progress(self, label: str, done: int, total: int) -> None:
        """A ``RunOptions.progress`` callback that reports in the status bar."""
        self.status(f"smmsheet: {label} {done}/{total}" if done < total else None)


def _format_columns(sheet: Any, header_row: int, columns: Mapping[int, NewColumn]) -> None:
    """Widths and number formats of new columns; the Table ending left of them takes them.

    Each step is guarded: an engine without it (the remote one has no tables) or a sheet
    that refuses it (protected) leaves the columns as plain written cells.
    """
    for col, look in columns.items():
        if look.width is not None:
            _ask(partial(setattr, sheet.range((header_row, col)), "column_width", look.width))
        if look.number_format is not None:
            below = sheet.range((header_row + 1, col), (MAX_ROW, col))
            _ask(partial(setattr, below, "number_format", look.number_format))
    first, last = min(columns), max(columns)
    if sorted(columns) != list(range(first, last + 1)):
        return

    def tables() -> list[Any]:
        return list(sheet.tables)

    for table in _ask(tables, []):
        cells = _ask(partial(getattr, table, "range"))
        if cells is None or int(cells.row) != header_row:
            continue
        if int(cells.last_cell.column) + 1 != first:
            continue
        grown = sheet.range((header_row, int(cells.column)), (int(cells.last_cell.row), last))
        _ask(partial(table.resize, grown))
        return


def _totals_rows(sheet: Any) -> list[tuple[int, int, int, int]]:
    """The blocks of the sheet's Table totals rows (SUBTOTAL results, never an order)."""
    blocks: list[tuple[int, int, int, int]] = []
    for table in _ask(lambda: list(sheet.tables), []):
        cells = _ask(partial(getattr, table, "totals_row_range"))
        if cells is not None and _ask(partial(getattr, table, "show_totals")):
            last = cells.last_cell
            blocks.append((int(cells.row), int(cells.column), int(last.row), int(last.column)))
    return blocks


def _from_excel(value: Any) -> CellValue:
    """A value xlwings read as a CellValue: "" is an empty cell, an error value (its text,
    or the COM code of one xlwings does not name, such as #SPILL!) an UnknownValue."""
    if value is None or value == "":
        return None
    unknown = excel_error(value)
    if unknown is not None:
        return unknown
    if isinstance(value, bool | str | float | int | dt.datetime | dt.date):
        return value
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _ask(question: Callable[[], Any], unknown: Any = None) -> Any:
    """Excel's answer, or ``unknown`` when this engine or host cannot answer it."""
    try:
        return question()
    except Exception:  # noqa: BLE001 - COM, AppleScript and the remote engine differ
        return unknown


def _link_ranges(sheet: Any, rows: int, cols: int) -> list[LinkRange]:
    """Where the sheet's hyperlinked cells point, as far as this engine can tell.

    Inserted links come from COM's ``Hyperlinks`` collection (Windows). ``HYPERLINK``
    formulas come from one bulk read of ``Range.formula``, skipped when COM's ``Find``
    says no formula mentions HYPERLINK; engines that cannot read formulas synchronously
    (xlwings' remote engine) give no formula links.
    """
    inserted = _ask(lambda: list(sheet.api.Hyperlinks), [])
    ranges = [link for item in inserted if (link := _com_link(item)) is not None]
    if not _ask(lambda: _finds_link_formula(sheet), True):
        return ranges
    formulas = _ask(lambda: sheet.range((1, 1), (rows, cols)).formula)
    if isinstance(formulas, str):
        formulas = [[formulas]]
    for r, line in enumerate(formulas or (), start=1):
        for c, formula in enumerate(line, start=1):
            if isinstance(formula, str) and formula.startswith("=") and calls_hyperlink(formula):
                ranges.append(LinkRange(r, c, r, c, formula_target(formula)))
    return ranges


def _finds_link_formula(sheet: Any) -> bool:
    """COM's Find over formulas (LookIn xlFormulas, LookAt xlPart): any mention of HYPERLINK."""
    return sheet.api.UsedRange.Find("HYPERLINK(", LookIn=-4123, LookAt=2) is not None


def _com_link(link: Any) -> LinkRange | None:
    """A COM ``Hyperlink`` as the cells it covers and its target (None: inside the book)."""

    def read() -> LinkRange:
        cells = link.Range
        top, left = int(cells.Row), int(cells.Column)
        bottom, right = top + int(cells.Rows.Count) - 1, left + int(cells.Columns.Count) - 1
        address, place = str(link.Address or "").strip(), str(link.SubAddress or "").strip()
        target = (f"{address}#{place}" if place else address) if address else None
        return LinkRange(top, left, bottom, right, target)

    found: LinkRange | None = _ask(read)
    return found


def _any_locked(sheet: Any, col: int, first: int, last: int) -> bool:
    """Whether any cell of the run is locked (True: all are, None: some are or unknown)."""
    return _ask(lambda: sheet.range((first, col), (last, col)).api.Locked) is not False


def _first_array_cell(sheet: Any, col: int, first: int, last: int) -> str | None:
    """The first cell of rows ``first``..``last`` of ``col`` in an array formula, or None.

    ``Range.has_array`` is True when every cell is in one, False when none is, and None
    when they differ (or the engine cannot tell): only then is the run split in two.
    """
    has_array = _ask(lambda: sheet.range((first, col), (last, col)).has_array)
    if has_array is False:
        return None
    if has_array is True:
        return f"{column_letters(col)}{first}"
    if first == last:
        return None  # this engine cannot tell
    middle = (first + last) // 2
    return _first_array_cell(sheet, col, first, middle) or _first_array_cell(
        sheet, col, middle + 1, last
    )


def _first_hidden_by_merge(sheet: Any, col: int, first: int, last: int) -> tuple[str, str] | None:
    """The first cell of rows ``first``..``last`` of ``col`` that merged cells hide (any
    cell of a merge but its first), and the merge's range; None when there is none.

    ``MergeCells`` is False when no cell of the run is merged (the everyday sheet: one
    question), True or None otherwise; the run is split until single cells, whose
    ``MergeArea`` tells where their merge starts. An engine that cannot tell says None.
    """
    merged = _ask(lambda: sheet.range((first, col), (last, col)).api.MergeCells, False)
    if merged is False:
        return None
    if first == last:
        area = _ask(lambda: sheet.range((first, col)).api.MergeArea)
        if area is None or (area.Row, area.Column) == (first, col):
            return None
        top, left = area.Row, area.Column
        bottom, right = top + area.Rows.Count - 1, left + area.Columns.Count - 1
        merge = f"{column_letters(left)}{top}:{column_letters(right)}{bottom}"
        return f"{column_letters(col)}{first}", merge
    middle = (first + last) // 2
    return _first_hidden_by_merge(sheet, col, first, middle) or _first_hidden_by_merge(
        sheet, col, middle + 1, last
    )


def _runs(rows: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted row numbers as runs of consecutive rows, ``(first, last)``."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and runs[-1][1] == row - 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


#: What :func:`_ask` gives when Excel cannot answer (None is an answer: the rows differ).
_UNTOLD = object()
#: ``xlCellTypeVisible``: the cells of a range that show.
_VISIBLE_CELLS = 12


def _hidden_rows(sheet: Any, first: int, last: int, found: set[int]) -> None:
    """Add the hidden rows of ``first``..``last`` to ``found``.

    A run of rows is asked how many of its cells in column A show
    (``SpecialCells(xlCellTypeVisible)``): all (a sheet that hides nothing: one question),
    or some, and the run is split in two. A single row, or a run none of whose cells show,
    is asked ``EntireRow.Hidden``; an engine without those (Excel for Mac) the rows' height
    (0 when hidden, None when they differ: then split). One that tells none refuses: what
    may be out of sight is not bought.
    """
    cells = sheet.range((first, 1), (last, 1))
    hidden: Any = _UNTOLD
    if first < last:
        # The visible cells of a one-column run are its rows shown: documented, where what
        # EntireRow.Hidden says of a run only partly hidden is not. (Never of one cell: there
        # SpecialCells looks at the whole used range.) None shown raises "No cells were
        # found", as a Mac without SpecialCells raises: the questions below tell which.
        shown = _ask(lambda: cells.api.SpecialCells(_VISIBLE_CELLS).Count, _UNTOLD)
        if shown == last - first + 1:
            hidden = False
        elif type(shown) is int and shown > 0:
            hidden = None  # some rows show, some do not
    if hidden is _UNTOLD:
        hidden = _ask(lambda: cells.api.EntireRow.Hidden, _UNTOLD)
    if hidden is _UNTOLD:  # no COM (Excel for Mac): a hidden row's height is 0
        height = _ask(lambda: cells.row_height, _UNTOLD)
        hidden = height if height is _UNTOLD or height is None else height == 0
    if hidden is _UNTOLD:
        raise WorkbookError(
            f"Excel cannot tell whether rows {first}-{last} of sheet {sheet.name!r} are hidden; "
            "a row out of sight is never bought, so nothing was placed"
        )
    if hidden is True:
        found.update(range(first, last + 1))
    elif hidden is None and first < last:
        middle = (first + last) // 2
        _hidden_rows(sheet, first, middle, found)
        _hidden_rows(sheet, middle + 1, last, found)


def _check_coordinate(key: tuple[int, int]) -> tuple[int, int]:
    row, col = key
    if not (isinstance(row, int) and isinstance(col, int)):
        raise TypeError(f"cell coordinates must be (row, col) integers, got {key!r}")
    check_cell_range(row, col)
    return row, col


def _check_value(value: CellValue) -> CellValue:
    """Refuse what a cell cannot hold when it is buffered, not halfway through a save."""
    to_excel(value)
    return value
