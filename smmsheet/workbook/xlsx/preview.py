"""A first look at a sheet's top rows, taken while calamine reads the sheet whole.

calamine parses a whole sheet before it hands over its first row (0.4 s for 100,000 rows)
and releases the GIL meanwhile. :func:`first_rows` reads the first rows itself on the other
core, so a caller watching the read (a refresh asking the panel about its open orders) can
start at once. It is only a hint: values as the XML states them (numbers as floats, shared
and inline text, booleans; no dates, errors read as empty), shared strings parsed only as
far as the rows seen need. Whatever it cannot read ends the look quietly; what the read
returns is calamine's. Nothing is inflated past the sizes the zip declares (:mod:`.zipsafe`).
"""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, Any

from lxml import etree

from ..base import CellValue
from .cells import col_number
from .opc import Package
from .zipsafe import inflate

__all__ = ["PREVIEW_ROWS", "first_rows"]

#: Rows looked at, at most: the ids a refresh asks about ahead come from far fewer.
PREVIEW_ROWS = 6_000
#: Bytes of the sheet, and of its shared strings, inflated for a look, at most.
_MAX_BYTES = 64 << 20
#: Inflated bytes parsed at a time: the first rows are seen after a few milliseconds.
_STEP = 64 << 10
#: Inflated bytes parsed without a row (or a shared string) ending, at most: all else stays
#: in lxml's tree, and a few KB zipped of ``<x/>`` are millions of elements (gigabytes).
_QUIET_BYTES = 1 << 20
_ROW, _CELL, _SHARED = "{*}row", "{*}c", "{*}si"


def first_rows(
    path: Path, sheet: str, limit: int | None = None, stop: threading.Event | None = None
) -> Generator[list[CellValue], None, None]:
    """The first rows of ``sheet`` from A1, one list per row (``[]`` for an empty one).

    Stops after ``limit`` rows (:data:`PREVIEW_ROWS`), at the end of the sheet's rows, at
    anything it cannot read, or once ``stop`` is set (before the next chunk it would parse:
    a row's string far into the shared strings is no wait for the read); raises nothing but
    what the caller's own code raises while it iterates.
    """
    limit = PREVIEW_ROWS if limit is None else limit
    try:
        # Two handles: the sheet and its strings are inflated by turns.
        with (
            zipfile.ZipFile(path) as archive,
            open(path, "rb") as source,
            open(path, "rb") as text_source,
        ):
            package = Package(archive, path.name, lenient=True)
            info = package.sheets.get(sheet.casefold())
            if info is None or not package.has(info.part):
                return
            member = archive.getinfo(package.by_lower[info.part.lower()])
            strings = _SharedStrings(package, text_source, stop)
            rows = _rows(_until(inflate(source, member, path.name, _STEP), stop), strings)
            number = 0
            while number < limit:
                try:
                    found, cells = next(rows)
                except StopIteration:
                    return
                if found <= number:  # rows out of order: no longer a look worth having
                    return
                while number + 1 < found and number < limit:
                    number += 1
                    yield []
                if number < limit:
                    number += 1
                    yield cells
    except GeneratorExit:
        raise
    except Exception:  # noqa: BLE001 - a hint: the read proper says what is wrong
        return


def _until(chunks: Iterator[bytes], stop: threading.Event | None) -> Iterator[bytes]:
    """``chunks`` until ``stop`` is set."""
    for chunk in chunks:
        if stop is not None and stop.is_set():
            return
        yield chunk


def _rows(
    chunks: Iterator[bytes], strings: _SharedStrings
) -> Iterator[tuple[int, list[CellValue]]]:
    """(row number, cells from column A) of each ``<row>`` as its end is parsed."""
    previous = 0
    for row in _elements(chunks, _ROW):
        number = int(row.get("r") or previous + 1)
        previous = number
        yield number, _cells(row, strings)


def _elements(chunks: Iterator[bytes], tag: str) -> Iterator[Any]:
    """Each ``tag`` element of the XML in ``chunks`` once its end is parsed, let go (with
    the ones before it) when the next is asked for. Ends after :data:`_MAX_BYTES`, or
    :data:`_QUIET_BYTES` without one ending: all else stays in lxml's tree."""
    parser = etree.XMLPullParser(events=("end",), tag=tag, resolve_entities=False)
    fed = quiet = 0
    for chunk in chunks:
        fed += len(chunk)
        quiet += len(chunk)
        if fed > _MAX_BYTES or quiet > _QUIET_BYTES:
            return
        parser.feed(chunk)
        for _, element in parser.read_events():
            quiet = 0
            yield element
            element.clear(keep_tail=True)
            while element.getprevious() is not None:  # the ones already handed over
                del element.getparent()[0]


def _cells(row: Any, strings: _SharedStrings) -> list[CellValue]:
    """A row's cells from column A. Children are matched by their tag in the row's own
    namespace (lxml's ``find`` with a path costs more than the rest of a cell)."""
    ns = row.tag[: -len("row")]
    cell_tag, v_tag, is_tag = ns + "c", ns + "v", ns + "is"
    cells: list[CellValue] = []
    for cell in row:
        if cell.tag != cell_tag:
            continue
        ref = cell.get("r")
        col = col_number(ref.rstrip("0123456789")) if ref else len(cells) + 1
        if col <= len(cells) or col > 16384:
            raise ValueError("cells out of order")
        if col > len(cells) + 1:
            cells.extend([None] * (col - 1 - len(cells)))
        kind = cell.get("t")
        value: CellValue = None
        for child in cell:
            tag = child.tag
            if tag == v_tag:
                value = _value(kind, child.text, strings)
            elif tag == is_tag and kind == "inlineStr":
                value = _text(child) or None
        cells.append(value)
    return cells


def _value(kind: str | None, v: str | None, strings: _SharedStrings) -> CellValue:
    if not v:
        return None
    if kind is None or kind == "n":
        return float(v)
    if kind == "s":
        return strings[int(v)] or None
    if kind == "str":
        return v
    if kind == "b":
        return v.strip() in ("1", "true")
    return None  # an error, or an ISO date: not needed for a look


def _text(element: Any) -> str:
    """The text of a shared or inline string: its ``<t>`` and its runs' ``<t>``, not the
    phonetic guides (``<rPh>``)."""
    parts: list[str] = []
    for child in element:
        tag = child.tag.rpartition("}")[2]
        if tag == "t":
            parts.append(child.text or "")
        elif tag == "r":
            parts.extend(t.text or "" for t in child.iterchildren("{*}t"))
    return "".join(parts)


class _SharedStrings:
    """The workbook's shared strings, parsed only as far as the indexes asked for."""

    def __init__(
        self, package: Package, source: IO[bytes], stop: threading.Event | None = None
    ) -> None:
        self._texts: list[str] = []
        chunks: Iterator[bytes] = iter(())
        rel = package.rel_of_type("/sharedStrings")
        if rel is not None and package.has(rel.target):
            member = package.archive.getinfo(package.by_lower[rel.target.lower()])
            chunks = _until(inflate(source, member, package.label, _STEP), stop)
        self._items = _elements(chunks, _SHARED)

    def __getitem__(self, index: int) -> str:
        texts = self._texts
        while len(texts) <= index:
            si = next(self._items, None)
            if si is None:
                raise IndexError(index)
            texts.append(_text(si))
        return texts[index]
