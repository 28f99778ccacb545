"""Where one real ``smmsheet`` command spends its wall time, phase by phase.

Runs the command in this process with a timestamp at the start and end of each phase of
the engine and the workbook adapter (reading, the status requests as their results come
in, Refill until, the cell buffer, the save), then prints the timeline and each phase's
share. Point it at a panel in another process, so the panel's CPU is not this process's::

    python bench/serve.py --rows 100000 --latency 0.05 --book /tmp/orders.xlsx &   # export lines
    cp /tmp/orders.xlsx /tmp/run.xlsx
    python bench/phases.py status /tmp/run.xlsx

Each full garbage collection is marked where it ran, and the collections of each
generation are summed at the end. The first ``status chunk`` line is when the first answer
came back, the last when the last one did: between them is the network phase, to compare
with the network floor (ceil(N/100) requests / 8 in flight x latency). Wrapping costs a
few microseconds a call, so the engine's per-row functions are not wrapped, only the phases.
"""

from __future__ import annotations

import functools
import gc
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from smmsheet import batch, panel
from smmsheet.workbook.xlsx import adapter

START = time.perf_counter()
MARKS: list[tuple[float, str]] = []

PHASES: list[tuple[Any, str]] = [
    (batch.Engine, "__init__"),
    (adapter.XlsxWorkbook, "read_values"),
    (batch.Engine, "refresh"),
    (batch.Engine, "refill_windows"),
    (batch.Engine, "commit"),
    (adapter.XlsxWorkbook, "write_cells"),
    (adapter.XlsxWorkbook, "save"),
    (batch.Engine, "_take_stock"),
]


def mark(what: str) -> None:
    MARKS.append((time.perf_counter() - START, what))


def timed(owner: Any, name: str) -> None:
    """Mark the start and end of ``owner.name`` each time it runs."""
    function: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        mark(f"> {owner.__name__}.{name}")
        try:
            return function(*args, **kwargs)
        finally:
            mark(f"< {owner.__name__}.{name}")

    setattr(owner, name, wrapper)


def chunks_marked() -> None:
    """Mark when the 1st, 10th, 100th, ... and last status chunk came back, whether asked
    the plain way or ahead, while the sheet was read (and when the first went out ahead)."""

    def marked(owner: Any, name: str) -> None:
        chunks = getattr(owner, name)

        def wrapper(self: Any, ids: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
            count = 0
            for chunk in chunks(self, ids, *args, **kwargs):
                count += 1
                if count in (1, 10, 100) or count % 500 == 0:
                    mark(f"  status chunk {count}")
                yield chunk
            mark(f"  status chunk {count} (last)")

        setattr(owner, name, wrapper)

    marked(panel.PanelClient, "status_chunks")
    marked(panel.StatusAhead, "chunks")
    send = panel.StatusAhead._send

    def first_sent(self: panel.StatusAhead, chunk: list[str]) -> None:
        if self._fan is None:
            mark("  first status request sent ahead")
        send(self, chunk)

    panel.StatusAhead._send = first_sent  # type: ignore[method-assign]


def collections_timed() -> tuple[dict[int, list[float]], Callable[[str, dict[str, int]], None]]:
    """Time the garbage collector's passes (seconds, by generation); mark each full one.
    Returns the times and the callback, to take out of ``gc.callbacks`` when done."""
    spent: dict[int, list[float]] = {0: [], 1: [], 2: []}
    began = [0.0]

    def timer(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
            return
        took = time.perf_counter() - began[0]
        spent[info["generation"]].append(took)
        if info["generation"] == 2:
            mark(f"  full garbage collection, {took:.3f} s")

    gc.callbacks.append(timer)
    return spent, timer


def main() -> None:
    spent, timer = collections_timed()
    for owner, name in PHASES:
        timed(owner, name)
    chunks_marked()
    mark("imported")
    from smmsheet.cli import main as cli

    sys.argv = ["smmsheet", *sys.argv[1:]]
    try:
        cli()
    except SystemExit:
        pass
    mark("end")
    gc.callbacks.remove(timer)
    previous = 0.0
    for at, what in MARKS:
        print(f"{at:8.3f} s  (+{at - previous:6.3f})  {what}", file=sys.stderr)
        previous = at
    for generation, times in spent.items():
        print(
            f"garbage collections of generation {generation}: {len(times)}, {sum(times):.3f} s",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
