"""Benchmark refreshing order statuses, against the floors of each run.

Two measurements:

1. ``PanelClient.status_many`` over N orders seeded into the simulator (with ``--latency``
   seconds per request), against a per-order ``status`` loop timed on a sample and
   extrapolated to N (the output says so), and against the network floor.
2. The whole headless path, ``smmsheet status BOOK`` in a child process, on an N-row
   workbook whose orders are all open: wall time, the floor of that run and their ratio,
   and the child's peak memory (ru_maxrss, taken by a small launcher process, see
   ``_common.run_child``). It runs twice: first every order has moved on since the sheet
   was written, then nothing has changed (the usual cron refresh). The simulator runs in
   this process, so the child's memory is smmsheet's alone.

Floors: network = ceil(N/100) status requests / 8 in flight x latency; disk = stream-copy
the file + calamine read of the sheet (measured here, best of 3). A run's floor is the
larger; ratio = wall / floor.

    python bench/bench_refresh.py [--rows 10000 100000] [--latency 0.05]
        [--headless-rows 1000 10000 100000] [--headless-latency 0 0.05] [--million]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from _common import (
    against_floor,
    build_placed_book,
    disk_floor,
    machine,
    network_floor,
    panel_env,
    run_child,
    seed_orders,
)

from smmsheet.panel import DEFAULT_MAX_WORKERS, MAX_IDS_PER_REQUEST, PanelClient
from smmsheet.simulator import Faults, PanelSimulator
from smmsheet.workbook.xlsx import XlsxWorkbook

MILLION = 1_000_000


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
    expected = math.ceil(rows / MAX_IDS_PER_REQUEST)
    check = "ok" if requests == expected and errors == 0 else "MISMATCH"
    floor = network_floor(expected, latency, workers)
    print(
        f"  {rows:>9,} orders  {requests:>5} requests (ceil(N/100) = {expected}, {check})  "
        f"batched {wall:6.2f} s  network floor {floor:6.2f} s  "
        f"ratio {wall / floor if floor else math.inf:5.2f}x"
    )
    print(
        f"  {'':>9}          per-order loop ~{loop:8.1f} s  "
        f"(estimated: {per_order * 1000:.1f} ms x {rows:,}, timed on {sample} orders)  "
        f"{loop / wall:6.0f}x slower"
    )


def headless_refresh(rows: int, latency: float, workdir: Path) -> None:
    """Two runs: the first finds every order moved on; the second finds nothing new."""
    # auto_progress off: the panel answers the same until told otherwise, like a slow order.
    with PanelSimulator(faults=Faults(latency=latency), auto_progress=False) as sim:
        ids = seed_orders(sim, rows, status="In progress")  # the sheet still says Pending
        book = build_placed_book(workdir / f"orders-{rows}-{latency}.xlsx", ids)
        expected = math.ceil(rows / MAX_IDS_PER_REQUEST)
        network = network_floor(expected, latency)
        for run in ("first", "again"):
            disk = disk_floor(book)  # the file as this run finds it
            sim.reset_counts()
            result = run_child(["status", str(book)], panel_env(sim, workdir), workdir)
            requests = sim.counts["status"]
            values = XlsxWorkbook(book).read_values("Orders")
            moved = sum(1 for row in values[1:] if len(row) > 4 and row[4] == "In progress")
            del values
            ok = result.returncode == 0 and moved == rows and requests == expected
            print(
                f"  {rows:>9,} rows  {latency * 1000:3.0f} ms  {run:<5}  {requests:>5} requests  "
                f"wall {result.wall:7.2f} s  {against_floor(result.wall, network, disk)}  "
                f"peak {result.max_rss_mb:5.0f} MB  {'ok' if ok else 'FAILED'}"
            )
            if not ok:
                print(result.stdout[-500:], result.stderr[-2000:])
        book.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--workers", type=int, default=DEFAULT_MAX_WORKERS)
    parser.add_argument("--loop-sample", type=int, default=200)
    parser.add_argument("--headless-rows", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument("--headless-latency", type=float, nargs="*", default=[0.0, 0.05])
    parser.add_argument(
        "--million", action="store_true", help="also refresh a 1,000,000-row workbook (minutes)"
    )
    args = parser.parse_args()
    headless_rows = [*args.headless_rows, *([MILLION] if args.million else [])]
    print(f"bench_refresh: {machine()}")
    print(
        f"\n1. status_many vs a per-order loop, {args.latency * 1000:.0f} ms per request, "
        f"{args.workers} requests in flight"
    )
    for rows in args.rows:
        client_refresh(rows, args.latency, args.workers, min(args.loop_sample, rows))
    print(
        "\n2. headless `smmsheet status BOOK` in a child process, twice: first every order has "
        "moved on, then\n   nothing changed. Floor: the larger of network (ceil(N/100) "
        "requests / 8 in flight x latency)\n   and disk (stream-copy + calamine read)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for latency in args.headless_latency:
            for rows in headless_rows:
                headless_refresh(rows, latency, Path(tmp))


if __name__ == "__main__":
    main()
