"""The `smmsheet` command: real simulator, real files, CliRunner (sqlite-utils style)."""

from __future__ import annotations

import json
import re
import shlex
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from smmsheet.cli import cli
from smmsheet.journal import journal_path
from smmsheet.simulator import DEFAULT_API_KEY

from .conftest import assert_sheet_matches_panel, make_orders_book, point_cli_at, read_orders

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_balance(panel_env):
    result = invoke("balance")
    assert result.exit_code == 0 and result.output.strip() == "1000.00 USD"


def test_balance_all_without_profiles_says_there_are_none(panel_env, tmp_path):
    # No config file (only the environment's panel): `balance --all` printed nothing at all
    # and exited 0, as if every balance had been shown.
    for args in (("balance", "--all"), ("balance", "--all", "--json")):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        assert "no profiles in" in result.output and "no-config.toml" in result.output


def test_services_table_json_and_csv(panel_env):
    table = invoke("services")
    assert table.exit_code == 0 and "Instagram Followers" in table.output
    data = json.loads(invoke("services", "--json").output)["services"]
    assert data[0]["id"] == 1 and data[0]["rate"] == "0.90"
    csv = invoke("services", "--csv").output.splitlines()
    assert csv[0].startswith("Service,Name,Type,Category,Rate per 1000")
    evil = next(line for line in csv if line.startswith("20,"))
    assert "'=HYPERLINK(" in evil and ",'@Weird +Category," in evil  # no CSV injection
    assert invoke("services", "--json", "--csv").exit_code == 2


def test_a_service_name_of_any_length_prints_on_a_line_a_terminal_can_show(tmp_path, monkeypatch):
    """A 20,000-character service name made every line of the table 20,000 wide."""
    from .scripted import ScriptedPanel

    long = '[{"service":1,"name":"' + "Followers " * 2000 + '","category":"IG","rate":"1"}]'
    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "none.toml"))
    with ScriptedPanel(_one_service_panel(services=long)) as panel:
        flags = ["--panel-url", panel.url, "--api-key", "key-7f3a9"]
        shown = CliRunner().invoke(cli, ["services", *flags])
        whole = CliRunner().invoke(cli, ["services", "--csv", *flags])
    assert shown.exit_code == 0, shown.output
    assert max(map(len, shown.output.splitlines())) < 250 and "Followers Followers" in shown.output
    assert "Followers " * 1999 in whole.output  # a CSV keeps every character


def test_a_csv_of_services_has_no_formula_behind_a_control_character(tmp_path, monkeypatch):
    """Control characters are dropped from what is printed: the formula guard must see the
    text as printed, or "\\u0001=cmd" becomes the cell =cmd in a spreadsheet."""
    from .scripted import ScriptedPanel

    hostile = '[{"service":1,"name":"\\u0001=cmd|\' /C calc\'!A0","category":"\\u001b+1"}]'
    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "none.toml"))
    with ScriptedPanel(_one_service_panel(services=hostile)) as panel:
        flags = ["--panel-url", panel.url, "--api-key", "key-7f3a9"]
        result = CliRunner().invoke(cli, ["services", "--csv", *flags])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].startswith("1,'=cmd|' /C calc'!A0,Default,'+1,")


def test_services_into_a_workbook_writes_text_not_formulas(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [])
    result = invoke("services", "--into", str(book))
    assert result.exit_code == 0, result.output
    rows = read_orders(book, "Services")
    evil = next(r for r in rows if r["Service"] == 20)
    assert evil["Name"].startswith("=HYPERLINK")
    from openpyxl import load_workbook

    sheet = load_workbook(book)["Services"]
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)


def test_services_into_a_missing_workbook_says_where_it_looked_and_how_to_make_one(
    panel_env, tmp_path, monkeypatch
):
    # The README's second step run before its first: the message named neither the folder
    # (a cron job's is not the user's) nor the command that writes the workbook.
    monkeypatch.chdir(tmp_path)
    missing = invoke("services", "--into", "my orders.xlsx")
    assert missing.exit_code == 2
    assert f"my orders.xlsx does not exist in {tmp_path}" in missing.output
    said = missing.output.split("`")[1]
    assert said == 'smmsheet new "my orders.xlsx"'
    assert invoke(*shlex.split(said)[1:]).exit_code == 0  # followed literally, it works
    assert invoke("services", "--into", "my orders.xlsx").exit_code == 0


def test_a_cron_place_every_few_minutes_keeps_to_its_cap_per_day(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, f"https://x/{i}", 100) for i in range(3)])
    for _ in range(3):  # 0.09 each: one fits the day's 0.10, on the first run only
        invoke("place", str(book), "--yes", "--max-spend-per-day", "$0.10")
    out = read_orders(book)
    assert [bool(r["Order ID"]) for r in out] == [True, False, False]
    assert "would exceed --max-spend-per-day 0.10 USD (0.09 spent earlier today" in out[2]["Error"]
    bad = invoke("place", str(book), "--yes", "--max-spend-per-day", "lots")
    assert bad.exit_code == 2 and "--max-spend-per-day must be an amount" in bad.output


def _with_sheet(book: Path, name: str, rows: list[list[object]]) -> Path:
    from openpyxl import load_workbook

    loaded = load_workbook(book)
    sheet = loaded.create_sheet(name)
    for row in rows:
        sheet.append(row)
    loaded.save(book)
    return book


def test_services_into_a_workbook_never_replaces_the_users_own_services_sheet(panel_env, tmp_path):
    price_list = [["Service", "My price"], [1, 2.5]]
    book = _with_sheet(make_orders_book(tmp_path / "o.xlsx", []), "Services", price_list)
    for _ in range(2):  # the second time, our own sheet is recognised and replaced
        result = invoke("services", "--into", str(book))
        assert result.exit_code == 0, result.output
        assert f"into {book} (sheet Services (smmsheet))" in result.output
        # A Services sheet of smmsheet's sorted with its header row looks like the user's: the
        # output said "was not written by smmsheet", which the user knew to be false.
        assert "The sheet 'Services' does not start with smmsheet's header row" in result.output
        assert "sorted with its header row, put that row (Service, Name, Type" in result.output
    from openpyxl import load_workbook

    loaded = load_workbook(book)
    assert loaded.sheetnames == ["Orders", "Services", "Services (smmsheet)"]
    assert [list(r) for r in loaded["Services"].values] == price_list
    assert len(read_orders(book, "Services (smmsheet)")) > 0


def test_services_into_a_workbook_refuses_when_both_names_are_the_users(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [])
    _with_sheet(book, "Services", [["Mine"]])
    _with_sheet(book, "Services (smmsheet)", [["Also mine"]])
    before = book.read_bytes()
    result = invoke("services", "--into", str(book))
    assert result.exit_code == 2
    assert "were not written by smmsheet: rename one of them" in result.output
    assert book.read_bytes() == before


def test_services_into_a_workbook_reads_its_settings_sheet_like_every_workbook_command(
    panel_env, tmp_path
):
    from openpyxl import load_workbook

    book = make_orders_book(tmp_path / "o.xlsx", [])
    loaded = load_workbook(book)
    loaded.create_sheet("Settings").append(["API key", "sk-in-the-book"])
    loaded.save(book)
    result = invoke("services", "--into", str(book))
    assert result.exit_code == 2 and "Settings sheet holds an API key" in result.output
    assert panel_env.counts["requests"] == 0


