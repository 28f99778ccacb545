"""The ``smmsheet`` command: gathers flags, calls the core, prints one line per problem.

Exit codes: 0 ok, 1 some items failed (or the panel failed), 2 usage, config or file error.
"""

from __future__ import annotations

import errno
import json
import logging
import re
import shlex
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ._version import __version__
from .errors import (
    ConfigError,
    JournalMismatchError,
    NoSheetError,
    SmmsheetError,
    WorkbookError,
    scrub,
)
from .output import (
    SECRETS,
    emit_json,
    estimate,
    json_error,
    json_option,
    json_requested,
    money,
    money_json,
    plural,
    remember_argv,
    report_json,
    rows_text,
    summary_lines,
)

if TYPE_CHECKING:  # typed edges without importing requests or the engine at start-up
    from .batch import CancelPreview as _CancelPreview
    from .batch import Preview as _Preview
    from .batch import Report
    from .fleet import BookRun as FleetRun
    from .journal import Entry
    from .panel import PanelClient
    from .simulator import Served

F = TypeVar("F", bound=Callable[..., Any])

#: Workbooks ``run`` and ``watch`` run at once (smmsheet.fleet.DEFAULT_JOBS, not imported
#: here so that --help stays fast).
DEFAULT_JOBS = 4

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


EXIT_INTERRUPTED = 130
#: Shows the terminal's cursor again (a progress bar hides it while it draws).
SHOW_CURSOR = "\x1b[?25h"
VERBOSE_HELP = "Log details on stderr: each panel request, if any (never the key)."
#: Said when a question gets no answer (Ctrl-C, end of input): the run stops right there.
ABORTED = "Stopped at the question: nothing was sent after it."
#: Commands that may send a paid request: only their Ctrl-C has outcomes in the journal.
PAYING_COMMANDS = frozenset({"place", "refill", "cancel", "run", "watch", "demo"})
INTERRUPTED_PAYING = "Interrupted: outcomes so far are in the journal."
INTERRUPTED = "Interrupted: no order was placed, refilled or canceled."


class _VerboseGroup(click.Group):
    """A group whose every command, added now or later (``addin``'s too, added after the
    group joined the CLI), also takes ``-v`` after its name."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        _take_verbose(cmd)
        super().add_command(cmd, name)


class _Cli(_VerboseGroup):
    """Turns our errors into one line on stderr (or JSON) and the documented exit code.

    Every command it holds, now or added later, also takes ``-v`` after its name.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        remember_argv(ctx, args)
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:  # before any command: `smmsheet --json balance`
            if not json_requested(ctx):
                raise
            message = exc.format_message()
            if isinstance(exc, click.NoSuchOption) and exc.option_name == "--json":
                message = "--json goes after the command's name: smmsheet balance --json"
            self._fail(ctx, exc.exit_code, type(exc).__name__, message)
            raise  # not reached: _fail exits

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SmmsheetError as exc:
            usage = isinstance(exc, ConfigError | WorkbookError | JournalMismatchError)
            kind, message = type(exc).__name__, str(exc)
            if isinstance(exc, NoSheetError):  # the way only this shell has; JSON kind as before
                kind, message = "LayoutError", f"{message}, or choose it with --sheet NAME"
            self._fail(ctx, EXIT_USAGE if usage else EXIT_FAILED, kind, message)
        except click.ClickException as exc:
            if not json_requested(ctx):
                raise
            self._fail(ctx, exc.exit_code, type(exc).__name__, exc.format_message())
        except click.Abort:  # Ctrl-C or end of input at a question
            self._fail(ctx, EXIT_FAILED, "Abort", ABORTED)
        except KeyboardInterrupt:
            paying = ctx.invoked_subcommand in PAYING_COMMANDS
            self._fail(
                ctx,
                EXIT_INTERRUPTED,
                "Interrupted",
                INTERRUPTED_PAYING if paying else INTERRUPTED,
            )

    @staticmethod
    def _fail(ctx: click.Context, code: int, kind: str, message: str) -> None:
        _show_cursor()
        if json_requested(ctx):
            json_error(ctx, code, kind, message)
        elif kind == "Abort":  # the cursor is still on the question's line
            click.echo(f"\n{message}", err=True)
        elif kind == "Interrupted":
            click.echo(message, err=True)
        else:
            click.secho(_line(f"Error: {message}"), fg="red", err=True)
        ctx.exit(code)


def _show_cursor() -> None:
    """Give the cursor back: a run stopped while a progress bar drew leaves it hidden."""
    if sys.stderr.isatty():
        sys.stderr.write(SHOW_CURSOR)
        sys.stderr.flush()


def _verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        _log_to_stderr(True)


def _take_verbose(cmd: click.Command) -> None:
    """Let ``-v`` follow a command's name too (``smmsheet place book.xlsx -v``)."""
    if not any({"-v", "--verbose"} & set(p.opts) for p in cmd.params):  # theirs stays
        cmd.params.append(
            click.Option(
                ["-v", "--verbose"],
                is_flag=True,
                expose_value=False,
                callback=_verbose,
                help=VERBOSE_HELP,
            )
        )
    for sub in getattr(cmd, "commands", {}).values():
        _take_verbose(sub)


@click.group(cls=_Cli)
@click.version_option(__version__)
@click.option("-v", "--verbose", is_flag=True, help=VERBOSE_HELP)
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
@json_option
def balance(
    panel_url: str | None,
    api_key: str | None,
    profile: str | None,
    book: str | None,
    every: bool,
    as_json: bool,
) -> None:
    """Print the account balance; with BOOK, of every panel the workbook uses (its default
    and each profile its Panel column and Routes sheet name); with --all, of every profile."""
    if book is None and not every:
        client = _client(panel_url, api_key, profile)
        with client:
            result = client.balance()
        if as_json:
            emit_json({"balance": money_json(result.amount, result.currency)})
        click.echo(_line(f"{money(result.amount)} {result.currency}".strip()))
        return
    results = _balances(book, panel_url, api_key, profile)
    failed = any(isinstance(result, Exception) for _, result in results)
    if as_json:
        emit_json(
            {
                "balances": [
                    {"panel": name or "default", "error": str(result)}
                    if isinstance(result, Exception)
                    else {"panel": name or "default", **money_json(result.amount, result.currency)}
                    for name, result in results
                ]
            },
            EXIT_FAILED if failed else EXIT_OK,
        )
    from .session import balance_lines

    for (_, result), line in zip(results, balance_lines(results), strict=True):
        click.echo(_line(line), err=isinstance(result, Exception))
    if failed:
        sys.exit(EXIT_FAILED)


