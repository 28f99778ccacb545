"""`smmsheet report`: the sums (pure), the Dashboard sheet and its native charts in real files.

The sums are checked on small grids; the sheet is written into workbooks from xlsxwriter,
openpyxl and LibreOffice, then checked part by part (everything else byte for byte), by
the Open XML SDK validator and by LibreOffice itself (it must read the charts back).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import zipfile
import zlib
from collections import Counter
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree

from smmsheet.cli import cli
from smmsheet.dashboard import (
    DASHBOARD_SHEETS,
    NO_DATE,
    SIGNATURE,
    TOP,
    dashboard_sheet,
    summarize,
)
from smmsheet.errors import LayoutError, WorkbookBusyError, WorkbookError
from smmsheet.journal import Action, Journal, State, journal_path
from smmsheet.session import write_report
from smmsheet.workbook.charts import ChartKind, ChartSheet, DataTable
from smmsheet.workbook.live import XlwingsWorkbook
from smmsheet.workbook.xlsx import XlsxWorkbook
from smmsheet.workbook.xlsx.chart_sheet import chart_ref

from . import workbooks as wb
from .conftest import make_orders_book, run_engine
from .fake_excel import FakeBook

NOW = dt.datetime(2026, 11, 25, 12, 0)
HEADER = ["Service", "Link", "Order ID", "Status", "Charge", "Currency", "Updated"]
C = "http://schemas.openxmlformats.org/drawingml/2006/chart"
REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
#: The parts a first report may change in a workbook (besides the parts it adds).
REGISTERING_PARTS = {"[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels"}


def table(sheet: ChartSheet, title: str) -> DataTable:
    return next(t for t in sheet.tables if t.title == title)


def totals(sheet: ChartSheet) -> dict[str, Any]:
    return {str(row[0]): row[1] for row in table(sheet, "Totals").rows}


def report(path: Path, **kw: Any) -> str:
    return write_report(path, now=NOW, **kw).sheet


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# -- the sums -----------------------------------------------------------------------------


def test_spend_is_the_exact_sum_of_what_the_panel_charged() -> None:
    summary = summarize(
        [
            HEADER,
            [1, "a", 1001, "Completed", 0.1, "USD", None],
            [1, "b", 1002, "Pending", "0.2", "USD", None],
            [2, "c", 1003, "Partial", Decimal("0.0000001"), "usd", None],
        ]
    )
    assert summary.spend == {"USD": Decimal("0.3000001")}  # not 0.30000000000000004
    assert (summary.orders, summary.open) == (3, 1)


def test_two_currencies_make_two_series_never_one_sum() -> None:
    sheet = dashboard_sheet(
        summarize(
            [
                HEADER,
                [1, "a", 1, "Completed", 2, "USD", None],
                [1, "b", 2, "Completed", 3, "EUR", None],
            ]
        ),
        now=NOW,
    )
    per_service = table(sheet, "Spend per service")
    assert per_service.header == ("Service", "Spend (EUR)", "Spend (USD)")
    assert per_service.rows == (("1", Decimal(3), Decimal(2)),)
    assert totals(sheet)["Spent (EUR)"] == 3 and totals(sheet)["Spent (USD)"] == 2


def test_a_day_is_the_journal_placing_day_else_the_updated_day() -> None:
    summary = summarize(
        [
            HEADER,
            [1, "a", 1001, "Completed", 1, "", "2026-11-24 10:00:00"],  # journal knows it
            [1, "b", 1002, "Completed", 2, "", "2026-11-24 10:00:00"],
            [1, "c", 1003, "Completed", 4, "", dt.datetime(2026, 11, 20, 9, 0)],
            [1, "d", 1004, "Completed", 8, "", "yesterday"],
        ],
        placed_on={("", "1001"): dt.date(2026, 11, 2)},
    )
    assert summary.by_day == {
        "2026-11-02": {"": Decimal(1)},
        "2026-11-24": {"": Decimal(2)},
        "2026-11-20": {"": Decimal(4)},
        NO_DATE: {"": Decimal(8)},
    }
    days = table(dashboard_sheet(summary, now=NOW), "Spend per day")
    assert [row[0] for row in days.rows] == ["2026-11-02", "2026-11-20", "2026-11-24", NO_DATE]


def test_an_order_id_two_panels_issued_takes_the_day_of_its_own_panel() -> None:
    rows = [
        [*HEADER, "Panel"],
        [1, "a", 1001, "Completed", 1, "", "2026-11-24 10:00:00", None],  # the default panel
        [1, "b", 1001, "Completed", 2, "", "2026-11-24 10:00:00", "eu"],
        [1, "c", 1002, "Completed", 4, "", "2026-11-24 10:00:00", None],
    ]
    both = {("", "1001"): dt.date(2026, 11, 2), ("eu", "1001"): dt.date(2026, 11, 20)}
    assert summarize(rows, placed_on=both).by_day == {
        "2026-11-02": {"": Decimal(1)},
        "2026-11-20": {"": Decimal(2)},
        "2026-11-24": {"": Decimal(4)},
    }
    # A journal that names the default panel by its profile ("main"): an id only one panel
    # issued is still dated; one two panels issued is not given the other panel's day.
    profiled = {
        ("main", "1001"): dt.date(2026, 11, 2),
        ("eu", "1001"): dt.date(2026, 11, 20),
        ("main", "1002"): dt.date(2026, 11, 3),
    }
    assert summarize(rows, placed_on=profiled).by_day == {
        "2026-11-24": {"": Decimal(1)},
        "2026-11-20": {"": Decimal(2)},
        "2026-11-03": {"": Decimal(4)},
    }


def test_status_and_refill_mix_count_each_spelling_once() -> None:
    summary = summarize(
        [
            [*HEADER, "Refill ID", "Refill Status"],
            [1, "a", 1, "Completed", 1, "", None, 501, "Rejected"],
            [1, "b", 2, "COMPLETED ", 1, "", None, 502, "Completed"],
            [1, "c", 3, "in_progress", 1, "", None, 503, None],
            [1, "d", 4, None, None, "", None, None, None],
            [1, "e", None, None, None, "", None, None, None],  # not placed: not an order
        ]
    )
    assert summary.statuses == {"Completed": 2, "in_progress": 1, "(no status yet)": 1}
    assert summary.refill_statuses == {"Rejected": 1, "Completed": 1, "(no status yet)": 1}
    assert (summary.refills, summary.refills_open) == (3, 1)
    assert (summary.not_placed, summary.charges_pending) == (1, 1)
    sheet = dashboard_sheet(summary, now=NOW)
    assert table(sheet, "Status mix").chart == ChartKind.PIE
    assert table(sheet, "Status mix").rows[0] == ("Completed", 2)


def test_profit_and_panel_columns_of_other_features_are_read_when_present() -> None:
    summary = summarize(
        [
            [*HEADER, "Panel", "Cost", "Profit"],
            [1, "a", 1, "Completed", "1.50", "USD", None, "cheap", "1.50", "0.50"],
            [1, "b", 2, "Completed", "2.00", "USD", None, None, "2.00", "-0.25"],
        ]
    )
    assert summary.profit == Decimal("0.25") and summary.cost == Decimal("3.50")
    assert summary.by_panel == {
        "cheap": {"USD": Decimal("1.50"), "Profit": Decimal("0.50")},
        "(default)": {"USD": Decimal("2.00"), "Profit": Decimal("-0.25")},
    }
    sheet = dashboard_sheet(summary, now=NOW)
    assert table(sheet, "Spend and profit per panel").header == ("Panel", "Spend (USD)", "Profit")
    assert totals(sheet)["Margin (profit / sales)"] == Decimal("0.0667")  # 0.25 / (3.50 + 0.25)


def test_refill_windows_ending_soon_or_ended_are_counted_when_the_column_is_there() -> None:
    today = dt.date(2026, 11, 25)
    summary = summarize(
        [
            [*HEADER, "Refill until"],
            [1, "a", 1, "Completed", 1, "", None, "2026-11-20"],  # ended
            [1, "b", 2, "Completed", 1, "", None, dt.datetime(2026, 11, 30)],  # 5 days
            [1, "c", 3, "Completed", 1, "", None, "2026-12-31"],  # later
            [1, "d", 4, "Completed", 1, "", None, "Lifetime"],
            [1, "e", 5, "Completed", 1, "", None, "No refill"],
            [1, "f", None, None, None, "", None, "2026-11-01"],  # not placed
        ],
        today=today,
        soon_days=7,
    )
    assert (summary.windows_ending, summary.windows_ended) == (1, 1)
    assert totals(dashboard_sheet(summary, now=NOW))["Refill windows ended"] == 1
    assert totals(dashboard_sheet(summary, now=NOW))["Refill windows ending in 7 days"] == 1
    without = dashboard_sheet(summarize([HEADER], today=today), now=NOW)
    assert "Refill windows ended" not in totals(without)


def test_ending_soon_means_what_the_runs_notes_mean_the_settings_warning_days(
    tmp_path: Path,
) -> None:
    # A window 5 days away: the engine's default (3 days) does not note it, so neither may
    # the dashboard; a Settings sheet's "Refill warning days" of 10 counts it in both.
    from openpyxl import load_workbook

    def ending(path: Path) -> dict[str, Any]:
        shown = totals(dashboard_sheet(write_report(path, now=NOW).summary, now=NOW))
        return {k: v for k, v in shown.items() if k.startswith("Refill windows ending")}

    until = NOW.date() + dt.timedelta(days=5)
    path = make_orders_book(
        tmp_path / "orders.xlsx",
        [[1, "a", 1001, "Completed", 1, "USD", None, until]],
        [*HEADER, "Refill until"],
    )
    assert ending(path) == {"Refill windows ending in 3 days": 0}
    book = load_workbook(path)
    book.create_sheet("Settings").append(["Refill warning days", 10])
    book.save(path)
    assert ending(path) == {"Refill windows ending in 10 days": 1}


def test_rows_that_may_have_been_placed_are_counted_apart_from_notes() -> None:
    summary = summarize(
        [
            [*HEADER, "Error"],
            [1, "a", None, None, None, "", None, "check panel: may have been placed (timeout)"],
            [1, "b", None, None, None, "", None, "Quantity 10 is below the minimum 50"],
            [1, "c", 3, "Completed", 1, "", None, "Note: Quantity 5 is ignored"],
        ]
    )
    assert (summary.errors, summary.to_check, summary.not_placed) == (2, 1, 2)
    sheet = dashboard_sheet(summary, now=NOW)
    assert totals(sheet)["Rows to check on the panel (may have been placed)"] == 1


def test_without_a_profit_column_there_is_no_profit_series() -> None:
    sheet = dashboard_sheet(summarize([HEADER, [1, "a", 1, "Completed", 1, "", None]]), now=NOW)
    titles = [t.title for t in sheet.tables]
    assert "Spend per service" in titles and "Profit" not in totals(sheet)
    assert all("Profit" not in t.header for t in sheet.tables)


def test_many_services_are_the_top_ones_and_one_other_line() -> None:
    rows: list[list[Any]] = [HEADER]
    for n in range(TOP + 5):
        rows.append([n, "x", 1000 + n, "Completed", n + 1, "", None])
    per_service = table(dashboard_sheet(summarize(rows), now=NOW), "Spend per service")
    assert len(per_service.rows) == TOP + 1
    assert per_service.rows[0] == (str(TOP + 4), Decimal(TOP + 5))
    assert per_service.rows[-1] == ("Other (5)", Decimal(1 + 2 + 3 + 4 + 5))


def test_a_sheet_without_orders_still_draws_every_chart() -> None:
    sheet = dashboard_sheet(summarize([HEADER]), now=NOW)
    charted = [t for t in sheet.tables if t.chart is not None]
    assert len(charted) == 5 and all(t.rows for t in charted)


def test_a_sheet_without_an_order_header_is_a_layout_error() -> None:
    with pytest.raises(LayoutError):
        summarize([["Name", "Price"], ["Likes", 1]])


def test_hostile_cells_are_counted_not_trusted() -> None:
    summary = summarize(
        [
            HEADER,
            ["=HYPERLINK(1)", "a", 1, "=1+1", "1e400", "", None],  # charge unreadable
            [1, "b", 2, "Completed", "12 apples", "", None],
            [1, "c", 3, "Completed", True, "", None],
        ]
    )
    assert summary.charges_pending == 2 and summary.spend == {"": Decimal(12)}
    assert "=HYPERLINK(1)" in summary.by_service and "=1+1" in summary.statuses


def test_chart_references_quote_the_sheet_name() -> None:
    assert chart_ref("Dash's", 5, 1, 9, 1) == "'Dash''s'!$A$5:$A$9"
    assert chart_ref("Dashboard", 4, 2, 4, 2) == "'Dashboard'!$B$4"


# -- the sheet in a real file -------------------------------------------------------------


def orders_book(path: Path, rows: int = 8) -> Path:
    data = [
        [
            f"{1 + r % 3} - Likes",
            f"https://x.com/p/{r}",
            2000 + r,
            ("Completed", "Pending", "Partial")[r % 3],
            Decimal(r) / 10,
            "USD",
            f"2026-11-{1 + r % 5:02d} 10:00:00",
        ]
        for r in range(rows)
    ]
    return make_orders_book(path, data, HEADER)


def part_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def dashboard_charts(path: Path, sheet: str = "Dashboard") -> list[bytes]:
    """The chart parts the sheet's drawing shows, found through the relationships."""
    with zipfile.ZipFile(path) as archive:
        names = {n.lower(): n for n in archive.namelist()}
        workbook = etree.fromstring(archive.read("xl/workbook.xml"))
        rels = etree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        targets = {r.get("Id"): r.get("Target") for r in rels}
        rid = next(
            s.get(f"{{{wb_rel()}}}id")
            for s in workbook.iter(f"{{{wb.MAIN_NS}}}sheet")
            if s.get("name") == sheet
        )
        part = resolve("xl/workbook.xml", targets[rid])

        def linked(part: str, kind: str) -> list[str]:
            rels_name = f"{part.rsplit('/', 1)[0]}/_rels/{part.rsplit('/', 1)[1]}.rels"
            if rels_name.lower() not in names:
                return []
            tree = etree.fromstring(archive.read(names[rels_name.lower()]))
            return [resolve(part, r.get("Target")) for r in tree if r.get("Type").endswith(kind)]

        charts: list[bytes] = []
        for drawing in linked(part, "/drawing"):
            charts += [archive.read(names[c.lower()]) for c in linked(drawing, "/chart")]
        return charts