def test_missing_key_is_one_line_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("SMMSHEET_API_KEY", raising=False)
    monkeypatch.setenv("SMMSHEET_PANEL_URL", "http://127.0.0.1:9/api/v2")
    result = CliRunner().invoke(cli, ["balance"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "no API key" in result.output
    assert "Traceback" not in result.output


def test_unreachable_panel_is_one_line_exit_1(tmp_path, monkeypatch):
    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "none.toml"))
    result = CliRunner().invoke(
        cli, ["balance", "--panel-url", "http://127.0.0.1:9/api/v2", "--api-key", "k"]
    )
    assert result.exit_code == 1 and "cannot reach the panel" in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_place_with_yes_then_rerun_places_nothing(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100), (3, "https://b", 50)])
    first = invoke("place", str(book), "--yes")
    assert first.exit_code == 0, first.output
    assert "placed" in first.output and "Saved" in first.output
    second = invoke("run", str(book), "--yes")
    assert second.exit_code == 0 and panel_env.counts["add"] == 2
    assert_sheet_matches_panel(book, panel_env)


def test_a_cron_place_of_a_file_saved_filtered_buys_only_the_rows_shown(panel_env, tmp_path):
    """The workbook was saved with a filter on (Data > Filter, one client's rows shown) and
    a scheduled `place` runs on it: the rows the filter hides stay unbought, each saying
    why, and the summary lists them; cleared, the filter's rows are placed next time."""
    import openpyxl

    rows = [(1, "https://bob/a", 100), (3, "https://ann/b", 50), (1, "https://bob/c", 100)]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    workbook = openpyxl.load_workbook(book)
    sheet = workbook["Orders"]
    sheet.auto_filter.ref = sheet.dimensions
    sheet.auto_filter.add_filter_column(1, ["https://ann/b"])  # Link: Ann's row shown
    for hidden in (2, 4):
        sheet.row_dimensions[hidden].hidden = True
    workbook.save(book)
    first = invoke("place", str(book), "--yes")
    assert first.exit_code in (0, 1), first.output
    assert panel_env.counts["add"] == 1
    assert "row 2" in first.output and "hidden" in first.output
    placed = read_orders(book)
    assert [r["Order ID"] is not None for r in placed] == [False, True, False]
    assert "hidden" in placed[0]["Error"] and "hidden" in placed[2]["Error"]
    workbook = openpyxl.load_workbook(book)
    for hidden in (2, 4):
        workbook["Orders"].row_dimensions[hidden].hidden = False
    workbook.save(book)
    again = invoke("place", str(book), "--yes")
    assert again.exit_code == 0, again.output
    assert panel_env.counts["add"] == 3
    assert_sheet_matches_panel(book, panel_env)
    assert not any(r["Error"] for r in read_orders(book))


def test_a_copy_made_before_the_first_run_stops_a_cron_place_with_the_way_on(panel_env, tmp_path):
    """Following the message literally: the copy's rows are not bought again in cron (exit
    2, nothing sent), and --new-journal, as the message says, places them as new orders."""
    import shutil

    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100), (3, "https://b", 50)])
    copy = tmp_path / "o copy.xlsx"
    shutil.copy(book, copy)
    assert invoke("place", str(book), "--yes").exit_code == 0
    stopped = invoke("place", str(copy), "--yes")
    assert stopped.exit_code == 2 and panel_env.counts["add"] == 2
    assert "looks like a copy" in stopped.output and "--new-journal" in stopped.output
    again = invoke("place", str(copy), "--yes", "--new-journal")
    assert again.exit_code in (0, 1) and panel_env.counts["add"] == 4, again.output


@pytest.mark.parametrize("command", ["place", "status", "refill", "cancel"])
def test_a_folder_given_to_a_one_workbook_command_points_to_run(panel_env, tmp_path, command):
    """`smmsheet place clients/` said only click's "is a directory"."""
    folder = tmp_path / "my clients"
    folder.mkdir()
    make_orders_book(folder / "bob.xlsx", [(1, "https://a", 100)])
    result = invoke(command, str(folder))
    assert result.exit_code == 2 and panel_env.counts["add"] == 0
    assert "is a folder" in result.output
    assert f"smmsheet run '{folder}'" in " ".join(result.output.split())


def test_a_folder_message_says_run_cancels_too(panel_env, tmp_path):
    """`smmsheet status clients/` points to `smmsheet run clients/`, which also cancels the
    rows marked Cancel (a paid, final request): the message must not leave that out."""
    folder = tmp_path / "clients"
    folder.mkdir()
    result = invoke("status", str(folder))
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "smmsheet run" in said and "cancels" in said


def test_a_folder_message_on_windows_quotes_the_way_cmd_reads_it(panel_env, tmp_path):
    """On Windows the suggested `smmsheet run 'C:\\my clients'` is, in cmd.exe, two words
    with their quotes kept: no such folder. The folder is put in double quotes there."""
    from smmsheet.cli import shell_quoted

    folder = tmp_path / "my clients"
    folder.mkdir()
    assert shell_quoted(str(folder), platform="win32") == f'"{folder}"'
    assert shell_quoted(r"C:\clients", platform="win32") == r"C:\clients"
    assert shell_quoted(str(folder), platform="linux") == f"'{folder}'"


def test_place_without_a_terminal_needs_yes(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    result = invoke("place", str(book))
    assert result.exit_code == 2 and "pass --yes" in result.output
    assert panel_env.counts["add"] == 0
    # The newcomer's cron log read "nothing to do" above the order it had not placed.
    assert "nothing to do" not in result.output


def test_invalid_rows_exit_1_with_row_messages(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 1), (1, "https://b", 100)])
    result = invoke("place", str(book), "-y")
    assert result.exit_code == 1
    assert "row 2: place invalid: Quantity 1 is below the minimum 50" in result.output


def test_dry_run_previews_cost_and_changes_nothing(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 1000)])
    before = book.read_bytes()
    result = invoke("place", str(book), "--dry-run")
    assert result.exit_code == 0 and "Would place 1 order for about 0.90 USD" in result.output
    assert book.read_bytes() == before and panel_env.counts["add"] == 0


def test_max_spend_option(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 1000), (1, "https://b", 1000)])
    result = invoke("place", str(book), "-y", "--max-spend", "1")
    assert result.exit_code == 1 and panel_env.counts["add"] == 1
    assert invoke("place", str(book), "--max-spend", "lots").exit_code == 2


def test_status_refill_cancel_commands(panel_env, tmp_path):
    rows = [(1, "https://a", 100, None, None, None, None, None), (1, "https://b", 100)]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    assert invoke("place", str(book), "-y").exit_code == 0
    panel_env.advance(5)
    assert invoke("status", str(book)).exit_code == 0
    assert {r["Status"] for r in read_orders(book)} == {"Completed"}
    from smmsheet.workbook import open_workbook

    wb = open_workbook(str(book))
    wb.write_cells("Orders", {(2, 7): "x", (3, 8): "x"})
    wb.save()
    refill = invoke("refill", str(book))
    assert refill.exit_code == 0, refill.output
    assert invoke("refill-status", str(book)).exit_code == 0
    cancel = invoke("cancel", str(book), "-y")
    assert cancel.exit_code == 1 and "Order cannot be canceled" in cancel.output
    out = read_orders(book)
    assert out[0]["Refill ID"] == 501 and out[0]["Refill Status"]


