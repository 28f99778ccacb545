"""Benchmark many workbooks at once: 20 workbooks x 5,000 open orders, one shared limit.

``smmsheet run FOLDER --yes`` in a child process refreshes every open order of every
workbook through one client per panel: at most ``max_workers`` (8) requests in flight in
all, whatever the number of workbooks. The simulator answers each request after
``--latency`` seconds and refuses (429) any request past 8 at once, so a run that broke
the shared limit would show refusals. The network floor is the time the requests need at
that latency with 8 in flight: ceil(requests / 8) x latency. Two runs: first every order has
moved on since the sheets were written, then nothing has changed (the usual cron refresh).

    python bench/bench_many.py [--books 20] [--rows 5000] [--latency 0.05] [--jobs 1 4]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

from _common import build_placed_book, machine, panel_env, run_child, seed_orders

from smmsheet.panel import DEFAULT_MAX_WORKERS
from smmsheet.simulator import Faults, PanelSimulator
from smmsheet.workbook.xlsx import XlsxWorkbook


def many(books: int, rows: int, latency: float, jobs: int, workdir: Path) -> None:
    folder = workdir / f"clients-{jobs}"
    folder.mkdir()
    faults = Faults(latency=latency, max_concurrency=DEFAULT_MAX_WORKERS)
    with PanelSimulator(faults=faults, auto_progress=False) as sim:
        paths = [
            build_placed_book(
                folder / f"client-{n:02}.xlsx", seed_orders(sim, rows, status="In progress")
            )
            for n in range(books)
        ]
        requests = books * math.ceil(rows / 100)
        floor = math.ceil(requests / DEFAULT_MAX_WORKERS) * latency
        for run in ("first", "again"):
            sim.reset_counts()
            args = ["run", str(folder), "--yes", "--jobs", str(jobs)]
            result = run_child(args, panel_env(sim, workdir), workdir)
            sent, refused = sim.counts["status"], sim.counts["fault:429"]
            moved = sum(
                sum(
                    1
                    for row in XlsxWorkbook(p).read_values("Orders")[1:]
                    if row[4] == "In progress"
                )
                for p in paths
            )
            ok = result.returncode == 0 and moved == books * rows and sent == requests
            print(
                f"  jobs {jobs:>2}  {run:<5}  {sent:>5} requests  {refused} refused (429)  "
                f"wall {result.wall:6.2f} s  floor {floor:5.2f} s  "
                f"ratio {result.wall / floor:5.2f}x  peak memory {result.max_rss_mb:5.0f} MB  "
                f"{'ok' if ok else 'FAILED'}"
            )
            if not ok:
                print(result.stdout[-1500:], result.stderr[-2000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=20)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--jobs", type=int, nargs="*", default=[1, 4])
    args = parser.parse_args()
    print(f"bench_many: {machine()}")
    print(
        f"{args.books} workbooks x {args.rows:,} open orders, {args.latency * 1000:.0f} ms a "
        f"request, at most {DEFAULT_MAX_WORKERS} in flight in all (the panel refuses more)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in args.jobs:
            many(args.books, args.rows, args.latency, jobs, Path(tmp))


if __name__ == "__main__":
    main()
