"""A sheet's save begun early: rows patched and deflated while a run is still answering.

A status refresh of 100,000 rows spends seconds waiting on the panel with the CPU idle,
then seconds patching the sheet. :class:`PreparedSheet` moves the patching into the wait:
each time the run says the rows above some row hold what the save will write
(:meth:`~.adapter.XlsxWorkbook.prepare`), those rows go through the same
:class:`~.sheet_stream.RowWalk` the save uses, into a :class:`~.zipio.Deflater` on the
second core. The save then walks only the rows left and writes the sheet's part as it is.

It is only ever a head start. Anything it cannot vouch for when the save comes makes it
step aside and the save patches the sheet from the file as it always does: a row written
again after it was patched, the file changed on disk, new columns, a replaced sheet, a
sheet only the tree patcher can take. The part before the rows (its ``<dimension>`` grows
with what is written) is deflated last and put in front (:meth:`~.zipio.Deflater.result`).
Imports :mod:`.sheet_stream`, :mod:`.opc`, :mod:`.styles`, :mod:`.zipio` and
:mod:`.sheet_patch`.
"""

from __future__ import annotations

import heapq
import io
import logging
import os
import weakref
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from . import sheet_patch
from .opc import Package
from .sheet_patch import Patched, SheetEdit
from .sheet_stream import RowCells, RowWalk, StreamPatcher
from .styles import DateStyles
from .zipio import ZIP_DEFLATED, Deflater

__all__ = ["PREPARE_LIMIT", "PreparedSheet", "prepare_sheet", "read_identified"]

log = logging.getLogger(__name__)

#: The largest sheet (its XML, inflated) whose save is prepared. A preparation holds the
#: sheet as read for the whole run, where a save holds it for its last second: 250 MB more
#: at the peak of a million-row refresh (issue 14 bounds that run at 1.5 GB). Above this
#: (about 500,000 order rows) the memory counts for more than the seconds it saves.
PREPARE_LIMIT = 128 << 20

#: What identifies the file a preparation read: a save of any other file starts afresh.
_Identity = tuple[int, int, int, int]


def _identity(status: os.stat_result) -> _Identity:
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def read_identified(path: Path) -> tuple[_Identity, bytes]:
    """The file's identity and bytes, from one open."""
    with open(path, "rb") as file:
        return _identity(os.fstat(file.fileno())), file.read()