def test_missing_sheet_and_broken_file_are_one_clear_error(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    missing = invoke("status", str(book), "--sheet", "Nope")
    assert missing.exit_code == 2 and "no sheet 'Nope'" in missing.output
    # A book whose order sheet has another name: both ways out are said.
    assert "(sheets: Orders): rename the order sheet to 'Nope'" in missing.output
    assert "or choose it with --sheet NAME" in missing.output
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"this is not a zip")
    result = invoke("place", str(broken), "-y")
    assert result.exit_code == 2 and result.output.startswith("Error:")
    assert broken.read_bytes() == b"this is not a zip"


def test_api_key_never_printed(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100), (999, "b", 1)])
    outputs = [
        invoke(*args).output for args in (["balance"], ["services"], ["run", str(book), "-y"])
    ]
    assert all(DEFAULT_API_KEY not in o for o in outputs)
    for path in tmp_path.iterdir():
        if path.is_file():
            assert DEFAULT_API_KEY.encode() not in path.read_bytes(), path


def test_journal_command_lists_paid_requests(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    invoke("place", str(book), "-y")
    result = invoke("journal", str(book))
    header, first = result.output.splitlines()
    assert (
        header.split() == "# When Row Action Service Link Qty State Result Charge In sheet".split()
    )
    assert re.fullmatch(
        r"1 +\S+ \S+ +Orders!2 +add +1 +https://a +100 +accepted +1001 +\d\.\d\d+ USD +yes", first
    )


def test_journal_of_a_run_that_paid_nothing_says_so_without_a_traceback(panel_env, tmp_path):
    # `place` on a new, empty workbook leaves a journal with no entries; `journal` then died
    # in the table printer (max() of one width).
    book = tmp_path / "o.xlsx"
    assert invoke("new", str(book)).exit_code == 0
    assert invoke("place", str(book)).exit_code == 0
    result = CliRunner().invoke(cli, ["journal", str(book)])
    assert result.exception is None, result.output
    assert result.exit_code == 0 and result.output == f"no paid requests in the journal of {book}\n"


def test_journal_says_which_written_orders_the_sheet_no_longer_holds(panel_env, tmp_path):
    # A reseller deletes a placed row: the order lives on only in the journal, which still
    # said "In sheet: yes" for it, so nothing pointed at the order the sheet had lost.
    from openpyxl import load_workbook

    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100), (1, "https://b", 100)])
    invoke("place", str(book), "-y")
    edit = load_workbook(book)
    edit["Orders"].delete_rows(2)
    edit.save(book)
    listed = json.loads(invoke("journal", str(book), "--json").output)["entries"]
    # By link: the two adds go out together, and either may be the panel's 1001.
    assert [(e["link"], e["in_sheet"]) for e in listed] == [
        ("https://a", "not any more"),
        ("https://b", "yes"),
    ]
    assert {e["order"] for e in listed} == {"1001", "1002"}
    text = invoke("journal", str(book)).output.splitlines()
    assert text[1].endswith("not any more") and text[2].endswith("yes")


def test_journal_command_shows_how_an_unknown_outcome_was_settled(panel_env, tmp_path):
    panel_env.faults.drop_after_accept = 1.0
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    invoke("place", str(book), "-y")
    panel_env.faults.drop_after_accept = 0.0
    from openpyxl import load_workbook

    workbook = load_workbook(book)
    sheet = workbook["Orders"]
    header = [c.value for c in sheet[1]]
    sheet.cell(row=2, column=header.index("Error") + 1, value=1001)
    workbook.save(book)
    invoke("place", str(book), "-y")
    result = invoke("journal", str(book))
    assert "ambiguous  1001 (settled: id typed by the user)" in result.output


def test_demo_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("demo")
    assert result.exit_code == 0, result.output
    assert "Balance left on the simulator" in result.output
    rows = read_orders(tmp_path / "smmsheet-demo.xlsx")
    assert sum(1 for r in rows if r["Order ID"]) == 6
    assert sum(1 for r in rows if r["Error"]) == 4
    # the table cuts long cells visibly, never mid-word without a sign ("minimum 50 fo")
    assert "| Quantity 10 is below the minimum...\n" in result.output
    assert invoke("demo").exit_code == 0  # a second demo starts afresh


def test_demo_never_replaces_a_workbook_it_did_not_write(tmp_path):
    mine = make_orders_book(tmp_path / "mine.xlsx", [(1, "https://a", 100)])
    before = mine.read_bytes()
    journal = journal_path(mine)
    journal.write_bytes(b"the journal of my paid orders")
    result = invoke("demo", "--out", str(mine))
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: {mine} exists and was not written by the demo: choose another --out, "
        "or pass --force to replace it and its journal"
    ]
    assert mine.read_bytes() == before
    assert journal.read_bytes() == b"the journal of my paid orders"
    forced = invoke("demo", "--out", str(mine), "--force")
    assert forced.exit_code == 0, forced.output
    assert sum(1 for r in read_orders(mine) if r["Order ID"]) == 6


def test_demo_never_deletes_the_journal_of_a_workbook_moved_away(tmp_path):
    journal = journal_path(tmp_path / "gone.xlsx")
    journal.write_bytes(b"paid orders")
    result = invoke("demo", "--out", str(tmp_path / "gone.xlsx"))
    assert result.exit_code == 2 and "pass --force to delete it" in result.output
    assert journal.read_bytes() == b"paid orders"


def test_demo_into_a_missing_folder_is_one_line(tmp_path):
    folder = tmp_path / "nope"
    result = CliRunner().invoke(cli, ["demo", "--out", str(folder / "d.xlsx")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # no traceback
    assert result.output.strip().splitlines() == [
        f"Error: cannot write {folder / 'd.xlsx'}: there is no folder {folder}"
    ]


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_is_documented_in_the_readme(command):
    readme = (ROOT / "README.md").read_text()
    assert f"smmsheet {command}" in readme


def test_the_workbook_commands_are_the_engines_commands_spelled_the_same():
    from smmsheet.batch import Command
    from smmsheet.cli import BOOK_COMMANDS

    assert set(BOOK_COMMANDS) == set(Command)


def test_sim_command_serves_a_panel_until_stopped(tmp_path):
    import signal
    import socket
    import subprocess
    import sys
    import time

    from smmsheet.panel import PanelClient

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "smmsheet", "sim", "--port", str(port), "--balance", "12.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v2"
        with PanelClient(url, DEFAULT_API_KEY, retries=0) as client:
            deadline = time.monotonic() + 20
            while True:
                try:
                    balance = client.balance()
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        assert str(balance.amount) == "12.50000"
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the command stops cleanly
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert f"SMMSHEET_PANEL_URL=http://127.0.0.1:{port}/api/v2" in out


ONE_SERVICE = '[{"service":1,"type":"Default","rate":"1","min":"1","max":"99"}]'


def _one_service_panel(
    balance: str = '{"balance":"10","currency":"USD"}',
    add: str = '{"order":1}',
    services: str = ONE_SERVICE,
) -> Callable[[dict[str, str]], Any]:
    """A scripted panel's replies: one service (rate 1, 1-99), ``balance`` and ``add`` bodies."""
    from .scripted import json_reply

    def script(form: dict[str, str]) -> Any:
        if form["action"] == "services":
            return json_reply(services)
        return json_reply(balance if form["action"] == "balance" else add)

    return script


def _place_against_a_panel_refusing_with(error: str, tmp_path, monkeypatch, *flags: str):
    """`place` over one row against a panel whose add is refused with ``error`` (JSON text)."""
    from .scripted import ScriptedPanel

    script = _one_service_panel(add='{"error":"' + error + '"}')
    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "none.toml"))
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 10)])
    with ScriptedPanel(script) as panel:
        return CliRunner().invoke(
            cli,
            ["place", str(book), "-y", *flags, "--panel-url", panel.url, "--api-key", "key-7f3a9"],
        )


