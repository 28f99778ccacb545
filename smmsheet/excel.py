"""Ribbon macros: each button runs one engine command on the workbook open in Excel.

The add-in's buttons call ``RunPython "import smmsheet.excel; smmsheet.excel.place_orders()"``
and so on. Each macro is three lines: take the calling book, wrap it in the live adapter,
hand it to :func:`run_macro`, which runs the command through a
:class:`~smmsheet.session.Session` (the Settings sheet, the panel, the journal, the engine:
the same way in as the CLI's) and reports through two callbacks: ``ask`` (a yes/no dialog,
before anything is placed) and ``tell`` (ONE alert when something needs the user; the rows'
Error cells say the rest).

The API key comes from the environment or the user config file, never from the workbook;
a Settings sheet that holds one is refused. The formulas (``SMM_STATUS``...) live in
:mod:`smmsheet.udf`; this module imports nothing heavy until a macro runs.

Example, outside Excel (as the tests run it; ``None`` puts the journal where the book's
journal belongs and resolves the panel from the environment)::

    run_macro("status", XlwingsWorkbook(book), None, None, ask=lambda text: True, tell=print)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .batch import CancelPreview, Preview, Report
    from .panel import PanelClient
    from .recent import RecentOrders
    from .session import Session
    from .workbook.base import WorkbookAdapter
    from .workbook.live import XlwingsWorkbook

__all__ = [
    "MACROS",
    "cancel_orders",
    "create_refills",
    "load_services",
    "place_orders",
    "refill_status",
    "refresh_status",
    "run_macro",
    "self_test",
    "show_balance",
]

log = logging.getLogger(__name__)

#: Each ribbon macro and the command it runs (engine commands, or a panel lookup).
MACROS: dict[str, str] = {
    "place_orders": "place",
    "refresh_status": "status",
    "create_refills": "refill",
    "refill_status": "refill-status",
    "cancel_orders": "cancel",
    "show_balance": "balance",
    "load_services": "services",
    "self_test": "self-test",
}
#: Title of every dialog.
TITLE = "smmsheet"
#: Rows listed in an alert before "... and N more".
MAX_ALERT_ROWS = 8
#: Outcomes that are not worth an alert.

Ask = Callable[[str], bool]
Tell = Callable[[str], None]


# --------------------------------------------------------------------------- the macros


def place_orders() -> None:
    """Ribbon "Place orders": place every row without an Order ID, after a confirmation."""
    _run_from_excel("place")


def refresh_status() -> None:
    """Ribbon "Refresh status": update status, charge and remains of open orders."""
    _run_from_excel("status")


def create_refills() -> None:
    """Ribbon "Refill": request a refill for every row whose Refill cell is set."""
    _run_from_excel("refill")


def refill_status() -> None:
    """Ribbon "Refill status": update the status of requested refills."""
    _run_from_excel("refill-status")


def cancel_orders() -> None:
    """Ribbon "Cancel": cancel the orders of rows whose Cancel cell is set."""
    _run_from_excel("cancel")


def show_balance() -> None:
    """Ribbon "Balance": show the panel account balance."""
    _run_from_excel("balance")


def load_services() -> None:
    """Ribbon "Load services": write the panel's service list into the Services sheet."""
    _run_from_excel("services")


def self_test() -> None:
    """Ribbon "Self-test": the engine and the formulas against the built-in simulator.

    Places, refreshes and refills on a scratch workbook in a temporary folder and
    calculates a formula column, then shows a pass/fail table in a new workbook. The
    workbook that was active, its journal and the user's panel are not touched.
    """
    from .selftest import run_self_test, table
    from .workbook.live import XlwingsWorkbook

    caller = XlwingsWorkbook(_caller())  # only for its Excel: nothing is read or written
    _, tell = _dialogs(caller)
    try:
        with _one_run_at_a_time(tell) as free:
            if not free:
                return
            checks = run_self_test(progress=caller.status)
            report = XlwingsWorkbook(caller.book.app.books.add(), persist=False)
            report.replace_sheet(report.sheet_names()[0], table(checks))
            report.save()
    finally:
        caller.status(None)
    failed = [c.step for c in checks if not c.ok]
    if failed:
        tell(f"smmsheet: the self-test failed at: {', '.join(failed)}. The new workbook says why.")


def _caller() -> Any:
    """The workbook that ran the macro (``xw.Book.caller()``); replaced in tests."""
    import xlwings as xw

    return xw.Book.caller()


def _run_from_excel(command: str) -> None:
    from .workbook.live import XlwingsWorkbook

    book = XlwingsWorkbook(_caller())
    ask, tell = _dialogs(book)
    shown: list[str | None] = [None]

    def progress(label: str, done: int, total: int) -> None:
        book.progress(label, done, total)
        shown[0] = "progress" if done < total else None

    def notify(text: str | None) -> None:
        book.status(text)
        shown[0] = None

    try:
        with _one_run_at_a_time(tell) as free:
            if not free or not _may_save(command, book, ask):
                return
            run_macro(command, book, None, None, ask, tell, progress=progress, notify=notify)
    finally:
        if shown[0] is not None:  # a run that stopped halfway leaves no "3/10" behind
            book.status(None)


