"""The cheapest route: a ``Routes`` sheet maps a product name to (panel, service) candidates.

The sheet has a header row with ``Product``, ``Panel`` and ``Service`` (any order, case and
spaces ignored) and one candidate per row; a product has as many rows as it has candidates.
An empty Panel is the workbook's default panel. An order row whose Service cell holds a
product name (not a service id) is routed: the engine prices every candidate at the rates
its panel lists this run and sends the row to the cheapest one that fits. Pure.

Example::

    routes = read_routes(book.read_values("Routes"))
    routes.candidates(row)    # [Candidate(panel='eu', service=12), ...] or None
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import LayoutError
from .orders import OrderTable
from .workbook.base import CellValue, WorkbookAdapter, find_sheet

__all__ = ["ROUTES_SHEET", "Candidate", "Routes", "panel_names", "product_key", "read_routes"]

ROUTES_SHEET = "Routes"


@dataclass(frozen=True)
class Candidate:
    """One way to buy a product: a panel (profile name; '' the default) and its service id."""

    panel: str
    service: int
    #: The Routes sheet row it was read from (for messages).
    row: int = 0


@dataclass(frozen=True)
class Routes:
    """Candidates by product (compared as :func:`product_key`), in the sheet's order."""

    products: dict[str, list[Candidate]] = field(default_factory=dict)

    def candidates(self, service_cell: CellValue) -> list[Candidate] | None:
        """The candidates of the product a Service cell names; None when it names none."""
        if not isinstance(service_cell, str):
            return None
        return self.products.get(product_key(service_cell))


def product_key(text: str) -> str:
    """A product name as compared: case and runs of spaces ignored."""
    return " ".join(text.split()).casefold()


def _header_key(text: CellValue) -> str:
    return re.sub(r"[\s_\-]+", "", str(text or "")).lower()


def read_routes(values: Sequence[Sequence[CellValue]], sheet: str = ROUTES_SHEET) -> Routes:
    """Read a Routes sheet; a header or a Service that cannot be read is a :class:`LayoutError`.

    A product named like a service id (``12``) is refused: a Service cell holding ``12``
    means service 12, so such a route could never be chosen.
    """
    header_index = next(
        (
            i
            for i, row in enumerate(values[:10])
            if {"product", "service"} <= {_header_key(v) for v in row}
        ),
        None,
    )
    if header_index is None:
        raise LayoutError(f"the {sheet} sheet needs a header row with Product, Panel and Service")
    header = [_header_key(v) for v in values[header_index]]
    where: dict[str, int] = {
        name: header.index(name) for name in ("product", "panel", "service") if name in header
    }
    products: dict[str, list[Candidate]] = {}
    for number, raw in enumerate(values[header_index + 1 :], start=header_index + 2):

        def cell(name: str, raw: Sequence[CellValue] = raw) -> CellValue:
            index = where.get(name)
            return raw[index] if index is not None and index < len(raw) else None

        product = str(cell("product") or "").strip()
        service = cell("service")
        if not product and service in (None, ""):
            continue
        place = f"the {sheet} sheet, row {number}"  # not "Routes!row 2": no cell looks so
        if not product:
            raise LayoutError(f"{place}: a Service without a Product")
        if product.isdigit():
            raise LayoutError(f"{place}: product {product!r} looks like a service id; name it")
        sid = _service_id(service)
        if sid is None:
            raise LayoutError(f"{place}: Service must be a service id number, got {service!r}")
        panel = str(cell("panel") or "").strip()
        candidates = products.setdefault(product_key(product), [])
        if not any((c.panel, c.service) == (panel, sid) for c in candidates):
            # listed twice, tried once: a fail-over never sends the same order again
            candidates.append(Candidate(panel, sid, number))
    return Routes(products)


def _service_id(value: CellValue) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def panel_names(book: WorkbookAdapter, sheet: str) -> list[str]:
    """Every profile a workbook names: in its order sheet's Panel column and its Routes
    sheet, in the order they first appear (empty cells, the default panel, left out)."""
    names: list[str] = []
    found = find_sheet(book.sheet_names(), sheet)
    if found is not None:
        table = OrderTable.from_values(book.read_values(found))
        names += [row.text("panel") for row in table.rows]
    routes = find_sheet(book.sheet_names(), ROUTES_SHEET)
    if routes is not None:
        read = read_routes(book.read_values(routes), routes)
        names += [c.panel for candidates in read.products.values() for c in candidates]
    return [name for name in dict.fromkeys(names) if name]
