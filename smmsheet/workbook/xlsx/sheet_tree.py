"""The tree sheet patcher: a worksheet patched through an lxml tree.

General but slow (about a microsecond an element): new sheets, replaced sheets and XML the
stream patcher declines. It also moves a shared formula whose master cell is overwritten.
Imports :mod:`.cells`, :mod:`.opc`, :mod:`.styles`, :mod:`.names`.
"""

from __future__ import annotations

import bisect
import contextlib
import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

from smmsheet.errors import WorkbookError

from ..base import CellValue
from .cells import (
    MergedCells,
    col_letters,
    col_number,
    encode_value,
    parse_range,
    parse_ref,
    range_ref,
)
from .columns import ColumnStyles
from .names import WORKSHEET_ORDER, XML_SPACE
from .opc import insert_in_order, namespaced, parse_xml, serialize_xml
from .styles import DateStyles

__all__ = ["translate_formula", "TreePatcher"]


class TreePatcher:
    """A worksheet patched through an lxml tree: general, for new, replaced and unusual sheets.

    Parsing costs about a microsecond per element, so large everyday writes go through
    :class:`StreamPatcher` instead.
    """

    def __init__(self, xml: bytes, date1904: bool, styles: DateStyles, where: str) -> None:
        self.original = xml
        self.date1904 = date1904
        self.styles = styles
        self.where = where
        self.tree = parse_xml(xml, where)
        self.root = self.tree.getroot()
        q = namespaced(self.root)
        self.q = q
        self.ROW, self.C, self.V, self.F = q("row"), q("c"), q("v"), q("f")
        self.IS, self.T, self.EXT = q("is"), q("t"), q("extLst")
        sheet_data = self.root.find(q("sheetData"))
        if sheet_data is None:
            sheet_data = etree.Element(q("sheetData"))
            insert_in_order(self.root, sheet_data, WORKSHEET_ORDER)
        self.sheet_data = sheet_data
        #: The style a new cell takes from its column's ``<col style>``, as in Excel.
        self._column_style = ColumnStyles(xml[: xml.find(b"sheetData")])
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
        merged = self.root.find(q("mergeCells"))
        refs = [] if merged is None else [m.get("ref", "") for m in merged.iter(q("mergeCell"))]
        self._merged = MergedCells(refs)

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
                top, left, bottom, right = parse_range(formula.get("ref"))
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
                ref = col_letters(key[1]) + str(key[0])
                raise WorkbookError(
                    f"{self.where}: {ref} is part of the array formula {self._array_cells[key]}; "
                    "smmsheet does not overwrite it, nothing was changed"
                )
        self._merged.check(writes.items(), self.where)
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
            ref = col_letters(col) + suffix
            cell = by_col.get(col)
            if value is None:
                if cell is not None:
                    self._strip(cell, ref)
                    if cell.get("s") is None:
                        doomed.append(cell)
                continue
            if cell is None:
                cell = row.makeelement(self.C, {"r": ref})
                style = self._column_style(col)
                if style is not None:
                    cell.set("s", style)
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
                cell.set("r", col_letters(col) + suffix)
            else:
                col = col_number(ref.rstrip("0123456789"))
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
        kind, text, date_with_time = encode_value(value, self.date1904)
        if kind is not None:
            cell.set("t", kind)
        if kind == "inlineStr":
            inline = self._child(cell, self.IS)
            element = etree.SubElement(inline, self.T)
            element.text = text
            element.set(XML_SPACE, "preserve")
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
                    members.append((cell, f, parse_ref(cell.get("r", ""))))
            if not members:
                continue
            top = min(pos[0] for _, _, pos in members)
            left = min(pos[1] for _, _, pos in members)
            bottom = max(pos[0] for _, _, pos in members)
            right = max(pos[1] for _, _, pos in members)
            first_cell, first_f, first_pos = members[0]
            if first_pos == (top, left):
                first_f.text = translate_formula(formula, master_ref, first_cell.get("r"))
                first_f.set("ref", range_ref(top, left, bottom, right))
                continue
            for cell, f, _ in members:
                f.text = translate_formula(formula, master_ref, cell.get("r"))
                for attribute in ("t", "si", "ref"):
                    f.attrib.pop(attribute, None)
        self._orphans.clear()

    def result(self) -> bytes:
        """The patched worksheet XML, its dimension grown to cover the written cells."""
        if self._extent:
            dimension = self.root.find(self.q("dimension"))
            if dimension is None:
                dimension = etree.Element(self.q("dimension"))
                insert_in_order(self.root, dimension, WORKSHEET_ORDER)
            extent = list(self._extent)
            with contextlib.suppress(WorkbookError):
                top, left, bottom, right = parse_range(dimension.get("ref", ""))
                extent = [
                    min(top, extent[0]),
                    min(left, extent[1]),
                    max(bottom, extent[2]),
                    max(right, extent[3]),
                ]
            dimension.set("ref", range_ref(*extent))
        return serialize_xml(self.tree, self.original)


def translate_formula(formula: str, origin: str, target: str) -> str:
    """``formula`` written in cell ``origin`` as it reads when filled to ``target``."""
    from openpyxl.formula.translate import Translator

    return str(Translator("=" + formula, origin=origin).translate_formula(target))[1:]
