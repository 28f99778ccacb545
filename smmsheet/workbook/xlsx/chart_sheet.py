"""A sheet of tables and native charts, written into the package as one save's extra edit.

:class:`ChartSheetEdit` lays a :class:`~..charts.ChartSheet` out as cells (tables down
columns A and on, charts to their right, two abreast), and adds or replaces the parts that
draw it: the worksheet, its relationships, one drawing part and one chart part per table
with a chart. A sheet written before is refreshed in place: its part name, its place
among the sheets and its ``sheetId`` stay; the drawing and chart parts it owned (found from
its relationships, whoever saved the file since) are rewritten under the same names when
as many are needed, the rest removed. Nothing else is touched but what a new sheet needs
(``workbook.xml``'s sheet list, its relationships, ``[Content_Types].xml``).

Imports :mod:`.charts`, :mod:`.cells`, :mod:`.opc`, :mod:`.sheet_tree`, :mod:`.styles`,
:mod:`.zipio` and :mod:`.names`.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote

from lxml import etree

from smmsheet.errors import WorkbookError

from ..base import CellValue, clean_text
from ..charts import ChartKind, ChartSheet, DataTable
from .cells import check_value, col_letters
from .charts import Anchor, Series, chart_part, drawing_part
from .names import (
    CHART_CT,
    CHART_REL,
    CONTENT_TYPES_PART,
    CT_NS,
    DRAWING_CT,
    DRAWING_REL,
    PKG_REL_NS,
    TRANSITIONAL_REL_NS,
)
from .opc import Package, parse_xml, read_rels, register_sheet, rels_part
from .sheet_tree import TreePatcher
from .styles import DateStyles
from .zipio import Deflated

__all__ = ["ChartSheetEdit", "chart_ref"]

#: Where the charts start (0-based column) at the least, their size in cells, rows between.
CHART_MIN_COL = 6
CHART_COLS, CHART_ROWS, CHART_GAP = 8, 18, 1
#: Column widths: the category column, then the numbers.
LABEL_WIDTH, NUMBER_WIDTH = 34, 14
_STRICT_NS = "http://purl.oclc.org/ooxml/spreadsheetml/main"


def chart_ref(sheet: str, top: int, left: int, bottom: int, right: int) -> str:
    """An absolute reference to a range of ``sheet``: ``'Dash''s'!$A$5:$A$9``."""
    quoted = "'" + sheet.replace("'", "''") + "'"
    first = f"${col_letters(left)}${top}"
    if (top, left) == (bottom, right):
        return f"{quoted}!{first}"
    return f"{quoted}!{first}:${col_letters(right)}${bottom}"


@dataclass
class _Placed:
    """A table laid out: where its header row is and how many data rows follow."""

    table: DataTable
    header_row: int


def _layout(sheet: ChartSheet) -> tuple[dict[tuple[int, int], CellValue], list[_Placed], int]:
    """The sheet's cells, where each table went, and how many columns the tables use."""
    cells: dict[tuple[int, int], CellValue] = {}
    row = 1
    for line in sheet.heading:
        cells[(row, 1)] = line
        row += 1
    row += 1
    placed: list[_Placed] = []
    width = 1
    for table in sheet.tables:
        cells[(row, 1)] = table.title
        header = row + 1
        for col, text in enumerate(table.header, start=1):
            cells[(header, col)] = text
        for offset, values in enumerate(table.rows, start=1):
            for col, value in enumerate(values, start=1):
                cells[(header + offset, col)] = value
        width = max(width, len(table.header), *(len(r) for r in table.rows))
        placed.append(_Placed(table, header))
        row = header + len(table.rows) + 2
    return cells, placed, width


def _sheet_template(width: int, drawing_rel: str | None) -> bytes:
    cols = f'<col min="1" max="1" width="{LABEL_WIDTH}" customWidth="1"/>'
    if width > 1:
        cols += f'<col min="2" max="{width}" width="{NUMBER_WIDTH}" customWidth="1"/>'
    drawing = f'<drawing r:id="{drawing_rel}"/>' if drawing_rel else ""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'xmlns:r="{TRANSITIONAL_REL_NS}">'
        '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr><dimension ref="A1"/>'
        '<sheetViews><sheetView workbookViewId="0"/></sheetViews>'
        f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData/>'
        '<pageMargins left="0.5" right="0.5" top="0.5" bottom="0.5" header="0.3" footer="0.3"/>'
        # Printed (and exported to PDF) one page wide, landscape: tables and charts together.
        '<pageSetup orientation="landscape" fitToWidth="1" fitToHeight="0"/>'
        f"{drawing}</worksheet>"
    ).encode()


