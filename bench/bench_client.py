"""The panel client's own CPU per status request, against a panel in another process.

``PanelClient.status_many`` over N ids (N/100 ``status`` requests, 8 in flight) against a
simulator seeded with N open orders that runs in a child process, so the CPU seconds
(user + system, ``getrusage``) measured here are the client's alone: building the requests,
the HTTP stack, reading and parsing the replies, one ``OrderStatus`` per id. Each latency
runs ``--repeat`` times on a fresh client; the output gives wall, CPU, CPU per 1,000
requests and the network floor (ceil(N/100) requests / 8 in flight x latency).

    python bench/bench_client.py [--rows 100000] [--latency 0 0.05] [--repeat 3]

To compare two trees run the script with each tree first on ``PYTHONPATH`` (the child
panel uses the same path), in turn.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import machine, network_floor, seed_orders

from smmsheet.panel import DEFAULT_MAX_WORKERS, MAX_IDS_PER_REQUEST, PanelClient
from smmsheet.simulator import Faults, PanelSimulator


def serve(rows: int, latency: float) -> None:
    """Child: a seeded simulator; prints ``{"url", "key", "ids"}`` and serves until stdin ends."""
    with PanelSimulator(faults=Faults(latency=latency), auto_progress=False) as sim:
        ids = seed_orders(sim, rows, status="In progress")
        print(json.dumps({"url": sim.url, "key": sim.api_key, "first": ids[0]}), flush=True)
        sys.stdin.read()


def one_run(
    url: str, key: str, ids: list[int], workers: int
) -> tuple[float, float, float, int, int]:
    """(wall, user and system CPU seconds, requests sent, bad results) of one ``status_many``."""
    with PanelClient(url, key, max_workers=workers) as client:
        before, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        statuses = client.status_many(ids)
        after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - wall
        sent = client.requests_sent.get("status", 0)
    errors = sum(1 for s in statuses.values() if s.error or s.status != "In progress")
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    return wall, user, system, sent, errors + abs(len(statuses) - len(ids))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--latency", type=float, nargs="*", default=[0.0, 0.05])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=DEFAULT_MAX_WORKERS)
    parser.add_argument("--serve", nargs=2, metavar=("ROWS", "LATENCY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), float(args.serve[1]))
        return
    import smmsheet

    print(f"bench_client: {machine()}; smmsheet from {Path(smmsheet.__file__).parent}")
    expected = math.ceil(args.rows / MAX_IDS_PER_REQUEST)
    for latency in args.latency:
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(args.rows), str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            panel = json.loads(child.stdout.readline())
            ids = list(range(panel["first"], panel["first"] + args.rows))
            floor = network_floor(expected, latency, args.workers)
            cpus = []
            for run in range(args.repeat):
                wall, user, system, sent, bad = one_run(
                    panel["url"], panel["key"], ids, args.workers
                )
                cpu = user + system
                cpus.append(cpu / sent * 1000)
                check = "ok" if sent == expected and bad == 0 else f"FAILED ({bad} bad)"
                print(
                    f"  {args.rows:,} ids  {latency * 1000:3.0f} ms  run {run + 1}  "
                    f"{sent} requests  wall {wall:6.2f} s  (network floor {floor:5.2f} s)  "
                    f"client CPU {cpu:5.2f} s (user {user:4.2f} + sys {system:4.2f}) = "
                    f"{cpu / sent * 1000:5.2f} s per 1,000 requests  "
                    f"{check}",
                    flush=True,
                )
            print(
                f"  median CPU per 1,000 requests at {latency * 1000:.0f} ms: "
                f"{statistics.median(cpus):.2f} s"
            )
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=30)


if __name__ == "__main__":
    main()
