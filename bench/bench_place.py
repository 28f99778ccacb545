"""Benchmark placing orders, against the floors of each run.

``smmsheet place --yes BOOK`` runs in a child process (wall time and peak memory measured
from outside, see ``_common.run_child``) on a real .xlsx whose last N rows are new, against
the simulator with ``--latency`` seconds per request. Every run is checked: N orders on
the panel, N Order IDs in the sheet, no duplicates.

Floors: network = N adds / 8 in flight x latency; disk = stream-copy the file + calamine
read of the sheet. A run's floor is the larger; ratio = wall / floor. One add at a time
would take N x latency (printed beside, for the 8-in-flight gain).

``--sheet-rows`` puts that many already placed (Completed) rows above the new ones, so
placing 1,000 rows into a 1,000,000-row workbook is ``--orders 1000 --sheet-rows 1000000``
(``--million`` does just that).

    python bench/bench_place.py [--orders 1000 10000] [--latency 0 0.05] [--sheet-rows 0]
        [--million]
"""

from __future__ import annotations

import argparse
import tempfile
from decimal import Decimal
from pathlib import Path

from _common import (
    against_floor,
    build_new_book,
    disk_floor,
    machine,
    network_floor,
    panel_env,
    run_child,
)

from smmsheet.orders import OrderTable
from smmsheet.simulator import Faults, PanelSimulator
from smmsheet.workbook.xlsx import XlsxWorkbook

MILLION = 1_000_000


def place(orders: int, placed: int, latency: float, workdir: Path) -> None:
    """Place ``orders`` new rows below ``placed`` done ones in a child process; print it."""
    book = workdir / f"place-{orders}-{placed}-{latency}.xlsx"
    build_new_book(book, orders, range(10_000_000, 10_000_000 + placed))
    disk = disk_floor(book)
    with PanelSimulator(balance=Decimal(orders), faults=Faults(latency=latency)) as sim:
        result = run_child(["place", "--yes", str(book)], panel_env(sim, workdir), workdir)
        adds, on_panel = sim.counts["add"], len(sim.orders)
    table = OrderTable.from_values(XlsxWorkbook(book).read_values("Orders"))
    ids = [row.order_id for row in table.rows[placed:] if row.order_id is not None]
    del table
    ok = result.returncode == 0 and adds == on_panel == len(ids) == len(set(ids)) == orders
    network = network_floor(orders, latency)
    sheet = f"{orders + placed:>9,}-row sheet" if placed else f"{'':>9} new sheet"
    print(
        f"  {orders:>7,} adds  {sheet}  {latency * 1000:3.0f} ms  wall {result.wall:7.2f} s  "
        f"{against_floor(result.wall, network, disk)}  peak {result.max_rss_mb:5.0f} MB  "
        f"{'ok' if ok else 'FAILED'}  (one at a time: {orders * latency:,.0f} s)"
    )
    if not ok:
        print(f"check failed: {adds} adds, {on_panel} on the panel, {len(ids)} in the sheet")
        print(result.stdout[-500:], result.stderr[-2000:])
    book.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, nargs="*", default=[1_000, 10_000])
    parser.add_argument("--latency", type=float, nargs="*", default=[0.0, 0.05])
    parser.add_argument("--sheet-rows", type=int, default=0, help="placed rows above the new")
    parser.add_argument(
        "--million", action="store_true", help="also place 1,000 rows into a 1,000,000-row sheet"
    )
    args = parser.parse_args()
    print(f"bench_place: {machine()}")
    print(
        "`smmsheet place --yes BOOK` in a child process (engine: journal, place, status of the "
        "new orders, one save).\nFloor: the larger of network (N adds / 8 in flight x latency) "
        "and disk (stream-copy + calamine read)"
    )
    runs = [(n, args.sheet_rows) for n in args.orders]
    if args.million:
        runs.append((1_000, MILLION - 1_000))
    with tempfile.TemporaryDirectory() as tmp:
        for latency in args.latency:
            for orders, placed in runs:
                place(orders, placed, latency, Path(tmp))


if __name__ == "__main__":
    main()
