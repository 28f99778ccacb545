"""What the ``smmsheet`` command prints: money, counts, a run's summary, and ``--json``.

One money format (:func:`money`), one way to count things (:func:`plural`), and one JSON
switch for every command: decorate the command with :func:`json_option` and end it with
:func:`emit_json`; errors of a command run with ``--json`` are printed as JSON by the CLI's
error edge (:func:`json_error`). Example::

    @cli.command()
    @json_option
    def balance(as_json: bool) -> None:
        result = ...
        if as_json:
            emit_json({"balance": money_json(result.amount, result.currency)})
        click.echo(f"{money(result.amount)} {result.currency}")

The JSON document is one object on stdout; its keys are documented in the README
("Output for scripts: --json").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from .errors import scrub
from .values import money, plural

if TYPE_CHECKING:
    from .batch import Preview, Report

__all__ = [
    "JSON_SCHEMA",
    "SECRETS",
    "emit_json",
    "hide_keys",
    "estimate",
    "json_error",
    "json_option",
    "json_requested",
    "money",
    "money_json",
    "plural",
    "report_json",
    "rows_text",
    "summary_lines",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The version of the JSON documents' layout; raised when a key changes meaning or goes.
JSON_SCHEMA = 1
#: Where the ``--json`` flag is remembered for the error edge (``ctx.meta`` is shared by a
#: command's context and its group's).
_JSON_META = "smmsheet.json"
_ARGV_META = "smmsheet.argv"
#: The command whose flags were parsed (``addin path``): its error document names it.
_COMMAND_META = "smmsheet.command"
#: The API keys this process uses; nothing it prints may contain one (the CLI adds them).
SECRETS: set[str] = set()


# --------------------------------------------------------------------------- words


def money_json(amount: Decimal | None, currency: str) -> dict[str, str | None]:
    """An amount for JSON: exact decimal text (never a float) and its currency."""
    return {"amount": None if amount is None else str(amount), "currency": currency}


def rows_text(numbers: Iterable[int], shown: int = 10) -> str:
    """Sheet rows for a message: ``row 2``, ``rows 2, 5, 9``, ``rows 2, 3, ... (40 rows)``."""
    rows = list(numbers)
    if len(rows) == 1:
        return f"row {rows[0]}"
    text = ", ".join(map(str, rows[:shown]))
    more = f", ... ({len(rows)} rows)" if len(rows) > shown else ""
    return f"rows {text}{more}"


def estimate(preview: Preview) -> str:
    """What placing may cost: ``about 9.021 USD``, ``0.006 to 6.00 USD`` where panels differ."""
    return f"{preview.cost_text()} {preview.currency}".rstrip()


# --------------------------------------------------------------------------- a run's summary


def step_counts(report: Report) -> list[tuple[str, str, int]]:
    """(step, outcome, rows), in the order the run did them (first seen first)."""
    counts: dict[tuple[str, str], int] = {}
    for result in report.results:
        key = (str(result.step), str(result.outcome))
        counts[key] = counts.get(key, 0) + 1
    return [(step, outcome, n) for (step, outcome), n in counts.items()]


def summary_lines(
    report: Report, *, dry_run: bool, declined: bool = False, held: bool = False
) -> list[str]:
    """The summary printed after a run: steps, plan, money spent, statuses, attention.

    ``declined``: the user answered no to placing, so the plan is what was declined.
    ``held``: something was there to do but was declined or waits for ``--yes``.
    """
    lines: list[str] = []
    counts = step_counts(report)
    if counts:
        width = max(len(step) for step, _, _ in counts)
        lines += [f"  {step:<{width}}  {outcome:<12} {n:>6}" for step, outcome, n in counts]
    elif report.preview is None and not held:  # a plan not carried out is something
        lines.append("  nothing to do")
    if report.preview is not None:
        p = report.preview
        verb = "Would place" if dry_run else "Declined:" if declined else "Planned"
        lines.append(
            f"{verb} {plural(p.orders, 'order')} for {estimate(p)} (balance {p.balance_text()})."
        )
    if report.spent or report.uncharged:
        spent = f"{money(report.spent)} {report.currency}".rstrip()
        if report.uncharged:
            lines.append(
                f"Spent about {spent}: {plural(report.uncharged, 'charge')} not reported by "
                "the panel yet, counted at the estimate."
            )
        else:
            lines.append(f"Spent {spent} (the panel's charges for the orders placed).")
    if report.statuses:
        shown = ", ".join(
            f"{status or 'no status yet'} {n}" for status, n in sorted(report.statuses.items())
        )
        lines.append(f"Orders in the sheet by status: {shown}.")
    attention = attention_parts(report)
    if attention:
        lines.append("Needs attention: " + "; ".join(attention) + ".")
    return lines


def attention_parts(report: Report) -> list[str]:
    """What the user should look at after the run, one phrase each."""
    parts: list[str] = []
    if report.error_rows:
        parts.append(
            f"{plural(len(report.error_rows), 'row')} with an error "
            f"({rows_text(report.error_rows)})"
        )
    if report.ambiguous_rows:
        rows = rows_text(report.ambiguous_rows)
        parts.append(
            f"{plural(len(report.ambiguous_rows), 'row')} that may have been placed ({rows}): "
            "check the panel's orders, then type the order id or PLACE AGAIN"
        )
    if report.journal_waiting:
        parts.append(
            f"{plural(report.journal_waiting, 'journal entry', 'journal entries')} "
            "not in the workbook yet (written by the next run)"
        )
    return parts


def report_json(report: Report, *, dry_run: bool) -> dict[str, Any]:
    """A run's report as the JSON document's keys (see the README for the schema)."""
    preview = report.preview
    plan = None
    if preview is not None:
        plan = {
            "orders": preview.orders,
            "rows": list(preview.rows),
            "cost": str(preview.cost),
            "cost_low": None if preview.cost_low is None else str(preview.cost_low),
            "currency": preview.currency,
            "balance": str(preview.balance),
            "unpriced_rows": list(preview.unpriced),
            "unknown_cost_rows": list(preview.unknown_cost),
            "per_panel": list(preview.by_panel),
            "unconverted_rows": list(preview.unconverted),
        }
    return {
        "dry_run": dry_run,
        "saved": report.saved,
        "plan": plan,
        "spent": {
            **money_json(report.spent, report.currency),
            "estimated_orders": report.uncharged,
        },
        "steps": [{"step": s, "outcome": o, "rows": n} for s, o, n in step_counts(report)],
        "statuses": dict(sorted(report.statuses.items())),
        "attention": {
            "error_rows": list(report.error_rows),
            "may_have_been_placed_rows": list(report.ambiguous_rows),
            "journal_waiting": report.journal_waiting,
        },
        "results": [
            {"row": r.row, "step": str(r.step), "outcome": str(r.outcome), "message": r.message}
            for r in report.results
        ],
        "messages": list(report.messages),
    }


# --------------------------------------------------------------------------- --json


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    ctx.meta[_COMMAND_META] = _command_name(ctx)
    if value:
        ctx.meta[_JSON_META] = True
    return value


def json_option(func: F) -> F:
    """The ``--json`` flag (parameter ``as_json``): one JSON document on stdout, errors too."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        callback=_remember_json,
        help="Print one JSON document on stdout (errors too) instead of text.",
    )(func)