def _balances(
    book: str | None, panel_url: str | None, api_key: str | None, profile: str | None
) -> list[tuple[str, Any]]:
    """(profile, balance or error) of every panel a workbook uses, or of every profile."""
    if book is not None:
        from .session import Session

        with Session(book, panel_url=panel_url, api_key=api_key, profile=profile) as session:
            try:
                return list(session.balances())
            finally:
                _SECRETS.update(session.secrets)
    from .config import config_path, profile_names, resolve_profile

    names = profile_names()
    if not names:  # an empty answer would read as "every balance shown"
        raise ConfigError(
            f"--all: no profiles in {config_path()}; add a [profiles.NAME] table there, or "
            "leave out --all for the panel the environment names"
        )
    results: list[tuple[str, Any]] = []
    for name in names:
        try:
            resolved = resolve_profile(name)
            _SECRETS.add(resolved.api_key)
            with resolved.client() as client:
                results.append((name, client.balance()))
        except SmmsheetError as exc:
            results.append((name, exc))
    return results


@cli.command()
@panel_options
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("--search", metavar="TEXT", help="Only services whose name contains TEXT.")
@click.option("--category", metavar="TEXT", help="Only services whose category contains TEXT.")
@click.option(
    "--into",
    type=click.Path(dir_okay=False),
    help="Write the whole list into this workbook's Services sheet.",
)
def services(
    panel_url: str | None,
    api_key: str | None,
    profile: str | None,
    as_json: bool,
    as_csv: bool,
    search: str | None,
    category: str | None,
    into: str | None,
) -> None:
    """List the panel's services (or load them into a workbook).

    --search and --category keep the services whose name, or category, contains the text
    (case ignored). They only filter what is printed: --into writes the whole list, since
    the Services sheet is the panel's list and the next Load services replaces it whole.
    """
    from .services_sheet import SERVICES_SHEET, services_table

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    if into and (search or category):
        raise click.UsageError(
            "--search and --category filter what is printed; --into writes the whole list"
        )
    if into:
        from .session import Session

        with Session(into, panel_url=panel_url, api_key=api_key, profile=profile) as session:
            _SECRETS.update(session.secrets)
            loaded = session.load_services()
        kept = loaded.sheet == SERVICES_SHEET
        if as_json:
            data = {"workbook": into, "sheet": loaded.sheet, "services": loaded.count}
            emit_json({**data, "users_sheet_kept": not kept})
        click.echo(f"Wrote {plural(loaded.count, 'service')} into {into} (sheet {loaded.sheet}).")
        if not kept:
            click.echo(
                f"The sheet {SERVICES_SHEET!r} does not start with smmsheet's header row, so it is "
                "taken for yours and left as it was. If it is smmsheet's list, sorted with its "
                "header row, put that row (Service, Name, Type, ...) back on top and run this "
                "again."
            )
        return
    client = _client(panel_url, api_key, profile)
    with client:
        items = [
            s
            for s in client.services()
            if _contains(s.name, search) and _contains(s.category, category)
        ]
    if as_json:
        listed = [
            {**s.__dict__, "rate": None if s.rate is None else str(s.rate)}
            for s in sorted(items, key=lambda s: s.id)
        ]
        emit_json({"count": len(listed), "services": listed})
    rows = services_table(items)
    import pandas as pd

    frame = pd.DataFrame(rows[1:], columns=[str(c) for c in rows[0]], dtype=object)
    frame = frame.map(_yes_no)
    if as_csv:
        # A CSV is usually opened in a spreadsheet: panel text must not become a formula there.
        click.echo(_safe(frame.map(_csv_safe).to_csv(index=False)), nl=False)
    elif frame.empty:
        click.echo("No services match." if search or category else "The panel lists no services.")
    else:
        frame["Rate per 1000"] = frame["Rate per 1000"].map(money)
        with pd.option_context("display.max_rows", None, "display.width", 200):
            # A panel's name may be any length: a terminal shows its start (--csv: all of it).
            click.echo(_safe(frame.to_string(index=False, max_colwidth=100)))


def _contains(text: str, wanted: str | None) -> bool:
    """Whether ``wanted`` (case ignored) is in ``text``; no filter keeps everything."""
    return wanted is None or wanted.casefold() in text.casefold()


def _yes_no(value: object) -> object:
    """A service's flags as a person reads them: yes, no, or blank when the panel is silent."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return ""
    return value


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: The API keys this process uses; nothing it prints may contain one.
_SECRETS = SECRETS


def _safe(text: str) -> str:
    """Text for a terminal: control characters (escape sequences) and every key removed."""
    return scrub(_CONTROL.sub("", text), _SECRETS)


#: Line breaks (and tabs) inside one line of output: a panel's text cannot start a line.
_BREAKS = re.compile(r"[\n\t\u2028\u2029]+")


def _line(text: str) -> str:
    """One line for a terminal: :func:`_safe`, with panel text's line breaks made spaces, so
    a panel's message cannot forge a line of the summary ("Spent 0.00 USD", "Saved ...")."""
    return _safe(_BREAKS.sub(" ", text))


