"""Benchmark ``=SMM_STATUS`` filled down N rows: coalesced requests vs one request per cell.

Excel recalculates a filled-down column as N concurrent UDF calls. Each call here is a
thread released by a barrier, calling ``smm_status(order_id)`` through one shared
``UdfPanel`` (as ``SMM_STATUS`` does). The same N cells then call the panel directly, one
``status`` request each, as a formula without the coalescer would. A second calculation
shows the cache.

    python bench/bench_udf.py [--cells 500] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from _common import machine, seed_orders

from smmsheet.formulas import UdfPanel, smm_status
from smmsheet.panel import PanelClient
from smmsheet.simulator import Faults, PanelSimulator


def calculate(ids: list[int], cell: Callable[[int], Any]) -> tuple[float, dict[int, Any]]:
    """Run ``cell(id)`` for every id at once, one thread per cell; returns wall and answers."""
    barrier = threading.Barrier(len(ids) + 1)
    answers: dict[int, Any] = {}

    def run(order_id: int) -> None:
        barrier.wait()
        answers[order_id] = cell(order_id)

    threads = [threading.Thread(target=run, args=(order_id,)) for order_id in ids]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    args = parser.parse_args()
    # One client per cell opens more connections than a pool keeps; urllib3 says so per request.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    print(f"bench_udf: {machine()}")
    print(
        f"{args.cells} cells of =SMM_STATUS(id) recalculated at once, {args.latency * 1000:.0f} ms"
    )
    with PanelSimulator(faults=Faults(latency=args.latency)) as sim:
        ids = seed_orders(sim, args.cells)
        with PanelClient(sim.url, sim.api_key) as client:
            panel = UdfPanel(client)
            wall, answers = calculate(ids, lambda oid: smm_status(oid, panel=panel))
            coalesced = sim.counts["status"]
            good = sum(1 for v in answers.values() if v == [["Pending"]])
            sim.reset_counts()
            again, _ = calculate(ids, lambda oid: smm_status(oid, panel=panel))
            cached = sim.counts["status"]
            sim.reset_counts()
            naive, _ = calculate(ids, lambda oid: client.status(oid).status)
            direct = sim.counts["status"]
    print(
        f"  coalesced      {coalesced:>4} requests  {wall:6.2f} s  "
        f"({good}/{args.cells} cells answered)"
    )
    print(f"  recalculated   {cached:>4} requests  {again:6.2f} s  (served from the cache)")
    print(f"  one per cell   {direct:>4} requests  {naive:6.2f} s  (no coalescer)")
    print(
        f"  ratio          {direct / max(coalesced, 1):4.0f}x fewer requests, "
        f"{naive / wall:4.1f}x faster"
    )


if __name__ == "__main__":
    main()