def remember_argv(ctx: click.Context, args: Iterable[str]) -> None:
    """Keep the raw arguments: a usage error may come before ``--json`` is parsed."""
    ctx.meta[_ARGV_META] = list(args)


def json_requested(ctx: click.Context) -> bool:
    """Whether the command was run with ``--json`` (parsed, or at least typed)."""
    if ctx.meta.get(_JSON_META):
        return True
    argv: list[str] = ctx.meta.get(_ARGV_META, [])
    typed = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in typed


def _dumps(document: Mapping[str, Any], safe: Callable[[str], str]) -> str:
    # ensure_ascii: every control character (and C1 escape) is written as \\uXXXX, so panel
    # text cannot drive a terminal; ``safe`` hides the keys in every text value.
    return json.dumps(_hidden(document, safe), indent=2, ensure_ascii=True, default=str)


def _hidden(value: Any, safe: Callable[[str], str]) -> Any:
    """``value`` with ``safe`` applied to every text in it."""
    if isinstance(value, str):
        return safe(value)
    if isinstance(value, Mapping):
        return {k: _hidden(v, safe) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_hidden(v, safe) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def _command_name(ctx: click.Context) -> str:
    return " ".join(ctx.command_path.split()[1:])  # "place", "addin doctor"


def _document(ctx: click.Context, exit_code: int, data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "schema": JSON_SCHEMA,
        "command": _command_name(ctx),
        "ok": exit_code == 0,
        "exit_code": exit_code,
        **data,
    }


def hide_keys(text: str) -> str:
    """``text`` without any of the :data:`SECRETS`."""
    return scrub(text, SECRETS)


def emit_json(data: Mapping[str, Any], exit_code: int = 0) -> NoReturn:
    """Print a command's JSON document on stdout and end the command with ``exit_code``.

    Every text in it goes through :func:`hide_keys`; decimals are written as exact text.
    """
    ctx = click.get_current_context()
    click.echo(_dumps(_document(ctx, exit_code, data), hide_keys))
    ctx.exit(exit_code)


def json_error(ctx: click.Context, exit_code: int, kind: str, message: str) -> None:
    """Print an error as the JSON document of a command run with ``--json``."""
    document = {
        "schema": JSON_SCHEMA,
        "command": ctx.meta.get(_COMMAND_META) or ctx.invoked_subcommand,
        "ok": False,
        "exit_code": exit_code,
        "error": {"type": kind, "message": message},
    }
    click.echo(_dumps(document, hide_keys))
