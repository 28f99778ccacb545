"""The ``smmsheet`` command: gathers flags, calls the core, prints one line per problem.

Exit codes: 0 ok, 1 some items failed (or the panel failed), 2 usage, config or file error.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ._version import __version__
from .errors import ConfigError, JournalMismatchError, SmmsheetError, WorkbookError, scrub

if TYPE_CHECKING:  # typed edges without importing requests or the engine at start-up
    from .batch import Report
    from .panel import PanelClient

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Cli(click.Group):
    """Turns our errors into one line on stderr and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SmmsheetError as exc:
            click.secho(_safe(f"Error: {exc}"), fg="red", err=True)
            usage = isinstance(exc, ConfigError | WorkbookError | JournalMismatchError)
            ctx.exit(EXIT_USAGE if usage else EXIT_FAILED)
        except KeyboardInterrupt:
            click.echo("Interrupted: outcomes so far are in the journal.", err=True)
            ctx.exit(130)


@click.group(cls=_Cli)
@click.version_option(__version__)
@click.option("-v", "--verbose", is_flag=True, help="Log each panel request (never the key).")
def cli(verbose: bool) -> None:
    """Drive an SMM panel (API v2) from the order rows of a workbook."""
    _SECRETS.clear()  # one run, one key (tests invoke many runs in one process)
    _log_to_stderr(verbose)


class _StderrLog(logging.Handler):
    """Log records on stderr, through the one scrubber: warnings always, everything with -v."""

    def __init__(self) -> None:
        super().__init__()
        self.verbose = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
        except Exception:  # a broken log call must not end the run
            self.handleError(record)
            return
        if self.verbose:
            line = f"{record.levelname} {record.name}: {text}"
        else:
            line = f"{record.levelname.capitalize()}: {text}"
        click.echo(_safe(line), err=True)


def _log_to_stderr(verbose: bool) -> None:
    """Send log records to stderr: WARNING and up (the clear-text key warning), all with -v."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _StderrLog)), None)
    if handler is None:
        handler = _StderrLog()
        root.addHandler(handler)
    handler.verbose = verbose
    handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if verbose:
        root.setLevel(logging.DEBUG)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="smmsheet")


def panel_options(func: F) -> F:
    """The options that choose a panel, shared by every command that talks to one."""
    func = click.option("--profile", help="Profile name from the user config file.")(func)
    func = click.option(
        "--api-key", help="API key (prefer SMMSHEET_API_KEY: flags show up in `ps`)."
    )(func)
    func = click.option("--panel-url", help="Panel API URL, e.g. https://panel.example/api/v2.")(
        func
    )
    return func


def _client(panel_url: str | None, api_key: str | None, profile: str | None) -> PanelClient:
    """The client of the panel chosen by flags, environment and config file (no workbook)."""
    from .config import resolve_panel

    resolved = resolve_panel(url=panel_url, api_key=api_key, profile=profile)
    _SECRETS.add(resolved.api_key)  # scrubbed from everything this process prints
    return resolved.client()


# --------------------------------------------------------------------------- panel commands


@cli.command()
@panel_options
@click.argument("book", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--all", "every", is_flag=True, help="Every profile of the user config file.")
def balance(
    panel_url: str | None, api_key: str | None, profile: str | None, book: str | None, every: bool
) -> None:
    """Print the account balance; with BOOK, of every panel the workbook uses (its default
    and each profile its Panel column and Routes sheet name); with --all, of every profile."""
    if book is None and not every:
        client = _client(panel_url, api_key, profile)
        with client:
            result = client.balance()
        click.echo(f"{result.amount} {result.currency}".strip())
        return
    results: list[tuple[str, Any]] = []
    if book is not None:
        from .session import Session

        with Session(book, panel_url=panel_url, api_key=api_key, profile=profile) as session:
            try:
                results = session.balances()
            finally:
                _SECRETS.update(session.secrets)
    else:
        from .config import profile_names, resolve_profile

        for name in profile_names():
            try:
                resolved = resolve_profile(name)
                _SECRETS.add(resolved.api_key)
                with resolved.client() as client:
                    results.append((name, client.balance()))
            except SmmsheetError as exc:
                results.append((name, exc))
    width = max((len(name or "default") for name, _ in results), default=0)
    failed = False
    for name, result in results:
        if isinstance(result, Exception):
            failed = True
            click.echo(_safe(f"{name or 'default':<{width}}  error: {result}"), err=True)
        else:
            click.echo(f"{name or 'default':<{width}}  {result.amount} {result.currency}".rstrip())
    if failed:
        sys.exit(EXIT_FAILED)


@cli.command()
@panel_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option(
    "--into",
    type=click.Path(dir_okay=False),
    help="Write the list into this workbook's Services sheet.",
)
def services(
    panel_url: str | None,
    api_key: str | None,
    profile: str | None,
    as_json: bool,
    as_csv: bool,
    into: str | None,
) -> None:
    """List the panel's services (or load them into a workbook)."""
    from .services_sheet import SERVICES_SHEET, services_table

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    if into:
        from .session import Session

        with Session(into, panel_url=panel_url, api_key=api_key, profile=profile) as session:
            _SECRETS.update(session.secrets)
            loaded = session.load_services()
        click.echo(f"Wrote {loaded.count} services into {into} (sheet {loaded.sheet}).")
        if loaded.sheet != SERVICES_SHEET:
            click.echo(f"The sheet {SERVICES_SHEET!r} was not written by smmsheet: left as it was.")
        return
    client = _client(panel_url, api_key, profile)
    with client:
        items = client.services()
    rows = services_table(items)
    if as_json:
        data = [
            {**s.__dict__, "rate": None if s.rate is None else str(s.rate)}
            for s in sorted(items, key=lambda s: s.id)
        ]
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    import pandas as pd

    frame = pd.DataFrame(rows[1:], columns=[str(c) for c in rows[0]])
    if as_csv:
        # A CSV is usually opened in a spreadsheet: panel text must not become a formula there.
        click.echo(frame.map(_csv_safe).to_csv(index=False), nl=False)
    else:
        with pd.option_context("display.max_rows", None, "display.width", 200):
            click.echo(frame.to_string(index=False))


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: The API keys this process uses; nothing it prints may contain one.
_SECRETS: set[str] = set()


