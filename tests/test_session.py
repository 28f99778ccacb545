"""One way in: a session opens the workbook, reads its Settings, resolves the panel, finds
its journal and runs one command; the CLI, the ribbon and the demo all go through it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from smmsheet.batch import Outcome, RunOptions, Step
from smmsheet.errors import ConfigError, JournalError, WorkbookBusyError
from smmsheet.journal import Journal, journal_path
from smmsheet.panel import PanelClient
from smmsheet.session import SHEET_CAP, Session
from smmsheet.simulator import DEFAULT_API_KEY, PanelSimulator
from smmsheet.workbook.live import XlwingsWorkbook

from .conftest import make_orders_book, read_orders
from .fake_excel import FakeBook

ROWS = [[1, "https://instagram.com/a", 1000], [3, "https://instagram.com/b", 2000]]


def with_settings(path: Path, *rows: tuple[str, object]) -> Path:
    """Give a workbook a Settings sheet with these name/value rows."""
    from openpyxl import load_workbook

    book = load_workbook(path)
    sheet = book.create_sheet("Settings")
    sheet.append(["Setting", "Value"])
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


def test_a_saved_workbook_runs_with_its_journal_beside_it(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "orders.xlsx", ROWS)
    with Session(book) as session:
        assert session.secrets == (DEFAULT_API_KEY,)
        report = session.run("place")
    assert report.counts()[(Step.PLACE, Outcome.PLACED)] == 2
    assert session.journal_path == journal_path(book) and journal_path(book).exists()
    assert sorted(row["Order ID"] for row in read_orders(book)) == [1001, 1002]


def test_the_settings_sheets_cap_applies_unless_the_shell_gives_one(panel_env, tmp_path):
    book = with_settings(make_orders_book(tmp_path / "o.xlsx", ROWS), ("Max spend", 1))
    with Session(book) as session:
        assert session.settings.max_spend == Decimal(1)
        report = session.run("place", RunOptions(dry_run=True))
        over = [r for r in report.results if r.outcome == Outcome.OVER_BUDGET]
        assert len(over) == 1 and SHEET_CAP in over[0].message
        report = session.run("place", RunOptions(dry_run=True, max_spend=Decimal(10)))
        assert not [r for r in report.results if r.outcome == Outcome.OVER_BUDGET]


def test_a_key_in_the_settings_sheet_stops_before_any_request(panel_env, tmp_path):
    book = with_settings(make_orders_book(tmp_path / "o.xlsx", ROWS), ("API key", "sk-x"))
    with pytest.raises(ConfigError, match="Settings sheet holds an API key"):
        Session(book)
    assert panel_env.counts["requests"] == 0


def test_a_client_given_is_used_and_left_open(sim, client, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", ROWS)
    with Session(book, client=client) as session:
        assert session.secrets == () and session.balance_text() == "Balance: 1000.00 USD"
    assert client.balance().amount == 1000  # still usable


def test_the_services_sheet_is_written_under_the_run_lock(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", ROWS)
    with Session(book) as session:
        with Journal(session.journal_path), pytest.raises(WorkbookBusyError):
            session.load_services()
        loaded = session.load_services()
    assert loaded.sheet == "Services"
    assert loaded.count == len(read_orders(book, "Services")) > 0


def test_a_book_open_in_excel_keeps_its_journal_beside_its_file(tmp_path):
    path = tmp_path / "live.xlsx"
    path.write_bytes(b"")
    book = XlwingsWorkbook(FakeBook({"Orders": [["Service", "Link"]]}, fullname=str(path)))
    with PanelSimulator() as sim, PanelClient(sim.url, DEFAULT_API_KEY) as client:
        session = Session(book, client=client)
        assert session.journal_path == journal_path(path)


def test_an_unsaved_book_whose_journal_folder_cannot_be_made_is_a_journal_error(
    tmp_path, monkeypatch
):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocked))
    book = XlwingsWorkbook(FakeBook({"Orders": [["Service", "Link"]]}, fullname="Book1"))
    with PanelSimulator() as sim, PanelClient(sim.url, DEFAULT_API_KEY) as client:
        session = Session(book, client=client)
        with pytest.raises(JournalError, match="cannot create the journal folder"):
            session.run("status")


def test_a_status_run_tells_the_engine_its_command_so_it_asks_while_reading(
    sim, client, tmp_path, monkeypatch
):
    """The shells run through Session: its status runs ask the panel while the sheet is read."""
    from smmsheet.workbook.xlsx import XlsxWorkbook

    ids = [client.add(1, link=f"https://x/{n}", quantity=100) for n in range(120)]
    rows = [(1, f"https://x/{n}", 100, int(oid)) for n, oid in enumerate(ids)]
    book = make_orders_book(tmp_path / "o.xlsx", rows, ("Service", "Link", "Quantity", "Order ID"))
    watched: list[bool] = []
    read = XlsxWorkbook.read_values

    def reading(self, sheet, watch=None):
        watched.append(watch is not None)
        return read(self, sheet, watch)

    monkeypatch.setattr(XlsxWorkbook, "read_values", reading)
    with Session(book, client=client) as session:
        session.run("status")
        assert watched[-1]
        session.run("place")  # no refresh of every row: nothing to ask ahead
        assert not watched[-1]
    assert {r["Status"] for r in read_orders(book)} == {"Pending"}