def _csv_safe(value: object) -> object:
    """Prefix text that a spreadsheet would run as a formula with ' (OWASP CSV injection).

    The guard looks at the text as printed: control characters go first, so "\\x01=cmd"
    cannot hide its "=" from the guard and then lose the "\\x01" on the way out.
    """
    if isinstance(value, str):
        value = _safe(value)
        if value[:1] in ("=", "+", "-", "@", "\t"):
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
    "max_spend_per_day": click.option(
        "--max-spend-per-day",
        metavar="AMOUNT",
        help="Place no more than this amount in a day, earlier runs of the workbook included.",
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


def shell_quoted(arg: str, platform: str | None = None) -> str:
    """``arg`` as the user's shell takes it back in a command we suggest: POSIX quotes, or
    Windows' double quotes (cmd.exe takes ``'C:\\my clients'`` as two words, quotes kept)."""
    if (platform or sys.platform).startswith("win"):
        import subprocess

        return subprocess.list2cmdline([arg])
    return shlex.quote(arg)


def book_command(name: str, help_text: str, options: tuple[str, ...]) -> None:
    """Register a command that runs one engine action over a workbook, with ``options``."""

    many = name == "run"  # `run` takes several workbooks and folders (run_many)

    @panel_options
    @json_option
    @click.argument("book", type=click.Path(), nargs=-1 if many else 1, required=True)
    @click.option("--sheet", default="Orders", show_default=True, help="Order sheet name.")
    def command(book: str | tuple[str, ...], sheet: str, **kw: Any) -> None:
        if isinstance(book, str) and Path(book).is_dir():
            raise click.BadParameter(
                f"{book} is a folder: name one workbook in it, or `smmsheet run "
                f"{shell_quoted(book)}` runs every workbook in it (places, refreshes, refills, "
                "cancels)",
                param_hint="'BOOK'",
            )
        if isinstance(book, tuple):
            code = run_many(book, sheet=sheet, **kw)
        else:
            code = run_book(book, name, sheet=sheet, **kw)
        sys.exit(code) if code else None

    if many:
        command = click.option(
            "--jobs",
            type=click.IntRange(min=1, max=32),
            default=DEFAULT_JOBS,
            show_default=True,
            help="Workbooks run at once (with several).",
        )(command)

    for option in reversed(options):
        command = RUN_OPTIONS[option](command)
    cli.command(name=name, help=help_text)(command)


#: How a declined placing starts in :attr:`BookRun.declined` (and the JSON's ``declined``).
DECLINED_PLACING = "placing "


@dataclass
class BookRun:
    """What one workbook command did, for the text summary or the JSON document."""

    book: str
    command: str
    report: Report
    exit_code: int
    dry_run: bool = False
    #: The placing (or canceling) the user declined at the question: nothing was sent.
    declined: list[str] = field(default_factory=list)
    #: What was not done for want of a terminal to ask (pass --yes).
    needs_yes: list[str] = field(default_factory=list)

    @property
    def placing_declined(self) -> bool:
        """Whether the user answered no to placing (the plan was not carried out)."""
        return any(what.startswith(DECLINED_PLACING) for what in self.declined)

    def as_json(self) -> dict[str, Any]:
        """The run's JSON document (without the keys every command's document has)."""
        return {
            "workbook": self.book,
            **report_json(self.report, dry_run=self.dry_run),
            "declined": self.declined,
            "needs_confirmation": self.needs_yes,
        }


def run_book(
    book_path: str,
    command: str,
    *,
    as_json: bool = False,
    **kw: Any,
) -> int:
    """Run one engine command over a saved workbook and print its summary; returns exit code.

    Keywords are :func:`execute_book`'s. With ``as_json`` the summary is the JSON document.
    """
    done = execute_book(book_path, command, quiet=as_json, **kw)
    if as_json:
        emit_json(done.as_json(), done.exit_code)
    _print_summary(done)
    return done.exit_code


def execute_book(
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
    max_spend_per_day: Decimal | str | None = None,
    allow_unpriced: bool = False,
    new_journal: bool = False,
    client: PanelClient | None = None,
    quiet: bool = False,
) -> BookRun:
    """Run one engine command over a saved workbook, asking what must be asked; no summary.

    ``quiet`` keeps the run's messages off stderr (they are in the report, for JSON).
    """
    from .batch import CancelPreview, Preview, RunOptions
    from .session import Session

    flag_cap = _flag_cap(max_spend, "--max-spend")
    day_cap = _flag_cap(max_spend_per_day, "--max-spend-per-day")
    needs_yes: list[str] = []
    declined: list[str] = []

    with Session(
        book_path, client=client, panel_url=panel_url, api_key=api_key, profile=profile
    ) as session:
        _SECRETS.update(session.secrets)

        def ask(question: str, unasked: str, refused: str, facts: Callable[[], list[str]]) -> bool:
            """Ask a person (after the facts); without one, only --yes says yes."""
            if yes:
                return True
            if not _interactive():
                needs_yes.append(unasked)
                return False
            for line in facts():
                click.echo(_line(line), err=True)
            if click.confirm(_line(question), err=True):
                return True
            declined.append(refused)
            return False

        def confirm(preview: Preview) -> bool:
            what = f"{plural(preview.orders, 'order')} for {estimate(preview)}"
            facts = partial(_place_facts, preview, session.report)
            refused = f"{DECLINED_PLACING}{what}"
            return ask(f"Place {what}?", f"Not placed: {what}", refused, facts)

        def confirm_cancel(preview: CancelPreview) -> bool:
            what = preview.listed()
            return ask(f"Cancel {what}?", f"Not canceled: {what}", f"canceling {what}", list)

        def journal_lost(problem: str) -> bool:
            if new_journal:
                return True
            if not _interactive():
                raise JournalMismatchError(f"{problem} (run again with --new-journal)")
            click.echo(_line(f"Warning: {problem}."), err=True)
            return click.confirm("Start a new journal for this workbook?", err=True)

        options = RunOptions(
            sheet=sheet,
            dry_run=dry_run,
            max_spend=flag_cap,  # None: the Settings sheet's Max spend, if any
            max_spend_per_day=day_cap,  # the same
            allow_unpriced=allow_unpriced,
            confirm=confirm,
            confirm_cancel=confirm_cancel,
            journal_lost=journal_lost,
            progress=(progress := _Progress.on_terminal()),
        )
        try:
            report = session.run(command, options)
        finally:
            _SECRETS.update(session.secrets)  # the keys of the panels the rows named
            if progress is not None:
                progress.close()
            if not quiet:
                for message in session.report.messages:
                    click.echo(_line(message), err=True)
    return BookRun(
        book_path,
        command,
        report,
        _exit_code(report, needs_yes, bool(declined)),
        dry_run,
        declined,
        needs_yes,
    )


def _exit_code(report: Report, needs_yes: list[str], declined: bool) -> int:
    """0 ok, 1 some rows failed, 2 nothing done for want of --yes. Declining is no failure:
    the rows refused before the question do not fail a run the user stopped there."""
    from .batch import FAILED_OUTCOMES, Step

    if needs_yes:
        return EXIT_USAGE
    failed = [
        r
        for r in report.results
        if r.outcome in FAILED_OUTCOMES and not (declined and r.step == Step.PLACE)
    ]
    return EXIT_FAILED if report.panel_failed or failed else EXIT_OK


def _interactive() -> bool:
    """Whether a person can answer a question (cron and pipes cannot)."""
    return sys.stdin.isatty()


#: How many refused rows the question lists before counting the rest.
SHOWN_REFUSALS = 20


def _place_facts(preview: Any, report: Report) -> list[str]:
    """What is shown before the question to place: rows refused and why, rows to place,
    cost, balance."""
    from .batch import FAILED_OUTCOMES, Step

    refused = [r for r in report.results if r.step == Step.PLACE and r.outcome in FAILED_OUTCOMES]
    lines = []
    if refused:
        lines.append(f"Refused ({plural(len(refused), 'row')}):")
        lines += [f"  row {r.row}: {r.message or r.outcome}" for r in refused[:SHOWN_REFUSALS]]
        if len(refused) > SHOWN_REFUSALS:
            lines.append(
                f"  ... and {len(refused) - SHOWN_REFUSALS} more (each row's Error cell says why)"
            )
    lines.append(f"To place: {rows_text(preview.rows)}, {estimate(preview)}.")
    if preview.unknown_cost:
        lines.append(
            f"  The panel lists no price for {rows_text(preview.unknown_cost)}: "
            "not in the estimate (--allow-unpriced)."
        )
    if preview.unconverted:
        lines.append(
            f"  {rows_text(preview.unconverted)} in a currency the Settings sheet has no rate "
            "for: not in the estimate."
        )
    if preview.by_panel:
        lines.append("Per panel:")
        lines += [f"  {line}" for line in preview.by_panel]
    else:
        lines.append(f"Balance: {preview.balance_text()}.")
    return lines


class _Progress:
    """Progress bars on stderr for long steps, only when a person is watching."""

    def __init__(self) -> None:
        self._bars: dict[str, Any] = {}

    @classmethod
    def on_terminal(cls) -> _Progress | None:
        return cls() if sys.stderr.isatty() else None

    def __call__(self, label: str, done: int, total: int) -> None:
        if total < 50:
            return
        bar = self._bars.get(label)
        if bar is None:
            bar = self._bars[label] = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)
        if done >= total:
            self._bars.pop(label).__exit__(None, None, None)

    def close(self) -> None:
        """End the bars still drawing (a run stopped midway), which shows the cursor again."""
        while self._bars:
            self._bars.popitem()[1].__exit__(None, None, None)
        _show_cursor()


