"""Benchmark placing orders: bounded concurrency vs one ``add`` at a time.

The engine places N new rows of a real .xlsx against the simulator with ``--latency``
seconds per request, once per ``--workers`` value (requests in flight). The sequential run
(one worker) would take N x latency, so it is timed on ``--sequential-sample`` rows and
extrapolated to N; the output says so. Every run is checked: N orders on the panel, N
Order IDs in the sheet, no duplicates.

    python bench/bench_place.py [--orders 1000] [--latency 0.1] [--workers 8 4]
        [--sequential-sample 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from _common import build_new_book, machine

from smmsheet.batch import Engine, RunOptions
from smmsheet.journal import Journal, journal_path
from smmsheet.orders import OrderTable
from smmsheet.panel import DEFAULT_MAX_WORKERS, PanelClient
from smmsheet.simulator import Faults, PanelSimulator
from smmsheet.workbook.xlsx import XlsxWorkbook

#: Target of issue 5 on a 2-core machine.
TARGET_1000_ADDS = 15.0


def place(rows: int, latency: float, workers: int, workdir: Path) -> float:
    """Place ``rows`` new rows with ``workers`` requests in flight; returns the wall time."""
    book = build_new_book(workdir / f"place-{rows}-{workers}.xlsx", rows)
    with PanelSimulator(balance=Decimal(rows), faults=Faults(latency=latency)) as sim:
        start = time.perf_counter()
        with (
            PanelClient(sim.url, sim.api_key, max_workers=workers) as client,
            Journal(journal_path(book)) as journal,
        ):
            Engine(XlsxWorkbook(book), client, journal, RunOptions()).execute("place")
        wall = time.perf_counter() - start
        adds, placed = sim.counts["add"], len(sim.orders)
    table = OrderTable.from_values(XlsxWorkbook(book).read_values("Orders"))
    ids = [row.order_id for row in table.rows if row.order_id is not None]
    if not (adds == placed == len(ids) == len(set(ids)) == rows):
        raise SystemExit(f"check failed: {adds} adds, {placed} on the panel, {len(ids)} in sheet")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    parser.add_argument("--workers", type=int, nargs="*", default=[DEFAULT_MAX_WORKERS, 4])
    parser.add_argument("--sequential-sample", type=int, default=100)
    args = parser.parse_args()
    print(f"bench_place: {machine()}")
    print(
        f"placing {args.orders:,} rows of a real .xlsx (engine: journal, place, status of the "
        f"new orders, one save), {args.latency * 1000:.0f} ms per request, "
        f"target <= {TARGET_1000_ADDS:.0f} s for 1,000"
    )
    with tempfile.TemporaryDirectory() as tmp:
        sample = min(args.sequential_sample, args.orders)
        sequential = place(sample, args.latency, 1, Path(tmp)) * args.orders / sample
        for workers in args.workers:
            wall = place(args.orders, args.latency, workers, Path(tmp))
            print(
                f"  {workers:>2} in flight  {wall:7.2f} s  "
                f"({args.orders / wall:5.0f} orders/s)  vs sequential {sequential / wall:4.1f}x"
            )
    print(
        f"   1 in flight  {sequential:7.2f} s  (estimated: {sample} rows timed, "
        f"x {args.orders / sample:g})"
    )


if __name__ == "__main__":
    main()
