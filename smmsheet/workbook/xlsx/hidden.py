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

#: A row's start tag with a ``hidden`` attribute, with any namespace prefix.
_HIDDEN_ROW = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row\s[^>]*?(?<=\s)hidden\s*=[^>]*>")
#: Any row's start tag, with any namespace prefix.
_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row(?=[\s/>])[^>]*>")
#: The ``hidden`` attribute's value: a row is hidden unless it says false (``" 1 "`` and
#: ``"on"`` hide a row in Excel's schema, LibreOffice or openpyxl).
_HIDDEN = re.compile(rb"\shidden\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_SHOWN = frozenset({b"", b"0", b"false"})
_NUMBER = re.compile(rb"\sr\s*=\s*[\"']([0-9]+)[\"']")


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
        start = data.rfind(b"<")
        cut = start if start >= 0 and data.find(b">", start) < 0 else len(data)
        carried = data[cut:]
        if data.count(b"<row", 0, cut) == data.count(b'<row r="', 0, cut) and (
            data.find(b":row", 0, cut) < 0
        ):
            # Every row has r first (the everyday sheet): only the word is looked for.
            if data.find(b"hidden", 0, cut) >= 0:
                for tag in _HIDDEN_ROW.finditer(data, 0, cut):
                    number = _NUMBER.search(tag.group(0))
                    if number is not None and _hides(tag.group(0)):
                        found.add(int(number.group(1)))
            at = data.rfind(b'<row r="', 0, cut)
            number = _NUMBER.match(data, at + 4) if at >= 0 else None
            if number is not None:
                last = int(number.group(1))
            continue
        for tag in _ROW_TAG.finditer(data, 0, cut):  # rows without r, or under a prefix
            number = _NUMBER.search(tag.group(0))
            last = int(number.group(1)) if number is not None else last + 1
            if _hides(tag.group(0)):
                found.add(last)
    return found


def _hides(tag: bytes) -> bool:
    """Whether a row's start tag hides it: a ``hidden`` that does not say false."""
    value = _HIDDEN.search(tag)
    if value is None:
        return False
    return (value.group(1) or value.group(2) or b"").strip().lower() not in _SHOWN
