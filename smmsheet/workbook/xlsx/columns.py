"""New columns of a sheet: their width and number format, and the Table they join.

When smmsheet adds output columns (``Order ID``, ``Charge``, ``Updated``...) to a sheet, a
save runs this pass over the sheet's patched XML, once (the columns exist afterwards):

- each new column gets a ``<col>`` with its width and a cell format with its number
  format, unless the sheet already formats that column (the user's choice stays);
- every cell of a new column written by this save gets that cell format (a date-time in
  ``Updated`` sorts and filters as one), and each new header cell the format of the
  header cell to its left (bold stays bold);
- an Excel Table (a table part) whose header row is the header row and whose last column
  is just left of the new columns grows to take them, as Excel grows a Table when one
  types next to it: its range, its filter's range and a ``tableColumn`` per new column.
  A Table that already has a column of that name, or another Table in the way, is left
  as it is (Excel would refuse the file).

Imports :mod:`.cells`, :mod:`.opc`, :mod:`.styles` and :mod:`.names`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smmsheet.errors import WorkbookError

from ..base import NewColumn
from .cells import col_letters, parse_range, range_ref
from .opc import DamagedPart, Package, namespaced, parse_xml, serialize_xml
from .styles import DateStyles

__all__ = ["ColumnStyles", "NewColumns", "add_columns", "TABLE_REL", "totals_rows"]

#: The relationship type of a table part, as its suffix.
TABLE_REL = "/table"
_COLS = re.compile(rb"<((?:[\w.-]+:)?)cols>(.*?)</(?:[\w.-]+:)?cols>", re.DOTALL)
_SHEET_DATA = re.compile(rb"<((?:[\w.-]+:)?)sheetData[\s/>]")
_COL = re.compile(rb"<(?:[\w.-]+:)?col\s[^>]*>")
_COL_ATTR = re.compile(rb'\s(min|max|style)="(\d+)"')
_STYLE_ATTR = re.compile(rb'\ss="\d*"')


class ColumnStyles:
    """The cell format each column gives a new cell (``<col style>``), as Excel does.

    A cell typed into an empty cell of a formatted column takes the column's format; the
    patchers give the cells they create the same, so an Order ID or a Charge written into
    a column formatted for it (by the template, or when smmsheet added the column) shows
    as the column says. Built from the part of the sheet's XML before ``<sheetData>``.
    """

    def __init__(self, head: bytes | str) -> None:
        text = head.encode() if isinstance(head, str) else head
        found = _COLS.search(text)
        self._spans: list[tuple[int, int, str]] = []
        for element in _COL.finditer(found.group(2) if found else b""):
            attrs = dict(_COL_ATTR.findall(element.group(0)))
            style = attrs.get(b"style", b"0").decode()
            if style != "0" and attrs.get(b"min") and attrs.get(b"max"):
                self._spans.append((int(attrs[b"min"]), int(attrs[b"max"]), style))
        self._cache: dict[int, str | None] = {}

    def __bool__(self) -> bool:
        return bool(self._spans)

    def __call__(self, col: int) -> str | None:
        """The style index (as text) of a new cell in ``col``; None: the default."""
        if col not in self._cache:
            self._cache[col] = next((s for low, high, s in self._spans if low <= col <= high), None)
        return self._cache[col]


@dataclass
class NewColumns:
    """The columns to add to one sheet: the header row and ``{col: NewColumn}``."""

    header_row: int
    columns: dict[int, NewColumn] = field(default_factory=dict)


def add_columns(
    package: Package,
    sheet_part: str,
    xml: bytes,
    new: NewColumns,
    styles: DateStyles,
    replaced: dict[str, Any],
) -> bytes:
    """The sheet's XML with the new columns formatted; grown Table parts go in ``replaced``."""
    if not new.columns:
        return xml
    _grow_tables(package, sheet_part, new, replaced)
    looks = {
        col: styles.number_style(look.number_format) if look.number_format else None
        for col, look in new.columns.items()
    }
    xml = _style_cells(xml, new.header_row, looks, _header_style(xml, new, styles))
    return _add_cols(xml, new.columns, looks)


