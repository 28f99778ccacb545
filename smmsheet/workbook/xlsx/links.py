"""Where a worksheet's hyperlinked cells point, read from its XML: ``<hyperlinks>`` and
``HYPERLINK()`` formulas.

Sheet XML is only searched when it contains the word "hyperlink" in any case
(:func:`may_have_links`), so a sheet without links costs one byte search. The search
works on the XML text around each "hyperlink" (cells carry their ``r`` reference in
every writer we know); a formula cell without one sends the sheet through lxml. What a
formula's target is, and how ranges become :class:`~..base.LinkedText`, is
:mod:`smmsheet.workbook.links`, shared with the live adapter. Imports that and nothing
else of the package.

Example::

    ranges = sheet_links(sheet_xml, {"rId1": "https://x.com/p/1"})
    # [LinkRange(top=2, left=2, bottom=2, right=2, target='https://x.com/p/1'), ...]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..links import LinkRange, calls_hyperlink, formula_target
from .cells import find_ref, xml_unescape

__all__ = ["may_have_links", "relationship_targets", "sheet_links"]


_WORD = b"hyperlink"
_NAME = rb"[A-Za-z_][\w.-]*"
_ATTRIBUTE = re.compile(rb"(" + _NAME + rb"(?::" + _NAME + rb")?)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_HYPERLINK_TAG = re.compile(rb"<(?:" + _NAME + rb":)?hyperlink(?=[\s/>])[^>]*>")
_F_TAG = re.compile(rb"<((?:" + _NAME + rb":)?)f(?=[\s/>])[^>]*>")


def may_have_links(data: bytes) -> bool:
    """Whether XML ``data`` mentions hyperlinks in any letter case (elements or formulas)."""
    return _WORD in data.lower()


def relationship_targets(rels_xml: bytes) -> dict[str, str]:
    """``Id -> Target`` of every relationship in a ``.rels`` part (external ones included)."""
    from lxml import etree

    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(rels_xml, parser)
    if root is None:
        return {}
    return {
        element.get("Id", ""): element.get("Target", "")
        for element in root
        if isinstance(element.tag, str) and etree.QName(element).localname == "Relationship"
    }


def sheet_links(xml: bytes, targets: Mapping[str, str]) -> list[LinkRange]:
    """Every linked cell of worksheet ``xml``; ``targets`` are the sheet's relationships."""
    return [*_element_links(xml, targets), *_formula_links(xml)]


def _element_links(xml: bytes, targets: Mapping[str, str]) -> Iterator[LinkRange]:
    """The ``<hyperlink>`` elements, which follow ``<sheetData>`` in a worksheet."""
    after_data = max(xml.rfind(b"sheetData>"), xml.rfind(b"sheetData/>"), 0)
    for match in _HYPERLINK_TAG.finditer(xml, after_data):
        attributes = _attributes(match.group(0))
        cells = _range(attributes.get("ref", ""))
        if cells is None:
            continue
        rel_id = next((v for k, v in attributes.items() if k.partition(":")[2] == "id"), None)
        target = targets.get(rel_id, "").strip() if rel_id is not None else ""
        location = attributes.get("location", "")
        if target and location:
            target = f"{target}#{location}"
        yield LinkRange(*cells, target or None)


def _formula_links(xml: bytes) -> list[LinkRange]:
    """Cells whose formula calls HYPERLINK, shared-formula members included."""
    found: list[LinkRange] = []
    shared: dict[bytes, str | None] = {}  # si of a shared HYPERLINK formula -> its target
    lowered = xml.lower()
    done = -1  # where the last formula looked at starts: each is looked at once
    position = lowered.find(_WORD)
    while position >= 0:
        formula = _formula_around(xml, position)
        if formula is not None and formula[0] != done:
            done, tag, text, cell = formula
            if calls_hyperlink(text):
                if cell is None:
                    return _formula_links_by_parsing(xml)
                target = formula_target(text)
                attributes = _attributes(tag)
                if attributes.get("t") == "shared" and "si" in attributes:
                    shared[attributes["si"].encode()] = target
                array = attributes.get("t") == "array"
                block = _range(attributes.get("ref", "")) if array else None
                found.append(LinkRange(*(block or (*cell, *cell)), target, formula=True))
        position = lowered.find(_WORD, position + len(_WORD))
    if shared:
        members = _shared_members(xml, shared)
        if members is None:
            return _formula_links_by_parsing(xml)
        found.extend(members)
    return found


