"""The batch engine: place, refresh, refill, cancel over an order sheet. No Excel imports.

The shells reach it through :class:`smmsheet.session.Session`, which opens the workbook,
the panel and the journal and then does::

    with Journal(journal_path(book_path)) as journal:
        report = Engine(book, panel, journal, RunOptions(sheet="Orders")).execute("run")

The engine reads the sheet once, first writes back what an interrupted run left in the
journal, then runs the action, buffering cell writes, and commits them in one save. Paid
requests go through the journal: intent before sending, outcome after, ``synced`` once the
workbook on disk holds the outcome.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, ItemsView, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from .errors import (
    AmbiguousRequestError,
    ConfigError,
    JournalError,
    JournalMismatchError,
    NoSheetError,
    PanelError,
    WorkbookError,
)
from .journal import (
    JOURNAL_SUFFIX,
    UNKNOWN_OUTCOME,
    Action,
    Entry,
    Intent,
    Journal,
    Resolution,
    State,
    Synced,
    journal_with_identity,
    marker_text,
    parse_marker,
    placed_elsewhere,
)
from .models import Balance, OrderStatus, RefillStatus, Service, services_by_id
from .money import NoRate, Rates, profit
from .orders import (
    AMBIGUOUS_MARK,
    NOTE_MARK,
    OUTPUT_COLUMNS,
    PROFIT_COLUMNS,
    OpenOrders,
    OrderPlan,
    OrderRow,
    OrderTable,
    RowProblem,
    id_cell,
    is_final,
    normalize_header,
    same_address,
    unknown_text,
    validate,
)
from .panels import Panels
from .refill_window import (
    DEFAULT_REFILL_WARNING_DAYS,
    NO_REFILL_TEXT,
    NOT_STATED_TEXT,
    parse_refill_window,
)
from .routes import ROUTES_SHEET, Candidate, Routes, read_routes
from .runtime import few_collections, quick_turns
from .values import (
    UnknownValue,
    Unreadable,
    amount,
    money,
    parse_decimal,
    parse_id,
    parse_int,
    plural,
    whole_number,
)
from .workbook.base import (
    MAX_EXACT_INT,
    MAX_ROW,
    CellValue,
    LinkedText,
    WorkbookAdapter,
    cell_value_problem,
    find_sheet,
)

if TYPE_CHECKING:
    from pathlib import Path

    from .panel import PanelClient, StatusAhead

__all__ = [
    "DEFAULT_SHEET",
    "FAILED_OUTCOMES",
    "FINAL_REFUSALS",
    "ROUTINE_OUTCOMES",
    "STEPS",
    "CancelPreview",
    "Command",
    "Engine",
    "Outcome",
    "Preview",
    "Report",
    "RowResult",
    "RunOptions",
    "Step",
    "is_final_refusal",
    "journal_sheets",
    "order_sheet",
]

DEFAULT_SHEET = "Orders"


class Command(StrEnum):
    """What the engine can be asked to do, as the CLI's commands and the ribbon name it."""

    PLACE = "place"
    STATUS = "status"
    REFILL = "refill"
    REFILL_STATUS = "refill-status"
    CANCEL = "cancel"
    RUN = "run"


class Step(StrEnum):
    """One step of a command, as a report names it (``row 5: refill status failed: ...``)."""

    PLACE = "place"
    STATUS = "status"
    REFILL = "refill"
    CANCEL = "cancel"
    REFILL_STATUS = "refill status"
    #: A previous run's outcome written back from the journal.
    RECOVER = "recover"
    #: Cost, Profit and Margin worked out from the charge the panel reported.
    PROFIT = "profit"


class Outcome(StrEnum):
    """What one step did to one row."""

    PLACED = "placed"
    UPDATED = "updated"
    REFILLED = "refilled"
    CANCELED = "canceled"
    WOULD_PLACE = "would place"
    WOULD_REFILL = "would refill"
    WOULD_CANCEL = "would cancel"
    INVALID = "invalid"
    FAILED = "failed"
    OVER_BUDGET = "over budget"
    UNPRICED = "unpriced"
    #: The row was placed with a warning (the Error cell's note).
    NOTE = "note"
    #: An add whose outcome was unknown, settled by the user (an id typed, PLACE AGAIN).
    RESOLVED = "resolved"
    #: An accepted add's order id given back to its row from the journal.
    RESTORED = "restored"
    SKIPPED = "skipped"
    #: The order's refill window ends within the warning days (a note, not a failure).
    REFILL_ENDING = "refill ends soon"
    #: A journal entry whose row is gone from the sheet.
    ORPHANED = "orphaned"
    # What a recovered journal entry ended as (:class:`~smmsheet.journal.State`).
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    AMBIGUOUS = "ambiguous"


#: What each command does, in the order ``run`` does them.
STEPS: dict[Command, tuple[Step, ...]] = {
    Command.PLACE: (Step.PLACE,),
    Command.STATUS: (Step.STATUS,),
    Command.REFILL: (Step.REFILL,),
    Command.REFILL_STATUS: (Step.REFILL_STATUS,),
    Command.CANCEL: (Step.CANCEL,),
    Command.RUN: (Step.PLACE, Step.REFILL, Step.CANCEL, Step.STATUS, Step.REFILL_STATUS),
}
#: Steps that send paid requests.
PAID_STEPS = frozenset({Step.PLACE, Step.REFILL, Step.CANCEL})
#: Seconds a never-run workbook waits for the journal of another workbook of its folder
#: that has run before, while another run holds it (``run clients/``, ``watch``): only
#: that journal can tell the new one is a copy whose rows were bought already.
OTHER_JOURNAL_WAIT = 60.0
#: Outcomes that need no word to the user (the summary counts them).
ROUTINE_OUTCOMES = frozenset(
    {
        Outcome.PLACED,
        Outcome.UPDATED,
        Outcome.REFILLED,
        Outcome.CANCELED,
        Outcome.ACCEPTED,
        Outcome.WOULD_PLACE,
        Outcome.WOULD_REFILL,
        Outcome.WOULD_CANCEL,
    }
)
#: Outcomes that make a command exit with 1 ("some items failed").
FAILED_OUTCOMES = frozenset(
    {
        Outcome.INVALID,
        Outcome.FAILED,
        Outcome.AMBIGUOUS,
        Outcome.OVER_BUDGET,
        Outcome.UNPRICED,
        Outcome.ORPHANED,
    }
)
#: How a recovered journal entry's state is reported.
RECOVERED: dict[State, Outcome] = {
    State.SENT: Outcome.SENT,
    State.ACCEPTED: Outcome.ACCEPTED,
    State.REJECTED: Outcome.REJECTED,
    State.AMBIGUOUS: Outcome.AMBIGUOUS,
}


@dataclass(frozen=True)
class _Flagged:
    """A paid request a row's flag asks for (Refill, Cancel): its journal action, flag
    column, report step and outcomes."""

    action: Action
    step: Step
    would: Outcome
    done: Outcome


_REFILL = _Flagged(Action.REFILL, Step.REFILL, Outcome.WOULD_REFILL, Outcome.REFILLED)
_CANCEL = _Flagged(Action.CANCEL, Step.CANCEL, Outcome.WOULD_CANCEL, Outcome.CANCELED)
CANCEL_REQUESTED = "Cancel requested"
#: The Error of a row marked Cancel that has no order: placing it would buy what the user
#: marked to cancel (and a service without cancel could never undo it).
CANCEL_UNPLACED = (
    "cancel: no Order ID in this row, so nothing to cancel; a row marked Cancel is not "
    "placed: clear Cancel to place it"
)
#: A row to place that the sheet hides (a filter, by hand, a folded outline): what is out of
#: sight when Place is pressed, or when the file was saved for a scheduled run, is not bought.
HIDDEN_ROW = (
    "hidden (a filter, Hide, a folded outline or a height of 0), so not placed: a row out "
    "of sight is never bought; show the row (clear the filter, Unhide) and place again"
)
#: An order typed into a Table's totals row: that row's cells are read as empty (its SUBTOTAL
#: results are no order), so nothing else would show it was not bought.
TOTALS_ROW = (
    "Row {row} is the totals row of an Excel Table: it is never read as an order, so {link} "
    "was not placed. To add an order, insert a row above it (right-click the row > Insert > "
    "Table Rows Above), move the order there and place again"
)
#: A totals row's Link cell that an order was typed into: an address, a domain and path, or
#: an @handle (a label or a count there is the Table's own).
_LINK_LIKE = re.compile(r"://|\bwww\.|^\s*@\w|\w\.[a-z]{2,}/", re.IGNORECASE)
#: After the panel's own refusal of one order's status (``Incorrect order ID``): a wrong id,
#: or an order the panel purged, which every cron ``status`` would fail on for ever.
_STATUS_REFUSED_HINT = (
    ". Check the Order ID; for an order the panel no longer lists, type its last status "
    "(Completed, Canceled) into Status: it is not asked again"
)
#: The Error of a row left unsent because a panel answer stopped the run (a bad key...).
NOT_SENT_STOPPED = "not sent: the run was stopped"
#: What the user types into the Error cell of a blocked (or restored) row to buy it again.
PLACE_AGAIN = "PLACE AGAIN"
#: THE RULE for a panel's refusal of a refill or cancel: one that no later run can change
#: (matched in the panel's message, case ignored) clears the row's flag with the message, so
#: it is not sent again on every run; any other refusal keeps the flag, and the next run asks
#: again. A message with one of the TEMPORARY words is never final ("cannot be canceled yet").
FINAL_REFUSALS = re.compile(
    "|".join(
        (
            r"incorrect order id|order not found",  # the panel has no such order
            r"can ?not be cancell?ed|can't be cancell?ed|not cancell?able",
            r"order is (already )?(completed|partial|cancell?ed|refunded)",
            r"already (completed|cancell?ed|refunded)",
            r"(refill|cancel)\w* (is )?disabled",
            r"(refill|cancel)\w* (is )?not (available|supported|allowed) for this (service|order)",
            r"does not (support|offer|allow) (refills?|cancel)",
            r"(refill|warranty|guarantee) (period |time )?(has |is )?(expired|over)",
        )
    ),
    re.IGNORECASE,
)
TEMPORARY = re.compile(r"\b(yet|until|later|again|wait|temporar\w*|too many)\b", re.IGNORECASE)


def is_final_refusal(message: str) -> bool:
    """Whether a panel's refusal of a refill or cancel can never change (see FINAL_REFUSALS).

    >>> is_final_refusal("Order cannot be canceled"), is_final_refusal("Refill not available yet")
    (True, False)
    """
    return bool(FINAL_REFUSALS.search(message)) and not TEMPORARY.search(message)


#: A reported charge further than this from its estimate is worth a word: panels round
#: charges to 2-5 decimals, so half a cent is rounding.
ROUNDING = Decimal("0.005")


@dataclass(frozen=True)
class Preview:
    """What placing would do: shown before confirming, and by ``--dry-run``."""

    orders: int
    #: The most the ``orders`` whose price is known may cost (what a cap is checked against).
    cost: Decimal
    currency: str
    balance: Decimal
    #: Rows left out because the panel lists no price for their service.
    unpriced: tuple[int, ...] = ()
    #: Rows among ``orders`` whose cost is unknown (placed with ``allow_unpriced``).
    unknown_cost: tuple[int, ...] = ()
    #: The least they may cost, when panels differ in how they bill them (packages).
    cost_low: Decimal | None = None
    #: Per panel, when the rows go to more than one: ``eu: 3 orders, about 2.10 EUR
    #: (balance 20 EUR)``. Then ``cost`` is the total in ``currency`` (see ``unconverted``).
    by_panel: tuple[str, ...] = ()
    #: Rows whose estimate is left out of ``cost``: no Settings rate into ``currency``.
    unconverted: tuple[int, ...] = ()
    #: Each panel's balance (``a 1,000.00 USD``) when ``by_panel`` is given.
    balances: tuple[str, ...] = ()
    #: The sheet rows of the ``orders``, in the order they would be sent (not compared: a
    #: preview is the same plan whichever rows carry it).
    rows: tuple[int, ...] = field(default=(), compare=False)

    def cost_text(self) -> str:
        """The estimate in words, as every shell shows money (:func:`~smmsheet.values.money`):
        ``about 9.021``, or ``0.006 to 9.00`` where panels differ.

        >>> Preview(6, Decimal("9.021"), "USD", Decimal(50)).cost_text()
        'about 9.021'
        """
        if self.cost_low is None:
            return f"about {money(self.cost)}"
        return f"{money(self.cost_low)} to {money(self.cost)}"

    def balance_text(self) -> str:
        """The balance in words: one amount, or one per panel.

        >>> Preview(1, Decimal(1), "USD", Decimal(50)).balance_text()
        '50.00 USD'
        """
        if self.balances:
            return ", ".join(self.balances)
        return f"{money(self.balance)} {self.currency}".strip()


@dataclass(frozen=True)
class CancelPreview:
    """What canceling would do: the flagged orders, asked about before anything is sent."""

    #: The order ids, as the sheet holds them, and their rows (same order).
    orders: tuple[str, ...]
    rows: tuple[int, ...]

    def listed(self, shown: int = 10) -> str:
        """The orders in words, the first ``shown`` of them.

        >>> CancelPreview(("1001", "1002"), (2, 3)).listed()
        '2 orders: 1001 (row 2), 1002 (row 3)'
        """
        pairs = [f"{o} (row {r})" for o, r in zip(self.orders, self.rows, strict=True)]
        more = f" and {len(pairs) - shown} more" if len(pairs) > shown else ""
        count = "1 order" if len(pairs) == 1 else f"{len(pairs)} orders"
        return f"{count}: {', '.join(pairs[:shown])}{more}"


@dataclass
class RunOptions:
    """How a batch runs; the shells fill it from flags or dialogs."""

    sheet: str = DEFAULT_SHEET
    dry_run: bool = False
    max_spend: Decimal | None = None
    #: Where ``max_spend`` came from, as the row messages name it.
    max_spend_source: str = "--max-spend"
    #: What the workbook's placings may cost in one day (the local calendar day of
    #: ``now``), this run's and the earlier ones its journal holds together.
    max_spend_per_day: Decimal | None = None
    max_spend_per_day_source: str = "--max-spend-per-day"
    #: Place rows whose service has no listed price when there is no cap (the balance check
    #: cannot be done for them: the panel refuses an order it cannot be paid for).
    allow_unpriced: bool = False
    #: Asked before any order is placed; returning False sends nothing.
    confirm: Callable[[Preview], bool] | None = None
    #: Asked before any order is canceled; returning False sends nothing (flags stay).
    confirm_cancel: Callable[[CancelPreview], bool] | None = None
    #: Asked, with the reason, when the workbook was run with a journal that is now gone or
    #: damaged; True starts a new journal. None (or False) refuses before anything is sent.
    journal_lost: Callable[[str], bool] | None = None
    #: Called as progress(label, done, total) while a step runs.
    progress: Callable[[str, int, int], None] | None = None
    now: Callable[[], dt.datetime] = dt.datetime.now
    #: ``status`` notes orders whose refill window ends within this many days.
    refill_warning_days: int = DEFAULT_REFILL_WARNING_DAYS
    #: The reporting currency and the Settings sheet's rates (Cost, Profit, Max spend).
    money: Rates = field(default_factory=Rates)


