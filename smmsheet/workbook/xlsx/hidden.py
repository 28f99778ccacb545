"""Rows a worksheet hides, read from its XML: ``<row r="7" hidden="1">``.

Excel, LibreOffice, openpyxl and xlsxwriter all write a row hidden by a filter, by hand
or folded in an outline that way (``hidden="1"`` or ``"true"``). The sheet is read in
chunks as it inflates and searched for the word first: a sheet that hides nothing costs
one byte search per chunk.

Example::

    hidden_rows([b'<row r="2"><c r="A2"/></row><row r="3" hidden="1"/>'])
    # {3}
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["hidden_rows"]

_PREFIX = rb"<(?:[A-Za-z_][\w.-]*:)?row(?=[\s/>])"
#: A row's start tag, with any namespace prefix; its attributes in group 1 (a value may
#: hold a ">", which ends no tag).
_ROW_TAG = re.compile(_PREFIX + rb"((?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*/?>")
_ROW_START = re.compile(_PREFIX)
#: A row's start tag up to its ``hidden`` attribute's value (group 1 or 2).
_HIDDEN_TAG = re.compile(
    _PREFIX + rb"(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*?"
    rb"\s+hidden\s*=\s*(?:\"([^\"]*)\"|'([^']*)')"
)
_ATTRIBUTE = re.compile(rb"([^\s=/>]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
#: The everyday row's start: ``r`` first, in double quotes.
_PLAIN_NUMBER = re.compile(rb'<row r="([0-9]+)"')
#: Values of ``hidden`` that leave a row shown; any other hides it (``" 1 "`` and ``"on"``
#: hide a row in Excel's schema, LibreOffice or openpyxl).
_SHOWN = frozenset({b"", b"0", b"false"})
#: A row's start tag longer than this is not carried to the next chunk (no writer makes one).
_LONGEST_TAG = 1 << 16


def hidden_rows(chunks: Iterable[bytes]) -> set[int]:
    """The numbers of the rows hidden in a sheet's XML, given as consecutive chunks.

    A row without ``r`` is the one after the row before it, as every reader counts it: the
    last row's number is kept from chunk to chunk.
    """
    found: set[int] = set()
    carried = b""  # a tag cut by the chunk's end, searched again with the next chunk
    last = 0  # the number of the last row read
    for chunk in chunks:
        data = carried + chunk
        cut = _complete(data)
        carried = data[cut:]
        if data.count(b"<row", 0, cut) == data.count(b'<row r="', 0, cut) and (
            data.find(b":row", 0, cut) < 0
        ):
            # Every row's r first (the everyday sheet): only the word is looked for.
            if data.find(b"hidden", 0, cut) >= 0:
                for tag in _HIDDEN_TAG.finditer(data, 0, cut):
                    value = tag.group(1) if tag.group(1) is not None else tag.group(2)
                    number = _PLAIN_NUMBER.match(data, tag.start())
                    if number is not None and value.strip().lower() not in _SHOWN:
                        found.add(int(number.group(1)))
            at = data.rfind(b'<row r="', 0, cut)
            number = _PLAIN_NUMBER.match(data, at) if at >= 0 else None
            if number is not None:
                last = int(number.group(1))
            continue
        for tag in _ROW_TAG.finditer(data, 0, cut):
            number = _PLAIN_NUMBER.match(tag.group(0))
            attributes = None
            if number is not None:
                last = int(number.group(1))
            else:
                attributes = _attributes(tag.group(1))
                r = attributes.get(b"r", b"")
                last = int(r) if r.isdigit() else last + 1
            if b"hidden" in tag.group(1):
                hidden = (attributes or _attributes(tag.group(1))).get(b"hidden")
                if hidden is not None and hidden.strip().lower() not in _SHOWN:
                    found.add(last)
    return found


def _complete(data: bytes) -> int:
    """Where ``data``'s complete tags end: before its last tag when that one is cut."""
    start = data.rfind(b"<")
    if start < 0 or len(data) - start > _LONGEST_TAG:
        return len(data)
    if _ROW_START.match(data, start):
        return len(data) if _ROW_TAG.match(data, start) else start
    return len(data) if data.find(b">", start) >= 0 else start


def _attributes(text: bytes) -> dict[bytes, bytes]:
    return {
        m.group(1): m.group(2) if m.group(2) is not None else m.group(3) or b""
        for m in _ATTRIBUTE.finditer(text)
    }
