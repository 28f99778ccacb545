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

#: A row's start tag that hides it, with any namespace prefix.
_HIDDEN_ROW = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?row\s[^>]*?(?<=\s)hidden\s*=\s*[\"'](?:1|true)[\"'][^>]*>"
)
_NUMBER = re.compile(rb"\sr\s*=\s*[\"']([0-9]+)[\"']")


def hidden_rows(chunks: Iterable[bytes]) -> set[int]:
    """The numbers of the rows hidden in a sheet's XML, given as consecutive chunks."""
    found: set[int] = set()
    carried = b""  # a tag cut by the chunk's end, searched again with the next chunk
    for chunk in chunks:
        data = carried + chunk
        if b"hidden" in data:
            for tag in _HIDDEN_ROW.finditer(data):
                number = _NUMBER.search(tag.group(0))
                if number is not None:
                    found.add(int(number.group(1)))
        start = data.rfind(b"<")
        carried = data[start:] if start >= 0 and data.find(b">", start) < 0 else b""
    return found
