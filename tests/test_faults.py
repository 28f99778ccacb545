"""Proof under faults: no accepted order is lost and none is placed twice, whatever happens.

Every test drives real runs (the simulator over loopback, real .xlsx files, real processes
where one is killed) and ends by reconciling the simulator's own order list with the
sheet: each order the panel accepted is in the sheet exactly once, on its row, or that row
says "check panel" because the reply was lost. The hypothesis tests use an in-memory
workbook (``tests/memory_book.py``, held to the same adapter contract) for speed, and a
real .xlsx for a smaller sample.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smmsheet.batch import Engine, Report, RunOptions
from smmsheet.cli import cli
from smmsheet.journal import Entry, Journal, journal_path
from smmsheet.orders import AMBIGUOUS_MARK
from smmsheet.panel import PanelClient
from smmsheet.simulator import Faults, PanelSimulator
from smmsheet.values import plural
from smmsheet.workbook import open_workbook
from smmsheet.workbook.base import CellValue, WorkbookAdapter

from .conftest import (
    ORDER_HEADER,
    assert_rows_match_panel,
    assert_sheet_matches_panel,
    cell_text,
    make_orders_book,
    read_orders,
)
from .contract_workbook import CONTRACT, Harness, Sheets
from .memory_book import MemoryWorkbook
from .scripted import ScriptedPanel, json_reply


def rows_for(tag: str, count: int, service: int = 1) -> list[tuple[Any, ...]]:
    """``count`` valid Default rows with distinct links (each row is one order)."""
    return [(service, f"https://instagram.com/p/{tag}-{i}", 100) for i in range(count)]


def run(book: WorkbookAdapter | Path, client: PanelClient, command: str) -> Report:
    """One engine run, as the CLI does it, over a workbook path or an adapter."""
    adapter = open_workbook(str(book)) if isinstance(book, Path) else book
    with tempfile.TemporaryDirectory() as tmp:
        where = journal_path(book) if isinstance(book, Path) else Path(tmp) / "journal.sqlite"
        with Journal(where) as journal:
            return Engine(adapter, client, journal, RunOptions(), command=command).execute(command)


def fast_client(sim: PanelSimulator, **options: Any) -> PanelClient:
    """A client that backs off in milliseconds, so storms finish quickly."""
    return PanelClient(sim.url, sim.api_key, backoff=0.001, **options)


def smmsheet_process(*args: str) -> list[str]:
    return [sys.executable, "-m", "smmsheet", *args]


def assert_each_row_placed_at_most_once(sim: PanelSimulator) -> None:
    """No (service, link) was bought twice: every test row has its own link."""
    bought = Counter((order.service, order.link) for order in sim.orders.values())
    twice = {key: n for key, n in bought.items() if n > 1}
    assert not twice, f"placed more than once: {twice}"


@contextlib.contextmanager
def background(*args: str) -> Iterator[subprocess.Popen[str]]:
    """``python -m smmsheet ARGS`` in its own process, killed if the test fails first."""
    process = subprocess.Popen(
        smmsheet_process(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def wait_for_orders(sim: PanelSimulator, process: subprocess.Popen[str], count: int) -> None:
    """Return once the panel holds ``count`` orders, while ``process`` is still placing."""
    deadline = time.monotonic() + 60
    while len(sim.orders) < count:
        assert process.poll() is None, "the run ended before the test could act"
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.002)


def kill_after(sim: PanelSimulator, book: Path, orders: int) -> None:
    """``smmsheet place BOOK --yes`` in its own process, killed with SIGKILL once the panel
    holds ``orders`` orders; returns once the requests in flight at the kill have landed."""
    with background("place", str(book), "--yes") as victim:
        wait_for_orders(sim, victim, orders)
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=10) == -signal.SIGKILL
    time.sleep(3 * sim.faults.latency)


def rerun_settles_every_row(
    sim: PanelSimulator, book: Path, rows: int, through: Path | None = None
) -> None:
    """``smmsheet place`` once more (through another name if given); then no row was bought
    twice, every row has an Order ID or says "may have been placed", and the sheet agrees
    with the panel."""
    target = through or book
    rerun = CliRunner().invoke(cli, ["place", str(target), "--yes"], catch_exceptions=False)
    assert "Traceback" not in rerun.output
    assert_each_row_placed_at_most_once(sim)
    outcome = classify(read_orders(book))
    assert len(outcome["placed"]) + len(outcome["check panel"]) == rows
    assert_sheet_matches_panel(book, sim, unknown_ok=len(outcome["check panel"]))


def panel_links(sim: PanelSimulator) -> set[str]:
    return {order.link for order in sim.orders.values()}


def classify(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows by outcome; an order row that has neither an Order ID nor an Error fails here."""
    out: dict[str, list[dict[str, Any]]] = {"placed": [], "check panel": [], "failed": []}
    for row in rows:
        error = str(row.get("Error") or "")
        if row.get("Order ID") is not None:
            out["placed"].append(row)
        elif error.startswith(AMBIGUOUS_MARK):
            out["check panel"].append(row)
        else:
            assert error, f"row without an Order ID or an Error: {row}"
            out["failed"].append(row)
    return out


