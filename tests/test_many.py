"""`smmsheet run` over many workbooks: own journals and locks, one client per panel."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from click.testing import CliRunner

import smmsheet.cli
from smmsheet.cli import cli
from smmsheet.fleet import BookState, PanelPool, book_paths, run_books
from smmsheet.journal import Journal, journal_path
from smmsheet.panel import PanelClient
from smmsheet.simulator import DEFAULT_API_KEY

from .conftest import make_orders_book, read_orders


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def books(folder, names=("a", "b", "c"), rows=((1, "https://x", 100),)):
    folder.mkdir(exist_ok=True)
    return [
        make_orders_book(
            folder / f"{n}.xlsx", [(s, f"{link}/{n}{i}", q) for i, (s, link, q) in enumerate(rows)]
        )
        for n in names
    ]


def test_a_folder_runs_every_workbook_with_its_own_journal_and_one_table(tmp_path, panel_env):
    paths = books(tmp_path / "clients")
    result = invoke("run", str(tmp_path / "clients"), "--yes")
    assert result.exit_code == 0, result.output
    assert len(panel_env.orders) == 3  # one order per workbook, each placed once
    for path in paths:
        [row] = read_orders(path)
        assert row["Order ID"] and row["Status"] == "Pending"
        assert journal_path(path).exists()
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["Workbook", "Result", "Placed", "Updated", "Refilled",
                              "Canceled", "Problems", "Spent"]  # fmt: skip
    assert [line.split()[1:3] for line in lines] == [["ok", "1"]] * 3
    again = invoke("run", *map(str, paths), str(paths[0]), "--yes")  # named twice: run once
    assert again.exit_code == 0 and len(panel_env.orders) == 3
    assert len(again.stdout.splitlines()) == 4


def test_workbooks_share_one_client_per_panel(tmp_path, sim):
    paths = books(tmp_path / "clients")
    made = []

    def make(settings):
        made.append(settings)
        return settings.client()

    with PanelPool(make) as pool:
        runs = list(run_books(paths, "run", pool=pool, panel_url=sim.url, api_key=DEFAULT_API_KEY))
        [client] = pool.clients
        sent = sum(client.requests_sent.values())
    assert len(made) == 1 and [r.state for r in runs] == [BookState.OK] * 3
    assert sent == sim.counts["requests"]


def test_workbooks_at_once_keep_to_the_panels_concurrency(tmp_path, sim):
    """Four workbooks of 300 open orders each, through one client of 2 workers, on a panel
    that answers 429 past 3 requests at once: not one request is refused. (3, not 2: the
    simulator frees a request's place just after its reply is sent, so a client that sends
    the next one at once may briefly meet 3.) Without the shared bound: 4 x 2 at once."""
    rows = [(3, "https://x", 100)] * 300
    paths = books(tmp_path / "clients", names=("a", "b", "c", "d"), rows=rows)
    with PanelClient(sim.url, DEFAULT_API_KEY, max_workers=2) as client:
        list(run_books(paths, "place", pool=PanelPool(lambda _: client), jobs=4,
                       panel_url=sim.url, api_key=DEFAULT_API_KEY))  # fmt: skip
        sim.reset_counts()
        sim.faults.latency, sim.faults.max_concurrency = 0.02, 3
        runs = list(run_books(paths, "status", pool=PanelPool(lambda _: client), jobs=4,
                              panel_url=sim.url, api_key=DEFAULT_API_KEY))  # fmt: skip
    assert [r.state for r in runs] == [BookState.OK] * 4
    assert sim.counts["status"] == 4 * 3 and sim.counts["fault:429"] == 0


@pytest.mark.parametrize(
    ("lock", "said"), [("~$b.xlsx", "open in Excel"), (".~lock.b.xlsx#", "open in LibreOffice")]
)
def test_a_workbook_open_in_excel_or_libreoffice_is_skipped_and_said(
    tmp_path, panel_env, lock, said
):
    a, b, c = books(tmp_path / "clients")
    (tmp_path / "clients" / lock).write_text("owner")
    result = invoke("run", str(tmp_path / "clients"), "--yes")
    assert result.exit_code == 1
    assert f"{b}: skipped: {said}" in result.stderr
    assert read_orders(b)[0].get("Order ID") is None and not journal_path(b).exists()
    assert read_orders(a)[0]["Order ID"] and read_orders(c)[0]["Order ID"]
    assert len(panel_env.orders) == 2


def test_a_glob_that_also_matches_excels_owner_file_runs_the_rest(tmp_path, panel_env):
    a, b = books(tmp_path / "clients", names=("a", "b"))
    owner = tmp_path / "clients" / "~$b.xlsx"
    owner.write_text("owner")
    result = invoke("run", str(a), str(owner), str(b), "--yes")  # what clients/*.xlsx gives
    assert result.exit_code == 1 and f"{b}: skipped: open in Excel" in result.stderr
    assert "~$b.xlsx: error" not in result.stderr and len(panel_env.orders) == 1


def test_macos_metadata_files_in_the_folder_are_no_workbooks(tmp_path, panel_env):
    # A folder copied from a Mac (a USB stick, a network share) holds "._a.xlsx" beside
    # a.xlsx: resource-fork metadata, never a zip. It was run as a workbook and failed every
    # run (exit 2, an error line for each cron run or watch round).
    a, b = books(tmp_path / "clients", names=("a", "b"))
    (tmp_path / "clients" / "._a.xlsx").write_bytes(b"\x00\x05\x16\x07\x00\x02Mac OS X")
    assert book_paths([tmp_path / "clients"]) == [a, b]
    result = invoke("run", str(tmp_path / "clients"), "--yes")
    assert result.exit_code == 0 and "._a.xlsx" not in result.output, result.output
    assert len(panel_env.orders) == 2


def test_a_workbook_another_run_holds_is_skipped_not_waited_for(tmp_path, panel_env):
    a, b = books(tmp_path / "clients", names=("a", "b"))
    with Journal(journal_path(b)):  # another smmsheet run is working on b
        result = invoke("run", str(a), str(b), "--yes")
    assert result.exit_code == 1
    assert f"{b}: skipped: another smmsheet run is working on this workbook" in result.stderr
    assert read_orders(b)[0].get("Order ID") is None and len(panel_env.orders) == 1


def test_without_a_terminal_paying_needs_yes_and_the_rest_runs(tmp_path, panel_env):
    paths = books(tmp_path / "clients", names=("a", "b"))
    result = invoke("run", *map(str, paths))
    assert result.exit_code == 2 and not panel_env.orders
    assert result.stderr.count("need confirmation; pass --yes") == 2


def test_at_a_terminal_one_question_with_the_total_then_what_was_agreed(
    tmp_path, panel_env, monkeypatch
):
    monkeypatch.setattr(smmsheet.cli, "_interactive", lambda: True)
    paths = books(tmp_path / "clients", names=("a", "b"))
    declined = invoke("run", *map(str, paths), input="n\n")
    assert "Across 2 workbooks: place 2 orders for about 0.18 USD. Go on?" in declined.stderr
    assert declined.stderr.count("Go on?") == 1 and not panel_env.orders
    agreed = invoke("run", *map(str, paths), input="y\n")
    assert agreed.exit_code == 0 and len(panel_env.orders) == 2
    assert agreed.stderr.count("Go on?") == 1


def test_a_workbook_grown_after_the_question_places_nothing_more_than_agreed():
    from smmsheet.batch import Preview
    from smmsheet.cli import _Gate

    gate = _Gate(yes=False)
    gate.asked = True
    gate.agreed = {"a": (2, Decimal("1.00"), 0)}
    assert gate.place("a", Preview(2, Decimal("1.00"), "USD", Decimal(9)))
    assert not gate.place("a", Preview(3, Decimal("1.00"), "USD", Decimal(9)))
    assert not gate.place("a", Preview(2, Decimal("1.01"), "USD", Decimal(9)))
    assert not gate.place("b", Preview(1, Decimal("0.01"), "USD", Decimal(9)))


def test_a_broken_file_in_the_folder_is_its_own_error_and_the_worst_exit(tmp_path, panel_env):
    books(tmp_path / "clients", names=("a",))
    (tmp_path / "clients" / "z.xlsx").write_bytes(b"not a zip at all")
    (tmp_path / "clients" / "notes.txt").write_text("not a workbook: not run")
    result = invoke("run", str(tmp_path / "clients"), "--yes")
    assert result.exit_code == 2 and len(panel_env.orders) == 1
    assert "z.xlsx: error:" in result.stderr


def test_paths_that_name_nothing_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    from smmsheet.errors import ConfigError

    with pytest.raises(ConfigError, match="holds no .xlsx"):
        book_paths([tmp_path / "empty"])
    with pytest.raises(ConfigError, match="no such workbook"):
        book_paths([tmp_path / "missing.xlsx"])


def test_one_file_runs_as_before(tmp_path, panel_env):
    [path] = books(tmp_path / "one", names=("a",))
    result = invoke("run", str(path), "--yes")
    assert result.exit_code == 0 and "Saved" in result.stdout and "Workbook" not in result.stdout


def test_canceling_across_workbooks_is_asked_with_the_rest(tmp_path, panel_env, monkeypatch):
    from openpyxl import load_workbook

    monkeypatch.setattr(smmsheet.cli, "_interactive", lambda: True)
    paths = books(tmp_path / "clients", names=("a", "b"))
    assert invoke("run", *map(str, paths), "--yes").exit_code == 0
    for path in paths:
        book = load_workbook(path)
        header = [c.value for c in book["Orders"][1]]
        book["Orders"].cell(2, header.index("Cancel") + 1, "x")
        book.save(path)
    declined = invoke("run", *map(str, paths), input="n\n")
    assert "Across 2 workbooks: cancel 2 orders. Go on?" in declined.stderr
    assert all(read_orders(p)[0]["Cancel"] == "x" for p in paths)
    assert panel_env.counts["cancel"] == 0
    invoke("run", *map(str, paths), input="y\n")
    assert panel_env.counts["cancel"] == 2  # one request per workbook, as agreed


def test_a_lost_journal_is_never_asked_about_when_many_run(tmp_path, panel_env):
    paths = books(tmp_path / "clients", names=("a", "b"))
    assert invoke("run", *map(str, paths), "--yes").exit_code == 0
    journal_path(paths[0]).unlink()
    result = invoke("run", *map(str, paths), "--yes")
    assert result.exit_code == 2 and "run it alone, or again with --new-journal" in result.stderr
    assert invoke("run", *map(str, paths), "--yes", "--new-journal").exit_code == 0


def test_workbooks_on_one_panel_keep_to_one_rate_limit(tmp_path, sim):
    """Three workbooks, a profile of 5 requests a minute: each alone stays under it, all
    together do not, so the one shared limiter must wait (on a clock that only the waits
    move: nothing sleeps for real)."""
    paths = books(tmp_path / "clients")
    lock, now, waited = threading.Lock(), [0.0], []

    def clock():
        with lock:
            return now[0]

    def sleep(seconds):
        with lock:
            waited.append(seconds)
            now[0] += seconds

    def make(settings):
        return PanelClient(settings.url, settings.api_key, max_requests_per_minute=5,
                           clock=clock, sleep=sleep)  # fmt: skip

    with PanelPool(make) as pool:
        runs = list(run_books(paths, "place", pool=pool, panel_url=sim.url,
                              api_key=DEFAULT_API_KEY))  # fmt: skip
        assert len(pool.clients) == 1
    assert all(r.state == BookState.OK for r in runs)
    # Each workbook sends 4 (services, balance, add, status): under 5 alone, 12 together.
    assert sim.counts["requests"] == 12 and sum(waited) >= 60


def test_workbooks_on_two_panels_run_at_once_each_on_its_own(tmp_path, monkeypatch):
    """Two simulators; each workbook's Settings sheet names its profile. Every order lands
    on its workbook's panel, each panel has one client, and Refill until is read from each
    panel's own service list (service 1 is "Refill 30d" on one, "Refill 60 days" on the
    other)."""
    import datetime as dt

    from openpyxl import load_workbook

    from smmsheet.simulator import PanelSimulator, default_services

    other = default_services()
    other[0]["name"] = "Instagram Followers | Refill 60 days"
    with PanelSimulator() as one, PanelSimulator(services=other, api_key="key-two") as two:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[profiles.one]\nurl = "{one.url}"\napi_key = "{DEFAULT_API_KEY}"\n'
            f'[profiles.two]\nurl = "{two.url}"\napi_key = "key-two"\n'
        )
        monkeypatch.setenv("SMMSHEET_CONFIG", str(config))
        for name in ("SMMSHEET_PANEL_URL", "SMMSHEET_API_KEY", "SMMSHEET_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        paths = books(tmp_path / "clients", names=("a1", "a2", "b1", "b2"))
        for path in paths:
            book = load_workbook(path)
            profile = "one" if path.stem.startswith("a") else "two"
            book.create_sheet("Settings").append(["Profile", profile])
            book.save(path)
        with PanelPool() as pool:
            runs = list(run_books(paths, "place", pool=pool, jobs=4))
            assert len(pool.clients) == 2
        assert [r.state for r in runs] == [BookState.OK] * 4
        assert sorted(o.link for o in one.orders.values()) == ["https://x/a10", "https://x/a20"]
        assert sorted(o.link for o in two.orders.values()) == ["https://x/b10", "https://x/b20"]
    today = dt.date.today()
    until = {p.stem: read_orders(p)[0]["Refill until"].date() for p in paths}
    assert until == {
        "a1": today + dt.timedelta(days=30),
        "a2": today + dt.timedelta(days=30),
        "b1": today + dt.timedelta(days=60),
        "b2": today + dt.timedelta(days=60),
    }


def test_with_json_one_document_lists_every_workbook(tmp_path, panel_env):
    import json

    a, b = books(tmp_path / "clients", names=("a", "b"))
    (tmp_path / "clients" / "~$b.xlsx").write_text("owner")
    result = invoke("run", str(tmp_path / "clients"), "--yes", "--json")
    document = json.loads(result.stdout)
    assert result.exit_code == 1 and document["exit_code"] == 1 and document["command"] == "run"
    [first, second] = document["workbooks"]
    assert first["workbook"] == str(a) and first["result"] == "ok" and first["saved"] is True
    assert second["result"] == "skipped" and "open in Excel" in second["reason"]
