"""Headless .xlsx/.xlsm adapter: read with calamine, write by patching sheet XML in the zip.

The user's workbook is never round-tripped through a spreadsheet library. Reading uses
python-calamine; hyperlinked cells are found by :mod:`.links` on a second thread, and
a zip bomb is refused from its declared sizes before anything inflates (:mod:`.zipsafe`).
Writing copies every zip member byte-for-byte (raw compressed bytes,
same order, same compression) except the parts that must change:

- the worksheet XML of each sheet written to: only the written cells change, the styles
  of overwritten cells are kept, and text is always an inline string, never a formula
  and never a shared string, so ``sharedStrings.xml`` stays identical. Everyday writes
  are spliced into the XML text row by row (:class:`_StreamPatcher`, a few seconds for
  800,000 cells); new sheets, replaced sheets and unusual XML go through an lxml tree
  (:class:`_TreePatcher`);
- ``calcChain.xml`` when a formula cell was overwritten (its entries are removed; the
  part, its relationship and content type go when it becomes empty);
- ``workbook.xml`` only to register a new sheet, to set ``fullCalcOnLoad`` when the
  workbook has formulas whose cached results may now be stale, or to store the journal
  marker (a hidden defined name, :meth:`XlsxWorkbook.write_marker`);
- ``workbook.xml.rels`` and ``[Content_Types].xml`` only to register a new sheet;
- ``styles.xml`` only when a date goes into a cell without a date format (one cell
  format is appended: the cell's own format with a date number format).

``save`` writes a temporary file beside the workbook and renames it over the original,
so the file on disk is either the old workbook or the new one, never half of each.
``check_writable(sheet, cells)`` runs the same patch code without writing, so whatever
would make that save fail is known before an order is bought.

Example::

    book = XlsxWorkbook("orders.xlsx")
    rows = book.read_values("Orders")
    book.write_cells("Orders", {(2, 8): 1001, (2, 9): "Pending"})
    book.save()
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import datetime as dt
import os
import posixpath
import queue
import re
import shutil
import stat
import struct
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, cast
from urllib.parse import quote, unquote

from lxml import etree

from smmsheet.errors import WorkbookBusyError, WorkbookError

from .base import (
    MARKER_NAME,
    MAX_COL,
    MAX_EXACT_INT,
    MAX_EXCEL_NUMBER,
    MAX_ROW,
    MIN_EXCEL_NUMBER,
    CellValue,
    cell_value_problem,
    check_cell_range,
    check_grid_size,
    check_marker,
    check_sheet_name,
    clean_text,
    find_sheet,
)
from .links import LinkRange, apply_links, may_have_links, relationship_targets, sheet_links
from .zipsafe import check_sizes, inflate

__all__ = ["XlsxWorkbook", "excel_lock_file", "SUPPORTED_SUFFIXES"]

#: File types this adapter opens; .xls, .xlsb and .csv are refused.
SUPPORTED_SUFFIXES = (".xlsx", ".xlsm")
#: Excel's limits: a cell holds at most 32,767 characters; the grid is 1,048,576 x 16,384.

ZIP_DEFLATED = zipfile.ZIP_DEFLATED
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_XML_SPACE = f"{{{_XML_NS}}}space"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
_TRANSITIONAL_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_WORKSHEET_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_LOCK_PREFIX = "~$"
_TEMP_PREFIX = ".~smmsheet-"

# Characters XML 1.0 cannot carry (C0 controls except tab/LF/CR, lone surrogates, U+FFFE/F).
# Excel decodes "_xHHHH_" in cell text; a literal one is written with its "_" escaped.
_EXCEL_ESCAPE = re.compile("(_x[0-9A-Fa-f]{4}_)")
_PROLOG = re.compile(rb"^(\xef\xbb\xbf)?\s*<\?xml[^>]*\?>\s*")
_CELL_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]+)$")
_FORMULA_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")
# Built-in number formats that are dates or times (ECMA-376 18.8.30, CJK ids included).
_BUILTIN_DATE_FORMATS = frozenset(
    [*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59), *range(71, 82)]
)
_DATE_FORMAT_ID = 14  # m/d/yyyy, shown in the user's locale
_DATETIME_FORMAT_ID = 22  # m/d/yyyy h:mm
_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)
_LOTUS_LEAP_DAY = dt.datetime(1900, 3, 1)
_NEW_SHEET_XML = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    b'<dimension ref="A1"/><sheetViews><sheetView workbookViewId="0"/></sheetViews>'
    b'<sheetFormatPr defaultRowHeight="15"/><sheetData/>'
    b'<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
    b"</worksheet>"
)


class _DamagedPart(Exception):
    """A part the writer's XML parser rejects (though a reader may have accepted it)."""


#: What a malformed package raises while it is read; save reports it as a damaged file.
_DAMAGED: tuple[type[Exception], ...] = (
    _DamagedPart,
    zipfile.BadZipFile,
    etree.XMLSyntaxError,
    zlib.error,
    EOFError,
    struct.error,
)