def wb_rel() -> str:
    return "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def resolve(source: str, target: str) -> str:
    import posixpath

    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))


def test_report_adds_a_dashboard_whose_charts_read_its_own_cells(tmp_path: Path) -> None:
    path = orders_book(tmp_path / "orders.xlsx")
    assert report(path) == "Dashboard"
    book = XlsxWorkbook(path)
    assert book.sheet_names() == ["Orders", "Dashboard"]
    cells = book.read_values("Dashboard")
    assert cells[0][0] == SIGNATURE
    charts = dashboard_charts(path)
    assert len(charts) == 5
    grid = {(r + 1, c + 1): v for r, row in enumerate(cells) for c, v in enumerate(row)}
    for chart in charts:
        root = etree.fromstring(chart)
        for ref in root.iter(f"{{{C}}}numRef"):
            formula = ref.findtext(f"{{{C}}}f")
            match = re.fullmatch(r"'Dashboard'!\$([A-Z])\$(\d+)(?::\$\1\$(\d+))?", formula or "")
            assert match, formula
            col, top = ord(match.group(1)) - 64, int(match.group(2))
            bottom = int(match.group(3) or top)
            cached = [float(v.text or "") for v in ref.iter(f"{{{C}}}v")]
            in_cells = [float(grid[(r, col)]) for r in range(top, bottom + 1)]
            assert cached == in_cells
    spent = next(row[1] for row in cells if row and row[0] == "Spent (USD)")
    assert spent == pytest.approx(2.8)  # 0 + 0.1 + ... + 0.7


