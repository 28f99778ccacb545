"""Benchmark a status refresh of one workbook whose orders live on two panels.

The same N open orders are refreshed twice through the engine (in this process, with the
simulators beside it): all on one panel, then split half and half over two panels by a
``Panel`` column. Each panel is asked 100 ids a request; the output shows the requests
each panel got and the wall time against the network floor (requests / workers x latency;
the panels are asked at once, each with its own requests in flight, so two panels' floor is
the larger of theirs).

    python bench/bench_panels.py [--rows 10000] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from _common import link_for, machine, seed_orders

from smmsheet.batch import Engine, RunOptions
from smmsheet.journal import Journal, journal_path
from smmsheet.panel import DEFAULT_MAX_WORKERS, PanelClient
from smmsheet.panels import Panels
from smmsheet.simulator import Faults, PanelSimulator
from smmsheet.workbook import open_workbook


def build(path: Path, orders: list[tuple[int, str]]) -> Path:
    """A workbook of placed, open orders: (order id, panel) per row."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Orders")
    sheet.write_row(0, 0, ("Service", "Link", "Quantity", "Panel", "Order ID", "Status"))
    for r, (order_id, panel) in enumerate(orders, start=1):
        sheet.write_row(r, 0, (1, link_for(order_id), 100, panel, order_id, "Pending"))
    book.close()
    return path


def refresh(path: Path, panels: Panels) -> float:
    book = open_workbook(str(path))
    with Journal(journal_path(path)) as journal:
        start = time.perf_counter()
        report = Engine(book, panels, journal, RunOptions()).execute("status")
        wall = time.perf_counter() - start
    assert not report.failed, report.messages
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    rows, latency = args.rows, args.latency
    print(machine())
    faults = Faults(latency=latency)
    with (
        PanelSimulator(faults=faults) as a,
        PanelSimulator(faults=Faults(latency=latency)) as b,
        tempfile.TemporaryDirectory() as tmp,
    ):
        one = seed_orders(a, rows)
        half = rows // 2
        two_b = seed_orders(b, half)  # panel b numbers its orders from 1001 too
        with PanelClient(a.url, a.api_key) as ca, PanelClient(b.url, b.api_key) as cb:
            single = build(Path(tmp) / "one.xlsx", [(i, "") for i in one])
            a.reset_counts()
            wall_one = refresh(single, Panels(ca, default_name="a"))
            requests_one = a.counts["status"]
            split = [(i, "a") for i in one[: rows - half]] + [(i, "b") for i in two_b]
            both = build(Path(tmp) / "two.xlsx", split)
            a.reset_counts()
            b.reset_counts()
            panels = Panels(ca, default_name="a", open_profile=lambda name: cb)
            wall_two = refresh(both, panels)
            requests_a, requests_b = a.counts["status"], b.counts["status"]
    floor_one = math.ceil(rows / 100 / DEFAULT_MAX_WORKERS) * latency
    floor_two = (
        max(
            math.ceil((rows - half) / 100 / DEFAULT_MAX_WORKERS),
            math.ceil(half / 100 / DEFAULT_MAX_WORKERS),
        )
        * latency
    )
    print(f"{rows} open orders, {latency * 1000:.0f} ms a request, {DEFAULT_MAX_WORKERS} workers")
    print(
        f"one panel : {requests_one:4d} requests          {wall_one:6.2f} s  "
        f"floor {floor_one:5.2f} s  x{wall_one / floor_one:.1f}"
    )
    print(
        f"two panels: {requests_a:4d} + {requests_b:4d} requests  {wall_two:6.2f} s  "
        f"floor {floor_two:5.2f} s  x{wall_two / floor_two:.1f}"
    )


if __name__ == "__main__":
    main()
