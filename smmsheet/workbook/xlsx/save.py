"""The save: plan every part a save changes, then write the zip (or only measure it).

Ties the layers together: :mod:`.opc` locates the parts, :mod:`.sheet_patch` patches the
sheets and the calc chain, :mod:`.styles` adds date formats, :mod:`.zipio` writes.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Protocol, cast

from .columns import add_columns
from .names import CALC_CHAIN_REL, CONTENT_TYPES_PART, NEW_SHEET_XML, STYLES_REL
from .opc import (
    Package,
    PartChunks,
    needs_recalc_flag,
    parse_xml,
    register_sheet,
    serialize_xml,
    store_marker,
)
from .sheet_patch import Output, Patched, SheetEdit, patch_sheet, prune_calc_chain
from .styles import DateStyles
from .zipio import ZIP_DEFLATED, CountingSink, Deflated, write_zip

__all__ = ["dry_run_package", "PartsEdit", "Plan", "plan_package", "Ready", "rewrite_package"]


#: The largest sheet (its XML, inflated) a save reads whole; a larger one is patched as it
#: inflates, a segment of rows at a time (:class:`~.sheet_stream.StreamPatcher`): a
#: million-row sheet's 250 MB is then never held while the run's rows are (issue 14 bounds
#: that run at 1.5 GB). Whole, the rows are read once; as chunks, once more if only the
#: tree patcher can take them.
HELD_WHOLE = 32 << 20


class PartsEdit(Protocol):
    """A save's edit beyond cell values (a sheet of charts: :mod:`.chart_sheet`)."""

    def apply(
        self,
        package: Package,
        styles: DateStyles,
        replaced: dict[str, bytes | Deflated | None],
        added: list[tuple[str, bytes]],
    ) -> bool:
        """Put the parts it writes in ``replaced``/``added``; True if ``workbook.xml`` changed."""
        ...


@dataclass
class Plan:
    """What a save changes: parts replaced (None: removed) and parts added."""

    replaced: dict[str, bytes | Deflated | None]
    added: list[tuple[str, bytes]]


@dataclass
class Ready:
    """Sheets patched before the save began (:mod:`.prepared`), and what they were read from:
    the save goes on from the same file, package and date styles."""

    source: IO[bytes]
    package: Package
    styles: DateStyles
    sheets: Mapping[str, Patched]


def rewrite_package(
    source: IO[bytes],
    out: IO[bytes],
    pending: Mapping[str, SheetEdit],
    label: str,
    marker: str | None = None,
    extras: Sequence[PartsEdit] = (),
    ready: Ready | None = None,
) -> None:
    """Write the workbook read from ``source`` to ``out`` with ``pending`` applied.

    With ``ready``, ``source`` is the file its sheets were patched from (``ready.source``).
    """
    if ready is not None:
        archive = ready.package.archive
        plan = plan_package(archive, pending, label, marker, extras=extras, ready=ready)
        write_zip(archive, source, out, plan.replaced, plan.added)
        return
    with zipfile.ZipFile(source) as archive:
        plan = plan_package(archive, pending, label, marker, extras=extras)
        write_zip(archive, source, out, plan.replaced, plan.added)


def dry_run_package(
    source: IO[bytes],
    pending: Mapping[str, SheetEdit],
    label: str,
    cache: dict[str, bytes | bytearray],
    marker: str | None,
    extras: Sequence[PartsEdit] = (),
) -> int:
    """Everything a save does but writing the result; about how many bytes it would write.

    The same code runs as in :func:`rewrite_package`, so whatever would make the save
    raise raises here; patched parts are measured rather than kept or compressed, and the
    zip is written to a sink that only counts. Every part a save might rewrite is parsed
    too (the content types, styles and calc chain are otherwise parsed only when needed).
    Parts are inflated once into ``cache`` for all the dry runs of one check.
    """
    with zipfile.ZipFile(source) as archive:
        plan = plan_package(archive, pending, label, marker, cache, extras)
        sink = CountingSink()
        write_zip(archive, source, cast(IO[bytes], sink), plan.replaced, plan.added)
        estimate = sink.size
        for part, content in plan.replaced.items():
            if isinstance(content, Deflated):  # counted as empty by the sink
                member = archive.getinfo(part)
                ratio = member.compress_size / member.file_size if member.file_size else 1.0
                estimate += int(content.size * min(ratio, 1.0)) + 1
        return estimate