class RowResult(NamedTuple):
    """What happened to one row in one step (a tuple: a refresh makes 100,000 of them, and a
    frozen dataclass's ``__init__`` cost a tenth of the refresh loop)."""

    row: int
    step: Step
    outcome: Outcome
    message: str = ""


@dataclass
class Report:
    """Everything a shell needs to tell the user what a run did."""

    results: list[RowResult] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    preview: Preview | None = None
    #: What this run's placed orders cost: the charges the panel reported, or the estimate
    #: of the ``uncharged`` ones whose charge it has not reported.
    spent: Decimal = Decimal(0)
    uncharged: int = 0
    currency: str = ""
    saved: bool = False
    #: The panel could not be asked at all for a step (its message is in ``messages``).
    panel_failed: bool = False
    #: After the run (as saved, or as a dry run would leave the sheet): how many of the
    #: sheet's orders are in each status ("" when none is known yet), rows whose Error cell
    #: holds an error (notes aside), rows without an Order ID that may have been placed, and
    #: journal entries whose outcome is not in the workbook yet.
    statuses: dict[str, int] = field(default_factory=dict)
    error_rows: tuple[int, ...] = ()
    ambiguous_rows: tuple[int, ...] = ()
    journal_waiting: int = 0

    def add(self, row: int, step: Step, outcome: Outcome, message: str = "") -> None:
        """Record one row's outcome."""
        self.results.append(RowResult(row, step, outcome, message))

    def counts(self) -> Counter[tuple[Step, Outcome]]:
        """How many rows per (step, outcome)."""
        return Counter((r.step, r.outcome) for r in self.results)

    @property
    def failed(self) -> bool:
        """Some rows failed or need attention, or the panel failed (exit code 1)."""
        return self.panel_failed or any(r.outcome in FAILED_OUTCOMES for r in self.results)