#: Commands that write the workbook and save it (when it is a file on disk).
SAVING_COMMANDS = frozenset({"place", "status", "refill", "refill-status", "cancel", "services"})


def _may_save(command: str, book: XlwingsWorkbook, ask: Ask) -> bool:
    """Whether to go on when the run would also save edits the user has not saved yet.

    smmsheet saves a workbook that is a file on disk when it writes results, and Excel can
    only save the whole book: the user's own unsaved edits would go with it. So the user
    is asked first; "No" stops before anything is sent. Engines that cannot tell whether
    the book has unsaved changes (macOS, the remote engine) are not asked.
    """
    if command not in SAVING_COMMANDS or not book.persist or book.local_path() is None:
        return True
    try:
        saved = bool(book.book.api.Saved)
    except Exception:  # noqa: BLE001 - only COM tells
        return True
    if saved:
        return True
    return ask(
        f"{book.book.name} has changes you have not saved.\n\nsmmsheet saves the workbook "
        "when it writes the results, which saves your changes too. Save them with the "
        "results and go on?\n\n(No: nothing is sent; save or undo your changes first.)"
    )


def ribbon_lock_path() -> Path:
    """The per-user lock that keeps two ribbon runs apart (one Excel, many clicks)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("smmsheet", appauthor=False)) / "ribbon.lock"


@contextmanager
def _one_run_at_a_time(tell: Tell) -> Iterator[bool]:
    """Yield True while holding the ribbon lock; tell the user and yield False if it is held.

    Each click runs in its own Python process (xlwings' RunPython), and on macOS Excel
    does not wait for it, so a second click can start while the first still works.
    """
    from filelock import FileLock, Timeout

    path = ribbon_lock_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path), timeout=0)
        lock.acquire()
    except Timeout:
        tell(
            "smmsheet: another smmsheet button is still running. Wait until it has "
            "finished (the status bar shows its progress), then click again."
        )
        yield False
        return
    except OSError as exc:
        log.warning("no ribbon lock at %s: %s", path, exc)
        yield True
        return
    try:
        yield True
    finally:
        lock.release()


def _dialogs(book: XlwingsWorkbook) -> tuple[Ask, Tell]:
    """Yes/no and OK dialogs through xlwings, tolerating hosts that have none."""

    def alert(prompt: str, buttons: str, mode: str | None) -> str | None:
        apps: list[Callable[[], Any]] = [lambda: book.book.app, _active_app]
        for app in apps:
            try:
                answer = app().alert(prompt, title=TITLE, buttons=buttons, mode=mode)
            except Exception:
                continue
            return str(answer) if answer is not None else None
        log.warning("no dialog available: %s", prompt)
        return None

    def ask(prompt: str) -> bool:
        return alert(prompt, "yes_no", None) == "yes"  # no dialog: the answer is no

    def tell(message: str) -> None:
        alert(message, "ok", "critical" if message.startswith("smmsheet:") else "info")

    return ask, tell


def _active_app() -> Any:
    import xlwings as xw

    return xw.apps.active


# --------------------------------------------------------------------------- the core


def run_macro(
    command: str,
    book: WorkbookAdapter,
    journal_path: Path | None,
    client: PanelClient | None,
    ask: Ask,
    tell: Tell,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    notify: Callable[[str | None], None] | None = None,
) -> Report | None:
    """Run one ribbon command over ``book``; report through ``ask``/``tell``, never raise.

    ``command`` is an engine command (``place``, ``status``, ``refill``, ``refill-status``,
    ``cancel``) or ``balance`` / ``services``. ``journal_path`` None puts the journal where
    the book's journal belongs (beside its file, or in the user data folder); ``client`` None
    resolves the panel from the environment and user config (profile from the workbook's
    Settings sheet). ``tell`` is called at most once. Returns the engine's report for engine
    commands.
    """
    from .errors import SmmsheetError, scrub
    from .services_sheet import SERVICES_SHEET
    from .session import Session

    session: Session | None = None
    try:
        with Session(book, client=client, journal=journal_path) as session:
            if command == "balance":
                tell(session.balance_text())  # every panel the workbook's rows use
                return None
            if command == "services":
                loaded = session.load_services()
                if notify is not None:
                    kept = (
                        ""
                        if loaded.sheet == SERVICES_SHEET
                        else f" (your own {SERVICES_SHEET} sheet was left as it was)"
                    )
                    notify(
                        f"smmsheet: loaded {loaded.count} services into the {loaded.sheet} "
                        f"sheet{kept}"
                    )
                return None
            try:
                return _run_engine(session, command, ask, tell, progress, notify)
            finally:
                remember_orders(session)
    except SmmsheetError as exc:
        tell(scrub(f"smmsheet: {exc}", session.secrets if session else ()))
    except Exception as exc:  # a bug: still one alert, never a traceback in the user's face
        log.exception("%s failed", command)
        secrets = session.secrets if session else ()
        tell(scrub(f"smmsheet: unexpected {type(exc).__name__}: {exc}", secrets)[:500])
    return None


def remember_orders(session: Session, index: RecentOrders | None = None) -> None:
    """Put the orders of the workbook's journal into the index formulas fetch along with.

    So a column of ``=SMM_STATUS(A2)`` over orders the ribbon (or the CLI, which keeps the
    same journal) placed costs one request per 100 orders. Best effort: never fails a run.
    """
    from .journal import Action, Journal
    from .recent import MAX_ORDERS, RecentOrders, default_path, panel_key

    def journal_ids() -> list[str]:
        # Only the default panel's orders: the index is kept per panel URL, and an order of
        # another profile (a row's Panel) may share its id with one of this panel's.
        mine = {"", session.panels.default_name}
        with Journal(path, lock=False) as journal:
            ids = [
                e.result_id for e in journal.entries() if e.action == Action.ADD and e.panel in mine
            ]
        return [oid for oid in ids if oid][-MAX_ORDERS:]

    try:
        path = session.journal_path
        if not path.exists():
            return
        index = index or RecentOrders(default_path())
        index.remember_source(panel_key(session.client.url), path, journal_ids)
    except Exception as exc:  # noqa: BLE001 - an index is an optimisation
        log.warning("recent orders not remembered: %s", exc)


def _run_engine(
    session: Session,
    command: str,
    ask: Ask,
    tell: Tell,
    progress: Callable[[str, int, int], None] | None,
    notify: Callable[[str | None], None] | None,
) -> Report:
    from .batch import RunOptions
    from .errors import SmmsheetError

    options = RunOptions(
        confirm=lambda preview: ask(_confirmation(preview)),
        confirm_cancel=lambda preview: ask(_cancel_confirmation(preview)),
        journal_lost=lambda problem: ask(f"{problem}.\n\nStart a new journal for this workbook?"),
        progress=progress,
    )
    try:
        report = session.run(command, options)  # the Settings sheet's Max spend is the cap
    except SmmsheetError as exc:
        notes = [m for m in session.report.messages if m not in str(exc)]
        if not notes:
            raise
        raise SmmsheetError("\n\n".join([str(exc), *notes])) from exc
    message = _problems(report)
    if message:
        tell(message)
    elif notify is not None:
        notify(_summary(command, report))
    return report


def _confirmation(preview: Preview) -> str:
    """The question asked before placing: how many orders, what they cost, the balance."""
    rows = "1 order" if preview.orders == 1 else f"{preview.orders} orders"
    unpriced = ""
    if preview.unpriced:
        listed = ", ".join(map(str, preview.unpriced[:10]))
        unpriced = f"Not placed, the panel lists no price for them: rows {listed}.\n\n"
    return (
        f"{unpriced}Place {rows} for {preview.cost_text()} {preview.currency}?\n\n"
        f"Balance: {preview.balance_text()}. Orders cannot be undone once "
        "placed; the panel charges for them."
    )


def _cancel_confirmation(preview: CancelPreview) -> str:
    """The question asked before canceling: which orders, how many."""
    return f"Cancel {preview.listed(MAX_ALERT_ROWS)}?\n\nA canceled order cannot be resumed."


def _problems(report: Report) -> str | None:
    """One alert's text for the rows that need attention and the run's messages, or None."""
    from .batch import ROUTINE_OUTCOMES
    from .values import money, plural

    rows = [r for r in report.results if r.outcome not in ROUTINE_OUTCOMES]
    if not rows and not report.messages:
        return None
    lines: list[str] = []
    if rows:
        need = "needs" if len(rows) == 1 else "need"
        lines.append(f"{plural(len(rows), 'row')} {need} attention; the Error column says why:")
        for r in rows[:MAX_ALERT_ROWS]:
            detail = f": {r.message}" if r.message else ""
            lines.append(f"  row {r.row}: {r.step} {r.outcome}{detail}"[:160])
        if len(rows) > MAX_ALERT_ROWS:
            lines.append(f"  ... and {len(rows) - MAX_ALERT_ROWS} more")
    lines.extend(report.messages)
    if report.spent:
        lines.append(f"Placed for about {money(report.spent)} {report.currency}.")
    return "\n".join(lines)


def _summary(command: str, report: Report) -> str:
    """A status-bar line for a run that needs no alert."""
    from .values import money

    counts = report.counts()
    if not counts:
        return f"smmsheet: {command}: nothing to do"
    parts = [f"{n} {outcome}" for (_, outcome), n in sorted(counts.items())]
    spent = f" for about {money(report.spent)} {report.currency}" if report.spent else ""
    return f"smmsheet: {command}: {', '.join(parts)}{spent}"
