"""Many panels in one workbook: a Panel column names a profile per row (issue 13, item 1).

Every test runs against two simulators at once: profile ``a`` (the workbook's default, USD)
and profile ``b`` (EUR). Both number their orders from 1001, so an order id looked up on
the wrong panel would find the wrong order.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

import pytest
from click.testing import CliRunner

from smmsheet.cli import cli
from smmsheet.config import resolve_profile
from smmsheet.errors import ConfigError
from smmsheet.journal import Journal, journal_path
from smmsheet.panel import PanelClient
from smmsheet.simulator import DEFAULT_API_KEY, PanelSimulator, default_services

from .conftest import read_orders
from .scripted import ScriptedPanel
from .two_panels import book, open_two, run, two_panels_fixture  # noqa: F401

HEADER = ("Service", "Link", "Quantity", "Panel", "Refill", "Cancel")


def links(sim: PanelSimulator) -> list[str]:
    return sorted(o.link for o in sim.orders.values())


def test_rows_are_placed_on_their_own_panel_and_the_journal_says_which(tmp_path, two_panels):
    path = book(
        tmp_path / "o.xlsx",
        HEADER,
        [(1, "https://x/a1", 100, None), (1, "https://x/b1", 100, "b"), (3, "https://x/a2", 100)],
    )
    report = run(path, "place")
    assert not report.failed
    assert links(two_panels.a) == ["https://x/a1", "https://x/a2"]
    assert links(two_panels.b) == ["https://x/b1"]
    out = read_orders(path)
    # Both panels issued order 1001; the Panel cell says where each lives.
    assert [r["Panel"] for r in out] == ["a", "b", "a"]
    for row, sim in zip(out, (two_panels.a, two_panels.b, two_panels.a), strict=True):
        assert sim.find_order(row["Order ID"]).link == row["Link"]
    assert out[1]["Order ID"] == 1001 and 1001 in {out[0]["Order ID"], out[2]["Order ID"]}
    assert out[1]["Currency"] == "EUR" and out[0]["Currency"] == "USD"
    with Journal(journal_path(path), lock=False) as journal:  # adds go out concurrently
        assert sorted((e.row, e.panel) for e in journal.entries()) == [(2, "a"), (3, "b"), (4, "a")]


def test_an_order_id_is_only_looked_up_on_the_panel_that_issued_it(tmp_path, two_panels):
    path = book(
        tmp_path / "o.xlsx", HEADER, [(1, "https://x/a", 100), (1, "https://x/b", 100, "b")]
    )
    run(path, "place")
    two_panels.b.set_status(1001, "Completed", remains=0)
    two_panels.a.set_status(1001, "In progress", remains=40)
    two_panels.a.reset_counts()
    two_panels.b.reset_counts()
    run(path, "status")
    out = read_orders(path)
    assert [(r["Status"], r["Remains"]) for r in out] == [("In progress", 40), ("Completed", 0)]
    assert two_panels.a.counts["status"] == 1 and two_panels.b.counts["status"] == 1


def test_status_asks_each_panel_100_ids_a_request(tmp_path, two_panels):
    rows = [(1, f"https://x/a{i}", 100) for i in range(150)]
    rows += [(1, f"https://x/b{i}", 100, "b") for i in range(120)]
    path = book(tmp_path / "o.xlsx", HEADER, rows)
    run(path, "place")
    two_panels.a.reset_counts()
    two_panels.b.reset_counts()
    run(path, "status")
    assert two_panels.a.counts["status"] == 2 and two_panels.b.counts["status"] == 2
    out = read_orders(path)
    assert all(r["Status"] and not r["Error"] for r in out)


def test_panels_are_refreshed_at_once_not_one_after_the_other(tmp_path, two_panels):
    """Panel a is slow (20 requests, 50 ms each, 8 at a time); panel b's one request is
    answered while a's are still coming, and every row gets its own panel's answer."""
    from smmsheet.simulator import Faults

    served: list[tuple[str, str]] = []
    for name, sim in (("a", two_panels.a), ("b", two_panels.b)):
        sim.on_request = lambda request, name=name: served.append((name, request.action))
    two_panels.a.faults = Faults(latency=0.05)
    rows = [(1, f"https://x/a{i}", 100, None, None, None, 5000 + i) for i in range(2000)]
    rows.append((1, "https://x/b", 100, "b"))
    path = book(tmp_path / "o.xlsx", (*HEADER, "Order ID"), rows)
    run(path, "place")  # only b's row: a's rows hold Order IDs already
    served.clear()
    two_panels.b.set_status(1001, "Completed", remains=0)
    report = run(path, "status")
    statuses = [name for name, action in served if action == "status"]
    assert statuses.count("a") == 20 and statuses.count("b") == 1
    last_of_a = len(statuses) - 1 - statuses[::-1].index("a")
    assert statuses.index("b") < last_of_a
    out = read_orders(path)
    assert out[-1]["Status"] == "Completed" and out[-1]["Error"] is None
    assert all(r["Error"] for r in out[:-1])  # a never issued 5000...: its own answer says so
    assert not any("nothing refreshed" in m for m in report.messages)


def test_refills_are_asked_of_every_panel_at_once(tmp_path, two_panels):
    """Panel a is slow (20 requests, 50 ms each, 8 at a time): panel b's one request is
    answered while a's are still coming, as for order statuses."""
    from smmsheet.simulator import Faults

    served: list[tuple[str, str]] = []
    for name, sim in (("a", two_panels.a), ("b", two_panels.b)):
        sim.on_request = lambda request, name=name: served.append((name, request.action))
    two_panels.a.faults = Faults(latency=0.05)
    header = (*HEADER, "Order ID", "Refill ID")
    rows = [(1, f"https://x/a{i}", 100, None, None, None, 5000 + i, 7000 + i) for i in range(2000)]
    rows.append((1, "https://x/b", 100, "b", None, None, 6000, 8000))
    path = book(tmp_path / "o.xlsx", header, rows)
    run(path, "refill-status")
    asked = [name for name, action in served if action == "refill_status"]
    assert asked.count("a") == 20 and asked.count("b") == 1
    last_of_a = len(asked) - 1 - asked[::-1].index("a")
    assert asked.index("b") < last_of_a
    out = read_orders(path)
    assert all("refill status" in r["Error"] for r in out)  # neither panel knows them


