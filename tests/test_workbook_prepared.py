"""The save prepared while a run waits on the panel (:mod:`smmsheet.workbook.xlsx.prepared`).

The promise under test: ``prepare`` is only a head start. Whatever is written before and
after it, in whatever order, the saved file is the file a save without it writes, part
for part, byte for byte; and when it cannot vouch for its work (a row written again, the
file changed on disk, new columns, a sheet only the tree patcher takes) the save patches
afresh. Each case is run twice, with ``prepare`` called and without, and the results
compared; the tests also check that the head start was really taken where it can be.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import zipfile
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from smmsheet.errors import WorkbookError
from smmsheet.workbook.base import CellValue
from smmsheet.workbook.xlsx import XlsxWorkbook, prepared, prepared_process, sheet_patch, zipio
from smmsheet.workbook.xlsx import adapter as xlsx_adapter

from . import workbooks as wb
from .test_sheet_stream import EDGE_ROWS, _book, _sheet

Step = tuple[str, Any]  # ("write", {(row, col): value}) or ("prepare", row)

VALUES: list[CellValue] = [
    "In progress",
    "Completed",
    "USD",
    "=not a formula",
    "_x0041_ <&>",
    "",
    None,
    0,
    1201,
    -7,
    2.5,
    Decimal("0.09000"),
    Decimal("-0"),
    True,
    False,
    dt.date(2024, 2, 29),
    dt.datetime(2026, 11, 26, 1, 2, 3),
]


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _run(path: Path, steps: Sequence[Step], *, prepare: bool) -> XlsxWorkbook:
    book = XlsxWorkbook(path)
    apply(book, steps, prepare=prepare)
    book.save()
    return book


def apply(book: XlsxWorkbook, steps: Sequence[Step], *, prepare: bool = True) -> None:
    """Write and (with ``prepare``) prepare as ``steps`` say, into sheet Orders."""
    for kind, what in steps:
        if kind == "write":
            book.write_cells("Orders", what)
        elif prepare:
            book.prepare("Orders", what)


def _same_both_ways(
    tmp_path: Path, source: Path, steps: Sequence[Step], patched: list[str]
) -> bool:
    """Save ``steps`` with and without prepare; assert the files are the same; True when
    the prepared sheet was used."""
    plain, early = tmp_path / "plain.xlsx", tmp_path / "early.xlsx"
    shutil.copyfile(source, plain)
    shutil.copyfile(source, early)
    _run(plain, steps, prepare=False)
    before = len(patched)
    _run(early, steps, prepare=True)
    used = not any("'Orders'" in where for where in patched[before:])
    assert _parts(early) == _parts(plain)
    return used


def _books(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    rich = tmp_path / "rich.xlsx"
    wb.build_rich_workbook(rich, rows=60)
    yield "xlsxwriter", rich
    yield "edge rows", _book(tmp_path, "edge.xlsx", _sheet(EDGE_ROWS))
    made = tmp_path / "openpyxl.xlsx"
    wb.build_openpyxl_workbook(made)
    yield "openpyxl", made
    yield "libreoffice", Path(__file__).parent / "data" / "libreoffice_orders.xlsx"


def _random_steps(rng: random.Random, last_row: int) -> list[Step]:
    """A run's shape at random: rows written a few at a time, each batch at or after the
    row prepared before it, new rows past the end; now and then a row written again (above
    or below the row prepared) or a cell far past the sheet's dimension."""
    steps: list[Step] = []
    row = 1
    while row <= last_row + 3:
        batch: dict[tuple[int, int], CellValue] = {}
        for _ in range(rng.randint(1, 6)):
            r = row + rng.randint(0, 5)
            for col in rng.sample(range(1, 15), rng.randint(1, 5)):
                batch[(r, col)] = rng.choice(VALUES)
        if rng.random() < 0.04:  # a row written again
            batch[(rng.randint(1, max(1, row)), rng.randint(1, 14))] = rng.choice(VALUES)
        if rng.random() < 0.02:  # far beyond the sheet's dimension
            batch[(rng.randint(1, last_row), rng.randint(15, 30))] = "far"
        steps.append(("write", batch))
        row += rng.randint(1, 6)
        steps.append(("prepare", row))  # later batches start at row or after it
    return steps


def random_runs(tmp_path: Path, patched: list[str], seeds: int) -> tuple[int, int]:
    """:func:`_random_steps` runs on every book of :func:`_books`, each saved with and
    without prepare (the same file); how many were saved from the preparation, how many
    fell back to patching afresh."""
    used = fallen_back = 0
    for name, source in _books(tmp_path):
        last_row = max(wb.row_numbers(wb.read_member(source, wb.ORDERS_PART)))
        for seed in range(seeds):
            steps = _random_steps(random.Random(f"{name} {seed}"), last_row)
            folder = tmp_path / f"{name} {seed}"
            folder.mkdir()
            if _same_both_ways(folder, source, steps, patched):
                used += 1
            else:
                fallen_back += 1
    return used, fallen_back