def assert_clear_error(text: str) -> None:
    """One short line a person can act on: no traceback, no repr noise."""
    assert text and "\n" not in text and len(text) < 400, text
    assert "Traceback" not in text and "object at 0x" not in text, text


# --------------------------------------------------------------------------- kill -9


def test_kill_9_mid_batch_then_rerun_places_no_duplicate_and_loses_no_order(
    tmp_path: Path, panel_env: PanelSimulator
) -> None:
    sim = panel_env
    sim.faults.latency = 0.1
    book = make_orders_book(tmp_path / "orders.xlsx", rows_for("kill", 60))
    kill_after(sim, book, orders=10)  # some orders accepted, most of the batch still to go
    assert len(sim.orders) < 60, "the kill came too late to prove anything"
    # Only the save that marked the run, before its first order, reached the file.
    assert all(r["Order ID"] is None for r in read_orders(book)), "no result was saved"

    with Journal(journal_path(book), lock=False) as journal:
        at_kill = journal.entries()
    # Write-ahead: every order the panel holds was journaled before it was sent.
    assert panel_links(sim) <= {e.request["link"] for e in at_kill}
    accepted = {e.row: e.result_id for e in at_kill if e.state == "accepted"}
    in_flight = {e.row for e in at_kill if e.state == "sent"}
    assert accepted, "no reply reached the killed run before the kill"

    rerun = CliRunner().invoke(cli, ["place", str(book), "--yes"], catch_exceptions=False)
    assert rerun.exit_code in (0, 1) and "Traceback" not in rerun.output
    assert f"recovered {plural(len(at_kill), 'outcome')}" in rerun.output

    rows = read_orders(book)
    for number, order_id in accepted.items():
        assert str(rows[number - 2]["Order ID"]) == order_id, f"journaled order of row {number}"
    for number in in_flight:
        assert rows[number - 2]["Order ID"] is None
        assert rows[number - 2]["Error"].startswith(AMBIGUOUS_MARK)
    outcome = classify(rows)
    assert len(outcome["placed"]) == 60 - len(in_flight) and not outcome["failed"]
    assert_sheet_matches_panel(book, sim, unknown_ok=len(in_flight))
    assert_each_row_placed_at_most_once(sim)

    adds = sim.counts["add"]
    CliRunner().invoke(cli, ["run", str(book), "--yes"], catch_exceptions=False)
    assert sim.counts["add"] == adds, "a later run placed something again"


# --------------------------------------------------------------------------- storms


STORMS: dict[str, tuple[dict[str, Any], str]] = {
    # name: (fault knobs, what the simulator counts when the fault strikes)
    "replies-dropped-after-accept": ({"drop_after_accept": 0.3}, "fault:drop"),
    "5xx-pages": ({"error_rate": 0.3}, "fault:5xx"),
    "browser-challenge-pages": ({"html_rate": 0.3}, "fault:html"),
    "rate-limited-429": ({"max_concurrency": 2, "retry_after": 0.01}, "fault:429"),
    "garbage-replies": ({"garbage_rate": 0.3}, "fault:garbage"),
}