def test_a_ctrl_c_in_a_refill_status_of_two_panels_stops_the_slow_panels_requests(
    tmp_path, two_panels, monkeypatch
):
    """Ctrl-C while panel a (40 requests, 100 ms each) is still answering: its requests in
    flight end and no more are sent, as when one panel was asked on this thread. Asked on a
    thread of its own, its whole refill_status_many went on to the last request (a panel
    that hangs: every request to its deadline) before the Ctrl-C came back."""
    from smmsheet.batch import Engine
    from smmsheet.simulator import Faults

    served: list[str] = []
    two_panels.a.on_request = lambda request: served.append(request.action)
    two_panels.a.faults = Faults(latency=0.1)
    real = Engine._refill_statuses

    def interrupted(self, statuses, rows_by_id, key):
        if key == "b":
            raise KeyboardInterrupt
        return real(self, statuses, rows_by_id, key)

    monkeypatch.setattr(Engine, "_refill_statuses", interrupted)
    header = (*HEADER, "Order ID", "Refill ID")
    rows = [(1, f"https://x/a{i}", 100, None, None, None, 5000 + i, 7000 + i) for i in range(4000)]
    rows.append((1, "https://x/b", 100, "b", None, None, 6000, 8000))
    path = book(tmp_path / "o.xlsx", header, rows)
    with pytest.raises(KeyboardInterrupt):
        run(path, "refill-status")
    assert 0 < served.count("refill_status") < 40
    import threading

    workers = ("smmsheet-refill-status", "smmsheet-chunks")  # none left sending
    assert not [t.name for t in threading.enumerate() if t.name.startswith(workers)]


