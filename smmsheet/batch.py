"""The batch engine: place, refresh, refill, cancel over an order sheet. No Excel imports.

Every shell (CLI, ribbon macros) does the same thing::

    with Journal(journal_path(book_path)) as journal:
        report = Engine(book, panel, journal, RunOptions(sheet="Orders")).execute("run")

The engine reads the sheet once, first writes back what an interrupted run left in the
journal, then runs the action, buffering cell writes, and commits them in one save. Paid
requests go through the journal: intent before sending, outcome after, ``synced`` once the
workbook on disk holds the outcome.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from .errors import (
    AmbiguousRequestError,
    ConfigError,
    JournalError,
    PanelError,
    WorkbookError,
)
from .journal import Entry, Journal
from .orders import AMBIGUOUS_MARK, OrderPlan, OrderRow, OrderTable, id_cell, is_final, validate
from .panel import Balance, PanelClient, Service
from .workbook.base import CellValue, WorkbookAdapter, find_sheet

__all__ = [
    "ACTIONS",
    "DEFAULT_SHEET",
    "Engine",
    "Preview",
    "Report",
    "RowResult",
    "RunOptions",
    "services_table",
]

DEFAULT_SHEET = "Orders"
SERVICES_SHEET = "Services"
#: What each command does, in the order ``run`` does them.
ACTIONS: dict[str, tuple[str, ...]] = {
    "place": ("place",),
    "status": ("status",),
    "refill": ("refill",),
    "refill-status": ("refill_status",),
    "cancel": ("cancel",),
    "run": ("place", "refill", "cancel", "status", "refill_status"),
}
#: Outcomes that need no word to the user (the summary counts them).
ROUTINE_OUTCOMES = frozenset(
    {
        "placed",
        "updated",
        "refilled",
        "canceled",
        "accepted",
        "would place",
        "would refill",
        "would cancel",
    }
)
#: Outcomes that make a command exit with 1 ("some items failed").
FAILED_OUTCOMES = frozenset({"invalid", "failed", "ambiguous", "over budget", "orphaned"})
CANCEL_REQUESTED = "Cancel requested"


@dataclass(frozen=True)
class Preview:
    """What placing would do: shown before confirming, and by ``--dry-run``."""

    orders: int
    cost: Decimal
    currency: str
    balance: Decimal


@dataclass
class RunOptions:
    """How a batch runs; the shells fill it from flags or dialogs."""

    sheet: str = DEFAULT_SHEET
    dry_run: bool = False
    max_spend: Decimal | None = None
    #: Asked before any order is placed; returning False sends nothing.
    confirm: Callable[[Preview], bool] | None = None
    #: Called as progress(label, done, total) while a step runs.
    progress: Callable[[str, int, int], None] | None = None
    now: Callable[[], dt.datetime] = dt.datetime.now


@dataclass(frozen=True)
class RowResult:
    """What happened to one row in one step."""

    row: int
    step: str
    outcome: str
    message: str = ""


@dataclass
class Report:
    """Everything a shell needs to tell the user what a run did."""

    results: list[RowResult] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    preview: Preview | None = None
    spent: Decimal = Decimal(0)
    currency: str = ""
    saved: bool = False

    def add(self, row: int, step: str, outcome: str, message: str = "") -> None:
        """Record one row's outcome."""
        self.results.append(RowResult(row, step, outcome, message))

    def counts(self) -> Counter[tuple[str, str]]:
        """How many rows per (step, outcome)."""
        return Counter((r.step, r.outcome) for r in self.results)

    @property
    def failed(self) -> bool:
        """Some rows failed or need attention (exit code 1)."""
        return any(r.outcome in FAILED_OUTCOMES for r in self.results)