def plan_package(
    archive: zipfile.ZipFile,
    pending: Mapping[str, SheetEdit],
    label: str,
    marker: str | None = None,
    cache: dict[str, bytes | bytearray] | None = None,
    extras: Sequence[PartsEdit] = (),
    ready: Ready | None = None,
) -> Plan:
    """Patch every part a save changes, in memory; with a ``cache`` (a dry run) only sized.

    Sheets in ``ready`` are taken as they were patched, with its package and styles.
    """
    dry_run = cache is not None
    package = Package(archive, label, cache) if ready is None else ready.package
    if dry_run:
        _parse_rewritable_parts(package)
    replaced: dict[str, bytes | Deflated | None] = {}  # part -> new content, None = gone
    added: list[tuple[str, bytes]] = []
    styles = DateStyles(package) if ready is None else ready.styles
    done = ready.sheets if ready is not None else {}
    removed_formulas: set[tuple[str, str]] = set()
    any_formula = False
    workbook_changed = False
    for name, edit in pending.items():
        info = package.sheets.get(name.casefold())
        original: bytes | bytearray | PartChunks
        if info is None:
            info = register_sheet(package, name)
            original = NEW_SHEET_XML
            added.append((info.part, b""))
            workbook_changed = True
        elif name in done:
            original = b""  # patched already
        elif dry_run or package.size(info.part) <= HELD_WHOLE:
            original = package.read_buffer(info.part)
        else:
            original = package.chunks(info.part)
        where = f"{label}, sheet {name!r}"
        member = package.by_lower[info.part.lower()]
        output: Output = "bytes"
        if dry_run:
            output = "size"
        elif not edit.is_new and archive.getinfo(member).compress_type == ZIP_DEFLATED:
            output = "deflate"
        if edit.columns is not None:
            output = "bytes"  # the new columns' pass reads the patched XML
        patched = done.get(name)
        if patched is None:
            patched = patch_sheet(original, edit, package.date1904, styles, where, output)
        if edit.columns is not None:
            assert isinstance(patched.xml, bytes)
            xml = add_columns(package, info.part, patched.xml, edit.columns, styles, replaced)
            patched.xml = Deflated(b"", 0, len(xml)) if dry_run and not edit.is_new else xml
        any_formula = any_formula or patched.has_formulas
        removed_formulas.update((info.sheet_id, ref) for ref in patched.removed_formulas)
        if edit.is_new:
            assert isinstance(patched.xml, bytes)
            added[-1] = (info.part, patched.xml)
        else:
            replaced[member] = patched.xml
    for extra in extras:
        workbook_changed = extra.apply(package, styles, replaced, added) or workbook_changed
    if removed_formulas:
        prune_calc_chain(package, removed_formulas, replaced)
    if styles.changed:
        replaced[package.by_lower[styles.part.lower()]] = styles.result()
    patched_parts = [package.sheets[name.casefold()].part for name in pending]
    patched_parts += [part for part, _ in added]  # new parts: nothing stale to recalculate
    if needs_recalc_flag(package, any_formula, patched_parts):
        workbook_changed = True
    if marker is not None:
        store_marker(package, marker)
        workbook_changed = True
    if workbook_changed:
        replaced[package.by_lower[package.workbook_part.lower()]] = serialize_xml(
            package.workbook_tree, package.workbook_xml
        )
    if package.rels_changed:
        replaced[package.by_lower[package.workbook_rels_part.lower()]] = serialize_xml(
            package.workbook_rels_tree, package.workbook_rels_xml
        )
    if package.content_types_changed:
        replaced[package.by_lower[CONTENT_TYPES_PART.lower()]] = serialize_xml(
            package.content_types, package.read(CONTENT_TYPES_PART)
        )
    if dry_run:
        for part, content in replaced.items():
            if isinstance(content, bytes):
                replaced[part] = Deflated(b"", 0, len(content))
    return Plan(replaced, added)


def _parse_rewritable_parts(package: Package) -> None:
    """Parse the parts a save may have to rewrite, so XML lxml rejects is found up front."""
    parts = [CONTENT_TYPES_PART]
    for suffix in (STYLES_REL, CALC_CHAIN_REL):
        rel = package.rel_of_type(suffix)
        if rel is not None and package.has(rel.target):
            parts.append(rel.target)
    for part in parts:
        parse_xml(package.read(part), part)
