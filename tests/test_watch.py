"""`smmsheet watch`: `run` on a schedule, each workbook capped by its Max spend."""

from __future__ import annotations

import signal

import pytest
from click.testing import CliRunner

import smmsheet.cli
import smmsheet.fleet
from smmsheet.cli import _interval, cli

from .conftest import make_orders_book, read_orders


@pytest.fixture(autouse=True)
def no_minimum_interval(monkeypatch):
    """Runs 0 s apart: the tests count runs, they never wait for one."""
    monkeypatch.setattr(smmsheet.cli, "MIN_WATCH_SECONDS", 0)


def invoke(*args: str):
    return CliRunner().invoke(cli, ["watch", *args], catch_exceptions=False)


def capped_book(path, cap="0.10", rows=2, label="Max spend"):
    """Rows of service 1 at 0.09 each: a cap of 0.10 lets one through a run."""
    from openpyxl import load_workbook

    make_orders_book(path, [(1, f"https://x/{path.stem}{i}", 100) for i in range(rows)])
    if cap is not None:
        book = load_workbook(path)
        book.create_sheet("Settings").append([label, cap])
        book.save(path)
    return path


def on_run(monkeypatch, hook):
    """Call ``hook(number)`` as each run starts (through the real run_books)."""
    real = smmsheet.fleet.run_books
    count = [0]

    def run_books(*args, **kwargs):
        count[0] += 1
        hook(count[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(smmsheet.fleet, "run_books", run_books)


def test_watch_refuses_to_start_when_a_workbook_has_no_cap_and_says_which(tmp_path, panel_env):
    folder = tmp_path / "clients"
    folder.mkdir()
    capped_book(folder / "a.xlsx")
    capped_book(folder / "b.xlsx", cap=None)
    result = invoke(str(folder), "--every", "0s", "--times", "1")
    assert result.exit_code == 2
    assert "needs a Max spend" in result.stderr and f"none in: {folder / 'b.xlsx'}" in result.stderr
    assert panel_env.counts["requests"] == 0


def test_each_run_pays_up_to_the_cap_and_logs_one_line_per_workbook(tmp_path, panel_env):
    a, b = capped_book(tmp_path / "a.xlsx"), capped_book(tmp_path / "b.xlsx")
    result = invoke(str(a), str(b), "--every", "0s", "--times", "3")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if " run " in line]
    assert len(lines) == 6  # 3 runs x 2 workbooks
    assert sum("placed=1" in line for line in lines) == 4  # one order a run, two a workbook
    assert len(panel_env.orders) == 4  # never past the cap, never twice
    assert all(r["Order ID"] for r in read_orders(a) + read_orders(b))
    assert "stopped after 3 runs" in result.stderr


def test_a_cap_per_day_holds_over_every_run_of_the_day(tmp_path, panel_env):
    # A Max spend of 0.20 a run let a watch every 10 minutes place 0.20 every 10 minutes:
    # all day long, rows pasted by mistake went out a cap's worth at a time.
    book = capped_book(tmp_path / "a.xlsx", cap="0.20", rows=4, label="Max spend per day")
    result = invoke(str(book), "--every", "0s", "--times", "3")
    assert len(panel_env.orders) == 2  # 0.18 in the first run, then nothing more today
    out = read_orders(book)
    assert [bool(r["Order ID"]) for r in out] == [True, True, False, False]
    said = out[2]["Error"]
    assert "exceed Max spend per day (Settings sheet) 0.20 USD (0.18 spent earlier today" in said
    assert result.exit_code == 0, result.output


def test_a_capless_workbook_added_to_the_folder_later_is_refused_in_its_run(
    tmp_path, panel_env, monkeypatch
):
    folder = tmp_path / "clients"
    folder.mkdir()
    capped_book(folder / "a.xlsx", rows=1)
    on_run(monkeypatch, lambda n: n == 1 and capped_book(folder / "new.xlsx", cap=None))
    result = invoke(str(folder), "--every", "0s", "--times", "2")
    assert f"run 2 {folder / 'new.xlsx'}: refused: no Max spend" in result.stderr
    assert read_orders(folder / "new.xlsx")[0].get("Order ID") is None


def test_ctrl_c_lets_the_run_under_way_finish_then_stops(tmp_path, panel_env, monkeypatch):
    a = capped_book(tmp_path / "a.xlsx")
    on_run(monkeypatch, lambda n: signal.raise_signal(signal.SIGINT))
    result = invoke(str(a), "--every", "0s", "--times", "5")
    assert result.exit_code == 0
    assert "Stopping after the run under way" in result.stderr
    assert "run 1 " in result.stderr and "run 2 " not in result.stderr
    assert "stopped after 1 run" in result.stderr and "1 runs" not in result.stderr
    assert len(panel_env.orders) == 1 and read_orders(a)[0]["Order ID"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_twice_stops_at_once(tmp_path, panel_env, monkeypatch):
    a = capped_book(tmp_path / "a.xlsx")

    def twice(number):
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)

    on_run(monkeypatch, twice)
    result = invoke(str(a), "--every", "0s", "--times", "5")
    assert result.exit_code == 130 and not panel_env.orders


def test_the_log_goes_to_a_file_when_asked(tmp_path, panel_env):
    a = capped_book(tmp_path / "a.xlsx", rows=1)
    log = tmp_path / "watch.log"
    result = invoke(str(a), "--every", "0s", "--times", "2", "--log", str(log))
    assert result.exit_code == 0 and " run " not in result.stderr
    lines = log.read_text(encoding="utf-8").splitlines()
    assert [line.split(" ", 2)[2] for line in lines][1:3] == [
        f"run 1 {a}: ok placed=1 updated=1 refilled=0 canceled=0 problems=0 spent=0.09 USD",
        f"run 2 {a}: ok placed=0 updated=1 refilled=0 canceled=0 problems=0 spent=0",
    ]


@pytest.mark.parametrize(("text", "seconds"), [("10m", 600), ("90s", 90), ("1h", 3600), ("5", 300)])
def test_intervals_read_with_their_unit(text, seconds):
    assert _interval(text) == seconds


def test_an_interval_too_short_or_unreadable_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(smmsheet.cli, "MIN_WATCH_SECONDS", 10)
    a = capped_book(tmp_path / "a.xlsx")
    for every in ("1s", "fast"):
        result = CliRunner().invoke(cli, ["watch", str(a), "--every", every])
        assert result.exit_code == 2


def test_with_json_each_workbook_line_is_a_json_object_and_the_document_counts_runs(
    tmp_path, panel_env
):
    import json

    a = capped_book(tmp_path / "a.xlsx", rows=1)
    log = tmp_path / "watch.log"
    result = invoke(str(a), "--every", "0s", "--times", "2", "--log", str(log), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["runs"] == 2
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert [(x["run"], x["workbook"], x["result"]) for x in lines] == [
        (1, str(a), "ok"),
        (2, str(a), "ok"),
    ]
    assert lines[0]["spent"]["amount"] == "0.09000"


def test_a_workbook_stopped_for_its_journal_is_told_a_way_watch_has(tmp_path, panel_env):
    # The newcomer's watch logged "... (run it alone, or again with --new-journal)" for a copy
    # of a workbook; `smmsheet watch clients/ --new-journal` is "No such option".
    import shutil

    folder = tmp_path / "clients"
    folder.mkdir()
    book = capped_book(folder / "acme.xlsx", cap="5")
    shutil.copy(book, folder / "acme copy.xlsx")
    assert CliRunner().invoke(cli, ["run", str(book), "--yes"]).exit_code == 0
    result = invoke(str(folder), "--every", "0s", "--times", "1")
    [line] = [line for line in result.stderr.splitlines() if "acme copy.xlsx: error" in line]
    assert "looks like a copy" in line
    assert "again with --new-journal" not in line
    assert "smmsheet run" in line and "--new-journal" in line
