"""Benchmark the tail of a refresh: ``write_cells`` + ``save`` of a 100,000-row status run.

Builds the workbook ``bench/serve.py`` builds (one open order a row), runs ``smmsheet status``
on it twice in this process against the simulator and records exactly what the engine hands
``XlsxWorkbook.write_cells`` each time: the "first" run (every row's cells change) and the
"again" run (only Updated changes). Then it replays each write set on a copy of the book as
that run found it, ``--repeat`` times, and prints CPU seconds (``time.process_time``: this
process and its deflate thread) and wall seconds of ``write_cells`` and of ``save``.

    python bench/bench_save.py [--rows 100000] [--repeat 5] [--cache DIR]

``--cache DIR`` keeps the books and the recorded writes, so a later run (for instance the
same script on another tree: ``PYTHONPATH=/other/tree python bench/bench_save.py --cache
DIR``) replays the very same input; before/after comparisons alternate such runs.
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from _common import build_placed_book, machine, panel_env, seed_orders

from smmsheet.workbook.base import CellValue
from smmsheet.workbook.xlsx import XlsxWorkbook

RUNS = ("first", "again")
Writes = dict[tuple[int, int], CellValue]


def record(rows: int, cache: Path) -> None:
    """Run ``smmsheet status`` twice; keep each run's starting book and its write set."""
    from click.testing import CliRunner

    from smmsheet.cli import cli
    from smmsheet.simulator import Faults, PanelSimulator

    recorded: list[Writes] = []
    original = XlsxWorkbook.write_cells

    def recording(
        self: XlsxWorkbook, sheet: str, cells: Mapping[tuple[int, int], CellValue]
    ) -> None:
        recorded.append(dict(cells.items()))
        original(self, sheet, cells)

    book = cache / "book.xlsx"
    with PanelSimulator(faults=Faults(latency=0.0), auto_progress=False) as sim:
        build_placed_book(book, seed_orders(sim, rows, status="In progress"))
        env = panel_env(sim, cache)
        XlsxWorkbook.write_cells = recording  # type: ignore[method-assign]
        try:
            for run in RUNS:
                shutil.copy(book, cache / f"{run}.xlsx")
                recorded.clear()
                result = CliRunner().invoke(cli, ["status", str(book)], env=env)
                if result.exit_code != 0:
                    raise SystemExit(f"status failed: {result.output[-2000:]}")
                writes: Writes = {}
                for cells in recorded:
                    writes.update(cells)
                with (cache / f"{run}.pickle").open("wb") as file:
                    pickle.dump(writes, file, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            XlsxWorkbook.write_cells = original  # type: ignore[method-assign]
    book.unlink()


#: CPU seconds of each deflate thread (``zipio.Deflater``) the replays started.
DEFLATE_CPU: list[float] = []


def _count_deflate_cpu() -> None:
    """Record each deflate thread's own CPU time (it is in ``process_time`` too)."""
    from smmsheet.workbook.xlsx import zipio

    run = zipio.Deflater._run

    def timed(self: zipio.Deflater) -> None:
        start = time.thread_time()
        run(self)
        DEFLATE_CPU.append(time.thread_time() - start)

    zipio.Deflater._run = timed  # type: ignore[method-assign]


def replay(cache: Path, run: str, work: Path) -> tuple[float, float, float, float, int]:
    """One ``write_cells`` + ``save`` of the recorded writes: CPU and wall of each, file size."""
    with (cache / f"{run}.pickle").open("rb") as file:
        writes: Writes = pickle.load(file)
    target = work / f"{run}.xlsx"
    shutil.copy(cache / f"{run}.xlsx", target)
    book = XlsxWorkbook(target)
    book.read_values("Orders")
    write = _timed(lambda: book.write_cells("Orders", writes))
    save = _timed(book.save)
    return write[0], write[1], save[0], save[1], target.stat().st_size


def _timed(run: Callable[[], object]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cache", type=Path, help="keep (or reuse) the books and write sets")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp) / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        if not all((cache / f"{run}.pickle").exists() for run in RUNS):
            start = time.perf_counter()
            record(args.rows, cache)
            took = time.perf_counter() - start
            print(f"recorded two status runs of {args.rows:,} rows in {took:.1f} s")
        _count_deflate_cpu()
        for run in RUNS:
            DEFLATE_CPU.clear()
            results = [replay(cache, run, Path(tmp)) for _ in range(args.repeat)]
            cpu_w, wall_w, cpu_s, wall_s, size = (
                statistics.median(r[i] for r in results) for i in range(5)
            )
            total = [r[0] + r[2] for r in results]
            print(
                f"{run:<5}  write_cells cpu {cpu_w:5.2f} s wall {wall_w:5.2f} s   "
                f"save cpu {cpu_s:5.2f} s wall {wall_s:5.2f} s   "
                f"cpu total median {statistics.median(total):5.2f} s (min {min(total):5.2f})   "
                f"of it the deflate thread {statistics.median(DEFLATE_CPU):4.2f} s   "
                f"file {size / 1e6:.2f} MB  (medians of {args.repeat})"
            )


if __name__ == "__main__":
    main()
