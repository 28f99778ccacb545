"""Benchmark refreshing order statuses: 100 ids a request vs one request per order.

Two measurements, side by side:

1. ``PanelClient.status_many`` over N orders seeded into the simulator (with ``--latency``
   seconds per request), against a per-order ``status`` loop timed on a sample and
   extrapolated to N (the output says so).
2. The whole headless path, ``smmsheet status BOOK`` in a child process, on an N-row
   workbook whose orders are all open: wall time and the child's peak memory (ru_maxrss,
   taken by a small launcher process, see ``_common.run_child``). It runs twice: first
   every order has moved on since the sheet was written, then nothing has changed (the
   usual cron refresh). The simulator runs in this process, so the child's memory is
   smmsheet's alone.

    python bench/bench_refresh.py [--rows 10000 100000] [--latency 0.05]
        [--headless-rows 10000 100000] [--headless-latency 0 0.05] [--loop-sample 200]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from _common import build_placed_book, machine, panel_env, run_child, seed_orders

from smmsheet.panel import DEFAULT_MAX_WORKERS, PanelClient
from smmsheet.simulator import Faults, PanelSimulator
from smmsheet.workbook.xlsx import XlsxWorkbook

#: Targets of issue 5 on a 2-core machine.
TARGET_10K_REFRESH = 2.0
TARGET_100K_HEADLESS = 6.0
TARGET_MEMORY_MB = 1024


def per_order_loop(url: str, key: str, ids: list[int]) -> float:
    """Seconds per order of the naive loop: one ``status`` request per order, in turn."""
    with PanelClient(url, key, max_workers=1) as client:
        start = time.perf_counter()
        for order_id in ids:
            client.status(order_id)
        return (time.perf_counter() - start) / len(ids)


def client_refresh(rows: int, latency: float, workers: int, sample: int) -> None:
    with PanelSimulator(faults=Faults(latency=latency)) as sim:
        ids = seed_orders(sim, rows)
        with PanelClient(sim.url, sim.api_key, max_workers=workers) as client:
            start = time.perf_counter()
            statuses = client.status_many(ids)
            wall = time.perf_counter() - start
        requests = sim.counts["status"]
        errors = sum(1 for s in statuses.values() if s.error)
        per_order = per_order_loop(sim.url, sim.api_key, ids[:sample])
    loop = per_order * rows
    expected = math.ceil(rows / 100)
    check = "ok" if requests == expected and errors == 0 else "MISMATCH"
    target = f" (target <= {TARGET_10K_REFRESH:.0f} s)" if rows == 10_000 else ""
    print(
        f"  {rows:>7,} orders  {requests:>5} requests (ceil(N/100) = {expected}, {check})  "
        f"batched {wall:6.2f} s{target}"
    )
    print(
        f"  {'':>7}          per-order loop ~{loop:8.1f} s  "
        f"(estimated: {per_order * 1000:.1f} ms x {rows:,}, timed on {sample} orders)  "
        f"ratio {loop / wall:6.0f}x"
    )


def headless_refresh(rows: int, latency: float, workdir: Path) -> None:
    """Two runs: the first finds every order moved on; the second finds nothing new."""
    # auto_progress off: the panel answers the same until told otherwise, like a slow order.
    with PanelSimulator(faults=Faults(latency=latency), auto_progress=False) as sim:
        ids = seed_orders(sim, rows, status="In progress")  # the sheet still says Pending
        book = build_placed_book(workdir / f"orders-{rows}-{latency}.xlsx", ids)
        for run in ("first", "again"):
            sim.reset_counts()
            result = run_child(["status", str(book)], panel_env(sim, workdir), workdir)
            requests = sim.counts["status"]
            values = XlsxWorkbook(book).read_values("Orders")
            moved = sum(1 for row in values[1:] if len(row) > 4 and row[4] == "In progress")
            ok = result.returncode == 0 and moved == rows and requests == math.ceil(rows / 100)
            print(
                f"  {rows:>7,} rows  {latency * 1000:3.0f} ms  {run:<5}  {requests:>5} requests  "
                f"wall {result.wall:6.2f} s  peak memory {result.max_rss_mb:5.0f} MB  "
                f"{'ok' if ok else 'FAILED'}"
            )
            if not ok:
                print(result.stdout[-500:], result.stderr[-2000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--workers", type=int, default=DEFAULT_MAX_WORKERS)
    parser.add_argument("--loop-sample", type=int, default=200)
    parser.add_argument("--headless-rows", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--headless-latency", type=float, nargs="*", default=[0.0, 0.05])
    args = parser.parse_args()
    print(f"bench_refresh: {machine()}")
    print(
        f"\n1. status_many vs a per-order loop, {args.latency * 1000:.0f} ms per request, "
        f"{args.workers} requests in flight"
    )
    for rows in args.rows:
        client_refresh(rows, args.latency, args.workers, min(args.loop_sample, rows))
    print(
        f"\n2. headless `smmsheet status BOOK` in a child process, twice: first every order has "
        f"moved on, then\n   nothing changed (targets: 10,000 rows <= {TARGET_10K_REFRESH:.0f} s,"
        f" 100,000 rows <= {TARGET_100K_HEADLESS:.0f} s and < {TARGET_MEMORY_MB} MB)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for latency in args.headless_latency:
            for rows in args.headless_rows:
                headless_refresh(rows, latency, Path(tmp))


if __name__ == "__main__":
    main()
