"""Zip bombs are refused before they inflate; Excel's largest honest order sheet is not.

The bombs are built in ``tmp_path`` by repeating one deflated block, so each test writes
a few hundred kilobytes, never the hundreds of megabytes the bomb stands for.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from smmsheet.errors import WorkbookError
from smmsheet.workbook.xlsx import XlsxWorkbook
from smmsheet.workbook.xlsx.zipsafe import (
    MAX_PART_BYTES,
    MAX_RATIO,
    MAX_TOTAL_BYTES,
    RATIO_FREE_BYTES,
    check_sizes,
    inflate,
)

from . import workbooks as wb

#: What the child process reports: the refusal and how much its peak memory grew.
_CHILD = """
import json, resource, sys
from smmsheet.errors import WorkbookError
from smmsheet.workbook.xlsx import XlsxWorkbook
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    XlsxWorkbook(sys.argv[1]).read_values("Orders")
    error = None
except WorkbookError as exc:
    error = str(exc)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"error": error, "grew_kib": after - before}))
"""


def refused_in_a_child(path: Path) -> tuple[str | None, int]:
    """Open and read ``path`` in a fresh process: its error and its peak memory growth (MiB).

    A fresh process, because the test runner's own peak memory may already be higher
    than a bomb would push it, which would hide the growth.
    """
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, check=True
    )
    report = json.loads(done.stdout)
    return report["error"], report["grew_kib"] // 1024


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux only")
def test_a_zip_bomb_is_refused_on_open_without_inflating_it(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    wb.build_zip_bomb(path, 256)  # 256 MiB of XML in about 270 KiB
    assert path.stat().st_size < 300 * 1024
    error, grew_mib = refused_in_a_child(path)
    assert error is not None
    assert error.startswith("bomb.xlsx is refused as a likely zip bomb: its part ")
    assert "xl/worksheets/sheet1.xml would inflate 1,0" in error
    assert "\n" not in error
    assert grew_mib < 64  # inflating it would take 256 MiB at least


def test_a_zip_bomb_is_refused_before_anything_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    wb.build_zip_bomb(path, 128)
    with pytest.raises(WorkbookError, match="likely zip bomb"):
        XlsxWorkbook(path)


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux only")
def test_a_part_that_lies_about_its_size_is_never_inflated_past_it(tmp_path: Path) -> None:
    path = tmp_path / "liar.xlsx"
    wb.build_zip_bomb(path, 256, declared=10_000)  # says 10 kB, holds 256 MiB
    error, grew_mib = refused_in_a_child(path)
    assert error is not None and "declare" in error
    assert grew_mib < 64


def test_a_small_part_may_compress_very_well(tmp_path: Path) -> None:
    path = tmp_path / "tiny.xlsx"
    wb.build_zip_bomb(path, 8)  # 8 MiB at 1,000 times: below RATIO_FREE_BYTES
    assert XlsxWorkbook(path).read_values("Orders") == [["Service"]]


def declaring(sizes: list[tuple[int, int]]) -> zipfile.ZipFile:
    """A zip whose central directory declares these (inflated, compressed) sizes."""
    empty = io.BytesIO()
    zipfile.ZipFile(empty, "w").close()
    archive = zipfile.ZipFile(empty)
    for number, (size, packed) in enumerate(sizes):
        member = zipfile.ZipInfo(f"xl/worksheets/sheet{number + 1}.xml")
        member.file_size, member.compress_size = size, packed
        archive.filelist.append(member)
    return archive


def test_the_limits_admit_excel_largest_order_sheet(tmp_path: Path) -> None:
    """2,000 rows of 20 columns, 10 of them results smmsheet wrote, scaled to 1,048,576."""
    path = tmp_path / "orders.xlsx"
    wb.build_rich_workbook(path, rows=2_000)
    book = XlsxWorkbook(path)
    results = ["Completed", 1.5, "USD", "2024-03-05 10:11:12", "", 880_001, 0, 12, "x", 3]
    book.write_cells(
        "Orders",
        {(r, 9 + c): value for r in range(1, 2_002) for c, value in enumerate(results)},
    )
    book.save()
    with zipfile.ZipFile(path) as archive:
        sheet = archive.getinfo(wb.ORDERS_PART)
    scale = 1_048_576 / 2_001
    size, packed = int(sheet.file_size * scale), int(sheet.compress_size * scale)
    assert RATIO_FREE_BYTES < size < MAX_PART_BYTES / 2
    assert size / packed < MAX_RATIO / 3
    check_sizes(declaring([(size, packed), (size, packed)]), "orders.xlsx")


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ([(MAX_PART_BYTES + 1, MAX_PART_BYTES // 10)], "more than the 4 GiB"),
        ([(MAX_TOTAL_BYTES // 3, MAX_TOTAL_BYTES // 30)] * 4, "more than the 8 GiB"),
        ([(RATIO_FREE_BYTES + 1, RATIO_FREE_BYTES // 200)], "would inflate 200 times"),
        ([(RATIO_FREE_BYTES // 2, 1)] * 4, "its parts together would inflate"),
    ],
    ids=["part", "total", "ratio", "many-small-parts"],
)
def test_declared_sizes_beyond_the_limits_are_refused(
    sizes: list[tuple[int, int]], message: str
) -> None:
    with pytest.raises(WorkbookError, match=message):
        check_sizes(declaring(sizes), "orders.xlsx")


def test_inflate_gives_a_part_chunk_by_chunk_and_stops_at_what_it_declares(
    tmp_path: Path,
) -> None:
    honest, liar = tmp_path / "honest.xlsx", tmp_path / "liar.xlsx"
    wb.build_zip_bomb(honest, 8)
    wb.build_zip_bomb(liar, 8, declared=3 * 2**20)
    with zipfile.ZipFile(honest) as archive, open(honest, "rb") as source:
        member = archive.getinfo(wb.ORDERS_PART)
        chunks = list(inflate(source, member, "honest.xlsx", chunk=2**20))
        assert b"".join(chunks) == archive.read(member)
        assert max(len(chunk) for chunk in chunks) <= 2**20
    with zipfile.ZipFile(liar) as archive, open(liar, "rb") as source:
        member = archive.getinfo(wb.ORDERS_PART)
        seen = 0
        with pytest.raises(WorkbookError, match="holds more than the 3,145,728 bytes it declares"):
            for chunk in inflate(source, member, "liar.xlsx", chunk=2**20):
                seen += len(chunk)
        assert seen <= 3 * 2**20


def test_a_workbook_holding_a_part_twice_is_refused(tmp_path: Path) -> None:
    """Found by an attacker's review: smmsheet read the last copy of the order sheet, while
    another program may show the first; the buyer would not see what is bought."""
    import warnings

    from .conftest import openpyxl_orders

    source = tmp_path / "plain.xlsx"
    book, _ = openpyxl_orders(
        ["Service", "Link", "Quantity"], [1, "https://instagram.com/p/shown", 100]
    )
    book.save(source)
    twice = tmp_path / "twice.xlsx"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(twice, "w") as new:
        for item in old.infolist():
            new.writestr(item, old.read(item.filename))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
            new.writestr("xl/worksheets/sheet1.xml", old.read("xl/worksheets/sheet1.xml"))
    with pytest.raises(WorkbookError, match="holds the part xl/worksheets/sheet1.xml twice"):
        XlsxWorkbook(twice)
