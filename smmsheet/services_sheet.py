"""The Services sheet: the panel's service list as a table of cells, for people to read.

One table for every place that shows the list: the ribbon's Load services and
``smmsheet services --into`` (written into the ``Services`` sheet), ``smmsheet services``
(printed) and ``=SMM_SERVICES()`` (spilled). pandas is imported only when a table is made.

A workbook's own ``Services`` sheet (a price list) is never replaced: only a sheet whose first
row is exactly the header this module writes counts as smmsheet's; otherwise the list goes
into ``Services (smmsheet)``, and when that name is taken by the user too, nothing is written.

Example::

    rows = services_table(panel.services())   # [["Service", "Name", ...], [1, "Likes", ...]]
    book.replace_sheet(services_sheet_of(book), rows)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

from .errors import WorkbookError
from .models import Service
from .workbook.base import CellValue, WorkbookAdapter, cell_value_problem, own_sheet

__all__ = ["SERVICES_SHEET", "OTHER_SERVICES_SHEET", "services_sheet_of", "services_table"]

SERVICES_SHEET = "Services"
#: Where the list goes when the workbook's ``Services`` sheet is the user's own.
OTHER_SERVICES_SHEET = "Services (smmsheet)"
#: The header row of the table, and of an empty one (no service listed).
HEADER = (
    "Service",
    "Name",
    "Type",
    "Category",
    "Rate per 1000",
    "Min",
    "Max",
    "Refill",
    "Cancel",
    "Drip-feed",
)
EMPTY_HEADER = HEADER[:7]


def services_sheet_of(book: WorkbookAdapter) -> str:
    """The sheet to write the service list into: one smmsheet wrote, or a new one.

    ``Services`` when it is missing or its first row is exactly a header this module writes
    (the way to recognise our own sheet: a user's price list has other headers, or more);
    else ``Services (smmsheet)`` on the same terms. Raises :class:`WorkbookError` when both
    are the user's, so nothing of theirs is replaced.
    """
    found = own_sheet(
        book.sheet_names(),
        (SERVICES_SHEET, OTHER_SERVICES_SHEET),
        lambda name: _written_by_us(book.read_values(name)),
    )
    if found is not None:
        return found
    raise WorkbookError(
        f"the sheets {SERVICES_SHEET!r} and {OTHER_SERVICES_SHEET!r} were not written by "
        "smmsheet: rename one of them to load the service list"
    )


def _written_by_us(rows: Sequence[Sequence[CellValue]]) -> bool:
    first = list(rows[0]) if rows else []
    while first and first[-1] in (None, ""):
        first.pop()
    return tuple(first) in (HEADER, EMPTY_HEADER)


def services_table(services: Sequence[Service]) -> list[list[CellValue]]:
    """The Services sheet: a header and one row per service, sorted by category and id."""
    import pandas as pd

    frame = pd.DataFrame(
        [
            {
                "Service": s.id,
                "Name": s.name,
                "Type": s.type,
                "Category": s.category,
                "Rate per 1000": None if s.rate is None else float(s.rate),
                "Min": s.min,
                "Max": s.max,
                "Refill": s.refill,
                "Cancel": s.cancel,
                "Drip-feed": s.dripfeed,
            }
            for s in services
        ]
    )
    if frame.empty:
        return [list(EMPTY_HEADER)]
    frame = frame.sort_values(["Category", "Service"], kind="stable")
    header: list[CellValue] = list(frame.columns)
    assert tuple(header) == HEADER  # services_sheet_of recognises our sheet by it
    body = [[_plain(v) for v in record] for record in frame.itertuples(index=False)]
    return [header, *body]


def _plain(value: object) -> CellValue:
    """numpy scalars -> Python values a workbook adapter accepts; pandas' NaN (no rate) -> None.

    A whole number no cell holds exactly (a max of 21 digits) is written as its digits: one
    odd service must not keep the whole list out of the workbook.
    """
    item = getattr(value, "item", None)
    plain = item() if callable(item) else value
    if isinstance(plain, float) and math.isnan(plain):
        return None
    if isinstance(plain, int) and cell_value_problem(plain) is not None:
        return str(plain)
    return cast(CellValue, plain)