#: How many problem rows the summary lists.
SHOWN_PROBLEMS = 20


def _print_summary(done: BookRun) -> None:
    from .batch import ROUTINE_OUTCOMES

    report = done.report
    held = bool(done.declined or done.needs_yes)
    lines = summary_lines(report, dry_run=done.dry_run, declined=done.placing_declined, held=held)
    for line in lines:
        click.echo(_line(line))
    problems = [r for r in report.results if r.outcome not in ROUTINE_OUTCOMES]
    for r in problems[:SHOWN_PROBLEMS]:
        click.echo(_line(f"  row {r.row}: {r.step} {r.outcome}: {r.message}"), err=True)
    if len(problems) > SHOWN_PROBLEMS:
        where = "--json lists them all" if done.dry_run else "see the Error column, or --json"
        click.echo(f"  ... and {len(problems) - SHOWN_PROBLEMS} more ({where})", err=True)
    for what in done.needs_yes:
        click.secho(
            _line(f"{what}: confirmation needed; pass --yes (no terminal to ask)."),
            fg="yellow",
            err=True,
        )
    if report.saved:
        click.echo(f"Saved {done.book}.")


#: Each workbook command and the run options that mean something for it. Only place and
#: cancel ask before sending (refills are not charged); status commands change nothing on
#: the panel, so they have none.
BOOK_COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "place": (
        "Place the rows that have no Order ID yet.",
        ("dry_run", "max_spend", "max_spend_per_day", "allow_unpriced", "yes", "new_journal"),
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
        "Place new rows, refill/cancel flagged ones, refresh open orders (of several "
        "workbooks and folders at once, with one summary table).",
        ("dry_run", "max_spend", "max_spend_per_day", "allow_unpriced", "yes", "new_journal"),
    ),
}
for _name, (_help, _options) in BOOK_COMMANDS.items():
    book_command(_name, _help, _options)


@cli.command()
@click.argument("book", type=click.Path(exists=True, dir_okay=False))
@json_option
def journal(book: str, as_json: bool) -> None:
    """Show the journal of paid requests kept beside a workbook.

    Each entry's service, link and quantity are the request as sent; its charge is the one
    the workbook's row holds for the order (blank until a status refresh brings it).
    """
    from .journal import Journal, journal_path

    path = journal_path(book)
    if not path.exists():
        if as_json:
            emit_json({"workbook": book, "journal": None, "entries": []})
        click.echo(f"no journal for {book}")
        return
    with Journal(path, read_only=True) as j:
        entries = j.entries()
    charges = _charges(book, {e.sheet for e in entries})
    listed = [_journal_entry(e, charges) for e in entries]
    if as_json:
        emit_json({"workbook": book, "journal": str(path), "entries": listed})
    if not listed:  # a run that had nothing to pay still leaves its journal
        click.echo(f"no paid requests in the journal of {book}")
        return
    # The Panel column only for a workbook whose requests went to named panels.
    columns = tuple(
        c for c in JOURNAL_COLUMNS if c[0] != "panel" or any(e["panel"] for e in listed)
    )
    _print_table(columns, [[_journal_cell(entry, key) for key, _ in columns] for entry in listed])


#: The columns of `smmsheet journal`: entry key, title.
JOURNAL_COLUMNS = (
    ("id", "#"),
    ("when", "When"),
    ("row", "Row"),
    ("action", "Action"),
    ("panel", "Panel"),
    ("service", "Service"),
    ("link", "Link"),
    ("quantity", "Qty"),
    ("state", "State"),
    ("result", "Result"),
    ("charge", "Charge"),
    ("in_sheet", "In sheet"),
)
#: How much of a link the table shows (--json gives all of it).
LINK_WIDTH = 40
_SYNCED_WORDS = ("NOT IN SHEET YET", "yes", "row gone")
#: An outcome written into the sheet whose order id the sheet no longer holds.
GONE_SINCE = "not any more"


def _journal_entry(e: Entry, charges: SheetOrders) -> dict[str, Any]:
    """One journal entry as the listing shows it (and --json prints it)."""
    import datetime as dt

    order = e.result_id if e.action == "add" else e.target
    # Two panels may both have an order 1001: a charge is looked up with the entry's panel.
    keys = [(e.sheet, e.panel, order or ""), (e.sheet, None, order or "")]
    charge, currency = next((charges[k] for k in keys if k in charges), ("", ""))
    in_sheet = _SYNCED_WORDS[int(e.synced)]
    if (
        int(e.synced) == 1
        and order
        and e.sheet in charges.read
        and not any(k in charges for k in keys)
    ):
        in_sheet = GONE_SINCE  # written back once; its row was deleted (or its id cleared) since
    return {
        "id": e.id,
        "when": dt.datetime.fromtimestamp(e.created).strftime("%Y-%m-%d %H:%M:%S"),
        "sheet": e.sheet,
        "row": e.row,
        "action": str(e.action),
        "panel": e.panel,
        "service": e.request.get("service", ""),
        "link": e.request.get("link", ""),
        "quantity": e.request.get("quantity", ""),
        "order": order,
        "state": str(e.state),
        "result": e.result or "",
        "resolution": None if e.resolution is None else str(e.resolution),
        "charge": {"amount": charge or None, "currency": currency} if e.action == "add" else None,
        "in_sheet": in_sheet,
        "request": e.request,
    }


def _journal_cell(entry: dict[str, Any], key: str) -> str:
    value = entry[key]
    if key == "row":
        return f"{entry['sheet']}!{value}"
    if key == "link":
        return _cut(value, LINK_WIDTH)
    if key == "result" and entry["resolution"]:
        return f"{value} (settled: {entry['resolution']})"
    if key == "service" and entry["action"] != "add":
        return f"order {entry['order']}"
    if key == "charge":
        return f"{money(value['amount'])} {value['currency']}".strip() if value else ""
    return str(value)


