"""Workbook adapters: one small interface, a headless file adapter and a live Excel adapter.

The core (``orders``, ``batch``) only talks to :class:`WorkbookAdapter`; it never imports
openpyxl or xlwings. Adapters are imported lazily by :func:`open_workbook`.
"""

from __future__ import annotations

from .base import CellValue, LinkedText, UnknownValue, WorkbookAdapter, cell_value_problem

__all__ = [
    "CellValue",
    "LinkedText",
    "UnknownValue",
    "WorkbookAdapter",
    "cell_value_problem",
    "open_workbook",
]


def open_workbook(path: str) -> WorkbookAdapter:
    """Open a saved .xlsx/.xlsm for a headless run (reads fast, writes back surgically)."""
    from .xlsx import XlsxWorkbook

    return XlsxWorkbook(path)