def excel_lock_file(path: str | os.PathLike[str]) -> Path | None:
    """The ``~$`` owner file Excel keeps beside ``path`` while the workbook is open, if any.

    Excel names it ``~$`` + the file name, or replaces the first two characters of long
    names (``~$ders.xlsx`` for ``orders.xlsx``); both spellings are checked.

    >>> excel_lock_file("orders.xlsx") is None  # doctest: +SKIP
    True
    """
    target = Path(path)
    name = target.name
    candidates = [_LOCK_PREFIX + name]
    if len(name) > 2:
        candidates.append(_LOCK_PREFIX + name[2:])
    for candidate in candidates:
        lock = target.with_name(candidate)
        if lock.exists():
            return lock
    return None


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
        self._pending: dict[str, _SheetEdit] = {}
        self._marker: str | None = None  # a journal marker buffered until save
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
        return [*self._sheet_names, *new]

    def read_values(self, sheet: str) -> list[list[CellValue]]:
        """All values of ``sheet`` as rows starting at A1, with buffered writes applied.

        Linked cells come back as :class:`~.base.LinkedText` (see ``WorkbookAdapter``).
        """
        name = self._resolve(sheet)
        edit = self._pending.get(name)
        grid: list[list[CellValue]]
        if edit is not None and edit.replacement is not None:
            grid = [list(row) for row in edit.replacement]
        else:
            grid = self._read_grid(name)
        if edit is not None:
            for row, cells in edit.rows.items():
                while len(grid) < row:
                    grid.append([])
                line = grid[row - 1]
                for col, value in cells.items():
                    if len(line) < col:
                        line.extend([None] * (col - len(line)))
                    line[col - 1] = value
        return grid

    def _read_grid(self, name: str) -> list[list[CellValue]]:
        """The sheet's values, hyperlinked cells as LinkedText.

        The sheet's XML is searched for links on a second thread while calamine reads
        it, so a sheet without links costs no time; only a sheet that has some is
        read a second time, by :mod:`.links`.
        """
        self._check_readable()
        search = _Background(lambda: self._link_ranges(name))
        try:
            grid = self._calamine_grid(name)
        except WorkbookError:
            search.result()  # a part lying about its size: say so, rather than calamine
            raise
        ranges = search.result()
        if ranges:
            apply_links(grid, ranges)
        return grid

    def _link_ranges(self, name: str) -> list[LinkRange]:
        """Where the sheet's hyperlinked cells point; nothing inflated past declared sizes."""
        label = self._path.name
        try:
            with zipfile.ZipFile(self._path) as archive, open(self._path, "rb") as source:
                package = _Package(archive, label, lenient=True)
                info = package.sheets.get(name.casefold())
                if info is None or not package.has(info.part):
                    return []
                member = archive.getinfo(package.by_lower[info.part.lower()])
                tail = b""
                for chunk in inflate(source, member, label):
                    if may_have_links(tail + chunk):
                        break
                    tail = chunk[-16:]
                else:
                    return []
                xml = b"".join(inflate(source, member, label))
                rels = _rels_part(info.part)
                targets = relationship_targets(package.read(rels)) if package.has(rels) else {}
        except OSError as exc:
            raise WorkbookError(f"cannot read {label}: {exc.strerror or exc}") from exc
        except _DAMAGED as exc:
            raise WorkbookError(f"cannot read sheet {name!r} of {label}: {exc}") from exc
        return sheet_links(xml, targets)

    def _calamine_grid(self, name: str) -> list[list[CellValue]]:
        from python_calamine import CalamineError, CalamineWorkbook

        try:
            with CalamineWorkbook.from_path(str(self._path)) as book:
                sheet = book.get_sheet_by_name(name)
                start = sheet.start
                raw = sheet.to_python(skip_empty_area=True)
        except (CalamineError, OSError, ValueError) as exc:
            raise WorkbookError(f"cannot read sheet {name!r} of {self._path.name}: {exc}") from exc
        if start is None or not raw:
            return []
        top, left = start
        pad: list[CellValue] = [None] * left
        grid: list[list[CellValue]] = [[] for _ in range(top)]
        odd, convert = _CALAMINE_ODD_TYPES, _from_calamine
        for row in raw:
            # Durations and times are the only values that are no CellValue; the rest pass.
            values = cast(
                "list[CellValue]",
                [None if v == "" else convert(v) if type(v) in odd else v for v in row],
            )
            grid.append(pad + values if left else values)
        return grid

    def _read_sheet_names(self) -> tuple[list[str], list[str]]:
        """The worksheet names, and the names of the other sheets (charts, macros, dialogs)."""
        from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum

        try:
            with CalamineWorkbook.from_path(str(self._path)) as book:
                sheets = book.sheets_metadata
        except (CalamineError, OSError, ValueError) as exc:
            raise WorkbookError(f"{self._path.name} is not a readable workbook: {exc}") from exc
        worksheets = [meta.name for meta in sheets if meta.typ == SheetTypeEnum.WorkSheet]
        others = [meta.name for meta in sheets if meta.typ != SheetTypeEnum.WorkSheet]
        return worksheets, others

    # -- buffering -------------------------------------------------------------------

    def write_cells(self, sheet: str, cells: Mapping[tuple[int, int], CellValue]) -> None:
        """Buffer ``{(row, col): value}`` writes into ``sheet``; ``None`` clears a cell."""
        name = self._resolve(sheet)
        checked: list[tuple[int, int, CellValue]] = []
        for key, value in cells.items():
            row, col = key
            if type(row) is not int or type(col) is not int:  # bools are not coordinates
                raise TypeError(f"cell coordinates must be (row, col) integers, got {key!r}")
            if not (0 < row <= MAX_ROW and 0 < col <= MAX_COL):
                raise ValueError(f"cell ({row}, {col}) is outside a worksheet")
            kind = type(value)
            # The common cases stay cheap for 100,000-row runs; the rare ones are checked.
            if kind is float:
                magnitude = abs(cast(float, value))
                if not MIN_EXCEL_NUMBER <= magnitude <= MAX_EXCEL_NUMBER and magnitude != 0.0:
                    value = _check_value(value)
            elif kind is int:
                if not -MAX_EXACT_INT <= cast(int, value) <= MAX_EXACT_INT:
                    value = _check_value(value)
            elif value is not None:
                value = _check_value(value)
            checked.append((row, col, value))
        rows = self._pending.setdefault(name, _SheetEdit()).rows
        for row, col, value in checked:
            line = rows.get(row)
            if line is None:
                line = rows[row] = {}
            line[col] = value

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
        replacement = [[_check_value(value) for value in row] for row in rows]
        self._pending[name] = _SheetEdit(replacement=replacement, is_new=is_new)

    def _resolve(self, sheet: str) -> str:
        """The sheet's name as the workbook spells it (Excel names are case-insensitive)."""
        name = find_sheet(self.sheet_names(), sheet)
        if name is None:
            raise WorkbookError(f"{self._path.name} has no worksheet named {sheet!r}")
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
                package = _Package(archive, self._path.name, lenient=True)
                return _read_marker(package)
        except OSError as exc:
            raise WorkbookError(f"cannot read {self._path.name}: {exc}") from exc
        except _DAMAGED as exc:
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
        if not self._pending and self._marker is None:
            return
        self._check_readable()
        self._check_writable()
        target = Path(os.path.realpath(self._path))  # replace a symlink's target, not the link
        name = self._path.name
        temp: Path | None = None
        try:
            fd, temp_name = tempfile.mkstemp(
                prefix=f"{_TEMP_PREFIX}{target.name}.", suffix=".tmp", dir=target.parent
            )
            temp = Path(temp_name)
            with open(fd, "wb") as out, open(target, "rb") as source:
                _rewrite_package(source, out, self._pending, name, self._marker)
                out.flush()
                os.fsync(out.fileno())
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
            if isinstance(exc, _DAMAGED):
                raise WorkbookError(f"{name} is damaged and was not changed: {exc}") from exc
            raise
        _fsync_directory(target.parent)
        self._sheet_names, self._other_sheets = self._read_sheet_names()
        self._pending.clear()
        self._marker = None

    def close(self) -> None:
        """Drop buffered changes that were not saved; nothing stays open between calls."""
        self._pending.clear()
        self._marker = None

    # -- checks ----------------------------------------------------------------------

    def _check_readable(self) -> None:
        """Refuse missing, foreign, busy or zip-bomb files before anything else reads them."""
        path = self._path
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise WorkbookError(
                f"{path.name} is not an .xlsx or .xlsm workbook; save it as .xlsx in Excel first"
            )
        if not path.is_file():
            raise WorkbookError(f"{path} does not exist or is not a file")
        self._check_not_busy()
        try:
            with zipfile.ZipFile(path) as archive:
                names = {name.lower() for name in archive.namelist()}
                check_sizes(archive, path.name)  # a zip bomb is refused before it inflates
        except (zipfile.BadZipFile, OSError) as exc:
            raise WorkbookError(f"{path.name} is not a valid Excel workbook ({exc})") from exc
        if "[content_types].xml" not in names or "_rels/.rels" not in names:
            raise WorkbookError(f"{path.name} is a zip file but not an Excel workbook")

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
        cache: dict[str, bytes] = {}
        needed = max(self._dry_run(target, name, planned, v, cache) for v in _PLACEHOLDERS)
        _check_folder(target.parent, needed, self._path.name)

    def _dry_run(
        self,
        target: Path,
        name: str,
        cells: list[tuple[int, int]],
        value: CellValue,
        cache: dict[str, bytes],
    ) -> int:
        """Run the save with ``cells`` set to ``value``, stopping short of writing anything."""
        label = self._path.name
        edits = {sheet: edit.copy() for sheet, edit in self._pending.items()}
        rows = edits.setdefault(name, _SheetEdit()).rows
        for row, col in cells:
            line = rows.get(row)
            if line is None:
                line = rows[row] = {}
            line[col] = value
        try:
            with open(target, "rb") as source:
                return _dry_run_package(source, edits, label, cache, self._marker)
        except WorkbookError:
            raise
        except OSError as exc:
            raise WorkbookError(f"cannot read {label}: {exc.strerror or exc}") from exc
        except _DAMAGED as exc:
            reason = f"{label} is damaged, so results cannot be saved in it: {exc}"
            raise WorkbookError(reason) from exc
        except Exception as exc:  # whatever would break the save breaks the run now
            raise WorkbookError(
                f"smmsheet could not save results in {label} ({type(exc).__name__}: {exc})"
            ) from exc

    def _check_not_busy(self) -> None:
        lock = excel_lock_file(self._path)
        if lock is not None:
            raise WorkbookBusyError(
                f"{self._path.name} is open in Excel (lock file {lock.name}); "
                "close it and run again"
            )

    def _check_writable(self) -> None:
        real = Path(os.path.realpath(self._path))
        for target, what in ((real, "file"), (real.parent, "folder")):
            if _is_read_only(target):
                raise WorkbookError(
                    f"cannot write {self._path.name}: the {what} {target} is read-only"
                )


