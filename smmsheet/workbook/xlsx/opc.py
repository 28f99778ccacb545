"""The OPC package: the parts of an open .xlsx zip, their relationships and content types.

:class:`Package` locates the workbook part, its sheets, styles and calc chain; the functions
here edit ``workbook.xml``, its relationships and ``[Content_Types].xml`` (registering a
new sheet, the recalculation flag, the journal marker) and parse and serialize parts.
Imports :mod:`.names`, :mod:`.zipsafe`, :mod:`..base` and lxml.
"""

from __future__ import annotations

import posixpath
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, cast
from urllib.parse import quote, unquote

from lxml import etree

from smmsheet.errors import WorkbookError

from ..base import MARKER_NAME
from .names import (
    CALC_CHAIN_REL,
    CONTENT_TYPES_PART,
    CT_NS,
    OFFICE_DOCUMENT_REL,
    PKG_REL_NS,
    TRANSITIONAL_REL_NS,
    WORKBOOK_ORDER,
    WORKSHEET_CT,
    WORKSHEET_REL,
)
from .zipsafe import inflate, read_part

__all__ = [
    "DAMAGED",
    "DamagedPart",
    "insert_in_order",
    "namespaced",
    "needs_recalc_flag",
    "Package",
    "parse_xml",
    "read_rels",
    "register_sheet",
    "Rel",
    "rels_part",
    "serialize_xml",
    "SheetInfo",
    "store_marker",
    "stored_marker",
]


_PROLOG = re.compile(rb"^(\xef\xbb\xbf)?\s*<\?xml[^>]*\?>\s*")
_FORMULA_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")


class DamagedPart(Exception):
    """A part the writer's XML parser rejects (though a reader may have accepted it)."""


#: What a malformed package raises while it is read; save reports it as a damaged file.
DAMAGED: tuple[type[Exception], ...] = (
    DamagedPart,
    zipfile.BadZipFile,
    etree.XMLSyntaxError,
    zlib.error,
    EOFError,
    struct.error,
)


@dataclass
class Rel:
    rel_id: str
    rel_type: str
    target: str  # resolved part name, no leading "/"
    element: Any


@dataclass
class SheetInfo:
    name: str
    sheet_id: str
    part: str