def test_only_the_parts_a_new_sheet_needs_change(rich: Path, tmp_path: Path) -> None:
    """Chart, image, table, validation, formulas, defined names: byte for byte."""
    before = dict(wb.members(rich))
    report(rich)
    after = dict(wb.members(rich))
    added = set(after) - set(before)
    assert set(before) <= set(after)
    assert {n for n in before if before[n] != after[n]} == REGISTERING_PARTS
    assert added == {
        "xl/worksheets/sheet4.xml",
        "xl/worksheets/_rels/sheet4.xml.rels",
        "xl/drawings/drawing3.xml",  # the Orders image and the Report chart have 1 and 2
        "xl/drawings/_rels/drawing3.xml.rels",
        *(f"xl/charts/chart{n}.xml" for n in range(2, 7)),
    }
    assert_only_registered(before, after)
    types = after["[Content_Types].xml"].decode()
    assert types.count("drawingml.chart+xml") == 6 and "/xl/drawings/drawing3.xml" in types


def assert_only_registered(before: dict[str, bytes], after: dict[str, bytes]) -> None:
    """Each part a new sheet needs gained only what registers the added parts: one sheet
    in workbook.xml (and the recalculate-on-open flag every save of a workbook with
    formulas asks for), one relationship, one content type per added part."""
    added = sorted(set(after) - set(before))
    (sheet_part,) = [p for p in added if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", p)]
    old_book, new_book = (etree.fromstring(d["xl/workbook.xml"]) for d in (before, after))
    sheets = new_book.find(f"{{{wb.MAIN_NS}}}sheets")
    assert sheets is not None and sheets[-1].get("name") == "Dashboard"
    sheets.remove(sheets[-1])
    old_calc = old_book.find(f"{{{wb.MAIN_NS}}}calcPr")
    new_calc = new_book.find(f"{{{wb.MAIN_NS}}}calcPr")
    if old_calc is None and new_calc is not None:
        assert dict(new_calc.attrib) == {"fullCalcOnLoad": "1"}
        new_book.remove(new_calc)
    elif old_calc is not None and new_calc is not None and "fullCalcOnLoad" not in old_calc.attrib:
        assert new_calc.attrib.pop("fullCalcOnLoad") == "1"
    assert etree.tostring(new_book) == etree.tostring(old_book)
    rels = "xl/_rels/workbook.xml.rels"
    new, old = list(etree.fromstring(after[rels])), list(etree.fromstring(before[rels]))
    assert [etree.tostring(e) for e in new[: len(old)]] == [etree.tostring(e) for e in old]
    assert [e.get("Target") for e in new[len(old) :]] == [sheet_part.removeprefix("xl/")]
    types = "[Content_Types].xml"
    new, old = list(etree.fromstring(after[types])), list(etree.fromstring(before[types]))
    assert [etree.tostring(e) for e in new[: len(old)]] == [etree.tostring(e) for e in old]
    assert sorted(e.get("PartName")[1:] for e in new[len(old) :]) == [
        p for p in added if not p.endswith(".rels")
    ]


def test_a_second_report_refreshes_the_same_sheet_in_place(tmp_path: Path) -> None:
    path = orders_book(tmp_path / "orders.xlsx")
    report(path)
    first = wb.members(path)
    report(path)
    assert wb.members(path) == first  # same time, same rows: the very same file
    book = XlsxWorkbook(path)
    book.write_cells("Orders", {(2, 5): 100})
    book.save()
    report(path)
    assert XlsxWorkbook(path).sheet_names() == ["Orders", "Dashboard"]
    assert part_names(path) == [name for name, _ in first]
    cells = XlsxWorkbook(path).read_values("Dashboard")
    assert next(row[1] for row in cells if row and row[0] == "Spent (USD)") == 102.8


def test_a_users_own_dashboard_sheet_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "orders.xlsx"
    make_orders_book(path, [[1, "a", 1, "Completed", 1, "", None]], HEADER)
    book = XlsxWorkbook(path)
    book.replace_sheet("Dashboard", [["My KPIs"], ["keep me"]])
    book.save()
    assert report(path) == "Dashboard (smmsheet)"
    assert report(path) == "Dashboard (smmsheet)"  # and refreshed there, not a third sheet
    after = XlsxWorkbook(path)
    assert after.sheet_names() == ["Orders", "Dashboard", "Dashboard (smmsheet)"]
    assert after.read_values("Dashboard") == [["My KPIs"], ["keep me"]]
    assert len(dashboard_charts(path, "Dashboard (smmsheet)")) == 5


def test_both_dashboard_names_taken_by_the_user_is_refused_and_nothing_changes(
    tmp_path: Path,
) -> None:
    path = orders_book(tmp_path / "orders.xlsx")
    book = XlsxWorkbook(path)
    for name in DASHBOARD_SHEETS:
        book.replace_sheet(name, [["mine"]])
    book.save()
    before = path.read_bytes()
    result = invoke("report", str(path))
    assert result.exit_code == 2 and "not written by smmsheet" in result.output
    assert path.read_bytes() == before


def test_a_chart_sheet_named_dashboard_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "charts.xlsx"
    wb.build_chartsheet_workbook(path, "Dashboard")
    book = XlsxWorkbook(path)
    book.replace_sheet("Orders", [HEADER, [1, "a", 1, "Completed", 1, "", None]])
    book.save()
    assert report(path) == "Dashboard (smmsheet)"


def test_report_waits_for_no_run_it_refuses_while_one_holds_the_workbook(
    tmp_path: Path,
) -> None:
    path = orders_book(tmp_path / "orders.xlsx")
    before = path.read_bytes()
    with Journal(journal_path(path)), pytest.raises(WorkbookBusyError):
        report(path)
    assert path.read_bytes() == before


def test_the_live_adapter_says_report_works_on_saved_files() -> None:
    with pytest.raises(WorkbookError, match="report works on saved files"):
        XlwingsWorkbook(FakeBook()).write_chart_sheet(ChartSheet(("x",), ()), DASHBOARD_SHEETS)


def test_report_command_prints_the_totals_and_refuses_a_missing_sheet(tmp_path: Path) -> None:
    path = orders_book(tmp_path / "orders.xlsx")
    result = invoke("report", str(path))
    assert result.exit_code == 0
    assert result.output == (
        f"Wrote sheet Dashboard of {path}: 8 orders, 3 open, spent 2.80 USD.\n"
    )
    missing = invoke("report", str(path), "--sheet", "Nope")
    assert missing.exit_code == 2 and "Nope" in missing.output
    # The newcomer's sheet was "November": place said "(sheets: November, ...) ... or choose
    # it with --sheet NAME", report only "has no worksheet named 'Orders'" (and left a journal).
    journal = Path(f"{path}.smmsheet-journal.sqlite")
    journal.unlink()
    assert "sheets: Orders" in missing.output and "--sheet NAME" in missing.output
    assert invoke("report", str(path), "--sheet", "Nope").exit_code == 2 and not journal.exists()


def test_panel_text_goes_into_the_dashboard_as_text(tmp_path: Path) -> None:
    path = tmp_path / "orders.xlsx"
    make_orders_book(path, [["svc", "a", 1, "status", 1, "", None]], HEADER)
    book = XlsxWorkbook(path)  # writes text as text (openpyxl would make formulas)
    book.write_cells("Orders", {(2, 1): "=cmd|' /C calc'!A0", (2, 4): "=1+1"})
    book.save()
    report(path)
    xml = wb.read_member(path, "xl/worksheets/sheet2.xml")
    assert b"<f>" not in xml and b"<f " not in xml
    cells = XlsxWorkbook(path).read_values("Dashboard")
    assert ["=cmd|' /C calc'!A0", 1] in [row[:2] for row in cells]
    assert ["=1+1", 1] in [row[:2] for row in cells]


def test_the_days_come_from_the_journal_of_a_real_run(
    tmp_path: Path, sim: Any, client: Any
) -> None:
    path = make_orders_book(
        tmp_path / "orders.xlsx",
        [[1, "https://instagram.com/p/a", 100], [3, "https://instagram.com/p/b", 200]],
        ["Service", "Link", "Quantity"],
    )
    run_engine(path, client, "place", confirm=lambda preview: True)
    run_engine(path, client, "status")
    with Journal(journal_path(path), lock=False) as journal:
        days = {dt.datetime.fromtimestamp(e.created).date() for e in journal.entries()}
        assert {e.action for e in journal.entries()} == {Action.ADD}
        assert {e.state for e in journal.entries()} == {State.ACCEPTED}
    charged = sum((Decimal(str(order.charge)) for order in sim.state.orders.values()), Decimal(0))
    written = write_report(path, now=NOW)
    assert written.summary.orders == 2
    assert sum(written.summary.spend.values()) == charged
    assert set(written.summary.by_day) == {day.isoformat() for day in days}


# -- foreign writers, Excel's schema, LibreOffice --------------------------------------------


def build(writer: str, path: Path) -> Path:
    if writer == "xlsxwriter":
        wb.build_rich_workbook(path)
    elif writer == "openpyxl":
        wb.build_openpyxl_workbook(path)
    elif writer == "xlsm":
        wb.build_rich_workbook(path, vba=wb.vba_project(path.parent))
    else:
        shutil.copy(wb.LIBREOFFICE_ORDERS, path)
    return path


WRITERS = ["xlsxwriter", "openpyxl", "libreoffice", "xlsm"]


def suffix(writer: str) -> str:
    return ".xlsm" if writer == "xlsm" else ".xlsx"


@pytest.mark.parametrize("writer", WRITERS)
def test_report_works_on_files_of_every_writer(tmp_path: Path, writer: str) -> None:
    path = build(writer, tmp_path / f"orders{suffix(writer)}")
    before = dict(wb.members(path))
    report(path)
    report(path)
    after = dict(wb.members(path))
    changed = {n for n in before if before.get(n) != after.get(n)}
    assert changed <= REGISTERING_PARTS
    assert_only_registered(before, after)
    assert len(dashboard_charts(path)) == 5
    if writer == "xlsm":
        assert after["xl/vbaProject.bin"] == before["xl/vbaProject.bin"]


@pytest.mark.skipif(wb.OOXML_VALIDATOR is None, reason="the Open XML SDK validator is missing")
@pytest.mark.parametrize("writer", WRITERS)
def test_the_dashboard_adds_no_open_xml_schema_error(tmp_path: Path, writer: str) -> None:
    path = build(writer, tmp_path / f"orders{suffix(writer)}")
    before = wb.schema_errors(path)
    report(path)
    assert wb.schema_errors(path) - before == set()


@pytest.mark.skipif(wb.SOFFICE is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_reads_the_charts_and_a_report_refreshes_its_copy(tmp_path: Path) -> None:
    """LibreOffice only writes back the charts it understood: the series, their cells."""
    path = orders_book(tmp_path / "orders.xlsx")
    report(path)
    saved = wb.libreoffice_resave(path, tmp_path / "lo")
    charts = dashboard_charts(saved)
    assert len(charts) == 5
    kinds = [sorted({etree.QName(e).localname for e in etree.fromstring(c).iter()}) for c in charts]
    assert sum("pieChart" in k for k in kinds) == 2 and sum("barChart" in k for k in kinds) == 3
    formulas = b"".join(charts)
    assert b"Dashboard!$B$" in formulas or b"'Dashboard'!$B$" in formulas
    # LibreOffice renamed the parts its own way; a report finds them and replaces them.
    parts_before = set(part_names(saved))
    assert report(saved) == "Dashboard"
    assert XlsxWorkbook(saved).sheet_names() == ["Orders", "Dashboard"]
    assert len(dashboard_charts(saved)) == 5
    charts_now = {n for n in part_names(saved) if n.startswith("xl/charts/")}
    charts_then = {n for n in parts_before if n.startswith("xl/charts/")}
    assert len(charts_now) == len(charts_then)


@pytest.mark.skipif(wb.SOFFICE is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_draws_the_charts_when_it_prints_the_dashboard(tmp_path: Path) -> None:
    """The same Dashboard printed by LibreOffice with its charts and without them: only the
    charts fill shapes (bars, legend keys, pie slices) and draw curves (the pies)."""
    with_charts = orders_book(tmp_path / "charts.xlsx")
    report(with_charts)
    tables_only = orders_book(tmp_path / "tables.xlsx")
    summary = summarize(XlsxWorkbook(tables_only).read_values("Orders"))
    sheet = dashboard_sheet(summary, now=NOW)
    bare = ChartSheet(sheet.heading, tuple(replace(t, chart=None) for t in sheet.tables))
    book = XlsxWorkbook(tables_only)
    book.write_chart_sheet(bare, DASHBOARD_SHEETS)
    book.save()
    drawn, plain = pdf_operators(with_charts, tmp_path), pdf_operators(tables_only, tmp_path)
    bars = 5 + 3 + 1  # days, services, panels of orders_book: one bar each
    assert drawn[b"f*"] + drawn[b"f"] >= plain[b"f*"] + plain[b"f"] + bars
    assert drawn[b"c"] > plain[b"c"]  # the two pies


def pdf_operators(path: Path, folder: Path) -> Counter[bytes]:
    """How often each path operator occurs in the PDF LibreOffice prints ``path`` to."""
    data = wb.libreoffice_convert(path, folder / path.stem, "pdf").read_bytes()
    counts: Counter[bytes] = Counter()
    for stream in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            body = zlib.decompress(stream.group(1))
        except zlib.error:
            continue  # fonts and images
        counts.update(re.findall(rb"(?<=\s)(re|f\*?|c)(?=\s)", body))
    return counts


def test_a_refresh_drops_the_parts_excel_hung_on_its_charts_and_keeps_shared_ones(
    rich: Path,
) -> None:
    """Excel gives each chart style parts; a user may reuse a picture of another sheet."""
    report(rich)
    chart = "xl/charts/chart2.xml"
    wb.replace_member(
        rich,
        "xl/charts/_rels/chart2.xml.rels",
        f'<Relationships xmlns="{REL_NS}"><Relationship Id="rId1" Target="style2.xml" '
        'Type="http://schemas.microsoft.com/office/2011/relationships/chartStyle"/>'
        "</Relationships>".encode(),
        add=True,
    )
    wb.replace_member(rich, "xl/charts/style2.xml", b"<cs:chartStyle/>", add=True)
    types = wb.read_member(rich, "[Content_Types].xml").replace(
        b"</Types>",
        b'<Override PartName="/xl/charts/style2.xml" '
        b'ContentType="application/vnd.ms-office.chartstyle+xml"/></Types>',
    )
    wb.replace_member(rich, "[Content_Types].xml", types)
    drawing_rels = "xl/drawings/_rels/drawing3.xml.rels"
    wb.replace_member(
        rich,
        drawing_rels,
        wb.read_member(rich, drawing_rels).replace(
            b"</Relationships>",
            b'<Relationship Id="rId99" Target="../media/image1.png" Type="http://schemas.'
            b'openxmlformats.org/officeDocument/2006/relationships/image"/></Relationships>',
        ),
    )
    image = wb.read_member(rich, "xl/media/image1.png")
    report(rich)
    names = part_names(rich)
    assert "xl/charts/style2.xml" not in names
    assert "xl/charts/_rels/chart2.xml.rels" not in names
    assert b"style2" not in wb.read_member(rich, "[Content_Types].xml")
    assert wb.read_member(rich, "xl/media/image1.png") == image  # the Orders sheet's picture
    assert chart in names and len(dashboard_charts(rich)) == 5


def test_a_check_before_paying_runs_the_buffered_dashboard_too(tmp_path: Path) -> None:
    """check_writable proves the whole save would work, the buffered dashboard included."""
    path = orders_book(tmp_path / "orders.xlsx")
    # A relationships part nothing else reads, but which might point at a chart it replaces.
    wb.replace_member(path, "xl/worksheets/_rels/sheet9.xml.rels", b"<Relation", add=True)
    book = XlsxWorkbook(path)
    book.check_writable("Orders", [(2, 3)])  # the save of cells alone does not read it
    book.write_chart_sheet(dashboard_sheet(summarize([HEADER]), now=NOW), DASHBOARD_SHEETS)
    with pytest.raises(WorkbookError, match="damaged"):
        book.check_writable("Orders", [(2, 3)])


def test_a_strict_open_xml_workbook_is_refused_unchanged(tmp_path: Path) -> None:
    """Strict files name every part in other namespaces; charts in them are not written."""
    path = orders_book(tmp_path / "strict.xlsx")
    renames = {
        b"http://schemas.openxmlformats.org/spreadsheetml/2006/main": (
            b"http://purl.oclc.org/ooxml/spreadsheetml/main"
        ),
        b"http://schemas.openxmlformats.org/officeDocument/2006/relationships": (
            b"http://purl.oclc.org/ooxml/officeDocument/relationships"
        ),
    }
    for name, content in wb.members(path):
        if name.endswith((".xml", ".rels")):
            for old, new in renames.items():
                content = content.replace(old, new)
            wb.replace_member(path, name, content)
    before = path.read_bytes()
    result = invoke("report", str(path))
    assert result.exit_code == 2 and "Strict Open XML" in result.output
    assert path.read_bytes() == before


def test_the_days_of_a_renamed_order_sheet_still_come_from_its_journal(
    tmp_path: Path, sim: Any, client: Any
) -> None:
    # A run reads the entries of "Orders" for the sheet renamed "November"; the report read
    # only "November"'s and put every order on the day of its last status refresh.
    import openpyxl

    path = make_orders_book(
        tmp_path / "orders.xlsx",
        [[1, "https://instagram.com/p/a", 100]],
        ["Service", "Link", "Quantity"],
    )
    run_engine(path, client, "place", confirm=lambda preview: True)
    book = openpyxl.load_workbook(path)
    book["Orders"].title = "November"
    sheet = book["November"]
    updated = [c.value for c in sheet[1]].index("Updated") + 1
    sheet.cell(2, updated).value = dt.datetime(2020, 1, 1, 10)  # as if refreshed another day
    book.save(path)
    with Journal(journal_path(path), lock=False) as journal:
        days = {dt.datetime.fromtimestamp(e.created).date().isoformat() for e in journal.entries()}
    assert set(write_report(path, sheet="November", now=NOW).summary.by_day) == days
