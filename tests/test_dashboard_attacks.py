"""`smmsheet report` attacked: careless users and hostile files, each once a defect.

Every test here failed before the fix it names in the commit that added it; the attacks
that broke nothing are listed in the review report, not re-proved here.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from smmsheet import dashboard
from smmsheet.cli import cli
from smmsheet.dashboard import dashboard_sheet, summarize
from smmsheet.session import write_report
from smmsheet.workbook.xlsx import XlsxWorkbook

from . import workbooks as wb
from .conftest import make_orders_book

NOW = dt.datetime(2026, 11, 25, 12, 0)
HEADER = ["Service", "Link", "Order ID", "Status", "Charge", "Currency", "Updated"]
IMAGE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/image"


def orders_book(path: Path) -> Path:
    rows = [["1 - Likes", "https://x.com/p/1", 2001, "Completed", 0.5, "USD", "2026-11-02"]]
    return make_orders_book(path, rows, HEADER)


def test_a_dashboard_pointing_at_the_package_structure_never_removes_it(tmp_path: Path) -> None:
    """A hostile (or mangled) Dashboard sheet whose relationships point at the content
    types, the package relationships and the workbook's relationships: a refresh drops
    the sheet's own drawing and charts, never the parts every workbook needs."""
    path = orders_book(tmp_path / "orders.xlsx")
    write_report(path, now=NOW)
    rels = "xl/worksheets/_rels/sheet2.xml.rels"
    hostile = "".join(
        f'<Relationship Id="rId{n}" Type="{IMAGE_REL}" Target="{target}"/>'
        for n, target in enumerate(
            ("/[Content_Types].xml", "/_rels/.rels", "../_rels/workbook.xml.rels"), start=7
        )
    )
    end = b"</Relationships>"
    wb.replace_member(path, rels, wb.read_member(path, rels).replace(end, hostile.encode() + end))
    structure = {
        name: wb.read_member(path, name)
        for name in ("[Content_Types].xml", "_rels/.rels", "xl/_rels/workbook.xml.rels")
    }

    write_report(path, now=NOW)

    after = dict(wb.members(path))
    assert {name: after.get(name) for name in structure} == structure
    assert write_report(path, now=NOW).sheet == "Dashboard"  # still a workbook


def xlsxwriter_orders(path: Path, rows: list[list[object]]) -> Path:
    """An order sheet written by xlsxwriter, which stores any text (control characters as
    ``_x0001_``, which readers decode) and never makes a formula of text."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    sheet = book.add_worksheet("Orders")
    sheet.write_row(0, 0, HEADER)
    for number, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            if isinstance(value, str):
                sheet.write_string(number, col, value)
            else:
                sheet.write(number, col, value)
    book.close()
    return path


def test_control_characters_in_panel_text_reach_no_part_of_the_dashboard(tmp_path: Path) -> None:
    """A panel's status or service name with control characters (XML 1.0 cannot carry
    them) was a traceback; they are dropped as in every other cell smmsheet writes."""
    path = xlsxwriter_orders(
        tmp_path / "orders.xlsx",
        [
            ["Likes\x01\x1f <&> ]]>", "https://x.com/p/1", 2001, "Done\x02", 0.5, "US\x0bD", ""],
            ["Views", "https://x.com/p/2", 2002, "Completed", 0.25, "USD", ""],
        ],
    )
    assert write_report(path, now=NOW).sheet == "Dashboard"

    cells = XlsxWorkbook(path).read_values("Dashboard")
    texts = {value for row in cells for value in row if isinstance(value, str)}
    assert {"Likes <&> ]]>", "Done", "Spend (USD)"} <= texts
    for name, content in wb.members(path):
        if name.endswith((".xml", ".rels")):
            etree.fromstring(content)  # every part is XML again


#: What the child process reports: the refusal and how much its peak memory grew (KiB).
_REPORT_IN_A_CHILD = """
import json, resource, sys
from smmsheet import dashboard
from smmsheet.dashboard import dashboard_sheet, summarize
from smmsheet.errors import WorkbookError
from smmsheet.session import write_report
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    write_report(sys.argv[1])
    error = None
except WorkbookError as exc:
    error = str(exc)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"error": error, "grew_kib": after - before}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux only")
