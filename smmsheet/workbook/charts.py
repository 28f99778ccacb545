"""A sheet of small tables with a native chart each: what a workbook adapter is asked to draw.

Plain data, no file format: the report builds a :class:`ChartSheet` from the order rows and
an adapter that can draw charts (:meth:`~.xlsx.XlsxWorkbook.write_chart_sheet`) lays it
out as cells and DrawingML charts that reference those cells.

Example::

    sheet = ChartSheet(
        heading=("smmsheet dashboard", "Refreshed 2026-11-25 20:10"),
        tables=(DataTable("Spend per service", ("Service", "Spend"), (("Likes", 2.5),),
                          ChartKind.BAR),),
    )
    book.write_chart_sheet(sheet, ("Dashboard", "Dashboard (smmsheet)"))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from .base import CellValue

__all__ = ["ChartKind", "ChartSheet", "ChartSheetWriter", "DataTable"]


class ChartKind(StrEnum):
    """How a table is drawn: columns (categories across), bars (categories down), a pie."""

    COLUMN = "column"
    BAR = "bar"
    PIE = "pie"


@dataclass(frozen=True)
class DataTable:
    """A titled table: a header, then one row per category (its label, then one number per
    series); drawn as a chart of ``chart``'s kind, or only as cells when ``chart`` is None.

    A chart needs at least one row; a pie draws the first series only.
    """

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[CellValue, ...], ...]
    chart: ChartKind | None = None


@dataclass(frozen=True)
class ChartSheet:
    """A whole sheet: heading lines at the top, then the tables, their charts beside them.

    The first heading line is the sheet's signature: a sheet whose first cell holds it
    exactly was written by smmsheet and may be replaced when the sheet is written again.
    """

    heading: tuple[str, ...]
    tables: tuple[DataTable, ...]

    @property
    def signature(self) -> str:
        return self.heading[0]


@runtime_checkable
class ChartSheetWriter(Protocol):
    """A workbook adapter that can write a :class:`ChartSheet` (the saved-file adapter)."""

    def write_chart_sheet(self, sheet: ChartSheet, names: Sequence[str]) -> str:
        """Buffer ``sheet`` into the first of ``names`` free or written by smmsheet; its name."""
        ...