# --------------------------------------------------------------------------- tables


def totals_rows(package: Package, sheet_part: str) -> list[tuple[int, int, int, int]]:
    """The blocks (top, left, bottom, right) of the sheet's Table totals rows.

    A totals row holds ``SUBTOTAL`` formulas whose cached counts and sums look like an
    order (service 3, link 2, quantity 300): the reader blanks these cells. A Table part
    that cannot be read has none.
    """
    blocks: list[tuple[int, int, int, int]] = []
    for rel in package.rels(sheet_part).values():
        if not rel.rel_type.endswith(TABLE_REL) or not package.has(rel.target):
            continue
        try:
            root = parse_xml(package.read(rel.target), rel.target, True).getroot()
            count = int(root.get("totalsRowCount", "0"))
            top, left, bottom, right = parse_range(root.get("ref", ""))
            first_data = top + int(root.get("headerRowCount", "1"))
        except (DamagedPart, WorkbookError, ValueError):
            continue
        if count > 0:
            blocks.append((max(first_data, bottom - count + 1), left, bottom, right))
    return blocks


def _grow_tables(
    package: Package, sheet_part: str, new: NewColumns, replaced: dict[str, Any]
) -> None:
    """Grow the Table that ends just left of the new columns on their header row, if any."""
    first, last = min(new.columns), max(new.columns)
    if sorted(new.columns) != list(range(first, last + 1)):
        return  # not one block: a Table cannot take columns with a gap between them
    parts = [
        rel.target
        for rel in package.rels(sheet_part).values()
        if rel.rel_type.endswith(TABLE_REL) and package.has(rel.target)
    ]
    trees: dict[str, Any] = {}
    spans: dict[str, tuple[int, int, int, int]] = {}
    for part in parts:
        try:
            trees[part] = parse_xml(package.read(part), part)
            spans[part] = parse_range(trees[part].getroot().get("ref", ""))
        except (DamagedPart, WorkbookError):
            return  # a Table we cannot read is left as it is; the columns are still added
    for part, tree in trees.items():
        root = tree.getroot()
        top, left, bottom, right = spans[part]
        if root.get("headerRowCount", "1") == "0" or top != new.header_row or right + 1 != first:
            continue
        others = [span for other, span in spans.items() if other != part]
        if any(_overlaps(span, (top, first, bottom, last)) for span in others):
            return
        try:
            grown = _take_columns(root, new, (top, left, bottom, last))
        except (WorkbookError, ValueError):
            grown = False  # an odd filter range or column id: the part is left as it was
        if grown:
            member = package.by_lower[part.lower()]
            replaced[member] = serialize_xml(tree, package.read(part))
        return


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return not (a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1])


def _take_columns(root: Any, new: NewColumns, span: tuple[int, int, int, int]) -> bool:
    """Set the Table's range to ``span`` and list the new columns; False if a name clashes."""
    q = namespaced(root)
    columns = root.find(q("tableColumns"))
    if columns is None:
        return False
    listed = list(columns.iterchildren(q("tableColumn")))
    names = {str(c.get("name", "")).casefold() for c in listed}
    titles = [new.columns[col].title for col in sorted(new.columns)]
    if any(t.casefold() in names for t in titles) or len({t.casefold() for t in titles}) < len(
        titles
    ):
        return False
    top, left, bottom, right = span
    root.set("ref", range_ref(top, left, bottom, right))
    auto_filter = root.find(q("autoFilter"))
    if auto_filter is not None:
        filter_bottom = parse_range(auto_filter.get("ref", "A1"))[2]
        auto_filter.set("ref", range_ref(top, left, filter_bottom, right))
    ids = _free_ids({int(c.get("id", "0")) for c in listed}, len(titles))
    for new_id, title in zip(ids, titles, strict=True):
        element = columns.makeelement(q("tableColumn"), {"id": str(new_id)})
        element.set("name", title)
        columns.append(element)
    columns.set("count", str(len(listed) + len(titles)))
    return True