def _charges(book: str, sheets: set[str]) -> SheetOrders:
    """(sheet, panel, order id) -> (charge, currency) of every order the workbook's rows hold
    (``""`` when no charge is known yet); the panel is None in a sheet without a Panel column
    (one panel: any entry's). ``read`` names the sheets that could be read."""
    from .orders import OrderTable
    from .values import parse_decimal
    from .workbook import open_workbook

    found = SheetOrders()
    try:
        workbook = open_workbook(book)
    except SmmsheetError:
        return found  # the journal is shown without charges
    try:
        for sheet in sheets:
            try:
                table = OrderTable.from_values(workbook.read_values(sheet))
            except (SmmsheetError, KeyError, ValueError):
                continue
            found.read.add(sheet)
            panels = "panel" in table.columns
            for row in table.rows:
                if row.order_id is not None:
                    charge = parse_decimal(row.get("charge"))
                    panel = row.text("panel") if panels else None
                    found[(sheet, panel, row.order_id)] = (
                        "" if charge is None else str(charge),
                        row.text("currency") if charge is not None else "",
                    )
    finally:
        workbook.close()
    return found


class SheetOrders(dict[tuple[str, str | None, str], tuple[str, str]]):
    """The orders of a workbook's sheets and their charges, and which sheets were read."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()


def _print_table(columns: tuple[tuple[str, str], ...], rows: list[list[str]]) -> None:
    """Rows under their titles, each column as wide as its widest cell."""
    titles = [title for _, title in columns]
    rows = [[_line(cell) for cell in row] for row in rows]  # a line break would split a row
    widths = [max(len(t), *(len(r[i]) for r in rows)) for i, t in enumerate(titles)]
    for line in (titles, *rows):
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


@cli.command()
@click.argument("book", type=click.Path(exists=True, dir_okay=False))
@click.option("--sheet", default="Orders", show_default=True, help="Order sheet name.")
@json_option
def report(book: str, sheet: str, as_json: bool) -> None:
    """Add or refresh the Dashboard sheet: totals and native charts of the orders."""
    from .dashboard import DASHBOARD_SHEETS
    from .session import write_report

    written = write_report(book, sheet=sheet)
    summary = written.summary
    if as_json:
        totals = {"orders": summary.orders, "open": summary.open, "spend": summary.spend}
        kept = written.sheet != DASHBOARD_SHEETS[0]
        emit_json({"workbook": book, "sheet": written.sheet, **totals, "users_sheet_kept": kept})
    shown = summary.drawn_currencies
    spent = ", ".join(f"{money(summary.spend[c])} {c or '(no currency given)'}" for c in shown)
    if len(summary.spend) > len(shown):
        spent += f" and {len(summary.spend) - len(shown)} more currencies (see the sheet)"
    click.echo(
        _safe(
            f"Wrote sheet {written.sheet} of {book}: {plural(summary.orders, 'order')}, "
            f"{summary.open} open, spent {spent or '0'}."
        )
    )
    if written.sheet != DASHBOARD_SHEETS[0]:
        mine = DASHBOARD_SHEETS[0]
        click.echo(f"The sheet {mine!r} was not written by smmsheet: left as it was.")


@cli.command("config-path")
@json_option
def config_path_command(as_json: bool) -> None:
    """Print where the user config file (panel profiles) is read from."""
    from .config import config_path

    if as_json:
        emit_json({"path": str(config_path())})
    click.echo(str(config_path()))


# --------------------------------------------------------------------------- simulator, demo


def _amount_option(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """A simulator's starting balance: a plain amount (``1000``, ``12.50``)."""
    try:
        if Decimal(value).is_finite() and Decimal(value) >= 0:
            return value
    except ArithmeticError:
        pass
    raise click.BadParameter(f"{value!r} is not an amount such as 1000 or 12.50")


@cli.command()
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--latency", default=0.0, type=float, help="Seconds before each answer.")
@click.option(
    "--balance", "start_balance", default="1000", show_default=True, callback=_amount_option
)
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
@click.option(
    "--log",
    "log_requests",
    is_flag=True,
    help="Print each request served: action, ids, HTTP status, outcome (never the key).",
)
@json_option
def sim(
    port: int,
    host: str,
    latency: float,
    start_balance: str,
    dialect: str,
    list_dialects: bool,
    requests_per_minute: int | None,
    log_requests: bool,
    as_json: bool,
) -> None:
    """Run the panel simulator (API v2) for trying smmsheet without spending money.

    With --json it prints one JSON object per line: where it serves, then (with --log) one
    per request.
    """
    from .simulator import DEFAULT_API_KEY, DIALECTS, Faults, PanelSimulator

    if list_dialects:
        if as_json:
            emit_json({"dialects": {name: d.about for name, d in DIALECTS.items()}})
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
        host=host,
        port=port,
        balance=start_balance,
        faults=faults,
        dialect=dialect,
        on_request=_request_logger(as_json) if log_requests else None,
    )
    try:
        server.start()  # bound before the banner: the banner says where it really serves
    except OSError as exc:
        busy = exc.errno == errno.EADDRINUSE
        hint = " (is a simulator already running there?)" if busy else ""
        raise ConfigError(
            f"cannot serve on {host}:{port}: {exc.strerror or exc}{hint}; "
            "choose another --port or --host"
        ) from None
    url = server.url
    if as_json:
        _json_line({"url": url, "api_key": DEFAULT_API_KEY, "dialect": dialect})
    else:
        click.echo(f"Panel simulator at {url} (dialect {dialect})")
        click.echo(f"  export SMMSHEET_PANEL_URL={url}")
        click.echo(f"  export SMMSHEET_API_KEY={DEFAULT_API_KEY}")
        click.echo("Ctrl-C to stop.")
    try:
        threading.Event().wait()  # the server's thread serves; Ctrl-C ends the wait
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _json_line(data: dict[str, Any]) -> None:
    """One JSON object on one line of stdout, written at once (for `sim --json`)."""
    click.echo(json.dumps(data, ensure_ascii=True))


def _request_logger(as_json: bool) -> Callable[[Served], None]:
    """What `sim --log` does with each request served: a line (or a JSON line) on stdout."""
    import datetime as dt

    lock = threading.Lock()  # requests are served from many threads: one line at a time

    def log(served: Served) -> None:
        when = dt.datetime.now().strftime("%H:%M:%S")
        with lock:
            if as_json:
                _json_line({"time": when, **served.__dict__, "ids": list(served.ids)})
            else:
                click.echo(_line(f"{when} {served.line()}"))
            sys.stdout.flush()

    return log


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
@json_option
def demo(out: str, force: bool, as_json: bool) -> None:
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

    steps: list[dict[str, Any]] = []
    with (
        PanelSimulator(balance="50") as server,
        PanelClient(server.url, DEFAULT_API_KEY, direct=True) as client,
    ):
        if not as_json:
            click.echo(f"Panel simulator at {server.url} (balance 50 USD)")

        def step(command: str) -> None:
            if as_json:
                done = execute_book(str(target), command, yes=True, client=client, quiet=True)
                steps.append({"command": command, **done.as_json()})
                return
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
    if as_json:
        rows = [{"row": r.row, **{k: r.text(k) for k in DEMO_SHOWN}} for r in final.rows]
        left_json = money_json(left.amount, left.currency)
        emit_json({"workbook": str(target), "steps": steps, "rows": rows, "balance": left_json})
    titles = {**OUTPUT_COLUMNS, "service": "Service", "link": "Link"}
    click.echo("")
    click.echo(" | ".join(["Row", *(titles[k] for k in DEMO_SHOWN)]))
    for row in final.rows:
        cells = [str(row.row), *(_cut(row.text(k), DEMO_CELL_WIDTH) for k in DEMO_SHOWN)]
        click.echo(" | ".join(cells))
    click.echo(f"\nBalance left on the simulator: {money(left.amount)} {left.currency}")
    click.echo(f"Open {target} to see every column (4 rows carry an Error on purpose).")