class Engine:
    """Runs one command over one order sheet of one workbook.

    ``panel`` is one panel client, or the workbook's :class:`~smmsheet.panels.Panels` when
    its rows may name panels of their own (``Panel`` column, ``Routes`` sheet).
    """

    def __init__(
        self,
        book: WorkbookAdapter,
        panel: PanelClient | Panels,
        journal: Journal,
        options: RunOptions | None = None,
        *,
        command: Command | str | None = None,
    ) -> None:
        """Read the order sheet.

        ``command``, when given, is the one :meth:`execute` will run: a status refresh
        then asks the panel about the first open orders while the rest of the sheet is
        still being read (status requests change nothing, see :class:`StatusAhead`).
        An engine made with one must be executed: that stops the requests.
        """
        self.book = book
        self.panels = panel if isinstance(panel, Panels) else Panels(panel)
        self.panel = self.panels.default
        self.journal = journal
        self.options = options or RunOptions()
        self.sheet = self.options.sheet
        self.report = Report()
        #: Cells written but not saved: row number -> bit mask of their columns (1 << col);
        #: the values are in the rows themselves (a million rows: no dict of 6M cells).
        self._pending: dict[int, int] = {}
        #: Whether rows were handed to the book before the commit (:meth:`_hand_over`).
        self._handed = False
        #: Whether this run notes orders whose refill window ends soon (a status refresh).
        self._warn_refill = False
        self._synced: list[int] = []
        self._orphaned: list[int] = []
        self._services: dict[str, dict[int, Service]] = {}
        self._balances: dict[str, Balance] = {}
        self._panel_of: dict[int, str] = {}  # row -> panel key of the plan being placed
        self._routes: Routes | None = None
        #: Routed rows: the candidates left, cheapest first, after the one being placed.
        self._alternatives: dict[int, list[tuple[str, OrderPlan]]] = {}
        #: Routed rows: the Service and Panel cells as the user typed them, and refusals so far.
        self._typed: dict[int, tuple[CellValue, CellValue]] = {}
        self._refusals: dict[int, list[str]] = {}
        self._next_round: list[OrderPlan] = []
        self._budget: _Budget | None = None
        #: (order id, row fingerprint) -> the panels the journal says accepted it.
        self._issuers: dict[tuple[str, str], set[str]] | None = None
        self._run_time: dt.datetime | None = None
        self._placed: list[OrderPlan] = []  # settled into the report by _settle_placed
        self._said: set[int] = set()  # rows given an Error by this run
        #: Order ids this run's placing said the panel gave several rows (_say_shared_ids):
        #: not named again as rows copied with their id, which they are not.
        self._shared_ids: set[str] = set()
        self._run_marked = False
        self._marker_pending = False
        names = book.sheet_names()
        found = order_sheet(names, self.sheet)  # no Orders sheet is a layout problem
        self.sheet = found  # as the workbook spells it: the journal keys entries by it
        self._journal_sheets = journal_sheets(journal, names, found)
        self._ahead = self._status_ahead(command)
        try:
            with few_collections():  # a million small objects that all stay alive
                self.table = OrderTable.from_values(self._read(book))
            self.table.check_room()  # a dry run too: it must not promise what cannot be saved
        except BaseException:
            self._close_ahead()
            raise
        self.report.messages.extend(self.table.warnings)  # headers that look like ours
        self._by_number = {r.row: r for r in self.table.rows}

    def _status_ahead(self, command: Command | str | None) -> StatusAhead | None:
        """Status requests to send while the sheet is read: for a status refresh alone, and
        not for a workbook :meth:`execute` will refuse before its refresh (open in Excel,
        read-only): the user is told that at once, and the panel is asked nothing."""
        if command not in STEPS or STEPS[Command(command)] != (Step.STATUS,):
            return None
        if not _takes_watch(self.book):
            return None  # an adapter written before read_values(watch=) reads as it did
        if not self.options.dry_run:
            try:
                self.book.check_writable()
            except WorkbookError:
                return None  # execute() raises it, as it would have without asking ahead
        return self.panel.status_ahead()

    def _read(self, book: WorkbookAdapter) -> list[list[CellValue]]:
        if self._ahead is None:
            return book.read_values(self.sheet)
        return book.read_values(self.sheet, watch=OpenOrders(self._ahead.add).see)

    def _close_ahead(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.close()

    # ----------------------------------------------------------------- entry point

    def execute(self, command: Command | str) -> Report:
        """Reconcile the journal, run the command's steps, commit the writes once."""
        try:
            with few_collections():  # a sheet's rows are alive throughout: see runtime
                return self._execute(command)
        finally:
            self._close_ahead()  # unused when the run stopped before its refresh

    def _execute(self, command: Command | str) -> Report:
        try:
            command = Command(command)
        except ValueError:
            raise ConfigError(f"unknown command {command!r}") from None
        steps = STEPS[command]
        self._warn_refill = Step.STATUS in steps
        if not self.options.dry_run:
            self.book.check_writable()  # before any request: never buy what can't be recorded
        pays = bool(PAID_STEPS & set(steps))
        marker = parse_marker(self.book.read_marker())
        if marker is not None:
            self._check_journal(marker, paid=pays and not self.options.dry_run, previewed=pays)
        elif Step.PLACE in steps:  # never run: it may be a copy of a workbook that was
            self._check_copied_before_a_run()
        self.reconcile()
        placed: list[str] = []
        try:
            for step in steps:
                if step == Step.PLACE:
                    placed = self.place()
                elif step == Step.STATUS:
                    # `place` alone refreshes just what it placed; `run` refreshes every open row.
                    self.refresh()
                elif step == Step.REFILL:
                    self.refill()
                elif step == Step.CANCEL:
                    self.cancel()
                elif step == Step.REFILL_STATUS:
                    self.refill_status()
            if command == Command.PLACE and placed:
                self.refresh(only=placed)
            if not self.options.dry_run and {Step.PLACE, Step.STATUS} & set(steps):
                self.refill_windows(warn=self._warn_refill)
            self.profit()
        finally:
            self._settle_placed()
            if not self.options.dry_run:
                self.commit()
        self._take_stock()
        return self.report

    def _take_stock(self) -> None:
        """Fill the report's after-run fields from the rows as they now stand."""
        # One pass, each row's id read once; an ambiguous row is no error row. (Testing error
        # rows against the tuple of ambiguous ones was quadratic: 100,000 of each, hours.)
        statuses: Counter[str] = Counter()
        ambiguous: list[int] = []
        errors: list[int] = []
        table = self.table
        for r, found, status, error in zip(
            table.rows,
            table.column("order_id"),
            table.column("status"),
            table.column("error"),
            strict=True,
        ):
            if parse_id(found) is not None:
                statuses[str(status or "")] += 1
            elif error is not None and r.is_ambiguous:
                ambiguous.append(r.row)
                continue
            if error is not None and r.text("error") and not _is_note(error):
                errors.append(r.row)
        self._say_copied_ids(self._copied_ids())
        self.report.statuses = dict(statuses)
        self.report.ambiguous_rows = tuple(ambiguous)
        self.report.error_rows = tuple(errors)
        self.report.journal_waiting = len(self.journal.unsynced(self._journal_sheets))

    def _copied_ids(self) -> dict[tuple[str | None, str], list[int]]:
        """The rows of each order id that several rows hold on one panel: a row copied with
        its Order ID. The panel is the one the Panel cell names (empty: the default, as for
        the run itself); without the column, one panel."""
        found = self.table.column("order_id")
        held = [value for value in found if value is not None]
        if len(set(held)) == len(held):
            # No cell twice, the everyday sheet: no id nor key made per row (a copied row
            # holds the very value it was copied with). A million rows: 40 MB, not 100.
            return {}
        rows = self.table.rows
        panels = self.table.column("panel") if "panel" in self.table.columns else None
        first: dict[tuple[str | None, str], int] = {}  # (panel key, order id) -> its row
        copies: dict[tuple[str | None, str], list[int]] = {}  # ... -> every row, when several
        for i, value in enumerate(found):
            if (oid := parse_id(value)) is None:
                continue
            key = (None if panels is None else self.panels.key(panels[i]), oid)
            number = rows[i].row
            if (seen := first.setdefault(key, number)) != number:
                copies.setdefault(key, [seen]).append(number)
        return copies

    def _say_copied_ids(
        self, copies: Mapping[tuple[str | None, str], list[int]], shown: int = 5
    ) -> None:
        """One message per order id that several rows hold: a row copied with its Order ID.

        The copy is never placed (a row with an id never is) and its refresh, refill and
        cancel act on the first row's order; without a word the user believes it bought.
        """
        copied = [(oid, rows) for (_, oid), rows in copies.items() if oid not in self._shared_ids]
        for oid, rows in copied[:shown]:
            where = ", ".join(str(n) for n in rows[:-1]) + f" and {rows[-1]}"
            self.report.messages.append(
                f"Order ID {oid} is in rows {where}: a row copied with its Order ID is never "
                "placed. If one is a copy meant as a new order, clear its Order ID; if both "
                "were placed (the panel gave one id twice), leave them"
            )
        if len(copied) > shown:
            self.report.messages.append(
                f"... and {plural(len(copied) - shown, 'more order ID')} in several rows"
            )

    # ----------------------------------------------------------------- cell writes

    def _set(self, row: OrderRow, key: str, value: CellValue) -> None:
        """Buffer one cell write and keep the in-memory row in step; a no-op write is skipped.

        A refresh of 100,000 open orders mostly rewrites what is already there (currency,
        an empty Error, an unchanged status); skipping those keeps the save small.
        """
        if _unchanged(row.values.get(key), value):
            return
        number = row.row
        self._pending[number] = self._pending.get(number, 0) | 1 << self.table.columns[key]
        row.values[key] = value

    def _set_fields(self, row: OrderRow, fields: Sequence[tuple[str, CellValue]]) -> None:
        """:meth:`_set` for several fields of one row; the refresh's inner loop (700,000 cells
        on 100,000 rows), so the unchanged check for values of the same type is inlined."""
        values, columns, number = row.values, self.table.columns, row.row
        mask = 0
        for key, value in fields:
            old = values.get(key)
            if type(old) is type(value) and old == value:
                continue
            if _unchanged(old, value):
                continue
            mask |= 1 << columns[key]
            values[key] = value
        if mask:
            self._pending[number] = self._pending.get(number, 0) | mask

    def _stamp(self, row: OrderRow, error: str | None = None) -> None:
        """Set the row's Error (None clears it) and its Updated time: the time of this run.

        Clearing leaves alone a note (it stays until replaced) and an error this run wrote
        (``run``'s status refresh must not wipe a refused refill's reason), unless a paid
        request succeeded since (:meth:`_succeeded`).
        """
        run_time = self._now()
        if error is not None:
            self._said.add(row.row)
            self._set(row, "error", error)
        elif row.row not in self._said and not _is_note(row.get("error")):
            self._set_fields(row, (("error", None), ("updated", run_time)))
            return
        self._set(row, "updated", run_time)

    def _now(self) -> dt.datetime:
        """This run's time, as every row it touches says in Updated: a date-time cell (sorts
        and filters as one), to the second, without a zone."""
        if self._run_time is None:
            self._run_time = self.options.now().replace(microsecond=0, tzinfo=None)
        return self._run_time

    def commit(self) -> None:
        """Write the buffered cells in one save, then mark the journal entries synced."""
        if not (self._pending or self._handed or self._synced or self._marker_pending):
            self.journal.mark_synced(self._orphaned, Synced.ROW_GONE)
            return
        try:
            if self.table.new_columns:  # the output columns the sheet lacks, made once
                looks = self.table.new_column_looks(self._currency())
                self.book.add_columns(self.sheet, self.table.header_row, looks)
            self.book.write_cells(self.sheet, _Writes(self._pending, self._by_number, self.table))
            self.book.save()
        except WorkbookError as exc:
            if self._synced:
                self.report.messages.append(self._unsaved_text(exc))
            raise
        self.report.saved = True
        self.table.new_columns.clear()  # they exist now: a later save adds them no more
        self._marker_pending = self._handed = False
        self.journal.mark_synced(self._synced)
        self.journal.mark_synced(self._orphaned, Synced.ROW_GONE)
        self._pending.clear()
        self._synced.clear()
        self._orphaned.clear()

    def _unsaved_text(self, exc: WorkbookError) -> str:
        """What the user is told when this run's paid outcomes could not be saved: where they
        are, and the orders placed, named, for a journal that went with its folder."""
        told = f"{exc} -- the outcomes of {len(self._synced)} paid requests are "
        if self.journal.path.exists():
            told += f"kept in the journal {self.journal.path} and will be written on the next run"
        else:
            told += (
                f"in no file: the journal {self.journal.path} is gone (its folder moved or deleted)"
            )
        placed = [
            f"row {r.row}: order {r.message}"
            for r in self.report.results
            if r.step == Step.PLACE and r.outcome == Outcome.PLACED
        ]
        return told + (f". Orders placed: {', '.join(placed)}" if placed else "")

    def _currency(self) -> str:
        """The panel's currency, for the format of money columns ('' when not known)."""
        if self.report.currency:
            return self.report.currency
        column = self.table.columns.get("currency")
        if column is None:
            return ""
        written = (
            self._by_number[number].get("currency")
            for number, mask in self._pending.items()
            if mask >> column & 1
        )
        return next((v for v in written if isinstance(v, str) and v), "")

    def _finish_rows(self, numbers: Iterable[int]) -> None:
        """Write now what this run's last passes (:meth:`refill_windows`, :meth:`profit`)
        will write into these refreshed rows, so that they are handed to the book as the
        run saves them; those passes then find them unchanged and only report."""
        profits = "sell_price" in self.table.columns
        if not (self._warn_refill or profits):
            return
        today = self.options.now().date()
        rows = self._by_number
        for number in numbers:
            row = rows[number]
            if self._warn_refill:
                self._refill_note(row, today, report=False)
            if profits:
                self._row_profit(row, report=False)

    def _hand_over(self, numbers: Iterable[int], before_row: int) -> bool:
        """Buffer in the book the cells these rows have now, and tell it the rows above
        ``before_row`` are as this run will save them: its save can start on them while the
        panel answers the rest. Rows set again later are buffered again by the commit.
        Only when the sheet has every column it needs (:meth:`_refresh_on`): the currency
        of new money columns (:meth:`_currency`) is read from the rows not handed over.

        False when no more rows need be handed over: the book does not take the hint (see
        :meth:`~smmsheet.workbook.base.WorkbookAdapter.prepare`), or it refused a value
        (those rows stay for the commit, which raises the error as it always did).
        """
        pending = self._pending
        taken = {number: pending[number] for number in numbers if number in pending}
        if taken:
            # Flagged first, taken from the buffer last: a Ctrl-C (or any error) on the way
            # leaves the rows for the commit the run makes on its way out, and that commit
            # saves what the book already has of them.
            self._handed = True
            try:
                self.book.write_cells(self.sheet, _Writes(taken, self._by_number, self.table))
            except WorkbookError:
                return False
            for number in taken:
                del pending[number]
        return self.book.prepare(self.sheet, before_row)

    # ----------------------------------------------------------------- journal recovery

    def _check_journal(self, marker: tuple[str, int], paid: bool, previewed: bool = False) -> None:
        """Stop before placing when the workbook names a journal run this journal lacks.

        The marker is saved into the workbook before a run's first paid request, so the
        journal that goes with the file must know that run. If it does not, the journal was
        deleted, replaced by another or rolled back to an older copy, and rows it
        recorded as placed would be placed again. Commands that only read go on with a word;
        a dry run of one that pays (``previewed``) says that the run itself will stop.
        """
        identity, run = marker
        if identity == self.journal.identity and self.journal.has_run(run):
            return
        problem = (
            f"this workbook was last run with journal {identity[:8]} (run {run}), which "
            f"{self.journal.path} does not hold: the workbook was moved, renamed or copied "
            "without its journal, or the journal was deleted, replaced or restored from an older "
            "copy. Orders placed by that run may be placed again. Put the right journal back "
            f"beside the workbook as {self.journal.path.name}, or check the panel's orders and "
            "agree to start a new journal"
        )
        own = journal_with_identity(identity, self.journal.path)
        dry = self.options.dry_run
        if own is not None:  # the workbook was renamed or copied away from its journal
            made = "" if dry else " (replacing the empty journal of that name)"
            problem += (
                f". The journal {own.name} beside it holds this workbook's runs: if the "
                f"workbook was renamed, rename that journal file to {self.journal.path.name}"
                f"{made}; if it is a copy, check the panel's orders and start a new journal for "
                "the copy"
            )
        if not paid:
            if dry and previewed:
                problem += (
                    "; a run that places, refills or cancels stops here until then "
                    "(--new-journal starts the new journal)"
                )
            self.report.messages.append(problem)
            return
        at_risk = [r for r in self.table.rows if r.order_id is None and r.is_ambiguous]
        if at_risk:
            problem += (
                f"; {plural(len(at_risk), 'row')} say they may have been placed (rows "
                f"{', '.join(str(r.row) for r in at_risk[:10])}) and stay blocked"
            )
        agree = self.options.journal_lost
        if agree is None or not agree(problem):
            raise JournalMismatchError(problem)
        self._carry_over(at_risk)
        self.journal.mark_replacing()  # Max spend per day cannot count the lost adds
        self.book.check_writable()
        self._mark_run()  # the workbook names its new journal even if nothing is paid now
        self.report.messages.append(f"started a new journal at {self.journal.path}")

    def _check_copied_before_a_run(self) -> None:
        """Stop before placing rows that another workbook of this folder placed from the very
        same rows: this one is a copy of it made before that run.

        The marker check (:meth:`_check_journal`) knows a copy made after a run. A copy
        made before has no marker and a journal of its own that knows nothing, so every row
        would be bought again. Only the journals beside it can tell: when another one placed
        these rows (same sheet, same row, same content), the user agrees to place them as
        new orders (``--new-journal``, or Yes in Excel), or nothing is sent. It takes every
        row to place, or at least two and half of them: repeat orders among more new ones are
        no copy, and a workbook that has placed from its sheet is none.
        """
        if self.journal.accepted_adds(self._journal_sheets) or self.journal.unresolved_adds(
            self._journal_sheets
        ):
            return

        unplaced: dict[int, str] = {}

        def fingerprints() -> dict[int, str]:  # only when another journal is there to read
            unplaced.update(
                (r.row, r.fingerprint()) for r in self.table.rows if not r.text("order_id")
            )
            return unplaced

        found = placed_elsewhere(self.journal.path, self.sheet, fingerprints, _patience)
        if found is None:
            return
        other, rows = found
        if rows is None:
            self._copy_unknown(other)
            return
        if len(rows) < len(unplaced) and (len(rows) < 2 or 2 * len(rows) < len(unplaced)):
            return  # orders placed again among more new ones: a reseller's repeat orders
        source = other.name.removesuffix(JOURNAL_SUFFIX)
        shown = ", ".join(str(n) for n in rows[:10]) + (", ..." if len(rows) > 10 else "")
        problem = (
            f"{plural(len(rows), 'row')} of this workbook (rows {shown}) hold the orders "
            f"{source} placed from the same rows: this workbook looks like a copy of it made "
            "before that run, and placing would buy them again. Check the panel's orders; "
            "if they are new orders, agree to start a new journal for this workbook"
        )
        self._unless_agreed(
            problem, f"placing {plural(len(rows), 'row')} that {source} placed too, as agreed"
        )

    def _copy_unknown(self, other: Path) -> None:
        """Stop before placing when the journal that could tell whether this workbook is a
        copy stays held by another run: passing it over bought the copy's rows again."""
        if not any(not r.text("order_id") for r in self.table.rows):
            return
        problem = (
            f"{other.name} is held by another run (waited {OTHER_JOURNAL_WAIT:g} s), so "
            "whether this workbook is a copy of that workbook, whose rows it placed, cannot "
            "be told: nothing is placed until it can (the next run tries again). If these "
            "are new orders, agree to start a new journal for this workbook"
        )
        self._unless_agreed(problem, f"placing rows {other.name} may have placed, as agreed")

    def _unless_agreed(self, problem: str, agreed: str) -> None:
        """Stop placing with ``problem`` unless the user agrees (``--new-journal``, Yes in
        Excel); a dry run only says the run will stop."""
        if self.options.dry_run:
            self.report.messages.append(
                f"{problem}; a run that places stops here until then (--new-journal starts "
                "the new journal)"
            )
            return
        agree = self.options.journal_lost
        if agree is None or not agree(problem):
            raise JournalMismatchError(problem)
        self.report.messages.append(agreed)

    def _carry_over(self, rows: Sequence[OrderRow]) -> None:
        """Into a new journal, the sheet's own word that these rows may have been placed.

        The lost journal held their unresolved adds; without this, agreeing to a new journal
        would place them again. Each row stays blocked until the user settles it as before.
        """
        for row in rows:
            entry = self.journal.intent(
                sheet=self.sheet,
                row=row.row,
                fingerprint=row.fingerprint(),
                action=Action.ADD,
                request={"link": row.text("link")},
                cost=Decimal(0),  # placed before the journal was lost: not today's spending
            )
            self.journal.outcome(
                entry, State.AMBIGUOUS, "carried over from the sheet when its journal was lost"
            )

    def _before_paying(self, rows: Iterable[int]) -> None:
        """Right before a step's paid requests: prove their outcomes can be saved, then mark
        the run.

        Every output cell of the rows about to be sent (and the headers to create) goes
        through the adapter's dry run of the save, so an array formula over Order ID, a
        column past XFD or a part the writer cannot parse stops the run before money is
        spent. Then the journal numbers this run and the workbook saves the marker naming
        it, so a journal that later loses the run is noticed by :meth:`_check_journal`; that
        save also flushes the cells buffered so far.
        """
        if self.options.dry_run:
            return
        columns = [
            self.table.columns[key]
            for key in (*OUTPUT_COLUMNS, "refill", "cancel")
            if key in self.table.columns
        ]
        cells = {(row, col) for row in rows for col in columns}
        self.book.check_writable(self.sheet, cells | set(self.table.header_cells()))
        self._mark_run()

    def _mark_run(self) -> None:
        """Number this run in the journal and save the workbook's marker naming it (once)."""
        if self._run_marked:
            return
        run = self.journal.begin_run()
        self.book.write_marker(marker_text(self.journal.identity, run))
        self._run_marked = self._marker_pending = True
        self.commit()

    def _find_row(self, entry: Entry) -> OrderRow | None:
        row = self._by_number.get(entry.row)
        if row is not None and row.fingerprint() == entry.fingerprint:
            return row
        for candidate in self.table.rows:  # the row moved (rows inserted or sorted)
            if candidate.fingerprint() == entry.fingerprint and (
                entry.action != Action.ADD or candidate.order_id in (None, entry.result_id)
            ):
                return candidate
        return None

    def reconcile(self) -> None:
        """Write back the outcomes a previous run recorded but never saved into the sheet."""
        entries = self.journal.unsynced(self._journal_sheets)
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
                self.report.add(entry.row, Step.RECOVER, Outcome.ORPHANED, what)
                continue
            self._apply_outcome(row, entry)
            self._synced.append(entry.id)
            self.report.add(row.row, Step.RECOVER, RECOVERED[entry.state], entry.result or "")
        if entries:
            self.report.messages.append(
                f"recovered {plural(len(entries), 'outcome')} of an interrupted run from the "
                "journal"
            )

    def _apply_outcome(self, row: OrderRow, entry: Entry) -> None:
        """Put one journaled outcome into its row."""
        state, result = entry.state, entry.result or ""
        if entry.action == Action.ADD:
            if state == State.ACCEPTED:
                if row.order_id not in (None, entry.result_id):
                    self.report.messages.append(
                        f"row {row.row} holds order {row.order_id} but the journal says the panel "
                        f"accepted order {result} for it; both are kept in the journal"
                    )
                    return
                self._succeeded(Action.ADD, row, entry.result_id)
                self._pin_panel(row, self._entry_key(entry))
            elif state in UNKNOWN_OUTCOME:
                if row.order_id is None:
                    self._stamp(row, _ambiguous_text(entry.id, result or "the run was interrupted"))
                    self._pin_panel(row, self._entry_key(entry))
            else:
                self._stamp(row, result)
        elif state == State.ACCEPTED:
            self._succeeded(entry.action, row, entry.result_id)
        else:
            self._failed(entry.action, row, state, result)

    # ----------------------------------------------------------------- panel lookups

    def services(self, key: str | None = None) -> dict[int, Service]:
        """A panel's services by id (the default panel's without ``key``), fetched once per run."""
        key = self.panels.default_name if key is None else key
        found = self._services.get(key)
        if found is None:
            found = services_by_id(self.panels.client(key).services())
            self._services[key] = found
        return found

    def balance(self, key: str) -> Balance:
        """A panel's balance, fetched once per run."""
        found = self._balances.get(key)
        if found is None:
            found = self._balances[key] = self.panels.client(key).balance()
        return found

    def _panel_key(self, row: OrderRow) -> str:
        """The key of the panel a row's order lives on (its ``Panel`` cell; empty: default)."""
        return self.panels.key(row.get("panel"))

    def _clients(
        self, rows_by_key: Mapping[str, Iterable[OrderRow]], step: Step
    ) -> Iterator[tuple[str, PanelClient]]:
        """Each panel's client; the rows of a panel that cannot be had (an unknown profile)
        get its error instead."""
        for key, rows in rows_by_key.items():
            try:
                client = self.panels.client(key)
            except ConfigError as exc:
                for row in rows:
                    self._stamp(row, f"{step}: {exc}")
                    self.report.add(row.row, step, Outcome.INVALID, str(exc))
                continue
            yield key, client

    def _moved(self, row: OrderRow, step: Step) -> bool:
        """The journal says the row's order was placed on another panel than its Panel cell
        now names (the cell was edited): that is the row's error, and no panel is asked.

        Only a row with the content the order was placed with is compared, so an id the user
        typed for an order of another panel is taken at its word.
        """
        if "panel" not in self.table.columns or row.order_id is None:
            return False
        if self._issuers is None:
            self._issuers = {}
            for entry in self.journal.accepted_adds(self._journal_sheets):
                if entry.result_id is not None:
                    where = (entry.result_id, entry.fingerprint)
                    self._issuers.setdefault(where, set()).add(self._entry_key(entry))
        issuers = self._issuers.get((row.order_id, row.fingerprint()))
        key = self._panel_key(row)
        if not issuers or key in issuers:
            return False
        named = " or ".join(sorted(self.panels.label(p) for p in issuers))
        message = (
            f"{step}: order {row.order_id} was placed on {named} (the journal says so) but "
            f"Panel names {key or 'the default panel'!r}; put the panel back: an order id is "
            "only looked up on the panel that issued it"
        )
        self._stamp(row, message)
        self.report.add(row.row, step, Outcome.INVALID, message)
        return True

    def _entry_key(self, entry: Entry) -> str:
        """The panel a journal entry went to (entries older than panels: the default)."""
        return entry.panel or self.panels.default_name

    def _pin_panel(self, row: OrderRow, key: str) -> None:
        """Write the panel an order was sent to into its row, so its id is only ever looked up
        there: when the sheet has a Panel column, or the panel is not the default."""
        if key == self.panels.default_name and "panel" not in self.table.columns:
            return
        if row.text("panel") != key:
            self.table.add_column("panel")
            self._set(row, "panel", key or None)

    def _progress(self, label: str, done: int, total: int) -> None:
        if self.options.progress is not None:
            self.options.progress(label, done, total)

    # ----------------------------------------------------------------- place

    def _say_orders_in_totals(self) -> None:
        """A Table's totals row whose Link cell holds a link: an order typed there."""
        col = self.table.columns.get("link")
        if col is None:
            return
        for number, cells in sorted(self.book.totals_rows(self.sheet).items()):
            link = cells.get(col)
            if isinstance(link, LinkedText) and link.target:
                link = link.target  # Insert > Link over the cell: where it points
            if isinstance(link, str) and _LINK_LIKE.search(link):  # not "Total", "No. of links"
                shown = link if len(link) <= 60 else link[:57] + "..."
                self.report.messages.append(TOTALS_ROW.format(row=number, link=shown))

    def place(self) -> list[str]:
        """Validate and place every new row, each on its own panel; returns the new order ids.

        A row whose Service is a product of the Routes sheet goes to its cheapest candidate
        that fits (:meth:`_cheapest`); after a definite refusal it fails over to the next.
        """
        self._say_orders_in_totals()
        candidates = self._rows_to_place()
        if not candidates:
            return []

        numbers = [row.row for row in candidates]
        why = HIDDEN_ROW
        try:
            hidden = self.book.hidden_rows(self.sheet, numbers)
        except WorkbookError as exc:
            # Which rows show cannot be told: none is bought, each says why, and the rest of
            # the run (a scheduled run's refresh, refills, cancels) goes on.
            hidden, why = set(numbers), str(exc)
        plans: list[OrderPlan] = []
        for row in candidates:
            plan = RowProblem(row.row, why) if row.row in hidden else self._plan(row)
            if isinstance(plan, RowProblem):
                self._stamp(row, plan.message)
                self.report.add(row.row, Step.PLACE, Outcome.INVALID, plan.message)
            else:
                plans.append(plan)
        if not plans:
            return []

        self._budget = self._start_budget(plans)
        unknown = [p.row for p in plans if p.cost is None]
        plans = self._within_budget(plans)
        preview = self._preview(plans, unknown)
        self.report.preview = preview
        self.report.currency = preview.currency
        self._say_day(preview.currency)
        if not plans:
            return []
        if self.options.dry_run:
            for plan in plans:
                where = self._where(plan)
                self.report.add(plan.row, Step.PLACE, Outcome.WOULD_PLACE, _estimate(plan) + where)
                if plan.note:
                    self.report.add(plan.row, Step.PLACE, Outcome.NOTE, plan.note)
            return []
        if self.options.confirm is not None and not self.options.confirm(preview):
            self.report.messages.append("placing cancelled: nothing was sent")
            return []
        if any(self._panel_of[p.row] != self.panels.default_name for p in plans):
            self.table.add_column("panel")
        placed: list[str] = []
        while plans:  # a routed row refused for good by one panel goes on to the next
            self._before_paying(plan.row for plan in plans)
            self._pin_plans(plans)
            placed += self._send_adds(plans)
            plans, self._next_round = self._next_round, []
        self._say_shared_ids()
        return placed

    def _say_day(self, currency: str) -> None:
        """Under Max spend per day, when rows were left out over budget, what the day had
        spent and what this run may add: a scheduled run's log says why it placed less than
        the sheet holds (a run that placed them all needs no word: Excel would alert)."""
        budget = self._budget
        day = None if budget is None else budget.day
        if budget is None or day is None or day.unknown is not None:
            return  # no day cap, or each row says why it cannot be kept
        if all(r.outcome != Outcome.OVER_BUDGET for r in self.report.results):
            return
        unit = f" {budget.rates.currency or currency}".rstrip()
        more = f"up to {money(budget.most)}" if budget.most else "nothing more"
        self.report.messages.append(
            f"{day.source} {day.cap}{unit}: {money(day.spent)} spent earlier today, "
            f"{more} in this run"
        )

    def _say_shared_ids(self) -> None:
        """Say when the panel answered an order id that another row holds too: one order
        for two rows, or a panel that reuses ids. Neither row is placed again."""
        given = {(self._panel_of.get(p.row, self.panels.default_name), p.row) for p in self._placed}
        ids = {
            (key, row.order_id)
            for key, number in given
            if (row := self._by_number[number]).order_id is not None
        }
        holders: dict[tuple[str, str], list[int]] = {}
        for row in self.table.rows:
            oid = row.order_id
            if oid is not None and (held := (self._panel_key(row), oid)) in ids:
                holders.setdefault(held, []).append(row.row)
        for (_, oid), numbers in holders.items():
            if len(numbers) > 1:
                self._shared_ids.add(oid)
                self.report.messages.append(
                    f"the panel answered order id {oid} for {len(numbers)} rows "
                    f"({', '.join(map(str, numbers))}): one order for them, or a panel that "
                    "reuses ids; check the panel's orders (none of them is placed again)"
                )

    def _where(self, plan: OrderPlan) -> str:
        """`` on panel 'eu' service 12`` for a row routed or sent off the default panel."""
        key = self._panel_of[plan.row]
        if plan.row not in self._typed and key == self.panels.default_name:
            return ""
        return f" on {self.panels.label(key)} service {plan.service.id}"

    def _plan(self, row: OrderRow) -> OrderPlan | RowProblem:
        """A row validated against its own panel's service list (or routed)."""
        if row.flag(Action.CANCEL):
            return RowProblem(row.row, CANCEL_UNPLACED)
        route = self._route_of(row)
        if route is not None:
            return self._cheapest(row, route)
        key = self._panel_key(row)
        services = self._services_or_problem(key)
        if isinstance(services, str):
            return RowProblem(row.row, services)
        plan = validate(row, services)
        if isinstance(plan, OrderPlan):
            self._panel_of[row.row] = key
        return plan

    def _services_or_problem(self, key: str) -> dict[int, Service] | str:
        """A panel's services, or why they cannot be had (a row's error). The default panel
        failing, or any panel stopping the run (a bad key), still raises."""
        try:
            return self.services(key)
        except ConfigError as exc:
            return str(exc)
        except PanelError as exc:
            if exc.stops_run or key == self.panels.default_name:
                raise
            return f"{self.panels.label(key)}: {exc}"

    def _route_of(self, row: OrderRow) -> list[Candidate] | None:
        """The Routes sheet's candidates when the row's Service names a product, else None."""
        if row.service_id is not None or not row.text("service"):
            return None
        if self._routes is None:
            name = find_sheet(self.book.sheet_names(), ROUTES_SHEET)
            values = [] if name is None else self.book.read_values(name)
            self._routes = read_routes(values, name) if name is not None else Routes()
        return self._routes.candidates(row.get("service"))

    def _cheapest(self, row: OrderRow, route: Sequence[Candidate]) -> OrderPlan | RowProblem:
        """The row's plan at its cheapest candidate that fits; the others kept for failover.

        Every candidate is validated against its own panel's list (min/max, fields) and
        priced at the rate that panel lists this run; one without a price is left out.
        Candidates in other currencies are compared in the reporting currency (Settings
        rates); one that cannot be converted is left out. A row that names its Panel is
        routed among that panel's candidates only.
        """
        found: list[tuple[str, OrderPlan]] = []
        problems: list[str] = []
        if row.text("panel"):  # the row names its panel: only that panel's candidates
            mine = self._panel_key(row)
            route = [c for c in route if self.panels.key(c.panel) == mine]
            problems.append(f"Panel names {mine!r}: only its candidates are considered")
        for candidate in route:
            key = self.panels.key(candidate.panel)
            where = f"{self.panels.label(key)} service {candidate.service}"
            services = self._services_or_problem(key)
            if isinstance(services, str):
                problems.append(services)
                continue
            chosen = OrderRow(row.row, {**row.values, "service": candidate.service})
            plan = validate(chosen, services)
            if isinstance(plan, RowProblem):
                problems.append(f"{where}: {plan.message}")
            elif plan.cost is None:
                problems.append(f"{where}: the panel lists no price")
            else:
                found.append((key, plan))
        priced: list[tuple[Decimal, int, str, OrderPlan]] = []
        rates = self._comparison_rates({key for key, _ in found})
        for n, (key, plan) in enumerate(found):
            where = f"{self.panels.label(key)} service {plan.service.id}"
            currency = self._panel_currency(key)
            try:
                if currency is None:
                    raise NoRate("the panel did not answer with its balance")
                price = rates.convert(plan.cost or Decimal(0), currency)
            except NoRate as exc:
                problems.append(f"{where}: {exc}")
                continue
            priced.append((price, n, key, plan))
        if not priced:
            return RowProblem(
                row.row,
                f"No route of product {row.text('service')!r} fits this order: "
                + "; ".join(problems or ["the Routes sheet lists no candidate"]),
            )
        priced.sort(key=lambda item: (item[0], item[1]))  # cheapest; ties in sheet order
        (_, _, key, plan), *rest = priced
        self._panel_of[row.row] = key
        self._alternatives[row.row] = [(k, p) for _, _, k, p in rest]
        self._typed[row.row] = (row.get("service"), row.get("panel"))
        return plan

    def _comparison_rates(self, keys: Iterable[str]) -> Rates:
        """How amounts of these panels are made comparable: as they are when they share one
        currency, else in the reporting currency (Settings, or the default panel's)."""
        currencies = {self._panel_currency(key) for key in keys} - {None}
        if len(currencies) <= 1 and self.options.money.currency is None:
            return Rates()
        return self._report_rates()

    def _panel_currency(self, key: str) -> str | None:
        """The currency a panel bills in (its balance's); None when another panel than the
        default cannot say (its rows learn why from :meth:`_Budget.refusal`)."""
        try:
            return self.balance(key).currency.upper()
        except PanelError as exc:
            if exc.stops_run or key == self.panels.default_name:
                raise
            return None

    def _report_rates(self) -> Rates:
        """Rates into the reporting currency: the Settings sheet's, or the default panel's."""
        money = self.options.money
        if money.currency is not None:
            return money
        currency = self.balance(self.panels.default_name).currency.upper()
        return Rates(currency or None, money.rates)

    def _start_budget(self, plans: Sequence[OrderPlan]) -> _Budget:
        """Running totals for this placing: balances per panel, the cap in one currency."""
        keys = {self._panel_of[p.row] for p in plans}
        keys |= {k for p in plans for k, _ in self._alternatives.get(p.row, [])}
        cap, per_day = self.options.max_spend, self.options.max_spend_per_day
        rates = Rates()
        if per_day is not None:  # earlier placings may have gone to any panel
            rates = self._report_rates()
        elif cap is not None and (self.options.money.currency is not None or len(keys) > 1):
            rates = self._comparison_rates(keys)
        source, allow = self.options.max_spend_source, self.options.allow_unpriced
        day = None if per_day is None else self._day_cap(per_day, rates)
        return _Budget(self.balance, self.panels, cap, source, rates, allow, day)

    def _day_cap(self, cap: Decimal, rates: Rates) -> _DayCap:
        """``Max spend per day`` with what the journal says was spent since midnight, in
        ``rates.currency``: every add that may have cost money, at its estimate (the
        figure the cap is checked against), refunds of canceled orders not taken off."""
        now = self.options.now()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        midnight = self.journal.day_start(midnight, now.timestamp())
        source = self.options.max_spend_per_day_source
        spent, blind = Decimal(0), 0
        # Both caps set, the day's stays shut: Max spend is of use only in its stead.
        wait = (
            f"it can be kept from tomorrow, or for today clear {source} and use Max spend instead"
        )
        if self.journal.replaced_since(midnight):
            return _DayCap(
                cap,
                source,
                spent,
                (
                    "this workbook's journal was started anew today, so what its lost "
                    f"journal's orders of today cost is not known; {wait}"
                ),
            )
        for entry in self.journal.spent_since(midnight):
            if entry.cost is None:
                blind += 1
            elif entry.cost:
                try:
                    spent += rates.convert(entry.cost, entry.currency)
                except NoRate as exc:
                    return _DayCap(cap, source, spent, f"an order placed earlier today: {exc}")
        if blind:
            return _DayCap(
                cap,
                source,
                spent,
                (
                    f"{plural(blind, 'order')} placed earlier today without a cost on record "
                    f"(no listed price, or placed by an older smmsheet); {wait}"
                ),
            )
        return _DayCap(cap, source, spent)

    def _preview(self, plans: Sequence[OrderPlan], unknown: Sequence[int]) -> Preview:
        """What placing ``plans`` would cost: in one currency, and per panel when several."""
        assert self._budget is not None
        kept_unknown = tuple(p.row for p in plans if p.cost is None)
        keys = list(dict.fromkeys(self._panel_of[p.row] for p in plans)) or [
            self.panels.default_name
        ]
        rates = self._comparison_rates(keys) if len(keys) > 1 else self._budget.rates
        most = least = Decimal(0)
        unconverted: list[int] = []
        lines: list[str] = []
        balances: list[str] = []
        for key in keys:
            mine = [p for p in plans if self._panel_of[p.row] == key]
            high = sum((p.cost for p in mine if p.cost is not None), Decimal(0))
            low = sum((p.lowest_cost for p in mine if p.lowest_cost is not None), Decimal(0))
            balance = self.balance(key)
            try:
                most += rates.convert(high, balance.currency)
                least += rates.convert(low, balance.currency)
            except NoRate:
                unconverted += [p.row for p in mine]
            span = f"about {money(high)}" if low == high else f"{money(low)} to {money(high)}"
            lines.append(
                f"{key or 'default'}: {plural(len(mine), 'order')}, {span} {balance.currency} "
                f"(balance {money(balance.amount)} {balance.currency})"
            )
            balances.append(f"{key or 'default'} {money(balance.amount)} {balance.currency}")
        first = self.balance(keys[0])
        # One line per panel when there are several, or when the total is converted.
        per_panel = len(keys) > 1 or rates.currency not in (None, first.currency)
        return Preview(
            len(plans),
            most,
            rates.currency or first.currency,
            first.amount,
            unpriced=tuple(r for r in unknown if r not in kept_unknown),
            unknown_cost=kept_unknown,
            cost_low=least if least != most else None,
            by_panel=tuple(lines) if per_panel else (),
            balances=tuple(balances) if per_panel else (),
            unconverted=tuple(unconverted),
            rows=tuple(p.row for p in plans),
        )

    def _pin_plans(self, plans: Sequence[OrderPlan]) -> None:
        """Before sending: each row's panel, and a routed row's chosen service, into its row.

        A routed row's Service changes its content (its fingerprint, which the journal
        entry carries), so that is saved before its add is sent: a run killed now finds the
        entry's row next time, and a re-run never routes a placed row again.
        """
        rerouted = False
        for plan in plans:
            row = self._by_number[plan.row]
            if plan.row in self._typed:
                self._set(row, "service", plan.service.id)
                rerouted = True
            self._pin_panel(row, self._panel_of[plan.row])
        if rerouted:
            self.commit()

    def _rows_to_place(self) -> list[OrderRow]:
        """Rows without an Order ID that may be placed, once the journal has had its say.

        The journal, not the sheet's text, decides. An add whose answer was lost blocks the
        row with its content until the user settles it: an id typed into the Order ID column
        (or a number typed into the Error cell, moved to Order ID), or PLACE AGAIN typed into
        the Error cell. An accepted add whose id appears nowhere in the sheet gives its id
        back to a row with its content, wherever that row now sits (an older copy of the
        file, rows sorted or inserted): k such adds restore at most k rows, and a row they do
        not cover is new. Entries at the row's own number are matched first.
        """
        rows = self.table.rows
        unresolved = self.journal.unresolved_adds(self._journal_sheets)
        accepted = self._not_in_sheet(rows)
        if not unresolved and not accepted:
            return [r for r in rows if self._may_place(r)]
        # An unknown outcome settled by the id the user typed into its own row's Order ID:
        # only rows at an unresolved entry's number can be that row.
        at_entries = {e.row for e in unresolved}
        with_id = [r for r in rows if r.order_id is not None and r.row in at_entries]
        without_id = [r for r in rows if self._may_place(r)]
        prints = {r.row: r.fingerprint() for r in (*with_id, *without_id)}  # only those matched
        typed = _match(with_id, unresolved, prints, same_row_only=True)
        for row in with_id:
            if row.row in typed:
                self._settle(typed[row.row], Resolution.TYPED, row.order_id)
                resolved = f"journal #{typed[row.row].id}"
                self.report.add(row.row, Step.PLACE, Outcome.RESOLVED, resolved)
        settled = {e.id for e in typed.values()}
        unresolved = [e for e in unresolved if e.id not in settled]
        blocked = _match(without_id, unresolved, prints)
        restore = _match([r for r in without_id if r.row not in blocked], accepted, prints)
        new: list[OrderRow] = []
        for row in without_id:
            entry = blocked.get(row.row) or restore.get(row.row)
            if entry is None:
                new.append(row)
            elif _place_again(row):
                self._settle(entry, Resolution.PLACE_AGAIN)
                new.append(row)
            elif entry.result_id is not None:
                self._set(row, "order_id", id_cell(entry.result_id))
                self._pin_panel(row, self._entry_key(entry))
                self._stamp(row, _restored_text(entry))
                self.report.add(row.row, Step.PLACE, Outcome.RESTORED, entry.result_id or "")
            elif (number := _typed_id(row)) is not None:
                self._set(row, "order_id", id_cell(number))
                self._stamp(row)
                self._settle(entry, Resolution.TYPED, number)
                self.report.add(row.row, Step.PLACE, Outcome.RESOLVED, f"journal #{entry.id}")
            else:
                message = _ambiguous_text(entry.id, entry.result or "no answer")
                if row.text("error") != message:  # said again only when the user changed it
                    self._stamp(row, message)
                self.report.add(row.row, Step.PLACE, Outcome.AMBIGUOUS, f"journal #{entry.id}")
        matched = {e.id for e in blocked.values()}
        for entry in unresolved:
            if entry.id not in matched:
                self.report.messages.append(
                    f"journal #{entry.id}: an order for row {entry.row} "
                    f"({entry.request.get('link', '')}) may have been placed and no row without "
                    "an Order ID has that content any more; check the panel's orders"
                )
        return new

    def _not_in_sheet(self, rows: Sequence[OrderRow]) -> list[Entry]:
        """The accepted adds whose order id no row of the sheet holds for them.

        An id is an order of one panel (two panels may both have an order 1001). A panel
        may give one id to two orders: an id held by k rows then accounts for k of its
        entries, each row its own entry (same content) first, so an older copy of the
        sheet gets back the row the id was given to second, rather than buying it again.
        """
        entries = self.journal.accepted_adds(self._journal_sheets)
        by_id: dict[tuple[str, str | None], list[Entry]] = {}
        for entry in entries:
            by_id.setdefault((self._entry_key(entry), entry.result_id), []).append(entry)
        holders: dict[tuple[str, str | None], list[OrderRow]] = {}
        for row in rows:
            if row.order_id is not None:
                held_id = (self._panel_key(row), row.order_id)
                if held_id in by_id:
                    holders.setdefault(held_id, []).append(row)
        self._say_edited_links(
            [
                (held[0], by_id[given][0])
                for given, held in holders.items()
                if len(held) == 1 == len(by_id[given])
            ]
        )
        missing: set[int] = set()
        for given, same in by_id.items():
            held = holders.get(given, [])
            if len(same) <= len(held):
                continue
            prints = [row.fingerprint() for row in held]
            rest = []
            for entry in same:
                if entry.fingerprint in prints:
                    prints.remove(entry.fingerprint)
                else:
                    rest.append(entry)
            # a holder whose content changed since stands for one of the others, oldest first
            missing.update(entry.id for entry in rest[len(prints) :])
        return [entry for entry in entries if entry.id in missing]

    def _say_edited_links(self, placed: Sequence[tuple[OrderRow, Entry]], shown: int = 5) -> None:
        """One message per row whose Link differs from the one its order was placed with.

        A row with an Order ID is never placed again, so a link corrected after placing
        changes nothing at the panel; without a word the user believes it did.
        """
        edited = [
            (row, entry)
            for row, entry in placed
            if (sent := entry.request.get("link")) is not None
            and (typed := row.text("link")) != sent  # the everyday row: equal, at once
            and not same_address(typed, sent)
        ]
        for row, entry in edited[:shown]:
            self.report.messages.append(
                f"row {row.row}: its Link was changed after order {entry.result_id} was placed: "
                f"the order still goes to {entry.request['link']}. To order "
                f"{row.text('link')}, put it in a new row"
            )
        if len(edited) > shown:
            self.report.messages.append(
                f"... and {plural(len(edited) - shown, 'more row')} whose Link was changed"
            )

    def _may_place(self, row: OrderRow) -> bool:
        """A row without a usable Order ID; a cell holding something else is the row's error."""
        if row.order_id is not None:
            return False
        if not row.text("order_id"):
            return True
        message = f"{_unusable_id(row)}: correct it, or clear it to place this row"
        self._stamp(row, message)
        self.report.add(row.row, Step.PLACE, Outcome.INVALID, message)
        return False

    def _settle(self, entry: Entry, resolution: Resolution, result: str | None = None) -> None:
        """Record how the user settled a journal entry (not in a dry run: it changes nothing)."""
        if not self.options.dry_run:
            self.journal.resolve(entry.id, resolution, result)

    def _within_budget(self, plans: list[OrderPlan]) -> list[OrderPlan]:
        """Keep the rows, in sheet order, whose running total fits their panel's balance and
        the cap (--max-spend or Max spend, over every panel of the run).

        A routed row that does not fit at its cheapest candidate takes the next one that
        does. The rules per plan are :meth:`_Budget.refusal`'s.
        """
        assert self._budget is not None
        budget = self._budget
        kept: list[OrderPlan] = []
        for plan in plans:
            choices = [(self._panel_of[plan.row], plan), *self._alternatives.get(plan.row, [])]
            first: tuple[Outcome, str] | None = None
            for index, (key, option) in enumerate(choices):
                refusal = budget.refusal(key, option)
                if refusal is None:
                    budget.take(key, option)
                    self._panel_of[plan.row] = key
                    if plan.row in self._alternatives:
                        self._alternatives[plan.row] = choices[index + 1 :]
                    kept.append(option)
                    break
                first = first or refusal
            else:
                assert first is not None
                outcome, reason = first
                self._stamp(self._by_number[plan.row], reason)
                self.report.add(plan.row, Step.PLACE, outcome, reason)
        return kept

    def _send_adds(self, plans: list[OrderPlan]) -> list[str]:
        """Send the adds with bounded concurrency, journaling each one around its request.

        Each of ``max_workers`` threads takes the next row as soon as its add is answered
        and journals that answer and the next row's intent in one transaction (one wait on
        the disk per add, not two), then sends; the answers are recorded here as they come.
        """
        placed: list[str] = []
        stop = threading.Event()
        taking = threading.Lock()
        waiting = iter(plans)
        left: list[OrderPlan] = []  # taken by a worker whose journal failed: never sent
        refused: list[tuple[OrderPlan, int, str]] = []  # sent, and the key (or ...) refused
        answers: queue.SimpleQueue[_Answer | BaseException | None] = queue.SimpleQueue()

        def take() -> OrderPlan | None:
            with taking:
                return None if stop.is_set() else next(waiting, None)

        def intent(plan: OrderPlan) -> Intent:
            return {
                "sheet": self.sheet,
                "row": plan.row,
                "fingerprint": plan.fingerprint,
                "action": Action.ADD,
                "request": {"service": str(plan.service.id), **plan.fields},
                "panel": (key := self._panel_of.get(plan.row, self.panels.default_name)),
                # What Max spend per day adds up (the budget asked the panel's balance).
                "cost": plan.cost,
                "currency": None if (known := self._balances.get(key)) is None else known.currency,
            }

        def work() -> None:
            taken: OrderPlan | None = None  # taken, its intent not journaled yet
            plan: OrderPlan | None = None
            entry = 0
            try:
                plan = taken = take()
                entry = self.journal.intent(**intent(plan)) if plan is not None else 0
                taken = None
                while plan is not None:
                    if stop.is_set():
                        self._note(entry, State.REJECTED, NOT_SENT_STOPPED)
                        answers.put((plan, entry, State.REJECTED, NOT_SENT_STOPPED))
                        return
                    state, result = self._add(plan, entry)
                    after = taken = take()  # None once the run stops
                    try:
                        if after is None:
                            self._note(entry, state, result)
                            return
                        following = self.journal.outcome_then_intent(
                            entry, state, result, **intent(after)
                        )
                    except JournalError:
                        self._note(entry, state, result)  # this answer at least; `after` unsent
                        raise
                    finally:
                        answers.put((plan, entry, state, result))  # before the error, if one
                    taken = None
                    plan, entry = after, following
            except BaseException as exc:  # handed to the run, which stops and raises it
                stop.set()
                if taken is not None:
                    left.append(taken)
                elif plan is not None and isinstance(exc, PanelError) and exc.stops_run:
                    refused.append((plan, entry, exc.message))  # its add was refused: say why
                answers.put(exc)
            finally:
                answers.put(None)

        total = len(plans)
        done = 0
        self._progress(Step.PLACE, 0, total)
        prefix = f"smmsheet-add-{id(self):x}"
        threads = [
            threading.Thread(target=work, name=f"{prefix}-{i}", daemon=True)
            for i in range(min(self.panels.max_workers, total))
        ]
        fatal: BaseException | None = None

        def record(answer: _Answer | BaseException | None) -> bool:
            """Record one answer; False when it says a worker ended."""
            nonlocal done, fatal
            if answer is None:
                return False
            if isinstance(answer, BaseException):
                fatal = fatal or answer
                return True
            done += 1
            self._record_add(*answer, placed)
            return True

        def say_left() -> None:
            """The rows a stopped run never sent (nothing journaled) say so; a row whose add
            the panel refused in a way that stops the run (its key) says why."""
            for plan, entry, why in refused:
                self._stamp(self._by_number[plan.row], why)
                self.report.add(plan.row, Step.PLACE, Outcome.FAILED, why)
                self._synced.append(entry)
            refused.clear()
            for plan in [*left, *waiting]:
                self._stamp(self._by_number[plan.row], NOT_SENT_STOPPED)
                self.report.add(plan.row, Step.PLACE, Outcome.FAILED, NOT_SENT_STOPPED)

        with quick_turns():  # the workers' replies get the GIL soon
            try:
                for thread in threads:
                    thread.start()
                running = len(threads)
                while running:
                    if not record(answers.get()):
                        running -= 1
                        continue
                    if fatal is not None and not _stops_run(fatal):
                        raise fatal  # not a panel's refusal: a journal or program failure
                    self._progress(Step.PLACE, done, total)
                say_left()
            except BaseException:
                stop.set()  # Ctrl-C: let in-flight requests finish and keep their outcomes
                _join_workers(prefix)
                while True:
                    try:
                        record(answers.get_nowait())
                    except queue.Empty:
                        break
                say_left()  # a journal that failed, Ctrl-C: what was not sent says so too
                raise
            finally:
                stop.set()
                _join_workers(prefix)
        if fatal is not None:
            raise fatal
        return placed

    def _add(self, plan: OrderPlan, entry: int) -> tuple[State, str]:
        """Send one add whose intent is journaled as ``entry``; its state and the order id
        or the reason. A refusal that stops the run, or anything unexpected, is journaled
        and raised."""
        key = self._panel_of.get(plan.row, self.panels.default_name)
        try:
            order = self.panels.client(key).add(plan.service.id, **plan.fields)
        except AmbiguousRequestError as exc:
            return State.AMBIGUOUS, exc.message
        except PanelError as exc:
            # Anything else means the panel refused or never got the request.
            if exc.stops_run:  # an invalid key, a panel asking to wait too long
                self._note(entry, State.REJECTED, exc.message)
                raise
            return State.REJECTED, exc.message
        except BaseException as exc:
            self._note(entry, State.AMBIGUOUS, f"{type(exc).__name__} while sending")
            raise
        return State.ACCEPTED, str(order)

    def _note(self, entry: int, state: State, result: str | int | None) -> None:
        """Record an outcome; a journal failing now must not lose the panel's answer."""
        try:
            self.journal.outcome(entry, state, result)
        except JournalError as exc:
            self.report.messages.append(
                f"{exc}: the outcome of journal #{entry} ({state} {result}) is only in the sheet"
            )

    def _record_add(
        self, plan: OrderPlan, entry: int, state: State, result: str, placed: list[str]
    ) -> None:
        row = self._by_number[plan.row]
        if state == State.ACCEPTED:
            self._succeeded(Action.ADD, row, result)
            placed.append(result)
            self._placed.append(plan)
            self.report.add(row.row, Step.PLACE, Outcome.PLACED, result)
        elif state == State.AMBIGUOUS:
            self._stamp(row, _ambiguous_text(entry, result))
            self.report.add(row.row, Step.PLACE, Outcome.AMBIGUOUS, result)
        elif result == NOT_SENT_STOPPED or not self._fail_over(plan, result):
            refusals = self._refusals.get(plan.row)
            if refusals and result != NOT_SENT_STOPPED:
                result = "every route refused it: " + "; ".join(refusals)
            self._stamp(row, result)
            self.report.add(row.row, Step.PLACE, Outcome.FAILED, result)
        self._synced.append(entry)

    def _fail_over(self, plan: OrderPlan, refusal: str) -> bool:
        """After a panel refused a routed row for good: queue its next candidate that fits
        the budget (True), or put the product name back so the next run routes it afresh.

        Only a definite refusal comes here: an add whose answer was lost keeps its row on
        the panel and service it was sent to, blocked until the user settles it.
        """
        rest = self._alternatives.get(plan.row)
        if rest is None or self._budget is None:
            return False
        key = self._panel_of[plan.row]
        self._refusals.setdefault(plan.row, []).append(
            f"{self.panels.label(key)} service {plan.service.id}: {refusal}"
        )
        self._budget.take(key, plan, sign=-1)
        while rest:
            next_key, next_plan = rest.pop(0)
            if self._budget.refusal(next_key, next_plan) is None:
                self._budget.take(next_key, next_plan)
                self._panel_of[plan.row] = next_key
                self._next_round.append(next_plan)
                return True
        row = self._by_number[plan.row]
        service, panel = self._typed[plan.row]
        self._set(row, "service", service)
        if "panel" in self.table.columns:
            self._set(row, "panel", panel)
        return False

    def _settle_placed(self) -> None:
        """Count what this run placed at the charges the panel reported; write the row notes.

        The engine refreshes what it placed right after placing (``place``) or in the same
        run (``run``); an order whose charge has not come back is counted at its estimate.
        A charge that differs from its estimate beyond rounding is said once.
        """
        if not self._placed:
            return
        refreshed = {
            r.row
            for r in self.report.results
            if (r.step, r.outcome) == (Step.STATUS, Outcome.UPDATED)
        }
        differ: list[tuple[int, Decimal, Decimal]] = []
        for plan in self._placed:
            row = self._by_number[plan.row]
            charge = parse_decimal(row.get("charge")) if plan.row in refreshed else None
            if charge is None:
                self.report.uncharged += 1
                self.report.spent += self._counted(plan, plan.cost or Decimal(0))
            else:
                self.report.spent += self._counted(plan, charge)
                status = str(row.get("status") or "").lower()
                refunded = is_final(status) and status != "completed"  # canceled, partial...
                if plan.cost is not None and not refunded and abs(charge - plan.cost) > ROUNDING:
                    differ.append((plan.row, plan.cost, charge))
            current = row.get("error")
            if plan.note and (current is None or current == "" or _is_note(current)):
                self._set(row, "error", f"{NOTE_MARK} {plan.note}")
            elif not plan.note and _is_note(current):
                self._set(row, "error", None)
            if plan.note:
                self.report.add(plan.row, Step.PLACE, Outcome.NOTE, plan.note)
        self._placed.clear()
        if differ:
            shown = "; ".join(
                f"row {r}: estimated {money(e)}, charged {money(c)}" for r, e, c in differ[:5]
            )
            more = f"; and {len(differ) - 5} more" if len(differ) > 5 else ""
            self.report.messages.append(
                "the panel charged other amounts than estimated for "
                f"{plural(len(differ), 'order')} ({self.report.currency}: {shown}{more}); "
                "the totals use the panel's charges"
            )

    def _counted(self, plan: OrderPlan, value: Decimal) -> Decimal:
        """An amount billed by a plan's panel, in the report's currency (what ``spent`` sums).

        Without a Settings rate for it, it is left out of the total, with a word.
        """
        key = self._panel_of.get(plan.row, self.panels.default_name)
        balance = self._balances.get(key)
        currency = balance.currency if balance is not None else self.report.currency
        if currency.upper() == self.report.currency.upper():
            return value
        try:
            return Rates(self.report.currency, self.options.money.rates).convert(value, currency)
        except NoRate as exc:
            self.report.messages.append(
                f"row {plan.row}: {value} {currency} is not in the total spent: {exc}"
            )
            return Decimal(0)

    # ----------------------------------------------------------------- profit

    def profit(self) -> None:
        """Cost, Profit and Margin of every row with a Sell price, from the panel's charge.

        Cost is the charge the panel reported, in the reporting currency (Settings rates);
        a row whose charge cannot be converted, or whose Sell price cannot be read, gets
        that as its error and empty Cost, Profit and Margin: never a guess.
        """
        if "sell_price" not in self.table.columns:
            return
        for row in self.table.rows:
            self._row_profit(row, report=True)

    def _row_profit(self, row: OrderRow, report: bool) -> None:
        """One row's Cost, Profit and Margin. Without ``report`` (a refresh writing them
        early) a row whose profit cannot be worked out is left for :meth:`profit`."""
        charge = parse_decimal(row.get("charge"))
        if row.order_id is None or charge is None or not row.text("sell_price"):
            return
        try:
            result = profit(
                charge=charge,
                currency=row.text("currency") or None,
                sell_price=_sell_price(row),
                per_order=row.flag("sell_per_order"),
                quantity=_sold_quantity(row),
                remains=parse_int(row.get("remains")),
                status=row.text("status"),
                rates=self.options.money,
            )
            values = {"cost": result.cost, "profit": result.profit, "margin": result.margin}
            unwritable = next(
                (
                    f"{k} {p}"
                    for k, v in values.items()
                    if v is not None and (p := cell_value_problem(v))
                ),
                None,
            )
            if unwritable:
                raise Unreadable(f"no cell can hold the {unwritable}")
        except (NoRate, Unreadable) as exc:
            if not report:
                return
            problem = f"profit: {exc}"
            if row.text("error") != problem:
                self._stamp(row, problem)
            self.report.add(row.row, Step.PROFIT, Outcome.INVALID, problem)
            for key in PROFIT_COLUMNS:
                self._set(row, key, None)
            return
        if row.text("error").startswith("profit: "):
            if not report:
                return
            self._stamp(row)
        for key, value in values.items():
            self._set(row, key, value)

    # ----------------------------------------------------------------- refresh

    def refresh(self, only: Iterable[str] | None = None) -> None:
        """Refresh status, charge, start count and remains of orders not final yet, each on
        the panel its row names (two panels may both have an order 1001)."""
        wanted = set(only) if only is not None else None
        by_panel: dict[str, dict[str, list[OrderRow]]] = {}
        final: dict[CellValue, bool] = {}  # a sheet holds a handful of distinct statuses
        named = "panel" in self.table.columns  # else every row is the default panel's
        default = self.panels.default_name
        ids: dict[str, list[OrderRow]] = {}  # the default panel's, when no row names one
        # Before the first request: 100,000 rows here hold the panel back (the fields are
        # read by column, row.order_id is spelled out, the cheap status test goes first).
        table = self.table
        for row, found, status in zip(
            table.rows, table.column("order_id"), table.column("status"), strict=True
        ):
            if found is None:
                continue
            if wanted is None:
                ended = final.get(status)
                if ended is None:
                    ended = final[status] = is_final(status)
                if ended:
                    continue
            oid = parse_id(found)
            if oid is None or (wanted is not None and oid not in wanted):
                continue
            if named:
                if not self._moved(row, Step.STATUS):
                    by_panel.setdefault(self._panel_key(row), {}).setdefault(oid, []).append(row)
                continue
            same = ids.get(oid)
            if same is None:
                ids[oid] = [row]
            else:
                same.append(row)
        if ids:
            by_panel[default] = ids
        clients = dict(self._clients(_rows_of(by_panel), Step.STATUS))
        if clients:
            self._refresh_on({key: (client, by_panel[key]) for key, client in clients.items()})

    def _refresh_on(
        self, panels: Mapping[str, tuple[PanelClient, Mapping[str, list[OrderRow]]]]
    ) -> None:
        """Refresh the orders of every panel at once (100 ids a request, each panel its own
        requests in flight), writing each chunk's rows here as it comes from any panel."""
        total = sum(len(rows_by_id) for _, rows_by_id in panels.values())
        done = 0
        self._progress(Step.STATUS, 0, total)
        # Each chunk is written while the next requests are still in flight. Ids whose request
        # failed with the panel down wait: if no request of a panel got through, that is one
        # message for that panel.
        down: dict[str, list[OrderStatus]] = {key: [] for key in panels}
        # One copy of each value for all the rows that have it (a million rows: 200 MB less).
        known: dict[tuple[type, CellValue], CellValue] = {}
        # The refresh's inner loop (100,000 rows): a row's fields, its cleared Error and its
        # Updated time go in one _set_fields call, as _stamp(row) would write them.
        cleared = (("error", None), ("updated", self._now()))
        said, results = self._said, self.report.results
        step, updated = Step.STATUS, Outcome.UPDATED  # looked up once, not per row
        # Each chunk's rows go to the book as they are written, and the rows above the first
        # row still waiting for its answer are the book's to start saving (_hand_over).
        # Not when the commit adds the columns the sheet lacks: that save starts afresh.
        hand_over = not (self.options.dry_run or self.table.new_columns)
        waiting = _Waiting({key: rows_by_id for key, (_, rows_by_id) in panels.items()})
        handing: list[int] = []  # rows written since the last hand-over
        idle = _Idle()  # hand-overs only in the time spent waiting for the panel
        streams = {
            key: self._status_stream(key, client, ids) for key, (client, ids) in panels.items()
        }
        for key, statuses in merged(streams, "smmsheet-status"):
            idle.arrived()
            rows_by_id = panels[key][1]
            written: list[int] = []
            answered: list[int] = []  # the first row of each order answered
            for oid, st in statuses.items():
                if st.unavailable:
                    down[key].append(st)
                    continue
                answered.append(rows_by_id[oid][0].row)
                problem = st.error or _unwritable(st, known)
                fields = () if problem else _status_fields(st, known)
                # Each order's status its own text as read: the one copy in known instead
                # (a million results kept to the end of the run: 60 MB).
                text = st.status or ""
                shown = str(known.setdefault((str, text), text))  # str() of a str: itself
                for row in rows_by_id[oid]:
                    written.append(row.row)
                    if problem:
                        hint = _STATUS_REFUSED_HINT if st.refused else ""
                        self._stamp(row, f"status: {problem}{hint}")
                        self.report.add(row.row, Step.STATUS, Outcome.FAILED, problem)
                        continue
                    if row.row in said or _is_note(row.values.get("error")):
                        self._set_fields(row, fields)
                        self._stamp(row)
                    else:
                        self._set_fields(row, fields + cleared)
                    results.append(RowResult(row.row, step, updated, shown))
            done += len(statuses)
            self._progress(Step.STATUS, done, total)
            if hand_over:
                handing += written
                before_row = waiting.answered(answered)
                if len(handing) >= _HAND_OVER_ROWS and idle.fits():
                    with idle.spending():
                        self._finish_rows(handing)
                        hand_over = self._hand_over(handing, before_row)
                    handing = []
            idle.waiting()
        for key, (_, rows_by_id) in panels.items():
            self._panel_down(Step.STATUS, down[key], len(rows_by_id), rows_by_id, key)

    def _status_stream(
        self, key: str, client: PanelClient, ids: Iterable[str]
    ) -> Iterator[dict[str, OrderStatus]]:
        """The statuses of ``ids`` on the panel ``key``: those asked ahead first, if the
        default panel's client was the one asked (see :meth:`__init__`)."""
        ahead = self._ahead
        if (
            ahead is not None
            and ahead.unread
            and key == self.panels.default_name
            and ahead.client is client
        ):
            # Once: what it asked ahead is read by this refresh. Kept for execute() to
            # close, as a stream nobody started reading never runs its own finally.
            return ahead.chunks(ids)
        return client.status_chunks(list(ids))

    def _panel_down(
        self,
        step: Step,
        down: Sequence[OrderStatus | RefillStatus],
        total: int,
        rows_by_id: Mapping[str, list[OrderRow]],
        key: str,
    ) -> bool:
        """Report ids the panel could not be asked about; True when that was every id.

        A panel that answered no request is one message and a failed run: no row's Error
        cell is touched, so what the rows said before stays. When only some requests
        failed, their rows say why, as any other per-order error.
        """
        if not down:
            return False
        if len(down) == total:
            self.report.panel_failed = True
            which = "the panel" if key == self.panels.default_name else self.panels.label(key)
            self.report.messages.append(
                f"{step}: nothing refreshed, {which} failed: {down[0].error}"
            )
            return True
        for st in down:
            key = st.order if isinstance(st, OrderStatus) else st.refill
            for row in rows_by_id[key]:
                self._stamp(row, f"{step}: {st.error}")
                self.report.add(row.row, step, Outcome.FAILED, st.error or "")
        return False

    def refill_status(self) -> None:
        """Refresh the status of refills not final yet, each on its row's panel."""
        by_panel: dict[str, dict[str, list[OrderRow]]] = {}
        for row in self.table.rows:
            rid = row.refill_id
            if rid is None or is_final(row.get("refill_status"), refill=True):
                continue
            # A refill lives on the panel of its order: not asked of another (same ids).
            if not self._moved(row, Step.REFILL_STATUS):
                by_panel.setdefault(self._panel_key(row), {}).setdefault(rid, []).append(row)
        # Every panel asked at once (each its own requests in flight), a panel's answers
        # written here once it has given them all. Streamed by chunk: a Ctrl-C (or an error
        # here) ends each panel's requests in flight, and no more are sent.
        streams = {
            key: client.refill_status_chunks(list(by_panel[key]))
            for key, client in self._clients(_rows_of(by_panel), Step.REFILL_STATUS)
        }
        answers: dict[str, dict[str, RefillStatus]] = {key: {} for key in streams}
        for key, chunk in merged(streams, "smmsheet-refill-status"):
            statuses = answers[key]
            statuses.update(chunk)
            if len(statuses) >= len(by_panel[key]):
                self._refill_statuses(answers.pop(key), by_panel[key], key)
        for key, statuses in answers.items():  # every stream ended: what is left is written
            self._refill_statuses(statuses, by_panel[key], key)

    def _refill_statuses(
        self,
        statuses: Mapping[str, RefillStatus],
        rows_by_id: Mapping[str, list[OrderRow]],
        key: str,
    ) -> None:
        """Write one panel's answers about its refills."""
        down = [st for st in statuses.values() if st.unavailable]
        if self._panel_down(Step.REFILL_STATUS, down, len(statuses), rows_by_id, key):
            return
        for rid, rows in rows_by_id.items():
            st = statuses[rid]
            for row in rows:
                if st.error:
                    self._stamp(row, f"refill status: {st.error}")
                    self.report.add(row.row, Step.REFILL_STATUS, Outcome.FAILED, st.error)
                else:
                    self._set(row, "refill_status", st.status)
                    self._stamp(row)
                    self.report.add(row.row, Step.REFILL_STATUS, Outcome.UPDATED, st.status or "")

    # ----------------------------------------------------------------- refill / cancel

    def _flagged(self, kind: _Flagged) -> dict[str, dict[str, OrderRow]]:
        """Rows whose flag (Refill, Cancel) is set, by panel and order id; no id (or a panel
        that cannot be had) is an error, and the flag stays."""
        action = kind.action  # also the flag column's key
        groups: dict[str, dict[str, OrderRow]] = {}
        for row in self.table.rows:
            if not row.flag(action):
                if (typed := row.unread_flag(action)) is not None:
                    said = f"{action}: {typed!r} is not a flag: type x to ask for a {action}"
                    self._stamp(row, said)
                    self.report.add(row.row, kind.step, Outcome.INVALID, said)
                continue
            oid = row.order_id
            key = self._panel_key(row)
            out = groups.setdefault(key, {})
            if oid is None and row.is_ambiguous:  # its Error says what to do first: kept
                said = f"no Order ID: the row may have been placed; settle it, then {action}"
                self.report.add(row.row, kind.step, Outcome.INVALID, said)
            elif oid is None and row.text("order_id"):  # #REF!, a typo: the order may exist
                said = f"{action}: {_unusable_id(row)}: correct it to {action} its order"
                self._stamp(row, said)
                self.report.add(row.row, kind.step, Outcome.INVALID, said)
            elif oid is None:
                self._stamp(
                    row,
                    CANCEL_UNPLACED if kind is _CANCEL else f"{action}: no Order ID in this row",
                )
                self.report.add(row.row, kind.step, Outcome.INVALID, "no Order ID")
            elif not self._panel_usable(key, row, kind.step) or self._moved(row, kind.step):
                continue
            elif oid in out:
                twice = f"order {oid} is flagged twice"
                self.report.add(row.row, kind.step, Outcome.SKIPPED, twice)
            elif refusal := self._not_offered(action, row) or self._past_window(action, row):
                # It can never work: say so once and drop the flag, so cron runs stay quiet.
                self._set(row, action, None)
                self._stamp(row, refusal)
                self.report.add(row.row, kind.step, Outcome.INVALID, refusal)
            else:
                out[oid] = row
        return {key: out for key, out in groups.items() if out}

    def _panel_usable(self, key: str, row: OrderRow, step: Step) -> bool:
        """Whether the row's panel can be had; if not, the row says why."""
        return next(self._clients({key: [row]}, step), None) is not None

    def _not_offered(self, action: Action, row: OrderRow) -> str | None:
        """Why ``action`` cannot work for the row's order: its service does not offer it.

        Only when the panel's service list says so: a service it does not list or a field
        it leaves out is left to the panel. Without the list (the panel is unavailable)
        the request is sent and the panel decides.
        """
        sid = row.service_id
        if sid is None:
            return None
        key = self._panel_key(row)
        if key not in self._services:
            try:
                self.services(key)
            except PanelError as exc:
                if exc.stops_run:  # an invalid key, a panel asking to wait too long
                    raise
                self._services[key] = {}
                self.report.messages.append(
                    f"{exc}: refill/cancel flags are sent without checking that their "
                    "services offer them"
                )
        service = self._services[key].get(sid)
        offered = None if service is None else getattr(service, action)
        if offered is not False:
            return None
        done = (
            "nothing is sent and a run removes the flag"  # a dry run leaves the flag
            if self.options.dry_run
            else "nothing was sent and the flag was removed"
        )
        return (
            f"{action}: service {sid} does not offer {action} (the panel's service list says "
            f"so); {done}"
        )

    def _past_window(self, action: Action, row: OrderRow) -> str | None:
        """Why a refill cannot be asked for: the row's ``Refill until`` has passed or says
        the service has no refill. A later date or any other word typed into that cell lets
        the refill be sent anyway (an empty cell is filled again from the journal)."""
        if action != Action.REFILL:
            return None
        until = _until_date(row.get("refill_until"))
        today = self.options.now().date()
        if until is not None and until >= today:
            return None
        if until is None and row.text("refill_until").lower() != NO_REFILL_TEXT.lower():
            return None  # no window known (or Lifetime): the panel decides
        why = (
            f"the refill window ended on {until:%Y-%m-%d}"
            if until is not None
            else "the service's name says it has no refill"
        )
        return (
            f"refill: {why} (Refill until); nothing was sent and the flag was removed. "
            "Type a later date or a word (ask) into Refill until and flag again to ask the panel "
            "anyway"
        )

    # ----------------------------------------------------------------- refill windows

    def refill_windows(self, warn: bool) -> None:
        """Fill ``Refill until`` of placed orders, and with ``warn`` note the ones ending soon.

        The window is read from the service's name (or description) in the panel's list
        (:func:`~smmsheet.refill_window.parse_refill_window`) and counted from the day the
        journal recorded the ``add``: an order the journal does not know (typed by hand,
        placed before its journal) gets no date, and its refills go to the panel unchecked.
        A date already in the cell is kept: the user may correct it.
        """
        table = self.table
        missing = [
            r
            for r, until, found in zip(
                table.rows, table.column("refill_until"), table.column("order_id"), strict=True
            )
            if (until is None or not r.text("refill_until")) and parse_id(found)
        ]
        if missing:
            self._fill_refill_until(missing)
        if warn:
            self._note_refill_ending()

    def _fill_refill_until(self, rows: Sequence[OrderRow]) -> None:
        # An order id is only known on the panel that issued it: (panel, id), as the journal says.
        placed = {
            (self._entry_key(e), e.result_id): e.created
            for e in self.journal.accepted_adds(self._journal_sheets)
            if e.result_id
        }
        if not placed:
            return  # orders typed by hand or placed before this journal: no day to count from
        dated: list[tuple[OrderRow, str, float]] = []
        for row in rows:
            where = (self._panel_key(row), row.order_id or "")
            if where in placed:
                dated.append((row, where[0], placed[where]))
        if not dated or self.report.panel_failed:
            return  # no service list needed, or the panel is down (said once already)
        lists: dict[str, dict[int, Service]] = {}
        for key in {key for _, key, _ in dated}:
            try:
                lists[key] = self.services(key)
            except (PanelError, ConfigError) as exc:
                if isinstance(exc, PanelError) and exc.stops_run:
                    raise
                self.report.messages.append(f"{exc}: Refill until is left empty this run")
        for row, key, created in dated:
            service = lists.get(key, {}).get(row.service_id or 0)
            if service is None:
                continue  # gone from the list: nothing to read (asked again next run)
            window = parse_refill_window(service.name, service.description)
            # Written once, "Not stated" too: later runs neither read the list again for it
            # nor change what the user may have typed over it. A list that says the service
            # has no refill is as clear as a name that does.
            if window is None and service.refill is False:
                until: str | dt.date = NO_REFILL_TEXT
            elif window is None:
                until = NOT_STATED_TEXT
            else:
                until = window.until(dt.date.fromtimestamp(created))
            self._set(row, "refill_until", until)

    def _note_refill_ending(self) -> None:
        """Note (Error cell and report) orders whose refill window ends within the days set;
        a note of an earlier run whose window is now past, or further, is cleared."""
        today = self.options.now().date()
        table = self.table
        for row, until, error in zip(
            table.rows, table.column("refill_until"), table.column("error"), strict=True
        ):
            if until is not None or _has_ending_note(error):  # the rows _refill_note changes
                self._refill_note(row, today, report=True)

    def _refill_note(self, row: OrderRow, today: dt.date, report: bool) -> None:
        """One row's refill-ending note, set or cleared; with ``report``, reported too."""
        values = row.values
        error = values.get("error")
        ours = _has_ending_note(error)
        found = values.get("refill_until")
        if found is None and not ours:
            return  # most rows: looked at in a 100,000-row refresh loop
        until = _until_date(found)
        left = -1 if until is None else (until - today).days
        if (
            0 <= left <= self.options.refill_warning_days
            and row.order_id is not None
            and normalize_header(row.get("status")) not in _NO_REFILL_STATUSES
        ):
            when = f"{until:%Y-%m-%d} ({left} day{'' if left == 1 else 's'} left)"
            if error in (None, "") or ours:
                self._set(row, "error", f"{_ENDING_NOTE} {when}")
            if report:
                self.report.add(row.row, Step.STATUS, Outcome.REFILL_ENDING, when)
        elif ours:
            self._set(row, "error", None)

    def _journaled(self, action: Action, rows: dict[str, OrderRow], key: str) -> dict[str, int]:
        return {
            oid: self.journal.intent(
                sheet=self.sheet,
                row=row.row,
                fingerprint=row.fingerprint(),
                action=action,
                request={"order": oid},
                target=oid,
                panel=key,
            )
            for oid, row in rows.items()
        }

    def refill(self) -> None:
        """Request refills for flagged rows; write the Refill ID and clear the flag.

        A row whose ``Refill until`` has passed (or says no refill) is refused here: nothing
        is sent, and the flag is removed (:meth:`_past_window`).
        """
        if any(row.flag(Action.REFILL) for row in self.table.rows):
            self.refill_windows(warn=False)
        self._flagged_action(
            _REFILL, lambda client, ids: client.refill_many(ids), lambda res: res.refill
        )

    def cancel(self) -> None:
        """Cancel the orders of rows whose Cancel flag is set; clear the flag on success."""
        self._flagged_action(
            _CANCEL,
            lambda client, ids: client.cancel(ids),
            lambda res: res.order if res.ok else None,
        )

    def _flagged_action(
        self,
        kind: _Flagged,
        send: Callable[[PanelClient, list[str]], Mapping[str, Any]],
        success: Callable[[Any], str | None],
    ) -> None:
        """Send a flag-driven paid action (refill, cancel) for every flagged row, journaled,
        each to the panel that issued its order."""
        groups = self._flagged(kind)
        every = [row for rows in groups.values() for row in rows.values()]
        if not every:
            return
        if self.options.dry_run:
            for row in every:
                self.report.add(row.row, kind.step, kind.would)
            return
        if kind.action == Action.CANCEL and not self._cancel_confirmed(every):
            return
        self._before_paying(row.row for row in every)
        for key, rows in groups.items():
            self._flagged_on(key, kind, rows, send, success)

    def _flagged_on(
        self,
        key: str,
        kind: _Flagged,
        rows: dict[str, OrderRow],
        send: Callable[[PanelClient, list[str]], Mapping[str, Any]],
        success: Callable[[Any], str | None],
    ) -> None:
        """Send one panel's share of a refill or cancel, journaled around the request."""
        entries = self._journaled(kind.action, rows, key)
        results = send(self.panels.client(key), list(rows))
        for oid, row in rows.items():
            res = results[oid]
            new_id = success(res)
            if new_id is not None:
                self._note(entries[oid], State.ACCEPTED, new_id)
                self._succeeded(kind.action, row, new_id)
                self.report.add(row.row, kind.step, kind.done, str(new_id))
            else:
                state = State.AMBIGUOUS if res.uncertain else State.REJECTED
                self._note(entries[oid], state, res.error)
                self._failed(kind.action, row, state, res.error or "")
                outcome = Outcome.AMBIGUOUS if res.uncertain else Outcome.FAILED
                self.report.add(row.row, kind.step, outcome, res.error or "")
            self._synced.append(entries[oid])

    def _cancel_confirmed(self, rows: Sequence[OrderRow]) -> bool:
        """Ask ``confirm_cancel`` about the flagged orders; a no sends nothing."""
        ask = self.options.confirm_cancel
        preview = CancelPreview(tuple(str(r.order_id) for r in rows), tuple(r.row for r in rows))
        if ask is None or ask(preview):
            return True
        self.report.messages.append(
            f"canceling not confirmed: nothing was sent; the Cancel flags of "
            f"{plural(len(rows), 'row')} stay"
        )
        return False

    def _failed(self, action: Action, row: OrderRow, state: State, detail: str) -> None:
        """Write a refill/cancel that did not go through; one that may have, is not resent.

        A refused request keeps its flag so the next run tries again, unless the refusal can
        never change (:func:`is_final_refusal`); one whose answer was lost has its flag
        cleared, so it is sent again only when the user flags it again.
        """
        if state in UNKNOWN_OUTCOME:
            self._set(row, action, None)
        elif is_final_refusal(detail):
            self._set(row, action, None)
            detail += "; this will not change, so the flag was removed"
        self._stamp(row, _paid_error(action, state, detail))

    def _succeeded(self, action: Action, row: OrderRow, new_id: str | None) -> None:
        """Write a paid request the panel accepted into its row (live or from the journal)."""
        cell = None if new_id is None else id_cell(new_id)
        if action == Action.ADD:
            self._set(row, "order_id", cell)
        elif action == Action.REFILL:
            self._set(row, "refill_id", cell)
            self._set(row, "refill_status", None)
            self._set(row, "refill", None)
        elif action == Action.CANCEL:
            self._set(row, "cancel", None)
            self._set(row, "status", CANCEL_REQUESTED)
        self._said.discard(row.row)  # what the panel accepted supersedes an earlier error
        self._stamp(row)


def journal_sheets(journal: Journal, names: Sequence[str], found: str) -> tuple[str, ...]:
    """The sheets whose journal entries are sheet ``found``'s, of a workbook with sheets
    ``names``: its own name, the names that find it ("Orders" for "ORDERS" or "Orders "),
    and the names the journal knows that the workbook no longer has (the sheet renamed
    since): an order that may have been placed from "Orders" still blocks its row once it
    is "November", and the report still knows the day it was placed."""
    return (
        found,
        *(s for s in journal.sheets() if s != found and find_sheet(names, s) in (None, found)),
    )


def _unusable_id(row: OrderRow) -> str:
    """What a row's Order ID cell holds that is no order id (it is not blank)."""
    found = row.get("order_id")
    if isinstance(found, UnknownValue):  # #REF!: the id it stood for may exist
        return f"Order ID {unknown_text(found)}"
    return f"Order ID {row.text('order_id')!r} is not an order id"


@dataclass(frozen=True)
class _DayCap:
    """``Max spend per day``: the cap, what was spent earlier today in the budget's
    currency, or why that cannot be known (then nothing priced fits under it)."""

    cap: Decimal
    source: str
    spent: Decimal
    unknown: str | None = None


@dataclass
class _Budget:
    """The running totals of one placing: per panel against its balance, and every panel
    together against the caps (the run's, the day's), in ``rates.currency``."""

    balance: Callable[[str], Balance]
    panels: Panels
    cap: Decimal | None
    source: str
    rates: Rates
    allow_unpriced: bool = False
    day: _DayCap | None = None
    least: dict[str, Decimal] = field(default_factory=dict)
    most: Decimal = Decimal(0)

    def _named_cap(self) -> tuple[Decimal | None, str]:
        """The cap a refusal that concerns any cap names: the run's, else the day's."""
        if self.cap is None and self.day is not None:
            return self.day.cap, self.day.source
        return self.cap, self.source

    def refusal(self, key: str, plan: OrderPlan) -> tuple[Outcome, str] | None:
        """Why ``plan`` on panel ``key`` does not fit after what was taken; None if it does.

        A row whose service has no listed price cannot be checked: it is left out, unless
        ``allow_unpriced`` and no cap. Where panels bill a type differently (packages), the
        balance is checked against the lowest plausible cost, so no row is refused on an
        estimate that may be 1000 times too high (the panel refuses an order it cannot
        charge, row by row), and the cap against the highest, so it is never exceeded. An
        estimate in a currency the Settings sheet has no rate for cannot be kept under a cap.
        """
        capped = self.cap is not None or self.day is not None
        if plan.cost is None or plan.lowest_cost is None:
            if not capped and self.allow_unpriced:
                return None
            return Outcome.UNPRICED, _unpriced_reason(plan, *self._named_cap())
        try:
            balance = self.balance(key)
        except PanelError as exc:
            if exc.stops_run or key == self.panels.default_name:
                raise
            return Outcome.FAILED, f"Not placed: {self.panels.label(key)}: {exc}"
        where = "" if key == self.panels.default_name else f" on {self.panels.label(key)}"
        if self.least.get(key, Decimal(0)) + plan.lowest_cost > balance.amount:
            return Outcome.OVER_BUDGET, (
                f"Not placed: insufficient balance{where} ({money(balance.amount)} "
                f"{balance.currency}) for this order ({_estimate(plan, 'least')}) after the "
                "rows above"
            )
        if not capped:
            return None
        try:
            cost = self.rates.convert(plan.cost, balance.currency)
        except NoRate as exc:
            cap, source = self._named_cap()
            return Outcome.OVER_BUDGET, (
                f"Not placed: its cost{where} cannot be kept within {source} {cap} "
                f"{self.rates.currency}: {exc}"
            )
        if self.cap is not None and self.most + cost > self.cap:
            return Outcome.OVER_BUDGET, (
                f"Not placed: would exceed {self.source} {self.cap} "
                f"(this order {_estimate(plan, 'most')}{where})"
            )
        day = self.day
        if day is None:
            return None
        unit = f" {self.rates.currency or balance.currency}".rstrip()
        if day.unknown is not None:
            return Outcome.OVER_BUDGET, (
                f"Not placed: {day.source} {day.cap}{unit} cannot be kept: {day.unknown}"
            )
        if day.spent + self.most + cost > day.cap:
            above = f", {money(self.most)} by the rows above" if self.most else ""
            wait = "it waits for tomorrow's runs, or a higher cap"
            if cost > day.cap:
                wait = "this order alone is more than the cap; raise the cap to place it"
            return Outcome.OVER_BUDGET, (
                f"Not placed: would exceed {day.source} {day.cap}{unit} ({money(day.spent)} "
                f"spent earlier today{above}; this order {_estimate(plan, 'most')}{where}): "
                f"{wait}"
            )
        return None

    def take(self, key: str, plan: OrderPlan, sign: int = 1) -> None:
        """Count a kept plan (``sign=-1``: give back one the panel refused)."""
        if plan.cost is None or plan.lowest_cost is None:
            return
        self.least[key] = self.least.get(key, Decimal(0)) + sign * plan.lowest_cost
        if self.cap is not None or self.day is not None:
            self.most += sign * self.rates.convert(plan.cost, self.balance(key).currency)


def _takes_watch(book: WorkbookAdapter) -> bool:
    """Whether ``book.read_values`` takes ``watch`` (added to the interface with it)."""
    try:
        parameters = inspect.signature(book.read_values).parameters.values()
    except (TypeError, ValueError):  # a callable without a signature Python can read
        return False
    return any(p.name == "watch" or p.kind is p.VAR_KEYWORD for p in parameters)


def _rows_of(by_panel: Mapping[str, Mapping[str, list[OrderRow]]]) -> dict[str, list[OrderRow]]:
    """The rows of each panel, from rows grouped by panel and then by id."""
    return {key: [r for rows in ids.values() for r in rows] for key, ids in by_panel.items()}


def _sell_price(row: OrderRow) -> Decimal:
    """The row's Sell price, read as money is typed (``1.50``, ``$1.50``)."""
    try:
        price = amount(row.get("sell_price"))
    except Unreadable as exc:
        raise Unreadable(f"Sell price must be an amount such as 1.50, got {exc}") from None
    if price < 0:
        raise Unreadable(f"Sell price must not be negative, got {price}")
    return price


def _sold_quantity(row: OrderRow) -> int:
    """How many units the client buys: Quantity x Runs (drip-feed), or the lines of a
    comments list; 0 when the row has neither (a per-order price does not need it)."""
    try:
        quantity = whole_number(row.get("quantity")) if row.text("quantity") else 0
        runs = whole_number(row.get("runs")) if row.text("runs") else 1
    except Unreadable as exc:
        raise Unreadable(f"Quantity or Runs is not a whole number: {exc}") from None
    if not quantity:
        lines = row.text("comments") or row.text("usernames")
        quantity = len([line for line in lines.splitlines() if line.strip()])
    return quantity * runs


class _Writes(Mapping[tuple[int, int], CellValue]):
    """The engine's buffered writes as the ``{(row, col): value}`` the adapter takes, made
    while the adapter reads them, row by row."""

    def __init__(
        self, pending: Mapping[int, int], rows: Mapping[int, OrderRow], table: OrderTable
    ) -> None:
        self._pending = pending
        self._rows = rows
        self._keys = {col: key for key, col in table.columns.items()}

    def _pairs(self) -> Iterator[tuple[tuple[int, int], CellValue]]:
        keys, rows = self._keys, self._rows
        for number, mask in self._pending.items():
            values = rows[number].values
            while mask:
                low = mask & -mask
                mask ^= low
                col = low.bit_length() - 1
                yield (number, col), values.get(keys[col])

    def items(self) -> ItemsView[tuple[int, int], CellValue]:
        return _WrittenItems(self)

    def __getitem__(self, cell: tuple[int, int]) -> CellValue:
        number, col = cell
        if not self._pending.get(number, 0) >> col & 1:
            raise KeyError(cell)
        return self._rows[number].values.get(self._keys[col])

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return (cell for cell, _ in self._pairs())

    def __len__(self) -> int:
        return sum(mask.bit_count() for mask in self._pending.values())


class _Idle:
    """The time a loop waits for its next item, against the time it spends on work that can
    wait (handing rows to the book early): that work is done only while it fits in the
    waits. A panel that answers at once leaves no wait (the CPU is the bottleneck, and work
    moved into the refresh would only slow it); a slow one leaves seconds of them."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self.waited = self.spent = 0.0
        self._since = clock()

    def arrived(self) -> None:
        """The next item came: the time since :meth:`waiting` was a wait."""
        self.waited += self._clock() - self._since

    def waiting(self) -> None:
        """Done with this item: waiting for the next."""
        self._since = self._clock()

    def fits(self) -> bool:
        return self.spent <= self.waited

    @contextlib.contextmanager
    def spending(self) -> Iterator[None]:
        start = self._clock()
        try:
            yield
        finally:
            self.spent += self._clock() - start


class _Waiting:
    """The first sheet row whose order is still waiting for the panel's answer.

    Orders are answered in any order (requests in flight, panels at once). A panel's
    orders are in the order of their first row (they were gathered down the sheet), so a
    pointer per panel past its answered orders finds it: O(orders) in all, and a byte a
    sheet row (a dict of a million orders would be 100 MB).
    """

    def __init__(self, panels: Mapping[str, Mapping[str, list[OrderRow]]]) -> None:
        self._orders = {key: iter(ids.values()) for key, ids in panels.items()}
        self._first: dict[str, int] = {}  # each panel's first row still waiting
        self._answered = bytearray()  # by sheet row: made on the first answer

    def answered(self, rows: Iterable[int]) -> int:
        """Note the first rows of orders just answered; the first row still waiting (past
        the sheet's last row when none is)."""
        answered = self._answered
        if not answered:
            answered.extend(bytes(MAX_ROW + 2))
            for key, orders in self._orders.items():
                self._first[key] = next(orders, [_PAST])[0].row
        for row in rows:
            answered[row] = 1
        for key, first in self._first.items():
            if answered[first]:
                orders = self._orders[key]
                while answered[first]:
                    first = next(orders, [_PAST])[0].row
                self._first[key] = first
        return min(self._first.values(), default=MAX_ROW + 1)


class _WrittenItems(ItemsView[tuple[int, int], CellValue]):
    _mapping: _Writes

    def __iter__(self) -> Iterator[tuple[tuple[int, int], CellValue]]:
        return self._mapping._pairs()


_NUMBER_TYPES = (int, float, Decimal)


#: Past the last row of any sheet: no order is waiting.
_PAST = OrderRow(row=MAX_ROW + 1, values={})
#: Rows a refresh gathers before it hands them to the book (a few chunks: each hand-over
#: has a cost of its own, and the book's save works on whole stretches of rows).
_HAND_OVER_ROWS = 1000
#: The Error note of an order whose refill window ends soon (replaced or cleared each run).
_ENDING_NOTE = f"{NOTE_MARK} refill window ends"
#: Orders a refill cannot help: nothing was delivered to keep.
_NO_REFILL_STATUSES = frozenset({"canceled", "cancelled", "refunded", "fail", "failed"})


_T = TypeVar("_T")
#: One add's answer as a worker hands it to the run: (plan, journal entry, state, id or reason).
_Answer = tuple["OrderPlan", int, State, str]


def _stops_run(exc: BaseException) -> bool:
    """A panel error after which no further request may be sent (invalid key, ...)."""
    return isinstance(exc, PanelError) and exc.stops_run


def merged(streams: Mapping[str, Iterator[_T]], name: str) -> Iterator[tuple[str, _T]]:
    """The items of several iterators as each comes, with the key of its iterator.

    One iterator is read here; several are each read on a thread of their own (two panels
    answer at their own pace: asked one after the other, a refresh took the sum of their
    times). An iterator's error is raised here once the others have ended (a panel refusing
    its key must not throw away what another panel answered); when the reader stops early,
    each thread stops after its current item and closes its iterator (a status stream then
    ends its requests in flight) before this returns.
    """
    if len(streams) <= 1:
        for only, stream in streams.items():
            try:
                for each in stream:
                    yield only, each
            finally:  # as the threads below do: the caller's frames may outlive this
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
        return
    out: queue.SimpleQueue[tuple[str, _T | None, BaseException | None, bool]] = queue.SimpleQueue()
    stop = threading.Event()

    def read(key: str, stream: Iterator[_T]) -> None:
        try:
            for item in stream:
                out.put((key, item, None, False))
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the reader, which raises it
            out.put((key, None, exc, False))
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # on this thread: a generator is closed where it runs
            out.put((key, None, None, True))

    threads = [
        threading.Thread(target=read, args=(key, stream), name=f"{name}-{i}", daemon=True)
        for i, (key, stream) in enumerate(streams.items())
    ]
    first: BaseException | None = None
    try:
        for thread in threads:  # in the try: a Ctrl-C in a start() stops the ones started
            thread.start()
        left = len(threads)
        while left:
            key, item, error, ended = out.get()
            if error is not None:
                first = first or error
            elif ended:
                left -= 1
            else:
                yield key, cast("_T", item)
    finally:
        stop.set()
        _join_workers(name)
    if first is not None:
        raise first


def _join_workers(prefix: str) -> None:
    """Wait for every thread of a pool, also one its shutdown does not know of.

    A Ctrl-C that lands in ``ThreadPoolExecutor.submit`` between a worker's start and its
    registration leaves that worker out of ``shutdown(wait=True)``; it may still be
    journaling or sending an add, so the run must not close the journal under it.
    """
    for thread in threading.enumerate():
        if not thread.name.startswith(prefix) or thread is threading.current_thread():
            continue
        # Interrupted inside start(), a thread may not be running yet (or, interrupted
        # before the OS thread was made, never run): wait a little for it, not forever.
        for _ in range(100):
            try:
                thread.join()
                break
            except RuntimeError:  # "cannot join thread before it is started"
                time.sleep(0.01)


def _until_date(value: CellValue) -> dt.date | None:
    """The date in a ``Refill until`` cell (a date cell, or ISO text), else None."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def _unwritable(
    status: OrderStatus, known: Mapping[tuple[type, CellValue], CellValue]
) -> str | None:
    """Why a status the panel sent cannot go into its row's cells (an absurd number), if so.

    A number already in ``known`` (taken from a status written before) is known to fit.
    """
    for name, value in (
        ("charge", status.charge),
        ("start count", status.start_count),
        ("remains", status.remains),
    ):
        if type(value) is int and -MAX_EXACT_INT <= value <= MAX_EXACT_INT:
            continue  # the usual count, checked without a call
        if type(value) is Decimal and not value.is_nan() and (Decimal, value) in known:
            continue  # a NaN (never written, never known) is not hashed: a signalling one raises
        if value is not None and (problem := cell_value_problem(value)):
            return f"the panel sent a {name} no cell can hold ({problem})"
    return None


def _status_fields(
    status: OrderStatus, known: dict[tuple[type, CellValue], CellValue]
) -> tuple[tuple[str, CellValue], ...]:
    """The cells a status writes into its row, each value the one copy of it in ``known``
    (equal values of one type write the same cell: a Decimal is written as its double)."""

    def one(value: CellValue) -> CellValue:
        return value if value is None else known.setdefault((type(value), value), value)

    return (
        ("status", one(status.status)),
        ("charge", one(status.charge)),
        ("start_count", one(status.start_count)),
        ("remains", one(status.remains)),
        ("currency", one(status.currency)),
    )


def _unchanged(old: CellValue, new: CellValue) -> bool:
    """Writing ``new`` over ``old`` changes nothing: same type and value, or the same number.

    A cell keeps numbers as doubles, so the charge ``Decimal("0.09")`` is the ``0.09`` read back.
    """
    if type(old) is type(new):
        return old == new
    if type(old) in _NUMBER_TYPES and type(new) in _NUMBER_TYPES:
        return float(old) == float(new)  # type: ignore[arg-type]
    return False


def _has_ending_note(error: CellValue) -> bool:
    """An Error cell holding the refill-ending note (replaced or cleared each run)."""
    return type(error) is str and error.startswith(_ENDING_NOTE)


def _is_note(value: CellValue) -> bool:
    """An Error cell that holds a note (a warning for a placed row), not an error."""
    return isinstance(value, str) and value.startswith(NOTE_MARK)


def _estimate(plan: OrderPlan, bound: str = "range") -> str:
    """A row's estimated cost for a message; a range, or one bound, where panels differ."""
    if plan.cost is None or plan.lowest_cost is None:
        return "price unknown"
    if plan.lowest_cost == plan.cost:
        return money(plan.cost)
    if bound == "least":
        return f"at least {money(plan.lowest_cost)}"
    if bound == "most":
        return f"up to {money(plan.cost)}"
    return f"{money(plan.lowest_cost)} to {money(plan.cost)}"


def _unpriced_reason(plan: OrderPlan, cap: Decimal | None, source: str) -> str:
    """The Error of a row left out because the panel lists no price for its service."""
    why = f"Not placed: the panel's service list gives no price for service {plan.service.id}"
    if plan.service.rate is not None:  # priced, but the order itself has no end
        why = "Not placed: a Subscription without Posts orders for every new post, so its cost "
        why += "has no end (fill Posts to bound it)"
    if cap is not None:
        return (
            f"{why}, so it cannot be kept within {source} {cap}; ask the panel for the price "
            "or choose a priced service"
        )
    return (
        f"{why}, so its cost cannot be checked against the balance; ask the panel, choose a "
        "priced service, or pass --allow-unpriced (no cap) to place it anyway"
    )


def _ambiguous_text(entry: int, detail: str) -> str:
    return (
        f"{AMBIGUOUS_MARK} ({detail}; journal #{entry}). Look for it in the panel's orders: if "
        f"it is there, type its id in the Order ID column (or here); if not, type {PLACE_AGAIN} "
        "here. Until then this row is never placed again"
    )


def _restored_text(entry: Entry) -> str:
    when = dt.datetime.fromtimestamp(entry.created).strftime("%Y-%m-%d %H:%M")
    return (
        f"restored from journal #{entry.id} (placed {when}); not placed again. To buy it "
        f"again, clear the Order ID and type {PLACE_AGAIN} here"
    )


def _place_again(row: OrderRow) -> bool:
    """The user typed PLACE AGAIN into the row's Error cell."""
    return " ".join(row.text("error").upper().rstrip(".!").split()) == PLACE_AGAIN


def _typed_id(row: OrderRow) -> str | None:
    """An order id the user typed into the Error cell of a blocked row (one word, a digit).

    ``#1003`` is how panels show order 1003: the ``#`` is not part of the id.
    """
    text = row.text("error")
    if not text or any(c.isspace() for c in text) or not any(c.isdigit() for c in text):
        return None
    if text.startswith("#"):
        return parse_id(text[1:])
    return parse_id(row.get("error"))


def _match(
    rows: Sequence[OrderRow],
    entries: Sequence[Entry],
    prints: Mapping[int, str],
    *,
    same_row_only: bool = False,
) -> dict[int, Entry]:
    """Pair journal entries with rows of the same content: at the entry's own row first, then
    (unless ``same_row_only``) in sheet order; each entry and each row at most once."""
    free: dict[str, list[Entry]] = {}
    for entry in entries:
        free.setdefault(entry.fingerprint, []).append(entry)
    pairs: dict[int, Entry] = {}
    for row in rows:
        candidates = free.get(prints[row.row], [])
        for entry in candidates:
            if entry.row == row.row:
                pairs[row.row] = entry
                candidates.remove(entry)
                break
    if not same_row_only:
        for row in rows:
            candidates = free.get(prints[row.row], [])
            if row.row not in pairs and candidates:
                pairs[row.row] = candidates.pop(0)
    return pairs


def _paid_error(action: Action, state: State, detail: str) -> str:
    if state in UNKNOWN_OUTCOME:
        return f"{action}: may have been sent ({detail}); check the panel before flagging again"
    return f"{action}: {detail}"


def order_sheet(names: Sequence[str], sheet: str) -> str:
    """The order sheet ``sheet`` as the workbook spells it; :class:`NoSheetError` (a layout
    problem: the shells add how to choose another sheet) when there is none."""
    found = find_sheet(names, sheet)
    if not names:
        raise NoSheetError(
            "the workbook has no worksheet (a chart, dialog or macro sheet holds no "
            f"orders): the orders go on a worksheet named {sheet!r}"
        )
    if found is None:
        raise NoSheetError(
            f"no sheet {sheet!r} in the workbook (sheets: {', '.join(names)}): "
            f"rename the order sheet to {sheet!r}"
        )
    return found


def _patience(journal: Path) -> float:
    """How long to wait for another journal a run holds: :data:`OTHER_JOURNAL_WAIT` when its
    workbook has run before (its marker says so, or it cannot be read), none for one that
    has not (two new workbooks run at once would otherwise wait for each other)."""
    workbook = journal.with_name(journal.name.removesuffix(JOURNAL_SUFFIX))
    if not workbook.is_file():
        return 0.0
    from .workbook import open_workbook

    try:
        book = open_workbook(str(workbook))
        try:
            marker = book.read_marker()
        finally:
            book.close()
    except (WorkbookError, OSError):
        return OTHER_JOURNAL_WAIT
    return OTHER_JOURNAL_WAIT if marker is not None else 0.0