#: The largest id a tableColumn may have (its type is UInt32).
_MAX_COLUMN_ID = 2**32 - 1


def _free_ids(used: set[int], count: int) -> list[int]:
    """``count`` column ids not in ``used``: after the largest, as Excel numbers them, or
    the lowest free ones when that would pass UInt32."""
    top = max(used, default=0)
    if top + count <= _MAX_COLUMN_ID:
        return list(range(top + 1, top + count + 1))
    free = (i for i in range(1, _MAX_COLUMN_ID + 1) if i not in used)
    return [next(free) for _ in range(count)]


# --------------------------------------------------------------------------- sheet XML


def _header_style(xml: bytes, new: NewColumns, styles: DateStyles) -> int | None:
    """The cell format of the header cell left of the first new column (None: none)."""
    left = min(new.columns) - 1
    if left < 1:
        return None
    ref = f"{col_letters(left)}{new.header_row}".encode()
    found = re.search(rb'<(?:[\w.-]+:)?c\s[^>]*?\br="' + ref + rb'"[^>]*>', xml)
    if found is None:
        return None
    style = re.search(rb'\ss="(\d+)"', found.group(0))
    if style is None or int(style.group(1)) >= styles.cell_style_count():
        return None
    return int(style.group(1))


def _style_cells(
    xml: bytes, header_row: int, looks: Mapping[int, int | None], header: int | None
) -> bytes:
    """Give every cell of the new columns its column's format (its header: ``header``)."""
    letters = {col_letters(col).encode(): style for col, style in looks.items()}
    pattern = re.compile(
        rb'<((?:[\w.-]+:)?c)\s+r="(' + b"|".join(letters) + rb')([0-9]+)"([^>]*?)(/?)>'
    )

    def restyle(match: re.Match[bytes]) -> bytes:
        tag, column, row, rest, empty = match.groups()
        style = header if int(row) == header_row else letters[column]
        if style is None:
            return match.group(0)
        rest = _STYLE_ATTR.sub(b"", rest)
        return b'<%s r="%s%s" s="%d"%s%s>' % (tag, column, row, style, rest, empty)

    return pattern.sub(restyle, xml)


def _add_cols(
    xml: bytes, columns: Mapping[int, NewColumn], looks: Mapping[int, int | None]
) -> bytes:
    """Add a ``<col>`` (width, format) for each new column the sheet does not format yet."""
    found = _COLS.search(xml)
    data = _SHEET_DATA.search(xml)
    if data is None:
        return xml
    prefix = (found.group(1) if found else data.group(1)).decode()
    if found and b"</" in found.group(2):
        return xml  # <col></col> pairs: unusual, left alone rather than misread
    existing = list(_COL.finditer(found.group(2))) if found else []
    spans: list[tuple[int, int, bytes]] = []
    for element in existing:
        bounds = dict(_COL_ATTR.findall(element.group(0)))
        low, high = int(bounds.get(b"min", b"0")), int(bounds.get(b"max", b"0"))
        spans.append((low, high, element.group(0)))
    taken = [(low, high) for low, high, _ in spans]
    for col, look in sorted(columns.items()):
        if look.width is None and looks.get(col) is None:
            continue
        if any(low <= col <= high for low, high in taken):
            continue  # the user's own width and format for that column stay
        attrs = f'<{prefix}col min="{col}" max="{col}"'
        if look.width is not None:
            attrs += f' width="{look.width:g}" customWidth="1"'
        else:
            attrs += ' width="9.140625"'
        if looks.get(col) is not None:
            attrs += f' style="{looks[col]}"'
        spans.append((col, col, (attrs + "/>").encode()))
    if len(spans) == len(existing):
        return xml
    body = b"".join(element for _, _, element in sorted(spans, key=lambda s: s[0]))
    block = b"<%scols>%s</%scols>" % (prefix.encode(), body, prefix.encode())
    if found:
        return xml[: found.start()] + block + xml[found.end() :]
    return xml[: data.start()] + block + xml[data.start() :]
