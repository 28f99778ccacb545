"""Benchmark the xlsx adapter against an openpyxl round trip on a large order sheet.

Builds a 100,000-row x 20-column workbook with xlsxwriter (constant memory), then times
(a) calamine read + ``XlsxWorkbook`` save with 8 written cells per row and
(b) openpyxl ``load_workbook`` + the same writes + ``save``, and prints the ratio, and (a)
against the disk floor (stream-copy the file + calamine read of the sheet).

    python bench/bench_workbook.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import disk_floor

COLUMNS = 20
WRITTEN_COLUMNS = range(COLUMNS + 1, COLUMNS + 9)  # 8 result columns right of the data


def build(path: Path, rows: int) -> None:
    """An Orders sheet like a user's: a header, text, numbers and a formula column."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Orders")
    sheet.write_row(0, 0, [f"Col{c}" for c in range(COLUMNS)])
    for r in range(1, rows + 1):
        for c in range(COLUMNS):
            if c % 4 == 0:
                sheet.write_string(r, c, f"https://example.com/p/{r}/{c}")
            elif c == COLUMNS - 1:
                sheet.write_formula(r, c, f"=B{r + 1}*2", None, (r * 7 % 1000) * 2)
            else:
                sheet.write_number(r, c, r * 7 % 1000)
    book.close()


def writes(rows: int) -> dict[tuple[int, int], object]:
    cells: dict[tuple[int, int], object] = {}
    for r in range(2, rows + 2):
        for i, c in enumerate(WRITTEN_COLUMNS):
            cells[(r, c)] = r * 10 + i if i % 2 else f"status {r}"
    return cells


def with_adapter(path: Path, cells: dict[tuple[int, int], object]) -> float:
    """Read the sheet, buffer the writes, save; print each phase and return the total."""
    from smmsheet.workbook.xlsx import XlsxWorkbook

    start = time.perf_counter()
    book = XlsxWorkbook(path)
    timed("  XlsxWorkbook read_values (calamine)", lambda: book.read_values("Orders"))
    timed("  XlsxWorkbook write_cells (buffer)", lambda: book.write_cells("Orders", cells))  # type: ignore[arg-type]
    timed("  XlsxWorkbook save (zip patch)", book.save)
    return time.perf_counter() - start


def with_openpyxl(path: Path, cells: dict[tuple[int, int], object]) -> None:
    import openpyxl

    book = openpyxl.load_workbook(path)
    sheet = book["Orders"]
    for (r, c), value in cells.items():
        sheet.cell(row=r, column=c, value=value)
    book.save(path)


def timed(label: str, run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    print(f"{label:<44} {elapsed:7.2f} s")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "orders.xlsx"
        timed(f"build {args.rows:,} x {COLUMNS} with xlsxwriter", lambda: build(source, args.rows))
        print(f"file size {source.stat().st_size / 1e6:.1f} MB")
        cells = writes(args.rows)
        ours, theirs = Path(tmp) / "ours.xlsx", Path(tmp) / "theirs.xlsx"
        shutil.copy(source, ours)
        shutil.copy(source, theirs)

        n = f"{len(cells):,}"
        disk = disk_floor(source)
        print(f"{'disk floor (stream-copy + calamine read)':<44} {disk:7.2f} s")
        fast = with_adapter(ours, cells)
        print(
            f"{'XlsxWorkbook read + write ' + n + ' + save':<44} {fast:7.2f} s  "
            f"ratio to the disk floor {fast / disk:.1f}x"
        )
        slow = timed(f"openpyxl load + write {n} + save", lambda: with_openpyxl(theirs, cells))
        print(f"ratio openpyxl / XlsxWorkbook: {slow / fast:.1f}x")
        print("second run, every written cell now exists and is overwritten:")
        again = with_adapter(ours, cells)
        print(f"{'XlsxWorkbook read + overwrite ' + n + ' + save':<44} {again:7.2f} s")
        mb = {path.name: path.stat().st_size / 1e6 for path in (ours, theirs)}
        print(
            f"file size after: ours {mb['ours.xlsx']:.1f} MB, openpyxl {mb['theirs.xlsx']:.1f} MB"
        )


if __name__ == "__main__":
    main()