def test_a_save_prepared_in_steps_writes_the_same_file(
    tmp_path: Path, fresh_patches: list[str]
) -> None:
    used, fallen_back = random_runs(tmp_path, fresh_patches, seeds=12)
    # Both ways out of a preparation are taken, each many times.
    assert used >= 10 and fallen_back >= 10, (used, fallen_back)


def test_rows_written_in_order_are_saved_from_the_preparation(
    tmp_path: Path, fresh_patches: list[str]
) -> None:
    """A refresh's shape: each chunk's rows written, then prepare up to the first row
    still waiting; the save patches nothing afresh."""
    source = tmp_path / "rich.xlsx"
    wb.build_rich_workbook(source, rows=300)
    steps: list[Step] = []
    when = dt.datetime(2026, 11, 26, 1, 2, 3)
    for first in range(2, 302, 25):
        rows = range(first, min(first + 25, 302))
        steps.append(("write", {(r, c): v for r in rows for c, v in ((7, "Done"), (8, when))}))
        steps.append(("prepare", first + 25))
    assert _same_both_ways(tmp_path, source, steps, fresh_patches)


@pytest.mark.parametrize(
    "late",
    [
        {(5, 7): "written again"},  # a row already patched
        {(1, 1): None},  # a cell cleared above the rows prepared
    ],
    ids=["row again", "cleared above"],
)
def test_a_late_change_to_prepared_rows_makes_the_save_start_afresh(
    tmp_path: Path, fresh_patches: list[str], late: dict[tuple[int, int], CellValue]
) -> None:
    source = tmp_path / "rich.xlsx"
    wb.build_rich_workbook(source, rows=40)
    steps: list[Step] = [
        ("write", {(r, 7): f"row {r}" for r in range(2, 30)}),
        ("prepare", 30),
        ("write", late),
    ]
    assert not _same_both_ways(tmp_path, source, steps, fresh_patches)


def _helper_or_not(monkeypatch: pytest.MonkeyPatch, helper: bool) -> None:
    """Every sheet prepared in a helper process (:mod:`.prepared_process`), or none."""
    if helper and not prepared_process.helper_wanted(prepared_process.HELPER_FROM):
        pytest.skip("no helper process on this platform")
    monkeypatch.setattr(prepared_process, "HELPER_FROM", 0 if helper else 1 << 62)


def _written_and_prepared(tmp_path: Path) -> tuple[Path, XlsxWorkbook]:
    """A workbook whose rows 2-14 are written and prepared: its save under way."""
    path = tmp_path / "orders.xlsx"
    wb.build_rich_workbook(path, rows=20)
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(r, 7): "Done" for r in range(2, 15)})
    book.prepare("Orders", 15)
    return path, book


def _held(book: XlsxWorkbook) -> prepared.PreparedSheet:
    held = book._prepared
    assert isinstance(held, prepared.PreparedSheet) and held._deflater is not None
    return held


def test_a_file_changed_on_disk_after_prepare_is_saved_as_it_now_is(tmp_path: Path) -> None:
    """Another program saved the workbook while the run waited: its change stays, and the
    rows are patched into the file as it now is, not the copy read at prepare."""
    path, book = _written_and_prepared(tmp_path)
    other = tmp_path / "other.xlsx"
    wb.build_rich_workbook(other, rows=20)
    other_book = XlsxWorkbook(other)
    other_book.write_cells("Orders", {(20, 2): "changed by someone else"})
    other_book.save()
    shutil.copyfile(other, path)
    book.save()
    after = XlsxWorkbook(path).read_values("Orders")
    assert after[19][1] == "changed by someone else"
    assert [after[r - 1][6] for r in (2, 14)] == ["Done", "Done"]


@pytest.mark.parametrize("helper", [False, True], ids=["here", "in a helper process"])
def test_new_columns_after_prepare_are_saved_with_their_formats(
    tmp_path: Path, fresh_patches: list[str], monkeypatch: pytest.MonkeyPatch, helper: bool
) -> None:
    from smmsheet.workbook.base import NewColumn

    _helper_or_not(monkeypatch, helper)

    path = tmp_path / "orders.xlsx"
    wb.build_rich_workbook(path, rows=20)
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(r, 9): r for r in range(2, 15)})
    book.prepare("Orders", 15)
    book.add_columns("Orders", 1, {9: NewColumn("Remains", 12, "0")})
    book.save()
    assert any("'Orders'" in where for where in fresh_patches)
    after = XlsxWorkbook(path).read_values("Orders")
    assert after[0][8] == "Remains" and after[13][8] == 14