def _safe(text: str) -> str:
    """Text for a terminal: control characters (escape sequences) and every key removed."""
    return scrub(_CONTROL.sub("", text), _SECRETS)


def _csv_safe(value: object) -> object:
    """Prefix text that a spreadsheet would run as a formula with ' (OWASP CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


# --------------------------------------------------------------------------- workbook commands


#: The run options a workbook command may offer, as click decorators.
RUN_OPTIONS: dict[str, Callable[[F], F]] = {
    "dry_run": click.option(
        "--dry-run", is_flag=True, help="Validate and preview; send nothing, save nothing."
    ),
    "max_spend": click.option(
        "--max-spend",
        metavar="AMOUNT",
        help="Place no more than this amount in this run (25, 25.50, $25, 25 USD).",
    ),
    "allow_unpriced": click.option(
        "--allow-unpriced",
        is_flag=True,
        help="Also place rows whose service has no listed price (refused with a cap).",
    ),
    "yes": click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation."),
    "new_journal": click.option(
        "--new-journal",
        is_flag=True,
        help="The workbook's journal is lost: start anew (check the panel's orders first).",
    ),
}


def book_command(name: str, help_text: str, options: tuple[str, ...]) -> None:
    """Register a command that runs one engine action over a workbook, with ``options``."""

    @panel_options
    @click.argument("book", type=click.Path(dir_okay=False))
    @click.option("--sheet", default="Orders", show_default=True, help="Order sheet name.")
    def command(book: str, sheet: str, **kw: Any) -> None:
        code = run_book(book, name, sheet=sheet, **kw)
        sys.exit(code) if code else None

    for option in reversed(options):
        command = RUN_OPTIONS[option](command)
    cli.command(name=name, help=help_text)(command)


def run_book(
    book_path: str,
    command: str,
    *,
    sheet: str = "Orders",
    panel_url: str | None = None,
    api_key: str | None = None,
    profile: str | None = None,
    yes: bool = False,
    dry_run: bool = False,
    max_spend: Decimal | str | None = None,
    allow_unpriced: bool = False,
    new_journal: bool = False,
    client: PanelClient | None = None,
) -> int:
    """Run one engine command over a saved workbook and print its summary; returns exit code."""
    from .batch import CancelPreview, Preview, RunOptions
    from .config import spending_cap
    from .session import Session

    flag_cap = None if max_spend is None else spending_cap(max_spend, "--max-spend")
    needs_yes: list[str] = []  # what was not done for want of a terminal to ask

    def confirm(preview: Preview) -> bool:
        if yes:
            return True
        if not _interactive():
            needs_yes.append(
                f"Not placed: {preview.orders} orders for {preview.cost_text(2)} {preview.currency}"
            )
            return False
        return click.confirm(_place_question(preview), err=True)

    def confirm_cancel(preview: CancelPreview) -> bool:
        if yes:
            return True
        if not _interactive():
            needs_yes.append(f"Not canceled: {preview.listed()}")
            return False
        return click.confirm(f"Cancel {preview.listed()}?", err=True)

    def journal_lost(problem: str) -> bool:
        if new_journal:
            return True
        if not _interactive():
            raise JournalMismatchError(f"{problem} (run again with --new-journal)")
        click.echo(_safe(f"Warning: {problem}."), err=True)
        return click.confirm("Start a new journal for this workbook?", err=True)

    options = RunOptions(
        sheet=sheet,
        dry_run=dry_run,
        max_spend=flag_cap,  # None: the Settings sheet's Max spend, if any
        allow_unpriced=allow_unpriced,
        confirm=confirm,
        confirm_cancel=confirm_cancel,
        journal_lost=journal_lost,
        progress=_progress(),
    )
    with Session(
        book_path, client=client, panel_url=panel_url, api_key=api_key, profile=profile
    ) as session:
        _SECRETS.update(session.secrets)
        try:
            report = session.run(command, options)
        finally:
            _SECRETS.update(session.secrets)  # the keys of the panels the rows named
            for message in session.report.messages:
                click.echo(_safe(message), err=True)
    _print_summary(report, book_path, dry_run)
    for what in needs_yes:
        click.secho(
            f"{what} need confirmation; pass --yes (no terminal to ask).", fg="yellow", err=True
        )
    if needs_yes:
        return EXIT_USAGE
    return EXIT_FAILED if report.failed else EXIT_OK


def _interactive() -> bool:
    """Whether a person can answer a question (cron and pipes cannot)."""
    return sys.stdin.isatty()


def _rows(numbers: tuple[int, ...], shown: int = 10) -> str:
    """Sheet row numbers for a message: ``2, 5, 9`` (the first ``shown``, then a count)."""
    text = ", ".join(map(str, numbers[:shown]))
    return text + (f" ... ({len(numbers)} rows)" if len(numbers) > shown else "")


def _place_question(preview: Any) -> str:
    """What is asked before placing: how many orders, their cost, the rows left out."""
    lines = []
    if preview.unpriced:
        lines.append(
            f"Not placed, the panel lists no price for them: rows {_rows(preview.unpriced)}"
        )
    text = f"Place {preview.orders} orders for {preview.cost_text(2)} {preview.currency}"
    if preview.unknown_cost:
        text += f" plus rows {_rows(preview.unknown_cost)} whose price the panel does not list"
    if preview.unconverted:
        text += (
            f" plus rows {_rows(preview.unconverted)} in a currency the Settings sheet has "
            "no rate for"
        )
    lines.append(f"{text} (balance {preview.balance_text()})?")
    return "\n".join(lines)


def _progress() -> Callable[[str, int, int], None] | None:
    """A progress bar on stderr for long steps, only when a person is watching."""
    if not sys.stderr.isatty():
        return None
    bars: dict[str, Any] = {}

    def update(label: str, done: int, total: int) -> None:
        if total < 50:
            return
        bar = bars.get(label)
        if bar is None:
            bar = bars[label] = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)

    return update


def _print_summary(report: Report, book_path: str, dry_run: bool) -> None:
    counts = report.counts()
    if counts:
        width = max(len(step) for step, _ in counts)
        for (step, outcome), n in sorted(counts.items()):
            click.echo(f"  {step:<{width}}  {outcome:<12} {n:>6}")
    else:
        click.echo("  nothing to do")
    if report.preview is not None:
        p = report.preview
        verb = "Would place" if dry_run else "Planned"
        click.echo(
            f"{verb} {p.orders} orders, {p.cost_text(5)} {p.currency} (balance {p.balance_text()})."
        )
    if report.spent or report.uncharged:
        if report.uncharged:
            click.echo(
                f"Placed for about {report.spent:.5f} {report.currency} "
                f"({report.uncharged} charge(s) not reported yet: estimated)."
            )
        else:
            click.echo(f"Placed for {report.spent:.5f} {report.currency} (charged by the panel).")
    from .batch import ROUTINE_OUTCOMES

    problems = [r for r in report.results if r.outcome not in ROUTINE_OUTCOMES]
    for r in problems[:20]:
        click.echo(_safe(f"  row {r.row}: {r.step} {r.outcome}: {r.message}"), err=True)
    if len(problems) > 20:
        click.echo(f"  ... and {len(problems) - 20} more (see the Error column)", err=True)
    if report.saved:
        click.echo(f"Saved {book_path}.")


#: Each workbook command and the run options that mean something for it. Only place and
#: cancel ask before sending (refills are not charged); status commands change nothing on
#: the panel, so they have none.
BOOK_COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "place": (
        "Place the rows that have no Order ID yet.",
        ("dry_run", "max_spend", "allow_unpriced", "yes", "new_journal"),
    ),
    "status": ("Refresh the status of orders that are not final.", ()),
    "refill": (
        "Request refills for rows whose Refill flag is set.",
        ("dry_run", "new_journal"),
    ),
    "refill-status": ("Refresh the status of refills.", ()),
    "cancel": (
        "Cancel the orders of rows whose Cancel flag is set.",
        ("dry_run", "yes", "new_journal"),
    ),
    "run": (
        "Place new rows, refill/cancel flagged ones, refresh open orders.",
        ("dry_run", "max_spend", "allow_unpriced", "yes", "new_journal"),
    ),
}
for _name, (_help, _options) in BOOK_COMMANDS.items():
    book_command(_name, _help, _options)


@cli.command()
@click.argument("book", type=click.Path(exists=True, dir_okay=False))
def journal(book: str) -> None:
    """Show the journal of paid requests kept beside a workbook."""
    import datetime as dt

    from .journal import Journal, Synced, journal_path

    shown = {
        Synced.PENDING: "NOT IN SHEET YET",
        Synced.IN_SHEET: "in sheet",
        Synced.ROW_GONE: "row gone",
    }
    path = journal_path(book)
    if not path.exists():
        click.echo(f"no journal for {book}")
        return
    with Journal(path, lock=False) as j:
        for e in j.entries():
            when = dt.datetime.fromtimestamp(e.created).strftime("%Y-%m-%d %H:%M:%S")
            synced = shown[e.synced]
            what = " ".join(
                e.request[k] for k in ("service", "link", "quantity", "order") if e.request.get(k)
            )
            settled = f" (settled: {e.resolution})" if e.resolution else ""
            what += f" on {e.panel}" if e.panel else ""
            click.echo(
                _safe(
                    f"#{e.id} {when} {e.sheet}!row {e.row} {e.action} {what} -> {e.state} "
                    f"{e.result or ''}{settled} [{synced}]"
                )
            )


@cli.command()
@click.argument("book", type=click.Path(exists=True, dir_okay=False))
@click.option("--sheet", default="Orders", show_default=True, help="Order sheet name.")
def report(book: str, sheet: str) -> None:
    """Add or refresh the Dashboard sheet: totals and native charts of the orders."""
    from .dashboard import DASHBOARD_SHEETS
    from .session import write_report

    written = write_report(book, sheet=sheet)
    summary = written.summary
    spent = ", ".join(
        f"{amount} {currency}".strip() for currency, amount in sorted(summary.spend.items())
    )
    click.echo(
        _safe(
            f"Wrote sheet {written.sheet} of {book}: {summary.orders} orders, "
            f"{summary.open} open, spent {spent or '0'}."
        )
    )
    if written.sheet != DASHBOARD_SHEETS[0]:
        mine = DASHBOARD_SHEETS[0]
        click.echo(f"The sheet {mine!r} was not written by smmsheet: left as it was.")


@cli.command("config-path")
def config_path_command() -> None:
    """Print where the user config file (panel profiles) is read from."""
    from .config import config_path

    click.echo(str(config_path()))


# --------------------------------------------------------------------------- simulator, demo


@cli.command()
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--latency", default=0.0, type=float, help="Seconds before each answer.")
@click.option("--balance", "start_balance", default="1000", show_default=True)
@click.option(
    "--dialect",
    default="standard",
    show_default=True,
    help="How the panel words its replies (see --list-dialects).",
)
@click.option("--list-dialects", is_flag=True, help="List the dialects and exit.")
@click.option(
    "--requests-per-minute",
    type=click.IntRange(min=1),
    help="Answer at most this many requests a minute; more get HTTP 429 with Retry-After.",
)
def sim(
    port: int,
    host: str,
    latency: float,
    start_balance: str,
    dialect: str,
    list_dialects: bool,
    requests_per_minute: int | None,
) -> None:
    """Run the panel simulator (API v2) for trying smmsheet without spending money."""
    from .simulator import DEFAULT_API_KEY, DIALECTS, Faults, PanelSimulator

    if list_dialects:
        width = max(len(name) for name in DIALECTS)
        for name, spoken in DIALECTS.items():
            click.echo(f"{name:<{width}}  {spoken.about}")
        return
    if dialect not in DIALECTS:
        raise click.BadParameter(
            f"{dialect!r} is not one of: {', '.join(DIALECTS)}", param_hint="--dialect"
        )
    faults = Faults(latency=latency, max_requests_per_minute=requests_per_minute)
    server = PanelSimulator(
        host=host, port=port, balance=start_balance, faults=faults, dialect=dialect
    )
    click.echo(f"Panel simulator at http://{host}:{port}/api/v2 (dialect {dialect})")
    click.echo(f"  export SMMSHEET_PANEL_URL=http://{host}:{port}/api/v2")
    click.echo(f"  export SMMSHEET_API_KEY={DEFAULT_API_KEY}")
    click.echo("Ctrl-C to stop.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


#: The demo's order rows, by field key: six good orders and four with a mistake on purpose.
DEMO_ROWS: list[dict[str, Any]] = [
    {"service": 1, "link": "https://instagram.com/demo_shop", "quantity": 1000},
    {"service": 3, "link": "https://instagram.com/p/demo1", "quantity": 500},
    {"service": 3, "link": "https://instagram.com/p/partial-demo", "quantity": 400},
    {
        "service": 2,
        "link": "https://instagram.com/p/demo2",
        "comments": "Love it!\nWhere can I buy this?\nGreat colours\n" * 4,
    },
    {
        "service": 1,
        "link": "https://instagram.com/drip",
        "quantity": 500,
        "runs": 4,
        "interval": 30,
    },
    {"service": 4, "link": "https://youtube.com/watch?v=demo", "quantity": 5000},
    {"service": 1, "link": "https://instagram.com/too_small", "quantity": 10},
    {"service": 999, "link": "https://instagram.com/unknown", "quantity": 100},
    {"service": 1, "link": "", "quantity": 100},
    {"service": 4, "link": "https://youtube.com/x", "quantity": 500, "runs": 2, "interval": 5},
]
DEMO_SHOWN = ("service", "link", "order_id", "status", "charge", "remains", "refill_id", "error")


@cli.command()
@click.option(
    "--out",
    default="smmsheet-demo.xlsx",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the demo workbook (an earlier demo's is replaced, with its journal).",
)
@click.option(
    "--force", is_flag=True, help="Replace OUT and its journal even if the demo did not write it."
)
def demo(out: str, force: bool) -> None:
    """Fill a copy of the order template and run it against the built-in panel simulator."""
    from .journal import journal_path
    from .orders import OUTPUT_COLUMNS, OrderTable
    from .panel import PanelClient
    from .simulator import DEFAULT_API_KEY, PanelSimulator
    from .templates import build_orders_template
    from .workbook import open_workbook

    target = Path(out)
    if not target.parent.is_dir():
        raise WorkbookError(f"cannot write {out}: there is no folder {target.parent}")
    journal = journal_path(target)
    leftovers = (journal, *(journal.with_name(journal.name + s) for s in ("-journal", "-wal")))
    if not force:
        _refuse_to_replace(target, journal)
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)  # the demo's panel is new: old order ids mean nothing
    with tempfile.TemporaryDirectory() as tmp:
        try:
            shutil.copyfile(build_orders_template(Path(tmp) / "orders.xlsx"), target)
        except OSError as exc:
            raise WorkbookError(f"cannot write {out}: {exc.strerror or exc}") from None
    book = open_workbook(str(target))
    table = OrderTable.from_values(book.read_values("Orders"))
    first = table.header_row + 1
    book.write_cells(
        "Orders",
        {
            (first + offset, table.columns[key]): value
            for offset, values in enumerate(DEMO_ROWS)
            for key, value in values.items()
        },
    )
    book.save()

    with PanelSimulator(balance="50") as server, PanelClient(server.url, DEFAULT_API_KEY) as client:
        click.echo(f"Panel simulator at {server.url} (balance 50 USD)")

        def step(command: str) -> None:
            click.secho(f"$ smmsheet {command} {target}", bold=True)
            run_book(str(target), command, yes=True, client=client)

        step("place")
        step("status")
        step("status")
        # The customer of row 2 lost followers: flag a refill, then `run` does the rest.
        flag = open_workbook(str(target))
        flag.write_cells("Orders", {(first, table.columns["refill"]): "x"})
        flag.save()
        step("run")
        left = client.balance()

    final = OrderTable.from_values(open_workbook(str(target)).read_values("Orders"))
    titles = {**OUTPUT_COLUMNS, "service": "Service", "link": "Link"}
    click.echo("")
    click.echo(" | ".join(["Row", *(titles[k] for k in DEMO_SHOWN)]))
    for row in final.rows:
        cells = [str(row.row), *(row.text(k)[:38] for k in DEMO_SHOWN)]
        click.echo(" | ".join(cells))
    click.echo(f"\nBalance left on the simulator: {left.amount} {left.currency}")
    click.echo(f"Open {target} to see every column (4 rows carry an Error on purpose).")


def _refuse_to_replace(target: Path, journal: Path) -> None:
    """Refuse to replace a workbook (or a journal) that an earlier demo did not write.

    A demo workbook is recognised by what the demo wrote into it: its order rows' links, in
    order. Anything else at that path (the user's own workbook, a file that is not a
    workbook, a demo workbook someone has since edited) is left alone unless ``--force``.
    """
    if target.exists() and not _is_demo_workbook(target):
        raise WorkbookError(
            f"{target} exists and was not written by the demo: choose another --out, "
            "or pass --force to replace it and its journal"
        )
    if not target.exists() and journal.exists():
        raise WorkbookError(
            f"{journal} (the journal of a workbook named {target.name}) exists: choose "
            "another --out, or pass --force to delete it"
        )


def _is_demo_workbook(path: Path) -> bool:
    """Whether the order rows of ``path`` are the demo's (their links, in order)."""
    from .orders import OrderTable
    from .workbook import open_workbook

    try:
        book = open_workbook(str(path))
        try:
            table = OrderTable.from_values(book.read_values("Orders"))
        finally:
            book.close()
    except (SmmsheetError, OSError, ValueError):
        return False
    links = [row.text("link") for row in table.rows]
    return links == [str(values["link"]) for values in DEMO_ROWS]