@pytest.mark.parametrize("storm", sorted(STORMS))
def test_fault_storm_keeps_sheet_and_panel_reconciled_and_rerun_places_only_unplaced_rows(
    storm: str, tmp_path: Path, sim: PanelSimulator
) -> None:
    knobs, counter = STORMS[storm]
    sim.faults = Faults(latency=0.02, **knobs)
    book = make_orders_book(tmp_path / "orders.xlsx", rows_for(storm, 40))
    with fast_client(sim, max_workers=8) as client:
        run(book, client, "place")
    assert sim.counts[counter] > 0, "the storm never struck"

    first = classify(read_orders(book))
    assert_sheet_matches_panel(book, sim, unknown_ok=len(first["check panel"]))
    assert_each_row_placed_at_most_once(sim)
    on_panel = panel_links(sim)
    for row in first["failed"]:  # refused or never processed: provably not placed
        assert_clear_error(row["Error"])
        assert row["Error"].startswith("add: ") and row["Link"] not in on_panel
    for row in first["check panel"]:
        assert_clear_error(row["Error"])
        assert "journal #" in row["Error"]
    if storm == "replies-dropped-after-accept":  # each lost reply was an accepted order
        assert {r["Link"] for r in first["check panel"]} <= on_panel

    sim.faults = Faults()
    sim.reset_counts()
    with fast_client(sim) as client:
        run(book, client, "place")
    second = classify(read_orders(book))
    newly = {r["Link"] for r in second["placed"]} - {r["Link"] for r in first["placed"]}
    assert newly == {r["Link"] for r in first["failed"]}
    assert sim.counts["add"] == len(first["failed"])
    assert second["check panel"] == first["check panel"], "ambiguous rows are never resent"
    assert not second["failed"]
    assert_sheet_matches_panel(book, sim, unknown_ok=len(second["check panel"]))
    assert_each_row_placed_at_most_once(sim)


# --------------------------------------------------------------------------- concurrent runs


def _same_name(book: Path) -> Path:
    return book


def _symlink(book: Path) -> Path:
    link = book.with_name("link-to-orders.xlsx")
    link.symlink_to(book)
    return link


def _dot_dot(book: Path) -> Path:
    (book.parent / "sub").mkdir()
    return book.parent / "sub" / ".." / book.name


@pytest.mark.parametrize("second_name", [_same_name, _symlink, _dot_dot], ids=lambda f: f.__name__)
def test_second_run_on_the_same_workbook_is_refused_and_nothing_is_duplicated(
    tmp_path: Path, panel_env: PanelSimulator, second_name: Callable[[Path], Path]
) -> None:
    sim = panel_env
    sim.faults.latency = 0.2
    book = make_orders_book(tmp_path / "orders.xlsx", rows_for("twice", 48))
    other = second_name(book)
    with background("place", str(book), "--yes") as first:
        wait_for_orders(sim, first, 1)  # the first run holds the workbook's lock while it places
        second = CliRunner().invoke(cli, ["place", str(other), "--yes"], catch_exceptions=False)
        still_running = first.poll() is None
        out, err = first.communicate(timeout=60)

    assert still_running, "the first run ended before the second one started"
    assert second.exit_code == 2
    assert second.output.startswith("Error: another smmsheet run is working on this workbook")
    assert second.output.count("\n") == 1
    assert first.returncode == 0, out + err
    assert sim.counts["services"] == 1 and sim.counts["balance"] == 1, "the refused run sent"
    assert sim.counts["add"] == 48 and len(sim.orders) == 48
    assert len(classify(read_orders(book))["placed"]) == 48
    assert_sheet_matches_panel(book, sim)
    assert_each_row_placed_at_most_once(sim)


