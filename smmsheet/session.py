"""One way in: a workbook, its Settings sheet, its panel and its journal, then one command.

Every shell runs through a :class:`Session`: the ``smmsheet`` command, the ribbon macros
and the demo. A session opens the workbook (or takes the one Excel has open), reads its
``Settings`` sheet, resolves the panel from flags, environment, user config file and that
sheet (:func:`~smmsheet.config.resolve_panel`), and opens the journal where the workbook's
journal lives: beside a saved file (:func:`~smmsheet.journal.journal_for_run`), or, for a
book open in Excel, where :func:`~smmsheet.journal.journal_location` puts it. The shells
keep only what is theirs: gathering inputs, how they ask and tell (click prompts or Excel
dialogs, passed in as the :class:`~smmsheet.batch.RunOptions` callbacks) and printing.

Example::

    from smmsheet.session import Session

    with Session("orders.xlsx") as session:   # the workbook, its Settings, its panel
        report = session.run("status")        # the journal, the engine, one save
    print(report.counts())                    # Counter({(Step.STATUS, Outcome.UPDATED): 12})
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .batch import (
    DEFAULT_SHEET,
    Command,
    Engine,
    Report,
    RunOptions,
    journal_sheets,
    order_sheet,
)
from .config import PanelSettings, WorkbookSettings, resolve_panel, resolve_profile, settings_of
from .dashboard import DASHBOARD_SHEETS, Summary, dashboard_sheet, summarize
from .errors import ConfigError, JournalError, PanelError, WorkbookError
from .journal import Journal, journal_for_run, journal_location
from .models import Balance
from .panel import PanelClient
from .panels import Panels
from .refill_window import DEFAULT_REFILL_WARNING_DAYS
from .routes import panel_names
from .services_sheet import services_sheet_of, services_table
from .values import money
from .workbook import open_workbook
from .workbook.base import WorkbookAdapter
from .workbook.charts import ChartSheetWriter

__all__ = [
    "SHEET_CAP",
    "LoadedServices",
    "Session",
    "WrittenReport",
    "balance_lines",
    "write_report",
]

#: How row messages name a spending cap read from the workbook's Settings sheet.
SHEET_CAP = "Max spend (Settings sheet)"
SHEET_DAY_CAP = "Max spend per day (Settings sheet)"


@dataclasses.dataclass(frozen=True)
class LoadedServices:
    """What :meth:`Session.load_services` wrote: how many services, into which sheet."""

    count: int
    sheet: str


class Session:
    """A workbook with its settings, its panel client and the place of its journal.

    ``book`` is the path of a saved .xlsx/.xlsm (opened headless) or a workbook adapter
    (a book open in Excel, :class:`~smmsheet.workbook.live.XlwingsWorkbook`). A ``client``
    given is used as is and left open; otherwise the panel is resolved from ``panel_url``,
    ``api_key`` and ``profile`` (the CLI's flags), the environment, the user config file and
    the workbook's Settings sheet, and its client is closed with the session, unless
    ``client_for`` gives it (one client shared by sessions run at once: left open).
    ``journal`` overrides where the journal lives.

    Opening reads the Settings sheet first: a key in it, or a ``Max spend`` that cannot be
    read, stops here, before any request.
    """

    def __init__(
        self,
        book: str | os.PathLike[str] | WorkbookAdapter,
        *,
        client: PanelClient | None = None,
        panel_url: str | None = None,
        api_key: str | None = None,
        profile: str | None = None,
        journal: Path | None = None,
        client_for: Callable[[PanelSettings], PanelClient] | None = None,
    ) -> None:
        self._path: str | None = None
        if isinstance(book, str | os.PathLike):
            self._path = os.fspath(book)
            book = open_workbook(self._path)
        self.book: WorkbookAdapter = book
        self._journal = journal
        self.settings: WorkbookSettings = settings_of(book)
        self._secrets: list[str] = []
        self._owns_client = client is None
        default_name = ""
        if client is None:
            resolved = resolve_panel(
                url=panel_url, api_key=api_key, profile=profile, workbook=self.settings
            )
            self._secrets.append(resolved.api_key)
            self._owns_client = client_for is None
            client = resolved.client() if client_for is None else client_for(resolved)
            default_name = resolved.profile or ""
        self.client: PanelClient = client
        #: Every panel this workbook's rows name, opened the first time one is needed.
        self.panels = Panels(client, default_name=default_name, open_profile=self._open_profile)
        #: The report of the command running or last run; still there when :meth:`run` raised.
        self.report = Report()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def secrets(self) -> tuple[str, ...]:
        """The API keys this session sends (so far): shells hide them in all they show."""
        return tuple(self._secrets)

    def _open_profile(self, name: str) -> PanelClient:
        """The client of a profile a row's Panel cell (or the Routes sheet) names."""
        resolved = resolve_profile(name)
        self._secrets.append(resolved.api_key)
        return resolved.client()

    def close(self) -> None:
        """Close the panel clients the session made (the workbook stays open)."""
        self.panels.close()
        if self._owns_client:
            self.client.close()

    @property
    def journal_path(self) -> Path:
        """Where this workbook's journal lives (found the first time it is needed)."""
        if self._journal is None:
            self._journal = self._find_journal()
        return self._journal

    def _find_journal(self) -> Path:
        if self._path is not None:
            return journal_for_run(self._path)  # refuses a file with a second name
        fullname = getattr(self.book, "fullname", None)
        if not isinstance(fullname, str):
            raise TypeError("this workbook adapter has no fullname: pass journal=")
        try:
            return journal_location(fullname)
        except OSError as exc:
            raise JournalError(f"cannot create the journal folder: {exc}") from None

    def run(self, command: Command | str, options: RunOptions | None = None) -> Report:
        """Run one engine command over the order sheet, journaled, with one save.

        ``options`` carry the shell's answers and callbacks (``confirm``, ``confirm_cancel``,
        ``journal_lost``, ``progress``); without a ``max_spend`` (``max_spend_per_day``) of
        their own, the Settings sheet's ``Max spend`` (``Max spend per day``) is the cap.
        Holds the workbook's run lock while it works (a dry run takes no lock and leaves no
        file: it reads a copy of the journal).
        """
        options = options or RunOptions()
        if options.max_spend is None and self.settings.max_spend is not None:
            options = dataclasses.replace(
                options, max_spend=self.settings.max_spend, max_spend_source=SHEET_CAP
            )
        if options.max_spend_per_day is None and self.settings.max_spend_per_day is not None:
            options = dataclasses.replace(
                options,
                max_spend_per_day=self.settings.max_spend_per_day,
                max_spend_per_day_source=SHEET_DAY_CAP,
            )
        if self.settings.refill_warning_days is not None:
            options = dataclasses.replace(
                options, refill_warning_days=self.settings.refill_warning_days
            )
        options = dataclasses.replace(options, money=self.settings.money)
        self.report = Report()
        # A dry run reads the journal and writes nothing beside the workbook.
        with Journal(self.journal_path, read_only=options.dry_run) as journal:
            engine = Engine(self.book, self.panels, journal, options, command=command)
            self.report = engine.report
            return engine.execute(command)

    def balances(self, sheet: str = DEFAULT_SHEET) -> list[tuple[str, Balance | Exception]]:
        """The balance of every panel the workbook uses: its default, each profile its rows'
        ``Panel`` cells and its Routes sheet name (a panel that fails gives its error)."""
        out: list[tuple[str, Balance | Exception]] = []
        named = [self.panels.key(n) for n in panel_names(self.book, sheet)]
        for key in dict.fromkeys([self.panels.default_name, *named]):
            try:
                out.append((key, self.panels.client(key).balance()))
            except (ConfigError, PanelError) as exc:
                out.append((key, exc))
        return out

    def balance_text(self, sheet: str = DEFAULT_SHEET) -> str:
        """What a shell tells the user: ``Balance: 100.00 USD``, or one line per panel the
        workbook uses (:meth:`balances`). A single panel's error is raised."""
        results = self.balances(sheet)
        if len(results) == 1:
            result = results[0][1]
            if isinstance(result, Exception):
                raise result
            return f"Balance: {money(result.amount)} {result.currency}".strip()
        return "\n".join(["Balances:", *(f"  {line}" for line in balance_lines(results))])

    def load_services(self) -> LoadedServices:
        """Write the panel's service list into the workbook and save; says how many, where.

        The sheet is ``Services`` unless the user's own sheet has that name (then
        ``Services (smmsheet)``, see :func:`~smmsheet.services_sheet.services_sheet_of`).
        Holds the workbook's run lock while it writes, so no other run saves meanwhile.
        """
        services = self.client.services()
        with Journal(self.journal_path):
            sheet = services_sheet_of(self.book)
            self.book.replace_sheet(sheet, services_table(services))
            self.book.save()
        return LoadedServices(len(services), sheet)


def balance_lines(results: Sequence[tuple[str, Balance | Exception]]) -> list[str]:
    """One line per panel of :meth:`Session.balances`, names aligned: ``default  100.00 USD``,
    ``b        error: ...``."""
    width = max((len(name or "default") for name, _ in results), default=0)
    lines: list[str] = []
    for name, result in results:
        label = f"{name or 'default':<{width}}"
        if isinstance(result, Exception):
            lines.append(f"{label}  error: {result}")
        else:
            lines.append(f"{label}  {money(result.amount)} {result.currency}".rstrip())
    return lines


@dataclasses.dataclass(frozen=True)
class WrittenReport:
    """What :func:`write_report` wrote: the dashboard's sheet and the totals it shows."""

    sheet: str
    summary: Summary


def write_report(
    path: str | os.PathLike[str],
    *,
    sheet: str = "Orders",
    now: dt.datetime | None = None,
    journal: Path | None = None,
) -> WrittenReport:
    """Add or refresh the workbook's dashboard (totals and native charts) and save.

    Needs no panel: everything comes from the order sheet, and the day each order was
    placed from the journal when it knows it. Holds the workbook's run lock while it
    writes, so no run saves meanwhile; only a saved .xlsx/.xlsm can take native charts.
    """
    path = os.fspath(path)
    book = open_workbook(path)
    if not isinstance(book, ChartSheetWriter):
        raise WorkbookError("report works on saved .xlsx/.xlsm files")
    names = book.sheet_names()
    name = order_sheet(names, sheet)  # as the journal keys entries
    with Journal(journal or journal_for_run(path)) as opened:
        rows = book.read_values(name)
        placed_on = {
            (entry.panel or "", entry.result_id): dt.datetime.fromtimestamp(entry.created).date()
            for entry in opened.accepted_adds(journal_sheets(opened, names, name))
            if entry.result_id is not None
        }
        moment = now or dt.datetime.now()
        days = settings_of(book).refill_warning_days  # as the run's notes count them
        summary = summarize(
            rows,
            placed_on=placed_on,
            today=moment.date(),
            soon_days=DEFAULT_REFILL_WARNING_DAYS if days is None else days,
        )
        written = book.write_chart_sheet(
            dashboard_sheet(summary, now=moment, source=name), DASHBOARD_SHEETS
        )
        book.save()
    return WrittenReport(written, summary)