@cli.command("new")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace PATH if it exists (its journal is kept).")
def new_workbook(path: str, force: bool) -> None:
    """Write a blank order workbook (Orders, Services, Settings, Help) to PATH."""
    import os

    from .journal import journal_path
    from .templates import build_orders_template

    target = Path(path)
    if target.suffix.lower() != ".xlsx":
        raise WorkbookError(f"{path}: an order workbook is an .xlsx file (e.g. orders.xlsx)")
    if not target.parent.is_dir():
        raise WorkbookError(f"cannot write {path}: there is no folder {target.parent}")
    if target.exists() and not force:
        raise WorkbookError(f"{path} exists: choose another name, or pass --force to replace it")
    try:
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".smmsheet-new-") as tmp:
            os.replace(build_orders_template(Path(tmp) / target.name), target)
    except OSError as exc:
        raise WorkbookError(f"cannot write {path}: {exc.strerror or exc}") from None
    click.echo(f"Wrote {path}: one order per row on its Orders sheet (Service, Link, Quantity).")
    click.echo(f"Next: smmsheet services --into {path}   (the Service drop-down)")
    click.echo(f"      smmsheet place {path} --dry-run")
    if journal_path(target).exists():
        click.echo(f"Kept {journal_path(target)}: the journal of the workbook that was there.")


def _register_addin() -> None:
    from .addin import addin_cli  # light: the add-in builder imports pyopenvba when it runs

    cli.add_command(addin_cli, "addin")


_register_addin()