def test_a_part_only_the_report_reads_is_never_inflated_past_what_it_declares(
    tmp_path: Path,
) -> None:
    """The content types (and the relationships of charts and drawings) are read by the
    report's save alone: calamine, which stops a lying part on open, never reads them.
    A content types part that says 10 kB and holds 256 MiB was inflated whole into memory
    before its CRC failed."""
    path = tmp_path / "liar.xlsx"
    wb.build_zip_bomb(path, 256, declared=10_000, part="[Content_Types].xml")
    before = path.read_bytes()

    done = subprocess.run(
        [sys.executable, "-c", _REPORT_IN_A_CHILD, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )

    result = json.loads(done.stdout)
    assert result["error"] is not None and "declares" in result["error"]
    assert result["grew_kib"] // 1024 < 64  # inflating it would take 256 MiB at least
    assert path.read_bytes() == before


def test_a_currency_column_of_free_text_draws_a_few_series_and_lists_every_total() -> None:
    """Each currency was a series and a column of every money table: a Currency column of
    17,000 different texts wrote cells past Excel's last column (XFD) and charts of 17,000
    series. The most spent currencies are drawn; every currency keeps its total."""
    rows = [["svc", "l", 1000 + n, "Completed", n + 1, f"C{n:05d}", ""] for n in range(40)]
    summary = summarize([HEADER, *rows])

    sheet = dashboard_sheet(summary, now=NOW)

    spent = [row for row in sheet.tables[0].rows if str(row[0]).startswith("Spent (")]
    assert len(spent) == 40
    drawn = tuple(f"Spend (C{n:05d})" for n in range(40 - dashboard.CURRENCIES, 40))
    for money in sheet.tables[1:4]:
        assert money.header[1:] == drawn
        assert all(len(row) == len(money.header) for row in money.rows)
    assert len(summary.drawn_currencies) == dashboard.CURRENCIES


def test_a_panel_with_thousands_of_statuses_draws_the_top_ones_and_one_other_slice() -> None:
    """Statuses and refill statuses are panel text: one slice per text made a pie of
    10,000 slices that LibreOffice had not drawn after three minutes."""
    rows = [
        ["svc", "l", 1000 + n, f"Status {n:03d}", 0.5, "USD", "", 5000 + n, f"Refill {n:03d}"]
        for n in range(40)
    ]
    summary = summarize([[*HEADER, "Refill ID", "Refill status"], *rows])

    sheet = dashboard_sheet(summary, now=NOW)

    for title in ("Status mix", "Refill outcomes"):
        (mix,) = [t for t in sheet.tables if t.title == title]
        assert len(mix.rows) == dashboard.TOP + 1
        assert mix.rows[-1] == (f"Other ({40 - dashboard.TOP})", 40 - dashboard.TOP)
        assert sum(int(str(row[1])) for row in mix.rows) == 40


def test_a_row_copied_with_its_order_id_is_not_a_second_order() -> None:
    """A careless copy of a placed row (Order ID, Charge and all) doubled the spend and the
    orders: the panel charged once. The copy is counted once and said."""
    placed = ["1 - Likes", "https://x.com/p/1", 2001, "Completed", 0.5, "USD", "2026-11-02"]
    other = ["1 - Likes", "https://x.com/p/2", 2002, "Pending", 0.25, "USD", "2026-11-02"]
    summary = summarize([HEADER, placed, other, list(placed), [*placed[:2], "2001.0", *placed[3:]]])

    assert (summary.orders, summary.spend, summary.open) == (2, {"USD": Decimal("0.75")}, 1)
    shown = {str(row[0]): row[1] for row in dashboard_sheet(summary, now=NOW).tables[0].rows}
    assert shown["Rows repeating an order ID (counted once)"] == 2


def test_the_same_order_id_on_two_panels_is_two_orders() -> None:
    header = [*HEADER, "Panel"]
    rows = [
        ["1 - Likes", "https://x.com/p/1", 2001, "Completed", 0.5, "USD", "", "main"],
        ["1 - Likes", "https://x.com/p/1", 2001, "Completed", 0.25, "USD", "", "backup"],
        ["1 - Likes", "https://x.com/p/1", 2001, "Completed", 0.5, "USD", "", "MAIN "],
    ]
    summary = summarize([header, *rows])
    assert (summary.orders, summary.repeated, summary.spend) == (2, 1, {"USD": Decimal("0.75")})


def test_a_charge_typed_as_text_is_read_as_the_amount_it_says() -> None:
    """Charge, Cost and Profit cells are typed cells: "1.234,50" was read as 1.2345 and
    "1 234,50" as 1 (the panel-reply reader takes the first number it sees). They are read
    as amounts first, as Max spend is."""
    typed = ["1.234,50", "1 234,50", f"1{chr(0xA0)}234,50", "1,5", "0.5 USD", None]
    rows = [["svc", "l", 2000 + n, "Completed", text, "USD", ""] for n, text in enumerate(typed)]
    summary = summarize([HEADER, *rows])

    assert summary.spend == {"USD": Decimal("3705.50")}
    assert summary.charges_pending == 1


def test_the_command_line_names_a_charge_without_a_currency(tmp_path: Path) -> None:
    """Rows without a Currency printed as "spent 1.00, 5.00 USD": a bare amount that reads as part
    of a decimal number."""
    path = make_orders_book(
        tmp_path / "orders.xlsx",
        [
            ["svc", "l", 2001, "Completed", 1, "", ""],
            ["svc", "l", 2002, "Completed", 5, "USD", ""],
        ],
        HEADER,
    )
    done = CliRunner().invoke(cli, ["report", str(path)], catch_exceptions=False)
    assert "spent 1.00 (no currency given), 5.00 USD." in done.output
