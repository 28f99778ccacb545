"""Cells of a worksheet whose value cannot be known, read from its XML: Excel errors
(``#REF!``, ``#N/A``) and formulas that were never calculated.

calamine reads both as an empty cell, and an empty Order ID means "place this row": a
workbook whose id lookup broke (a deleted sheet, ``#REF!``) or that a script wrote
without calculating (openpyxl, ``<f>`` with no ``<v>``) would have every row bought
again. Sheet XML is only looked at when a byte search finds a hint of such a cell
(:func:`may_have_unknown`), so an ordinary sheet costs a few searches per chunk; then
only the cells around the hints are read (a sheet with one ``#N/A`` among 100,000 rows
is not parsed whole), unless a cell has no ``r`` or the XML uses a namespace prefix.
A formula whose calculated value is empty text (``t="str"``, ``<v></v>``: Excel's
``=IF(..., "")``) is known to be empty and is not reported.

Example::

    unknown_cells(b'<c r="D2" t="e"><f>Ids!A1</f><v>#REF!</v></c>')
    # [(2, 4, '#REF!')]
"""

from __future__ import annotations

import io
import re

from .cells import find_ref, xml_unescape

__all__ = ["hints_of", "may_have_unknown", "unknown_cells"]

#: Byte strings of which one is in every sheet that has an error cell or a formula
#: without a calculated value, as Excel, LibreOffice, openpyxl and xlsxwriter write them.
_HINTS = (b't="e"', b"t='e'", b"</f></c>", b"<v></v>", b"<v/>", b"/></c>")
#: The root element; a worksheet whose elements carry a namespace prefix (``<x:worksheet>``,
#: as the Open XML SDK writes it) closes its formula cells as ``</x:f></x:c>``, which no
#: hint above finds.
_ROOT = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?worksheet[\s>/]")
#: White space between two tags after the root: an indented sheet (``<f>A1</f>`` and
#: ``</c>`` on lines of their own), which no hint above finds either.
_INDENTED = re.compile(rb">[ \t\r\n]+<")
_SPACES = (b" ", b"\t", b"\r", b"\n")
#: Bytes of a sheet :func:`hints_of` looks at: its root element and its first cells.
HEAD = 65536
_ATTRIBUTE = re.compile(rb"\s([rt])\s*=\s*[\"']([^\"']*)[\"']")
_VALUE = re.compile(rb"<v(?:\s[^>]*)?>([^<]*)</v>")
_FORMULA = re.compile(rb"<f(?:\s[^>]*)?(?:/>|>([^<]*)</f>)")
#: Cell types whose empty calculated value is empty text, not a missing one.
_TEXT_TYPES = frozenset({"str", "s", "inlineStr"})


def hints_of(head: bytes) -> tuple[bytes, ...]:
    """The hints to search a sheet for, given its first bytes (``head``, which holds its
    root element): the plain ones, their prefixed forms for a prefixed worksheet, and
    their forms followed by white space for an indented one.

    >>> hints_of(b'<x:worksheet xmlns:x="...">')[-4]
    b'</x:f></x:c>'
    """
    match = _ROOT.search(head)
    if match is None:
        return _HINTS
    hints = list(_HINTS)
    p = match.group(1) + b":" if match.group(1) else b""
    if p:
        hints += (
            b"</" + p + b"f></" + p + b"c>",
            b"<" + p + b"v></" + p + b"v>",
            b"<" + p + b"v/>",
            b"/></" + p + b"c>",
        )
    if _INDENTED.search(head, match.end() - 1):  # a tag closed, then space
        hints += (
            t + space for t in (b"</" + p + b"f>", b"<" + p + b"v>", b"/>") for space in _SPACES
        )
    return tuple(hints)


def may_have_unknown(data: bytes, hints: tuple[bytes, ...] = _HINTS) -> bool:
    """Whether sheet XML ``data`` may hold an error cell or an uncalculated formula
    (``hints``: :func:`hints_of` the sheet's first bytes)."""
    return any(hint in data for hint in hints)


def unknown_cells(xml: bytes) -> list[tuple[int, int, str]]:
    """``(row, col, shown)`` of every error cell and uncalculated formula of sheet ``xml``.

    ``shown`` is the error as Excel shows it, or ``=`` and the formula (``=`` alone for
    a member of a shared formula).
    """
    found = _around_hints(xml)
    return _by_parsing(xml) if found is None else found