class PreparedSheet:
    """One sheet of one file, patched up to some row, its deflate under way.

    Holds the file's bytes, its :class:`~.opc.Package` and :class:`~.styles.DateStyles`, so
    the save that finishes it (:meth:`finish`) writes from the very bytes it patched.
    """

    def __init__(self, path: Path, name: str, edit: SheetEdit, label: str) -> None:
        self.path = path
        self.name = name
        self.edit = edit
        # The file's bytes, read once: the save copies the other parts from these, and uses
        # them only if the file on disk still holds exactly them (:meth:`finish`). Neither
        # size nor time tells a file written in place and its time put back; and no handle
        # is held open for the run (Windows: another program's save would be refused).
        self.identity, self.content = read_identified(path)
        self.file: IO[bytes] = io.BytesIO(self.content)
        self._deflater: Deflater | None = None
        try:
            self.archive = zipfile.ZipFile(self.file)
            self.package = Package(self.archive, label)
            info = self.package.sheets.get(name.casefold())
            if info is None:
                raise _CannotPrepare(f"{name!r} is not in the file yet")
            member = self.archive.getinfo(self.package.by_lower[info.part.lower()])
            if member.compress_type != ZIP_DEFLATED:
                raise _CannotPrepare("the sheet is stored, not deflated")
            if member.file_size > PREPARE_LIMIT:
                raise _CannotPrepare(f"the sheet's XML is {member.file_size:,} bytes")
            self.styles = DateStyles(self.package)
            xml = self.package.read_buffer(info.part)
            where = f"{label}, sheet {name!r}"
            self.patcher = StreamPatcher(xml, self.package.date1904, self.styles, where)
        except BaseException:
            self.file.close()
            raise
        #: How many rows were patched, and the first: every row written again after it
        #: was patched goes through note(), which marks the preparation broken (a row's
        #: cells are replaced in the edit, never changed in place: SheetEdit).
        self.patched = 0
        self.first = 0
        self._waiting: list[int] = []  # rows buffered and not patched yet (a heap)
        self._walk: RowWalk | None = None
        self.broken = False
        self._stop = weakref.finalize(self, _stop, None, self.file)

    def note(self, rows: Iterable[int]) -> None:
        """Rows just buffered: to patch later, or, if already walked past, a broken start."""
        if self.broken:
            return
        last = self._walk.last if self._walk is not None else 0
        waiting = self._waiting
        for row in rows:
            if row <= last:
                self.broken = True  # written again, or a new row above those patched
                return
            heapq.heappush(waiting, row)

    def advance(self, before_row: int) -> None:
        """Patch the buffered rows above ``before_row`` (each at most once)."""
        if self.broken:
            return
        rows = self.edit.rows
        targets: list[int] = []
        waiting = self._waiting
        while waiting and waiting[0] < before_row:
            row = heapq.heappop(waiting)
            if targets and targets[-1] == row:
                continue  # buffered twice before it was patched: once, as it now stands
            cells = rows.get(row)
            if cells is None or (type(cells) is not RowCells and not cells):
                continue
            targets.append(row)
        if not targets:
            return
        if self._walk is None:
            # The rows are deflated on their own; the part before them (its <dimension>
            # covers every cell written) is known at finish() and put in front then.
            self._deflater = Deflater()
            self._walk = RowWalk(self.patcher, self._deflater.write)
            # A preparation dropped without finish() or close() (a run that raised before
            # its save) must not leave its thread waiting for chunks for ever.
            self._stop.detach()
            self._stop = weakref.finalize(self, _stop, self._deflater, self.file)
        batch = {row: rows[row] for row in targets}
        self.patcher.check_cells(batch)
        self._walk.rows(batch, targets)
        self._walk.flush()
        self.patched += len(targets)
        self.first = self.first or targets[0]

    def finish(self, edit: SheetEdit | None) -> Patched | None:
        """The sheet's part as a save of ``edit`` would write it; None if it cannot say.

        ``edit`` is what the save found buffered for the sheet. None (and the caller
        patches the sheet afresh) unless it is the edit prepared, with nothing but cells,
        every patched row unchanged since, and the file on disk the file read.
        """
        if self.broken or self._walk is None or edit is not self.edit:
            return None
        if not edit.only_cells:
            return None
        try:
            if _identity(os.stat(self.path)) != self.identity:
                return None  # replaced, or written since: no need to read it
            if read_identified(self.path) != (self.identity, self.content):
                return None  # written in place, its size and time put back
        except OSError:
            return None
        rows = edit.rows
        last = self._walk.last
        targets: list[int] = []
        before = 0  # rows with cells up to the last one patched: those patched, or a change
        for row, cells in rows.items():
            if type(cells) is not RowCells and not cells:
                continue
            if row > last:
                targets.append(row)
            else:
                before += 1
        if before != self.patched:
            return None
        targets.sort()
        patcher = self.patcher
        patcher.check_cells({row: rows[row] for row in targets})
        walk = self._walk
        walk.rows(rows, targets)
        walk.finish()
        deflater = self._deflater
        assert deflater is not None
        deflater.close()  # the rows are all in: its thread ends
        patcher.xml = b""  # the sheet as read: 250 MB at a million rows, not kept for the zip
        opening = patcher.opening(rows, [self.first, targets[-1] if targets else last])
        part = deflater.result(head=opening)
        return Patched(part, patcher.removed_formulas, patcher.has_formulas)

    def close(self) -> None:
        """Stop the deflate thread and close the file; nothing of this stays."""
        self._stop()
        self.archive.close()


def _stop(deflater: Deflater | None, file: IO[bytes]) -> None:
    if deflater is not None:
        deflater.close()
    file.close()


class _CannotPrepare(Exception):
    """This sheet is saved the ordinary way."""


def prepare_sheet(path: Path, name: str, edit: SheetEdit, label: str) -> PreparedSheet | None:
    """A preparation of ``name``'s save, or None where only the ordinary save will do.

    Never raises for the file's content: whatever stops a preparation (a sheet only the
    tree patcher takes, a part that does not parse) is found again, and reported, by the
    save itself. None too while tests send every save through the tree patcher.
    """
    if not sheet_patch.STREAM_PATCHING:
        return None
    try:
        return PreparedSheet(path, name, edit, label)
    except Exception as exc:  # a head start only: the save reports what is wrong
        log.debug("not preparing the save of %s: %s", name, exc)
        return None