def test_a_sheet_only_the_tree_patcher_takes_is_saved_the_ordinary_way(
    tmp_path: Path, fresh_patches: list[str]
) -> None:
    odd = _sheet('<row><c r="A1"><v>1</v></c></row><row r="3"><c r="A3"><v>3</v></c></row>')
    steps: list[Step] = [("write", {(3, 5): "x", (4, 5): "y"}), ("prepare", 10)]
    source = _book(tmp_path, "odd.xlsx", odd)
    assert not _same_both_ways(tmp_path, source, steps, fresh_patches)


def test_a_write_into_an_array_formula_is_refused_as_without_prepare(tmp_path: Path) -> None:
    import xlsxwriter

    path = tmp_path / "array.xlsx"
    book_x = xlsxwriter.Workbook(str(path))
    sheet = book_x.add_worksheet("Orders")
    for r in range(10):
        sheet.write_number(r, 0, r)
    sheet.write_array_formula("B3:B4", "{=A3:A4*2}")
    book_x.close()
    before = path.read_bytes()
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(2, 3): "fine", (3, 2): "into the array"})
    book.prepare("Orders", 8)
    with pytest.raises(WorkbookError, match="array formula B3:B4"):
        book.save()
    assert path.read_bytes() == before


def test_the_prepared_file_is_closed_before_the_workbook_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows cannot replace a file another handle holds open: the prepared sheet's file
    is closed before ``os.replace``, and its deflate thread has ended."""
    path, book = _written_and_prepared(tmp_path)
    held = _held(book)
    assert held._deflater is not None
    thread = held._deflater._thread
    seen: list[bool] = []
    real_replace = xlsx_adapter.os.replace

    def replace(source: Any, target: Any) -> None:
        seen.append(held.file.closed)
        real_replace(source, target)

    monkeypatch.setattr(xlsx_adapter.os, "replace", replace)
    book.save()
    assert seen == [True]
    assert not thread.is_alive()


def test_close_drops_the_preparation_and_its_thread(tmp_path: Path) -> None:
    path, book = _written_and_prepared(tmp_path)
    before = path.read_bytes()
    held = _held(book)
    assert held._deflater is not None
    thread = held._deflater._thread
    book.close()
    assert held.file.closed and not thread.is_alive()
    assert path.read_bytes() == before


def test_a_preparation_dropped_without_a_save_stops_its_thread(tmp_path: Path) -> None:
    """A run that raised before its save leaves the book to the garbage collector: the
    deflate thread of its preparation must end then, not wait for chunks for ever."""
    import gc

    path, book = _written_and_prepared(tmp_path)
    held = _held(book)
    assert held._deflater is not None
    thread, file = held._deflater._thread, held.file
    del book, held
    gc.collect()
    thread.join(timeout=10)
    assert not thread.is_alive() and file.closed


def test_no_preparation_while_tests_send_saves_through_the_tree_patcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sheet_patch, "STREAM_PATCHING", False)
    path, book = _written_and_prepared(tmp_path)
    assert not isinstance(book._prepared, prepared.PreparedSheet)
    book.save()
    assert XlsxWorkbook(path).read_values("Orders")[13][6] == "Done"


@pytest.mark.skipif(wb.OOXML_VALIDATOR is None, reason="the Open XML validator is not installed")
def test_a_prepared_save_adds_no_schema_error(tmp_path: Path, fresh_patches: list[str]) -> None:
    """Excel's own schema check on a file whose sheet was saved from a preparation: the
    rows patched early, the head deflated last and put in front, new rows at the end."""
    path = tmp_path / "rich.xlsx"
    wb.build_rich_workbook(path, rows=60)
    before = wb.schema_errors(path)
    book = XlsxWorkbook(path)
    when = dt.datetime(2026, 11, 26, 1, 2, 3)
    for first in range(2, 70, 10):
        book.write_cells(
            "Orders", {(r, c): when for r in range(first, first + 10) for c in (8, 20)}
        )
        book.prepare("Orders", first + 10)
    book.save()
    assert not any("'Orders'" in where for where in fresh_patches)
    assert wb.schema_errors(path) - before == set()


def test_crc32_combine_gives_the_crc_of_both_parts() -> None:
    import zlib

    rng = random.Random(14)
    for size_a, size_b in [(0, 0), (0, 5), (5, 0), (1, 1), (1000, 3), (7, 1 << 20), (65536, 65537)]:
        a, b = rng.randbytes(size_a), rng.randbytes(size_b)
        combined = zipio.crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b))
        assert combined == zlib.crc32(a + b), (size_a, size_b)


@pytest.mark.parametrize(
    "body_size", [0, 1, 70_000, 3 << 20], ids=["empty", "1 B", "70 kB", "3 MB"]
)
def test_a_head_put_in_front_of_a_deflated_body_makes_one_valid_part(body_size: int) -> None:
    """What a prepared sheet's part is: the rows deflated first, the head known last."""
    import zlib

    rng = random.Random(body_size)
    body = b"".join(
        f'<row r="{n}"><c r="A{n}"><v>{rng.random()}</v></c></row>'.encode()
        for n in range(body_size // 40 + 1)
    )[:body_size]
    assert len(body) == body_size
    head = b'<?xml version="1.0"?><worksheet><dimension ref="A1:N9"/><sheetData>'
    with zipio.Deflater() as deflater:
        for at in range(0, len(body), 65536):
            deflater.write(body[at : at + 65536])
    part = deflater.result(head=head)
    assert zlib.decompress(part.data, -15) == head + body
    assert part.crc == zlib.crc32(head + body) and part.size == len(head) + len(body)


def test_a_sheet_too_large_to_hold_through_a_run_is_saved_the_ordinary_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_patches: list[str]
) -> None:
    """A preparation holds the sheet as read for the whole run: past PREPARE_LIMIT (a
    million rows' 250 MB) memory counts more, and the save patches at the end as before."""
    path = tmp_path / "orders.xlsx"
    wb.build_rich_workbook(path, rows=20)
    size = zipfile.ZipFile(path).getinfo(wb.ORDERS_PART).file_size
    monkeypatch.setattr(prepared, "PREPARE_LIMIT", size - 1)
    steps: list[Step] = [("write", {(r, 7): "Done" for r in range(2, 15)}), ("prepare", 15)]
    assert not _same_both_ways(tmp_path, path, steps, fresh_patches)
    monkeypatch.setattr(prepared, "PREPARE_LIMIT", size)
    assert _same_both_ways(tmp_path, path, steps, fresh_patches)


