"""Rows a worksheet hides, read from its XML: ``<row r="7" hidden="1">``.

Excel, LibreOffice, openpyxl and xlsxwriter all write a row hidden by a filter, by hand
or folded in an outline that way (``hidden="1"`` or ``"true"``); a row of height 0
(``ht="0"``) is out of sight too, as Excel shows it. The sheet is read in chunks as it
inflates and searched for those words first: a sheet that hides nothing costs a few byte
searches per chunk.

Example::

    hidden_rows([b'<row r="2"><c r="A2"/></row><row r="3" hidden="1"/>'])
    # {3}
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["hidden_rows", "HiddenByDefault"]


class HiddenByDefault(Exception):
    """The sheet hides its rows unless told otherwise (``<sheetFormatPr zeroHeight="1">``):
    which rows show cannot be told from the rows alone."""


_PREFIX = rb"<(?:[A-Za-z_][\w.-]*:)?row(?=[\s/>])"
#: A row's start tag, with any namespace prefix; its attributes in group 1 (a value may
#: hold a ">", which ends no tag).
_ROW_TAG = re.compile(_PREFIX + rb"((?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*/?>")
_ROW_START = re.compile(_PREFIX)
#: A height of 0 (``ht="0"``, ``"0.0"``): a row that shows nothing.
_ZERO_HEIGHT = re.compile(rb"\sht\s*=\s*[\"']\s*\+?(?:0+\.?0*|\.0+)(?:[eE][+-]?[0-9]+)?\s*[\"']")
#: The sheet's row defaults, whose ``zeroHeight`` hides every row not told otherwise.
_FORMAT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?sheetFormatPr\s[^>]*>")
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
    last row's number is kept from chunk to chunk. A sheet that hides its rows by default
    raises :class:`HiddenByDefault`.
    """
    found: set[int] = set()
    carried = b""  # a tag cut by the chunk's end, searched again with the next chunk
    last = 0  # the number of the last row read
    for chunk in chunks:
        data = carried + chunk
        cut = _complete(data)
        carried = data[cut:]
        if data.find(b"zeroHeight", 0, cut) >= 0:
            for tag in _FORMAT.finditer(data, 0, cut):
                zero = _attributes(tag.group(0)).get(b"zeroHeight")
                if zero is not None and zero.strip().lower() not in _SHOWN:
                    raise HiddenByDefault
        everyday = data.count(b"<row", 0, cut) == data.count(b'<row r="', 0, cut)
        if (
            everyday
            and data.find(b":row", 0, cut) < 0
            and data.find(b"hidden", 0, cut) < 0
            and not _ZERO_HEIGHT.search(data, 0, cut)
        ):
            # Every row's r first and none out of sight (the everyday sheet): only the
            # number of its last row is kept, for a row without r in the next chunk.
            at = data.rfind(b'<row r="', 0, cut)
            number = _PLAIN_NUMBER.match(data, at) if at >= 0 else None
            if number is not None:
                last = int(number.group(1))
            continue
        for tag in _ROW_TAG.finditer(data, 0, cut):
            text = tag.group(1)
            number = _PLAIN_NUMBER.match(tag.group(0))
            attributes = None
            if number is not None:
                last = int(number.group(1))
            else:
                attributes = _attributes(text)
                r = attributes.get(b"r", b"")
                last = int(r) if r.isdigit() else last + 1
            if (b"hidden" in text or b"ht" in text) and _out_of_sight(
                attributes or _attributes(text)
            ):
                found.add(last)
    return found


def _out_of_sight(attributes: dict[bytes, bytes]) -> bool:
    """Whether a row's attributes hide it, or give it no height."""
    hidden = attributes.get(b"hidden")
    if hidden is not None and hidden.strip().lower() not in _SHOWN:
        return True
    height = attributes.get(b"ht")
    try:
        return height is not None and float(height) == 0
    except ValueError:
        return False


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