#: How much of a cell the demo's table shows (the workbook has all of it).
DEMO_CELL_WIDTH = 38


def _cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut at a word with ``...`` when longer."""
    if len(text) <= width:
        return text
    head = text[: width - 3]
    return (head.rsplit(" ", 1)[0] if " " in head else head) + "..."


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


# --------------------------------------------------------------------------- many workbooks


def run_many(
    books: tuple[str, ...],
    *,
    jobs: int = DEFAULT_JOBS,
    **flags: Any,
) -> int:
    """``smmsheet run`` over one file (as :func:`run_book`) or several workbooks and folders.

    ``flags`` are :func:`run_book`'s. Each workbook runs with its own journal and lock,
    ``jobs`` at once, one client per panel. What may be paid is asked once for all (after
    a dry run that gathers the facts), or needs ``--yes`` without a terminal. One summary
    table; the exit code is the worst of the workbooks'.
    """
    from .batch import RunOptions
    from .fleet import PanelPool, book_paths, run_books

    if len(books) == 1 and not Path(books[0]).is_dir():
        return run_book(books[0], "run", **flags)
    sheet: str = flags.get("sheet", "Orders")
    dry_run: bool = flags.get("dry_run", False)
    allow_unpriced: bool = flags.get("allow_unpriced", False)
    new_journal: bool = flags.get("new_journal", False)
    as_json: bool = flags.get("as_json", False)
    max_spend = flags.get("max_spend")
    paths = book_paths(books)
    flag_cap = _flag_cap(max_spend, "--max-spend")
    day_cap = _flag_cap(flags.get("max_spend_per_day"), "--max-spend-per-day")
    gate = _Gate(yes=flags.get("yes", False) or dry_run)

    def options(path: Path, dry: bool = dry_run) -> RunOptions:
        return RunOptions(
            sheet=sheet,
            dry_run=dry,
            max_spend=flag_cap,
            max_spend_per_day=day_cap,
            allow_unpriced=allow_unpriced,
            confirm=lambda preview: gate.place(path, preview),
            confirm_cancel=lambda preview: gate.cancel(path, preview),
            journal_lost=lambda problem: _journal_lost_unasked(problem, new_journal),
        )

    panels = {k: flags.get(k) for k in ("panel_url", "api_key", "profile")}
    with PanelPool() as pool:
        if not gate.yes and not as_json and _interactive():
            facts = list(
                run_books(
                    paths,
                    "run",
                    pool=pool,
                    options=lambda p: options(p, dry=True),
                    jobs=jobs,
                    secrets=_SECRETS,
                    **panels,
                )
            )
            gate.ask_once(facts)
        runs = list(
            run_books(
                paths, "run", pool=pool, options=options, jobs=jobs, secrets=_SECRETS, **panels
            )
        )
    codes = [_book_exit(run) for run in runs] + [EXIT_USAGE for _ in gate.needs_yes]
    if as_json:
        emit_json(
            {
                "workbooks": [_fleet_json(run, dry_run) for run in runs],
                "needs_confirmation": [f"{path}: {what}" for path, what in gate.needs_yes],
            },
            max(codes, default=EXIT_OK),
        )
    _print_fleet(runs, dry_run)
    for path, what in gate.needs_yes:
        click.secho(
            _safe(f"{path}: {what} need confirmation; pass --yes (no terminal to ask)."),
            fg="yellow",
            err=True,
        )
    return max(codes, default=EXIT_OK)


class _Gate:
    """The one confirmation of a run over many workbooks: what each may pay and cancel.

    With ``yes`` everything goes. Asked at a terminal (:meth:`ask_once`), each workbook may
    then place up to what its dry run showed and was agreed to, no more (rows added since
    wait for the next run). Without a terminal nothing is paid, and it is said why.
    """

    def __init__(self, yes: bool) -> None:
        self.yes = yes
        self.asked = False
        #: What was agreed to per workbook: (orders, cost, cancels).
        self.agreed: dict[Path, tuple[int, Decimal, int]] = {}
        self.needs_yes: list[tuple[Path, str]] = []
        self._lock = threading.Lock()

    def ask_once(self, facts: list[FleetRun]) -> None:
        """Show what every workbook would pay and cancel; one question for all."""
        from .batch import Outcome

        self.asked = True
        wanted: dict[Path, tuple[int, Decimal, int]] = {}
        lines: list[str] = []
        totals: dict[str, Decimal] = {}
        cancels = 0
        for run in facts:
            report = run.report
            if report is None:
                continue
            p = report.preview
            orders = p.orders if p is not None else 0
            cost = p.cost if p is not None else Decimal(0)
            cancel = sum(1 for r in report.results if r.outcome == Outcome.WOULD_CANCEL)
            if not orders and not cancel:
                continue
            wanted[run.path] = (orders, cost, cancel)
            cancels += cancel
            if p is not None and orders:
                totals[p.currency] = totals.get(p.currency, Decimal(0)) + p.cost
                lines.append(f"  {run.path}: {orders} orders, {estimate(p)}")
            if cancel:
                lines.append(f"  {run.path}: cancel {cancel} orders")
        if not wanted:
            return
        orders_total = sum(w[0] for w in wanted.values())
        costs = ", ".join(f"about {money(v)} {c}".rstrip() for c, v in sorted(totals.items()))
        parts = [f"place {orders_total} orders for {costs}"] if orders_total else []
        if cancels:
            parts.append(f"cancel {cancels} orders")
        click.echo("\n".join(lines), err=True)
        question = f"Across {len(wanted)} workbooks: {' and '.join(parts)}. Go on?"
        if click.confirm(question, err=True):
            self.agreed = wanted

    def place(self, path: Path, preview: _Preview) -> bool:
        if self.yes:
            return True
        if not self.asked:
            with self._lock:
                self.needs_yes.append(
                    (path, f"Not placed: {preview.orders} orders for {estimate(preview)}")
                )
            return False
        orders, cost, _ = self.agreed.get(path, (0, Decimal(0), 0))
        return preview.orders <= orders and preview.cost <= cost

    def cancel(self, path: Path, preview: _CancelPreview) -> bool:
        if self.yes:
            return True
        if not self.asked:
            with self._lock:
                self.needs_yes.append((path, f"Not canceled: {preview.listed()}"))
            return False
        return len(preview.orders) <= self.agreed.get(path, (0, Decimal(0), 0))[2]


def _journal_lost_unasked(
    problem: str, new_journal: bool, way: str = "run it alone, or again with --new-journal"
) -> bool:
    """A lost journal with many workbooks: never asked (workbooks run at once)."""
    if new_journal:
        return True
    raise JournalMismatchError(f"{problem} ({way})")


#: A run's columns in the summary table: (title, step, outcome).
_FLEET_COLUMNS = (
    ("Placed", "place", "placed"),
    ("Updated", "status", "updated"),
    ("Refilled", "refill", "refilled"),
    ("Canceled", "cancel", "canceled"),
)


def _book_facts(run: FleetRun) -> list[str]:
    """One workbook's cells of the summary table (and of ``watch``'s log line)."""
    from .batch import FAILED_OUTCOMES

    report = run.report
    if report is None:
        return [run.state.value, *("-" for _ in _FLEET_COLUMNS), "-", "-"]
    counts = {(str(step), str(outcome)): n for (step, outcome), n in report.counts().items()}
    cells = [str(counts.get((step, outcome), 0)) for _, step, outcome in _FLEET_COLUMNS]
    problems = sum(1 for r in report.results if r.outcome in FAILED_OUTCOMES)
    spent = f"{money(report.spent)} {report.currency}".strip() if report.spent else "0"
    return [run.state.value, *cells, str(problems), spent]


_FLEET_TITLES = ["Workbook", "Result", *(c[0] for c in _FLEET_COLUMNS), "Problems", "Spent"]


def _book_line(run: FleetRun) -> str:
    """One workbook's run in one line: ``a.xlsx: ok placed=3 updated=3 ... spent=0.27 USD``."""
    facts = _book_facts(run)
    named = [f"{t.lower()}={v}" for t, v in zip(_FLEET_TITLES[2:], facts[1:], strict=True)]
    line = f"{run.path}: {facts[0]} " + " ".join(named)
    return _safe(line + (f" ({run.reason})" if run.reason else ""))