def _relationships(targets: list[tuple[str, str]]) -> bytes:
    """A relationships part: ``(type suffix, relative target)`` as rId1, rId2, ..."""
    body = "".join(
        f'<Relationship Id="rId{i}" Type="{TRANSITIONAL_REL_NS}{kind}" Target="{quote(target)}"/>'
        for i, (kind, target) in enumerate(targets, start=1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        f'<Relationships xmlns="{PKG_REL_NS}">{body}</Relationships>'
    ).encode()


def _text(value: CellValue) -> str:
    return "" if value is None else str(value)


def _number(value: CellValue) -> Decimal | int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return value


def _checked(sheet: ChartSheet) -> ChartSheet:
    """``sheet`` with every value passed through :func:`~.cells.check_value`, as any cell
    smmsheet writes: its texts (panel text among them) reach cells and chart parts."""
    return ChartSheet(
        tuple(clean_text(line) for line in sheet.heading),
        tuple(
            DataTable(
                clean_text(table.title),
                tuple(clean_text(text) for text in table.header),
                tuple(tuple(check_value(value) for value in row) for row in table.rows),
                table.chart,
            )
            for table in sheet.tables
        ),
    )


class ChartSheetEdit:
    """Writes one :class:`ChartSheet` into the package under ``name`` during a save."""

    def __init__(self, name: str, sheet: ChartSheet) -> None:
        self.name = name
        self.sheet = _checked(sheet)

    def apply(
        self,
        package: Package,
        styles: DateStyles,
        replaced: dict[str, bytes | Deflated | None],
        added: list[tuple[str, bytes]],
    ) -> bool:
        """Add or refresh the sheet's parts; True when ``workbook.xml`` changed."""
        if package.main_ns == _STRICT_NS:
            raise WorkbookError(
                f"{package.label} is saved as Strict Open XML; save it as an ordinary "
                "Excel Workbook (.xlsx) to add a dashboard"
            )
        info = package.sheets.get(self.name.casefold())
        workbook_changed = info is None
        if info is None:
            info = register_sheet(package, self.name)
        old = _owned_parts(package, info.part)
        in_archive = {name.lower() for name in package.archive.namelist()}
        reusable = list(old)
        base = posixpath.dirname(package.workbook_part)

        def allocate(folder: str, stem: str) -> str:
            """A part name for a new drawing or chart: one the sheet had, else a free one."""
            directory = posixpath.join(base, folder).lower()
            pattern = re.compile(rf"{stem}\d+\.xml", re.IGNORECASE)
            for part in reusable:
                if posixpath.dirname(part).lower() == directory and pattern.fullmatch(
                    posixpath.basename(part)
                ):
                    reusable.remove(part)
                    return part
            number = 1
            while posixpath.join(directory, f"{stem}{number}.xml") in package.by_lower:
                number += 1
            part = posixpath.join(base, folder, f"{stem}{number}.xml")
            package.by_lower[part.lower()] = part
            return part

        cells, placed, width = _layout(self.sheet)
        charted = [p for p in placed if p.table.chart is not None and p.table.rows]
        new_parts: dict[str, tuple[bytes, str | None]] = {}  # part -> (content, content type)
        sheet_rels: list[tuple[str, str]] = []
        if charted:
            drawing = allocate("drawings", "drawing")
            sheet_folder = posixpath.dirname(info.part)
            sheet_rels.append((DRAWING_REL, posixpath.relpath(drawing, sheet_folder)))
            anchors: list[Anchor] = []
            drawing_rels: list[tuple[str, str]] = []
            left = max(CHART_MIN_COL, width + 1)
            for index, item in enumerate(charted):
                chart = allocate("charts", "chart")
                new_parts[chart] = (self._chart(item), CHART_CT)
                drawing_rels.append(
                    (CHART_REL, posixpath.relpath(chart, posixpath.dirname(drawing)))
                )
                line, column = divmod(index, 2)
                anchors.append(
                    Anchor(
                        left + column * (CHART_COLS + CHART_GAP),
                        2 + line * (CHART_ROWS + CHART_GAP),
                        CHART_COLS,
                        CHART_ROWS,
                        f"rId{index + 1}",
                        f"Chart {index + 1}",
                    )
                )
            new_parts[drawing] = (drawing_part(anchors), DRAWING_CT)
            new_parts[rels_part(drawing)] = (_relationships(drawing_rels), None)
        tree = TreePatcher(
            _sheet_template(width, "rId1" if charted else None),
            package.date1904,
            styles,
            f"{package.label}, sheet {self.name!r}",
        )
        tree.apply(cells)
        new_parts[info.part] = (tree.result(), None)
        if sheet_rels:
            new_parts[rels_part(info.part)] = (_relationships(sheet_rels), None)
        for part, (content, _) in new_parts.items():
            if part.lower() in in_archive:
                replaced[package.by_lower[part.lower()]] = content
            else:
                added.append((part, content))
                package.by_lower[part.lower()] = part
        written = {part.lower() for part in new_parts}
        gone = [part for part in old if part.lower() not in written]
        for part in gone:
            replaced[package.by_lower[part.lower()]] = None
        _sync_content_types(
            package, {p: ct for p, (_, ct) in new_parts.items() if ct is not None}, gone
        )
        return workbook_changed

    def _chart(self, item: _Placed) -> bytes:
        table = item.table
        assert table.chart is not None
        first, last = item.header_row + 1, item.header_row + len(table.rows)
        categories = [_text(row[0] if row else None) for row in table.rows]
        series = [
            Series(
                chart_ref(self.name, item.header_row, col, item.header_row, col),
                table.header[col - 1],
                chart_ref(self.name, first, col, last, col),
                tuple(_number(row[col - 1]) if len(row) >= col else None for row in table.rows),
            )
            for col in range(2, len(table.header) + 1)
        ]
        if table.chart == ChartKind.PIE:
            series = series[:1]
        return chart_part(
            table.chart, table.title, chart_ref(self.name, first, 1, last, 1), categories, series
        )


def _owned_parts(package: Package, sheet_part: str) -> list[str]:
    """The parts only ``sheet_part`` leads to (drawings, charts, their styles, their rels).

    Found by following relationships from the sheet, whoever wrote them; a part another
    part of the package also points to is kept, and so are the parts it leads to. A
    relationship to the package's own structure (``[Content_Types].xml``, a ``.rels``
    part), which no real part has but a hostile file may, is never followed: removing
    those would leave a file no program opens.
    """
    owned: list[str] = []
    seen = {sheet_part.lower(), CONTENT_TYPES_PART.lower()}
    queue = [sheet_part]
    while queue:
        part = queue.pop()
        rels = rels_part(part)
        if not package.has(rels):
            continue
        owned.append(package.by_lower[rels.lower()])
        for rel in package.rels(part).values():
            target = rel.target.lower()
            if target in seen or target.endswith(".rels") or not package.has(rel.target):
                continue
            seen.add(rel.target.lower())
            owned.append(package.by_lower[rel.target.lower()])
            queue.append(rel.target)
    owned_lower = {p.lower() for p in owned} | {sheet_part.lower()}
    in_archive = {name.lower() for name in package.archive.namelist()}
    shared: set[str] = set()
    for member in package.by_lower.values():
        if not member.lower().endswith(".rels") or member.lower() in owned_lower:
            continue
        if member.lower() not in in_archive:
            continue
        source = _rels_source(member)
        for rel in read_rels(parse_xml(package.read(member), member), source).values():
            if rel.target.lower() in owned_lower:
                shared.add(rel.target.lower())
    if not shared:
        return owned
    # A shared part stays, with everything reachable from it.
    keep: set[str] = set()
    queue = [p for p in owned if p.lower() in shared]
    while queue:
        part = queue.pop()
        if part.lower() in keep:
            continue
        keep.add(part.lower())
        rels = rels_part(part)
        if package.has(rels):
            keep.add(rels.lower())
            queue.extend(r.target for r in package.rels(part).values() if package.has(r.target))
    return [p for p in owned if p.lower() not in keep]


def _rels_source(rels: str) -> str:
    """The part whose relationships ``rels`` holds (``xl/_rels/a.xml.rels`` -> ``xl/a.xml``)."""
    folder, base = posixpath.split(rels)
    return posixpath.join(posixpath.dirname(folder), base.removesuffix(".rels"))


def _sync_content_types(package: Package, wanted: dict[str, str], gone: list[str]) -> None:
    """Overrides for the new parts, none for the removed; the part is rewritten only if needed."""
    current = parse_xml(package.read(CONTENT_TYPES_PART), CONTENT_TYPES_PART).getroot()
    overrides = {
        element.get("PartName", "").lower(): element.get("ContentType")
        for element in current
        if etree.QName(element).localname == "Override"
    }
    missing = {p: ct for p, ct in wanted.items() if overrides.get("/" + p.lower()) != ct}
    stale = {"/" + p.lower() for p in gone if "/" + p.lower() in overrides}
    if not missing and not stale:
        return
    root = package.content_types.getroot()
    for element in list(root):
        if etree.QName(element).localname != "Override":
            continue
        name = element.get("PartName", "").lower()
        if name in stale or name[1:] in {p.lower() for p in missing}:
            root.remove(element)
    namespace = etree.QName(root).namespace or CT_NS
    for part, content_type in missing.items():
        override = etree.SubElement(root, f"{{{namespace}}}Override")
        override.set("PartName", "/" + part)
        override.set("ContentType", content_type)
