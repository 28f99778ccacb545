"""The adapter interface every workbook backend implements (file on disk, live Excel)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Protocol, runtime_checkable

from ..errors import WorkbookError

#: What a cell holds as far as smmsheet is concerned. ``str`` is ALWAYS written as text,
#: never as a formula, even when it starts with "=" (panel text is untrusted).
CellValue = str | int | float | Decimal | bool | dt.datetime | dt.date | None


@runtime_checkable
class WorkbookAdapter(Protocol):
    """A workbook as smmsheet sees it: read a sheet's values, write cells in bulk, commit.

    Rows and columns are 1-based like Excel. Writes are buffered until :meth:`save`;
    nothing reaches the user's file before then, and ``save`` is all-or-nothing.
    """

    def sheet_names(self) -> list[str]:
        """Names of the worksheets, in workbook order."""
        ...

    def read_values(self, sheet: str) -> list[list[CellValue]]:
        """All values of ``sheet`` as rows starting at A1 (cached values for formulas).

        Rows may have different lengths; trailing empty cells may be missing.
        """
        ...

    def write_cells(self, sheet: str, cells: Mapping[tuple[int, int], CellValue]) -> None:
        """Buffer ``{(row, col): value}`` writes into ``sheet``; ``None`` clears a cell."""
        ...

    def replace_sheet(self, sheet: str, rows: Sequence[Sequence[CellValue]]) -> None:
        """Buffer replacing every value of ``sheet`` (created at the end if missing)."""
        ...

    def read_marker(self) -> str | None:
        """The workbook's smmsheet marker (which journal run wrote it last), if any."""
        ...

    def write_marker(self, text: str) -> None:
        """Buffer setting the workbook's smmsheet marker; written by :meth:`save`."""
        ...

    def check_writable(self) -> None:
        """Raise :class:`~smmsheet.errors.WorkbookError` now if :meth:`save` could not write.

        Called before any paid request: an order must not be bought for a sheet that
        cannot take its Order ID.
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

#: Characters no worksheet can hold (XML 1.0 forbids them); panel text is untrusted.
_ILLEGAL_TEXT = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_INVALID_SHEET_NAME = re.compile(r"[:\\/?*\[\]]")


def clean_text(text: str, limit: int = MAX_CELL_CHARS) -> str:
    """Text a cell can hold: characters XML cannot carry removed, cut at ``limit``."""
    return _ILLEGAL_TEXT.sub("", text)[:limit]


def check_sheet_name(name: str) -> str:
    """``name`` if Excel accepts it as a sheet name, else :class:`WorkbookError`."""
    if not name or len(name) > 31 or _INVALID_SHEET_NAME.search(name) or name[0] == "'":
        raise WorkbookError(f"{name!r} is not a valid sheet name")
    return name


def check_grid_size(rows: Sequence[Sequence[object]]) -> None:
    """Refuse a block of rows that does not fit in a worksheet."""
    if len(rows) > MAX_ROW or any(len(row) > MAX_COL for row in rows):
        raise WorkbookError(f"{len(rows)} rows do not fit in a worksheet")


def find_sheet(names: Sequence[str], sheet: str) -> str | None:
    """The name in ``names`` that is ``sheet`` as Excel compares names (ignoring case)."""
    wanted = sheet.casefold()
    return next((name for name in names if name.casefold() == wanted), None)