class Package:
    """The parts of an open zip that locate sheets, styles and the calc chain."""

    def __init__(
        self,
        archive: zipfile.ZipFile,
        label: str,
        cache: dict[str, bytes | bytearray] | None = None,
        *,
        lenient: bool = False,
    ) -> None:
        self.archive = archive
        self.label = label
        self._cache = cache  # parts already inflated, shared by the passes of a dry run
        self._lenient = lenient  # reading only: XML the writer rejects is read as best it can
        self.by_lower = {info.filename.lower(): info.filename for info in archive.infolist()}
        root_rels = self.rels("")
        office = [rel for rel in root_rels.values() if rel.rel_type.endswith(OFFICE_DOCUMENT_REL)]
        if not office:
            raise WorkbookError(f"{label} has no workbook part")
        self.workbook_part = office[0].target
        self.workbook_xml = self.read(self.workbook_part)
        self.workbook_tree = parse_xml(self.workbook_xml, self.workbook_part, lenient)
        self.workbook_rels_part = rels_part(self.workbook_part)
        self.workbook_rels_xml = self.read(self.workbook_rels_part)
        self.workbook_rels_tree = parse_xml(
            self.workbook_rels_xml, self.workbook_rels_part, lenient
        )
        self.workbook_rels = read_rels(self.workbook_rels_tree, self.workbook_part)
        root = self.workbook_tree.getroot()
        self.main_ns = etree.QName(root).namespace or ""
        self.sheets: dict[str, SheetInfo] = {}
        self.sheet_elements = root.find(self.q("sheets"))
        if self.sheet_elements is None:
            raise WorkbookError(f"{label} has no sheets")
        self.rel_ns = TRANSITIONAL_REL_NS
        for element in self.sheet_elements.iterchildren(self.q("sheet")):
            rel_id = None
            for key, value in element.attrib.items():
                qname = etree.QName(key)
                if qname.localname == "id" and (qname.namespace or "").endswith("relationships"):
                    rel_id, self.rel_ns = value, qname.namespace or self.rel_ns
            rel = self.workbook_rels.get(rel_id or "")
            if rel is not None and rel.rel_type.endswith(WORKSHEET_REL):
                name = element.get("name", "")
                self.sheets[name.casefold()] = SheetInfo(
                    name, element.get("sheetId", "0"), rel.target
                )
        pr = root.find(self.q("workbookPr"))
        self.date1904 = pr is not None and pr.get("date1904", "0").lower() in ("1", "true")
        self.rels_changed = False
        self._types_tree: Any = None

    @property
    def content_types(self) -> Any:
        """[Content_Types].xml, parsed on first use because few saves change it."""
        if self._types_tree is None:
            self._types_tree = parse_xml(self.read(CONTENT_TYPES_PART), CONTENT_TYPES_PART)
        return self._types_tree

    @property
    def content_types_changed(self) -> bool:
        return self._types_tree is not None

    def q(self, tag: str) -> str:
        return f"{{{self.main_ns}}}{tag}" if self.main_ns else tag

    def read(self, part: str) -> bytes:
        name = self._name(part)
        if self._cache is None:
            return read_part(self.archive, self.archive.getinfo(name), self.label)
        data = self._cache.get(name)
        if data is None:
            data = read_part(self.archive, self.archive.getinfo(name), self.label)
            self._cache[name] = data
        return bytes(data) if isinstance(data, bytearray) else data

    def read_buffer(self, part: str) -> bytes | bytearray:
        """A part inflated straight into one buffer of its declared size: how a sheet is read
        for patching. Joining inflated chunks (:func:`.zipsafe.read_part`) needs twice a part's
        size for a moment (a million-row sheet: 250 MB more at the peak of a save). The size
        limits and the CRC still hold.
        """
        name = self._name(part)
        if self._cache is not None and name in self._cache:
            return self._cache[name]
        buffer = bytearray(self.size(part))
        view = memoryview(buffer)
        position = 0
        for chunk in self.chunks(part):
            view[position : position + len(chunk)] = chunk
            position += len(chunk)
        view.release()
        if self._cache is not None:
            self._cache[name] = buffer
        return buffer

    def size(self, part: str) -> int:
        """How many bytes a part declares it holds, inflated."""
        return int(self.archive.getinfo(self._name(part)).file_size)

    def chunks(self, part: str) -> PartChunks:
        """A part as it inflates, :data:`CHUNK` bytes at most at a time, read anew each time
        it is iterated: a sheet too large to hold whole (:data:`.save.HELD_WHOLE`)."""
        return PartChunks(self.archive, self.archive.getinfo(self._name(part)), self.label)

    def _name(self, part: str) -> str:
        name = self.by_lower.get(part.lower())
        if name is None:
            raise WorkbookError(f"{self.label} is missing its part {part}")
        return name

    def has(self, part: str) -> bool:
        return part.lower() in self.by_lower

    def rels(self, part: str) -> dict[str, Rel]:
        name = rels_part(part)
        if not self.has(name):
            return {}
        return read_rels(parse_xml(self.read(name), name, self._lenient), part)

    def rel_of_type(self, suffix: str) -> Rel | None:
        for rel in self.workbook_rels.values():
            if rel.rel_type.endswith(suffix):
                return rel
        return None

    def has_formulas(self, patched: Iterable[str]) -> bool:
        """Whether any sheet not being patched holds a formula (streamed, stops at the first)."""
        skip = {part.lower() for part in patched}
        for info in self.sheets.values():
            if info.part.lower() in skip or not self.has(info.part):
                continue
            with self.archive.open(self.by_lower[info.part.lower()]) as stream:
                tail = b""
                while chunk := stream.read(1 << 20):
                    if _FORMULA_TAG.search(tail + chunk):
                        return True
                    tail = chunk[-32:]
        return False


#: The most a part's chunk holds, inflated.
CHUNK = 1 << 20