def test_deleting_the_lock_file_during_a_run_does_not_let_a_second_run_in(
    tmp_path: Path, panel_env: PanelSimulator
) -> None:
    sim = panel_env
    sim.faults.latency = 0.2
    book = make_orders_book(tmp_path / "orders.xlsx", rows_for("unlocked", 48))
    with background("place", str(book), "--yes") as first:
        wait_for_orders(sim, first, 1)
        Path(str(journal_path(book)) + ".lock").unlink()  # a "junk" file next to the book
        second = CliRunner().invoke(cli, ["place", str(book), "--yes"], catch_exceptions=False)
        out, err = first.communicate(timeout=60)
    assert second.exit_code == 2 and "another smmsheet run" in second.output, second.output
    assert first.returncode == 0, out + err
    assert sim.counts["add"] == 48 and len(sim.orders) == 48
    assert len(classify(read_orders(book))["placed"]) == 48
    assert_each_row_placed_at_most_once(sim)


def test_a_workbook_with_a_second_name_is_refused_before_anything_is_sent(
    tmp_path: Path, panel_env: PanelSimulator
) -> None:
    sim = panel_env
    book = make_orders_book(tmp_path / "orders.xlsx", rows_for("linked", 5))
    other = tmp_path / "copy-by-link.xlsx"
    os.link(book, other)
    untouched = book.read_bytes()
    for name in (book, other):
        result = CliRunner().invoke(cli, ["place", str(name), "--yes"], catch_exceptions=False)
        assert result.exit_code == 2 and "hard link" in result.output, result.output
        assert result.output.count("\n") == 1
    assert sim.counts["requests"] == 0 and book.read_bytes() == untouched
    other.unlink()  # the way out the message gives
    assert CliRunner().invoke(cli, ["place", str(book), "--yes"]).exit_code == 0
    assert len(sim.orders) == 5


def test_a_run_killed_under_one_name_resumes_under_a_symlink_without_buying_twice(
    tmp_path: Path, panel_env: PanelSimulator
) -> None:
    sim = panel_env
    sim.faults.latency = 0.05
    book = make_orders_book(tmp_path / "orders.xlsx", rows_for("resumed", 40))
    link = _symlink(book)
    kill_after(sim, book, orders=8)
    assert len(sim.orders) < 40, "the kill came too late to prove anything"
    rerun_settles_every_row(sim, book, 40, through=link)


# --------------------------------------------------------------------------- unusable files


def _open_in_excel(book: Path) -> None:
    (book.parent / f"~${book.name}").write_bytes(b"\x0bExcel user")