def _rezipped(source: Path, size: int | None = None) -> bytes:
    """``source``'s parts zipped again (same order and methods), its archive comment padded
    so that the whole file is ``size`` bytes long (a comment of 4,000 bytes without)."""
    import io

    def zipped(comment: int) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(source) as archive, zipfile.ZipFile(buffer, "w") as out:
            for info in archive.infolist():
                out.writestr(info, archive.read(info), compress_type=info.compress_type)
            out.comment = b" " * comment
        return buffer.getvalue()

    if size is None:
        return zipped(4000)
    unpadded = len(zipped(0))
    assert 0 <= size - unpadded <= 0xFFFF
    return zipped(size - unpadded)


@pytest.mark.parametrize("helper", [False, True], ids=["here", "in a helper process"])
def test_a_file_written_in_place_with_its_time_put_back_is_saved_as_it_now_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helper: bool
) -> None:
    """Another program wrote the workbook in place (the same inode), to the same size, and
    put its modification time back (``rsync --inplace -t``, ``touch -r``): the size and
    time the preparation compares are the same, its content is not. The save keeps that
    program's change, as a save without prepare does; no stale sheet, no mixed parts.
    The same when a helper process patched the rows (its part is of the old bytes)."""
    import os

    _helper_or_not(monkeypatch, helper)

    path = tmp_path / "orders.xlsx"
    built = tmp_path / "built.xlsx"
    wb.build_rich_workbook(built, rows=20)
    path.write_bytes(_rezipped(built))
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(r, 7): "Done" for r in range(2, 15)})
    book.prepare("Orders", 15)
    kind = prepared_process.PreparedElsewhere if helper else prepared.PreparedSheet
    assert isinstance(book._prepared, kind)

    other = tmp_path / "other.xlsx"
    shutil.copyfile(path, other)
    other_book = XlsxWorkbook(other)
    other_book.write_cells("Orders", {(20, 2): "changed by someone else"})
    other_book.save()
    before = path.stat()
    content = _rezipped(other, before.st_size)
    with open(path, "r+b") as file:  # in place: the inode the preparation holds
        file.write(content)
        file.truncate()
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert path.stat().st_mtime_ns == before.st_mtime_ns

    book.save()
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
    after = XlsxWorkbook(path).read_values("Orders")
    assert after[19][1] == "changed by someone else"
    assert [after[r - 1][6] for r in (2, 14)] == ["Done", "Done"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="no /proc to list open files")
def test_the_workbook_is_not_held_open_while_the_run_waits(tmp_path: Path) -> None:
    """On Windows a file held open cannot be replaced: Excel's or a sync client's save of
    the workbook during a long refresh would fail. A preparation keeps no handle on it."""
    import os

    path, book = _written_and_prepared(tmp_path)
    _held(book)
    real = os.path.realpath(path)
    fds = Path("/proc/self/fd")
    held = [fd for fd in fds.iterdir() if os.path.realpath(fd) == real]
    assert held == []
    book.save()
    assert XlsxWorkbook(path).read_values("Orders")[13][6] == "Done"