class PartChunks:
    """One part's content, inflated a chunk at a time each time it is iterated, never more
    than it declares; its CRC checked after the last chunk (a mismatch raises)."""

    def __init__(self, archive: zipfile.ZipFile, member: zipfile.ZipInfo, label: str) -> None:
        self.archive, self.member, self.label = archive, member, label

    def __iter__(self) -> Iterator[bytes]:
        member = self.member
        crc = 0
        for chunk in inflate(cast(IO[bytes], self.archive.fp), member, self.label, CHUNK):
            crc = zlib.crc32(chunk, crc)
            yield chunk
        if crc != member.CRC:
            raise zipfile.BadZipFile(f"Bad CRC-32 for file {member.filename!r}")


def rels_part(part: str) -> str:
    directory, base = posixpath.split(part)
    return posixpath.join(directory, "_rels", f"{base}.rels")


def read_rels(tree: Any, source_part: str) -> dict[str, Rel]:
    base = posixpath.dirname(source_part)
    out: dict[str, Rel] = {}
    for element in tree.getroot():
        if etree.QName(element).localname != "Relationship":
            continue
        if element.get("TargetMode") == "External":
            continue
        target = unquote(element.get("Target", ""))
        if target.startswith("/"):
            resolved = posixpath.normpath(target).lstrip("/")
        else:
            resolved = posixpath.normpath(posixpath.join("/", base, target)).lstrip("/")
        rel_id = element.get("Id", "")
        out[rel_id] = Rel(rel_id, element.get("Type", ""), resolved, element)
    return out


def parse_xml(data: bytes, part: str, lenient: bool = False) -> Any:
    """``data`` as an lxml tree; XML lxml rejects is reported with the part it came from.

    ``lenient`` (for reading only) recovers what it can from XML that is not well formed.
    """
    parser = etree.XMLParser(
        huge_tree=True, resolve_entities=False, no_network=True, recover=lenient
    )
    try:
        return etree.ElementTree(etree.fromstring(data, parser))
    except etree.XMLSyntaxError as exc:
        raise DamagedPart(f"{part} is not XML smmsheet can rewrite ({exc})") from exc


def serialize_xml(tree: Any, original: bytes, docinfo: DocInfo | None = None) -> bytes:
    """``tree`` as bytes, keeping the original XML declaration byte-for-byte when UTF-8.

    ``docinfo`` stands for the tree's own when it was parsed from other bytes than
    ``original`` (a tree sent from another process: :meth:`~.styles.DateStyles.adopt`).
    """
    encoding, standalone = docinfo or doc_info(tree)
    prolog = _PROLOG.match(original)
    if prolog is not None and (encoding or "UTF-8").upper() in ("UTF-8", "UTF8"):
        body: bytes = etree.tostring(tree, encoding="UTF-8", xml_declaration=False)
        return prolog.group(0) + body
    whole: bytes = etree.tostring(
        tree, encoding="UTF-8", xml_declaration=True, standalone=standalone
    )
    return whole


#: A parsed document's declared encoding and standalone flag (None: not declared).
DocInfo = tuple[str | None, bool | None]


def doc_info(tree: Any) -> DocInfo:
    return tree.docinfo.encoding, tree.docinfo.standalone


def _marker_element(package: Package) -> Any:
    """The workbook-level ``<definedName>`` that holds the journal marker, if any."""
    names = package.workbook_tree.getroot().find(package.q("definedNames"))
    if names is None:
        return None
    wanted = MARKER_NAME.casefold()
    for element in names.iterchildren(package.q("definedName")):
        if element.get("name", "").casefold() == wanted and element.get("localSheetId") is None:
            return element
    return None


def stored_marker(package: Package) -> str | None:
    """The marker's text: the defined name's string constant, unquoted."""
    element = _marker_element(package)
    if element is None:
        return None
    value = (element.text or "").strip().removeprefix("=")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('""', '"')
    return value  # not a text constant (edited by hand): the engine will see it differs


