"""Benchmark ``=SMM_STATUS(A2)`` filled down N rows, calculated the way Excel does.

Excel calls synchronous xlwings formulas one cell after another on one thread, each with
its own cell's value. Each cell here is a call of ``smmsheet.udf.SMM_STATUS([[id]])`` in a
row, with the panel resolved from the environment as in Excel. The orders are in the index
of recent orders, as a ribbon run over their workbook leaves them.

Printed for each size: status requests against the floor ceil(N/100), the first
calculation's time against the network floor (ceil(N/100) x latency), and the time per
cell above the bare calls: the same multi-id requests sent straight through the client,
plus a bare function per cell that takes the same argument and returns a cached answer.
That is the formulas' own cost (resolving the panel, the cache, the index of recent
orders), for the first calculation and for a recalculation served from the cache. Each
measurement is the best of ``REPEATS`` runs (every first calculation starts with nothing in
memory, as in a new Excel).

    python bench/bench_udf.py [--cells 500 5000] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

from _common import machine, seed_orders

from smmsheet.panel import PanelClient
from smmsheet.simulator import DEFAULT_API_KEY, Faults, PanelSimulator

#: Runs of each measurement; the best one is printed (the machine may be shared).
REPEATS = 3


def calculate(cells: list[Any], formula: Callable[[Any], Any]) -> float:
    """Excel's calculation chain: every cell in turn, on this thread; returns seconds."""
    start = time.perf_counter()
    for value in cells:
        formula([[value]])
    return time.perf_counter() - start


def run(count: int, latency: float) -> None:
    from smmsheet import formulas, udf
    from smmsheet.recent import RecentOrders, default_path, panel_key

    with PanelSimulator(faults=Faults(latency=latency), api_key=DEFAULT_API_KEY) as sim:
        ids = [float(i) for i in seed_orders(sim, count)]
        RecentOrders(default_path()).remember(panel_key(sim.url), [str(int(i)) for i in ids])
        os.environ.update(
            SMMSHEET_PANEL_URL=sim.url,
            SMMSHEET_API_KEY=DEFAULT_API_KEY,
            SMMSHEET_CONFIG=os.path.join(tempfile.gettempdir(), "smmsheet-bench-none.toml"),
        )
        firsts, agains = [], []
        for _ in range(REPEATS):  # the machine is shared: the best of a few runs
            formulas.reset_panels()  # a new Excel: nothing in memory, the index on disk
            sim.reset_counts()
            firsts.append(calculate(ids, udf.SMM_STATUS))
            requests = sim.counts["status"]
            sim.reset_counts()
            agains.append(calculate(ids, udf.SMM_STATUS))
            cached_requests = sim.counts["status"]
        formulas.reset_panels()
        first, again = min(firsts), min(agains)
        with PanelClient(sim.url, DEFAULT_API_KEY) as client:  # the same requests, bare
            text = [str(int(i)) for i in ids]
            bares = []
            for _ in range(REPEATS):
                start = time.perf_counter()
                for at in range(0, count, 100):
                    client.status_many(text[at : at + 100])
                bares.append(time.perf_counter() - start)
            bare_requests = min(bares)
    answers = {value: [["Pending"]] for value in ids}
    bare = min(calculate(ids, lambda cell: answers[cell[0][0]]) for _ in range(REPEATS))
    floor_requests = math.ceil(count / 100)
    per_cell_first = (first - bare_requests - bare) / count * 1000
    per_cell_again = (again - bare) / count * 1000
    print(
        f"  {count:>6} cells  requests {requests:>4} (floor {floor_requests}, "
        f"ratio {requests / floor_requests:.2f})"
    )
    floor = floor_requests * latency
    print(
        f"               first calculation {first:6.2f} s (network floor "
        f"{floor:5.2f} s, ratio {first / max(floor, 1e-9):.2f})"
    )
    print(f"               the same {floor_requests} requests sent bare: {bare_requests:.2f} s")
    print(
        f"               above the bare calls: {per_cell_first:.4f} ms/cell first calculation, "
        f"{per_cell_again:.4f} ms/cell recalculated ({cached_requests} requests)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    args = parser.parse_args()
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as data:
        os.environ["XDG_DATA_HOME"] = data  # the index of recent orders of this run only
        print(f"bench_udf: {machine()}")
        print(f"=SMM_STATUS(A2) filled down, one cell after another, {args.latency * 1000:.0f} ms")
        for count in args.cells:
            run(count, args.latency)


if __name__ == "__main__":
    main()
