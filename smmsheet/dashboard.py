"""The dashboard: what the order rows add up to, as tables a workbook draws as charts. Pure.

:func:`summarize` reads an order sheet's values (the same table the engine reads, plus the
``Panel``, ``Cost``, ``Profit`` columns when the sheet has them) into a :class:`Summary` of
exact decimals; :func:`dashboard_sheet` turns it into a
:class:`~smmsheet.workbook.charts.ChartSheet`: a totals table and one chart per view
(spend per day, spend and profit per service and per panel, status mix, refill outcomes).

Spend is what the panel reported it charged (the Charge column), summed per currency and
never converted: two currencies make two series. Profit is the sum of the Profit column
(already in the reporting currency). A day is the day the order was placed, from the
journal when it knows the order (by panel and id: two panels may both issue 1001), else
the day of the row's Updated time. A refill window "ends soon" within the days the engine's
notes use (the Settings sheet's ``Refill warning days``), so both count the same orders.

Example::

    summary = summarize(book.read_values("Orders"), placed_on={("", "1001"): date(2026, 11, 2)})
    book.write_chart_sheet(dashboard_sheet(summary, now=datetime.now()), DASHBOARD_SHEETS)
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from .orders import AMBIGUOUS_MARK, NOTE_MARK, OrderTable, is_final, normalize_header
from .refill_window import DEFAULT_REFILL_WARNING_DAYS
from .values import MAX_NUMBER_DIGITS, Unreadable, amount, parse_decimal, plural
from .workbook.base import CellValue
from .workbook.charts import ChartKind, ChartSheet, DataTable

__all__ = [
    "CURRENCIES",
    "DASHBOARD_SHEETS",
    "SIGNATURE",
    "Summary",
    "dashboard_sheet",
    "summarize",
]

#: Where the dashboard goes: ``Dashboard``, or beside a user's own sheet of that name.
DASHBOARD_SHEETS = ("Dashboard", "Dashboard (smmsheet)")
#: The first cell of the sheet, by which a later report knows the sheet is its own.
SIGNATURE = "smmsheet dashboard"
#: Categories drawn at most in a chart per service or panel, and slices in a pie of
#: statuses; the rest are one "Other".
TOP = 12
#: Currencies drawn at most as series (the most spent; every one keeps its Totals line):
#: a Currency column of free text must not make a series and a column per text.
CURRENCIES = 6
#: Days drawn at most in the spend-per-day chart (the most recent ones).
DAYS = 60
NO_DATE = "(no date)"
NO_STATUS = "(no status yet)"
DEFAULT_PANEL = "(default)"
PROFIT = "Profit"
#: Columns other features add to the order sheet, read here when present.
_EXTRA_COLUMNS = {
    "panel": "Panel",
    "cost": "Cost",
    "profit": "Profit",
    "refill_until": "Refill until",
}
#: Margins as the profit column shows them: a fraction to 4 places (0.4000 is 40%).
MARGIN_PLACES = Decimal("0.0001")
_DAY = re.compile(r"\s*(\d{4})-(\d{2})-(\d{2})")

#: category -> series -> amount (a series is "Spend (USD)", "Profit", a count, ...).
Groups = dict[str, dict[str, Decimal]]


@dataclass
class Summary:
    """What the order rows add up to, in exact decimals."""

    rows: int = 0
    orders: int = 0
    open: int = 0
    not_placed: int = 0
    errors: int = 0
    #: Rows whose add may have been placed: the user must check the panel.
    to_check: int = 0
    charges_pending: int = 0
    #: Rows whose Order ID an earlier row already has (a copied row): counted once.
    repeated: int = 0
    #: currency ("" when the sheet does not say) -> spend.
    spend: dict[str, Decimal] = field(default_factory=dict)
    profit: Decimal | None = None
    cost: Decimal | None = None
    refills: int = 0
    refills_open: int = 0
    #: Orders whose refill window (``Refill until``) ends within ``soon_days``, or has ended;
    #: None when the sheet has no such column.
    windows_ending: int | None = None
    soon_days: int = DEFAULT_REFILL_WARNING_DAYS
    windows_ended: int | None = None
    by_day: Groups = field(default_factory=dict)
    by_service: Groups = field(default_factory=dict)
    by_panel: Groups = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    refill_statuses: dict[str, int] = field(default_factory=dict)

    @property
    def drawn_currencies(self) -> list[str]:
        """The currencies the charts draw: the ``CURRENCIES`` most spent, in name order."""
        ranked = sorted(self.spend, key=lambda c: (-self.spend[c], c))
        return sorted(ranked[:CURRENCIES])

    @property
    def spend_series(self) -> list[str]:
        """The names of the spend series: one per drawn currency, in a stable order."""
        return [f"Spend ({c})" if c else "Spend" for c in self.drawn_currencies]


def _extra_columns(values: Sequence[Sequence[CellValue]], header_row: int) -> dict[str, int]:
    """0-based indexes of the extra columns in the header row."""
    wanted = {normalize_header(title): key for key, title in _EXTRA_COLUMNS.items()}
    found: dict[str, int] = {}
    for index, text in enumerate(values[header_row - 1]):
        key = wanted.get(normalize_header(text))
        if key is not None and key not in found:
            found[key] = index
    return found


def _add(groups: Groups, category: str, series: str, amount: Decimal) -> None:
    line = groups.setdefault(category, {})
    line[series] = line.get(series, Decimal(0)) + amount


class _Labels:
    """Counts texts under the first spelling seen of each ("Completed" = "COMPLETED ")."""

    def __init__(self, counts: dict[str, int], empty: str) -> None:
        self.counts = counts
        self.empty = empty
        self._by_key: dict[str, str] = {}
        self._by_text: dict[str, str] = {}  # a sheet repeats a few texts 100,000 times

    def count(self, text: str) -> None:
        shown = self._by_text.get(text)
        if shown is None:
            key = normalize_header(text)
            shown = self._by_key.setdefault(key, text.strip()) if key else self.empty
            self._by_text[text] = shown
        self.counts[shown] = self.counts.get(shown, 0) + 1


def _date(value: CellValue) -> dt.date | None:
    """The date of a cell: a date, or text starting ``YYYY-MM-DD``; None for anything else."""
    if isinstance(value, dt.date):
        return value.date() if isinstance(value, dt.datetime) else value
    match = _DAY.match(value) if isinstance(value, str) else None
    try:
        return dt.date(*(int(part) for part in match.groups())) if match else None
    except ValueError:
        return None


def _money(value: CellValue) -> Decimal | None:
    """The amount a Charge, Cost or Profit cell holds: read as a typed amount first
    ("1.234,50" is 1234.50, which the panel-reply reader took for 1.2345), else as tolerantly
    as a panel reply ("12 apples"); None without a number or with one too large to be real."""
    try:
        number = amount(value)
    except Unreadable:
        return parse_decimal(value)
    return number if number.is_finite() and number.adjusted() < MAX_NUMBER_DIGITS else None


def _day_of(updated: CellValue) -> str:
    day = _date(updated)
    return NO_DATE if day is None else day.isoformat()


def summarize(
    values: Sequence[Sequence[CellValue]],
    *,
    placed_on: Mapping[tuple[str, str], dt.date] | None = None,
    today: dt.date | None = None,
    soon_days: int = DEFAULT_REFILL_WARNING_DAYS,
) -> Summary:
    """Add up an order sheet's ``values``; ``placed_on`` maps (panel, order id) to the day
    the order was placed (the panel as its ``Panel`` cell names it, "" for the default),
    and refill windows are counted against ``today`` (the local date when not given),
    "ending" within ``soon_days``.

    Raises :class:`~smmsheet.errors.LayoutError` when the sheet has no order header.

    >>> s = summarize([["Service", "Link", "Order ID", "Charge"], [1, "x", 7, "0.1"],
    ...                [1, "y", 8, 0.2]])
    >>> s.orders, s.spend
    (2, {'': Decimal('0.3')})
    """
    placed_on = placed_on or {}
    issuers: dict[str, list[dt.date]] = {}
    for (_, placed_id), placed_day in placed_on.items():
        issuers.setdefault(placed_id, []).append(placed_day)
    one_panel = {placed_id: found[0] for placed_id, found in issuers.items() if len(found) == 1}
    table = OrderTable.from_values(values)
    extra = _extra_columns(values, table.header_row)
    summary = Summary(rows=len(table.rows), soon_days=soon_days)
    today = today or dt.date.today()
    if "refill_until" in extra:
        summary.windows_ending = summary.windows_ended = 0
    statuses = _Labels(summary.statuses, NO_STATUS)
    refill_statuses = _Labels(summary.refill_statuses, NO_STATUS)
    days: dict[CellValue, str] = {}  # Updated cell -> day; one run writes one time
    seen: set[tuple[str, str]] = set()  # (panel, order id) counted: each charged once
    for row in table.rows:
        raw = values[row.row - 1]

        def cell(key: str, raw: Sequence[CellValue] = raw) -> CellValue:
            index = extra.get(key)
            return raw[index] if index is not None and index < len(raw) else None

        error = row.text("error")
        if error and not error.startswith(NOTE_MARK):
            summary.errors += 1
            summary.to_check += error.lower().startswith(AMBIGUOUS_MARK)
        order_id = row.order_id
        if order_id is None:
            summary.not_placed += 1
            continue
        named = str(cell("panel") or "").strip()
        panel = named or DEFAULT_PANEL
        if (panel.casefold(), order_id) in seen:  # ids are only unique on their own panel
            summary.repeated += 1
            continue
        seen.add((panel.casefold(), order_id))
        summary.orders += 1
        if not is_final(row.get("status")):
            summary.open += 1
        statuses.count(row.text("status"))
        until = _date(cell("refill_until"))  # "Lifetime", "No refill": no end
        if until is not None and summary.windows_ended is not None:
            if until < today:
                summary.windows_ended += 1
            elif (until - today).days <= soon_days:
                summary.windows_ending = (summary.windows_ending or 0) + 1
        if row.refill_id is not None:
            summary.refills += 1
            if not is_final(row.get("refill_status"), refill=True):
                summary.refills_open += 1
            refill_statuses.count(row.text("refill_status"))
        charge = _money(row.get("charge"))
        currency = row.text("currency").upper()
        if charge is None:
            summary.charges_pending += 1
            charge = Decimal(0)
        summary.spend[currency] = summary.spend.get(currency, Decimal(0)) + charge
        profit = _money(cell("profit")) if "profit" in extra else None
        if profit is not None:
            summary.profit = (summary.profit or Decimal(0)) + profit
        cost = _money(cell("cost")) if "cost" in extra else None
        if cost is not None:
            summary.cost = (summary.cost or Decimal(0)) + cost
        placed = placed_on.get((named, order_id))
        if placed is None and not named:  # the journal names the default panel by its profile
            placed = one_panel.get(order_id)
        if placed is not None:
            day = placed.isoformat()
        else:
            updated = row.get("updated")
            day = days.get(updated) or days.setdefault(updated, _day_of(updated))
        service = row.text("service") or "(no service)"
        for groups, category in (
            (summary.by_day, day),
            (summary.by_service, service),
            (summary.by_panel, panel),
        ):
            _add(groups, category, currency, charge)
            if profit is not None:
                _add(groups, category, PROFIT, profit)
    if "profit" in extra and summary.profit is None:
        summary.profit = Decimal(0)
    return summary


def _money_rows(
    summary: Summary, groups: Groups, order: Sequence[str], other: bool
) -> tuple[tuple[str, ...], tuple[tuple[CellValue, ...], ...]]:
    """Header and rows of a money table: the categories in ``order``, an "Other" line."""
    currencies = summary.drawn_currencies
    series = [*currencies, *([PROFIT] if summary.profit is not None else [])]
    names = [*summary.spend_series, *([PROFIT] if summary.profit is not None else [])]
    shown = list(order)
    rest = [c for c in groups if c not in set(shown)] if other else []
    rows: list[tuple[CellValue, ...]] = [
        (c, *(groups[c].get(s, Decimal(0)) for s in series)) for c in shown
    ]
    if rest:
        totals = [sum((groups[c].get(s, Decimal(0)) for c in rest), Decimal(0)) for s in series]
        rows.append((f"Other ({len(rest)})", *totals))
    return tuple(names), tuple(rows)


def _top(groups: Groups) -> list[str]:
    """The categories with the largest spend (all currencies), at most ``TOP``."""

    def spend(category: str) -> Decimal:
        return sum((v for k, v in groups[category].items() if k != PROFIT), Decimal(0))

    ranked = sorted(groups, key=lambda c: (-spend(c), c))
    return ranked[:TOP] if len(ranked) > TOP + 1 else ranked


def _counts(title: str, what: str, unit: str, counts: dict[str, int]) -> DataTable:
    """A pie of ``counts``: the ``TOP`` largest slices and one "Other" (statuses are panel
    text: a panel may send thousands of different ones)."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    rows: list[tuple[CellValue, ...]] = list(ranked)
    if len(ranked) > TOP + 1:
        rest = ranked[TOP:]
        rows = [*ranked[:TOP], (f"Other ({len(rest)})", sum(n for _, n in rest))]
    return DataTable(title, (what, unit), tuple(rows) or (("(none)", 0),), ChartKind.PIE)


