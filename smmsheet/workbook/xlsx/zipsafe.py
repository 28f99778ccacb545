"""Opening a workbook's zip without trusting it: size limits that stop zip bombs.

A 1 MiB .xlsx whose sheet inflates to 1 GiB of XML once took 5.1 GB of memory and 32 s
to read. Every part's sizes are declared in the zip's central directory, so they are
checked before anything is inflated: a part may not inflate beyond :data:`MAX_PART_BYTES`,
the whole package beyond :data:`MAX_TOTAL_BYTES`, and a part (or the package) larger
than :data:`RATIO_FREE_BYTES` may not inflate more than :data:`MAX_RATIO` times its
compressed size. A declared size can lie, so nothing ever inflates more than a part
declares: :func:`inflate` and :func:`read_part` stop at it, and so does calamine's zip
reader ("File is larger than its declared uncompressed size"). ``ZipFile.read`` does not:
it inflates a whole part before cutting it at the declared size, so parts are never read
with it.

Example::

    with zipfile.ZipFile(path) as archive:
        check_sizes(archive, path.name)      # WorkbookError for a zip bomb
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO

from smmsheet.errors import WorkbookError

__all__ = [
    "MAX_PART_BYTES",
    "MAX_RATIO",
    "MAX_TOTAL_BYTES",
    "RATIO_FREE_BYTES",
    "check_sizes",
    "inflate",
    "read_part",
]

#: The most one part may inflate to. Excel's largest order sheet (1,048,576 rows x 20
#: columns) is 0.5 to 1.6 GB of XML: 463 bytes a row when the cells are numbers or
#: shared strings, 1,590 when all 20 are inline text as smmsheet writes its results
#: (measured on generated rows). 4 GiB leaves 2.5 times that.
MAX_PART_BYTES = 4 * 2**30
#: The most all parts together may inflate to: the order sheet, a Services sheet, shared
#: strings and styles of the largest workbook fit twice over.
MAX_TOTAL_BYTES = 8 * 2**30
#: Real sheet XML deflates 9 to 27 times (an all-empty formatted sheet, identical text
#: rows; row and cell numbers keep it from compressing further); a zip bomb reaches
#: 1,000 times, the most deflate allows. 100 keeps four times the honest worst case.
MAX_RATIO = 100
#: Parts (and packages) up to this size are read whatever their ratio: they cost about
#: a second at most, and tiny repetitive parts (styles, drawings) compress very well.
RATIO_FREE_BYTES = 64 * 2**20

_CHUNK = 4 * 2**20  # inflated bytes handed over at a time
_MiB = 2**20


def check_sizes(archive: zipfile.ZipFile, label: str) -> None:
    """Refuse a package whose declared sizes are a zip bomb's, before inflating anything.

    Also refuse one that holds a part twice: which copy a reader sees differs between
    programs (the order sheet Excel shows need not be the one smmsheet would buy from).
    """
    total = packed_total = 0
    seen: set[str] = set()
    for member in archive.infolist():
        name = member.filename.lower()  # part names compare ignoring case (OPC)
        if name in seen:
            raise WorkbookError(
                f"{label} is refused: it holds the part {member.filename} twice, and "
                "programs differ in which one they read; save it again in Excel first"
            )
        seen.add(name)
        size, packed = member.file_size, member.compress_size
        if size > MAX_PART_BYTES:
            raise WorkbookError(
                f"{label} is refused: its part {member.filename} would inflate to "
                f"{size / 2**30:,.1f} GiB, more than the {MAX_PART_BYTES // 2**30} GiB "
                "smmsheet reads from one part"
            )
        _check_ratio(label, f"its part {member.filename}", size, packed)
        total += size
        packed_total += packed
    if total > MAX_TOTAL_BYTES:
        raise WorkbookError(
            f"{label} is refused: its parts would inflate to {total / 2**30:,.1f} GiB, "
            f"more than the {MAX_TOTAL_BYTES // 2**30} GiB smmsheet reads from one workbook"
        )
    _check_ratio(label, "its parts together", total, packed_total)


def _check_ratio(label: str, what: str, size: int, packed: int) -> None:
    if size <= RATIO_FREE_BYTES or size <= MAX_RATIO * packed:
        return
    raise WorkbookError(
        f"{label} is refused as a likely zip bomb: {what} would inflate "
        f"{size / max(packed, 1):,.0f} times, from {packed / _MiB:,.2f} MiB to "
        f"{size / _MiB:,.0f} MiB (a workbook's parts inflate at most {MAX_RATIO} times)"
    )


def inflate(
    source: IO[bytes], member: zipfile.ZipInfo, label: str, chunk: int = _CHUNK
) -> Iterator[bytes]:
    """``member``'s content in chunks of at most ``chunk`` bytes, never more than it declares.

    Stored and deflated parts (all Excel writes) are inflated here without a CRC check,
    which calamine does when it reads the part; other methods go through ``zipfile``.
    """
    if member.flag_bits & 0x1:
        raise WorkbookError(f"{label}: the zip member {member.filename} is encrypted")
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        with zipfile.ZipFile(source) as archive, archive.open(member) as stream:
            while data := stream.read(chunk):
                yield data
        return
    produced = 0
    for data in _raw_chunks(source, member, chunk):
        produced += len(data)
        if produced > member.file_size:
            raise WorkbookError(
                f"{label} is refused: its part {member.filename} holds more than the "
                f"{member.file_size:,} bytes it declares (a damaged file or a zip bomb)"
            )
        yield data
    if produced < member.file_size:
        raise zipfile.BadZipFile(f"{member.filename} is shorter than it declares")


def read_part(archive: zipfile.ZipFile, member: zipfile.ZipInfo, label: str) -> bytes:
    """``member``'s whole content, inflated no further than it declares, its CRC checked.

    ``ZipFile.read`` inflates all of a deflated part at once and only then cuts it at the
    declared size, so a part that lies about its size costs all the memory it holds.
    """
    assert archive.fp is not None, "the archive is open"
    data = b"".join(inflate(archive.fp, member, label))
    if zlib.crc32(data) != member.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {member.filename!r}")
    return data


def _raw_chunks(source: IO[bytes], member: zipfile.ZipInfo, chunk: int) -> Iterator[bytes]:
    """A stored or deflated member's content, ``chunk`` bytes at most at a time."""
    position = data_offset(source, member)
    left = member.compress_size
    stored = member.compress_type == zipfile.ZIP_STORED
    inflater = zlib.decompressobj(-15)
    while not inflater.eof:
        if inflater.unconsumed_tail:
            data = inflater.decompress(inflater.unconsumed_tail, chunk)
        elif left:
            source.seek(position)  # the file may have been read elsewhere between chunks
            raw = source.read(min(chunk, left))
            if not raw:
                raise zipfile.BadZipFile(f"{member.filename} is truncated")
            left -= len(raw)
            position += len(raw)
            data = raw if stored else inflater.decompress(raw, chunk)
        else:
            yield inflater.flush()  # all input given: the few bytes zlib may still hold
            return
        if data:
            yield data


def data_offset(source: IO[bytes], member: zipfile.ZipInfo) -> int:
    """Where ``member``'s compressed bytes start in ``source``, past its local header."""
    source.seek(member.header_offset)
    header = source.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {member.filename}")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return int(member.header_offset) + 30 + int(name_length) + int(extra_length)
