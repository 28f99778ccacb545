"""Patching a sheet: one buffered :class:`SheetEdit` applied by the fastest safe patcher,
and the calc chain pruned of the formulas that were overwritten.

Imports the two patchers, :mod:`.opc`, :mod:`.styles`, :mod:`.zipio` (to deflate a patched
sheet while it is produced) and :mod:`.names`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from lxml import etree

from ..base import CellValue
from .columns import NewColumns
from .names import CALC_CHAIN_REL
from .opc import Package, parse_xml, serialize_xml
from .sheet_stream import Chunk, NeedsTree, RowCells, StreamPatcher
from .sheet_tree import TreePatcher
from .styles import DateStyles
from .zipio import Deflated, Deflater

__all__ = [
    "Output",
    "patch_sheet",
    "Patched",
    "prune_calc_chain",
    "RowCells",
    "SheetEdit",
    "STREAM_PATCHING",
]


@dataclass
class SheetEdit:
    """Buffered changes to one sheet: an optional full replacement, then single cells.

    A row's cells are a :class:`RowCells` or a dict; either is replaced, never changed in
    place, once it is in ``rows`` (copies share them).
    """

    rows: dict[int, Mapping[int, CellValue]] = field(default_factory=dict)  # row -> col -> value
    replacement: list[list[CellValue]] | None = None
    is_new: bool = False
    #: Columns added by this save (formatted, joined to a Table: :mod:`.columns`).
    columns: NewColumns | None = None

    @property
    def only_cells(self) -> bool:
        """Single cells and nothing else: no replacement, not new, no columns added (what a
        save begun early, :mod:`.prepared`, can finish)."""
        return self.replacement is None and not self.is_new and self.columns is None

    def copy(self) -> SheetEdit:
        """A copy whose rows can be set without changing this edit."""
        return SheetEdit(dict(self.rows), self.replacement, self.is_new, self.columns)

    def writes(self) -> dict[tuple[int, int], CellValue]:
        """Every cell to set, the replacement first and single cells over it."""
        out: dict[tuple[int, int], CellValue] = {}
        for r, row in enumerate(self.replacement or (), start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    out[(r, c)] = value
        for r, cells in self.rows.items():
            for c, value in cells.items():
                out[(r, c)] = value
        return out


#: Whether writes into existing sheets go through the fast text-level patcher (tests
#: switch it off to run the same cases through the tree patcher).
STREAM_PATCHING = True
Output = Literal["bytes", "deflate", "size"]


@dataclass
class Patched:
    xml: bytes | Deflated
    removed_formulas: list[str]
    has_formulas: bool


def patch_sheet(
    xml: bytes | bytearray | Iterable[bytes],
    edit: SheetEdit,
    date1904: bool,
    styles: DateStyles,
    where: str,
    output: Output,
) -> Patched:
    """Apply one sheet's buffered edit to its XML, by the fastest patcher that is safe.

    ``xml`` is the sheet's XML, or its chunks as inflated (read again if only the tree
    patcher can take it). ``output`` says what becomes of the result: ``"deflate"``
    compresses it while it is produced, on a second core; ``"bytes"`` keeps it as it is;
    ``"size"`` (a dry run) keeps only its length, as a :class:`Deflated` with no data.
    """
    if STREAM_PATCHING and edit.replacement is None and not edit.is_new:
        try:
            stream = StreamPatcher(xml, date1904, styles, where)
            content: bytes | Deflated
            if output == "deflate":
                with Deflater() as deflater:
                    stream.apply(edit.rows, deflater.write)
                content = deflater.result()
            elif output == "size":
                sizes: list[int] = []
                stream.apply(edit.rows, lambda chunk: sizes.append(len(chunk)))
                content = Deflated(b"", 0, sum(sizes))
            else:
                chunks: list[Chunk] = []
                stream.apply(edit.rows, chunks.append)
                content = b"".join(chunks)
            return Patched(content, stream.removed_formulas, stream.has_formulas)
        except NeedsTree:
            pass
    whole = bytes(xml) if isinstance(xml, (bytes, bytearray)) else b"".join(xml)
    tree = TreePatcher(whole, date1904, styles, where)
    if edit.replacement is not None and not edit.is_new:
        tree.clear_all()
    tree.apply(edit.writes())
    result = tree.result()
    content = Deflated(b"", 0, len(result)) if output == "size" and not edit.is_new else result
    return Patched(content, tree.removed_formulas, tree.has_formulas)


def prune_calc_chain(
    package: Package,
    removed: set[tuple[str, str]],
    replaced: dict[str, bytes | Deflated | None],
) -> None:
    """Drop calc-chain entries of formulas we overwrote; drop the part once it is empty.

    An entry without ``i`` belongs to the sheet of the entry before it, so the sheet id is
    made explicit on an entry whose predecessor goes.
    """
    rel = package.rel_of_type(CALC_CHAIN_REL)
    if rel is None or not package.has(rel.target):
        return
    original = package.read(rel.target)
    tree = parse_xml(original, rel.target)
    root = tree.getroot()
    current = kept_sheet = "0"
    carry_level = False
    kept = 0
    for entry in list(root):
        if not isinstance(entry.tag, str) or etree.QName(entry).localname != "c":
            continue
        current = entry.get("i", current)
        if (current, entry.get("r", "").replace("$", "").upper()) in removed:
            carry_level = carry_level or entry.get("l") is not None
            root.remove(entry)
            continue
        if entry.get("i") is None and current != kept_sheet:
            entry.set("i", current)
        if carry_level and entry.get("l") is None:
            entry.set("l", "1")
        carry_level = False
        kept_sheet = current
        kept += 1
    part = package.by_lower[rel.target.lower()]
    if kept:
        replaced[part] = serialize_xml(tree, original)
        return
    replaced[part] = None
    rel.element.getparent().remove(rel.element)
    package.rels_changed = True
    types_root = package.content_types.getroot()
    for override in list(types_root):
        if override.get("PartName", "").lower() == "/" + rel.target.lower():
            types_root.remove(override)