def test_rows_are_validated_against_their_own_panels_services(tmp_path, monkeypatch):
    services = default_services()
    services[0]["min"] = "500"  # panel b sells service 1 from 500 only
    with open_two(tmp_path, monkeypatch, b_services=services) as panels:
        rows = [(1, "https://x/a", 100), (1, "https://x/b", 100, "b")]
        path = book(tmp_path / "o.xlsx", HEADER, rows)
        report = run(path, "place")
        out = read_orders(path)
        assert out[0]["Order ID"] == 1001 and out[1]["Order ID"] is None
        assert "below the minimum 500" in out[1]["Error"] and report.failed
        assert not panels.b.orders


def test_an_unknown_profile_is_that_rows_error(tmp_path, two_panels):
    path = book(
        tmp_path / "o.xlsx",
        HEADER,
        [(1, "https://x/a", 100), (1, "https://x/typo", 100, "bb"), (1, "https://x/b", 100, "b")],
    )
    report = run(path, "place")
    out = read_orders(path)
    assert [r["Order ID"] for r in out] == [1001, None, 1001]
    assert "Panel 'bb'" in out[1]["Error"] and "no profile 'bb'" in out[1]["Error"]
    assert report.failed and "https://x/typo" not in links(two_panels.a) + links(two_panels.b)


def test_a_row_naming_a_profile_never_falls_back_to_the_environments_panel(
    tmp_path, two_panels, monkeypatch
):
    """A profile without a URL of its own would take SMMSHEET_PANEL_URL's: refused instead."""
    text = two_panels.config.read_text() + '[profiles.nourl]\napi_key = "k"\n'
    two_panels.config.write_text(text)
    monkeypatch.setenv("SMMSHEET_PANEL_URL", two_panels.b.url)
    monkeypatch.setenv("SMMSHEET_API_KEY", DEFAULT_API_KEY)
    with pytest.raises(ConfigError, match="no panel URL"):
        resolve_profile("nourl")
    path = book(tmp_path / "o.xlsx", HEADER, [(1, "https://x/n", 100, "nourl")])
    run(path, "place")
    assert not two_panels.a.orders and not two_panels.b.orders
    assert "no panel URL" in read_orders(path)[0]["Error"]


def _two_orders_1001(path, two_panels, header=HEADER):
    """Row 2's order 1001 placed on panel a, row 3's on panel b; both completed."""
    book(path, header, [(1, "https://x/a", 100), (1, "https://x/b", 100, "b")])
    run(path, "place")
    for sim in (two_panels.a, two_panels.b):
        sim.set_status(1001, "Completed", remains=0)
    return path


def _edit(path, **cells):
    """Type values into cells of the Orders sheet, as a user in Excel (``E3="x"``)."""
    from openpyxl import load_workbook

    workbook = load_workbook(path)
    for address, value in cells.items():
        workbook["Orders"][address] = value
    workbook.save(path)


def test_refill_and_cancel_go_to_the_panel_that_issued_the_order(tmp_path, two_panels):
    path = _two_orders_1001(tmp_path / "o.xlsx", two_panels)
    _edit(path, E3="x", F2="x")  # refill b's order 1001, cancel a's
    run(path, "run")
    assert len(two_panels.b.refills) == 1 and not two_panels.a.refills
    assert two_panels.a.counts["cancel"] == 1 and two_panels.b.counts["cancel"] == 0
    with Journal(journal_path(path), lock=False) as journal:
        paid = [(e.action, e.panel) for e in journal.entries() if e.action != "add"]
    assert sorted(paid) == [("cancel", "a"), ("refill", "b")]


def test_a_panel_cell_edited_after_a_refill_never_asks_the_other_panel_its_status(
    tmp_path, two_panels
):
    """Row 3's order 1001 and its refill are panel b's; someone types ``a`` into its Panel
    cell. Panel a has a refill of the same id (row 2's order's): asking a wrote the status
    of another customer's refill into row 3, as for order statuses (where it is refused)."""
    header = (*HEADER, "Order ID", "Refill ID")
    path = _two_orders_1001(tmp_path / "o.xlsx", two_panels, header)
    _edit(path, E2="x", E3="x")  # refill both orders 1001
    run(path, "refill")
    out = read_orders(path)
    assert out[0]["Refill ID"] == out[1]["Refill ID"]  # each panel's first refill
    (refill_a,) = two_panels.a.refills.values()
    refill_a.status = "Rejected"
    _edit(path, D3="a")
    report = run(path, "refill-status")
    out = read_orders(path)
    assert out[0]["Refill Status"] == "Rejected"
    assert out[1]["Refill Status"] != "Rejected", "panel a's refill written into b's row"
    assert "was placed on panel 'b'" in out[1]["Error"] and report.failed


