"""Styles: find or add the cell format a date needs in ``styles.xml``.

A date written into a cell without a date format gets one appended cell format: the cell's
own format with a date number format. A column smmsheet adds gets one for its number format
(:meth:`DateStyles.number_style`). Imports :mod:`.opc` and :mod:`.names`.
"""

from __future__ import annotations

import copy
import re
from typing import Any, NamedTuple

from lxml import etree

from .names import STYLES_REL
from .opc import DocInfo, Package, doc_info, namespaced, parse_xml, serialize_xml

__all__ = ["DateStyles", "StylesState", "is_date_code"]


# Built-in number formats that are dates or times (ECMA-376 18.8.30, CJK ids included).
_BUILTIN_DATE_FORMATS = frozenset(
    [*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59), *range(71, 82)]
)
_DATE_FORMAT_ID = 14  # m/d/yyyy, shown in the user's locale
_DATETIME_FORMAT_ID = 22  # m/d/yyyy h:mm
#: Built-in number formats by code (ECMA-376 18.8.30); other codes get a numFmt of their own.
_BUILTIN_NUMBER_FORMATS = {"General": 0, "0": 1, "0.00": 2, "#,##0": 3, "#,##0.00": 4, "0%": 9}
_FIRST_CUSTOM_FORMAT = 164


