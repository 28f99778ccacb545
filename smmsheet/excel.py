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
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .batch import CancelPreview, Preview, Report
    from .panel import PanelClient
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


def _caller() -> Any:
    """The workbook that ran the macro (``xw.Book.caller()``); replaced in tests."""
    import xlwings as xw

    return xw.Book.caller()


def _run_from_excel(command: str) -> None:
    from .workbook.live import XlwingsWorkbook

    book = XlwingsWorkbook(_caller())
    ask, tell = _dialogs(book)
    run_macro(command, book, None, None, ask, tell, progress=book.progress, notify=book.status)


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
                balance = session.balance()
                tell(f"Balance: {balance.amount} {balance.currency}".strip())
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
            return _run_engine(session, command, ask, tell, progress, notify)
    except SmmsheetError as exc:
        tell(scrub(f"smmsheet: {exc}", session.secrets if session else ()))
    except Exception as exc:  # a bug: still one alert, never a traceback in the user's face
        log.exception("%s failed", command)
        secrets = session.secrets if session else ()
        tell(scrub(f"smmsheet: unexpected {type(exc).__name__}: {exc}", secrets)[:500])
    return None


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
        f"{unpriced}Place {rows} for {preview.cost_text(2)} {preview.currency}?\n\n"
        f"Balance: {preview.balance_text()}. Orders cannot be undone once "
        "placed; the panel charges for them."
    )


def _cancel_confirmation(preview: CancelPreview) -> str:
    """The question asked before canceling: which orders, how many."""
    return f"Cancel {preview.listed(MAX_ALERT_ROWS)}?\n\nA canceled order cannot be resumed."


def _problems(report: Report) -> str | None:
    """One alert's text for the rows that need attention and the run's messages, or None."""
    from .batch import ROUTINE_OUTCOMES

    rows = [r for r in report.results if r.outcome not in ROUTINE_OUTCOMES]
    if not rows and not report.messages:
        return None
    lines: list[str] = []
    if rows:
        lines.append(f"{len(rows)} row(s) need attention; the Error column says why:")
        for r in rows[:MAX_ALERT_ROWS]:
            detail = f": {r.message}" if r.message else ""
            lines.append(f"  row {r.row}: {r.step} {r.outcome}{detail}"[:160])
        if len(rows) > MAX_ALERT_ROWS:
            lines.append(f"  ... and {len(rows) - MAX_ALERT_ROWS} more")
    lines.extend(report.messages)
    if report.spent:
        lines.append(f"Placed for about {report.spent:.2f} {report.currency}.")
    return "\n".join(lines)


def _summary(command: str, report: Report) -> str:
    """A status-bar line for a run that needs no alert."""
    counts = report.counts()
    if not counts:
        return f"smmsheet: {command}: nothing to do"
    parts = [f"{n} {outcome}" for (_, outcome), n in sorted(counts.items())]
    spent = f" for about {report.spent:.2f} {report.currency}" if report.spent else ""
    return f"smmsheet: {command}: {', '.join(parts)}{spent}"
