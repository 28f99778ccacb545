"""The stream sheet patcher: a worksheet patched as text, row by row.

Everyday writes into an existing sheet: rows not written to are copied in bulk, so 800,000
cells take a few seconds; a written row in the everyday form is patched on its bytes
(``_patch_row_bytes``), any other as text (``_patch_row``), with the same result. Anything
unusual raises :class:`NeedsTree` and the caller uses :class:`~.sheet_tree.TreePatcher`.
Imports :mod:`.cells` and :mod:`.styles`.
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import datetime as dt
import functools
import re
from collections.abc import Callable, ItemsView, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal

from smmsheet.errors import WorkbookError

from ..base import MAX_COL, CellValue
from .cells import (
    EXCEL_ESCAPE,
    MergedCells,
    col_letters,
    col_number,
    encode_value,
    parse_range,
    parse_ref,
    range_ref,
    xml_escape,
)
from .columns import ColumnStyles
from .styles import DateStyles

__all__ = ["Chunk", "NeedsTree", "RowCells", "RowWalk", "Segment", "StreamPatcher"]


class NeedsTree(Exception):
    """The sheet's XML is unusual enough that only the tree patcher handles it safely."""


#: How many pieces of a patched sheet are gathered before they go to the compressor.
_CHUNK_PIECES = 16384
#: Unchanged XML longer than this is passed on as views of the part, a stretch at a time
#: (placing 1,000 rows at the end of a million-row sheet copies nothing of the rest).
_LONG_STRETCH = 1 << 20
#: Distinct values (dates, booleans) whose cell text a patcher remembers, at most.
_ENCODINGS_KEPT = 1024
#: What ``apply`` passes on: its own pieces, or views of the part's unchanged XML.
Chunk = bytes | memoryview
#: Rows as ``(region, begin, end)``: ``region[begin:end]`` holds whole rows.
Segment = tuple[bytes | bytearray, int, int]
#: The least a segment of a sheet read as chunks holds: rows are walked this much at a
#: time (a million-row sheet's 250 MB of XML is never held whole).
SEGMENT = 1 << 20
#: How far back into what was read before a chunk its ``<sheetData>`` tag may start.
_TAG_BACK = 1024
#: Bytes of a sheet checked as UTF-8 at a time.
_CHECK_SLICE = 1 << 20
_NAME = r"[A-Za-z_][\w.-]*"
_SHEET_DATA = re.compile(rf"<((?:{_NAME}:)?)sheetData(?=[\s/>])[^>]*>".encode())
_ATTRIBUTE = re.compile(rf"({_NAME}(?::{_NAME})?)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_SPANS = re.compile(r"(\sspans\s*=\s*[\"'])([^\"']*)([\"'])")
_DIMENSION_REF = re.compile(rf"(<(?:{_NAME}:)?dimension(?=[\s/>])[^>]*?\sref\s*=\s*[\"'])([^\"']*)")
_SHEET_PR_END = re.compile(rf"</(?:{_NAME}:)?sheetPr>|<(?:{_NAME}:)?sheetPr(?=[\s/>])[^>]*/>")
#: A merged range's reference, in the part after ``sheetData``.
_MERGED = re.compile(rf"<(?:{_NAME}:)?mergeCell(?=[\s/>])[^>]*?\sref\s*=\s*[\"']([^\"']*)".encode())
_ROOT_START = re.compile(rf"<(?:{_NAME}:)?worksheet(?=[\s>])[^>]*>")
_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([^\"']+)[\"']")
_LETTERS = re.compile(r"[A-Z]{1,3}")
_CELL_REF_BYTES = re.compile(rb'([A-Z]{1,3})([0-9]+)"')
#: Whether the everyday row is patched as bytes (:meth:`StreamPatcher._patch_row_bytes`);
#: tests switch it off to compare it with the general :meth:`StreamPatcher._patch_row`.
FAST_ROWS = True
#: Distinct (style, value) pairs whose cell XML a patcher remembers, at most.
_TAILS_KEPT = 4096
#: Types besides text and nonzero Decimals whose equal values always write the same XML.
_CACHED_KINDS = frozenset({bool, dt.date, dt.datetime})


class RowCells(Mapping[int, CellValue]):
    """One row's buffered cells, compact and read-only: its columns, in order (one tuple
    shared by every row written in the same columns), and their values.

    A dict per row costs 350 bytes for 6 cells, this 150: a million written rows buffered
    for a save take 200 MB less.
    """

    __slots__ = ("cols", "data")

    def __init__(self, cols: tuple[int, ...], values: tuple[CellValue, ...]) -> None:
        self.cols = cols  # ascending, no repeats
        self.data = values

    def __getitem__(self, col: int) -> CellValue:
        i = bisect.bisect_left(self.cols, col)
        if i < len(self.cols) and self.cols[i] == col:
            return self.data[i]
        raise KeyError(col)

    def __iter__(self) -> Iterator[int]:
        return iter(self.cols)

    def __len__(self) -> int:
        return len(self.cols)

    def items(self) -> ItemsView[int, CellValue]:
        return _RowItems(self)

    def __repr__(self) -> str:
        return f"RowCells({dict(zip(self.cols, self.data, strict=True))!r})"


class _RowItems(ItemsView[int, CellValue]):
    _mapping: RowCells

    def __iter__(self) -> Iterator[tuple[int, CellValue]]:
        return zip(self._mapping.cols, self._mapping.data, strict=True)


class StreamPatcher:
    """A worksheet patched as text: rows not written to are copied untouched, in bulk.

    Only the rows being written are cut into cells, so a save costs little more than
    inflating and deflating the part. Anything unusual (rows or cells without ``r``,
    comments, CDATA, a shared-formula master being overwritten, a non-UTF-8 part) raises
    :class:`NeedsTree` and the sheet goes through :class:`TreePatcher` instead.
    """

    def __init__(
        self,
        xml: bytes | bytearray | Iterable[bytes],
        date1904: bool,
        styles: DateStyles,
        where: str,
    ) -> None:
        """``xml`` is the sheet's XML whole, or its chunks as inflated (a large sheet): then
        the rows are walked a segment of whole rows at a time and never held whole, and what
        only a look over every row can tell (a merged range, an array formula, a row only the
        tree patcher takes) is found while they are walked, before anything is returned."""
        self.date1904 = date1904
        self.styles = styles
        self.where = where
        self.removed_formulas: list[str] = []
        self.has_formulas = False
        self._masters: set[tuple[int, int]] = set()
        self._array_cells: dict[tuple[int, int], str] = {}
        self._rows_left: Iterator[Segment] | None = None
        head: bytes | bytearray
        rows: Iterator[bytes] | None
        if isinstance(xml, (bytes, bytearray)):
            _check_encoding(xml)
            if not xml.isascii() and not _is_utf8(xml):
                raise NeedsTree
            head, rows, start = xml, None, _SHEET_DATA.search(xml)
            if start is None:
                raise NeedsTree
        else:
            rows = _utf8_checked(iter(xml))
            head = bytearray()
            searched = 0  # the tag is looked for where a new chunk may have completed it
            while (start := _SHEET_DATA.search(head, searched)) is None:
                chunk = next(rows, None)
                if chunk is None:
                    raise NeedsTree
                searched = max(0, len(head) - _TAG_BACK)
                head += chunk
                _check_encoding(head)
        p = start.group(1).decode("ascii")
        pb = start.group(1)
        self.p = p
        self._row = re.compile(b"<" + re.escape(pb) + rb'row r="([0-9]+)"[^>]*>')
        self._odd_row = re.compile(b"<" + re.escape(pb) + b'row(?! r=")')
        #: A row or cell under a prefix other than the sheetData's (unseen by the patcher).
        self._foreign = re.compile(
            b"<(?!" + re.escape(pb) + rb"(?:row|c)(?=[\s/>]))(?:" + _NAME.encode() + rb":)?"
            rb"(?:row|c)(?=[\s/>])"
        )
        close = b"</" + pb + b"sheetData>"
        # The rows stay bytes, xml[self.begin:self.end], never decoded or copied whole (a
        # million rows are 250 MB of XML); only the rows written to are decoded.
        self.xml: bytes | bytearray = b""
        self.begin = self.end = 0
        self.tail: bytes | bytearray = b""
        if start.group(0).endswith(b"/>"):
            opening = start.group(0)[:-2].rstrip() + b">"
            self.head = (head[: start.start()] + opening).decode("utf-8")
            rest = head[start.end() :] + (b"".join(rows) if rows is not None else b"")
            if _another_sheet_data(rest, 0, len(rest)):
                raise NeedsTree  # the rows would go into this one, before the other's
            self.tail = close + rest
        elif rows is None:
            # Looked for from the end, where it is: one sheetData, and no "<" in any text.
            end = head.rfind(close, start.end())
            if end < 0 or _another_sheet_data(head, end, len(head)):
                raise NeedsTree  # no end to the rows, or a second sheetData after them
            self.head = head[: start.end()].decode("utf-8")
            self.xml, self.begin, self.end, self.tail = head, start.end(), end, head[end:]
        else:
            self.head = head[: start.end()].decode("utf-8")
            self._rows_left = self._segments(bytearray(head[start.end() :]), rows, close, pb)
        #: The style a new cell takes from its column's ``<col style>`` (None: no column has one).
        self._column_style = ColumnStyles(self.head) or None
        self._row_close = f"</{p}row>"
        self._row_close_bytes = self._row_close.encode("ascii")
        self._cell_open = f"<{p}c"
        self._canonical_open = f'<{p}c r="'
        self._cell_close = f"</{p}c>"
        self._formula_open = f"<{p}f"
        self._any_cell = re.compile(re.escape(self._cell_open) + r"(?=[\s/>])[^>]*>")
        self._simple_cell = re.compile(
            re.escape(self._canonical_open)
            + r'[A-Z]{1,3}[0-9]+"(?: s="([0-9]+)")?(?: t="[A-Za-z]+")?\s*/?>'
        )
        # The same pieces as bytes, for rows patched without being decoded (_patch_row_bytes).
        self._canonical_bytes = self._canonical_open.encode("ascii")
        self._cell_open_bytes = self._cell_open.encode("ascii")
        self._cell_close_bytes = self._cell_close.encode("ascii")
        self._formula_bytes = self._formula_open.encode("ascii")
        self._simple_cell_bytes = re.compile(self._simple_cell.pattern.encode("ascii"))
        #: A cell whose r is not its first attribute (or that has none).
        self._odd_cell = re.compile(re.escape(self._cell_open_bytes) + b'(?! r=")')
        self._value_open = f"><{p}v>".encode("ascii")
        self._value_close = f"</{p}v>{self._cell_close}".encode("ascii")
        #: A written cell's XML after its reference, by (style, type, value): see _tail.
        self._tails: dict[tuple[bytes | None, type, CellValue], bytes] = {}
        self._opens: dict[int, bytes] = {}
        self._later: dict[tuple[tuple[int, ...], int], re.Pattern[bytes]] = {}
        self._number_opens: dict[bytes | None, bytes] = {}
        self._column_styles: dict[int, bytes | None] = {}
        self._encodings: dict[tuple[type, CellValue], tuple[str | None, str, bool | None]] = {}
        self._merged = self._merged_of(self.tail)
        if self.end > self.begin:
            self._check_rows(self.xml, self.begin, self.end)

    @staticmethod
    def _merged_of(tail: bytes | bytearray) -> MergedCells:
        return MergedCells(m.decode("utf-8", "replace") for m in _MERGED.findall(tail))

    def _check_rows(self, region: bytes | bytearray, begin: int, end: int) -> None:
        """Look over the rows ``region[begin:end]`` (whole rows): NeedsTree for what only the
        tree patcher takes; the formulas with a range noted."""
        if _holds(region, b"<!", begin, end) or _holds(region, b"<?", begin, end):
            raise NeedsTree  # these may hold a "<" that starts no element
        if self._odd_row.search(region, begin, end):
            raise NeedsTree  # rows without r, or with r not first
        if self._foreign_elements(region, begin, end):
            raise NeedsTree  # rows or cells under another prefix: the patcher sees none
        if _another_sheet_data(region, begin, end):
            raise NeedsTree  # two sheetData: which rows a reader takes is anyone's guess
        if _has_formula(region, self._formula_bytes, begin, end):
            self.has_formulas = True
            self._scan_formula_ranges(region, begin, end)

    def _foreign_elements(self, region: bytes | bytearray, begin: int, end: int) -> bool:
        """Whether ``region[begin:end]`` holds a row or cell under another prefix (a word
        looked for first: an everyday sheet holds none of them)."""
        if self.p:
            needles: tuple[bytes, ...] = (b"<row", b"<c ", b"<c>", b"<c/", b":row", b":c ")
        else:
            needles = (b":row", b":c ", b":c>", b":c/")
        if not any(region.find(needle, begin, end) >= 0 for needle in needles):
            return False
        return self._foreign.search(region, begin, end) is not None

    def segments(self) -> Iterator[Segment]:
        """The rows, as ``(region, begin, end)``: the one region of a sheet read whole, or
        the segments of one read as chunks (once: the chunks are read as they go)."""
        if self._rows_left is None:
            yield self.xml, self.begin, self.end
            return
        rows, self._rows_left = self._rows_left, iter(())
        yield from rows

    def _segments(
        self, buffer: bytearray, chunks: Iterator[bytes], close: bytes, pb: bytes
    ) -> Iterator[Segment]:
        """Segments of whole rows, cut before a row's start tag once at least
        :data:`SEGMENT` bytes are gathered; then the tail, and what it tells, are kept."""
        row = b"<" + pb + b"row"
        searched = 0
        while True:
            end = buffer.find(close, max(0, searched - len(close) + 1))
            if end >= 0:
                tail = buffer[end:] + b"".join(chunks)
                last = tail.rfind(close)
                if last > 0:  # another after it: as a sheet read whole, the last one counts
                    buffer, tail, end = buffer[:end] + tail[:last], tail[last:], end + last
                if _another_sheet_data(tail, 0, len(tail)):
                    raise NeedsTree  # a second sheetData after the rows
                self.tail = tail
                self._merged = self._merged_of(self.tail)
                self._check_rows(buffer, 0, end)
                yield buffer, 0, end
                return
            searched = len(buffer)
            if searched >= SEGMENT:
                cut = buffer.rfind(row)
                if cut > 0:
                    segment, buffer = buffer, buffer[cut:]  # the next one starts at that row
                    searched -= cut
                    self._check_rows(segment, 0, cut)
                    yield segment, 0, cut
            chunk = next(chunks, None)
            if chunk is None:
                raise NeedsTree  # no end to the rows
            buffer += chunk

    def _scan_formula_ranges(self, region: bytes | bytearray, begin: int, end: int) -> None:
        """Find shared-formula masters and array-formula ranges: the formulas with a ``ref``."""
        formula = self._formula_open.encode("ascii")
        cell_open = self._cell_open.encode("ascii") + b" "
        for needle in (b' ref="', b" ref='"):
            position = region.find(needle, begin, end)
            while position >= 0:
                tag_start = region.rfind(b"<", begin, position)
                tag = region[tag_start : region.find(b">", position) + 1]
                if tag.startswith(formula) and tag[len(formula) : len(formula) + 1].isspace():
                    attributes = _attributes(tag.decode("utf-8"))
                    kind, ref = attributes.get("t"), attributes.get("ref", "")
                    if kind == "shared":
                        cell_start = region.rfind(cell_open, begin, tag_start)
                        cell_tag = region[cell_start : region.find(b">", cell_start) + 1]
                        cell_ref = _attributes(cell_tag.decode("utf-8")).get("r")
                        if cell_start < 0 or cell_ref is None:
                            raise NeedsTree
                        self._masters.add(parse_ref(cell_ref))
                    elif kind in ("array", "dataTable") and ref:
                        top, left, bottom, right = parse_range(ref)
                        for r in range(top, bottom + 1):
                            for c in range(left, right + 1):
                                self._array_cells[(r, c)] = ref
                position = region.find(needle, position + 1, end)

    def apply(
        self, by_row: Mapping[int, Mapping[int, CellValue]], write: Callable[[Chunk], object]
    ) -> None:
        """Pass the sheet XML with ``{row: {col: value}}`` applied to ``write``, in chunks.

        A sheet read as chunks has its writes checked once its rows have all been walked:
        what was passed on by then is the caller's to drop when this raises.
        """
        known = self._rows_left is None  # every row looked over already
        if known:
            self.check_cells(by_row)
        targets = sorted(row for row, cells in by_row.items() if type(cells) is RowCells or cells)
        write(self.opening(by_row, targets))
        walk = RowWalk(self, write)
        walk.rows(by_row, targets)
        walk.finish()
        if not known:
            self.check_cells(by_row)

    def check_cells(self, by_row: Mapping[int, Mapping[int, CellValue]]) -> None:
        """Refuse writes into an array formula or hidden under merged cells; NeedsTree for a
        shared formula's master."""
        self._merged.check(
            (((row, col), value) for row, cells in by_row.items() for col, value in cells.items()),
            self.where,
        )
        if not (self._array_cells or self._masters):
            return
        for row, cells in by_row.items():
            for col in cells:
                key = (row, col)
                if key in self._array_cells:
                    raise WorkbookError(
                        f"{self.where}: {col_letters(col)}{row} is part of the array formula "
                        f"{self._array_cells[key]}; smmsheet does not overwrite it, "
                        "nothing was changed"
                    )
                if key in self._masters:
                    raise NeedsTree  # the formula must move to another cell of its range

    def opening(
        self, by_row: Mapping[int, Mapping[int, CellValue]], targets: Sequence[int]
    ) -> bytes:
        """The XML before the rows, for writes into ``targets``: the rows with cells, sorted
        (only the first and the last count)."""
        return self._head(by_row, targets).encode("utf-8")

    def _head(self, by_row: Mapping[int, Mapping[int, CellValue]], targets: Sequence[int]) -> str:
        """The part before the rows, its ``<dimension>`` grown to cover the written cells.

        Cleared cells count too: the dimension is a hint, and may be larger than the data.
        """
        if not targets:
            return self.head
        left, right = MAX_COL, 0
        last: object = None
        for cells in by_row.values():
            if not cells:
                continue
            # Rows written in the same columns share one tuple of them: each is seen once.
            cols = cells.cols if type(cells) is RowCells else sorted(cells)
            if cols is last:
                continue
            last = cols
            left, right = min(left, cols[0]), max(right, cols[-1])
        extent = [targets[0], left, targets[-1], right]
        dimension = _DIMENSION_REF.search(self.head)
        if dimension is not None:
            with contextlib.suppress(WorkbookError):
                top, left, bottom, right = parse_range(dimension.group(2))
                extent = [
                    min(top, extent[0]),
                    min(left, extent[1]),
                    max(bottom, extent[2]),
                    max(right, extent[3]),
                ]
            ref = range_ref(*extent)
            return self.head[: dimension.start(2)] + ref + self.head[dimension.end(2) :]
        element = f'<{self.p}dimension ref="{range_ref(*extent)}"/>'
        anchor = _SHEET_PR_END.search(self.head) or _ROOT_START.search(self.head)
        if anchor is None:
            raise NeedsTree
        return self.head[: anchor.end()] + element + self.head[anchor.end() :]

    def _new_row(self, number: int, cells: list[tuple[int, CellValue]]) -> str:
        suffix = str(number)
        styled = self._column_style
        body = "".join(
            [
                self._cell(col_letters(col) + suffix, styled(col) if styled else None, "", value)
                for col, value in cells
                if value is not None
            ]
        )
        if not body:
            return ""
        return f'<{self.p}row r="{suffix}">{body}{self._row_close}'

    def _patch_row(
        self, start_tag: str, body: str, number: int, writes: list[tuple[int, CellValue]]
    ) -> str:
        """One existing row with ``writes`` (sorted) applied; other cells are copied as they are."""
        if "extLst" in body:
            raise NeedsTree
        canonical_open, cell_close = self._canonical_open, self._cell_close
        # Every writer we know puts r first in double quotes; then a cell is found by its
        # reference and nothing else in the row needs reading.
        canonical = body.count(canonical_open) == body.count(self._cell_open)
        last_col = -1
        scan: tuple[list[int], list[int], list[int]] | None = None
        suffix = str(number)
        out: list[str] = []
        copied = 0
        for col, value in writes:
            ref = col_letters(col) + suffix
            start = body.find(f'{canonical_open}{ref}"', copied) if canonical else -1
            if start >= 0:
                exists = True
                tag_end = body.find(">", start)
                if body[tag_end - 1] == "/":
                    end = tag_end + 1
                else:
                    end = body.find(cell_close, tag_end) + len(cell_close)
                    if end < len(cell_close):
                        raise NeedsTree
                if body.startswith(f'{canonical_open}{ref}"', end):
                    raise NeedsTree  # the cell twice (a reader sees the last): the tree refuses
            else:
                if canonical and last_col < 0:
                    last_col = self._last_col(body)
                if canonical and col > last_col:
                    if value is not None and body.find(f'{canonical_open}{ref}"') >= 0:
                        raise NeedsTree  # cells out of order: the tree patcher refuses the row
                    exists, start = False, len(body)
                else:
                    if scan is None:
                        scan = self._scan_cells(body, number)
                    cols, starts, ends = scan
                    at = bisect.bisect_left(cols, col)
                    exists = at < len(cols) and cols[at] == col
                    start = starts[at] if at < len(cols) else len(body)
                    end = ends[at] if exists else start
            if exists:
                out.append(body[copied:start])
                out.append(self._rewrite(body[start:end], ref, value))
                copied = end
            elif value is not None:
                out.append(body[copied:start])
                styled = self._column_style
                out.append(self._cell(ref, styled(col) if styled else None, "", value))
                copied = start
        out.append(body[copied:])
        if "spans" in start_tag:
            start_tag = _widen_spans(start_tag, writes[0][0], writes[-1][0])
        return start_tag + "".join(out) + self._row_close

    def _patch_row_bytes(
        self,
        out: list[bytes | bytearray],
        start_tag: bytes,
        region: bytes | bytearray,
        lo: int,
        hi: int,
        number: int,
        cols: Sequence[int],
        values: Sequence[CellValue],
    ) -> bool:
        """:meth:`_patch_row` for the everyday row ``region[lo:hi]``, as bytes, never decoded.

        Its cells are in canonical form (``<c r="..."`` first) and each written cell is
        either a plain one (``r``, ``s``, ``t`` and no other attribute), or new and past the
        row's last cell. Appends to ``out`` the very bytes :meth:`_patch_row` gives, in pieces
        from the row's start tag to its close tag, and returns True; for any other row it
        appends nothing and returns False, and the row goes through :meth:`_patch_row`.
        """
        if region.find(b"extLst", lo, hi) >= 0 or self._odd_cell.search(region, lo, hi):
            return False
        mark = len(out)
        opens, tails, number_opens = self._opens, self._tails, self._number_opens
        value_close, column_style = self._value_close, self._column_style
        suffix = b"%d" % number
        quoted = suffix + b'"'
        out.append(start_tag)
        removed: list[str] | None = None
        copied = lo
        scan: tuple[list[int], list[int]] | None = None
        appended = False
        canonical = self._canonical_bytes
        for col, value in zip(cols, values, strict=True):
            opening = opens.get(col) or self._open_for(col)
            # Looked for after the cells before it, as _patch_row does (cells are in order).
            needle = opening + quoted
            start = region.find(needle, copied, hi) if copied < hi else -1
            style: bytes | None
            if start >= 0:
                cell = self._simple_cell_bytes.match(region, start, hi)
                if cell is None:  # other attributes: _rewrite keeps them
                    del out[mark:]
                    return False
                style, end = cell.group(1), cell.end()
                if region[end - 2] != 0x2F:  # not "/>": the cell has content up to its </c>
                    content_end = region.find(self._cell_close_bytes, end, hi)
                    if content_end < 0:
                        del out[mark:]
                        return False
                    if (
                        self.has_formulas
                        and region.find(self._formula_bytes, end, content_end) >= 0
                    ):
                        if self._has_formula(region[end:content_end]):
                            removed = removed or []
                            removed.append(f"{col_letters(col)}{number}")
                    end = content_end + len(self._cell_close_bytes)
                if region.startswith(needle, end):  # the cell again: _patch_row refuses
                    del out[mark:]
                    return False
                out.append(region[copied:start])
                copied = end
                if value is None:
                    if style is not None:
                        out += (opening, suffix, b'" s="', style, b'"/>')
                    continue
            else:
                if value is None:
                    continue
                at = hi
                if copied < hi and region.find(canonical, copied, hi) >= 0:
                    # Cells follow: the new one goes before the first past its column.
                    if scan is None:
                        scan = self._scan_cells_bytes(region, lo, hi, number)
                        if scan is None:
                            del out[mark:]
                            return False
                    cols_found, starts = scan
                    following = bisect.bisect_left(cols_found, col)
                    if following < len(starts):
                        at = starts[following]
                if at == hi and not appended:  # past the row's last cell
                    appended = True
                    # In a row in order no cell of this or a later written column is left.
                    if self._later_cells(cols, col).search(region, lo, hi):
                        raise NeedsTree  # cells out of order: the tree patcher refuses the row
                if copied < at:
                    out.append(region[copied:at])
                    copied = at
                style = self._column_style_bytes(col) if column_style else None
            kind = type(value)
            if kind is int:
                number_text = b"%d" % value  # type: ignore[str-format]
            elif kind is float:
                number_text = repr(value).encode("ascii")
            else:
                out += (
                    opening,
                    suffix,
                    tails.get((style, kind, value)) or self._tail(style, value),
                )
                continue
            number_open = number_opens.get(style) or self._number_open(style)
            out += (opening, suffix, number_open, number_text, value_close)
        if copied < hi:
            out.append(region[copied:hi])
        out.append(self._row_close_bytes)
        if b"spans" in start_tag:
            tag = _widen_spans(start_tag.decode("utf-8"), cols[0], cols[-1])
            out[mark] = tag.encode("utf-8")
        if removed:
            self.removed_formulas += removed
        return True

    def _later_cells(self, cols: Sequence[int], first: int) -> re.Pattern[bytes]:
        """What finds a cell of any of ``cols`` from ``first`` on."""
        key = (tuple(cols), first)
        pattern = self._later.get(key)
        if pattern is None:
            letters = b"|".join(col_letters(c).encode("ascii") for c in cols if c >= first)
            pattern = re.compile(re.escape(self._canonical_bytes) + b"(?:" + letters + b")[0-9]")
            if len(self._later) < _TAILS_KEPT:
                self._later[key] = pattern
        return pattern

    def _scan_cells_bytes(
        self, region: bytes | bytearray, lo: int, hi: int, number: int
    ) -> tuple[list[int], list[int]] | None:
        """Columns and starts of the cells of the canonical row ``region[lo:hi]``, as
        :meth:`_scan_cells` finds them; None when a cell is of another row or out of order
        (the general path then decides)."""
        canonical, suffix = self._canonical_bytes, b"%d" % number
        cols: list[int] = []
        starts: list[int] = []
        start = region.find(canonical, lo, hi)
        while start >= 0:
            ref = _CELL_REF_BYTES.match(region, start + len(canonical), hi)
            if ref is None or ref.group(2) != suffix:
                return None
            col = col_number(ref.group(1).decode("ascii"))
            if cols and col <= cols[-1]:
                return None
            cols.append(col)
            starts.append(start)
            start = region.find(canonical, ref.end(), hi)
        return cols, starts

    def _has_formula(self, content: bytes | bytearray) -> bool:
        """Whether a cell's content (after its start tag) holds an ``<f>`` element."""
        formula = self._formula_bytes
        return any(formula + end in content for end in (b">", b" ", b"/"))

    def _open_for(self, col: int) -> bytes:
        """``<c r="`` and the column's letters: a written cell's reference but its row."""
        opening = self._opens[col] = self._canonical_bytes + col_letters(col).encode("ascii")
        return opening

    def _column_style_bytes(self, col: int) -> bytes | None:
        """The style a new cell in ``col`` takes from its column, as bytes (None: none)."""
        try:
            return self._column_styles[col]
        except KeyError:
            style = self._column_style(col) if self._column_style else None
            found = self._column_styles[col] = None if style is None else style.encode("ascii")
            return found

    def _number_open(self, style: bytes | None) -> bytes:
        """What follows a number cell's reference up to its value: ``"><v>`` with its style."""
        found = self._number_opens.get(style)
        if found is None:
            styled = b"" if style is None else b' s="' + style + b'"'
            found = self._number_opens[style] = b'"' + styled + self._value_open
        return found

    def _tail(self, style: bytes | None, value: CellValue) -> bytes:
        """The XML of a cell holding ``value`` after its reference, as :meth:`_cell` writes it;
        remembered per style and value, as equal values of one type write the same XML (but
        for a zero's sign: ``-0.0``)."""
        text = self._cell("", None if style is None else style.decode("ascii"), "", value)
        tail = text[len(self._canonical_open) :].encode("utf-8")
        kind = type(value)
        if (
            kind is str
            or kind in _CACHED_KINDS
            or (kind is Decimal and value.is_finite() and bool(value))  # type: ignore[union-attr]
        ) and len(self._tails) < _TAILS_KEPT:
            self._tails[(style, kind, value)] = tail
        return tail

    def _cell_end(self, body: str, start: int) -> int:
        tag_end = body.find(">", start)
        if body[tag_end - 1] == "/":
            return tag_end + 1
        end = body.find(self._cell_close, tag_end)
        if end < 0:
            raise NeedsTree
        return end + len(self._cell_close)

    def _last_col(self, body: str) -> int:
        """Column of the row's last cell (0 for none), for rows in canonical form."""
        start = body.rfind(self._canonical_open)
        if start < 0:
            return 0
        match = _LETTERS.match(body, start + len(self._canonical_open))
        if match is None:
            raise NeedsTree
        return col_number(match.group(0))

    def _scan_cells(self, body: str, number: int) -> tuple[list[int], list[int], list[int]]:
        """Columns, starts and ends of every cell in a row, whatever its attribute order."""
        cols: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        for match in self._any_cell.finditer(body):
            ref = _attributes(match.group(0)).get("r")
            if ref is None:
                raise NeedsTree
            row, col = parse_ref(ref)
            if row != number or (cols and col <= cols[-1]):
                raise NeedsTree
            cols.append(col)
            starts.append(match.start())
            ends.append(self._cell_end(body, match.start()))
        return cols, starts, ends

    def _rewrite(self, cell: str, ref: str, value: CellValue) -> str:
        """An existing cell with a new value (or none): its style stays, its formula goes."""
        simple = self._simple_cell.match(cell)
        style: str | None
        if simple is not None:
            style, others, content = simple.group(1), "", cell[simple.end() :]
        else:
            tag_end = cell.find(">")
            found = _attributes(cell[len(self._cell_open) : tag_end])
            style = found.get("s")
            others = "".join(
                " " + match.group(0)
                for match in _ATTRIBUTE.finditer(cell, len(self._cell_open), tag_end)
                if match.group(1) not in ("r", "s", "t", "cm", "vm")
            )
            content = cell[tag_end + 1 :]
        if "extLst" in content:
            raise NeedsTree
        formula = self._formula_open
        if formula in content and any(formula + end in content for end in (">", " ", "/")):
            self.removed_formulas.append(ref)
        if value is not None:
            return self._cell(ref, style, others, value)
        if style is None:
            return ""
        return f'<{self.p}c r="{ref}" s="{style}"{others}/>'

    def _cell(self, ref: str, style: str | None, others: str, value: CellValue) -> str:
        """A ``<c>`` holding ``value`` (not None), keeping the style and other attributes."""
        p = self.p
        kind = type(value)
        styled = f' s="{style}"' if style is not None else ""
        if kind is str:
            text: str = value  # type: ignore[assignment]
            if "_x" in text:
                text = EXCEL_ESCAPE.sub(r"_x005F\1", text)
            if "&" in text or "<" in text or ">" in text or "\r" in text:
                text = xml_escape(text)
            return (
                f'<{p}c r="{ref}"{styled}{others} t="inlineStr"><{p}is>'
                f'<{p}t xml:space="preserve">{text}</{p}t></{p}is></{p}c>'
            )
        if kind is int or kind is float or kind is Decimal:  # a Decimal is its double
            number = str(value) if kind is int else repr(float(value))  # type: ignore[arg-type]
            return f'<{p}c r="{ref}"{styled}{others}><{p}v>{number}</{p}v></{p}c>'
        cell_kind, text, date_with_time = self._encoded(value)
        if cell_kind == "inlineStr":
            return self._cell(ref, style, others, str(value))
        if date_with_time is not None:
            current = int(style or 0)
            chosen = self.styles.style_for(current, date_with_time)
            if chosen is not None and chosen != current:
                styled = f' s="{chosen}"'
        typed = f' t="{cell_kind}"' if cell_kind else ""
        return f'<{p}c r="{ref}"{styled}{others}{typed}><{p}v>{text}</{p}v></{p}c>'

    def _encoded(self, value: CellValue) -> tuple[str | None, str, bool | None]:
        """:func:`encode_value`, once per distinct value: every row's Updated is the same
        time, whose date serial took a tenth of a 100,000-row save."""
        key = (type(value), value)
        try:
            found = self._encodings.get(key)
        except TypeError:  # not hashable
            return encode_value(value, self.date1904)
        if found is None:
            found = encode_value(value, self.date1904)
            if len(self._encodings) < _ENCODINGS_KEPT:
                self._encodings[key] = found
        return found


class RowWalk:
    """:meth:`StreamPatcher.apply` in steps: the rows written so far now, later ones later.

    Each :meth:`rows` call takes rows after those of the call before; :meth:`finish` passes
    on the rest of the sheet. One call to each is exactly ``apply``; a save that prepares
    rows while a run is still answering (:mod:`.prepared`) makes many. The rows are walked
    a segment at a time (:meth:`StreamPatcher.segments`): positions are in the current one.
    """

    def __init__(self, patcher: StreamPatcher, write: Callable[[Chunk], object]) -> None:
        self.patcher = patcher
        self.write = write
        self.out: list[bytes | bytearray] = []
        self._segments = patcher.segments()
        self.region: bytes | bytearray = b""
        self.copied = self.seen = self.region_end = 0
        self._matches: Iterator[re.Match[bytes]] = iter(())
        self._next_segment()
        self.previous = 0  # the number of the last row walked past
        self.inserted = False
        #: The last row written (the next call's rows come after it).
        self.last = 0
        #: Rows past the sheet's last row, written before the tail by :meth:`finish`.
        self.appended: list[tuple[int, Mapping[int, CellValue]]] = []
        self._held: re.Match[bytes] | None = None  # a row walked to but not past

    def _next_segment(self) -> bool:
        """Move on to the next segment of rows (the current one passed on); False at the end.

        ``copied``: the rows up to ``region[copied]`` have been passed on; ``seen``: where
        the last row walked past ends its tag.
        """
        segment = next(self._segments, None)
        if segment is None:
            return False
        self.region, self.copied, self.region_end = segment
        self.seen = self.copied
        self._matches = self.patcher._row.finditer(*segment)
        return True

    def keep(self, start: int, end: int) -> None:
        """Pass on region[start:end] unchanged; a long stretch without copying it."""
        if end - start < _LONG_STRETCH:
            self.out.append(self.region[start:end])
        else:
            self._pass_on(start, end)

    def _pass_on(self, start: int, end: int) -> None:
        """Pass on what was gathered, then region[start:end] as views of it, a stretch at a
        time: the rest of a segment is never copied."""
        self.flush()
        whole = memoryview(self.region)
        for at in range(start, end, _LONG_STRETCH):
            self.write(whole[at : min(end, at + _LONG_STRETCH)])

    def rows(self, by_row: Mapping[int, Mapping[int, CellValue]], targets: Sequence[int]) -> None:
        """Write ``targets`` (sorted rows of ``by_row``, each after :attr:`last`)."""
        count = len(targets)
        if not count:
            return
        if targets[0] <= self.last:
            raise ValueError(f"row {targets[0]} comes before row {self.last}, already written")
        patcher = self.patcher
        region, region_end, row_close = self.region, self.region_end, patcher._row_close_bytes
        out, keep = self.out, self.keep
        copied, previous, seen = self.copied, self.previous, self.seen
        index = 0
        fast = FAST_ROWS
        patch_fast = patcher._patch_row_bytes
        matches = self._matches
        match = self._held
        self._held = None
        try:
            while True:
                if match is None:
                    match = next(matches, None)
                    if match is None:
                        self._pass_on(copied, region_end)  # this segment's rest, then the next
                        self.copied = region_end
                        if not self._next_segment():
                            copied = region_end
                            break
                        region, region_end = self.region, self.region_end
                        copied, seen, matches = self.copied, self.seen, self._matches
                        continue
                number = int(match.group(1))
                if number <= previous:
                    raise NeedsTree
                target = targets[index]
                if number < target:
                    previous, seen = number, match.end()
                    match = None
                    continue
                start = match.start()
                while target < number:  # rows that do not exist yet go before this one
                    self.inserted = True
                    keep(copied, start)
                    copied = start
                    out.append(patcher._new_row(target, _sorted_items(by_row[target])).encode())
                    index += 1
                    if index == count:
                        self._held = match  # this row may be written by the next call
                        return
                    target = targets[index]
                tag_bytes = match.group(0)
                previous, seen = number, match.end()
                match = None
                if target != number:  # past rows inserted before it, to a later target
                    continue
                if tag_bytes.count(b'"') % 2 or tag_bytes.count(b"'") % 2:
                    raise NeedsTree  # a ">" in an attribute's value: the tag goes on past it
                cells = by_row[number]
                cols: Sequence[int]
                values: Sequence[CellValue]
                if type(cells) is RowCells:
                    cols, values = cells.cols, cells.data
                else:
                    cols, values = _columns_and_values(cells)
                if tag_bytes.endswith(b"/>"):
                    end = seen
                    tag, body = tag_bytes[:-2].decode("utf-8").rstrip() + ">", ""
                else:
                    close = region.find(row_close, seen, region_end)
                    if close < 0:
                        raise NeedsTree
                    end = close + len(row_close)
                    if copied != start:
                        keep(copied, start)
                        copied = start
                    if fast and patch_fast(
                        out, tag_bytes, region, seen, close, number, cols, values
                    ):
                        tag = ""
                    else:
                        tag = tag_bytes.decode("utf-8")
                        body = region[seen:close].decode("utf-8")
                if tag:
                    if copied != start:
                        keep(copied, start)
                    writes = list(zip(cols, values, strict=True))
                    out.append(patcher._patch_row(tag, body, number, writes).encode("utf-8"))
                copied = end
                index += 1
                if index == count:
                    return
                if len(out) > _CHUNK_PIECES:
                    self.write(b"".join(out))
                    out.clear()
            # Past the last row of the sheet: the rest are new rows at its end.
            self.appended.extend((target, by_row[target]) for target in targets[index:])
        finally:
            self.copied, self.previous, self.seen = copied, previous, seen
            self.last = targets[-1]

    def flush(self) -> None:
        """Pass on what has been gathered (a prepared save's compressor works on it now)."""
        if self.out:
            self.write(b"".join(self.out))
            self.out.clear()

    def finish(self) -> None:
        """Pass on the rest of the sheet after the rows written, and its tail."""
        patcher, out = self.patcher, self.out
        previous, seen = self.previous, self.seen
        if self._held is not None:  # walked to for the rows inserted before it: past it now
            previous, seen = int(self._held[1]), self._held.end()
        while True:
            if self.inserted:
                later = patcher._row.finditer(self.region, seen, self.region_end)
                if any(int(m[1]) <= previous for m in later):
                    raise NeedsTree  # rows out of order: an inserted row may exist further on
            self._pass_on(self.copied, self.region_end)
            if not self._next_segment():
                break
            seen = self.seen
        self.region = b""  # the rows as read: not kept once passed on
        for target, cells in self.appended:
            out.append(patcher._new_row(target, _sorted_items(cells)).encode("utf-8"))
        self.flush()
        self.write(memoryview(patcher.tail))  # not copied: a sheet's links may be megabytes


def _sorted_items(cells: Mapping[int, CellValue]) -> list[tuple[int, CellValue]]:
    """A row's writes in column order: a RowCells' are already, a dict's are sorted."""
    if type(cells) is RowCells:
        return list(zip(cells.cols, cells.data, strict=True))
    return sorted(cells.items())


def _columns_and_values(cells: Mapping[int, CellValue]) -> tuple[list[int], list[CellValue]]:
    """A row's written columns in order and their values (a RowCells' are its own)."""
    cols = sorted(cells)
    return cols, [cells[col] for col in cols]


def _holds(xml: bytes | bytearray, needle: bytes, begin: int, end: int) -> bool:
    """Whether ``xml[begin:end]`` holds ``needle``, whose last byte is rare in a sheet: that
    byte alone is looked for first, many times faster than the needle."""
    return xml.find(needle[-1:], begin, end) >= 0 and xml.find(needle, begin, end) >= 0


def _another_sheet_data(xml: bytes | bytearray, begin: int, end: int) -> bool:
    """Whether ``xml[begin:end]`` holds a ``<sheetData>`` start tag (the word is looked for
    first: a sheet's rows never hold it)."""
    if xml.find(b"sheetData", begin, end) < 0:
        return False
    return _SHEET_DATA.search(xml, begin, end) is not None


def _has_formula(xml: bytes | bytearray, formula: bytes, begin: int, end: int) -> bool:
    """Whether ``xml[begin:end]`` holds an ``<f>`` or ``<f ...>`` element: one pass."""
    if xml.find(b"f", begin, end) < 0:  # a rare letter in many a sheet: found at once
        return False
    position = xml.find(formula, begin, end)
    while position >= 0:
        if xml[position + len(formula) : position + len(formula) + 1] in (b">", b" "):
            return True
        position = xml.find(formula, position + 1, end)
    return False


def _is_utf8(data: bytes | bytearray) -> bool:
    """Whether ``data`` is UTF-8, checked a slice at a time (never decoded whole)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(data), _CHECK_SLICE):
            decoder.decode(data[start : start + _CHECK_SLICE])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _check_encoding(head: bytes | bytearray) -> None:
    """NeedsTree for a sheet whose XML declaration names an encoding other than UTF-8."""
    declared = _ENCODING.match(head)
    if declared is not None and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        raise NeedsTree


def _utf8_checked(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks`` as they come; NeedsTree once they are not UTF-8 (as :func:`_is_utf8`)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for chunk in chunks:
            if not chunk.isascii() or decoder.getstate()[0]:
                decoder.decode(chunk)
            yield chunk
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise NeedsTree from None


def _attributes(tag: str) -> dict[str, str]:
    return {m.group(1): m.group(2) or m.group(3) or "" for m in _ATTRIBUTE.finditer(tag)}


def _widen_spans(start_tag: str, low: int, high: int) -> str:
    """The row's ``spans`` hint widened to include columns ``low``..``high``."""
    match = _SPANS.search(start_tag)
    if match is None:
        return start_tag
    new = _widened(match.group(2), low, high)
    if new == match.group(2):
        return start_tag
    return start_tag[: match.start(2)] + new + start_tag[match.end(2) :]


@functools.lru_cache(maxsize=256)
def _widened(spans: str, low: int, high: int) -> str:
    """``spans`` (``"1:5"``) widened to ``low``..``high``: the same few on every row."""
    bounds = [int(n) for n in re.findall(r"[0-9]+", spans)] or [low]
    return f"{min(*bounds, low)}:{max(*bounds, high)}"