class DateStyles:
    """Finds or adds a cell format that shows dates, starting from a cell's own format."""

    def __init__(self, package: Package) -> None:
        self.package = package
        rel = package.rel_of_type(STYLES_REL)
        self.part = rel.target if rel is not None and package.has(rel.target) else ""
        self.changed = False
        self._tree: Any = None
        self._original = b""
        self._docinfo: DocInfo | None = None  # the original's, for a tree parsed apart
        self._cache: dict[tuple[int, bool], int | None] = {}
        self._numbers: dict[tuple[str, str], int | None] = {}

    def style_for(self, style: int, with_time: bool) -> int | None:
        """The cell format to use for a date in a cell formatted ``style`` (None: keep it)."""
        key = (style, with_time)
        if key not in self._cache:
            self._cache[key] = self._date_style(style, with_time)
        return self._cache[key]

    def _date_style(self, style: int, with_time: bool) -> int | None:
        if not self.part:
            return None  # no styles part: the date stays a bare serial number
        if self._tree is None:
            self._original = self.package.read(self.part)
            self._tree = parse_xml(self._original, self.part)
        root = self._tree.getroot()
        q = namespaced(root)
        cell_xfs = root.find(q("cellXfs"))
        if cell_xfs is None:
            return None
        xfs = list(cell_xfs.iterchildren(q("xf")))
        if style >= len(xfs):
            return None
        xf = xfs[style]
        if self._is_date_format(int(xf.get("numFmtId", "0")), root):
            return style
        clone = copy.deepcopy(xf)
        clone.set("numFmtId", str(_DATETIME_FORMAT_ID if with_time else _DATE_FORMAT_ID))
        clone.set("applyNumberFormat", "1")
        xfs[-1].addnext(clone)
        cell_xfs.set("count", str(len(xfs) + 1))
        self.changed = True
        return len(xfs)

    @staticmethod
    def _is_date_format(num_fmt_id: int, root: Any) -> bool:
        if num_fmt_id in _BUILTIN_DATE_FORMATS:
            return True
        q = namespaced(root)
        for num_fmt in root.iterfind(f"{q('numFmts')}/{q('numFmt')}"):
            if num_fmt.get("numFmtId") == str(num_fmt_id):
                return is_date_code(num_fmt.get("formatCode", ""))
        return False

    def number_style(self, code: str) -> int | None:
        """A cell format showing numbers as ``code``: the default format with that number
        format, added once per code (None: the workbook has no styles to add it to)."""
        key = ("number", code)
        if key not in self._numbers:
            self._numbers[key] = self._number_style(code)
        return self._numbers[key]

    def _number_style(self, code: str) -> int | None:
        root = self._root()
        if root is None:
            return None
        q = namespaced(root)
        cell_xfs = root.find(q("cellXfs"))
        xfs = [] if cell_xfs is None else list(cell_xfs.iterchildren(q("xf")))
        if not xfs:
            return None
        num_fmt_id = _BUILTIN_NUMBER_FORMATS.get(code)
        if num_fmt_id is None:
            num_fmts = root.find(q("numFmts"))
            if num_fmts is None:
                num_fmts = root.makeelement(q("numFmts"), {"count": "0"})
                root.insert(0, num_fmts)
            existing = list(num_fmts.iterchildren(q("numFmt")))
            for num_fmt in existing:
                if num_fmt.get("formatCode") == code:
                    num_fmt_id = int(num_fmt.get("numFmtId", "0"))
                    break
            else:
                ids = [int(n.get("numFmtId", "0")) for n in existing]
                num_fmt_id = max([_FIRST_CUSTOM_FORMAT - 1, *ids]) + 1
                element = root.makeelement(
                    q("numFmt"), {"numFmtId": str(num_fmt_id), "formatCode": code}
                )
                num_fmts.append(element)
                num_fmts.set("count", str(len(existing) + 1))
        clone = copy.deepcopy(xfs[0])
        clone.set("numFmtId", str(num_fmt_id))
        clone.set("applyNumberFormat", "1")
        xfs[-1].addnext(clone)
        cell_xfs.set("count", str(len(xfs) + 1))
        self.changed = True
        return len(xfs)

    def cell_style_count(self) -> int:
        """How many cell formats there are (a style index at or past it does not exist)."""
        root = self._root()
        if root is None:
            return 0
        q = namespaced(root)
        cell_xfs = root.find(q("cellXfs"))
        return 0 if cell_xfs is None else len(list(cell_xfs.iterchildren(q("xf"))))

    def _root(self) -> Any:
        if not self.part:
            return None
        if self._tree is None:
            self._original = self.package.read(self.part)
            self._tree = parse_xml(self._original, self.part)
        return self._tree.getroot()

    def result(self) -> bytes:
        return serialize_xml(self._tree, self._original, self._docinfo)

    def export(self) -> StylesState:
        """What this has found and added, as plain data: to go on in another process
        (:mod:`.prepared_process`) with :meth:`adopt`."""
        tree = self._tree
        xml = None if tree is None else etree.tostring(tree, encoding="UTF-8")
        docinfo = None if tree is None else self._docinfo or doc_info(tree)
        return StylesState(
            self.part,
            self.changed,
            self._original,
            xml,
            docinfo,
            dict(self._cache),
            dict(self._numbers),
        )

    @classmethod
    def adopt(cls, package: Package, state: StylesState) -> DateStyles:
        """Styles of ``package`` (the same file's bytes) as ``state`` left them."""
        styles = cls(package)
        if styles.part != state.part:
            raise ValueError("the styles were found in another part")
        styles.changed, styles._original = state.changed, state.original
        if state.xml is not None:
            styles._tree = parse_xml(state.xml, state.part)
            styles._docinfo = state.docinfo
        styles._cache, styles._numbers = dict(state.cache), dict(state.numbers)
        return styles


class StylesState(NamedTuple):
    """:meth:`DateStyles.export`: the part, whether it changed, its bytes as read and as
    they now stand (None: not read) with the declaration they were read with, and the
    formats found or added."""

    part: str
    changed: bool
    original: bytes
    xml: bytes | None
    docinfo: DocInfo | None
    cache: dict[tuple[int, bool], int | None]
    numbers: dict[tuple[str, str], int | None]


def is_date_code(code: str) -> bool:
    """Whether a custom number format shows a date or time (quoted text and colours ignored)."""
    code = re.sub(r'"[^"]*"|\\.|_.|\*.', "", code)
    code = re.sub(r"\[(?![hms]+\])[^\]]*\]", "", code, flags=re.IGNORECASE)
    return re.search(r"[ymdhs]", code, flags=re.IGNORECASE) is not None
