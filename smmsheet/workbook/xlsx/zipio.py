"""Zip I/O: copy a zip member by member, raw, with some parts replaced or added.

Untouched members keep their compressed bytes (no recompression); a patched sheet can be
deflated on a second core while it is produced (:class:`Deflater`). Imports nothing of
smmsheet but its errors.
"""

from __future__ import annotations

import copy
import os
import posixpath
import queue
import struct
import threading
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from smmsheet.errors import WorkbookError

__all__ = [
    "copy_member",
    "CountingSink",
    "Deflated",
    "crc32_combine",
    "Deflater",
    "write_zip",
    "ZIP_DEFLATED",
    "ZIP_LEVEL",
]


ZIP_DEFLATED = zipfile.ZIP_DEFLATED


class CountingSink:
    """A seekable file that keeps nothing and counts how many bytes it would hold."""

    def __init__(self) -> None:
        self.size = 0
        self._position = 0

    def write(self, data: bytes) -> int:
        self._position += len(data)
        self.size = max(self.size, self._position)
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self.size}[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass


#: zlib level for the sheets we rewrite. Level 5 deflates an order sheet in half the CPU
#: time of zlib's default 6 for 0.5-2 % more bytes (bench/bench_save.py prints both).
ZIP_LEVEL = 5


@dataclass
class Deflated:
    """A part compressed ahead of time: raw deflate data, CRC-32 and uncompressed size."""

    data: bytes
    crc: int
    size: int


class Deflater:
    """Deflates chunks on a worker thread as they are produced (zlib releases the GIL)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[bytes | memoryview | None] = queue.Queue(maxsize=8)
        self._parts: list[bytes] = []
        self._crc = 0
        self._size = 0
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="smmsheet-deflate", daemon=True)
        self._thread.start()

    def __enter__(self) -> Deflater:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """No more chunks: wait for the thread to deflate those it has (again: no-op)."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        self._thread.join()

    def write(self, chunk: bytes | memoryview) -> None:
        self._queue.put(chunk)

    def _run(self) -> None:
        compressor = zlib.compressobj(ZIP_LEVEL, zlib.DEFLATED, -15)
        while (chunk := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining so the producer never blocks
            try:
                self._crc = zlib.crc32(chunk, self._crc)
                self._size += len(chunk)
                self._parts.append(compressor.compress(chunk))
            except BaseException as exc:  # reported by result()
                self._error = exc
        if self._error is None:
            self._parts.append(compressor.flush())

    def result(self, head: bytes = b"") -> Deflated:
        """The compressed part; only after the ``with`` block (or :meth:`close`).

        With ``head``, the part is ``head`` and then what was written: the head deflated on
        its own and ended by a sync flush (byte-aligned, no final block) makes with the rest
        one valid deflate stream, as pigz joins pieces deflated in parallel (the rest's back
        references never reach before its own start); the CRC-32 is combined, not read again.
        """
        if self._error is not None:
            raise self._error
        parts, self._parts = self._parts, []  # joined once: a million rows' part is 25 MB
        if not head:
            return Deflated(b"".join(parts), self._crc, self._size)
        compressor = zlib.compressobj(ZIP_LEVEL, zlib.DEFLATED, -15)
        start = compressor.compress(head) + compressor.flush(zlib.Z_SYNC_FLUSH)
        crc = crc32_combine(zlib.crc32(head), self._crc, self._size)
        return Deflated(b"".join([start, *parts]), crc, len(head) + self._size)


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of A + B from CRC-32(A), CRC-32(B) and len(B) (zlib's algorithm: the
    operator "append n zero bytes" as 32x32 bit matrices over GF(2), squared per bit of n)."""
    if length2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while True:
        even = _gf2_square(odd)  # the first time, one zero byte
        if length2 & 1:
            crc1 = _gf2_times(even, crc1)
        length2 >>= 1
        if not length2:
            break
        odd = _gf2_square(even)
        if length2 & 1:
            crc1 = _gf2_times(odd, crc1)
        length2 >>= 1
        if not length2:
            break
    return crc1 ^ crc2


def _gf2_times(matrix: list[int], vector: int) -> int:
    total = 0
    row = 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(32)]


def write_zip(
    archive: zipfile.ZipFile,
    source: IO[bytes],
    out: IO[bytes],
    replaced: Mapping[str, bytes | Deflated | None],
    added: Sequence[tuple[str, bytes]],
) -> None:
    """Copy ``archive`` to ``out`` member by member, raw, except the replaced and added parts.

    A new part goes right after the last member in its folder, so sheets stay together.
    """
    members = archive.infolist()
    after: dict[int, list[tuple[str, bytes]]] = {}
    for part, data in added:
        folder = posixpath.dirname(part).lower()
        positions = [
            i for i, m in enumerate(members) if posixpath.dirname(m.filename).lower() == folder
        ]
        after.setdefault(positions[-1] if positions else len(members) - 1, []).append((part, data))
    stamp = members[0].date_time if members else (1980, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(out, "w", allowZip64=True) as target:
        for index, member in enumerate(members):
            if member.filename in replaced:
                content = replaced[member.filename]
                if isinstance(content, Deflated):
                    _write_deflated(target, member, content)
                elif content is not None:
                    _write_member(target, member, content)
            else:
                copy_member(source, member, target)
            for part, data in after.get(index, ()):
                new = zipfile.ZipInfo(part, date_time=stamp)
                new.compress_type = zipfile.ZIP_DEFLATED
                target.writestr(new, data)


def _write_member(target: zipfile.ZipFile, member: zipfile.ZipInfo, data: bytes) -> None:
    """Write new content under ``member``'s name, date and compression."""
    new = zipfile.ZipInfo(member.filename, date_time=member.date_time)
    new.compress_type = member.compress_type
    new.create_system = member.create_system
    new.external_attr = member.external_attr
    new.comment = member.comment
    target.writestr(new, data)


def copy_member(source: IO[bytes], member: zipfile.ZipInfo, target: zipfile.ZipFile) -> None:
    """Copy ``member``'s compressed bytes unchanged into ``target`` (no recompression)."""
    if member.flag_bits & 0x1:
        raise WorkbookError(f"the zip member {member.filename} is encrypted")
    source.seek(member.header_offset)
    header = source.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {member.filename}")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    source.seek(member.header_offset + 30 + name_length + extra_length)
    new = copy.copy(member)
    new.flag_bits &= ~0x08  # sizes go in the local header, so no data descriptor follows
    new.extra = _strip_zip64_extra(member.extra)
    _append_raw(target, new, _read_exactly(source, member.compress_size, member.filename))


def _write_deflated(target: zipfile.ZipFile, member: zipfile.ZipInfo, part: Deflated) -> None:
    """Write a part compressed ahead of time under ``member``'s name and date."""
    new = zipfile.ZipInfo(member.filename, date_time=member.date_time)
    new.compress_type = ZIP_DEFLATED
    new.create_system = member.create_system
    new.external_attr = member.external_attr
    new.comment = member.comment
    new.CRC, new.file_size, new.compress_size = part.crc, part.size, len(part.data)
    _append_raw(target, new, [part.data])


def _append_raw(target: zipfile.ZipFile, info: zipfile.ZipInfo, chunks: Iterable[bytes]) -> None:
    """Append a member whose compressed data is ``chunks`` and whose sizes and CRC are known.

    zipfile has no public raw write, so the local header comes from ``info`` and the member
    is registered for ``target``'s central directory the way ``ZipFile.write`` does it.
    """
    zip64 = max(info.file_size, info.compress_size) > zipfile.ZIP64_LIMIT
    fp: Any = target.fp
    fp.seek(target.start_dir)
    info.header_offset = fp.tell()
    fp.write(info.FileHeader(zip64))
    for chunk in chunks:
        fp.write(chunk)
    target.filelist.append(info)
    target.NameToInfo[info.filename] = info
    target.start_dir = fp.tell()
    target._didModify = True  # type: ignore[attr-defined]


def _read_exactly(source: IO[bytes], size: int, name: str) -> Iterator[bytes]:
    remaining = size
    while remaining:
        chunk = source.read(min(remaining, 1 << 20))
        if not chunk:
            raise zipfile.BadZipFile(f"{name} is truncated")
        remaining -= len(chunk)
        yield chunk


def _strip_zip64_extra(extra: bytes) -> bytes:
    """``extra`` without its zip64 record, which the header writer adds back when needed."""
    out = bytearray()
    position = 0
    while position + 4 <= len(extra):
        kind, length = struct.unpack("<HH", extra[position : position + 4])
        end = position + 4 + length
        if kind != 1:
            out += extra[position:end]
        position = end
    return bytes(out)
