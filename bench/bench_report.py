"""Benchmark ``smmsheet report`` on a large order sheet against reading that sheet alone.

Builds an Orders sheet of placed orders (services, panels, statuses, charges, days) with
xlsxwriter, then times reading it (the floor: every report reads the whole sheet), the
first report and a refresh, and prints each against the read.

    python bench/bench_report.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

HEADER = ("Service", "Link", "Quantity", "Panel", "Order ID", "Status", "Charge", "Currency")


def build(path: Path, rows: int) -> None:
    import xlsxwriter

    pick = random.Random(7)
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_urls": False})
    sheet = book.add_worksheet("Orders")
    sheet.write_row(0, 0, [*HEADER, "Updated"])
    for r in range(1, rows + 1):
        sheet.write_row(
            r,
            0,
            [
                f"{pick.randint(1, 40)} - Likes",
                f"https://example.com/p/{r}",
                1000,
                pick.choice(("", "main", "backup")),
                100_000 + r,
                pick.choice(("Completed", "Pending", "Partial", "In progress")),
                round(pick.random() * 3, 5),
                "USD",
                f"2026-{1 + r % 11:02d}-{1 + r % 28:02d} 10:00:00",
            ],
        )
    book.close()


def main() -> None:
    from smmsheet.session import write_report
    from smmsheet.workbook.xlsx import XlsxWorkbook

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    rows = parser.parse_args().rows
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.xlsx"
        build(path, rows)
        start = time.perf_counter()
        XlsxWorkbook(path).read_values("Orders")
        read = time.perf_counter() - start
        start = time.perf_counter()
        write_report(path)
        first = time.perf_counter() - start
        start = time.perf_counter()
        write_report(path)
        refresh = time.perf_counter() - start
    print(f"{rows:,} placed orders")
    print(f"  read the Orders sheet  {read:6.2f} s  (the floor)")
    print(f"  first report           {first:6.2f} s  {first / read:4.1f}x the read")
    print(f"  refresh                {refresh:6.2f} s  {refresh / read:4.1f}x the read")


if __name__ == "__main__":
    main()