def test_panel_text_cannot_drive_the_terminal(tmp_path, monkeypatch):
    result = _place_against_a_panel_refusing_with(
        "bad link\\u001b[2J\\u001b]0;pwned\\u0007", tmp_path, monkeypatch
    )
    assert result.exit_code == 1 and "bad link[2J]0;pwned" in result.output
    assert "\x1b" not in result.output and "\x07" not in result.output


def test_a_panels_currency_cannot_drive_the_terminal_at_the_question(tmp_path, monkeypatch):
    """The currency is panel text too: in the balance, the question and the --yes hint."""
    from .scripted import ScriptedPanel

    currency = "USD\\u001b]0;pwned\\u0007\\u001b[2J"
    script = _one_service_panel(balance='{"balance":"10","currency":"' + currency + '"}')

    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "none.toml"))
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 10)])
    with ScriptedPanel(script) as panel:
        panel_flags = ["--panel-url", panel.url, "--api-key", "key-7f3a9"]
        outputs = [CliRunner().invoke(cli, ["balance", *panel_flags]).output]
        outputs.append(CliRunner().invoke(cli, ["place", str(book), *panel_flags]).output)
        _interactive(monkeypatch)
        asked = CliRunner().invoke(cli, ["place", str(book), *panel_flags], input="n\n")
        outputs.append(asked.output)
    assert "Place 1 order for about 0.01 USD]0;pwned[2J? [y/N]" in asked.output
    for output in outputs:
        assert "USD]0;pwned" in output and "\x1b" not in output and "\x07" not in output


def test_panel_text_cannot_forge_a_line_of_the_summary(tmp_path, monkeypatch):
    forged = "Spent 0.00 USD (the panel's charges for the orders placed)."
    result = _place_against_a_panel_refusing_with(
        "bad link\\n" + forged + "\\r\\nSaved o.xlsx.", tmp_path, monkeypatch
    )
    lines = result.output.splitlines()
    assert result.exit_code == 1
    assert f"  row 2: place failed: bad link {forged} Saved o.xlsx." in lines
    assert not any(line.startswith(("Spent", "Saved o.xlsx")) for line in lines), lines


def _with_settings(book: Path, *rows: tuple[object, object]) -> Path:
    from openpyxl import load_workbook

    wb = load_workbook(book)
    sheet = wb.create_sheet("Settings")
    for row in rows:
        sheet.append(list(row))
    wb.save(book)
    return book


def test_an_unreadable_max_spend_in_the_settings_sheet_stops_the_run(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 1000), (1, "https://b", 1000)])
    _with_settings(book, ("Setting", "Value"), ("Max spend", "two dollars"))
    result = invoke("place", str(book), "-y")
    assert result.exit_code == 2 and panel_env.counts["add"] == 0
    assert result.output.count("\n") == 1
    assert "Max spend in Settings!B2 must be an amount" in result.output
    assert "'two dollars'" in result.output


@pytest.mark.parametrize("typed", ["two dollars", "-1", "1,500", ""])
def test_an_unreadable_max_spend_flag_stops_the_run_in_one_line(panel_env, tmp_path, typed):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 1000)])
    result = invoke("place", str(book), "-y", "--max-spend", typed)
    assert result.exit_code == 2 and panel_env.counts["add"] == 0
    assert result.output.startswith("Error: --max-spend must")
    assert result.output.count("\n") == 1


@pytest.mark.parametrize("where", ["sheet", "flag"])
@pytest.mark.parametrize("typed", ["$1", "1 USD", "1,00", "1.00 €"])
def test_max_spend_written_with_currency_caps_the_same_from_sheet_or_flag(
    panel_env, tmp_path, typed, where
):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 1000), (1, "https://b", 1000)])
    if where == "sheet":
        _with_settings(book, ("Max spend", typed))
        result = invoke("place", str(book), "-y")
    else:
        result = invoke("place", str(book), "-y", "--max-spend", typed)
    assert result.exit_code == 1 and panel_env.counts["add"] == 1  # 0.90 each: one fits
    named = "Max spend (Settings sheet) 1" if where == "sheet" else "--max-spend 1"
    assert f"Not placed: would exceed {named}" in read_orders(book)[1]["Error"]


@pytest.fixture
def misleading_env(misleading_sim, tmp_path, monkeypatch):
    """``panel_env`` over a simulator that also lists services without a usable price."""
    return point_cli_at(misleading_sim, tmp_path, monkeypatch)


def test_place_confirmation_lists_rows_whose_price_is_unknown(
    misleading_env, tmp_path, monkeypatch
):
    import smmsheet.cli

    monkeypatch.setattr(smmsheet.cli, "_interactive", lambda: True)
    rows = [(1, "https://a", 1000), (31, "https://b", 100), (30, "https://c", 100)]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    result = invoke("place", str(book), input="n\n")
    assert (
        "Refused (2 rows):\n  row 3: Not placed: the panel's service list gives no price "
        "for service 31" in result.output
    )
    assert "To place: row 2, about 0.90 USD.\nBalance: 1000.00 USD." in result.output
    assert "Place 1 order for about 0.90 USD? [y/N]" in result.output
    assert misleading_env.counts["add"] == 0
    assert invoke("place", str(book), "-y", "--allow-unpriced").exit_code == 0
    assert misleading_env.counts["add"] == 3


def test_place_summary_counts_the_panels_charges_and_lists_notes(misleading_env, tmp_path):
    rows = [(33, "https://p/1", 2), (33, "https://p/2")]  # a package billed rate x 1 / 1000
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    result = invoke("place", str(book), "-y")
    assert result.exit_code == 0, result.output
    assert "Planned 2 orders for 0.006 to 6.00 USD (balance 1000.00 USD)." in result.output
    assert "Spent 0.006 USD (the panel's charges for the orders placed)." in result.output
    assert result.output.count("other amounts than estimated") == 1
    assert "row 2: place note: Quantity 2 is ignored" in result.output


def _flag_cancel(book: Path, row: int = 2) -> None:
    from smmsheet.workbook import open_workbook

    wb = open_workbook(str(book))
    wb.write_cells("Orders", {(row, 8): "x"})
    wb.save()


@pytest.mark.parametrize("command", ["cancel", "run"])
def test_cancel_without_a_terminal_and_without_yes_sends_nothing(panel_env, tmp_path, command):
    panel_env.auto_progress = False  # the order stays cancelable
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    assert invoke("place", str(book), "-y").exit_code == 0
    _flag_cancel(book)
    result = invoke(command, str(book))
    assert result.exit_code == 2 and panel_env.counts["cancel"] == 0
    assert "Not canceled: 1 order: 1001 (row 2): confirmation needed; pass --yes" in result.output
    assert "nothing to do" not in result.output  # a cancel waits for --yes
    assert read_orders(book)[0]["Cancel"] == "x"
    assert invoke(command, str(book), "--yes").exit_code == 0
    assert panel_env.counts["cancel"] == 1