def _formula_around(
    xml: bytes, position: int
) -> tuple[int, bytes, str, tuple[int, int] | None] | None:
    """Where the ``<f>`` holding ``position`` starts, its tag, its text and its cell.

    None when ``position`` is in no formula (cell text, a ``<hyperlink>`` element); the
    cell is None when it carries no ``r`` reference.
    """
    start = xml.rfind(b"<", 0, position)
    tag = _F_TAG.match(xml, start)
    if tag is None or tag.group(0).endswith(b"/>"):
        return None
    end = xml.find(b"</", tag.end())
    text = xml_unescape(xml[tag.end() : end].decode("utf-8", "replace"))
    return start, tag.group(0), text, _owning_cell(xml, start, tag.group(1))


def _owning_cell(xml: bytes, before: int, prefix: bytes) -> tuple[int, int] | None:
    """The ``r`` of the ``<c>`` that opens before ``before`` (None when it has none)."""
    opener = b"<" + prefix + b"c"
    start = xml.rfind(opener, 0, before)  # the parent: only its <f> lies in between
    after = xml[start + len(opener) : start + len(opener) + 1]
    if start < 0 or not after or after not in b" \t\r\n>":
        return None
    ref = _attributes(xml[start : xml.find(b">", start)]).get("r")
    return find_ref(ref) if ref else None


def _shared_members(xml: bytes, shared: Mapping[bytes, str | None]) -> list[LinkRange] | None:
    """Cells whose ``<f t="shared" si=...>`` refers to a shared HYPERLINK formula."""
    found: list[LinkRange] = []
    for quote in (b'"', b"'"):
        needle = b"si=" + quote
        position = xml.find(needle)
        while position >= 0:
            si = xml[position + 4 : xml.find(quote, position + 4)]
            start = xml.rfind(b"<", 0, position)
            tag = _F_TAG.match(xml, start) if si in shared else None
            if tag is not None:
                cell = _owning_cell(xml, start, tag.group(1))
                if cell is None:
                    return None
                found.append(LinkRange(*cell, *cell, shared[si], formula=True))
            position = xml.find(needle, position + 4)
    return found


def _formula_links_by_parsing(xml: bytes) -> list[LinkRange]:
    """The slow, general way: every formula cell located by parsing, implied positions too."""
    from lxml import etree

    parser = etree.XMLParser(huge_tree=True, recover=True, resolve_entities=False)
    root = etree.fromstring(xml, parser)
    found: list[LinkRange] = []
    shared: dict[str, str | None] = {}
    cells = list(_formula_cells(root))
    for _, _, formula in cells:
        if formula.get("t") == "shared" and calls_hyperlink(formula.text or ""):
            shared[formula.get("si", "")] = formula_target(formula.text or "")
    for row, col, formula in cells:
        text = formula.text or ""
        if calls_hyperlink(text):
            found.append(LinkRange(row, col, row, col, formula_target(text), formula=True))
        elif formula.get("t") == "shared" and formula.get("si") in shared:
            found.append(LinkRange(row, col, row, col, shared[formula.get("si", "")], formula=True))
    return found


def _formula_cells(root: Any) -> Iterable[tuple[int, int, Any]]:
    """``(row, col, <f>)`` of every formula cell, with rows and cells without ``r`` counted."""
    from lxml import etree

    row_number = 0
    for row in root.iter("{*}row"):
        row_number = int(row.get("r") or row_number + 1)
        col = 0
        for cell in row:
            if not isinstance(cell.tag, str) or etree.QName(cell).localname != "c":
                continue
            place = find_ref(cell.get("r") or "")
            col = place[1] if place is not None else col + 1
            formula = next((f for f in cell if etree.QName(f).localname == "f"), None)
            if formula is not None:
                yield row_number, col, formula


def _attributes(tag: bytes) -> dict[str, str]:
    return {
        m.group(1).decode(): xml_unescape(
            (m.group(2) or m.group(3) or b"").decode("utf-8", "replace")
        )
        for m in _ATTRIBUTE.finditer(tag)
    }


def _range(ref: str) -> tuple[int, int, int, int] | None:
    """``"B2:B4"`` -> ``(2, 2, 4, 2)`` as (top, left, bottom, right); None if malformed."""
    first, _, last = ref.partition(":")
    start = find_ref(first)
    end = find_ref(last) if last else start
    if start is None or end is None:
        return None
    (top, bottom), (left, right) = sorted((start[0], end[0])), sorted((start[1], end[1]))
    return top, left, bottom, right