def store_marker(package: Package, text: str) -> None:
    """Store ``text`` as a hidden workbook-level name, creating ``<definedNames>`` if needed."""
    element = _marker_element(package)
    if element is None:
        root = package.workbook_tree.getroot()
        names = root.find(package.q("definedNames"))
        if names is None:
            names = etree.Element(package.q("definedNames"))
            insert_in_order(root, names, WORKBOOK_ORDER)
        element = etree.SubElement(names, package.q("definedName"))
        element.set("name", MARKER_NAME)
    element.set("hidden", "1")
    element.text = '"' + text.replace('"', '""') + '"'


def needs_recalc_flag(package: Package, any_formula: bool, patched: list[str]) -> bool:
    """Ask Excel to recalculate on open when formulas may show results from before our writes."""
    calc_pr = package.workbook_tree.getroot().find(package.q("calcPr"))
    if calc_pr is not None and calc_pr.get("fullCalcOnLoad", "0").lower() in ("1", "true"):
        return False
    has_formulas = (
        any_formula
        or package.rel_of_type(CALC_CHAIN_REL) is not None
        or package.has_formulas(patched)
    )
    if not has_formulas:
        return False
    if calc_pr is None:
        calc_pr = etree.Element(package.q("calcPr"))
        insert_in_order(package.workbook_tree.getroot(), calc_pr, WORKBOOK_ORDER)
    calc_pr.set("fullCalcOnLoad", "1")
    return True


def insert_in_order(parent: Any, child: Any, order: Sequence[str]) -> None:
    """Insert ``child`` where the schema's element order puts it among ``parent``'s children."""
    rank = order.index(etree.QName(child).localname)
    for index, existing in enumerate(parent):
        name = etree.QName(existing).localname if isinstance(existing.tag, str) else ""
        if name in order and order.index(name) > rank:
            parent.insert(index, child)
            return
    parent.append(child)


def register_sheet(package: Package, name: str) -> SheetInfo:
    """Add a worksheet part for ``name`` to workbook.xml, its rels and the content types."""
    taken = set(package.by_lower)
    base = posixpath.dirname(package.workbook_part)
    number = 1
    while posixpath.join(base, f"worksheets/sheet{number}.xml").lower() in taken:
        number += 1
    part = posixpath.join(base, f"worksheets/sheet{number}.xml")

    rels_root = package.workbook_rels_tree.getroot()
    ids = {element.get("Id", "") for element in rels_root}
    next_id = 1 + max((int(i[3:]) for i in ids if i[:3] == "rId" and i[3:].isdigit()), default=0)
    rel_id = f"rId{next_id}"
    sheet_type = next(
        (
            rel.rel_type
            for rel in package.workbook_rels.values()
            if rel.rel_type.endswith(WORKSHEET_REL)
        ),
        TRANSITIONAL_REL_NS + WORKSHEET_REL,
    )
    rel_ns = etree.QName(rels_root).namespace or PKG_REL_NS
    rel = etree.SubElement(rels_root, f"{{{rel_ns}}}Relationship")
    rel.set("Id", rel_id)
    rel.set("Type", sheet_type)
    rel.set("Target", quote(posixpath.relpath(part, base or ".")))
    package.rels_changed = True

    sheet_ids = [int(s.get("sheetId", "0")) for s in package.sheet_elements]
    sheet_id = str(max(sheet_ids, default=0) + 1)
    element = etree.SubElement(package.sheet_elements, package.q("sheet"))
    element.set("name", name)
    element.set("sheetId", sheet_id)
    element.set(f"{{{package.rel_ns}}}id", rel_id)

    types_root = package.content_types.getroot()
    types_ns = etree.QName(types_root).namespace or CT_NS
    override = etree.SubElement(types_root, f"{{{types_ns}}}Override")
    override.set("PartName", "/" + part)
    override.set("ContentType", WORKSHEET_CT)

    info = SheetInfo(name, sheet_id, part)
    package.sheets[name.casefold()] = info
    package.by_lower[part.lower()] = part
    return info


def namespaced(element: Any) -> Callable[[str], str]:
    namespace = etree.QName(element).namespace
    return (lambda tag: f"{{{namespace}}}{tag}") if namespace else (lambda tag: tag)