def dashboard_sheet(summary: Summary, *, now: dt.datetime, source: str = "Orders") -> ChartSheet:
    """The dashboard as tables with charts; ``now`` and ``source`` go in its heading."""
    money: list[tuple[str, CellValue]] = []
    for currency in sorted(summary.spend):
        money.append((f"Spent{f' ({currency})' if currency else ''}", summary.spend[currency]))
    if summary.cost is not None:
        money.append(("Cost (reporting currency)", summary.cost))
    if summary.profit is not None:
        money.append(("Profit", summary.profit))
        revenue = (summary.cost or Decimal(0)) + summary.profit
        if summary.cost is not None and revenue:
            margin = (summary.profit / revenue).quantize(MARGIN_PLACES)
            money.append(("Margin (profit / sales)", margin))
    windows: list[tuple[str, CellValue]] = []
    if summary.windows_ended is not None:
        soon = f"Refill windows ending in {plural(summary.soon_days, 'day')}"
        windows = [
            (soon, summary.windows_ending),
            ("Refill windows ended", summary.windows_ended),
        ]
    totals = DataTable(
        "Totals",
        ("What", "Value"),
        (
            ("Orders placed", summary.orders),
            ("Open orders", summary.open),
            ("Rows not placed", summary.not_placed),
            ("Rows with an error", summary.errors),
            ("Rows to check on the panel (may have been placed)", summary.to_check),
            *(
                [("Rows repeating an order ID (counted once)", summary.repeated)]
                if summary.repeated
                else []
            ),
            *money,
            ("Charges not reported yet", summary.charges_pending),
            ("Refills requested", summary.refills),
            ("Refills open", summary.refills_open),
            *windows,
        ),
    )
    days = sorted(d for d in summary.by_day if d != NO_DATE)[-DAYS:]
    if NO_DATE in summary.by_day:
        days.append(NO_DATE)
    tables = [totals]
    for title, what, groups, order, other, kind in (
        ("Spend per day", "Day", summary.by_day, days, False, ChartKind.COLUMN),
        (
            "Spend and profit per service",
            "Service",
            summary.by_service,
            _top(summary.by_service),
            True,
            ChartKind.BAR,
        ),
        (
            "Spend and profit per panel",
            "Panel",
            summary.by_panel,
            _top(summary.by_panel),
            True,
            ChartKind.BAR,
        ),
    ):
        names, rows = _money_rows(summary, groups, order, other)
        if not rows:
            rows = (("(none)", *([Decimal(0)] * len(names))),)
        if not names:
            names, rows = ("Spend",), tuple((r[0], Decimal(0)) for r in rows)
        if summary.profit is None:
            title = title.replace(" and profit", "")
        tables.append(DataTable(title, (what, *names), rows, kind))
    tables.append(_counts("Status mix", "Status", "Orders", summary.statuses))
    tables.append(_counts("Refill outcomes", "Refill status", "Refills", summary.refill_statuses))
    heading = (
        SIGNATURE,
        f"From sheet {source}, refreshed {now:%Y-%m-%d %H:%M} by smmsheet report. "
        "Spend is what the panel charged; run smmsheet report again to refresh.",
    )
    return ChartSheet(heading, tuple(tables))