class Engine:
    """Runs one command over one order sheet of one workbook."""

    def __init__(
        self,
        book: WorkbookAdapter,
        panel: PanelClient,
        journal: Journal,
        options: RunOptions | None = None,
    ) -> None:
        self.book = book
        self.panel = panel
        self.journal = journal
        self.options = options or RunOptions()
        self.sheet = self.options.sheet
        self.report = Report()
        self._pending: dict[tuple[int, int], CellValue] = {}
        self._synced: list[int] = []
        self._orphaned: list[int] = []
        self._services: dict[int, Service] | None = None
        self._run_time: str | None = None
        names = book.sheet_names()
        found = find_sheet(names, self.sheet)
        if found is None:
            raise ConfigError(
                f"no sheet {self.sheet!r} in the workbook (sheets: {', '.join(names)})"
            )
        self.sheet = found  # as the workbook spells it: the journal keys entries by it
        self.table = OrderTable.from_values(book.read_values(self.sheet))
        self._by_number = {r.row: r for r in self.table.rows}

    # ----------------------------------------------------------------- entry point

    def execute(self, command: str) -> Report:
        """Reconcile the journal, run the command's steps, commit the writes once."""
        steps = ACTIONS.get(command)
        if steps is None:
            raise ConfigError(f"unknown command {command!r}")
        if not self.options.dry_run:
            self.book.check_writable()  # before any request: never buy what can't be recorded
        self.reconcile()
        placed: list[str] = []
        try:
            for step in steps:
                if step == "place":
                    placed = self.place()
                elif step == "status":
                    # `place` alone refreshes just what it placed; `run` refreshes every open row.
                    self.refresh()
                elif step == "refill":
                    self.refill()
                elif step == "cancel":
                    self.cancel()
                elif step == "refill_status":
                    self.refill_status()
            if command == "place" and placed:
                self.refresh(only=placed)
        finally:
            if not self.options.dry_run:
                self.commit()
        return self.report

    # ----------------------------------------------------------------- cell writes

    def _set(self, row: OrderRow, key: str, value: CellValue) -> None:
        """Buffer one cell write and keep the in-memory row in step; a no-op write is skipped.

        A refresh of 100,000 open orders mostly rewrites what is already there (currency,
        an empty Error, an unchanged status); skipping those keeps the save small.
        """
        if _unchanged(row.values.get(key), value):
            return
        self._pending[self.table.cell(row.row, key)] = value
        row.values[key] = value

    def _stamp(self, row: OrderRow, error: str | None = None) -> None:
        """Set the row's Error (None clears it) and its Updated time: the time of this run."""
        if self._run_time is None:
            self._run_time = self.options.now().strftime("%Y-%m-%d %H:%M:%S")
        self._set(row, "error", error)
        self._set(row, "updated", self._run_time)

    def commit(self) -> None:
        """Write the buffered cells in one save, then mark the journal entries synced."""
        if not self._pending and not self._synced:
            self.journal.mark_synced(self._orphaned, 2)
            return
        cells = {**self.table.header_cells(), **self._pending}
        try:
            self.book.write_cells(self.sheet, cells)
            self.book.save()
        except WorkbookError as exc:
            if self._synced:
                self.report.messages.append(
                    f"{exc} -- the outcomes of {len(self._synced)} paid requests are kept in "
                    f"the journal {self.journal.path} and will be written on the next run"
                )
            raise
        self.report.saved = True
        self.journal.mark_synced(self._synced)
        self.journal.mark_synced(self._orphaned, 2)
        self._pending.clear()
        self._synced.clear()
        self._orphaned.clear()

    # ----------------------------------------------------------------- journal recovery

    def _find_row(self, entry: Entry) -> OrderRow | None:
        row = self._by_number.get(entry.row)
        if row is not None and row.fingerprint() == entry.fingerprint:
            return row
        for candidate in self.table.rows:  # the row moved (rows inserted or sorted)
            if candidate.fingerprint() == entry.fingerprint and (
                entry.action != "add" or candidate.order_id in (None, entry.result_id)
            ):
                return candidate
        return None

    def reconcile(self) -> None:
        """Write back the outcomes a previous run recorded but never saved into the sheet."""
        entries = self.journal.unsynced(self.sheet)
        for entry in entries:
            row = self._find_row(entry)
            if row is None:
                self._orphaned.append(entry.id)
                what = f"{entry.action} for row {entry.row} ({entry.request.get('link', '')})"
                self.report.messages.append(
                    f"journal #{entry.id}: {what} ended '{entry.state}' "
                    f"{entry.result or ''} but that row is no longer in the sheet; "
                    f"see {self.journal.path}"
                )
                self.report.add(entry.row, "recover", "orphaned", what)
                continue
            self._apply_outcome(row, entry)
            self._synced.append(entry.id)
            self.report.add(row.row, "recover", entry.state, entry.result or "")
        if entries:
            self.report.messages.append(
                f"recovered {len(entries)} outcome(s) of an interrupted run from the journal"
            )

    def _apply_outcome(self, row: OrderRow, entry: Entry) -> None:
        """Put one journaled outcome into its row."""
        state, result = entry.state, entry.result or ""
        if entry.action == "add":
            if state == "accepted":
                if row.order_id not in (None, entry.result_id):
                    self.report.messages.append(
                        f"row {row.row} holds order {row.order_id} but the journal says the panel "
                        f"accepted order {result} for it; both are kept in the journal"
                    )
                    return
                self._succeeded("add", row, entry.result_id)
            elif state in ("sent", "ambiguous"):
                if row.order_id is None:
                    self._stamp(row, _ambiguous_text(entry.id, result or "the run was interrupted"))
            else:
                self._stamp(row, result)
        elif state == "accepted":
            self._succeeded(entry.action, row, entry.result_id)
        else:
            self._failed(entry.action, row, state, result)

    # ----------------------------------------------------------------- panel lookups

    def services(self) -> dict[int, Service]:
        """The panel's services by id, fetched once per run."""
        if self._services is None:
            self._services = {s.id: s for s in self.panel.services()}
        return self._services

    def _progress(self, label: str, done: int, total: int) -> None:
        if self.options.progress is not None:
            self.options.progress(label, done, total)

    # ----------------------------------------------------------------- place

    def place(self) -> list[str]:
        """Validate and place every new row; returns the new order ids."""
        already = self.journal.accepted_adds(self.sheet)
        candidates: list[OrderRow] = []
        for row in self.table.rows:
            if row.order_id is not None:
                continue
            if row.is_ambiguous:
                self.report.add(row.row, "place", "skipped", AMBIGUOUS_MARK)
                continue
            previous = already.get((row.row, row.fingerprint()))
            if previous is not None:
                # Placed by an earlier run, then the ID vanished from the sheet (an older
                # copy of the file?): write it back instead of buying it again.
                self._set(row, "order_id", id_cell(previous.result_id or ""))
                self._stamp(row, f"restored from journal #{previous.id}; not placed again")
                self.report.add(row.row, "place", "restored", str(previous.result_id))
                continue
            candidates.append(row)
        if not candidates:
            return []

        services = self.services()
        plans: list[OrderPlan] = []
        for row in candidates:
            plan = validate(row, services)
            if isinstance(plan, str):
                self._stamp(row, plan)
                self.report.add(row.row, "place", "invalid", plan)
            else:
                plans.append(plan)
        if not plans:
            return []

        balance = self.panel.balance()
        plans = self._within_budget(plans, balance)
        preview = Preview(
            len(plans), sum((p.cost for p in plans), Decimal(0)), balance.currency, balance.amount
        )
        self.report.preview = preview
        self.report.currency = balance.currency
        if not plans:
            return []
        if self.options.dry_run:
            for plan in plans:
                self.report.add(plan.row, "place", "would place", f"{plan.cost:.5f}")
            return []
        if self.options.confirm is not None and not self.options.confirm(preview):
            self.report.messages.append("placing cancelled: nothing was sent")
            return []
        return self._send_adds(plans)

    def _within_budget(self, plans: list[OrderPlan], balance: Balance) -> list[OrderPlan]:
        """Keep the rows, in sheet order, whose running total fits the balance and --max-spend."""
        kept: list[OrderPlan] = []
        total = Decimal(0)
        cap = self.options.max_spend
        for plan in plans:
            if total + plan.cost > balance.amount:
                reason = (
                    f"Not placed: insufficient balance ({balance.amount} {balance.currency}) "
                    f"for this order ({plan.cost:.5f}) after the rows above"
                )
            elif cap is not None and total + plan.cost > cap:
                reason = f"Not placed: would exceed --max-spend {cap} (this order {plan.cost:.5f})"
            else:
                total += plan.cost
                kept.append(plan)
                continue
            self._stamp(self._by_number[plan.row], reason)
            self.report.add(plan.row, "place", "over budget", reason)
        return kept

    def _send_adds(self, plans: list[OrderPlan]) -> list[str]:
        """Send the adds with bounded concurrency, journaling each one around its request."""
        placed: list[str] = []
        stop = False

        def send(plan: OrderPlan) -> tuple[OrderPlan, int, str, str]:
            entry = self.journal.intent(
                sheet=self.sheet,
                row=plan.row,
                fingerprint=plan.fingerprint,
                action="add",
                request={"service": str(plan.service.id), **plan.fields},
            )
            if stop:
                self._note(entry, "rejected", "not sent: the run was stopped")
                return plan, entry, "rejected", "not sent: the run was stopped"
            try:
                order = self.panel.add(plan.service.id, **plan.fields)
            except AmbiguousRequestError as exc:
                self._note(entry, "ambiguous", exc.message)
                return plan, entry, "ambiguous", exc.message
            except PanelError as exc:
                # Anything else means the panel refused or never got the request.
                self._note(entry, "rejected", exc.message)
                if exc.stops_run:  # an invalid key, a panel asking to wait too long
                    raise
                return plan, entry, "rejected", exc.message
            except BaseException as exc:
                self._note(entry, "ambiguous", f"{type(exc).__name__} while sending")
                raise
            self._note(entry, "accepted", order)
            return plan, entry, "accepted", str(order)

        total = len(plans)
        done = 0
        self._progress("place", 0, total)
        pool = ThreadPoolExecutor(max_workers=self.panel.max_workers)
        futures: set[Future[tuple[OrderPlan, int, str, str]]] = {
            pool.submit(send, p) for p in plans
        }
        fatal: BaseException | None = None
        try:
            while futures:
                finished, futures = wait(futures, return_when=FIRST_COMPLETED)
                for future in finished:
                    try:
                        plan, entry, state, result = future.result()
                    except PanelError as exc:  # one that stops the run (see send)
                        stop = True
                        fatal = fatal or exc
                        continue
                    done += 1
                    self._record_add(plan, entry, state, result, placed)
                self._progress("place", done, total)
        except BaseException:
            stop = True  # Ctrl-C: let in-flight requests finish and keep their outcomes
            pool.shutdown(wait=True, cancel_futures=True)
            for future in futures:
                if future.done() and not future.cancelled() and future.exception() is None:
                    self._record_add(*future.result(), placed)
            raise
        finally:
            pool.shutdown(wait=True)
        if fatal is not None:
            raise fatal
        return placed

    def _note(self, entry: int, state: str, result: str | int | None) -> None:
        """Record an outcome; a journal failing now must not lose the panel's answer."""
        try:
            self.journal.outcome(entry, state, result)
        except JournalError as exc:
            self.report.messages.append(
                f"{exc}: the outcome of journal #{entry} ({state} {result}) is only in the sheet"
            )

    def _record_add(
        self, plan: OrderPlan, entry: int, state: str, result: str, placed: list[str]
    ) -> None:
        row = self._by_number[plan.row]
        if state == "accepted":
            self._succeeded("add", row, result)
            placed.append(result)
            self.report.spent += plan.cost
            self.report.add(row.row, "place", "placed", result)
        elif state == "ambiguous":
            self._stamp(row, _ambiguous_text(entry, result))
            self.report.add(row.row, "place", "ambiguous", result)
        else:
            self._stamp(row, result)
            self.report.add(row.row, "place", "failed", result)
        self._synced.append(entry)

    # ----------------------------------------------------------------- refresh

    def refresh(self, only: Iterable[str] | None = None) -> None:
        """Refresh status, charge, start count and remains of orders not final yet."""
        wanted = set(only) if only is not None else None
        rows_by_id: dict[str, list[OrderRow]] = {}
        for row in self.table.rows:
            oid = row.order_id
            if oid is None or (wanted is not None and oid not in wanted):
                continue
            if wanted is None and is_final(row.get("status")):
                continue
            rows_by_id.setdefault(oid, []).append(row)
        if not rows_by_id:
            return
        total, done = len(rows_by_id), 0
        self._progress("status", 0, total)
        # Each chunk is written while the next requests are still in flight.
        for statuses in self.panel.status_chunks(list(rows_by_id)):
            for oid, st in statuses.items():
                for row in rows_by_id[oid]:
                    if st.error:
                        self._stamp(row, f"status: {st.error}")
                        self.report.add(row.row, "status", "failed", st.error)
                        continue
                    self._set(row, "status", st.status)
                    self._set(row, "charge", st.charge)
                    self._set(row, "start_count", st.start_count)
                    self._set(row, "remains", st.remains)
                    self._set(row, "currency", st.currency)
                    self._stamp(row)
                    self.report.add(row.row, "status", "updated", st.status or "")
            done += len(statuses)
            self._progress("status", done, total)

    def refill_status(self) -> None:
        """Refresh the status of refills not final yet."""
        rows_by_id: dict[str, list[OrderRow]] = {}
        for row in self.table.rows:
            rid = row.refill_id
            if rid is not None and not is_final(row.get("refill_status"), refill=True):
                rows_by_id.setdefault(rid, []).append(row)
        if not rows_by_id:
            return
        statuses = self.panel.refill_status_many(list(rows_by_id))
        for rid, rows in rows_by_id.items():
            st = statuses[rid]
            for row in rows:
                if st.error:
                    self._stamp(row, f"refill status: {st.error}")
                    self.report.add(row.row, "refill status", "failed", st.error)
                else:
                    self._set(row, "refill_status", st.status)
                    self._stamp(row)
                    self.report.add(row.row, "refill status", "updated", st.status or "")

    # ----------------------------------------------------------------- refill / cancel

    def _flagged(self, action: str) -> dict[str, OrderRow]:
        """Rows whose ``action`` flag (Refill, Cancel) is set, by order id; no id is an error."""
        out: dict[str, OrderRow] = {}
        for row in self.table.rows:
            if not row.flag(action):
                continue
            oid = row.order_id
            if oid is None:
                self._stamp(row, f"{action}: no Order ID in this row")
                self.report.add(row.row, action, "invalid", "no Order ID")
            elif oid in out:
                self.report.add(row.row, action, "skipped", f"order {oid} is flagged twice")
            else:
                out[oid] = row
        return out

    def _journaled(self, action: str, rows: dict[str, OrderRow]) -> dict[str, int]:
        return {
            oid: self.journal.intent(
                sheet=self.sheet,
                row=row.row,
                fingerprint=row.fingerprint(),
                action=action,
                request={"order": oid},
                target=oid,
            )
            for oid, row in rows.items()
        }

    def refill(self) -> None:
        """Request refills for flagged rows; write the Refill ID and clear the flag."""
        self._flagged_action("refill", self.panel.refill_many, lambda res: res.refill, "refilled")

    def cancel(self) -> None:
        """Cancel the orders of rows whose Cancel flag is set; clear the flag on success."""
        self._flagged_action(
            "cancel", self.panel.cancel, lambda res: res.order if res.ok else None, "canceled"
        )

    def _flagged_action(
        self,
        action: str,
        send: Callable[[list[str]], Mapping[str, Any]],
        success: Callable[[Any], str | None],
        outcome: str,
    ) -> None:
        """Send a flag-driven paid action (refill, cancel) for every flagged row, journaled."""
        rows = self._flagged(action)
        if not rows:
            return
        if self.options.dry_run:
            for row in rows.values():
                self.report.add(row.row, action, f"would {action}")
            return
        entries = self._journaled(action, rows)
        results = send(list(rows))
        for oid, row in rows.items():
            res = results[oid]
            new_id = success(res)
            if new_id is not None:
                self._note(entries[oid], "accepted", new_id)
                self._succeeded(action, row, new_id)
                self.report.add(row.row, action, outcome, str(new_id))
            else:
                state = "ambiguous" if res.uncertain else "rejected"
                self._note(entries[oid], state, res.error)
                self._failed(action, row, state, res.error or "")
                self.report.add(
                    row.row, action, "ambiguous" if res.uncertain else "failed", res.error or ""
                )
            self._synced.append(entries[oid])

    def _failed(self, action: str, row: OrderRow, state: str, detail: str) -> None:
        """Write a refill/cancel that did not go through; one that may have, is not resent.

        A refused request keeps its flag so the next run tries again; one whose answer was
        lost has its flag cleared, so it is sent again only when the user flags it again.
        """
        if state in ("sent", "ambiguous"):
            self._set(row, action, None)
        self._stamp(row, _paid_error(action, state, detail))

    def _succeeded(self, action: str, row: OrderRow, new_id: str | None) -> None:
        """Write a paid request the panel accepted into its row (live or from the journal)."""
        cell = None if new_id is None else id_cell(new_id)
        if action == "add":
            self._set(row, "order_id", cell)
        elif action == "refill":
            self._set(row, "refill_id", cell)
            self._set(row, "refill_status", None)
            self._set(row, "refill", None)
        elif action == "cancel":
            self._set(row, "cancel", None)
            self._set(row, "status", CANCEL_REQUESTED)
        self._stamp(row)


