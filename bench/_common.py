"""Shared pieces of the benchmarks: seeded simulators, big order workbooks, child processes.

Imported by the ``bench_*.py`` scripts next to it (``python bench/bench_refresh.py`` puts
this folder first on ``sys.path``).
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from smmsheet.orders import OUTPUT_COLUMNS
from smmsheet.panel import DEFAULT_MAX_WORKERS
from smmsheet.simulator import PanelSimulator, SimOrder

ROOT = Path(__file__).resolve().parent.parent
INPUT_HEADER = ("Service", "Link", "Quantity")
HEADER = (*INPUT_HEADER, *OUTPUT_COLUMNS.values())


def machine() -> str:
    """One line saying where the numbers were measured."""
    return (
        f"{platform.python_implementation()} {platform.python_version()} on {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs"
    )


def seed_orders(sim: PanelSimulator, count: int, *, status: str = "Pending") -> list[int]:
    """Put ``count`` accepted orders straight into the simulator (``add`` x 100k is too slow).

    The orders look exactly like ones ``add`` creates; the next ``add`` gets the next id.
    """
    first = sim.state.next_order_id
    now = time.time()
    orders = [
        SimOrder(
            id=order_id,
            service=1,
            link=link_for(order_id),
            quantity=100,
            charge=Decimal("0.09000"),
            start_count=order_id % 10_000,
            remains=100,
            status=status,
            currency=sim.currency,
            fields={"service": "1", "link": link_for(order_id), "quantity": "100"},
            created=now,
        )
        for order_id in range(first, first + count)
    ]
    sim.state.add_orders(orders)
    return list(range(first, first + count))


def link_for(order_id: int) -> str:
    return f"https://instagram.com/p/bench-{order_id}"


def build_placed_book(path: Path, order_ids: list[int]) -> Path:
    """An order workbook whose rows were already placed: one open (Pending) order per row.

    Written with xlsxwriter in constant-memory mode, so 100,000 rows build in seconds.
    """
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Orders")
    sheet.write_row(0, 0, HEADER)
    _placed_rows(sheet, order_ids, "Pending")
    book.close()
    return path


def _placed_rows(sheet: Any, order_ids: Sequence[int], status: str) -> None:
    """One placed order per row from row 2: service 1, its link, 100, its id, ``status``."""
    status_col = HEADER.index("Status")
    for r, order_id in enumerate(order_ids, start=1):
        sheet.write_number(r, 0, 1)
        sheet.write_string(r, 1, link_for(order_id))
        sheet.write_number(r, 2, 100)
        sheet.write_number(r, 3, order_id)
        sheet.write_string(r, status_col, status)


def build_new_book(path: Path, count: int, placed: Sequence[int] = ()) -> Path:
    """An order workbook of ``count`` new rows (service 1, 100 each, distinct links), below
    one already placed (Completed) row per order id in ``placed``: a big sheet's new rows."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Orders")
    sheet.write_row(0, 0, HEADER)
    _placed_rows(sheet, placed, "Completed")
    for r in range(len(placed) + 1, len(placed) + count + 1):
        sheet.write_number(r, 0, 1)
        sheet.write_string(r, 1, f"https://instagram.com/p/new-{r}")
        sheet.write_number(r, 2, 100)
    book.close()
    return path


# ---------------------------------------------------------------------------- floors


def network_floor(requests: int, latency: float, in_flight: int = DEFAULT_MAX_WORKERS) -> float:
    """Seconds ``requests`` round trips of ``latency`` take at best, ``in_flight`` at a time."""
    return requests / in_flight * latency


def disk_floor(book: Path, sheet: str = "Orders", repeat: int = 3) -> float:
    """Seconds to stream-copy the workbook and read its sheet with calamine (best of a few):
    what any tool that reads the sheet and writes the file again must at least spend."""
    import shutil
    import tempfile

    from python_calamine import CalamineWorkbook

    best = math.inf
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            start = time.perf_counter()
            shutil.copyfile(book, Path(tmp) / book.name)
            with CalamineWorkbook.from_path(str(book)) as workbook:
                workbook.get_sheet_by_name(sheet).to_python()
            best = min(best, time.perf_counter() - start)
    return best


def against_floor(wall: float, network: float, disk: float) -> str:
    """``floor 6.25 s (network) ratio 1.30x``: the larger floor of a run, and wall / floor."""
    floor, kind = max((network, "network"), (disk, "disk"))
    return f"floor {floor:6.2f} s ({kind:<7})  ratio {wall / floor:5.2f}x"


@dataclass(frozen=True)
class ChildRun:
    """A measured child process: wall time, peak resident memory, exit code and output."""

    wall: float
    max_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


# ru_maxrss of a child counts the address space it was forked from until it execs: a child
# of this process (which holds a simulator with 100,000 orders) would report our size, not
# its own. So a small launcher process starts the measured command and reports its rusage.
_LAUNCHER = """
import os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as report:
    report.write(f"{wall} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def run_child(args: list[str], env: dict[str, str], workdir: Path) -> ChildRun:
    """Run ``python -m smmsheet ARGS`` and measure it from outside (wall, ru_maxrss via wait4).

    The panel simulator stays in this process, so the child's memory is the client's alone.
    """
    out_path, err_path = workdir / "child.out", workdir / "child.err"
    report = workdir / "child.rusage"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(report), sys.executable, "-m", "smmsheet", *args],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
            cwd=workdir,
            check=True,
        )
    wall, max_rss_kb, returncode = report.read_text().split()
    return ChildRun(
        wall=float(wall),
        max_rss_mb=int(max_rss_kb) / 1024,  # kilobytes on Linux
        returncode=int(returncode),
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )


def panel_env(sim: PanelSimulator, workdir: Path) -> dict[str, str]:
    """Environment that points a child ``smmsheet`` at the simulator, with no user config."""
    return {
        "SMMSHEET_PANEL_URL": sim.url,
        "SMMSHEET_API_KEY": sim.api_key,
        "SMMSHEET_CONFIG": str(workdir / "no-config.toml"),
        "SMMSHEET_PROFILE": "",
    }
