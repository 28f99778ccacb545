"""Where one real ``smmsheet`` command spends its wall time, phase by phase.

Runs the command in this process with a timestamp at the start and end of each phase of
the engine and the workbook adapter (reading, the status requests as their results come
in, Refill until, the cell buffer, the save), then prints the timeline and each phase's
share. Point it at a panel in another process, so the panel's CPU is not this process's::

    python bench/serve.py --rows 100000 --latency 0.05 --book /tmp/orders.xlsx &   # export lines
    cp /tmp/orders.xlsx /tmp/run.xlsx
    python bench/phases.py status /tmp/run.xlsx

The first ``status chunk`` line is when the first answer came back, the last when the
last one did: between them is the network phase, to compare with the network floor
(ceil(N/100) requests / 8 in flight x latency). Wrapping costs a few microseconds a call,
so the engine's per-row functions are not wrapped, only the phases.
"""

from __future__ import annotations

import functools
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
    """Mark when the 1st, 10th, 100th, ... and last status chunk came back."""
    status_chunks = panel.PanelClient.status_chunks

    def wrapper(self: panel.PanelClient, ids: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        count = 0
        for chunk in status_chunks(self, ids, *args, **kwargs):
            count += 1
            if count in (1, 10, 100) or count % 500 == 0:
                mark(f"  status chunk {count}")
            yield chunk
        mark(f"  status chunk {count} (last)")

    panel.PanelClient.status_chunks = wrapper  # type: ignore[method-assign]


def main() -> None:
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
    previous = 0.0
    for at, what in MARKS:
        print(f"{at:8.3f} s  (+{at - previous:6.3f})  {what}", file=sys.stderr)
        previous = at


if __name__ == "__main__":
    main()