def _truncated(book: Path) -> None:
    data = book.read_bytes()
    book.write_bytes(data[: len(data) // 2])


def _damaged_sheet_xml(book: Path) -> None:
    with zipfile.ZipFile(book) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"][:300]
    with zipfile.ZipFile(book, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)


def _read_only(book: Path) -> None:
    book.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


UNUSABLE: dict[str, tuple[Callable[[Path], None], str]] = {
    "open-in-excel": (_open_in_excel, "is open in Excel"),
    "truncated-zip": (_truncated, "not a valid Excel workbook"),
    "damaged-sheet-xml": (_damaged_sheet_xml, "cannot read sheet 'Orders' of orders.xlsx"),
    "read-only-file": (_read_only, "read-only"),
}


@pytest.mark.parametrize(
    "damage",
    [
        "damaged-sheet-xml",
        "open-in-excel",
        "truncated-zip",
        "read-only-file",
    ],
)
def test_unusable_workbook_is_refused_before_anything_is_sent(
    damage: str, tmp_path: Path, panel_env: PanelSimulator
) -> None:
    spoil, message = UNUSABLE[damage]
    book = make_orders_book(tmp_path / "orders.xlsx", rows_for(damage, 3))
    spoil(book)
    before = book.read_bytes()
    result = CliRunner().invoke(cli, ["run", str(book), "--yes"], catch_exceptions=False)
    assert panel_env.counts["add"] == 0, "an order was placed for an unusable workbook"
    assert panel_env.counts["requests"] == 0, "the panel was contacted at all"
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and message in result.output
    assert_clear_error(result.output.strip())
    assert book.read_bytes() == before


# --------------------------------------------------------------------------- malformed rows

#: Text a user (or a paste from the web) puts in cells, including formula-looking text.
NASTY_TEXT = [
    "=1+1",
    '=HYPERLINK("http://evil","x")',
    "+cmd|' /C calc'!A0",
    "-5",
    "@SUM(A1)",
    " 100 ",
    "1,000",
    "1e3",
    "0x10",
    "\u0661\u0660\u0660",
    "nan",
    "",
    "   ",
    "12 - Instagram Followers",
    "x",
]
_NUMBERS = st.one_of(
    st.integers(min_value=-(10**15), max_value=10**15), st.floats(), st.sampled_from([0, 1, 50])
)
_WHEN = st.one_of(
    st.dates(min_value=dt.date(1900, 3, 1)),
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(9999, 1, 1)),
)
ANY_CELL = st.one_of(
    st.none(), st.text(max_size=40), st.sampled_from(NASTY_TEXT), _NUMBERS, st.booleans(), _WHEN
)
MALFORMED_ROW = st.tuples(
    st.one_of(st.sampled_from([1, 2, 3, 4, 5, 11, 17, 18, 20, 21, 22, 999]), ANY_CELL),
    st.one_of(st.integers(0, 6).map(lambda n: f"https://instagram.com/p/h{n}"), ANY_CELL),
    st.one_of(st.integers(0, 20_000), ANY_CELL),
    st.one_of(st.none(), st.integers(-2, 20), ANY_CELL),
    st.one_of(st.none(), st.integers(-2, 90), ANY_CELL),
    st.one_of(
        st.none(),
        st.lists(st.sampled_from(["nice", "=1+1", "wow"]), max_size=12).map("\n".join),
        ANY_CELL,
    ),
)


def _storable_in_xlsx(value: CellValue) -> bool:
    """What openpyxl can put in a real file: finite numbers, text without control characters."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    if isinstance(value, str):
        return not ILLEGAL_CHARACTERS_RE.search(value)
    return True


def as_dicts(values: list[list[CellValue]]) -> list[dict[str, Any]]:
    """Rows of a sheet as dicts keyed by header text, as ``read_orders`` returns them."""
    header = [cell_text(h) for h in values[0]]
    return [
        dict(zip(header, [*row, *[None] * (len(header) - len(row))], strict=False))
        for row in values[1:]
    ]


def assert_every_order_row_has_an_id_or_an_error(rows: list[dict[str, Any]]) -> None:
    inputs = ORDER_HEADER[:6]
    for row in rows:
        if all(cell_text(row.get(name)) == "" for name in inputs):
            continue  # not an order row: smmsheet leaves it alone
        assert row.get("Order ID") is not None or row.get("Error"), row


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(rows=st.lists(MALFORMED_ROW, min_size=1, max_size=10))
def test_malformed_rows_never_crash_the_engine_and_each_gets_an_id_or_an_error(
    rows: list[tuple[CellValue, ...]],
) -> None:
    store = {"Orders": [list(ORDER_HEADER), *[list(row) for row in rows]]}
    with PanelSimulator(balance="50") as sim, fast_client(sim) as client:
        run(MemoryWorkbook(store), client, "run")
    result = as_dicts(store["Orders"])
    assert_every_order_row_has_an_id_or_an_error(result)
    assert_rows_match_panel(result, sim)


@settings(
    max_examples=10,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(
        MALFORMED_ROW.filter(lambda row: all(map(_storable_in_xlsx, row))), min_size=1, max_size=8
    )
)
def test_malformed_rows_in_a_real_xlsx_each_get_an_id_or_an_error(
    rows: list[tuple[CellValue, ...]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    book = make_orders_book(tmp_path_factory.mktemp("malformed") / "orders.xlsx", rows)
    with PanelSimulator(balance="50") as sim, fast_client(sim) as client:
        run(book, client, "run")
    result = read_orders(book)
    assert_every_order_row_has_an_id_or_an_error(result)
    assert_sheet_matches_panel(book, sim)


class MemoryHarness:
    """Holds ``MemoryWorkbook`` to the contract the .xlsx and live adapters pass."""

    def __init__(self) -> None:
        self.store: Sheets = {}

    def open(self, sheets: Sheets) -> WorkbookAdapter:
        self.store = {name: [list(row) for row in rows] for name, rows in sheets.items()}
        return MemoryWorkbook(self.store)

    def open_with_hidden_rows(self, sheets: Sheets, sheet: str, rows: set[int]) -> WorkbookAdapter:
        book = MemoryWorkbook(self.store)
        self.store.update({name: [list(row) for row in grid] for name, grid in sheets.items()})
        book.hidden[sheet] = set(rows)
        return book

    def reopen(self, book: WorkbookAdapter) -> WorkbookAdapter:
        return MemoryWorkbook(self.store)


@pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__[len("check_") :])
def test_memory_workbook_honours_the_workbook_contract(check: Callable[[Harness], None]) -> None:
    check(MemoryHarness())


# --------------------------------------------------------------------------- security

SECRET = "sk-live-3f9c2a7e-SECRET-d41d8cd9"


def files_mentioning(folder: Path, secret: str) -> list[str]:
    """Files under ``folder`` holding ``secret``, looking inside zip parts and SQLite tables."""
    found = []
    needle = secret.encode()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if needle in data:
            found.append(str(path))
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                if any(needle in archive.read(name) for name in archive.namelist()):
                    found.append(f"{path} (inside the zip)")
        elif data.startswith(b"SQLite format 3"):
            with sqlite3.connect(path) as db:
                dump = "\n".join(db.iterdump())
            if secret in dump:
                found.append(f"{path} (in a table)")
    return found


def test_api_key_never_appears_in_output_files_journal_or_debug_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("SMMSHEET_PROFILE", raising=False)
    monkeypatch.setenv("SMMSHEET_API_KEY", SECRET)
    rows = [
        *rows_for("key", 3),
        (999, "https://x", 1),
        (1, "https://y", 100, None, None, None, "x"),
    ]
    book = make_orders_book(tmp_path / "orders.xlsx", rows)
    outputs: list[str] = []
    careless_state = {"refuse_key": True}

    def echo_key(form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """A careless panel that repeats the key it was sent: in JSON, HTML and plain text."""
        key = form["key"]
        if form["action"] == "balance" and careless_state["refuse_key"]:
            return json_reply('{"error": "Invalid API key ' + key + '"}')
        if form["action"] == "balance":
            return json_reply('{"balance": "10", "currency": "USD"}')
        if form["action"] == "services":
            return json_reply('[{"service":1,"type":"Default","rate":"1","min":"1","max":"999"}]')
        if form["link"].endswith("0"):
            return 200, {"Content-Type": "text/plain"}, f"key={key} oops".encode()
        return 502, {"Content-Type": "text/html"}, f"<html>{key}</html>".encode()

    with PanelSimulator(api_key=SECRET) as sim:
        monkeypatch.setenv("SMMSHEET_PANEL_URL", sim.url)
        commands = [
            ["balance"],
            ["services", "--json"],
            ["services", "--into", str(book)],
            ["place", str(book), "--yes"],
            ["status", str(book)],
            ["refill", str(book), "--yes"],
            ["cancel", str(book), "--yes"],
            ["run", str(book), "--yes"],
            ["journal", str(book)],
            ["--verbose", "run", str(book), "--yes"],
            ["balance", "--api-key", "sk-wrong-key"],
        ]
        for args in commands:
            outputs.append(CliRunner().invoke(cli, args, catch_exceptions=False).output)
        verbose = subprocess.run(
            smmsheet_process("-v", "run", str(book), "--yes"),
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ},
        )
        outputs += [verbose.stdout, verbose.stderr]
        placed = len(sim.orders)
    fresh = make_orders_book(tmp_path / "careless.xlsx", rows_for("careless", 2))
    with ScriptedPanel(echo_key) as careless:
        # SMMSHEET_API_KEY goes only to SMMSHEET_PANEL_URL: point that at the careless panel.
        monkeypatch.setenv("SMMSHEET_PANEL_URL", careless.url)
        for refuse, args in ((True, ["balance"]), (False, ["place", str(fresh), "--yes"])):
            careless_state["refuse_key"] = refuse
            result = CliRunner().invoke(cli, args, catch_exceptions=False)
            outputs.append(result.output)
            assert result.exit_code == 1
    assert len(classify(read_orders(fresh))["check panel"]) == 2

    assert placed == 4 and "DEBUG" in verbose.stderr, "the runs did their work"
    assert [i for i, text in enumerate(outputs) if SECRET in text] == []
    assert SECRET not in caplog.text
    assert all(SECRET not in str(record.args) for record in caplog.records)
    assert files_mentioning(tmp_path, SECRET) == []
    with Journal(journal_path(book), lock=False) as journal:
        entries: list[Entry] = journal.entries()
    assert entries and all(SECRET not in str(e) for e in entries)


def test_panel_text_starting_with_formula_characters_lands_as_text(tmp_path: Path) -> None:
    evil = {
        "status": "=1+1",
        "currency": "+cmd|' /C calc'!A0",
        "error": "-2+3",
        "refused": "@SUM(A1:A9)",
    }

    def panel(form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        import json

        action = form["action"]
        if action == "services":
            return json_reply(
                '[{"service":1,"name":"x","type":"Default","rate":"1","min":"1","max":"1000"}]'
            )
        if action == "balance":
            return json_reply('{"balance":"100","currency":"USD"}')
        if action == "add":
            return json_reply(json.dumps({"error": evil["refused"]}))
        reply = {
            "1001": {"status": evil["status"], "charge": "1", "remains": "0",
                     "currency": evil["currency"]},
            "1002": {"error": evil["error"]},
        }  # fmt: skip
        return json_reply(json.dumps(reply))

    header = (*ORDER_HEADER, "Order ID")
    rows = [
        (1, "https://a", 10, None, None, None, None, None, 1001),
        (1, "https://b", 10, None, None, None, None, None, 1002),
        (1, "https://c", 10),
    ]
    book = make_orders_book(tmp_path / "orders.xlsx", rows, header)
    with ScriptedPanel(panel) as scripted, PanelClient(scripted.url, "k") as client:
        run(book, client, "run")

    from openpyxl import load_workbook

    sheet = load_workbook(book)["Orders"]
    written = {cell.value: cell for row in sheet.iter_rows() for cell in row}
    assert written[evil["status"]].data_type == "s"
    assert written[evil["currency"]].data_type == "s"
    [said] = [text for text in written if str(text).startswith("status: " + evil["error"])]
    assert written[said].data_type == "s"
    assert written[evil["refused"]].data_type == "s"
    with zipfile.ZipFile(book) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in xml and b"<f " not in xml, "a cell became a formula"


# --------------------------------------------------------------------------- losing the journal


def _delete_journal(journal: Path) -> None:
    journal.unlink()


def _delete_side_files(journal: Path) -> None:
    for suffix in ("-journal", "-wal", "-shm"):
        journal.with_name(journal.name + suffix).unlink(missing_ok=True)


def _truncate_journal(journal: Path) -> None:
    data = journal.read_bytes()
    journal.write_bytes(data[: len(data) // 2])


def _empty_journal(journal: Path) -> None:
    journal.write_bytes(b"")


def _older_copy_of_journal(journal: Path) -> None:
    journal.write_bytes(journal.with_name("journal-before.sqlite").read_bytes())


@pytest.mark.parametrize(
    "lose",
    [
        _delete_journal,
        _truncate_journal,
        _empty_journal,
        _older_copy_of_journal,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_losing_the_journal_after_a_killed_run_is_never_silent(
    tmp_path: Path, panel_env: PanelSimulator, lose: Callable[[Path], None]
) -> None:
    sim = panel_env
    sim.faults.latency = 0.05
    book = make_orders_book(tmp_path / "orders.xlsx", rows_for("lost", 40))
    journal = journal_path(book)
    assert CliRunner().invoke(cli, ["status", str(book)]).exit_code == 0  # a journal exists
    journal.with_name("journal-before.sqlite").write_bytes(journal.read_bytes())
    kill_after(sim, book, orders=8)
    bought = len(sim.orders)
    assert bought < 40, "the kill came too late to prove anything"
    lose(journal)

    rerun = CliRunner().invoke(cli, ["place", str(book), "--yes"], catch_exceptions=False)
    assert rerun.exit_code in (1, 2), rerun.output
    assert "journal" in rerun.output and "Traceback" not in rerun.output
    assert len(sim.orders) == bought and sim.counts["add"] == bought, "nothing more was bought"

    status = CliRunner().invoke(cli, ["status", str(book)], catch_exceptions=False)
    assert "Traceback" not in status.output and len(sim.orders) == bought


def test_the_user_may_agree_to_a_new_journal_after_checking_the_panel(
    tmp_path: Path, panel_env: PanelSimulator
) -> None:
    sim = panel_env
    book = make_orders_book(tmp_path / "orders.xlsx", rows_for("agree", 3))
    assert CliRunner().invoke(cli, ["place", str(book), "--yes"]).exit_code == 0
    journal_path(book).unlink()
    adapter = open_workbook(str(book))  # the user adds two rows to the same workbook
    adapter.write_cells(
        "Orders",
        {(r, c): v for r, row in enumerate(rows_for("more", 2), 5) for c, v in enumerate(row, 1)},
    )
    adapter.save()
    refused = CliRunner().invoke(cli, ["place", str(book), "--yes"])
    assert refused.exit_code == 2 and "--new-journal" in refused.output
    assert refused.output.count("\n") == 1 and sim.counts["add"] == 3
    agreed = CliRunner().invoke(cli, ["place", str(book), "--yes", "--new-journal"])
    assert agreed.exit_code in (0, 1) and "started a new journal" in agreed.output
    assert sim.counts["add"] == 5, "the user agreed: the new rows are placed"
    again = CliRunner().invoke(cli, ["place", str(book), "--yes"])
    assert again.exit_code == 0 and sim.counts["add"] == 5


def test_runs_killed_at_random_moments_from_their_start_never_buy_twice(
    tmp_path: Path, panel_env: PanelSimulator
) -> None:
    """Kills land before, during and after the save that marks the run, and mid-batch."""
    import random

    sim = panel_env
    sim.faults.latency = 0.02
    book = make_orders_book(tmp_path / "orders.xlsx", rows_for("early", 30))
    chance = random.Random(8)
    for _ in range(6):
        with background("place", str(book), "--yes") as victim:
            time.sleep(chance.uniform(0.3, 1.5))  # the interpreter starts in ~0.3-0.6 s
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
        time.sleep(3 * sim.faults.latency)
    rerun_settles_every_row(sim, book, 30)


def test_deleting_the_journals_side_files_after_a_killed_run_loses_nothing(
    tmp_path: Path, panel_env: PanelSimulator
) -> None:
    sim = panel_env
    sim.faults.latency = 0.05
    book = make_orders_book(tmp_path / "orders.xlsx", rows_for("side", 40))
    kill_after(sim, book, orders=8)
    _delete_side_files(journal_path(book))  # "clean up" after the crash
    rerun_settles_every_row(sim, book, 40)


def test_a_new_journal_keeps_rows_the_sheet_says_may_have_been_placed_blocked(
    tmp_path: Path, panel_env: PanelSimulator
) -> None:
    """Found by an attacker's review: following the message (--new-journal) bought them again."""
    sim = panel_env
    sim.faults.drop_after_accept = 1.0
    book = make_orders_book(tmp_path / "orders.xlsx", rows_for("maybe", 2))
    CliRunner().invoke(cli, ["place", str(book), "--yes"], catch_exceptions=False)
    sim.faults.drop_after_accept = 0.0
    assert len(classify(read_orders(book))["check panel"]) == 2 and len(sim.orders) == 2
    journal_path(book).unlink()

    refused = CliRunner().invoke(cli, ["place", str(book), "--yes"])
    assert refused.exit_code == 2 and "2 rows say they may have been placed" in refused.output
    agreed = CliRunner().invoke(cli, ["place", str(book), "--yes", "--new-journal"])
    assert "started a new journal" in agreed.output
    again = CliRunner().invoke(cli, ["place", str(book), "--yes"])
    assert again.exit_code == 1 and sim.counts["add"] == 2, "nothing was bought again"
    assert len(classify(read_orders(book))["check panel"]) == 2