def test_max_spend_is_one_cap_over_every_panel_in_its_currency(tmp_path, two_panels):
    """Service 1 costs 0.09 per 100 on both panels: 0.09 USD on a, 0.09 EUR on b (x1.10)."""
    rows = [(1, "https://x/a", 100), (1, "https://x/b", 100, "b"), (1, "https://x/a2", 100)]
    settings = [("Max spend", "0.20"), ("Currency", "USD"), ("Rate EUR", "1.10")]
    path = book(tmp_path / "o.xlsx", HEADER, rows, settings=settings)
    report = run(path, "place")
    out = read_orders(path)
    # 0.09 + 0.099 = 0.189 fits; the third row (0.09 more) would make 0.279.
    assert [r["Order ID"] for r in out] == [1001, 1001, None]
    assert "would exceed Max spend" in out[2]["Error"]
    assert report.preview.currency == "USD" and report.preview.cost == Decimal("0.189")
    assert len(report.preview.by_panel) == 2


def test_a_cap_over_a_panel_without_a_rate_refuses_its_rows(tmp_path, two_panels):
    rows = [(1, "https://x/a", 100), (1, "https://x/b", 100, "b")]
    path = book(tmp_path / "o.xlsx", HEADER, rows, settings=[("Max spend", "5")])
    report = run(path, "place")
    out = read_orders(path)
    assert out[0]["Order ID"] == 1001 and out[1]["Order ID"] is None
    assert "no rate for EUR" in out[1]["Error"] and report.failed
    assert not two_panels.b.orders