_NUMBER_TYPES = (int, float, Decimal)


def _unchanged(old: CellValue, new: CellValue) -> bool:
    """Writing ``new`` over ``old`` changes nothing: same type and value, or the same number.

    A cell keeps numbers as doubles, so the charge ``Decimal("0.09")`` is the ``0.09`` read back.
    """
    if type(old) is type(new):
        return old == new
    if type(old) in _NUMBER_TYPES and type(new) in _NUMBER_TYPES:
        return float(old) == float(new)  # type: ignore[arg-type]
    return False


def _ambiguous_text(entry: int, detail: str) -> str:
    return (
        f"{AMBIGUOUS_MARK} ({detail}; journal #{entry}). Check the panel's orders, then type "
        "the Order ID here or clear this cell to place the row again"
    )


def _paid_error(action: str, state: str, detail: str) -> str:
    if state in ("sent", "ambiguous"):
        return f"{action}: may have been sent ({detail}); check the panel before flagging again"
    return f"{action}: {detail}"


def services_table(services: Sequence[Service]) -> list[list[CellValue]]:
    """The Services sheet: a header and one row per service, sorted by category and id."""
    import pandas as pd

    frame = pd.DataFrame(
        [
            {
                "Service": s.id,
                "Name": s.name,
                "Type": s.type,
                "Category": s.category,
                "Rate per 1000": float(s.rate),
                "Min": s.min,
                "Max": s.max,
                "Refill": s.refill,
                "Cancel": s.cancel,
                "Drip-feed": s.dripfeed,
            }
            for s in services
        ]
    )
    if frame.empty:
        return [["Service", "Name", "Type", "Category", "Rate per 1000", "Min", "Max"]]
    frame = frame.sort_values(["Category", "Service"], kind="stable")
    header: list[CellValue] = list(frame.columns)
    body = [[_plain(v) for v in record] for record in frame.itertuples(index=False)]
    return [header, *body]


def _plain(value: object) -> CellValue:
    """numpy scalars -> Python values a workbook adapter accepts."""
    item = getattr(value, "item", None)
    return cast(CellValue, item() if callable(item) else value)