def _print_fleet(runs: list[FleetRun], dry_run: bool) -> None:
    """The one summary table of a run over many workbooks, then what needs a look."""
    rows = [[str(run.path), *_book_facts(run)] for run in runs]
    widths = [max(len(r[i]) for r in [_FLEET_TITLES, *rows]) for i in range(len(_FLEET_TITLES))]
    for row in [_FLEET_TITLES, *rows]:
        click.echo(_safe("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()))
    from .batch import ROUTINE_OUTCOMES

    for run in runs:
        if run.reason:
            click.echo(_safe(f"{run.path}: {run.state}: {run.reason}"), err=True)
        for message in run.messages:
            click.echo(_safe(f"{run.path}: {message}"), err=True)
        problems = [] if run.report is None else run.report.results
        problems = [r for r in problems if r.outcome not in ROUTINE_OUTCOMES]
        for r in problems[:5]:
            click.echo(
                _safe(f"{run.path}: row {r.row}: {r.step} {r.outcome}: {r.message}"), err=True
            )
        if len(problems) > 5:
            click.echo(
                f"{run.path}: ... and {len(problems) - 5} more (see the Error column)", err=True
            )
    if dry_run:
        click.echo("Dry run: nothing was sent or saved.")


def _fleet_json(run: FleetRun, dry_run: bool) -> dict[str, Any]:
    """One workbook of a run over many, as the JSON document lists it."""
    done = {} if run.report is None else report_json(run.report, dry_run=dry_run)
    return {
        "workbook": str(run.path),
        "result": run.state.value,
        "exit_code": _book_exit(run),
        "reason": run.reason,
        **done,
        "messages": run.messages,
    }


def _book_exit(run: FleetRun) -> int:
    """A workbook's exit code: 0 ok, 1 failed or skipped, 2 its file or settings are wrong."""
    from .fleet import BookState

    return {BookState.OK: EXIT_OK, BookState.ERROR: EXIT_USAGE}.get(run.state, EXIT_FAILED)


# --------------------------------------------------------------------------- on a schedule

#: Shortest ``watch --every``: a panel is not a thing to poll every second.
MIN_WATCH_SECONDS = 10
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _flag_cap(value: Decimal | str | None, flag: str) -> Decimal | None:
    """A spending cap given on the command line (None: not given), read as the Settings
    sheet's are (:func:`~smmsheet.config.spending_cap`)."""
    from .config import spending_cap

    return None if value is None else spending_cap(value, flag)


def _interval(text: str) -> float:
    """``--every``: ``90s``, ``10m``, ``1h``, ``1d`` (a bare number is minutes)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text.lower())
    if not match:
        raise click.BadParameter(f"{text!r} is not an interval such as 10m, 90s or 1h")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "m"]
    if seconds < MIN_WATCH_SECONDS:
        raise click.BadParameter(f"at least {MIN_WATCH_SECONDS}s between runs")
    return seconds


@cli.command()
@panel_options
@click.argument("books", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--every", default="10m", show_default=True, help="Time between runs: 90s, 10m, 1h.")
@click.option("--sheet", default="Orders", show_default=True, help="Order sheet name.")
@click.option(
    "--jobs",
    type=click.IntRange(1, 32),
    default=DEFAULT_JOBS,
    show_default=True,
    help="Workbooks run at once.",
)
@click.option(
    "--log", "log_file", type=click.Path(dir_okay=False), help="Append the run lines here."
)
@click.option("--times", type=click.IntRange(min=1), hidden=True, help="Stop after N runs.")
@json_option
def watch(
    books: tuple[str, ...],
    every: str,
    sheet: str,
    jobs: int,
    log_file: str | None,
    times: int | None,
    panel_url: str | None,
    api_key: str | None,
    profile: str | None,
    as_json: bool,
) -> None:
    """Run `run` over workbooks on a schedule, each paying up to its Settings Max spend.

    Orders are placed without asking (as with --yes), so every workbook must have a Max
    spend (the cap of each run) or a Max spend per day on its Settings sheet. Logs one
    line per workbook per run (with --json, a JSON object per line, and the document says
    how many runs were done);
    Ctrl-C stops after the run under way (twice: no further workbook starts; those under
    way still finish and save).
    """
    import datetime as dt
    import signal

    from .batch import RunOptions
    from .fleet import PanelPool, book_paths, capless, run_books
    from .fleet import watch as schedule

    seconds = _interval(every)
    uncapped = capless(book_paths(books))
    if uncapped:
        raise ConfigError(
            "watch places orders without asking, so each workbook needs a Max spend or a Max "
            f"spend per day on its Settings sheet; none in: {', '.join(map(str, uncapped))}"
        )
    stop = threading.Event()

    def log(line: str, stamp: bool = True) -> None:
        now = f"{dt.datetime.now():%Y-%m-%d %H:%M:%S} " if stamp else ""
        stamped = _safe(now + line)
        if log_file is None:
            click.echo(stamped, err=True)
            return
        try:
            with open(log_file, "a", encoding="utf-8") as out:
                out.write(stamped + "\n")
        except OSError as exc:
            raise ConfigError(f"cannot write the log {log_file}: {exc.strerror or exc}") from None

    def options(_: Path) -> RunOptions:
        return RunOptions(
            sheet=sheet,
            confirm=lambda _: True,  # --yes, within the Settings sheet's caps
            confirm_cancel=lambda _: True,
            journal_lost=lambda problem: _journal_lost_unasked(
                problem, False, "run it alone with `smmsheet run`, with --new-journal to agree"
            ),
        )

    def run_once(number: int) -> None:
        paths = book_paths(books)  # a folder's new workbooks join the next run
        refused = set(capless(paths))
        for path in refused:
            log(f"run {number} {path}: refused: no Max spend (per day) on its Settings sheet")
        runs = run_books(
            [p for p in paths if p not in refused],
            "run",
            pool=pool,
            options=options,
            jobs=jobs,
            panel_url=panel_url,
            api_key=api_key,
            profile=profile,
            secrets=_SECRETS,
        )
        for run in runs:
            if as_json:
                keys = ("workbook", "result", "exit_code", "reason", "steps", "spent")
                facts = {k: v for k, v in _fleet_json(run, False).items() if k in keys}
                when = f"{dt.datetime.now():%Y-%m-%d %H:%M:%S}"
                line = {"time": when, "run": number, **facts}
                log(json.dumps(line, default=str, ensure_ascii=True), stamp=False)
            else:
                log(f"run {number} {_book_line(run)}")

    def interrupted(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        click.echo("Stopping after the run under way (Ctrl-C again to stop now).", err=True)

    log(f"watching {plural(len(book_paths(books)), 'workbook')} every {every}")
    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        with PanelPool() as pool:
            done = schedule(run_once, every=seconds, stop=stop, times=times)
    finally:
        signal.signal(signal.SIGINT, previous)
    log(f"stopped after {plural(done, 'run')}")
    if as_json:
        emit_json({"runs": done})


@cli.command("new")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace PATH if it exists (its journal is kept).")
@json_option
def new_workbook(path: str, force: bool, as_json: bool) -> None:
    """Write a blank order workbook (Orders, Services, Settings, Help) to PATH."""
    import os

    from .journal import journal_path
    from .templates import build_orders_template
    from .workbook.xlsx import check_not_open

    target = Path(path)
    if target.suffix.lower() != ".xlsx":
        raise WorkbookError(f"{path}: an order workbook is an .xlsx file (e.g. orders.xlsx)")
    if not target.parent.is_dir():
        raise WorkbookError(f"cannot write {path}: there is no folder {target.parent}")
    if target.exists() and not force:
        raise WorkbookError(f"{path} exists: choose another name, or pass --force to replace it")
    check_not_open(target)  # even with --force: the open copy, saved, would undo it
    try:
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".smmsheet-new-") as tmp:
            os.replace(build_orders_template(Path(tmp) / target.name), target)
    except OSError as exc:
        raise WorkbookError(f"cannot write {path}: {exc.strerror or exc}") from None
    if as_json:
        emit_json({"workbook": path, "journal_kept": journal_path(target).exists()})
    click.echo(f"Wrote {path}: one order per row on its Orders sheet (Service, Link, Quantity).")
    click.echo(f"Next: smmsheet services --into {path}   (the Service drop-down)")
    click.echo("      fill in your orders, one per row, and save")
    click.echo(f"      smmsheet place {path} --dry-run")
    if journal_path(target).exists():
        click.echo(f"Kept {journal_path(target)}: the journal of the workbook that was there.")


# --------------------------------------------------------------------------- the add-in


@cli.group("addin", cls=_VerboseGroup)
def addin_cli() -> None:
    """Build, install or locate the Excel add-in (ribbon tab "smmsheet")."""


@addin_cli.command("build")
@click.option(
    "--out",
    default="smmsheet.xlam",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the add-in.",
)
@click.option(
    "--interpreter",
    metavar="PATH",
    help="Python for Excel on Windows (pythonw.exe of the environment that has smmsheet).",
)
@click.option("--interpreter-mac", metavar="PATH", help="Python for Excel on macOS.")
@json_option
def addin_build(
    out: str, interpreter: str | None, interpreter_mac: str | None, as_json: bool
) -> None:
    """Build smmsheet.xlam from the installed xlwings' ribbon template."""
    from .addin import build_addin  # pyopenvba and lxml load only when building

    interpreters = {
        key: value
        for key, value in (("Interpreter_Win", interpreter), ("Interpreter_Mac", interpreter_mac))
        if value
    }
    data = build_addin(out, interpreters=interpreters)
    if as_json:
        emit_json({"addin": str(Path(out).resolve()), "bytes": len(data), **interpreters})
    click.echo(f"Wrote {out} ({len(data):,} bytes).")


@addin_cli.command("install")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Install into this folder instead of Excel's XLSTART folder.",
)
@click.option(
    "--interpreter",
    metavar="PATH",
    help="The Python Excel runs (default: this one; pythonw.exe on Windows).",
)
@json_option
def addin_install(directory: str | None, interpreter: str | None, as_json: bool) -> None:
    """Build the add-in for this Python and copy it into Excel's startup folder."""
    from .addin import install_addin

    installed = install_addin(directory, interpreter=interpreter)
    script = str(installed.mac_script) if installed.mac_script is not None else None
    if as_json:
        emit_json({"addin": str(installed.addin), **installed.interpreters, "mac_script": script})
    click.echo(f"Installed {installed.addin}.")
    for key, value in installed.interpreters.items():
        click.echo(f"{key}: {value}")
    if script is not None:
        click.echo(f"RunPython enabled: {script}")
    click.echo("Restart Excel to see the smmsheet tab; `smmsheet addin doctor` checks it.")


@addin_cli.command("doctor")
@click.option(
    "--addin",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Check this add-in file instead of the installed one.",
)
@json_option
def addin_doctor(addin: Path | None, as_json: bool) -> None:
    """Check what Excel will run: add-in, interpreter, xlwings, DLL, panel (exit 1 on a failure)."""
    from .addin import _balance as panel_balance
    from .addin import doctor
    from .config import resolve_panel

    def balance() -> str:
        _SECRETS.add(resolve_panel().api_key)  # hidden from everything printed below
        return panel_balance()

    checks = doctor(addin, balance=balance)
    code = 0 if all(check.ok for check in checks) else 1
    if as_json:
        emit_json({"checks": [vars(check) for check in checks]}, code)
    for check in checks:
        click.echo(_safe(check.line()))
    if code:
        raise SystemExit(code)


@addin_cli.command("path")
@json_option
def addin_path(as_json: bool) -> None:
    """Print where `smmsheet addin install` puts the add-in."""
    from .addin import ADDIN_NAME, addin_dir

    if as_json:
        emit_json({"addin": str(addin_dir() / ADDIN_NAME)})
    click.echo(str(addin_dir() / ADDIN_NAME))
