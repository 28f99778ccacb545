"""The Services sheet: the panel's service list as a table of cells, for people to read.

One table for every place that shows the list: the ribbon's Load services and
``smmsheet services --into`` (written into the ``Services`` sheet), ``smmsheet services``
(printed) and ``=SMM_SERVICES()`` (spilled). pandas is imported only when a table is made.

Example::

    rows = services_table(panel.services())   # [["Service", "Name", ...], [1, "Likes", ...]]
    book.replace_sheet(SERVICES_SHEET, rows)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

from .models import Service
from .workbook.base import CellValue

__all__ = ["SERVICES_SHEET", "services_table"]

SERVICES_SHEET = "Services"


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
        return [["Service", "Name", "Type", "Category", "Rate per 1000", "Min", "Max"]]
    frame = frame.sort_values(["Category", "Service"], kind="stable")
    header: list[CellValue] = list(frame.columns)
    body = [[_plain(v) for v in record] for record in frame.itertuples(index=False)]
    return [header, *body]


def _plain(value: object) -> CellValue:
    """numpy scalars -> Python values a workbook adapter accepts; pandas' NaN (no rate) -> None."""
    item = getattr(value, "item", None)
    plain = item() if callable(item) else value
    if isinstance(plain, float) and math.isnan(plain):
        return None
    return cast(CellValue, plain)