def test_cancel_asks_which_orders_at_a_terminal(panel_env, tmp_path, monkeypatch):
    import smmsheet.cli

    monkeypatch.setattr(smmsheet.cli, "_interactive", lambda: True)
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100), (1, "https://b", 100)])
    assert invoke("place", str(book), "-y").exit_code == 0
    _flag_cancel(book, 3)
    oid = read_orders(book)[1]["Order ID"]  # adds run concurrently: any id
    declined = invoke("cancel", str(book), input="n\n")
    assert f"Cancel 1 order: {oid} (row 3)? [y/N]" in declined.output
    assert declined.exit_code == 0 and panel_env.counts["cancel"] == 0
    assert invoke("cancel", str(book), input="y\n").exit_code == 0
    assert panel_env.counts["cancel"] == 1 and panel_env.orders[oid].status == "Canceled"


def test_cancel_dry_run_sends_nothing(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    assert invoke("place", str(book), "-y").exit_code == 0
    _flag_cancel(book)
    result = invoke("cancel", str(book), "--dry-run")
    assert result.exit_code == 0 and "would cancel" in result.output
    assert panel_env.counts["cancel"] == 0


CAPS = {"max_spend", "max_spend_per_day"}
BOOK_OPTIONS = {
    "place": {"dry_run", *CAPS, "allow_unpriced", "yes", "new_journal"},
    "status": set(),
    "refill": {"dry_run", "new_journal"},
    "refill-status": set(),
    "cancel": {"dry_run", "yes", "new_journal"},
    "run": {"dry_run", *CAPS, "allow_unpriced", "yes", "new_journal", "jobs"},
}


@pytest.mark.parametrize("command", sorted(BOOK_OPTIONS))
def test_each_book_command_offers_only_the_options_that_mean_something(command):
    common = {"book", "sheet", "panel_url", "api_key", "profile", "as_json", "verbose"}
    offered = {p.name for p in cli.commands[command].params} - common
    assert offered == BOOK_OPTIONS[command]


@pytest.mark.parametrize(
    "args",
    [
        ("cancel", "--max-spend", "1"),
        ("status", "--max-spend", "1"),
        ("refill-status", "--max-spend", "1"),
        ("refill", "--yes"),
        ("status", "--dry-run"),
    ],
)
def test_an_option_that_means_nothing_for_a_command_is_refused(panel_env, tmp_path, args):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    result = invoke(args[0], str(book), *args[1:])
    assert result.exit_code == 2 and "No such option" in result.output
    assert panel_env.counts["requests"] == 0


def test_sim_on_a_port_in_use_says_so_in_one_line_before_any_banner():
    """A reseller starts a second `smmsheet sim` while the first one runs: one line that
    says why and what to do, not a traceback after a banner claiming it serves."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("sim", "--port", str(port))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.startswith(f"Error: cannot serve on 127.0.0.1:{port}: ")
    assert "choose another --port" in result.output and "Ctrl-C" not in result.output


@pytest.mark.parametrize(
    ("flag", "value"), [("--port", "99999"), ("--balance", "lots"), ("--host", "8.8.8.8")]
)
def test_sim_refuses_a_bad_setting_in_one_line(flag, value):
    result = CliRunner().invoke(cli, ["sim", flag, value])
    assert result.exit_code == 2, result.output  # an uncaught exception would be 1
    assert "Error" in result.output and flag.lstrip("-") in result.output.lower()


def test_sim_lists_its_dialects_and_refuses_an_unknown_one():
    from smmsheet.simulator import DIALECTS

    listing = invoke("sim", "--list-dialects")
    assert listing.exit_code == 0
    assert [line.split()[0] for line in listing.output.splitlines()] == list(DIALECTS)
    unknown = CliRunner().invoke(cli, ["sim", "--dialect", "klingon"])
    assert unknown.exit_code == 2 and "'klingon' is not one of: standard" in unknown.output


def test_sim_speaks_the_dialect_it_is_started_with(tmp_path):
    import signal
    import socket
    import subprocess
    import sys
    import time

    import requests

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = ["sim", "--port", str(port), "--dialect", "everything", "--requests-per-minute", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "smmsheet", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/api/v2"
    form = {"key": DEFAULT_API_KEY, "action": "add", "service": "1", "link": "https://a"}
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                placed = requests.post(url, data={**form, "quantity": "100"}, timeout=5)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        refused = requests.post(url, data={**form, "quantity": "1"}, timeout=5)
        limited = requests.post(url, data={**form, "quantity": "1"}, timeout=5)
        assert placed.json() == {"status": "success", "order": "ORD-01HGX1001"}
        assert refused.json() == {"status": "fail", "message": "Quantity less than minimal 50"}
        assert limited.status_code == 429 and 0 < int(limited.headers["Retry-After"]) <= 60
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "(dialect everything)" in out


@pytest.mark.parametrize("command", ["status", "refill-status"])
def test_a_panel_outage_is_one_message_and_rows_keep_their_error_text(
    panel_env, tmp_path, monkeypatch, command
):
    import socket

    from openpyxl import load_workbook

    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100), (3, "https://b", 50)])
    assert invoke("place", str(book), "-y").exit_code == 0
    loaded = load_workbook(book)
    sheet = loaded["Orders"]
    column = {c.value: c.column for c in sheet[1]}
    sheet.cell(2, column["Error"], "called the customer")
    for row in (2, 3):
        sheet.cell(row, column["Refill ID"], 500 + row)
    loaded.save(book)
    with socket.socket() as s:  # a port nobody listens on: the panel is down
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("SMMSHEET_PANEL_URL", f"http://127.0.0.1:{dead}/api/v2")
    result = invoke(command, str(book))
    assert result.exit_code == 1
    assert result.output.count("cannot reach the panel") == 1
    assert "status: status:" not in result.output and "nothing refreshed" in result.output
    rows = read_orders(book)
    assert [r["Error"] for r in rows] == ["called the customer", None]


# --------------------------------------------------------------------------- the question to place


def _interactive(monkeypatch):
    import smmsheet.cli

    monkeypatch.setattr(smmsheet.cli, "_interactive", lambda: True)


def test_the_place_question_comes_after_the_rows_refusals_cost_and_balance(
    panel_env, tmp_path, monkeypatch
):
    _interactive(monkeypatch)
    rows = [(1, "https://a", 1000), (999, "https://b", 100), (1, "https://c", 10), (3, "x", 100)]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    result = invoke("place", str(book), input="n\n")
    out = result.output
    facts = [
        "Refused (2 rows):",
        "  row 3: Unknown service 999 (not in the panel's service list)",
        "  row 4: Quantity 10 is below the minimum 50 for service 1",
        "To place: rows 2, 5, about 0.925 USD.",
        "Balance: 1000.00 USD.",
        "Place 2 orders for about 0.925 USD? [y/N]",
    ]
    positions = [out.index(line) for line in facts]
    assert positions == sorted(positions), out
    # Declining is no failure, even with refused rows: exit 0, and it says nothing was sent.
    assert result.exit_code == 0 and "placing cancelled: nothing was sent" in out
    # ... and the summary does not call the declined orders "Planned", as if they were going
    assert "Planned" not in out and "Declined: 2 orders for about 0.925 USD" in out
    assert panel_env.counts["add"] == 0 and panel_env.counts["requests"] == 2  # services, balance


def test_declining_to_place_says_so_in_json_and_exits_0(panel_env, tmp_path, monkeypatch):
    _interactive(monkeypatch)
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 1000), (999, "https://b", 1)])
    result = CliRunner().invoke(cli, ["place", str(book), "--json"], input="n\n")
    document = json.loads(result.stdout)
    assert result.exit_code == 0 and document["ok"] is True
    assert document["declined"] == ["placing 1 order for about 0.90 USD"]
    assert panel_env.counts["add"] == 0


def test_no_answer_to_the_question_is_a_json_error_too(panel_env, tmp_path, monkeypatch):
    _interactive(monkeypatch)
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 1000)])
    result = CliRunner().invoke(cli, ["place", str(book), "--json"], input="")  # end of input
    document = json.loads(result.stdout)
    assert result.exit_code == 1 and document["error"]["type"] == "Abort"
    assert panel_env.counts["add"] == 0


def test_no_answer_to_the_question_says_nothing_was_sent_after_it(panel_env, tmp_path, monkeypatch):
    """Ctrl-C or end of input at the question: not click's bare "Aborted!", which leaves a
    reseller wondering whether the orders went out."""
    _interactive(monkeypatch)
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 1000)])
    result = invoke("place", str(book), input="")
    assert result.exit_code == 1 and "Aborted!" not in result.output
    assert result.output.endswith("\nStopped at the question: nothing was sent after it.\n")
    assert panel_env.counts["add"] == 0


def test_a_dry_runs_shortened_list_says_how_to_see_every_row_not_the_error_column(
    panel_env, tmp_path
):
    book = make_orders_book(tmp_path / "o.xlsx", [(999, f"https://{i}", 100) for i in range(25)])
    result = CliRunner().invoke(cli, ["place", str(book), "--dry-run"])
    assert "... and 5 more (--json lists them all)" in result.output
    assert "Error column" not in result.output
    listed = json.loads(invoke("place", str(book), "--dry-run", "--json").output)
    assert [r["row"] for r in listed["results"]] == list(range(2, 27))


# --------------------------------------------------------------------------- --json


JSON_KEYS = {"schema", "command", "ok", "exit_code"}


@pytest.mark.parametrize("command", sorted(set(cli.commands) - {"addin"}))
def test_every_command_takes_json(command):
    assert "as_json" in {p.name for p in cli.commands[command].params}


def test_a_runs_json_holds_the_summary_and_every_rows_outcome(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 1000), (999, "https://b", 1)])
    result = CliRunner().invoke(cli, ["place", str(book), "-y", "--json"])
    document = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    assert result.exit_code == 1 and document["exit_code"] == 1 and document["ok"] is False
    assert JSON_KEYS <= set(document) and document["command"] == "place"
    assert document["workbook"] == str(book) and document["saved"] is True
    assert document["plan"]["rows"] == [2] and document["plan"]["cost"] == "0.90"
    assert document["spent"] == {"amount": "0.90000", "currency": "USD", "estimated_orders": 0}
    assert document["steps"] == [
        {"step": "place", "outcome": "invalid", "rows": 1},
        {"step": "place", "outcome": "placed", "rows": 1},
        {"step": "status", "outcome": "updated", "rows": 1},
    ]
    assert document["statuses"] == {"Pending": 1}
    assert document["attention"]["error_rows"] == [3]
    assert {"row": 2, "step": "place", "outcome": "placed", "message": "1001"} in document[
        "results"
    ]


@pytest.mark.parametrize(
    ("args", "code", "kind", "says"),
    [
        (("status", "{book}", "--sheet", "Nope"), 2, "LayoutError", "no sheet 'Nope'"),
        (("place", "{book}", "--max-spend", "lots"), 2, "ConfigError", "--max-spend must"),
        (("services", "--csv"), 2, "UsageError", "choose one of --json and --csv"),
        (("place", "{book}", "--nope"), 2, "NoSuchOption", "--nope"),
        (
            ("balance", "--panel-url", "http://127.0.0.1:9/api/v2", "--api-key", "k-1"),
            1,
            "",
            "reach",
        ),
    ],
)
def test_errors_of_a_json_run_are_json_with_the_exit_code_kept(
    panel_env, tmp_path, args, code, kind, says
):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    argv = [a.format(book=book) for a in args]
    result = CliRunner().invoke(cli, [*argv, "--json"])
    document = json.loads(result.stdout)
    assert result.exit_code == code and document["exit_code"] == code
    assert document["ok"] is False and document["command"] == argv[0]
    assert document["error"]["type"].endswith(kind) and says in document["error"]["message"]


@pytest.mark.parametrize("argv", [["--json", "balance"], ["--version", "--json"]])
def test_a_usage_error_before_the_command_name_is_json_too_when_json_was_asked(argv):
    """A script that puts --json first gets a JSON error it can read, not a usage text."""
    result = CliRunner().invoke(cli, argv)
    document = json.loads(result.stdout)
    assert result.exit_code == 2 and document["exit_code"] == 2 and document["ok"] is False
    assert document["error"]["type"] == "NoSuchOption"
    assert "--json goes after the command's name" in document["error"]["message"]


def test_a_run_that_needs_yes_says_so_in_json_with_exit_2(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    result = CliRunner().invoke(cli, ["place", str(book), "--json"])
    document = json.loads(result.stdout)
    assert result.exit_code == 2 and document["needs_confirmation"] == [
        "Not placed: 1 order for about 0.09 USD"
    ]


def test_json_of_every_other_command(panel_env, tmp_path, monkeypatch):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    assert invoke("place", str(book), "-y").exit_code == 0
    documents = {
        name: json.loads(invoke(*args, "--json").output)
        for name, args in {
            "balance": ["balance"],
            "services": ["services", "--search", "FOLLOW"],
            "journal": ["journal", str(book)],
            "config-path": ["config-path"],
            "sim": ["sim", "--list-dialects"],
            "report": ["report", str(book)],
            "new": ["new", str(tmp_path / "blank.xlsx")],
        }.items()
    }
    assert all(d["command"] == name and d["ok"] for name, d in documents.items())
    assert documents["balance"]["balance"] == {"amount": "999.91000", "currency": "USD"}
    assert [s["id"] for s in documents["services"]["services"]] == [1, 8]
    entry = documents["journal"]["entries"][0]
    assert (entry["service"], entry["link"], entry["quantity"]) == ("1", "https://a", "100")
    assert entry["charge"] == {"amount": "0.09", "currency": "USD"}
    assert documents["config-path"]["path"].endswith("no-config.toml")
    assert "standard" in documents["sim"]["dialects"]
    assert documents["report"]["orders"] == 1 and documents["report"]["sheet"] == "Dashboard"
    assert documents["new"] == {**documents["new"], "journal_kept": False}
    assert (tmp_path / "blank.xlsx").exists()
    monkeypatch.chdir(tmp_path)
    demo = json.loads(invoke("demo", "--json").output)
    assert [s["command"] for s in demo["steps"]] == ["place", "status", "status", "run"]
    assert len(demo["rows"]) == 10 and demo["balance"]["currency"] == "USD"


def test_json_output_cannot_drive_the_terminal_or_show_the_key(tmp_path, monkeypatch):
    result = _place_against_a_panel_refusing_with(
        "bad key-7f3a9 \\u001b[2J\\u009b1m", tmp_path, monkeypatch, "--json"
    )
    assert "\x1b" not in result.stdout and "\x9b" not in result.stdout
    assert "key-7f3a9" not in result.stdout
    message = json.loads(result.stdout)["results"][0]["message"]
    assert message.startswith("bad ") and "\x1b[2J" in message  # kept, escaped as \u001b


def test_services_search_and_category_filter_case_insensitively(panel_env):
    listed = json.loads(invoke("services", "--json", "--search", "LIKES").output)["services"]
    assert listed and all("likes" in s["name"].lower() for s in listed)
    youtube = json.loads(invoke("services", "--json", "--category", "youtube").output)
    assert youtube["count"] and all("youtube" in s["category"].lower() for s in youtube["services"])
    none = invoke("services", "--search", "no such service anywhere")
    assert none.exit_code == 0 and none.output == "No services match.\n"


def test_services_filters_are_refused_with_into(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [])
    before = book.read_bytes()
    result = CliRunner().invoke(cli, ["services", "--into", str(book), "--search", "likes"])
    assert result.exit_code == 2 and "--into writes the whole list" in result.output
    assert book.read_bytes() == before and panel_env.counts["requests"] == 0


def test_services_prints_yes_no_and_blank_not_python_words(panel_env):
    table = invoke("services").output
    assert not re.search(r"\b(True|False|None|NaN)\b", table)
    follower = next(line for line in table.splitlines() if "Instagram Followers" in line)
    assert re.search(r"\byes\b|\bno\b", follower)
    csv = invoke("services", "--csv").output
    assert "True" not in csv and "False" not in csv and ",yes," in csv


# --------------------------------------------------------------------------- after a run


def test_the_summary_shows_money_spent_statuses_and_what_needs_attention(panel_env, tmp_path):
    panel_env.auto_progress = False
    rows = [
        (1, "https://a", 1000),
        (3, "https://b", 500),
        (999, "https://c", 1),
        (1, "https://d", 100),
    ]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    before = panel_env.balance
    lost = iter([False, False, True])  # the third add's reply is lost after the panel placed it
    in_turn = threading.Lock()  # adds run at once: the third placed is the third told lost

    def add(params, faults, real=panel_env._process):
        with in_turn:
            reply, _ = real(params, faults)
            return reply, params.get("action") == "add" and next(lost)

    panel_env._process = add
    panel_env.faults.lost_reply = "502"
    result = invoke("place", str(book), "-y")
    spent = before - panel_env.balance
    charged = [o.charge for o in panel_env.orders.values()][:2]  # the sheet knows two orders
    assert (
        f"Spent {sum(charged):.3f} USD (the panel's charges for the orders placed)."
        in result.output
    )
    assert spent > sum(charged)  # the lost one was charged too: the row says to check the panel
    assert "Orders in the sheet by status: Pending 2." in result.output
    assert (
        "Needs attention: 1 row with an error (row 4); 1 row that may have been placed (row 5): "
        "check the panel's orders, then type the order id or PLACE AGAIN." in result.output
    )


def test_the_summary_counts_journal_entries_not_in_the_workbook_yet(
    panel_env, tmp_path, monkeypatch
):
    from .conftest import fail_saves_after_the_marker

    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100), (1, "https://b", 100)])
    with monkeypatch.context() as patch:
        fail_saves_after_the_marker(patch)
        assert invoke("place", str(book), "-y").exit_code == 2  # disk full after paying
    result = invoke("place", str(book), "--dry-run")
    assert "2 journal entries not in the workbook yet (written by the next run)" in result.output


def test_run_lists_its_steps_in_the_order_it_did_them(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100), (1, "https://b", 100)])
    assert invoke("place", str(book), "-y").exit_code == 0
    panel_env.advance(5)
    assert invoke("status", str(book)).exit_code == 0
    from smmsheet.workbook import open_workbook

    wb = open_workbook(str(book))
    wb.write_cells("Orders", {(2, 7): "x"})
    wb.write_cells("Orders", {(4, 1): 1, (4, 2): "https://c", (4, 3): 100})
    wb.save()
    result = invoke("run", str(book), "-y")
    steps = [line.split()[0] for line in result.output.splitlines() if line.startswith("  ")]
    assert steps == ["place", "refill", "status", "refill"]  # status; then "refill status"
    assert "  refill status  updated" in result.output


# --------------------------------------------------------------------------- journal, sim --log


def test_journal_lists_refills_by_order_and_charges_from_the_sheet(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://instagram.com/" + "x" * 60, 100)])
    assert invoke("place", str(book), "-y").exit_code == 0
    panel_env.advance(5)
    _flag_refill(book)
    assert invoke("run", str(book), "-y").exit_code == 0
    lines = invoke("journal", str(book)).output.splitlines()
    assert "https://instagram.com/xxxxxxxxxxxxxxx... " in lines[1]  # long links shortened
    assert lines[1].split()[-3:] == ["0.09", "USD", "yes"]
    assert re.fullmatch(r"2 .* Orders!2 +refill +order 1001 +accepted +501 +yes", lines[2])


def _flag_refill(book: Path, row: int = 2) -> None:
    from smmsheet.workbook import open_workbook

    wb = open_workbook(str(book))
    wb.write_cells("Orders", {(row, 7): "x"})
    wb.save()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_sim(*args: str):
    """`python -m smmsheet sim` on a free port; (process, url) once it answers."""
    import subprocess
    import sys
    import time

    import requests

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smmsheet", "sim", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/api/v2"
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.post(url, data={"key": DEFAULT_API_KEY, "action": "balance"}, timeout=5)
            return proc, url
        except requests.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.1)


def _stop(proc) -> str:
    import signal

    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    return str(out)


def test_sim_log_prints_each_request_it_serves_and_never_the_key():
    import requests

    proc, url = _start_sim("--log")
    try:
        key = {"key": DEFAULT_API_KEY}
        add = {**key, "action": "add", "service": "1", "link": "https://a", "quantity": "100"}
        requests.post(url, data=add, timeout=5)
        requests.post(url, data={**add, "quantity": "1"}, timeout=5)
        requests.post(url, data={**key, "action": "status", "orders": "1001,1002"}, timeout=5)
        requests.post(url, data={"key": "wrong-key-93f1", "action": "balance"}, timeout=5)
        requests.get(url, timeout=5)
    finally:
        out = _stop(proc)
    served = [
        line.split(" ", 1)[1] for line in out.splitlines() if re.match(r"\d\d:\d\d:\d\d ", line)
    ]
    assert served == [
        "balance -> 200 ok",  # the start-up probe
        "add service 1 -> 200 ok, order 1001",
        "add service 1 -> 200 refused",
        "status 1001,1002 (2 ids) -> 200 ok",
        "balance -> 200 refused",
        "GET /api/v2 -> 405 not allowed",
    ]
    assert "wrong-key-93f1" not in out and out.count(DEFAULT_API_KEY) == 1  # the export line


def test_sim_log_with_json_prints_one_object_per_line():
    import requests

    proc, url = _start_sim("--log", "--json")
    try:
        form = {"key": DEFAULT_API_KEY, "action": "refill", "order": "77"}
        requests.post(url, data=form, timeout=5)
    finally:
        out = _stop(proc)
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["url"] == url
    assert {k: lines[-1][k] for k in ("action", "ids", "status", "outcome")} == {
        "action": "refill",
        "ids": ["77"],
        "status": 200,
        "outcome": "refused",
    }


# --------------------------------------------------------------------------- small things


@pytest.mark.parametrize("command", ["balance", "status"])
def test_ctrl_c_in_a_command_that_pays_nothing_does_not_speak_of_the_journal(
    panel_env, tmp_path, command
):
    # "Interrupted: outcomes so far are in the journal." after Ctrl-C in `balance` or
    # `status`, which journal nothing: the user went looking for outcomes that never were.
    import signal
    import subprocess
    import sys
    import time

    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    invoke("place", str(book), "-y")  # an open order for `status` to ask about
    panel_env.faults.latency = 5.0
    asked = sum(panel_env.counts.values())
    args = [command] if command == "balance" else [command, str(book)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "smmsheet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while sum(panel_env.counts.values()) == asked and time.monotonic() < deadline:
        time.sleep(0.05)  # until the request is at the panel
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    said = "Interrupted: no order was placed, refilled or canceled."
    assert proc.returncode == 130 and err.strip() == said, err


def test_ctrl_c_during_a_progress_bar_gives_the_cursor_back(panel_env, tmp_path):
    import os
    import pty
    import select
    import signal
    import subprocess
    import sys
    import time

    panel_env.faults.latency = 0.05
    rows = [(1, f"https://a/{i}", 100) for i in range(300)]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smmsheet", "place", str(book), "-y"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    interrupted = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child is gone and the pty closed
                break
            if not chunk:
                break
            seen += chunk
        if not interrupted and b"\x1b[?25l" in seen:
            proc.send_signal(signal.SIGINT)
            interrupted = True
        if proc.poll() is not None and not ready:
            break
    proc.wait(timeout=30)
    os.close(master)
    assert interrupted and proc.returncode == 130, seen[-500:]
    assert seen.rindex(b"\x1b[?25h") > seen.rindex(b"\x1b[?25l")


@pytest.mark.parametrize(
    ("lock_name", "program"), [(".~lock.o.xlsx#", "LibreOffice"), ("~$o.xlsx", "Excel")]
)
def test_a_workbook_open_in_libreoffice_or_excel_is_refused_with_a_stale_hint(
    panel_env, tmp_path, lock_name, program
):
    import os

    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    lock = tmp_path / lock_name
    lock.write_text("someone,host,,25.11.2026 20:00;")
    before = book.read_bytes()
    fresh = invoke("place", str(book), "-y")
    said = f"o.xlsx is open in {program} (lock file {lock_name}); close it and run again"
    assert fresh.exit_code == 2 and said in fresh.output and "left over" not in fresh.output
    old = book.stat().st_mtime - 3600
    os.utime(lock, (old, old))  # the workbook was saved after the lock file was made
    stale = invoke("place", str(book), "-y")
    assert stale.exit_code == 2
    # "left over from a Excel" read wrong; the program's name stands alone.
    said = f"older than the workbook's last save, so {program} may have left it behind"
    assert said in stale.output and " a Excel" not in stale.output
    assert f"delete {lock_name}" in stale.output
    assert book.read_bytes() == before and panel_env.counts["add"] == 0


@pytest.mark.parametrize("command", ["place", "run", "refill", "cancel"])
def test_a_dry_run_creates_no_journal_or_lock_file(panel_env, tmp_path, command):
    folder = tmp_path / "books"
    folder.mkdir()
    book = make_orders_book(folder / "o.xlsx", [(1, "https://a", 100)])
    assert invoke(command, str(book), "--dry-run").exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["o.xlsx"]
    assert invoke("place", str(book), "-y").exit_code == 0
    _flag_refill(book)
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    result = invoke(command, str(book), "--dry-run")
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files


def test_a_dry_run_is_refused_while_another_run_holds_the_journal(panel_env, tmp_path):
    from smmsheet.journal import Journal

    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    assert invoke("place", str(book), "-y").exit_code == 0
    with Journal(journal_path(book)):
        result = invoke("place", str(book), "--dry-run")
    assert result.exit_code == 2 and "another smmsheet run is working" in result.output


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_works_before_or_after_the_command(panel_env, tmp_path, where):
    args = ["-v", "balance"] if where == "before" else ["balance", "-v"]
    result = invoke(*args)
    assert result.exit_code == 0 and "DEBUG smmsheet.panel" in result.output
    assert DEFAULT_API_KEY not in result.output
    assert "-v, --verbose" in invoke("place", "--help").output


@pytest.mark.parametrize("sub", ["build", "doctor", "install", "path"])
def test_verbose_works_after_an_addin_command_too(sub):
    # The README: every command takes -v, before or after its name; `smmsheet addin doctor
    # -v` (which asks the panel) said "No such option '-v'" and exited 2.
    assert "-v, --verbose" in invoke("addin", sub, "--help").output


def test_counts_read_as_english_and_money_has_one_format(tmp_path, monkeypatch, panel_env):
    monkeypatch.chdir(tmp_path)
    outputs = [invoke("demo").output, invoke("balance").output]
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    outputs.append(invoke("place", str(book), "--dry-run").output)
    outputs.append(invoke("services", "--into", str(book)).output)
    text = "\n".join(outputs)
    assert not re.search(r"\b1 (orders|rows|charges|services|entries)\b", text)
    assert "1 order for" in text and "(s)" not in text
    amounts = re.findall(r"\b\d+\.(\d+) USD", text)
    assert amounts and all(2 <= len(d) <= 5 and (len(d) == 2 or d[-1] != "0") for d in amounts)


def test_the_simulator_tells_each_request_served_to_its_listener(capsys):
    import requests

    from smmsheet.cli import _request_logger
    from smmsheet.simulator import PanelSimulator, Served

    served: list[Served] = []
    with PanelSimulator(on_request=served.append) as server:
        server.faults.max_requests_per_minute = 2
        for action, ids in (("balance", ""), ("refill_status", "5,6,7,8,9,10"), ("balance", "")):
            form = {"key": server.api_key, "action": action, "refills": ids}
            requests.post(server.url, data=form, timeout=5)
        requests.post(server.url.replace("/api/v2", "/x"), data={}, timeout=5)
    assert [s.line() for s in served] == [
        "balance -> 200 ok",
        "refill_status 5,6,7,8,9,... (6 ids) -> 200 ok",
        "balance -> 429 rate limited (per minute)",
        "POST /x -> 404 not found",
    ]
    for as_json in (False, True):
        _request_logger(as_json)(served[1])
    text, line = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d refill_status 5,6,7,8,9,\.\.\. \(6 ids\) -> 200 ok", text)
    assert json.loads(line)["ids"] == ["5", "6", "7", "8", "9", "10"]
    # A client's form cannot drive the terminal of the person watching the log.
    _request_logger(False)(Served("status\x1b[2J", ("1\x1b]0;x\x07",), 200, "refused"))
    assert "\x1b" not in capsys.readouterr().out


def test_the_readme_documents_every_key_of_the_json_documents(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    run = json.loads(invoke("place", str(book), "-y", "--json").output)
    entry = json.loads(invoke("journal", str(book), "--json").output)["entries"][0]
    error = json.loads(invoke("status", str(book), "--sheet", "No", "--json").output)
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Output for scripts: --json\n")[1].split("\n## ")[0]
    keys = {*run, *run["plan"], *run["spent"], *run["attention"], *entry, *error}
    assert sorted(k for k in keys if f"`{k}`" not in section) == []
