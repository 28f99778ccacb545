"""The ribbon's Self-test: the whole Excel path against the built-in simulator, nothing spent.

:func:`run_self_test` starts the simulator on 127.0.0.1, writes a scratch order workbook in
a temporary folder, and runs what a user does through the same session as the ribbon: place
three orders, refresh their status, refill a completed one, and a column of ``SMM_STATUS``
cells calculated one after another as Excel does (counting the requests). Each step is one
row of a pass/fail table; the ribbon macro (:func:`smmsheet.excel.self_test`) writes that
table into a new workbook. The user's workbooks, journals and panel are never touched: the
scratch folder holds its own journal and its own index of recent orders.

Example::

    for check in run_self_test():
        print(check.ok, check.step, check.detail)
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["HEADER", "SelfCheck", "run_self_test", "table"]

#: The table's header row.
HEADER = ["Step", "Result", "Detail", "Seconds"]
#: Rows of the scratch order sheet: a refillable service and a plain one.
ROWS = [
    (1, "https://instagram.com/smmsheet.selftest", 1000),
    (3, "https://instagram.com/p/selftest1", 1000),
    (3, "https://instagram.com/p/selftest2", 2000),
]


@dataclass(frozen=True)
class SelfCheck:
    """One step of the self-test and what it found."""

    step: str
    ok: bool
    detail: str
    seconds: float = 0.0


def table(checks: list[SelfCheck]) -> list[list[Any]]:
    """The pass/fail table as sheet rows, header first, a summary row last."""
    rows: list[list[Any]] = [list(HEADER)]
    for check in checks:
        rows.append([check.step, "PASS" if check.ok else "FAIL", check.detail, check.seconds])
    passed = sum(c.ok for c in checks)
    verdict = "PASS" if passed == len(checks) else "FAIL"
    rows.append(["All steps", verdict, f"{passed} of {len(checks)} passed", None])
    return rows


class _Steps:
    """Runs steps in order; a failed step stops the ones that need it."""

    def __init__(self) -> None:
        self.checks: list[SelfCheck] = []

    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        detail: list[str] = []
        start = time.perf_counter()
        try:
            yield detail
        except Exception as exc:  # noqa: BLE001 - every failure is a row of the table
            seconds = round(time.perf_counter() - start, 2)
            self.checks.append(SelfCheck(name, False, f"{type(exc).__name__}: {exc}", seconds))
            raise _Stop from exc
        seconds = round(time.perf_counter() - start, 2)
        self.checks.append(SelfCheck(name, True, "; ".join(detail), seconds))


class _Stop(Exception):
    """A step failed: the steps after it cannot run."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def run_self_test(progress: Callable[[str], None] | None = None) -> list[SelfCheck]:
    """Run every step against a fresh simulator in a scratch folder; never raises."""
    from .simulator import PanelSimulator

    steps = _Steps()
    say = progress or (lambda text: None)
    try:
        with tempfile.TemporaryDirectory(prefix="smmsheet-selftest-") as folder:
            with steps.step("Start the panel simulator") as detail:
                sim = PanelSimulator()
                sim.start()
                detail.append(f"{sim.url} (a simulator on this computer; nothing is spent)")
            try:
                _run_steps(steps, sim, Path(folder), say)
            finally:
                sim.stop()
    except _Stop:
        pass
    return steps.checks


def _run_steps(steps: _Steps, sim: Any, folder: Path, say: Callable[[str], None]) -> None:
    from .batch import RunOptions
    from .excel import remember_orders
    from .formulas import UdfPanel, smm_status
    from .orders import OrderTable
    from .panel import PanelClient
    from .recent import RecentOrders
    from .session import Session
    from .templates import build_orders_template
    from .workbook import open_workbook
    from .workbook.base import CellValue

    path = folder / "selftest-orders.xlsx"
    with steps.step("Scratch order workbook") as detail:
        build_orders_template(path)
        book = open_workbook(str(path))
        table = OrderTable.from_values(book.read_values("Orders"))
        cells: dict[tuple[int, int], CellValue] = {}
        for offset, (service, link, quantity) in enumerate(ROWS):
            row = table.header_row + 1 + offset
            cells[table.cell(row, "service")] = service
            cells[table.cell(row, "link")] = link
            cells[table.cell(row, "quantity")] = quantity
        book.write_cells("Orders", cells)
        book.save()
        detail.append(f"{len(ROWS)} order rows in a temporary folder")

    def orders() -> OrderTable:
        return OrderTable.from_values(open_workbook(str(path)).read_values("Orders"))

    client = PanelClient(sim.url, sim.api_key, direct=True)  # no office proxy reaches it
    try:
        with Session(str(path), client=client) as session:
            say("smmsheet self-test: placing")
            with steps.step("Place orders") as detail:
                report = session.run("place", RunOptions(confirm=lambda preview: True))
                ids = [str(r.order_id) for r in orders().rows if r.order_id]
                _require(len(ids) == len(ROWS), f"Order IDs {ids}; {report.messages}")
                _require(sim.counts["add"] == len(ROWS), f"{sim.counts['add']} adds sent")
                detail.append(f"{len(ids)} orders placed once each: {', '.join(ids)}")
            first = ids[0]
            say("smmsheet self-test: refreshing")
            with steps.step("Refresh status") as detail:
                sim.set_status(first, "Completed")
                session.run("status")
                status = orders().rows[0].text("status")
                _require(status == "Completed", f"order {first} shows {status!r}")
                detail.append(f"order {first} shows Completed")
            say("smmsheet self-test: refilling")
            with steps.step("Refill") as detail:
                book = open_workbook(str(path))
                rows = orders()
                book.write_cells("Orders", {rows.cell(rows.rows[0].row, "refill"): "x"})
                book.save()
                session.run("refill")
                refill = orders().rows[0].refill_id
                _require(refill is not None, "no Refill ID after Refill")
                _require(sim.counts["refill"] == 1, f"{sim.counts['refill']} refills sent")
                detail.append(f"refill {refill} requested for order {first}")
            say("smmsheet self-test: formulas")
            with steps.step("Formula column (SMM_STATUS)") as detail:
                index = RecentOrders(folder / "recent-orders.sqlite")
                remember_orders(session, index)
                panel = UdfPanel(client, recent=index)
                sim.reset_counts()
                answers = [smm_status(oid, panel=panel)[0][0] for oid in ids]  # cell by cell
                _require(answers[0] == "Completed", f"first cell shows {answers[0]!r}")
                _require(
                    all(isinstance(a, str) and not a.startswith("#") for a in answers),
                    f"cells show {answers}",
                )
                requests = sim.counts["status"]
                _require(requests == 1, f"{requests} status requests for {len(ids)} cells")
                detail.append(f"{len(ids)} cells, one after another: {requests} status request")
            with steps.step("No key in the workbook") as detail:
                book = open_workbook(str(path))
                text = repr([book.read_values(name) for name in book.sheet_names()])
                _require(sim.api_key not in text, "the API key is in a cell")
                detail.append(f"the API key is in none of {len(book.sheet_names())} sheets")
    finally:
        client.close()