def test_balance_shows_every_panel_the_workbook_uses(tmp_path, two_panels):
    two_panels.b.balance = Decimal("12.50")
    path = book(tmp_path / "o.xlsx", HEADER, [(1, "https://x/b", 100, "b")])
    result = CliRunner().invoke(cli, ["balance", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["a  1000.00 USD", "b  12.50 EUR"]
    every = CliRunner().invoke(cli, ["balance", "--all"], catch_exceptions=False)
    assert every.output.splitlines() == ["a  1000.00 USD", "b  12.50 EUR"]
    listed = CliRunner().invoke(cli, ["balance", str(path), "--json"], catch_exceptions=False)
    assert json.loads(listed.output)["balances"] == [
        {"panel": "a", "amount": "1000.00000", "currency": "USD"},
        {"panel": "b", "amount": "12.50000", "currency": "EUR"},
    ]


def test_balance_of_a_workbook_naming_an_unknown_profile_says_so(tmp_path, two_panels):
    path = book(tmp_path / "o.xlsx", HEADER, [(1, "https://x/z", 100, "zz")])
    result = CliRunner().invoke(cli, ["balance", str(path)])
    assert result.exit_code == 1
    assert "no profile 'zz'" in result.output


def test_an_accepted_add_on_panel_b_comes_back_with_its_panel_after_a_lost_save(
    tmp_path, two_panels, monkeypatch
):
    """The run dies before its outcome reaches the file: the next run writes order 1001 and
    the panel that issued it (a sheet without a Panel column gets one)."""
    from .conftest import fail_saves_after_the_marker
    from .two_panels import write_config

    write_config(two_panels.config, {"a": two_panels.a, "b": two_panels.b}, default="b")
    path = book(tmp_path / "o.xlsx", ("Service", "Link", "Quantity"), [(1, "https://x/b", 100)])
    with monkeypatch.context() as patch:
        fail_saves_after_the_marker(patch)
        with pytest.raises(Exception, match="disk full"):
            run(path, "place")
    assert links(two_panels.b) == ["https://x/b"]
    write_config(two_panels.config, {"a": two_panels.a, "b": two_panels.b}, default="a")
    two_panels.b.set_status(1001, "Completed", remains=0)
    run(path, "status")
    out = read_orders(path)
    assert (out[0]["Order ID"], out[0]["Panel"], out[0]["Status"]) == (1001, "b", "Completed")
    assert not two_panels.a.orders and two_panels.a.counts["status"] == 0


def test_a_journal_from_before_panels_is_migrated_its_entries_are_the_default_panels(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """CREATE TABLE entries (id INTEGER PRIMARY KEY AUTOINCREMENT, sheet TEXT NOT NULL,
        row INTEGER NOT NULL, fingerprint TEXT NOT NULL, action TEXT NOT NULL, target INTEGER,
        request TEXT NOT NULL, state TEXT NOT NULL, result TEXT, created REAL NOT NULL,
        updated REAL NOT NULL, synced INTEGER NOT NULL DEFAULT 0);
        INSERT INTO entries (sheet,row,fingerprint,action,request,state,result,created,updated)
        VALUES ('Orders', 2, 'f', 'add', '{}', 'accepted', '1001', 0, 0);"""
    )
    db.commit()
    db.close()
    with Journal(path) as journal:
        assert [(e.result, e.panel) for e in journal.entries()] == [("1001", "")]
        entry = journal.intent(
            sheet="Orders", row=3, fingerprint="g", action="add", request={}, panel="b"
        )
        assert journal.entries()[-1].id == entry and journal.entries()[-1].panel == "b"


def test_the_key_of_a_profile_a_row_names_never_leaves_the_process(tmp_path, two_panels):
    """A careless panel behind profile ``c`` echoes its key in a redirect: the key is
    scrubbed from the terminal, the sheet and the journal like the default panel's."""
    from .test_key_safety import KEY, careless, everything_written, leaks

    with ScriptedPanel(careless) as panel:
        text = two_panels.config.read_text()
        text += f'[profiles.c]\nurl = "{panel.url}"\napi_key = "{KEY}"\n'
        two_panels.config.write_text(text)
        (tmp_path / "book").mkdir()  # the config file, which holds the key, stays outside
        path = book(tmp_path / "book/o.xlsx", HEADER, [(1, "https://x/c", 100, "c")])
        result = CliRunner().invoke(cli, ["place", str(path), "--yes"])
    assert panel.forms and panel.forms[-1]["key"] == KEY
    assert "may have been placed" in read_orders(path)[0]["Error"]
    assert leaks(result.output) == []
    assert leaks(everything_written(tmp_path / "book")) == []


def test_engine_with_one_client_still_works_without_panels(tmp_path, sim):
    """The engine's old face (one client) is a single default panel."""
    from .conftest import make_orders_book, run_engine

    path = make_orders_book(tmp_path / "o.xlsx", [(1, "https://x", 100)])
    with PanelClient(sim.url, DEFAULT_API_KEY) as client:
        report = run_engine(path, client, "place")
    assert not report.failed and "Panel" not in read_orders(path)[0]


def test_an_order_id_both_panels_issued_is_given_back_to_the_row_that_lost_it(tmp_path, two_panels):
    """An older copy of the file comes back without panel b's order 1001; panel a's order
    1001 is still in the sheet. The journal gives b's back: it is not placed again."""
    from openpyxl import load_workbook

    rows = [(1, "https://x/a", 100), (1, "https://x/b", 100, "b")]
    path = book(tmp_path / "o.xlsx", HEADER, rows)
    run(path, "place")
    workbook = load_workbook(path)
    for column in ("G", "H", "I", "J", "K", "L", "M", "N", "O", "P"):
        workbook["Orders"][f"{column}3"] = None  # row 3 as it was before placing
    workbook.save(path)
    assert read_orders(path)[1]["Order ID"] is None
    report = run(path, "place")
    out = read_orders(path)
    assert [(r["Order ID"], r["Panel"]) for r in out] == [(1001, "a"), (1001, "b")]
    assert two_panels.b.counts["add"] == 1 and "restored from journal" in out[1]["Error"]
    assert not report.failed


def test_a_panel_cell_edited_after_placing_never_sends_the_id_to_the_other_panel(
    tmp_path, two_panels
):
    """Row 3's order 1001 is panel b's; someone types ``a`` into its Panel cell. Panel a
    also has an order 1001 (row 2's): asking a would refresh, or cancel, the wrong order."""
    from openpyxl import load_workbook

    rows = [(1, "https://x/a", 100), (1, "https://x/b", 100, "b")]
    path = book(tmp_path / "o.xlsx", HEADER, rows)
    run(path, "place")
    workbook = load_workbook(path)
    workbook["Orders"]["D3"] = "a"
    workbook["Orders"]["F3"] = "x"  # and asks to cancel it
    workbook.save(path)
    two_panels.a.reset_counts()
    report = run(path, "run")
    row = read_orders(path)[1]
    assert "was placed on panel 'b'" in row["Error"] and report.failed
    assert two_panels.a.counts["cancel"] == 0 and two_panels.b.counts["cancel"] == 0
    assert two_panels.a.counts["status"] == 1  # row 2's order only
    assert row["Cancel"] == "x"  # the flag stays until the panel is put back


def test_the_journal_command_says_which_panel_each_request_went_to(tmp_path, two_panels):
    path = book(
        tmp_path / "o.xlsx", HEADER, [(1, "https://x/a", 100), (1, "https://x/b", 100, "b")]
    )
    run(path, "place")
    output = CliRunner().invoke(cli, ["journal", str(path)]).output
    lines = {line.split()[3]: line.split() for line in output.splitlines()[1:]}
    # Both panels issued order 1001: each entry shows its own panel's charge.
    assert lines["Orders!2"][5:7] == ["a", "1"] and lines["Orders!2"][-3:] == ["0.09", "USD", "yes"]
    assert lines["Orders!3"][5:7] == ["b", "1"] and lines["Orders!3"][-3:] == ["0.09", "EUR", "yes"]


def test_the_question_before_placing_lists_each_panel(tmp_path, two_panels, monkeypatch):
    from smmsheet import cli as cli_module

    monkeypatch.setattr(cli_module, "_interactive", lambda: True)
    path = book(
        tmp_path / "o.xlsx", HEADER, [(1, "https://x/a", 100), (1, "https://x/b", 100, "b")]
    )
    result = CliRunner().invoke(cli, ["place", str(path)], input="n\n")
    assert "  a: 1 order, about 0.09 USD (balance 1000.00 USD)" in result.output
    assert "  b: 1 order, about 0.09 EUR (balance 1000.00 EUR)" in result.output
    assert "row 3 in a currency the Settings sheet has no rate for" in result.output
    assert not two_panels.a.orders and not two_panels.b.orders


def test_a_panel_that_is_down_fails_only_its_own_rows(tmp_path, sim):
    """Panel b refuses connections: its rows say so, a routed row goes to panel a, and the
    rows of panel a are placed; refreshing b's orders is one message, not an error per row."""
    from smmsheet.batch import Engine, RunOptions
    from smmsheet.panels import Panels
    from smmsheet.workbook import open_workbook

    with PanelSimulator() as gone:
        dead_url = gone.url  # stopped on leaving the block: connections are refused
    rows = [
        (1, "https://x/a", 100),
        (1, "https://x/b", 100, "b"),
        ("Likes", "https://x/r", 100),
        (1, "https://x/old", 100, "b", None, None, 1001),
    ]
    header = (*HEADER, "Order ID")
    path = book(tmp_path / "o.xlsx", header, rows, routes=[("Likes", "b", 1), ("Likes", "", 3)])
    with (
        PanelClient(sim.url, DEFAULT_API_KEY, backoff=0.001) as a,
        PanelClient(dead_url, DEFAULT_API_KEY, backoff=0.001) as b,
    ):
        panels = Panels(a, default_name="a", open_profile=lambda name: b)
        with Journal(journal_path(path)) as journal:
            report = Engine(open_workbook(str(path)), panels, journal, RunOptions()).execute("run")
    out = read_orders(path)
    assert {out[0]["Order ID"], out[2]["Order ID"]} == {1001, 1002}  # sent concurrently
    assert (out[1]["Order ID"], out[3]["Order ID"]) == (None, 1001)
    assert out[1]["Error"].startswith("panel 'b': ")
    assert (out[2]["Panel"], out[2]["Service"]) == ("a", 3)
    assert any("nothing refreshed, panel 'b' failed" in m for m in report.messages)
    assert out[3]["Error"] is None and report.failed


def test_an_engine_given_one_client_refuses_rows_naming_another_panel(tmp_path, sim):
    from .conftest import run_engine

    path = book(
        tmp_path / "o.xlsx", HEADER, [(1, "https://x/a", 100), (1, "https://x/b", 100, "b")]
    )
    with PanelClient(sim.url, DEFAULT_API_KEY) as client:
        report = run_engine(path, client, "place")
    out = read_orders(path)
    assert out[0]["Order ID"] == 1001 and out[1]["Order ID"] is None
    assert "knows only its default panel" in out[1]["Error"] and report.failed


def test_the_formulas_index_gets_only_the_default_panels_orders(tmp_path, two_panels):
    """The ribbon remembers a workbook's orders for the formulas, per panel URL: panel b's
    order 1001 must not be remembered as panel a's."""
    from smmsheet.excel import remember_orders
    from smmsheet.recent import RecentOrders, panel_key
    from smmsheet.session import Session

    rows = [(1, "https://x/a", 100), (1, "https://x/b", 100, "b"), (1, "https://x/b2", 100, "b")]
    path = book(tmp_path / "o.xlsx", HEADER, rows)
    run(path, "place")  # panel a: order 1001; panel b: orders 1001 and 1002
    index = RecentOrders(tmp_path / "recent.sqlite")
    with Session(path) as session:
        remember_orders(session, index)
    assert index.open_ids(panel_key(two_panels.a.url), "0", 99) == ["1001"]


def test_a_panel_cell_holding_a_whole_number_names_that_profile(tmp_path, monkeypatch):
    """Excel keeps a typed 2 as 2.0: the run asked for a profile '2.0' (the row's error)
    while =SMM_STATUS(ids, , panels) reads the same cell as profile '2'."""
    from .two_panels import write_config

    with PanelSimulator() as a, PanelSimulator() as two:
        monkeypatch.setenv(
            "SMMSHEET_CONFIG", str(write_config(tmp_path / "c.toml", {"a": a, "2": two}))
        )
        for variable in ("SMMSHEET_PANEL_URL", "SMMSHEET_API_KEY", "SMMSHEET_PROFILE"):
            monkeypatch.delenv(variable, raising=False)
        path = book(tmp_path / "o.xlsx", HEADER, [(1, "https://x/two", 100, 2)])
        report = run(path, "place")
        assert not report.failed, read_orders(path)
        assert links(two) == ["https://x/two"] and links(a) == []
        assert read_orders(path)[0]["Order ID"] == 1001


def test_a_row_copied_with_its_id_and_its_panel_cell_cleared_is_named(tmp_path, two_panels):
    """An empty Panel cell is the default panel 'a': the copy holds a's order 1001 as the
    row whose Panel cell says 'a', and was not named as a copy."""
    from openpyxl import load_workbook

    path = book(tmp_path / "o.xlsx", HEADER, [(1, "https://x/a", 100)])
    run(path, "place")
    edit = load_workbook(path)
    sheet = edit["Orders"]
    for cell in sheet[2]:
        sheet.cell(row=3, column=cell.column, value=cell.value)
    sheet.cell(row=3, column=HEADER.index("Panel") + 1).value = None
    edit.save(path)
    assert [r["Panel"] for r in read_orders(path)] == ["a", None]
    report = run(path, "status")
    assert [m for m in report.messages if m.startswith("Order ID 1001 is in rows 2 and 3:")]
    assert links(two_panels.a) == ["https://x/a"] and links(two_panels.b) == []
