"""The adapter: :class:`XlsxWorkbook`, the :class:`~..base.WorkbookAdapter` for a saved file.

Reads with calamine (links found by :mod:`.links` on a second thread), buffers writes as
:class:`~.sheet_patch.SheetEdit`, saves through :mod:`.save` into a temporary file renamed
over the original, and checks the file (lock, permissions, zip bomb, free space) around
that. May import every layer of the package.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import stat
import tempfile
import threading
import zipfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, Any, cast

from smmsheet.errors import WorkbookBusyError, WorkbookError

from ..base import (
    MAX_COL,
    MAX_EXACT_INT,
    MAX_EXCEL_NUMBER,
    MAX_ROW,
    MIN_EXCEL_NUMBER,
    CellValue,
    NewColumn,
    RowWatch,
    UnknownValue,
    blank_blocks,
    check_cell_range,
    check_grid_size,
    check_marker,
    check_sheet_name,
    find_sheet,
    own_sheet,
)
from ..charts import ChartSheet
from ..links import LinkRange, apply_links
from .cells import CALAMINE_ODD_TYPES, check_value, from_calamine
from .chart_sheet import ChartSheetEdit
from .columns import NewColumns, totals_rows
from .hidden import HiddenByDefault, hidden_rows
from .links import may_have_links, relationship_targets, sheet_links
from .names import CONTENT_TYPES_PART, ROOT_RELS_PART
from .opc import DAMAGED, Package, rels_part, stored_marker
from .prepared import PreparedSheet, prepare_sheet
from .prepared_process import PreparedElsewhere, helper_wanted
from .preview import first_rows
from .save import Ready, dry_run_package, rewrite_package
from .sheet_patch import RowCells, SheetEdit
from .unknown import hints_of, may_have_unknown, unknown_cells
from .zipsafe import check_sizes, inflate

__all__ = ["excel_lock_file", "SUPPORTED_SUFFIXES", "XlsxWorkbook"]


#: File types this adapter opens; .xls, .xlsb and .csv are refused.
SUPPORTED_SUFFIXES = (".xlsx", ".xlsm")
_LOCK_PREFIX = "~$"
#: LibreOffice's lock file: ``.~lock.`` + the file name + ``#``.
_OFFICE_LOCK = ".~lock.{}#"
_TEMP_PREFIX = ".~smmsheet-"
#: The head starts a save may have (:meth:`XlsxWorkbook.prepare`).
_PREPARATIONS = (PreparedSheet, PreparedElsewhere)


def excel_lock_file(path: str | os.PathLike[str]) -> Path | None:
    """The lock file Excel or LibreOffice keeps beside ``path`` while the workbook is open.

    Excel names its owner file ``~$`` + the file name, or replaces the first two characters
    of long names (``~$ders.xlsx`` for ``orders.xlsx``); LibreOffice writes
    ``.~lock.orders.xlsx#``. Every spelling is checked.

    >>> excel_lock_file("orders.xlsx") is None  # doctest: +SKIP
    True
    """
    target = Path(path)
    name = target.name
    candidates = [_LOCK_PREFIX + name]
    if len(name) > 2:
        candidates.append(_LOCK_PREFIX + name[2:])
    candidates.append(_OFFICE_LOCK.format(name))
    for candidate in candidates:
        lock = target.with_name(candidate)
        if lock.exists():
            return lock
    return None


def check_not_open(path: str | os.PathLike[str]) -> None:
    """Refuse to replace a workbook Excel or LibreOffice has open (its lock file is beside it)."""
    lock = excel_lock_file(path)
    if lock is not None:
        raise WorkbookBusyError(_busy_message(Path(path), lock))


def _busy_message(path: Path, lock: Path) -> str:
    """Which program has the workbook open, by its lock file; a hint when it may be stale."""
    program = "Excel" if lock.name.startswith(_LOCK_PREFIX) else "LibreOffice"
    message = f"{path.name} is open in {program} (lock file {lock.name}); close it and run again"
    try:
        stale = lock.stat().st_mtime < path.stat().st_mtime
    except OSError:
        stale = False
    if stale:
        message += (
            f". The lock file is older than the workbook's last save, so {program} may have "
            f"left it behind when it closed: if no program has the "
            f"workbook open, delete {lock.name}"
        )
    return message


#: The first bytes of an OLE compound file: what Excel writes for a workbook encrypted with a
#: password (and what an old .xls is).
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _refuse_unreadable_content(path: Path) -> None:
    """Name the two unreadable files a reseller meets most: empty, and password-protected."""
    try:
        with path.open("rb") as file:
            start = file.read(len(OLE_MAGIC))
    except OSError as exc:
        raise WorkbookError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    if not start:
        raise WorkbookError(f"{path.name} is empty (0 bytes): it is not a saved workbook")
    if start == OLE_MAGIC:
        raise WorkbookError(
            f"{path.name} is password-protected (or an old .xls renamed): remove the password "
            "in Excel (File > Info > Protect Workbook > Encrypt with Password) or save it as "
            ".xlsx, then run again"
        )


class XlsxWorkbook:
    """A saved .xlsx/.xlsm on disk: calamine reads, surgical zip-level writes.

    Numbers are returned as calamine reads them: every number is a ``float`` (an order id
    1001 reads as ``1001.0``); callers normalise. Dates come back as ``date`` or
    ``datetime`` as the cell's format shows them; durations and times as the float day
    fraction Excel stores; error cells (``#N/A``) and empty cells as ``None``; a cell
    with a hyperlink or a ``HYPERLINK`` formula as :class:`~.base.LinkedText`. Reads
    include writes buffered but not yet saved, as a live workbook would.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._pending: dict[str, SheetEdit] = {}
        self._marker: str | None = None  # a journal marker buffered until save
        self._charts: dict[str, ChartSheetEdit] = {}  # sheets of charts buffered until save
        #: The next save's sheet patched ahead (:meth:`prepare`); False once that failed.
        self._prepared: PreparedSheet | PreparedElsewhere | None | bool = None
        self._totals: dict[str, dict[int, dict[int, CellValue]]] = {}  # totals_rows(), by sheet
        self._check_readable()
        self._sheet_names, self._other_sheets = self._read_sheet_names()

    @property
    def path(self) -> Path:
        """The workbook file this adapter reads and writes."""
        return self._path

    def __repr__(self) -> str:
        return f"XlsxWorkbook({str(self._path)!r})"

    def __enter__(self) -> XlsxWorkbook:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------

    def sheet_names(self) -> list[str]:
        """Names of the worksheets (chart sheets excluded), then sheets about to be added."""
        new = [name for name, edit in self._pending.items() if edit.is_new]
        known = {name.casefold() for name in [*self._sheet_names, *new]}
        new += [name for name in self._charts if name.casefold() not in known]
        return [*self._sheet_names, *new]

    def read_values(self, sheet: str, watch: RowWatch | None = None) -> list[list[CellValue]]:
        """All values of ``sheet`` as rows starting at A1, with buffered writes applied.

        Linked cells come back as :class:`~.base.LinkedText` (see ``WorkbookAdapter``).
        ``watch`` sees each row as calamine hands it over, when no write is buffered for
        the sheet; otherwise each row once it is read whole.
        """
        name = self._resolve(sheet)
        edit = self._pending.get(name)
        grid: list[list[CellValue]]
        if edit is not None and edit.replacement is not None:
            grid = [list(row) for row in edit.replacement]
        else:
            grid = self._read_grid(name, None if edit is not None else watch)
        if edit is not None:
            for row, cells in edit.rows.items():
                while len(grid) < row:
                    grid.append([])
                line = grid[row - 1]
                for col, value in cells.items():
                    if len(line) < col:
                        line.extend([None] * (col - len(line)))
                    line[col - 1] = value
            if watch is not None:
                for line in grid:
                    watch(line)
        return grid

    def _read_grid(self, name: str, watch: RowWatch | None = None) -> list[list[CellValue]]:
        """The sheet's values, hyperlinked cells as LinkedText.

        The sheet's XML is searched for links on a second thread while calamine reads
        it, so a sheet without links costs no time; only a sheet that has some is
        read a second time, by :mod:`.links`.
        """
        self._check_readable()
        search = _Background(lambda: self._scan(name))
        look = None if watch is None else _FirstLook(self._path, name, watch)
        try:
            grid = self._calamine_grid(name, watch, look)
        except WorkbookError:
            search.result()  # a part lying about its size: say so, rather than calamine
            raise
        finally:
            if look is not None:
                look.close()
        ranges, unknown = search.result()
        if ranges:
            apply_links(grid, ranges)
        if unknown:
            _mark_unknown(grid, unknown)
        self._totals[name] = blank_blocks(grid, self._totals_rows(name))
        return grid

    def totals_rows(self, sheet: str) -> Mapping[int, Mapping[int, CellValue]]:
        return self._totals.get(self._resolve(sheet), {})

    def _totals_rows(self, name: str) -> list[tuple[int, int, int, int]]:
        """The sheet's Table totals rows (their cells read as empty: they hold no order)."""
        try:
            with zipfile.ZipFile(self._path) as archive:
                package = Package(archive, self._path.name, lenient=True)
                info = package.sheets.get(name.casefold())
                if info is None or not package.has(info.part):
                    return []
                return totals_rows(package, info.part)
        except OSError as exc:
            raise WorkbookError(f"cannot read {self._path.name}: {exc.strerror or exc}") from exc
        except DAMAGED:
            return []  # the sheet was read; its tables are not needed to read it

    def _scan(self, name: str) -> _Scan:
        """Where the sheet's hyperlinked cells point, and which cells calamine reads as
        empty but are not (errors, uncalculated formulas); nothing inflated past declared
        sizes, and the XML parsed only when a byte search finds a hint of either."""
        label = self._path.name
        with self._sheet_part(name) as found:
            if found is None:
                return [], []
            package, part, source, member = found
            tail = b""
            links = unknown = False
            hints: tuple[bytes, ...] | None = None
            kept = _LINK_TAIL
            for chunk in inflate(source, member, label):
                data = tail + chunk
                if hints is None:  # the first chunk holds the root: is it prefixed?
                    hints = hints_of(data)
                    kept = max(kept, *map(len, hints))  # a hint cut in two is found
                links = links or may_have_links(data)
                unknown = unknown or may_have_unknown(data, hints)
                if links and unknown:
                    break
                tail = chunk[-kept:]
            if not (links or unknown):
                return [], []
            xml = b"".join(inflate(source, member, label))
            targets: dict[str, str] = {}
            rels = rels_part(part)
            if links and package.has(rels):
                targets = relationship_targets(package.read(rels))
        return (
            sheet_links(xml, targets) if links else [],
            unknown_cells(xml) if unknown else [],
        )

    def _calamine_grid(
        self, name: str, watch: RowWatch | None = None, look: _FirstLook | None = None
    ) -> list[list[CellValue]]:
        """The sheet's values from calamine, converted row by row as they are read.

        ``iter_rows`` hands over one row at a time, so calamine's own list of every row and
        this grid are never both in memory (a million rows: hundreds of MB less); each row's
        list is converted in place and kept, and shown to ``watch``: all but the rows
        ``look`` showed it while calamine parsed the sheet.
        """
        from python_calamine import CalamineError, CalamineWorkbook, WorksheetNotFound

        try:
            with CalamineWorkbook.from_path(str(self._path)) as book:
                try:
                    sheet = book.get_sheet_by_name(name)
                except WorksheetNotFound:  # named in workbook.xml, its part not found
                    raise WorkbookError(
                        f"cannot read sheet {name!r} of {self._path.name}: the part it points "
                        "to is not in the file under that name; save the workbook again in Excel"
                    ) from None
                start, height = sheet.start, sheet.height
                if start is None or not height:
                    return []
                top, left = start
                grid: list[list[CellValue]] = [[] for _ in range(top)]
                rows = sheet.iter_rows()  # the rows above the data first, cut at its left
                for _ in range(top):
                    next(rows, None)
                if watch is None:
                    for row in rows:
                        grid.append(_converted(row, left))
                else:
                    shown = 0 if look is None else look.stop()
                    for line in grid[shown:]:
                        watch(line)
                    for row in rows:
                        line = _converted(row, left)
                        grid.append(line)
                        if len(grid) > shown:
                            watch(line)
                if len(grid) != top + height:  # not the layout described: read it whole
                    raw = sheet.to_python(skip_empty_area=True)
                    grid[top:] = [_converted(row, left) for row in raw]
        except (CalamineError, OSError, ValueError) as exc:
            raise WorkbookError(f"cannot read sheet {name!r} of {self._path.name}: {exc}") from exc
        return grid

    def _read_sheet_names(self) -> tuple[list[str], list[str]]:
        """The worksheet names, and the names of the other sheets (charts, macros, dialogs)."""
        from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum

        try:
            with CalamineWorkbook.from_path(str(self._path)) as book:
                sheets = book.sheets_metadata
        except (CalamineError, OSError, ValueError) as exc:
            raise WorkbookError(f"{self._path.name} is not a readable workbook: {exc}") from exc
        named: dict[str, str] = {}
        for name in (meta.name for meta in sheets):
            key = name.casefold()
            if key in named:
                # Excel takes the two for one: the rows read and the cells written could be on
                # different sheets, the Order IDs landing in another sheet of the user's.
                raise WorkbookError(
                    f"{self._path.name} is refused: it names two sheets {named[key]!r} and "
                    f"{name!r}, which Excel takes for one, and programs differ in which one "
                    "they show: rename one"
                )
            named[key] = name
        worksheets = [meta.name for meta in sheets if meta.typ == SheetTypeEnum.WorkSheet]
        others = [meta.name for meta in sheets if meta.typ != SheetTypeEnum.WorkSheet]
        return worksheets, others

    def hidden_rows(self, sheet: str, rows: Collection[int]) -> set[int]:
        """Which of ``rows`` the sheet hides (``<row hidden="1">``: a filter, by hand)."""
        wanted = set(rows)
        if not wanted:
            return set()
        with self._sheet_part(self._resolve(sheet)) as found:
            if found is None:
                return set()  # a sheet still to be added: nothing of it is hidden
            _, _, source, member = found
            try:
                return hidden_rows(inflate(source, member, self._path.name)) & wanted
            except HiddenByDefault:
                raise WorkbookError(
                    f"{self._path.name}: sheet {sheet!r} hides its rows unless told otherwise "
                    "(a row height of 0 by default), so which rows show cannot be told and "
                    "nothing was placed; in Excel select every row (the corner above row 1), "
                    "Home > Format > Hide & Unhide > Unhide Rows, and save"
                ) from None

    @contextlib.contextmanager
    def _sheet_part(
        self, name: str
    ) -> Iterator[tuple[Package, str, IO[bytes], zipfile.ZipInfo] | None]:
        """The sheet's package, part name, an open file and its zip member, to read the
        part as it inflates (None: not in the file). A file that cannot be read, or is
        damaged, raises WorkbookError naming the sheet, whatever the reader was doing."""
        label = self._path.name
        try:
            with zipfile.ZipFile(self._path) as archive, open(self._path, "rb") as source:
                package = Package(archive, label, lenient=True)
                info = package.sheets.get(name.casefold())
                if info is None or not package.has(info.part):
                    yield None
                    return
                member = archive.getinfo(package.by_lower[info.part.lower()])
                yield package, info.part, source, member
        except OSError as exc:
            raise WorkbookError(f"cannot read {label}: {exc.strerror or exc}") from exc
        except DAMAGED as exc:
            raise WorkbookError(f"cannot read sheet {name!r} of {label}: {exc}") from exc

    # -- buffering -------------------------------------------------------------------

    def write_cells(self, sheet: str, cells: Mapping[tuple[int, int], CellValue]) -> None:
        """Buffer ``{(row, col): value}`` writes into ``sheet``; ``None`` clears a cell."""
        name = self._resolve(sheet)
        # Checked into rows of their own first, so a refused value leaves nothing buffered;
        # a row's cells given together in column order (as the engine gives them) become one
        # compact RowCells, any other order a dict.
        staged: dict[int, Mapping[int, CellValue]] = {}
        layouts: dict[tuple[int, ...], tuple[int, ...]] = {}
        cols: list[int] = []
        found: list[CellValue] = []
        current = 0
        # The same few texts and charges come on every row (a status, a currency, the run's
        # time): each distinct one is checked once. Bounded: every row's own error is new.
        texts: dict[str, CellValue] = {}
        checked: set[Decimal | dt.date] = set()  # charges, and the run's time in every row

        def flush() -> None:
            layout = tuple(cols)
            row_cells = RowCells(layouts.setdefault(layout, layout), tuple(found))
            before = staged.get(current)
            staged[current] = row_cells if before is None else {**before, **row_cells}

        valid: object = None  # the last row number found valid (the same object per row)
        for key, value in cells.items():
            row, col = key
            if row is not valid:
                if type(row) is not int or type(col) is not int:  # bools are not coordinates
                    raise TypeError(f"cell coordinates must be (row, col) integers, got {key!r}")
                if not (0 < row <= MAX_ROW and 0 < col <= MAX_COL):
                    raise ValueError(f"cell ({row}, {col}) is outside a worksheet")
                valid = row
            elif type(col) is not int:
                raise TypeError(f"cell coordinates must be (row, col) integers, got {key!r}")
            elif not 0 < col <= MAX_COL:
                raise ValueError(f"cell ({row}, {col}) is outside a worksheet")
            kind = type(value)
            # The common cases stay cheap for 100,000-row runs; the rare ones are checked.
            # (Typed names below instead of cast(): a call per cell.)
            if kind is int:
                whole: int = value  # type: ignore[assignment]
                if not -MAX_EXACT_INT <= whole <= MAX_EXACT_INT:
                    value = check_value(value)
            elif kind is str:
                text: str = value  # type: ignore[assignment]
                cleaned = texts.get(text)
                if cleaned is None:
                    if len(texts) > _CHECKED_KEPT:
                        texts.clear()
                    cleaned = texts[text] = check_value(text)
                value = cleaned
            elif kind is float:
                number: float = value  # type: ignore[assignment]
                magnitude = abs(number)
                if not MIN_EXCEL_NUMBER <= magnitude <= MAX_EXCEL_NUMBER and magnitude != 0.0:
                    value = check_value(value)
            elif kind in _CHECKED_ONCE:
                try:
                    seen = value in checked
                except TypeError:  # a signalling NaN cannot be hashed: check_value refuses it
                    seen = False
                if not seen:
                    value = check_value(value)
                    if len(checked) > _CHECKED_KEPT:
                        checked.clear()
                    checked.add(cast(Decimal | dt.date, value))
            elif value is not None:
                value = check_value(value)
            if row != current or col <= cols[-1]:
                if cols:
                    flush()
                cols, found, current = [], [], row
            cols.append(col)
            found.append(value)
        if cols:
            flush()
        edit = self._pending.get(name)
        if edit is None:
            self._pending[name] = SheetEdit(staged)
        else:
            rows = edit.rows
            for row, new_cells in staged.items():
                before = rows.get(row)
                rows[row] = new_cells if before is None else {**before, **new_cells}
        prepared = self._prepared
        if isinstance(prepared, _PREPARATIONS) and prepared.name == name:
            prepared.note(staged)

    def prepare(self, sheet: str, before_row: int) -> bool:
        """Start the next save on the rows of ``sheet`` above ``before_row``, now.

        A hint from a run still waiting on the panel: those rows are buffered as it means
        to save them. Their XML is patched and deflated here (on the idle CPU) instead of
        at :meth:`save`, which uses it only if nothing has changed it since: the rows, the
        sheet's edit, the file on disk. Anything else and the save patches as always.
        False when this save cannot be prepared (a sheet only the tree patcher takes, one
        too large to hold through a run, new columns, ...): the run need not ask again.
        """
        if self._prepared is False:
            return False
        name = self._resolve(sheet)
        edit = self._pending.get(name)
        if edit is None or edit.replacement is not None or edit.is_new or edit.columns:
            return False
        prepared = self._prepared
        if not isinstance(prepared, _PREPARATIONS):
            prepared = self._start_preparation(name, edit)
            if prepared is None:
                self._prepared = False  # not worth trying again before the save
                return False
            self._prepared = prepared
            prepared.note(edit.rows)
        elif prepared.name != name or prepared.edit is not edit:
            return False  # one sheet a save
        try:
            prepared.advance(before_row)
        except Exception:  # noqa: BLE001 -- a head start only; the save finds and reports it
            self._drop_prepared(failed=True)
            return False
        if prepared.broken:  # its work is lost: its copy of the file (its helper) goes now
            self._drop_prepared(failed=True)
            return False
        return True

    def _drop_prepared(self, failed: bool = False) -> None:
        prepared = self._prepared
        self._prepared = False if failed else None
        if isinstance(prepared, _PREPARATIONS):
            prepared.close()

    def _start_preparation(
        self, name: str, edit: SheetEdit
    ) -> PreparedSheet | PreparedElsewhere | None:
        """A head start on saving ``name``: in a helper process for a large sheet (see
        :mod:`.prepared_process`), else here; None where only the save itself will do."""
        try:
            with self._sheet_part(name) as found:
                size = 0 if found is None else found[3].file_size
        except WorkbookError:
            return None  # the save reports it
        if helper_wanted(size):
            with contextlib.suppress(OSError):  # no interpreter to start: the head start stays here
                return PreparedElsewhere(self._path, name, edit, self._path.name, size)
        return prepare_sheet(self._path, name, edit, self._path.name)

    def add_columns(self, sheet: str, header_row: int, columns: Mapping[int, NewColumn]) -> None:
        """Buffer new columns: headers, widths, number formats; a Table next to them grows.

        Applied by the save (:mod:`.columns`), once: the cells written into the columns by
        that save get their format too.
        """
        self.write_cells(sheet, {(header_row, col): new.title for col, new in columns.items()})
        edit = self._pending[self._resolve(sheet)]
        if edit.columns is None or edit.columns.header_row != header_row:
            edit.columns = NewColumns(header_row)
        edit.columns.columns.update(columns)

    def replace_sheet(self, sheet: str, rows: Sequence[Sequence[CellValue]]) -> None:
        """Buffer replacing every value of ``sheet`` (created at the end if missing).

        Cell formats, column widths, views and the like of an existing sheet are kept;
        only values change.
        """
        try:
            name = self._resolve(sheet)
        except WorkbookError:
            name = check_sheet_name(sheet)
            if name.casefold() in {other.casefold() for other in self._other_sheets}:
                raise WorkbookError(
                    f"{self._path.name} has a chart sheet named {sheet!r}; "
                    "a worksheet cannot take its name"
                ) from None
        is_new = name.casefold() not in {existing.casefold() for existing in self._sheet_names}
        check_grid_size(rows)
        replacement = [[check_value(value) for value in row] for row in rows]
        self._pending[name] = SheetEdit(replacement=replacement, is_new=is_new)

    def _resolve(self, sheet: str) -> str:
        """The sheet's name as the workbook spells it (Excel names are case-insensitive)."""
        name = find_sheet(self.sheet_names(), sheet)
        if name is None:
            raise WorkbookError(f"{self._path.name} has no worksheet named {sheet!r}")
        return name

    def write_chart_sheet(self, sheet: ChartSheet, names: Sequence[str]) -> str:
        """Buffer writing ``sheet`` (tables and native charts) until :meth:`save`.

        It goes into the first of ``names`` that is free or holds a sheet smmsheet wrote
        (its first cell is ``sheet.signature``), which is then replaced whole with its
        drawing and charts; a sheet of the user's (or a chart sheet) of that name is left
        alone. Returns the name used; raises :class:`WorkbookError` when every name is taken.
        """

        def ours(name: str) -> bool:
            if find_sheet(self._sheet_names, name) is None:
                return False  # a chart sheet, or another sheet type: never ours
            rows = self.read_values(name)
            return bool(rows and rows[0] and rows[0][0] == sheet.signature)

        name = own_sheet([*self._sheet_names, *self._other_sheets], names, ours)
        if name is None:
            listed = " and ".join(repr(n) for n in names)
            raise WorkbookError(
                f"the sheets {listed} of {self._path.name} were not written by smmsheet: "
                "rename one of them and run again"
            )
        check_sheet_name(name)
        self._charts[name] = ChartSheetEdit(name, sheet)
        return name

    # -- the journal marker ------------------------------------------------------------

    def read_marker(self) -> str | None:
        """The text of the hidden defined name ``_smmsheet_journal``, or None without one.

        A marker buffered by :meth:`write_marker` is returned before it is saved.
        """
        if self._marker is not None:
            return self._marker
        self._check_readable()
        try:
            with zipfile.ZipFile(self._path) as archive:
                package = Package(archive, self._path.name, lenient=True)
                return stored_marker(package)
        except OSError as exc:
            raise WorkbookError(f"cannot read {self._path.name}: {exc}") from exc
        except DAMAGED as exc:
            raise WorkbookError(f"{self._path.name} is damaged: {exc}") from exc

    def write_marker(self, text: str) -> None:
        """Buffer ``text`` as the workbook's journal marker until :meth:`save`.

        It is stored in ``xl/workbook.xml`` as a hidden workbook-level defined name,
        ``_smmsheet_journal``, whose value is a text constant: Excel keeps it across its
        own saves, shows it nowhere, and it needs no sheet.
        """
        self._marker = check_marker(text)

    # -- committing ------------------------------------------------------------------

    def save(self) -> None:
        """Write all buffered changes in one atomic replace; nothing changes on any error."""
        try:
            if not self._pending and self._marker is None and not self._charts:
                return
            self._save()
        finally:
            self._drop_prepared()

    def _save(self) -> None:
        self._check_readable()
        self._check_writable()
        target = Path(os.path.realpath(self._path))  # replace a symlink's target, not the link
        name = self._path.name
        ready = self._ready()
        temp: Path | None = None
        try:
            fd, temp_name = tempfile.mkstemp(
                prefix=f"{_TEMP_PREFIX}{target.name}.", suffix=".tmp", dir=target.parent
            )
            temp = Path(temp_name)
            with open(fd, "wb") as out:
                extras = list(self._charts.values())
                if ready is not None:
                    rewrite_package(
                        ready.source, out, self._pending, name, self._marker, extras, ready
                    )
                else:
                    with open(target, "rb") as source:
                        rewrite_package(source, out, self._pending, name, self._marker, extras)
                out.flush()
                os.fsync(out.fileno())
            self._drop_prepared()  # its thread ended, its copy of the file freed
            os.chmod(temp, stat.S_IMODE(target.stat().st_mode))
            self._check_not_busy()
            os.replace(temp, target)
        except BaseException as exc:
            if temp is not None:
                with contextlib.suppress(OSError):
                    temp.unlink()
            if isinstance(exc, OSError):
                reason = exc.strerror or str(exc)
                raise WorkbookError(f"cannot write {name}: {reason}; it is unchanged") from exc
            if isinstance(exc, DAMAGED):
                raise WorkbookError(f"{name} is damaged and was not changed: {exc}") from exc
            raise
        _fsync_directory(target.parent)
        self._sheet_names, self._other_sheets = self._read_sheet_names()
        self._pending.clear()
        self._marker = None
        self._charts.clear()

    def _ready(self) -> Ready | None:
        """The sheet :meth:`prepare` patched, finished, if the save can take it as it is."""
        prepared = self._prepared
        if not isinstance(prepared, _PREPARATIONS):
            return None
        try:
            patched = prepared.finish(self._pending.get(prepared.name))
        except Exception:  # noqa: BLE001 -- the ordinary save finds and reports it
            patched = None
        file, package, styles = prepared.file, prepared.package, prepared.styles
        # The save patches the sheets in the order they were first written: a date format
        # the head start added would take the place the plain save gives a sheet before it.
        first = next(iter(self._pending), None)
        late = styles is not None and styles.changed and first != prepared.name
        if patched is None or file is None or package is None or styles is None or late:
            self._drop_prepared()
            return None
        return Ready(file, package, styles, {prepared.name: patched})

    def close(self) -> None:
        """Drop buffered changes that were not saved; nothing stays open between calls."""
        self._drop_prepared()
        self._pending.clear()
        self._marker = None
        self._charts.clear()

    # -- checks ----------------------------------------------------------------------

    def _check_readable(self) -> None:
        """Refuse missing, foreign, busy or zip-bomb files before anything else reads them."""
        path = self._path
        if not path.is_file():  # first: "orders.xslx" is a typo, not a file to convert
            where = "" if path.is_absolute() else f" in {Path.cwd()}"  # cron's cwd is not yours
            if path.exists():
                raise WorkbookError(f"{path} is not a file{where}")
            new = ""
            if path.suffix.lower() in SUPPORTED_SUFFIXES:  # not for a typo: orders.xslx
                name = f'"{path}"' if " " in str(path) else str(path)
                new = f"; `smmsheet new {name}` writes a blank order workbook"
            raise WorkbookError(f"{path} does not exist{where}{new}")
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise WorkbookError(
                f"{path.name} is not an .xlsx or .xlsm workbook; save it as .xlsx in Excel first"
            )
        self._check_not_busy()
        _refuse_unreadable_content(path)
        try:
            with zipfile.ZipFile(path) as archive:
                names = {name.lower() for name in archive.namelist()}
                check_sizes(archive, path.name)  # a zip bomb is refused before it inflates
        except (zipfile.BadZipFile, OSError) as exc:
            raise WorkbookError(f"{path.name} is not a valid Excel workbook ({exc})") from exc
        if CONTENT_TYPES_PART.lower() not in names or ROOT_RELS_PART not in names:
            raise WorkbookError(f"{path.name} is a zip file but not an Excel workbook")
        if "xl/workbook.bin" in names:
            raise WorkbookError(
                f"{path.name} is a binary workbook (.xlsb) renamed; save it as .xlsx in Excel"
            )

    def check_writable(
        self, sheet: str | None = None, cells: Collection[tuple[int, int]] = ()
    ) -> None:
        """Refuse now, before anything is sent, what would make :meth:`save` fail.

        Always: Excel holding the file, a read-only file or folder, a zip bomb. With
        ``sheet``, a dry run of the save itself: the real patch code runs on the file with
        ``cells`` of ``sheet`` set to a number, then to a text, over everything already
        buffered, and stops before the zip is written; then a file is created and removed
        beside the workbook and the free space there is checked. The workbook and the
        buffered changes are left as they were. On a 100,000-row sheet it takes about
        1.4 s for a few cells and 4.4 s for 8 cells a row (a save of those: 3.4 s).

        >>> book.check_writable("Orders", [(2, 6), (2, 7)])  # doctest: +SKIP
        """
        self._check_readable()
        self._check_writable()
        if sheet is None:
            return
        name = self._resolve(sheet)
        planned = _checked_cells(cells)
        target = Path(os.path.realpath(self._path))
        cache: dict[str, bytes | bytearray] = {}
        needed = max(self._dry_run(target, name, planned, v, cache) for v in _PLACEHOLDERS)
        _check_folder(target.parent, needed, self._path.name)

    def _dry_run(
        self,
        target: Path,
        name: str,
        cells: list[tuple[int, int]],
        value: CellValue,
        cache: dict[str, bytes | bytearray],
    ) -> int:
        """Run the save with ``cells`` set to ``value``, stopping short of writing anything."""
        label = self._path.name
        edits = {sheet: edit.copy() for sheet, edit in self._pending.items()}
        rows = edits.setdefault(name, SheetEdit()).rows
        own: dict[int, dict[int, CellValue]] = {}  # rows of this dry run's own (copy on write)
        for row, col in cells:
            line = own.get(row)
            if line is None:
                line = own[row] = dict(rows.get(row, {}))
                rows[row] = line
            line[col] = value
        try:
            with open(target, "rb") as source:
                extras = list(self._charts.values())
                return dry_run_package(source, edits, label, cache, self._marker, extras)
        except WorkbookError:
            raise
        except OSError as exc:
            raise WorkbookError(f"cannot read {label}: {exc.strerror or exc}") from exc
        except DAMAGED as exc:
            reason = f"{label} is damaged, so results cannot be saved in it: {exc}"
            raise WorkbookError(reason) from exc
        except Exception as exc:  # whatever would break the save breaks the run now
            raise WorkbookError(
                f"smmsheet could not save results in {label} ({type(exc).__name__}: {exc})"
            ) from exc

    def _check_not_busy(self) -> None:
        check_not_open(self._path)

    def _check_writable(self) -> None:
        real = Path(os.path.realpath(self._path))
        for target, what in ((real, "file"), (real.parent, "folder")):
            if _is_read_only(target):
                raise WorkbookError(
                    f"cannot write {self._path.name}: the {what} {target} is read-only"
                )


#: Bytes of a chunk searched again with the next, at least: a link's hint cut in two is
#: still found (the hints of unknown cells, as long as their prefix makes them, are kept too).
_LINK_TAIL = 16

#: What the read's second thread finds in a sheet's XML: its links, its unknown cells.
_Scan = tuple[list[LinkRange], list[tuple[int, int, str]]]


def _mark_unknown(grid: list[list[CellValue]], cells: Sequence[tuple[int, int, str]]) -> None:
    """Put an :class:`UnknownValue` where calamine read an error or an uncalculated
    formula as an empty cell."""
    for row, col, shown in cells:
        if row > len(grid):
            grid.extend([] for _ in range(row - len(grid)))
        line = grid[row - 1]
        if len(line) < col:
            line.extend([None] * (col - len(line)))
        found = line[col - 1]
        if found is None or (type(found) is str and not found.strip()):  # <v> </v>: no value
            line[col - 1] = UnknownValue(shown)


def _converted(row: list[Any], left: int) -> list[CellValue]:
    """A calamine row as cell values, in its own list: "" is None, durations and times the
    day fraction Excel stores; ``left`` empty columns put back in front."""
    odd, convert = CALAMINE_ODD_TYPES, from_calamine
    row[:] = [None if v == "" else convert(v) if type(v) in odd else v for v in row]
    if left:
        row[:0] = [None] * left
    return cast("list[CellValue]", row)


#: Distinct texts and numbers ``write_cells`` remembers as checked, at most.
_CHECKED_KEPT = 4096
#: Types of which ``write_cells`` checks each distinct value once: equal values of one of
#: them pass or fail alike (a date never equals a datetime, nor a Decimal either).
_CHECKED_ONCE = frozenset({Decimal, dt.date, dt.datetime})
#: What the dry run of a save writes into the planned cells: results are numbers or text.
_PLACEHOLDERS: tuple[CellValue, ...] = (880_001.5, "check panel")


def _checked_cells(cells: Collection[tuple[int, int]]) -> list[tuple[int, int]]:
    """``cells`` as a list, each refused with one sentence when no worksheet has it."""
    checked = list(cells)
    for row, col in checked:
        if type(row) is not int or type(col) is not int:  # bools are not coordinates
            raise TypeError(f"cell coordinates must be (row, col) integers, got {(row, col)!r}")
        if not (0 < row <= MAX_ROW and 0 < col <= MAX_COL):
            check_cell_range(row, col)
    return checked


def _check_folder(folder: Path, needed: int, label: str) -> None:
    """Refuse a folder where the save's new file cannot be created or would not fit."""
    try:
        handle, probe = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=".probe", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise WorkbookError(
            f"cannot write {label}: no new file can be created in {folder} ({exc.strerror or exc})"
        ) from exc
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise WorkbookError(
            f"cannot write {label}: saving it needs about {needed / 2**20:,.1f} MiB and "
            f"its folder has {free / 2**20:,.1f} MiB free"
        )


def _is_read_only(path: Path) -> bool:
    """True when nobody may write ``path`` (mode bits, which also hold for root) or we may not."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    no_write_bits = not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    return no_write_bits or not os.access(path, os.W_OK)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows syncing a directory."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _FirstLook:
    """Shows ``watch`` the sheet's first rows (:func:`.preview.first_rows`) on a thread of
    its own while calamine parses the sheet with the GIL released; :meth:`stop` ends the
    look and says how many rows were shown (the read shows the others)."""

    def __init__(self, path: Path, sheet: str, watch: RowWatch) -> None:
        self._path, self._sheet, self._watch = path, sheet, watch
        self._stop = threading.Event()
        self._shown = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="smmsheet-look", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        rows = first_rows(self._path, self._sheet, stop=self._stop)
        try:
            for row in rows:
                if self._stop.is_set():
                    return
                self._shown += 1  # shown even if watch fails: the read must not show it again
                self._watch(row)
        except BaseException as exc:  # the watch's own error: raised by stop()
            self._error = exc
        finally:
            rows.close()

    def stop(self) -> int:
        """End the look; the number of rows shown. Raises the watch's error."""
        self.close()
        if self._error is not None:
            raise self._error
        return self._shown

    def close(self) -> None:
        """End the look (the read failed, or has ended: then a no-op)."""
        self._stop.set()
        self._thread.join()


class _Background:
    """Runs ``work`` on a thread at once; :meth:`result` waits and returns or raises."""

    def __init__(self, work: Callable[[], _Scan]) -> None:
        self._work = work
        self._result: _Scan = ([], [])
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="smmsheet-links", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self._work()
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def result(self) -> _Scan:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result