@dataclass
class _SheetEdit:
    """Buffered changes to one sheet: an optional full replacement, then single cells."""

    rows: dict[int, dict[int, CellValue]] = field(default_factory=dict)  # row -> col -> value
    replacement: list[list[CellValue]] | None = None
    is_new: bool = False

    def copy(self) -> _SheetEdit:
        """A copy whose cells can be changed without changing this edit."""
        rows = {row: dict(cells) for row, cells in self.rows.items()}
        return _SheetEdit(rows, self.replacement, self.is_new)

    def writes(self) -> dict[tuple[int, int], CellValue]:
        """Every cell to set, the replacement first and single cells over it."""
        out: dict[tuple[int, int], CellValue] = {}
        for r, row in enumerate(self.replacement or (), start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    out[(r, c)] = value
        for r, cells in self.rows.items():
            for c, value in cells.items():
                out[(r, c)] = value
        return out


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


_CALAMINE_ODD_TYPES = frozenset({dt.timedelta, dt.time})


def _from_calamine(value: object) -> CellValue:
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


class _Background:
    """Runs ``work`` on a thread at once; :meth:`result` waits and returns or raises."""

    def __init__(self, work: Callable[[], list[LinkRange]]) -> None:
        self._work = work
        self._result: list[LinkRange] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="smmsheet-links", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self._work()
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def result(self) -> list[LinkRange]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


def _check_value(value: CellValue) -> CellValue:
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


# -- cell references ---------------------------------------------------------------------

_LETTERS_TO_COL: dict[str, int] = {}
_COL_TO_LETTERS: dict[int, str] = {}


def _col_letters(col: int) -> str:
    letters = _COL_TO_LETTERS.get(col)
    if letters is None:
        n, out = col, ""
        while n:
            n, rem = divmod(n - 1, 26)
            out = chr(65 + rem) + out
        letters = _COL_TO_LETTERS[col] = out
    return letters


def _col_number(letters: str) -> int:
    col = _LETTERS_TO_COL.get(letters)
    if col is None:
        col = 0
        for char in letters.upper():
            col = col * 26 + ord(char) - 64
        _LETTERS_TO_COL[letters] = col
    return col


def _parse_ref(ref: str) -> tuple[int, int]:
    """``"AB12"`` -> ``(12, 28)``."""
    match = _CELL_REF.match(ref)
    if match is None:
        raise WorkbookError(f"bad cell reference {ref!r} in the workbook")
    return int(match.group(2)), _col_number(match.group(1))


def _parse_range(ref: str) -> tuple[int, int, int, int]:
    """``"B2:D9"`` -> ``(2, 2, 9, 4)`` as (top, left, bottom, right)."""
    first, _, last = ref.partition(":")
    top, left = _parse_ref(first)
    bottom, right = _parse_ref(last) if last else (top, left)
    return top, left, bottom, right


def _range_ref(top: int, left: int, bottom: int, right: int) -> str:
    first = f"{_col_letters(left)}{top}"
    if (top, left) == (bottom, right):
        return first
    return f"{first}:{_col_letters(right)}{bottom}"


# -- values ------------------------------------------------------------------------------


def _excel_serial(value: dt.date, date1904: bool) -> float:
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


def _encode(value: CellValue, date1904: bool) -> tuple[str | None, str, bool | None]:
    """A non-empty value as (the cell's ``t`` attribute, its text, is-a-date-with-time).

    Text is returned Excel-escaped ("_x0041_" stays literal) but not XML-escaped.
    """
    if isinstance(value, str):
        return "inlineStr", _EXCEL_ESCAPE.sub(r"_x005F\1", value), None
    if isinstance(value, bool):
        return "b", "1" if value else "0", None
    if isinstance(value, dt.date):
        with_time = isinstance(value, dt.datetime)
        return None, repr(_excel_serial(value, date1904)), with_time
    if isinstance(value, int):
        return None, str(int(value)), None
    if isinstance(value, float | Decimal):
        return None, repr(float(value)), None
    raise TypeError(f"cannot write a {type(value).__name__} to a cell")


# -- the package ---------------------------------------------------------------------------


@dataclass
class _Rel:
    rel_id: str
    rel_type: str
    target: str  # resolved part name, no leading "/"
    element: Any


@dataclass
class _SheetInfo:
    name: str
    sheet_id: str
    part: str


class _Package:
    """The parts of an open zip that locate sheets, styles and the calc chain."""

    def __init__(
        self,
        archive: zipfile.ZipFile,
        label: str,
        cache: dict[str, bytes] | None = None,
        *,
        lenient: bool = False,
    ) -> None:
        self.archive = archive
        self.label = label
        self._cache = cache  # parts already inflated, shared by the passes of a dry run
        self._lenient = lenient  # reading only: XML the writer rejects is read as best it can
        self.by_lower = {info.filename.lower(): info.filename for info in archive.infolist()}
        root_rels = self.rels("")
        office = [rel for rel in root_rels.values() if rel.rel_type.endswith("/officeDocument")]
        if not office:
            raise WorkbookError(f"{label} has no workbook part")
        self.workbook_part = office[0].target
        self.workbook_xml = self.read(self.workbook_part)
        self.workbook_tree = _parse(self.workbook_xml, self.workbook_part, lenient)
        self.workbook_rels_part = _rels_part(self.workbook_part)
        self.workbook_rels_xml = self.read(self.workbook_rels_part)
        self.workbook_rels_tree = _parse(self.workbook_rels_xml, self.workbook_rels_part, lenient)
        self.workbook_rels = _read_rels(self.workbook_rels_tree, self.workbook_part)
        root = self.workbook_tree.getroot()
        self.main_ns = etree.QName(root).namespace or ""
        self.sheets: dict[str, _SheetInfo] = {}
        self.sheet_elements = root.find(self.q("sheets"))
        if self.sheet_elements is None:
            raise WorkbookError(f"{label} has no sheets")
        self.rel_ns = _TRANSITIONAL_REL_NS
        for element in self.sheet_elements.iterchildren(self.q("sheet")):
            rel_id = None
            for key, value in element.attrib.items():
                qname = etree.QName(key)
                if qname.localname == "id" and (qname.namespace or "").endswith("relationships"):
                    rel_id, self.rel_ns = value, qname.namespace or self.rel_ns
            rel = self.workbook_rels.get(rel_id or "")
            if rel is not None and rel.rel_type.endswith("/worksheet"):
                name = element.get("name", "")
                self.sheets[name.casefold()] = _SheetInfo(
                    name, element.get("sheetId", "0"), rel.target
                )
        pr = root.find(self.q("workbookPr"))
        self.date1904 = pr is not None and pr.get("date1904", "0").lower() in ("1", "true")
        self.rels_changed = False
        self._types_tree: Any = None

    @property
    def content_types(self) -> Any:
        """[Content_Types].xml, parsed on first use because few saves change it."""
        if self._types_tree is None:
            self._types_tree = _parse(self.read("[Content_Types].xml"), "[Content_Types].xml")
        return self._types_tree

    @property
    def content_types_changed(self) -> bool:
        return self._types_tree is not None

    def q(self, tag: str) -> str:
        return f"{{{self.main_ns}}}{tag}" if self.main_ns else tag

    def read(self, part: str) -> bytes:
        name = self.by_lower.get(part.lower())
        if name is None:
            raise WorkbookError(f"{self.label} is missing its part {part}")
        if self._cache is None:
            return self.archive.read(name)
        data = self._cache.get(name)
        if data is None:
            data = self._cache[name] = self.archive.read(name)
        return data

    def has(self, part: str) -> bool:
        return part.lower() in self.by_lower

    def rels(self, part: str) -> dict[str, _Rel]:
        rels_part = _rels_part(part)
        if not self.has(rels_part):
            return {}
        return _read_rels(_parse(self.read(rels_part), rels_part, self._lenient), part)

    def rel_of_type(self, suffix: str) -> _Rel | None:
        for rel in self.workbook_rels.values():
            if rel.rel_type.endswith(suffix):
                return rel
        return None

    def has_formulas(self, patched: Iterable[str]) -> bool:
        """Whether any sheet not being patched holds a formula (streamed, stops at the first)."""
        skip = {part.lower() for part in patched}
        for info in self.sheets.values():
            if info.part.lower() in skip or not self.has(info.part):
                continue
            with self.archive.open(self.by_lower[info.part.lower()]) as stream:
                tail = b""
                while chunk := stream.read(1 << 20):
                    if _FORMULA_TAG.search(tail + chunk):
                        return True
                    tail = chunk[-32:]
        return False


def _rels_part(part: str) -> str:
    directory, base = posixpath.split(part)
    return posixpath.join(directory, "_rels", f"{base}.rels")


def _read_rels(tree: Any, source_part: str) -> dict[str, _Rel]:
    base = posixpath.dirname(source_part)
    out: dict[str, _Rel] = {}
    for element in tree.getroot():
        if etree.QName(element).localname != "Relationship":
            continue
        if element.get("TargetMode") == "External":
            continue
        target = unquote(element.get("Target", ""))
        if target.startswith("/"):
            resolved = posixpath.normpath(target).lstrip("/")
        else:
            resolved = posixpath.normpath(posixpath.join("/", base, target)).lstrip("/")
        rel_id = element.get("Id", "")
        out[rel_id] = _Rel(rel_id, element.get("Type", ""), resolved, element)
    return out


def _parse(data: bytes, part: str, lenient: bool = False) -> Any:
    """``data`` as an lxml tree; XML lxml rejects is reported with the part it came from.

    ``lenient`` (for reading only) recovers what it can from XML that is not well formed.
    """
    parser = etree.XMLParser(
        huge_tree=True, resolve_entities=False, no_network=True, recover=lenient
    )
    try:
        return etree.ElementTree(etree.fromstring(data, parser))
    except etree.XMLSyntaxError as exc:
        raise _DamagedPart(f"{part} is not XML smmsheet can rewrite ({exc})") from exc


def _serialize(tree: Any, original: bytes) -> bytes:
    """``tree`` as bytes, keeping the original XML declaration byte-for-byte when UTF-8."""
    encoding = (tree.docinfo.encoding or "UTF-8").upper()
    prolog = _PROLOG.match(original)
    if prolog is not None and encoding in ("UTF-8", "UTF8"):
        return prolog.group(0) + etree.tostring(tree, encoding="UTF-8", xml_declaration=False)
    return etree.tostring(
        tree, encoding="UTF-8", xml_declaration=True, standalone=tree.docinfo.standalone
    )


# -- rewriting ---------------------------------------------------------------------------


@dataclass
class _Plan:
    """What a save changes: parts replaced (None: removed) and parts added."""

    replaced: dict[str, bytes | _Deflated | None]
    added: list[tuple[str, bytes]]


def _rewrite_package(
    source: IO[bytes],
    out: IO[bytes],
    pending: Mapping[str, _SheetEdit],
    label: str,
    marker: str | None = None,
) -> None:
    """Write the workbook read from ``source`` to ``out`` with ``pending`` applied."""
    with zipfile.ZipFile(source) as archive:
        plan = _plan_package(archive, pending, label, marker)
        _write_zip(archive, source, out, plan.replaced, plan.added)


def _dry_run_package(
    source: IO[bytes],
    pending: Mapping[str, _SheetEdit],
    label: str,
    cache: dict[str, bytes],
    marker: str | None,
) -> int:
    """Everything a save does but writing the result; about how many bytes it would write.

    The same code runs as in :func:`_rewrite_package`, so whatever would make the save
    raise raises here; patched parts are measured rather than kept or compressed, and the
    zip is written to a sink that only counts. Every part a save might rewrite is parsed
    too (the content types, styles and calc chain are otherwise parsed only when needed).
    Parts are inflated once into ``cache`` for all the dry runs of one check.
    """
    with zipfile.ZipFile(source) as archive:
        plan = _plan_package(archive, pending, label, marker, cache)
        sink = _CountingSink()
        _write_zip(archive, source, cast(IO[bytes], sink), plan.replaced, plan.added)
        estimate = sink.size
        for part, content in plan.replaced.items():
            if isinstance(content, _Deflated):  # counted as empty by the sink
                member = archive.getinfo(part)
                ratio = member.compress_size / member.file_size if member.file_size else 1.0
                estimate += int(content.size * min(ratio, 1.0)) + 1
        return estimate


def _plan_package(
    archive: zipfile.ZipFile,
    pending: Mapping[str, _SheetEdit],
    label: str,
    marker: str | None = None,
    cache: dict[str, bytes] | None = None,
) -> _Plan:
    """Patch every part a save changes, in memory; with a ``cache`` (a dry run) only sized."""
    dry_run = cache is not None
    package = _Package(archive, label, cache)
    if dry_run:
        _parse_rewritable_parts(package)
    replaced: dict[str, bytes | _Deflated | None] = {}  # part -> new content, None = gone
    added: list[tuple[str, bytes]] = []
    styles = _DateStyles(package)
    removed_formulas: set[tuple[str, str]] = set()
    any_formula = False
    workbook_changed = False
    for name, edit in pending.items():
        info = package.sheets.get(name.casefold())
        if info is None:
            info = _register_sheet(package, name)
            original = _NEW_SHEET_XML
            added.append((info.part, b""))
            workbook_changed = True
        else:
            original = package.read(info.part)
        where = f"{label}, sheet {name!r}"
        member = package.by_lower[info.part.lower()]
        output: _Output = "bytes"
        if dry_run:
            output = "size"
        elif not edit.is_new and archive.getinfo(member).compress_type == ZIP_DEFLATED:
            output = "deflate"
        patched = _patch_sheet(original, edit, package.date1904, styles, where, output)
        any_formula = any_formula or patched.has_formulas
        removed_formulas.update((info.sheet_id, ref) for ref in patched.removed_formulas)
        if edit.is_new:
            assert isinstance(patched.xml, bytes)
            added[-1] = (info.part, patched.xml)
        else:
            replaced[member] = patched.xml
    if removed_formulas:
        _prune_calc_chain(package, removed_formulas, replaced)
    if styles.changed:
        replaced[package.by_lower[styles.part.lower()]] = styles.result()
    patched_parts = [package.sheets[name.casefold()].part for name in pending]
    if _needs_recalc_flag(package, any_formula, patched_parts):
        workbook_changed = True
    if marker is not None:
        _set_marker(package, marker)
        workbook_changed = True
    if workbook_changed:
        replaced[package.by_lower[package.workbook_part.lower()]] = _serialize(
            package.workbook_tree, package.workbook_xml
        )
    if package.rels_changed:
        replaced[package.by_lower[package.workbook_rels_part.lower()]] = _serialize(
            package.workbook_rels_tree, package.workbook_rels_xml
        )
    if package.content_types_changed:
        replaced[package.by_lower["[content_types].xml"]] = _serialize(
            package.content_types, package.read("[Content_Types].xml")
        )
    if dry_run:
        for part, content in replaced.items():
            if isinstance(content, bytes):
                replaced[part] = _Deflated(b"", 0, len(content))
    return _Plan(replaced, added)


def _parse_rewritable_parts(package: _Package) -> None:
    """Parse the parts a save may have to rewrite, so XML lxml rejects is found up front."""
    parts = ["[Content_Types].xml"]
    for suffix in ("/styles", "/calcChain"):
        rel = package.rel_of_type(suffix)
        if rel is not None and package.has(rel.target):
            parts.append(rel.target)
    for part in parts:
        _parse(package.read(part), part)


class _CountingSink:
    """A seekable file that keeps nothing and counts how many bytes it would hold."""

    def __init__(self) -> None:
        self.size = 0
        self._position = 0

    def write(self, data: bytes) -> int:
        self._position += len(data)
        self.size = max(self.size, self._position)
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self.size}[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass


def _marker_element(package: _Package) -> Any:
    """The workbook-level ``<definedName>`` that holds the journal marker, if any."""
    names = package.workbook_tree.getroot().find(package.q("definedNames"))
    if names is None:
        return None
    wanted = MARKER_NAME.casefold()
    for element in names.iterchildren(package.q("definedName")):
        if element.get("name", "").casefold() == wanted and element.get("localSheetId") is None:
            return element
    return None


def _read_marker(package: _Package) -> str | None:
    """The marker's text: the defined name's string constant, unquoted."""
    element = _marker_element(package)
    if element is None:
        return None
    value = (element.text or "").strip().removeprefix("=")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('""', '"')
    return value  # not a text constant (edited by hand): the engine will see it differs


def _set_marker(package: _Package, text: str) -> None:
    """Store ``text`` as a hidden workbook-level name, creating ``<definedNames>`` if needed."""
    element = _marker_element(package)
    if element is None:
        root = package.workbook_tree.getroot()
        names = root.find(package.q("definedNames"))
        if names is None:
            names = etree.Element(package.q("definedNames"))
            _insert_in_order(root, names, _WORKBOOK_ORDER)
        element = etree.SubElement(names, package.q("definedName"))
        element.set("name", MARKER_NAME)
    element.set("hidden", "1")
    element.text = '"' + text.replace('"', '""') + '"'


def _needs_recalc_flag(package: _Package, any_formula: bool, patched: list[str]) -> bool:
    """Ask Excel to recalculate on open when formulas may show results from before our writes."""
    calc_pr = package.workbook_tree.getroot().find(package.q("calcPr"))
    if calc_pr is not None and calc_pr.get("fullCalcOnLoad", "0").lower() in ("1", "true"):
        return False
    has_formulas = (
        any_formula
        or package.rel_of_type("/calcChain") is not None
        or package.has_formulas(patched)
    )
    if not has_formulas:
        return False
    if calc_pr is None:
        calc_pr = etree.Element(package.q("calcPr"))
        _insert_in_order(package.workbook_tree.getroot(), calc_pr, _WORKBOOK_ORDER)
    calc_pr.set("fullCalcOnLoad", "1")
    return True


_WORKBOOK_ORDER = (
    "fileVersion fileSharing workbookPr workbookProtection bookViews sheets functionGroups "
    "externalReferences definedNames calcPr oleSize customWorkbookViews pivotCaches "
    "smartTagPr smartTagTypes webPublishing fileRecoveryPr webPublishObjects extLst"
).split()
_WORKSHEET_ORDER = (
    "sheetPr dimension sheetViews sheetFormatPr cols sheetData sheetCalcPr sheetProtection "
    "protectedRanges scenarios autoFilter sortState dataConsolidate customSheetViews "
    "mergeCells phoneticPr conditionalFormatting dataValidations hyperlinks printOptions "
    "pageMargins pageSetup headerFooter rowBreaks colBreaks customProperties cellWatches "
    "ignoredErrors smartTags drawing legacyDrawing legacyDrawingHF drawingHF picture "
    "oleObjects controls webPublishItems tableParts extLst"
).split()


def _insert_in_order(parent: Any, child: Any, order: Sequence[str]) -> None:
    """Insert ``child`` where the schema's element order puts it among ``parent``'s children."""
    rank = order.index(etree.QName(child).localname)
    for index, existing in enumerate(parent):
        name = etree.QName(existing).localname if isinstance(existing.tag, str) else ""
        if name in order and order.index(name) > rank:
            parent.insert(index, child)
            return
    parent.append(child)


def _register_sheet(package: _Package, name: str) -> _SheetInfo:
    """Add a worksheet part for ``name`` to workbook.xml, its rels and the content types."""
    taken = set(package.by_lower)
    base = posixpath.dirname(package.workbook_part)
    number = 1
    while posixpath.join(base, f"worksheets/sheet{number}.xml").lower() in taken:
        number += 1
    part = posixpath.join(base, f"worksheets/sheet{number}.xml")

    rels_root = package.workbook_rels_tree.getroot()
    ids = {element.get("Id", "") for element in rels_root}
    next_id = 1 + max((int(i[3:]) for i in ids if i[:3] == "rId" and i[3:].isdigit()), default=0)
    rel_id = f"rId{next_id}"
    sheet_type = next(
        (
            rel.rel_type
            for rel in package.workbook_rels.values()
            if rel.rel_type.endswith("/worksheet")
        ),
        f"{_TRANSITIONAL_REL_NS}/worksheet",
    )
    rel_ns = etree.QName(rels_root).namespace or _PKG_REL_NS
    rel = etree.SubElement(rels_root, f"{{{rel_ns}}}Relationship")
    rel.set("Id", rel_id)
    rel.set("Type", sheet_type)
    rel.set("Target", quote(posixpath.relpath(part, base or ".")))
    package.rels_changed = True

    sheet_ids = [int(s.get("sheetId", "0")) for s in package.sheet_elements]
    sheet_id = str(max(sheet_ids, default=0) + 1)
    element = etree.SubElement(package.sheet_elements, package.q("sheet"))
    element.set("name", name)
    element.set("sheetId", sheet_id)
    element.set(f"{{{package.rel_ns}}}id", rel_id)

    types_root = package.content_types.getroot()
    types_ns = etree.QName(types_root).namespace or _CT_NS
    override = etree.SubElement(types_root, f"{{{types_ns}}}Override")
    override.set("PartName", "/" + part)
    override.set("ContentType", _WORKSHEET_CT)

    info = _SheetInfo(name, sheet_id, part)
    package.sheets[name.casefold()] = info
    package.by_lower[part.lower()] = part
    return info


class _DateStyles:
    """Finds or adds a cell format that shows dates, starting from a cell's own format."""

    def __init__(self, package: _Package) -> None:
        self.package = package
        rel = package.rel_of_type("/styles")
        self.part = rel.target if rel is not None and package.has(rel.target) else ""
        self.changed = False
        self._tree: Any = None
        self._original = b""
        self._cache: dict[tuple[int, bool], int | None] = {}

    def style_for(self, style: int, with_time: bool) -> int | None:
        """The cell format to use for a date in a cell formatted ``style`` (None: keep it)."""
        key = (style, with_time)
        if key not in self._cache:
            self._cache[key] = self._date_style(style, with_time)
        return self._cache[key]

    def _date_style(self, style: int, with_time: bool) -> int | None:
        if not self.part:
            return None  # no styles part: the date stays a bare serial number
        if self._tree is None:
            self._original = self.package.read(self.part)
            self._tree = _parse(self._original, self.part)
        root = self._tree.getroot()
        q = _namespaced(root)
        cell_xfs = root.find(q("cellXfs"))
        if cell_xfs is None:
            return None
        xfs = list(cell_xfs.iterchildren(q("xf")))
        if style >= len(xfs):
            return None
        xf = xfs[style]
        if self._is_date_format(int(xf.get("numFmtId", "0")), root):
            return style
        clone = copy.deepcopy(xf)
        clone.set("numFmtId", str(_DATETIME_FORMAT_ID if with_time else _DATE_FORMAT_ID))
        clone.set("applyNumberFormat", "1")
        xfs[-1].addnext(clone)
        cell_xfs.set("count", str(len(xfs) + 1))
        self.changed = True
        return len(xfs)

    @staticmethod
    def _is_date_format(num_fmt_id: int, root: Any) -> bool:
        if num_fmt_id in _BUILTIN_DATE_FORMATS:
            return True
        q = _namespaced(root)
        for num_fmt in root.iterfind(f"{q('numFmts')}/{q('numFmt')}"):
            if num_fmt.get("numFmtId") == str(num_fmt_id):
                return _is_date_code(num_fmt.get("formatCode", ""))
        return False

    def result(self) -> bytes:
        return _serialize(self._tree, self._original)


def _is_date_code(code: str) -> bool:
    """Whether a custom number format shows a date or time (quoted text and colours ignored)."""
    code = re.sub(r'"[^"]*"|\\.|_.|\*.', "", code)
    code = re.sub(r"\[(?![hms]+\])[^\]]*\]", "", code, flags=re.IGNORECASE)
    return re.search(r"[ymdhs]", code, flags=re.IGNORECASE) is not None


def _namespaced(element: Any) -> Callable[[str], str]:
    namespace = etree.QName(element).namespace
    return (lambda tag: f"{{{namespace}}}{tag}") if namespace else (lambda tag: tag)


class _TreePatcher:
    """A worksheet patched through an lxml tree: general, for new, replaced and unusual sheets.

    Parsing costs about a microsecond per element, so large everyday writes go through
    :class:`_StreamPatcher` instead.
    """

    def __init__(self, xml: bytes, date1904: bool, styles: _DateStyles, where: str) -> None:
        self.original = xml
        self.date1904 = date1904
        self.styles = styles
        self.where = where
        self.tree = _parse(xml, where)
        self.root = self.tree.getroot()
        q = _namespaced(self.root)
        self.q = q
        self.ROW, self.C, self.V, self.F = q("row"), q("c"), q("v"), q("f")
        self.IS, self.T, self.EXT = q("is"), q("t"), q("extLst")
        sheet_data = self.root.find(q("sheetData"))
        if sheet_data is None:
            sheet_data = etree.Element(q("sheetData"))
            _insert_in_order(self.root, sheet_data, _WORKSHEET_ORDER)
        self.sheet_data = sheet_data
        self.removed_formulas: list[str] = []
        self.has_formulas = False
        self._extent: list[int] = []  # top, left, bottom, right of written values
        self._rows: dict[int, Any] = {}
        self._original_rows: list[int] = []
        self._original_row_elements: list[Any] = []
        self._index_rows()
        self._shared: dict[str, list[Any]] = {}
        self._array_cells: dict[tuple[int, int], str] = {}
        self._orphans: dict[str, tuple[str, str]] = {}  # si -> (formula, old master ref)
        self._scan_formulas()

    def _index_rows(self) -> None:
        previous = 0
        for row in self.sheet_data.iterchildren(self.ROW):
            ref = row.get("r")
            if ref is None:
                number = previous + 1
                row.set("r", str(number))  # explicit, so rows we insert cannot shift it
            else:
                number = int(ref)
            if number <= previous:
                raise WorkbookError(f"{self.where}: rows are out of order; not changed")
            previous = number
            self._rows[number] = row
            self._original_rows.append(number)
            self._original_row_elements.append(row)

    def _scan_formulas(self) -> None:
        for formula in self.sheet_data.iter(self.F):
            self.has_formulas = True
            kind = formula.get("t")
            if kind == "shared":
                self._shared.setdefault(formula.get("si", ""), []).append(formula.getparent())
            elif kind in ("array", "dataTable") and formula.get("ref"):
                top, left, bottom, right = _parse_range(formula.get("ref"))
                ref = formula.get("ref")
                for r in range(top, bottom + 1):
                    for c in range(left, right + 1):
                        self._array_cells[(r, c)] = ref

    def clear_all(self) -> None:
        """Remove every value and formula; cells that carry a format stay, empty."""
        for row in self._rows.values():
            doomed = []
            for cell in row.iterchildren(self.C):
                self._strip(cell, cell.get("r", ""))
                if cell.get("s") is None:
                    doomed.append(cell)
            for cell in doomed:
                row.remove(cell)
        self._array_cells.clear()
        self._orphans.clear()

    def apply(self, writes: Mapping[tuple[int, int], CellValue]) -> None:
        """Set every ``(row, col) -> value``; rows and cells are created in sheet order."""
        for key in writes:
            if key in self._array_cells:
                ref = _col_letters(key[1]) + str(key[0])
                raise WorkbookError(
                    f"{self.where}: {ref} is part of the array formula {self._array_cells[key]}; "
                    "smmsheet does not overwrite it, nothing was changed"
                )
        by_row: dict[int, list[tuple[int, CellValue]]] = {}
        for (r, c), value in writes.items():
            by_row.setdefault(r, []).append((c, value))
        for number in sorted(by_row):
            cells = sorted(by_row[number], key=lambda item: item[0])
            row = self._rows.get(number)
            if row is None:
                if all(value is None for _, value in cells):
                    continue
                row = self._new_row(number)
            self._patch_row(row, number, cells)
        self._rehome_shared_formulas()

    def _new_row(self, number: int) -> Any:
        row = self.sheet_data.makeelement(self.ROW, {"r": str(number)})
        index = bisect.bisect_right(self._original_rows, number)
        if index < len(self._original_rows):
            self._original_row_elements[index].addprevious(row)
        else:
            self.sheet_data.append(row)
        self._rows[number] = row
        return row

    def _patch_row(self, row: Any, number: int, cells: list[tuple[int, CellValue]]) -> None:
        cols, elements = self._row_cells(row)
        by_col = dict(zip(cols, elements, strict=True))
        doomed = []
        suffix = str(number)
        for col, value in cells:
            ref = _col_letters(col) + suffix
            cell = by_col.get(col)
            if value is None:
                if cell is not None:
                    self._strip(cell, ref)
                    if cell.get("s") is None:
                        doomed.append(cell)
                continue
            if cell is None:
                cell = row.makeelement(self.C, {"r": ref})
                index = bisect.bisect_right(cols, col)
                if index < len(elements):
                    elements[index].addprevious(cell)
                elif len(row) and row[-1].tag == self.EXT:
                    row[-1].addprevious(cell)
                else:
                    row.append(cell)
                by_col[col] = cell
            else:
                self._strip(cell, ref)
            self._set(cell, value)
            self._grow_extent(number, col)
        for cell in doomed:
            row.remove(cell)
        spans = row.get("spans")
        if spans is not None and cells:
            bounds = [int(n) for n in re.findall(r"\d+", spans)]
            low = min([*bounds, cells[0][0]])
            high = max([*bounds, cells[-1][0]])
            if spans != f"{low}:{high}":
                row.set("spans", f"{low}:{high}")

    def _row_cells(self, row: Any) -> tuple[list[int], list[Any]]:
        """The row's cells as sorted columns and elements; missing ``r`` made explicit."""
        cols: list[int] = []
        elements: list[Any] = []
        previous = 0
        suffix = row.get("r")
        for cell in row.iterchildren(self.C):
            ref = cell.get("r")
            if ref is None:
                col = previous + 1
                cell.set("r", _col_letters(col) + suffix)
            else:
                col = _col_number(ref.rstrip("0123456789"))
            if col <= previous:
                raise WorkbookError(f"{self.where}: cells of row {suffix} are out of order")
            previous = col
            cols.append(col)
            elements.append(cell)
        return cols, elements

    def _strip(self, cell: Any, ref: str) -> None:
        """Remove the cell's value and formula (noting what the calc chain must forget)."""
        for child in list(cell):
            if child.tag == self.F:
                self.removed_formulas.append(ref)
                if child.get("t") == "shared" and child.get("ref") is not None:
                    self._orphans[child.get("si", "")] = (child.text or "", ref)
            if child.tag != self.EXT:
                cell.remove(child)
        for attribute in ("t", "cm", "vm"):
            cell.attrib.pop(attribute, None)

    def _set(self, cell: Any, value: CellValue) -> None:
        kind, text, date_with_time = _encode(value, self.date1904)
        if kind is not None:
            cell.set("t", kind)
        if kind == "inlineStr":
            inline = self._child(cell, self.IS)
            element = etree.SubElement(inline, self.T)
            element.text = text
            element.set(_XML_SPACE, "preserve")
        else:
            self._child(cell, self.V).text = text
        if date_with_time is not None:
            style = int(cell.get("s", "0"))
            date_style = self.styles.style_for(style, date_with_time)
            if date_style is not None and date_style != style:
                cell.set("s", str(date_style))

    def _child(self, cell: Any, tag: str) -> Any:
        child = cell.makeelement(tag, {})
        if len(cell):
            cell[0].addprevious(child)  # only an extLst can be left; values come first
        else:
            cell.append(child)
        return child

    def _grow_extent(self, row: int, col: int) -> None:
        extent = self._extent
        if not extent:
            extent.extend((row, col, row, col))
            return
        extent[0] = min(extent[0], row)
        extent[1] = min(extent[1], col)
        extent[2] = max(extent[2], row)
        extent[3] = max(extent[3], col)

    def _rehome_shared_formulas(self) -> None:
        """Keep shared formulas whose master cell was overwritten working for their other cells.

        The first remaining cell becomes the master when it is the top-left of what remains;
        otherwise every remaining cell gets its own copy of the formula.
        """
        for si, (formula, master_ref) in self._orphans.items():
            members = []
            for cell in self._shared.get(si, []):
                f = cell.find(self.F)
                if f is not None and f.get("t") == "shared" and f.get("si") == si:
                    members.append((cell, f, _parse_ref(cell.get("r", ""))))
            if not members:
                continue
            top = min(pos[0] for _, _, pos in members)
            left = min(pos[1] for _, _, pos in members)
            bottom = max(pos[0] for _, _, pos in members)
            right = max(pos[1] for _, _, pos in members)
            first_cell, first_f, first_pos = members[0]
            if first_pos == (top, left):
                first_f.text = _translate(formula, master_ref, first_cell.get("r"))
                first_f.set("ref", _range_ref(top, left, bottom, right))
                continue
            for cell, f, _ in members:
                f.text = _translate(formula, master_ref, cell.get("r"))
                for attribute in ("t", "si", "ref"):
                    f.attrib.pop(attribute, None)
        self._orphans.clear()

    def result(self) -> bytes:
        """The patched worksheet XML, its dimension grown to cover the written cells."""
        if self._extent:
            dimension = self.root.find(self.q("dimension"))
            if dimension is None:
                dimension = etree.Element(self.q("dimension"))
                _insert_in_order(self.root, dimension, _WORKSHEET_ORDER)
            extent = list(self._extent)
            with contextlib.suppress(WorkbookError):
                top, left, bottom, right = _parse_range(dimension.get("ref", ""))
                extent = [
                    min(top, extent[0]),
                    min(left, extent[1]),
                    max(bottom, extent[2]),
                    max(right, extent[3]),
                ]
            dimension.set("ref", _range_ref(*extent))
        return _serialize(self.tree, self.original)


class _NeedsTree(Exception):
    """The sheet's XML is unusual enough that only the tree patcher handles it safely."""


#: Whether writes into existing sheets go through the fast text-level patcher (tests
#: switch it off to run the same cases through the tree patcher).
STREAM_PATCHING = True
#: zlib level for parts we rewrite: zipfile's and Excel's usual default.
ZIP_LEVEL = 6
#: How many pieces of a patched sheet are gathered before they go to the compressor.
_CHUNK_PIECES = 4096


_Output = Literal["bytes", "deflate", "size"]


@dataclass
class _Patched:
    xml: bytes | _Deflated
    removed_formulas: list[str]
    has_formulas: bool


def _patch_sheet(
    xml: bytes,
    edit: _SheetEdit,
    date1904: bool,
    styles: _DateStyles,
    where: str,
    output: _Output,
) -> _Patched:
    """Apply one sheet's buffered edit to its XML, by the fastest patcher that is safe.

    ``output`` says what becomes of the result: ``"deflate"`` compresses it while it is
    produced, on a second core; ``"bytes"`` keeps it as it is; ``"size"`` (a dry run)
    keeps only its length, as a :class:`_Deflated` with no data.
    """
    if STREAM_PATCHING and edit.replacement is None and not edit.is_new:
        try:
            stream = _StreamPatcher(xml, date1904, styles, where)
            content: bytes | _Deflated
            if output == "deflate":
                with _Deflater() as deflater:
                    stream.apply(edit.rows, deflater.write)
                content = deflater.result()
            elif output == "size":
                sizes: list[int] = []
                stream.apply(edit.rows, lambda chunk: sizes.append(len(chunk)))
                content = _Deflated(b"", 0, sum(sizes))
            else:
                chunks: list[bytes] = []
                stream.apply(edit.rows, chunks.append)
                content = b"".join(chunks)
            return _Patched(content, stream.removed_formulas, stream.has_formulas)
        except _NeedsTree:
            pass
    tree = _TreePatcher(xml, date1904, styles, where)
    if edit.replacement is not None and not edit.is_new:
        tree.clear_all()
    tree.apply(edit.writes())
    result = tree.result()
    content = _Deflated(b"", 0, len(result)) if output == "size" and not edit.is_new else result
    return _Patched(content, tree.removed_formulas, tree.has_formulas)


@dataclass
class _Deflated:
    """A part compressed ahead of time: raw deflate data, CRC-32 and uncompressed size."""

    data: bytes
    crc: int
    size: int


class _Deflater:
    """Deflates chunks on a worker thread as they are produced (zlib releases the GIL)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._parts: list[bytes] = []
        self._crc = 0
        self._size = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="smmsheet-deflate", daemon=True)
        self._thread.start()

    def __enter__(self) -> _Deflater:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._queue.put(None)
        self._thread.join()

    def write(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def _run(self) -> None:
        compressor = zlib.compressobj(ZIP_LEVEL, zlib.DEFLATED, -15)
        while (chunk := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining so the producer never blocks
            try:
                self._crc = zlib.crc32(chunk, self._crc)
                self._size += len(chunk)
                self._parts.append(compressor.compress(chunk))
            except BaseException as exc:  # reported by result()
                self._error = exc
        if self._error is None:
            self._parts.append(compressor.flush())

    def result(self) -> _Deflated:
        """The compressed part; only after the ``with`` block has ended."""
        if self._error is not None:
            raise self._error
        return _Deflated(b"".join(self._parts), self._crc, self._size)


_NAME = r"[A-Za-z_][\w.-]*"
_SHEET_DATA = re.compile(rf"<((?:{_NAME}:)?)sheetData(?=[\s/>])[^>]*>")
_ATTRIBUTE = re.compile(rf"({_NAME}(?::{_NAME})?)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_SPANS = re.compile(r"(\sspans\s*=\s*[\"'])([^\"']*)([\"'])")
_DIMENSION_REF = re.compile(rf"(<(?:{_NAME}:)?dimension(?=[\s/>])[^>]*?\sref\s*=\s*[\"'])([^\"']*)")
_SHEET_PR_END = re.compile(rf"</(?:{_NAME}:)?sheetPr>|<(?:{_NAME}:)?sheetPr(?=[\s/>])[^>]*/>")
_ROOT_START = re.compile(rf"<(?:{_NAME}:)?worksheet(?=[\s>])[^>]*>")
_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([^\"']+)[\"']")
_LETTERS = re.compile(r"[A-Z]{1,3}")


class _StreamPatcher:
    """A worksheet patched as text: rows not written to are copied untouched, in bulk.

    Only the rows being written are cut into cells, so a save costs little more than
    inflating and deflating the part. Anything unusual (rows or cells without ``r``,
    comments, CDATA, a shared-formula master being overwritten, a non-UTF-8 part) raises
    :class:`_NeedsTree` and the sheet goes through :class:`_TreePatcher` instead.
    """

    def __init__(self, xml: bytes, date1904: bool, styles: _DateStyles, where: str) -> None:
        declared = _ENCODING.match(xml)
        if declared is not None and declared.group(1).lower() not in (b"utf-8", b"utf8"):
            raise _NeedsTree
        try:
            text = xml.decode("utf-8")
        except UnicodeDecodeError:
            raise _NeedsTree from None
        start = _SHEET_DATA.search(text)
        if start is None:
            raise _NeedsTree
        p = start.group(1)
        if start.group(0).endswith("/>"):
            self.head = text[: start.start()] + start.group(0)[:-2].rstrip() + ">"
            self.region = ""
            self.tail = f"</{p}sheetData>" + text[start.end() :]
        else:
            close = text.find(f"</{p}sheetData>", start.end())
            if close < 0:
                raise _NeedsTree
            self.head, self.region = text[: start.end()], text[start.end() : close]
            self.tail = text[close:]
        region = self.region
        if "<!" in region or "<?" in region:
            raise _NeedsTree  # these may hold a "<" that starts no element
        if region.count(f"<{p}row") != region.count(f'<{p}row r="'):
            raise _NeedsTree  # rows without r, or with r not first
        self.p = p
        self.date1904 = date1904
        self.styles = styles
        self.where = where
        self.removed_formulas: list[str] = []
        self.has_formulas = f"<{p}f>" in region or f"<{p}f " in region
        self._row = re.compile(f'<{re.escape(p)}row r="([0-9]+)"[^>]*>')
        self._row_close = f"</{p}row>"
        self._cell_open = f"<{p}c"
        self._canonical_open = f'<{p}c r="'
        self._cell_close = f"</{p}c>"
        self._formula_open = f"<{p}f"
        self._any_cell = re.compile(re.escape(self._cell_open) + r"(?=[\s/>])[^>]*>")
        self._simple_cell = re.compile(
            re.escape(self._canonical_open)
            + r'[A-Z]{1,3}[0-9]+"(?: s="([0-9]+)")?(?: t="[A-Za-z]+")?\s*/?>'
        )
        self._masters: set[tuple[int, int]] = set()
        self._array_cells: dict[tuple[int, int], str] = {}
        if self.has_formulas:
            self._scan_formula_ranges()

    def _scan_formula_ranges(self) -> None:
        """Find shared-formula masters and array-formula ranges: the formulas with a ``ref``."""
        region = self.region
        formula = f"<{self.p}f"
        for needle in (' ref="', " ref='"):
            position = region.find(needle)
            while position >= 0:
                tag_start = region.rfind("<", 0, position)
                tag = region[tag_start : region.find(">", position) + 1]
                if tag.startswith(formula) and tag[len(formula) : len(formula) + 1].isspace():
                    attributes = _attributes(tag)
                    kind, ref = attributes.get("t"), attributes.get("ref", "")
                    if kind == "shared":
                        cell_start = region.rfind(self._cell_open + " ", 0, tag_start)
                        cell_tag = region[cell_start : region.find(">", cell_start) + 1]
                        cell_ref = _attributes(cell_tag).get("r")
                        if cell_start < 0 or cell_ref is None:
                            raise _NeedsTree
                        self._masters.add(_parse_ref(cell_ref))
                    elif kind in ("array", "dataTable") and ref:
                        top, left, bottom, right = _parse_range(ref)
                        for r in range(top, bottom + 1):
                            for c in range(left, right + 1):
                                self._array_cells[(r, c)] = ref
                position = region.find(needle, position + 1)

    def apply(
        self, by_row: Mapping[int, Mapping[int, CellValue]], write: Callable[[bytes], object]
    ) -> None:
        """Pass the sheet XML with ``{row: {col: value}}`` applied to ``write``, in chunks."""
        if self._array_cells or self._masters:
            for row, cells in by_row.items():
                for col in cells:
                    key = (row, col)
                    if key in self._array_cells:
                        raise WorkbookError(
                            f"{self.where}: {_col_letters(col)}{row} is part of the array formula "
                            f"{self._array_cells[key]}; smmsheet does not overwrite it, "
                            "nothing was changed"
                        )
                    if key in self._masters:
                        raise _NeedsTree  # the formula must move to another cell of its range
        targets = sorted(key for key, cells in by_row.items() if cells)
        write(self._head(by_row, targets).encode("utf-8"))
        region = self.region
        out: list[str] = []
        copied = 0  # region[:copied] has been written
        index = 0
        previous = seen = 0
        inserted = False
        for match in self._row.finditer(region) if targets else ():
            number = int(match.group(1))
            if number <= previous:
                raise _NeedsTree
            previous, seen = number, match.end()
            target = targets[index]
            if number < target:
                continue
            start = match.start()
            while target < number:  # rows that do not exist yet go before this one
                inserted = True
                out.append(region[copied:start])
                copied = start
                out.append(self._new_row(target, sorted(by_row[target].items())))
                index += 1
                if index == len(targets):
                    break
                target = targets[index]
            if index == len(targets):
                break
            if target == number:
                tag = match.group(0)
                if tag.endswith("/>"):
                    tag, body, end = tag[:-2].rstrip() + ">", "", match.end()
                else:
                    close = region.find(self._row_close, match.end())
                    if close < 0:
                        raise _NeedsTree
                    body, end = region[match.end() : close], close + len(self._row_close)
                out.append(region[copied:start])
                out.append(self._patch_row(tag, body, number, sorted(by_row[number].items())))
                copied = end
                index += 1
                if index == len(targets):
                    break
                if len(out) > _CHUNK_PIECES:
                    write("".join(out).encode("utf-8"))
                    out.clear()
        if inserted and any(int(m[1]) <= previous for m in self._row.finditer(region, seen)):
            raise _NeedsTree  # rows out of order: an inserted row may exist further on
        out.append(region[copied:])
        for target in targets[index:]:
            out.append(self._new_row(target, sorted(by_row[target].items())))
        out.append(self.tail)
        write("".join(out).encode("utf-8"))

    def _head(self, by_row: Mapping[int, Mapping[int, CellValue]], targets: list[int]) -> str:
        """The part before the rows, its ``<dimension>`` grown to cover the written cells.

        Cleared cells count too: the dimension is a hint, and may be larger than the data.
        """
        if not targets:
            return self.head
        lefts = [min(by_row[row]) for row in targets]
        rights = [max(by_row[row]) for row in targets]
        extent = [targets[0], min(lefts), targets[-1], max(rights)]
        dimension = _DIMENSION_REF.search(self.head)
        if dimension is not None:
            with contextlib.suppress(WorkbookError):
                top, left, bottom, right = _parse_range(dimension.group(2))
                extent = [
                    min(top, extent[0]),
                    min(left, extent[1]),
                    max(bottom, extent[2]),
                    max(right, extent[3]),
                ]
            ref = _range_ref(*extent)
            return self.head[: dimension.start(2)] + ref + self.head[dimension.end(2) :]
        element = f'<{self.p}dimension ref="{_range_ref(*extent)}"/>'
        anchor = _SHEET_PR_END.search(self.head) or _ROOT_START.search(self.head)
        if anchor is None:
            raise _NeedsTree
        return self.head[: anchor.end()] + element + self.head[anchor.end() :]

    def _new_row(self, number: int, cells: list[tuple[int, CellValue]]) -> str:
        suffix = str(number)
        body = "".join(
            [
                self._cell(_col_letters(col) + suffix, None, "", value)
                for col, value in cells
                if value is not None
            ]
        )
        if not body:
            return ""
        return f'<{self.p}row r="{suffix}">{body}{self._row_close}'

    def _patch_row(
        self, start_tag: str, body: str, number: int, writes: list[tuple[int, CellValue]]
    ) -> str:
        """One existing row with ``writes`` (sorted) applied; other cells are copied as they are."""
        if "extLst" in body:
            raise _NeedsTree
        canonical_open, cell_close = self._canonical_open, self._cell_close
        # Every writer we know puts r first in double quotes; then a cell is found by its
        # reference and nothing else in the row needs reading.
        canonical = body.count(canonical_open) == body.count(self._cell_open)
        last_col = -1
        scan: tuple[list[int], list[int], list[int]] | None = None
        suffix = str(number)
        out: list[str] = []
        copied = 0
        for col, value in writes:
            ref = _col_letters(col) + suffix
            start = body.find(f'{canonical_open}{ref}"', copied) if canonical else -1
            if start >= 0:
                exists = True
                tag_end = body.find(">", start)
                if body[tag_end - 1] == "/":
                    end = tag_end + 1
                else:
                    end = body.find(cell_close, tag_end) + len(cell_close)
                    if end < len(cell_close):
                        raise _NeedsTree
            else:
                if canonical and last_col < 0:
                    last_col = self._last_col(body)
                if canonical and col > last_col:
                    exists, start = False, len(body)
                else:
                    if scan is None:
                        scan = self._scan_cells(body, number)
                    cols, starts, ends = scan
                    at = bisect.bisect_left(cols, col)
                    exists = at < len(cols) and cols[at] == col
                    start = starts[at] if at < len(cols) else len(body)
                    end = ends[at] if exists else start
            if exists:
                out.append(body[copied:start])
                out.append(self._rewrite(body[start:end], ref, value))
                copied = end
            elif value is not None:
                out.append(body[copied:start])
                out.append(self._cell(ref, None, "", value))
                copied = start
        out.append(body[copied:])
        if "spans" in start_tag:
            start_tag = _widen_spans(start_tag, writes[0][0], writes[-1][0])
        return start_tag + "".join(out) + self._row_close

    def _cell_end(self, body: str, start: int) -> int:
        tag_end = body.find(">", start)
        if body[tag_end - 1] == "/":
            return tag_end + 1
        end = body.find(self._cell_close, tag_end)
        if end < 0:
            raise _NeedsTree
        return end + len(self._cell_close)

    def _last_col(self, body: str) -> int:
        """Column of the row's last cell (0 for none), for rows in canonical form."""
        start = body.rfind(self._canonical_open)
        if start < 0:
            return 0
        match = _LETTERS.match(body, start + len(self._canonical_open))
        if match is None:
            raise _NeedsTree
        return _col_number(match.group(0))

    def _scan_cells(self, body: str, number: int) -> tuple[list[int], list[int], list[int]]:
        """Columns, starts and ends of every cell in a row, whatever its attribute order."""
        cols: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        for match in self._any_cell.finditer(body):
            ref = _attributes(match.group(0)).get("r")
            if ref is None:
                raise _NeedsTree
            row, col = _parse_ref(ref)
            if row != number or (cols and col <= cols[-1]):
                raise _NeedsTree
            cols.append(col)
            starts.append(match.start())
            ends.append(self._cell_end(body, match.start()))
        return cols, starts, ends

    def _rewrite(self, cell: str, ref: str, value: CellValue) -> str:
        """An existing cell with a new value (or none): its style stays, its formula goes."""
        simple = self._simple_cell.match(cell)
        style: str | None
        if simple is not None:
            style, others, content = simple.group(1), "", cell[simple.end() :]
        else:
            tag_end = cell.find(">")
            found = _attributes(cell[len(self._cell_open) : tag_end])
            style = found.get("s")
            others = "".join(
                " " + match.group(0)
                for match in _ATTRIBUTE.finditer(cell, len(self._cell_open), tag_end)
                if match.group(1) not in ("r", "s", "t", "cm", "vm")
            )
            content = cell[tag_end + 1 :]
        if "extLst" in content:
            raise _NeedsTree
        formula = self._formula_open
        if formula in content and any(formula + end in content for end in (">", " ", "/")):
            self.removed_formulas.append(ref)
        if value is not None:
            return self._cell(ref, style, others, value)
        if style is None:
            return ""
        return f'<{self.p}c r="{ref}" s="{style}"{others}/>'

    def _cell(self, ref: str, style: str | None, others: str, value: CellValue) -> str:
        """A ``<c>`` holding ``value`` (not None), keeping the style and other attributes."""
        p = self.p
        kind = type(value)
        styled = f' s="{style}"' if style is not None else ""
        if kind is str:
            text: str = value  # type: ignore[assignment]
            if "_x" in text:
                text = _EXCEL_ESCAPE.sub(r"_x005F\1", text)
            if "&" in text or "<" in text or ">" in text or "\r" in text:
                text = _xml_escape(text)
            return (
                f'<{p}c r="{ref}"{styled}{others} t="inlineStr"><{p}is>'
                f'<{p}t xml:space="preserve">{text}</{p}t></{p}is></{p}c>'
            )
        if kind is int or kind is float:
            number = str(value) if kind is int else repr(value)
            return f'<{p}c r="{ref}"{styled}{others}><{p}v>{number}</{p}v></{p}c>'
        cell_kind, text, date_with_time = _encode(value, self.date1904)
        if cell_kind == "inlineStr":
            return self._cell(ref, style, others, str(value))
        if date_with_time is not None:
            current = int(style or 0)
            chosen = self.styles.style_for(current, date_with_time)
            if chosen is not None and chosen != current:
                styled = f' s="{chosen}"'
        typed = f' t="{cell_kind}"' if cell_kind else ""
        return f'<{p}c r="{ref}"{styled}{others}{typed}><{p}v>{text}</{p}v></{p}c>'


def _attributes(tag: str) -> dict[str, str]:
    return {m.group(1): m.group(2) or m.group(3) or "" for m in _ATTRIBUTE.finditer(tag)}


def _xml_escape(text: str) -> str:
    """``text`` escaped for element content; CR as a reference so parsers keep it."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\r", "&#13;")


def _widen_spans(start_tag: str, low: int, high: int) -> str:
    """The row's ``spans`` hint widened to include columns ``low``..``high``."""
    match = _SPANS.search(start_tag)
    if match is None:
        return start_tag
    bounds = [int(n) for n in re.findall(r"[0-9]+", match.group(2))] or [low]
    new = f"{min(*bounds, low)}:{max(*bounds, high)}"
    if new == match.group(2):
        return start_tag
    return start_tag[: match.start(2)] + new + start_tag[match.end(2) :]


def _translate(formula: str, origin: str, target: str) -> str:
    """``formula`` written in cell ``origin`` as it reads when filled to ``target``."""
    from openpyxl.formula.translate import Translator

    return str(Translator("=" + formula, origin=origin).translate_formula(target))[1:]


def _prune_calc_chain(
    package: _Package,
    removed: set[tuple[str, str]],
    replaced: dict[str, bytes | _Deflated | None],
) -> None:
    """Drop calc-chain entries of formulas we overwrote; drop the part once it is empty.

    An entry without ``i`` belongs to the sheet of the entry before it, so the sheet id is
    made explicit on an entry whose predecessor goes.
    """
    rel = package.rel_of_type("/calcChain")
    if rel is None or not package.has(rel.target):
        return
    original = package.read(rel.target)
    tree = _parse(original, rel.target)
    root = tree.getroot()
    current = kept_sheet = "0"
    carry_level = False
    kept = 0
    for entry in list(root):
        if not isinstance(entry.tag, str) or etree.QName(entry).localname != "c":
            continue
        current = entry.get("i", current)
        if (current, entry.get("r", "").replace("$", "").upper()) in removed:
            carry_level = carry_level or entry.get("l") is not None
            root.remove(entry)
            continue
        if entry.get("i") is None and current != kept_sheet:
            entry.set("i", current)
        if carry_level and entry.get("l") is None:
            entry.set("l", "1")
        carry_level = False
        kept_sheet = current
        kept += 1
    part = package.by_lower[rel.target.lower()]
    if kept:
        replaced[part] = _serialize(tree, original)
        return
    replaced[part] = None
    rel.element.getparent().remove(rel.element)
    package.rels_changed = True
    types_root = package.content_types.getroot()
    for override in list(types_root):
        if override.get("PartName", "").lower() == "/" + rel.target.lower():
            types_root.remove(override)


def _write_zip(
    archive: zipfile.ZipFile,
    source: IO[bytes],
    out: IO[bytes],
    replaced: Mapping[str, bytes | _Deflated | None],
    added: Sequence[tuple[str, bytes]],
) -> None:
    """Copy ``archive`` to ``out`` member by member, raw, except the replaced and added parts.

    A new part goes right after the last member in its folder, so sheets stay together.
    """
    members = archive.infolist()
    after: dict[int, list[tuple[str, bytes]]] = {}
    for part, data in added:
        folder = posixpath.dirname(part).lower()
        positions = [
            i for i, m in enumerate(members) if posixpath.dirname(m.filename).lower() == folder
        ]
        after.setdefault(positions[-1] if positions else len(members) - 1, []).append((part, data))
    stamp = members[0].date_time if members else (1980, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(out, "w", allowZip64=True) as target:
        for index, member in enumerate(members):
            if member.filename in replaced:
                content = replaced[member.filename]
                if isinstance(content, _Deflated):
                    _write_deflated(target, member, content)
                elif content is not None:
                    _write_member(target, member, content)
            else:
                _copy_member(source, member, target)
            for part, data in after.get(index, ()):
                new = zipfile.ZipInfo(part, date_time=stamp)
                new.compress_type = zipfile.ZIP_DEFLATED
                target.writestr(new, data)


def _write_member(target: zipfile.ZipFile, member: zipfile.ZipInfo, data: bytes) -> None:
    """Write new content under ``member``'s name, date and compression."""
    new = zipfile.ZipInfo(member.filename, date_time=member.date_time)
    new.compress_type = member.compress_type
    new.create_system = member.create_system
    new.external_attr = member.external_attr
    new.comment = member.comment
    target.writestr(new, data)


def _copy_member(source: IO[bytes], member: zipfile.ZipInfo, target: zipfile.ZipFile) -> None:
    """Copy ``member``'s compressed bytes unchanged into ``target`` (no recompression)."""
    if member.flag_bits & 0x1:
        raise WorkbookError(f"the zip member {member.filename} is encrypted")
    source.seek(member.header_offset)
    header = source.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {member.filename}")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    source.seek(member.header_offset + 30 + name_length + extra_length)
    new = copy.copy(member)
    new.flag_bits &= ~0x08  # sizes go in the local header, so no data descriptor follows
    new.extra = _strip_zip64_extra(member.extra)
    _append_raw(target, new, _read_exactly(source, member.compress_size, member.filename))


def _write_deflated(target: zipfile.ZipFile, member: zipfile.ZipInfo, part: _Deflated) -> None:
    """Write a part compressed ahead of time under ``member``'s name and date."""
    new = zipfile.ZipInfo(member.filename, date_time=member.date_time)
    new.compress_type = ZIP_DEFLATED
    new.create_system = member.create_system
    new.external_attr = member.external_attr
    new.comment = member.comment
    new.CRC, new.file_size, new.compress_size = part.crc, part.size, len(part.data)
    _append_raw(target, new, [part.data])


def _append_raw(target: zipfile.ZipFile, info: zipfile.ZipInfo, chunks: Iterable[bytes]) -> None:
    """Append a member whose compressed data is ``chunks`` and whose sizes and CRC are known.

    zipfile has no public raw write, so the local header comes from ``info`` and the member
    is registered for ``target``'s central directory the way ``ZipFile.write`` does it.
    """
    zip64 = max(info.file_size, info.compress_size) > zipfile.ZIP64_LIMIT
    fp: Any = target.fp
    fp.seek(target.start_dir)
    info.header_offset = fp.tell()
    fp.write(info.FileHeader(zip64))
    for chunk in chunks:
        fp.write(chunk)
    target.filelist.append(info)
    target.NameToInfo[info.filename] = info
    target.start_dir = fp.tell()
    target._didModify = True  # type: ignore[attr-defined]


def _read_exactly(source: IO[bytes], size: int, name: str) -> Iterator[bytes]:
    remaining = size
    while remaining:
        chunk = source.read(min(remaining, 1 << 20))
        if not chunk:
            raise zipfile.BadZipFile(f"{name} is truncated")
        remaining -= len(chunk)
        yield chunk


def _strip_zip64_extra(extra: bytes) -> bytes:
    """``extra`` without its zip64 record, which the header writer adds back when needed."""
    out = bytearray()
    position = 0
    while position + 4 <= len(extra):
        kind, length = struct.unpack("<HH", extra[position : position + 4])
        end = position + 4 + length
        if kind != 1:
            out += extra[position:end]
        position = end
    return bytes(out)
