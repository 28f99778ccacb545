"""The `smmsheet` command: real simulator, real files, CliRunner (sqlite-utils style)."""

from __future__ import annotations

import json
import re
from pathlib import Path

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
    assert result.exit_code == 0 and result.output.strip() == "1000.00000 USD"


def test_services_table_json_and_csv(panel_env):
    table = invoke("services")
    assert table.exit_code == 0 and "Instagram Followers" in table.output
    data = json.loads(invoke("services", "--json").output)
    assert data[0]["id"] == 1 and data[0]["rate"] == "0.90"
    csv = invoke("services", "--csv").output.splitlines()
    assert csv[0].startswith("Service,Name,Type,Category,Rate per 1000")
    evil = next(line for line in csv if line.startswith("20,"))
    assert "'=HYPERLINK(" in evil and ",'@Weird +Category," in evil  # no CSV injection
    assert invoke("services", "--json", "--csv").exit_code == 2


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
        assert "The sheet 'Services' was not written by smmsheet: left as" in result.output
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


def test_place_without_a_terminal_needs_yes(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    result = invoke("place", str(book))
    assert result.exit_code == 2 and "pass --yes" in result.output
    assert panel_env.counts["add"] == 0


def test_invalid_rows_exit_1_with_row_messages(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 1), (1, "https://b", 100)])
    result = invoke("place", str(book), "-y")
    assert result.exit_code == 1
    assert "row 2: place invalid: Quantity 1 is below the minimum 50" in result.output


def test_dry_run_previews_cost_and_changes_nothing(panel_env, tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 1000)])
    before = book.read_bytes()
    result = invoke("place", str(book), "--dry-run")
    assert result.exit_code == 0 and "Would place 1 orders, about 0.90000 USD" in result.output
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
    assert re.search(
        r"#1 .* Orders!row 2 add 1 https://a 100 -> accepted 1001 \[in sheet\]", result.output
    )


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
    assert "-> ambiguous 1001 (settled: id typed by the user)" in result.output


def test_demo_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("demo")
    assert result.exit_code == 0, result.output
    assert "Balance left on the simulator" in result.output
    rows = read_orders(tmp_path / "smmsheet-demo.xlsx")
    assert sum(1 for r in rows if r["Order ID"]) == 6
    assert sum(1 for r in rows if r["Error"]) == 4
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


def test_panel_text_cannot_drive_the_terminal(tmp_path, monkeypatch):
    from .scripted import ScriptedPanel, json_reply

    def script(form):
        if form["action"] == "services":
            return json_reply('[{"service":1,"type":"Default","rate":"1","min":"1","max":"99"}]')
        if form["action"] == "balance":
            return json_reply('{"balance":"10","currency":"USD"}')
        return json_reply('{"error":"bad link\\u001b[2J\\u001b]0;pwned\\u0007"}')

    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "none.toml"))
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 10)])
    with ScriptedPanel(script) as panel:
        result = invoke(
            "place", str(book), "-y", "--panel-url", panel.url, "--api-key", "key-7f3a9"
        )
    assert result.exit_code == 1 and "bad link[2J]0;pwned" in result.output
    assert "\x1b" not in result.output and "\x07" not in result.output


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
    assert "Not placed, the panel lists no price for them: rows 3, 4" in result.output
    assert "Place 1 orders for about 0.90 USD (balance 1000.00000)? [y/N]" in result.output
    assert misleading_env.counts["add"] == 0
    assert invoke("place", str(book), "-y", "--allow-unpriced").exit_code == 0
    assert misleading_env.counts["add"] == 3


def test_place_summary_counts_the_panels_charges_and_lists_notes(misleading_env, tmp_path):
    rows = [(33, "https://p/1", 2), (33, "https://p/2")]  # a package billed rate x 1 / 1000
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    result = invoke("place", str(book), "-y")
    assert result.exit_code == 0, result.output
    assert "Planned 2 orders, 0.00600 to 6.00000 USD" in result.output
    assert "Placed for 0.00600 USD (charged by the panel)." in result.output
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
    assert "Not canceled: 1 order: 1001 (row 2) need confirmation; pass --yes" in result.output
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


BOOK_OPTIONS = {
    "place": {"dry_run", "max_spend", "allow_unpriced", "yes", "new_journal"},
    "status": set(),
    "refill": {"dry_run", "new_journal"},
    "refill-status": set(),
    "cancel": {"dry_run", "yes", "new_journal"},
    "run": {"dry_run", "max_spend", "allow_unpriced", "yes", "new_journal", "jobs"},
}


@pytest.mark.parametrize("command", sorted(BOOK_OPTIONS))
def test_each_book_command_offers_only_the_options_that_mean_something(command):
    common = {"book", "sheet", "panel_url", "api_key", "profile"}
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