def _around_hints(xml: bytes) -> list[tuple[int, int, str]] | None:
    """The cells that hold a hint, each read on its own; None when that cannot be done
    exactly (a namespace prefix, a cell without ``r``, a cell that does not end)."""
    if b"<sheetData" not in xml:  # a prefixed worksheet (<x:sheetData>): parse it
        return None
    starts: set[int] = set()
    for hint in hints_of(xml[:HEAD]):
        position = xml.find(hint)
        while position >= 0:
            start = _cell_start(xml, position)
            if start < 0:
                return None
            starts.add(start)
            position = xml.find(hint, position + len(hint))
    found: list[tuple[int, int, str]] = []
    for start in sorted(starts):
        cell = _cell_at(xml, start)
        if cell is None:
            return None
        if cell[2] is not None:
            found.append((cell[0], cell[1], cell[2]))
    return found


def _cell_start(xml: bytes, position: int) -> int:
    """Where the ``<c>`` holding ``position`` opens (-1: none): the nearest ``<c`` before it
    followed by a space or ``>``, not ``<col`` and the like."""
    start = xml.rfind(b"<c", 0, position)
    while start >= 0 and xml[start + 2 : start + 3] not in (b" ", b">", b"\t", b"\r", b"\n"):
        start = xml.rfind(b"<c", 0, start)
    return start


def _cell_at(xml: bytes, start: int) -> tuple[int, int, str | None] | None:
    """``(row, col, shown)`` of the ``<c>`` at ``start`` (shown None: a known value)."""
    tag_end = xml.find(b">", start)
    if tag_end < 0:
        return None
    tag = xml[start : tag_end + 1]
    attributes = dict(_ATTRIBUTE.findall(tag))
    place = find_ref(attributes.get(b"r", b"").decode("ascii", "replace"))
    if place is None:
        return None
    kind = attributes.get(b"t", b"n").decode("ascii", "replace")
    if tag.endswith(b"/>"):
        return (*place, "#VALUE!" if kind == "e" else None)
    end = xml.find(b"</c>", tag_end)
    if end < 0:
        return None
    body = xml[tag_end + 1 : end]
    value = _VALUE.search(body)
    text = xml_unescape(value.group(1).decode("utf-8", "replace")).strip() if value else ""
    if kind == "e":
        return (*place, text or "#VALUE!")
    formula = _FORMULA.search(body)
    has_value = value is not None or b"<v/>" in body or b"<v />" in body
    if formula is None or text or (has_value and kind in _TEXT_TYPES):
        return (*place, None)
    return (
        *place,
        "=" + xml_unescape((formula.group(1) or b"").decode("utf-8", "replace")).strip(),
    )


def _by_parsing(xml: bytes) -> list[tuple[int, int, str]]:
    """:func:`unknown_cells` by parsing the whole sheet: any XML, slower."""
    from lxml import etree

    found: list[tuple[int, int, str]] = []
    row_number = 0
    col = 0
    events = etree.iterparse(
        io.BytesIO(xml),
        events=("start", "end"),
        huge_tree=True,
        recover=True,
        resolve_entities=False,
        no_network=True,
    )
    for event, element in events:
        tag = element.tag
        local = tag.rpartition("}")[2] if isinstance(tag, str) else ""
        if event == "start":
            if local == "row":
                row_number = _number(element.get("r")) or row_number + 1
                col = 0
            continue
        if local == "c":
            place = find_ref(element.get("r") or "")
            col = place[1] if place is not None else col + 1
            row = place[0] if place is not None else row_number
            shown = _unknown(element)
            if shown is not None:
                found.append((row, col, shown))
            element.clear()
        elif local == "row":
            element.clear()
    return found


def _unknown(cell: object) -> str | None:
    """What an error cell or an uncalculated formula cell shows; None for any other."""
    formula = value = None
    for child in cell:  # type: ignore[attr-defined]
        tag = child.tag
        local = tag.rpartition("}")[2] if isinstance(tag, str) else ""
        if local == "f":
            formula = child
        elif local == "v":
            value = child
    kind = cell.get("t") or "n"  # type: ignore[attr-defined]
    text = (value.text or "").strip() if value is not None else ""
    if kind == "e":
        return text or "#VALUE!"
    if formula is None or text or (value is not None and kind in _TEXT_TYPES):
        return None
    return "=" + (formula.text or "").strip()


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None
