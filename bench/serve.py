"""A seeded panel simulator and its workbook, served until interrupted: for profiling.

Builds an N-row workbook whose orders are all open (the sheet says Pending, the panel says
In progress, as the first run of ``bench_refresh.py``) or, with ``--new``, N new rows to
place, starts the simulator in this process and prints the environment that points
``smmsheet`` at it. Then profile or time the real command in another process::

    python bench/serve.py --rows 100000 --book /tmp/orders.xlsx &   # prints export lines
    cp /tmp/orders.xlsx /tmp/run.xlsx
    py-spy record -o profile.svg -- python -m smmsheet status /tmp/run.xlsx

Copy the book before each run: a run changes it (and ``place`` places its rows).
"""

from __future__ import annotations

import argparse
import signal
import tempfile
from decimal import Decimal
from pathlib import Path

from _common import build_new_book, build_placed_book, panel_env, seed_orders

from smmsheet.simulator import Faults, PanelSimulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--book", type=Path, required=True, help="where to write the workbook")
    parser.add_argument("--new", action="store_true", help="rows to place instead of open orders")
    args = parser.parse_args()
    sim = PanelSimulator(
        balance=Decimal(args.rows) * 1000, faults=Faults(latency=args.latency), auto_progress=False
    )
    if args.new:
        build_new_book(args.book, args.rows)
    else:
        build_placed_book(args.book, seed_orders(sim, args.rows, status="In progress"))
    with sim, tempfile.TemporaryDirectory() as tmp:
        for name, value in panel_env(sim, Path(tmp)).items():
            print(f"export {name}={value!r}", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})


if __name__ == "__main__":
    main()
