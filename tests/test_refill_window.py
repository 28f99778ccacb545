"""Refill windows read from service names: what panels write, and what is no window."""

from __future__ import annotations

import datetime as dt

import pytest

from smmsheet.batch import RunOptions
from smmsheet.refill_window import (
    LIFETIME_TEXT,
    NO_REFILL_TEXT,
    NOT_STATED_TEXT,
    RefillKind,
    RefillWindow,
    parse_refill_window,
)

from .conftest import ORDER_HEADER, make_orders_book, read_orders, run_engine

DAYS = RefillKind.DAYS

WINDOWS = [
    ("Instagram Followers [Refill 30d]", 30),
    ("Instagram Followers [Refill 30D]", 30),
    ("Followers | 30 days refill", 30),
    ("Followers - 30 Days Refill ♻️", 30),
    ("Followers 30-day auto refill", 30),
    ("Followers [R30]", 30),
    ("Followers R60D | Fast", 60),
    ("IG Likes AR30", 30),
    ("Refill: 60 days", 60),
    ("Followers ♻️ 30D", 30),
    ("Followers ♻30", 30),
    ("Followers [Refill 30] [Max 50K]", 30),
    ("YouTube Subscribers | Refill 1 Month", 30),
    ("Followers [Refill 3 months]", 90),
    ("Views | 1 year guarantee", 365),
    ("Followers [Guaranteed 45 days]", 45),
    ("Followers Warranty: 90 days", 90),
    ("Followers [Refill 7 Days] - 10K/Day", 7),
    ("Followers [Refill 2 weeks]", 14),
    ("Followers [30 Days Refill] [30 Days Refill]", 30),  # said twice, the same
    ("Non Drop | Refill 30 days", 30),
    # As real panels list them
    ("TikTok View [ Server 6 ] [ 30 Days Refill ] [ Max Unlimited ] [ 10M/Day ]", 30),
    ("Instagram Likes [ 5k Per Hours | Instant | Fast | Non Drop ] [ 30 Days Refill]", 30),
    ("❤️ TikTok Likes [R60] ♻️", 60),
    ("Instagram Followers Old Accounts With Posts | Max 1M | 365 Days Refill", 365),
    ("YouTube - Custom Comments , Korea , Max 100K , Speed 5K/Day ,  30 Days Refill", 30),
    (
        "IG Followers | MIX | Speed: Up To 50K/Day | Refill: 30 Days Refill Button | MAX 300K ⛔♻️",
        30,
    ),
]


@pytest.mark.parametrize(("name", "days"), WINDOWS)
def test_a_window_in_days_is_read_from_the_words_panels_use(name, days):
    assert parse_refill_window(name) == RefillWindow(DAYS, days)


@pytest.mark.parametrize(
    "name",
    ["Followers [Lifetime]", "Followers Lifetime Refill", "Likes | Life-time guarantee",
     "Followers Refill: ∞", "Followers ♻️ Forever", "Followers [LTR]",
     "▶️ YouTube Views | Lifetime Refill | Start in 0-4 Hours | No Drop | Per Day 5K"],
)  # fmt: skip
def test_lifetime_reads_as_a_window_without_end(name):
    assert parse_refill_window(name) == RefillWindow(RefillKind.LIFETIME)


@pytest.mark.parametrize(
    "name",
    ["Followers [No refill]", "Followers - Non Refill", "Likes NO REFILL ⚠️",
     "Views without refill", "Followers | Refill: No", "Followers [Refill: None]",
     "Followers R0", "Likes [No Guarantee]", "Followers 🚫 Refill", "Likes [Refill ❌]",
     "Followers [Refill 0 days]",
     "Instagram Followers [ Max - 500k ] [ 50k/day ] [ Stable, Almost Non Drop ] [ No Refill ]",
     "YouTube Views [ Non Drop / No Refill ]"],
)  # fmt: skip
def test_no_refill_reads_as_none(name):
    assert parse_refill_window(name) == RefillWindow(RefillKind.NONE)


NOT_A_WINDOW = [
    "Instagram Likes",
    "Instagram Followers [Max 30K]",
    "Followers | Speed 30K/Day",
    "Likes [Start 0-1 Hour]",
    "Followers Refill Button",  # refills, but for how long it does not say
    "Followers [Refill]",
    "Instagram Followers | 30 days",  # a duration of what? not said to be a refill
    "Views 30 Days Retention",
    "Followers Drop 30%",
    "Likes [Refill 30%]",
    "Followers [Refill 30K]",
    "Followers [Refill 30 min]",
    "Views Refill 10/day",
    "Server R2",
    "Reels R1 views",
    "Followers R30K",
    "YouTube Views [Refill 30.5]",
    "Likes [Low drop]",
    "Followers Refill 99999 days",  # more than ten years: not believed
    "No refill | Refill 30 days",  # words that disagree: the panel decides
    "Followers [Refill 30d] [Lifetime]",
    "Followers [Refill 30 - 60 days]",
    "Telegram Members [ 30 - 90Days Refill ]",
    '=HYPERLINK("http://evil","x")',
    "",
]


@pytest.mark.parametrize("name", NOT_A_WINDOW)
def test_names_that_say_no_clear_window_read_as_nothing(name):
    assert parse_refill_window(name) is None


def test_the_description_is_read_when_the_name_says_nothing():
    window = parse_refill_window("Instagram Followers", "High quality. Refill: 45 days.")
    assert window == RefillWindow(DAYS, 45)
    assert parse_refill_window("Followers [R30]", "Refill 60 days") == RefillWindow(DAYS, 30)
    assert parse_refill_window(None, "") is None


def test_until_counts_days_from_the_day_placed_and_words_for_the_rest():
    placed = dt.date(2026, 11, 1)
    assert RefillWindow(DAYS, 30).until(placed) == dt.date(2026, 12, 1)
    assert RefillWindow(RefillKind.LIFETIME).until(placed) == LIFETIME_TEXT
    assert RefillWindow(RefillKind.NONE).until(placed) == NO_REFILL_TEXT


def test_the_simulator_catalogue_names_read_as_expected():
    from smmsheet.simulator.catalogue import default_services

    read = {s["service"]: parse_refill_window(s["name"]) for s in default_services()}
    assert read[1] == RefillWindow(DAYS, 30)
    assert {sid for sid, w in read.items() if w is not None} == {1}


def test_a_range_read_from_either_end_is_no_window():
    assert parse_refill_window("Followers 30-60 days refill") is None


# --------------------------------------------------------------------------- in the engine

TODAY = dt.date.today()


def later(days: int):
    """A run's clock ``days`` after today (the journal records the adds at the real time)."""
    return lambda: dt.datetime.combine(TODAY + dt.timedelta(days=days), dt.time(12))


def placed_book(tmp_path, client, refill=None):
    """Row 2: service 1 ("[Refill 30d]"); row 3: service 4 (no window in its name)."""
    rows = [(1, "https://a", 100, None, None, None, refill), (4, "https://b", 100)]
    book = make_orders_book(tmp_path / "o.xlsx", rows)
    run_engine(book, client, "place")
    return book


def test_placing_writes_refill_until_from_the_service_name_and_the_day_placed(tmp_path, client):
    book = placed_book(tmp_path, client)
    first, second = read_orders(book)
    assert first["Refill until"].date() == TODAY + dt.timedelta(days=30)
    assert second["Refill until"] == NOT_STATED_TEXT  # "YouTube Views": the panel decides


def test_a_service_listed_without_refill_says_no_refill_not_not_stated(tmp_path, client):
    # "Instagram Likes" (service 3) is listed with refill: false: "Not stated" told the
    # user the panel might refill it, and a Refill flag was then refused as not offered.
    book = make_orders_book(tmp_path / "o.xlsx", [(3, "https://a", 100)])
    run_engine(book, client, "place")
    assert read_orders(book)[0]["Refill until"] == NO_REFILL_TEXT


def test_once_every_order_is_dated_status_reads_no_service_list(tmp_path, sim, client):
    book = placed_book(tmp_path, client)
    sim.reset_counts()
    run_engine(book, client, "status")
    assert sim.counts["status"] == 1 and sim.counts.get("services", 0) == 0


def test_a_refill_flag_past_the_window_is_refused_in_its_row_and_nothing_sent(
    tmp_path, sim, client
):
    book = placed_book(tmp_path, client)
    sim.advance(5)
    flag(book, 2)
    report = run_engine(book, client, "refill", now=later(31))
    [row, _] = read_orders(book)
    assert sim.counts.get("refill", 0) == 0
    assert row["Refill"] is None and row["Refill ID"] is None
    ended = (TODAY + dt.timedelta(days=30)).isoformat()
    assert row["Error"].startswith(f"refill: the refill window ended on {ended}")
    assert report.failed


def test_a_refill_flag_on_the_last_day_of_the_window_is_sent(tmp_path, sim, client):
    book = placed_book(tmp_path, client)
    sim.advance(5)
    flag(book, 2)
    run_engine(book, client, "refill", now=later(30))
    [row, _] = read_orders(book)
    assert sim.counts["refill"] == 1 and row["Refill ID"] == 501


def test_no_refill_in_the_cell_refuses_and_a_word_typed_there_sends_anyway(tmp_path, sim, client):
    book = placed_book(tmp_path, client)
    sim.advance(5)
    set_cells(book, {(2, "Refill until"): NO_REFILL_TEXT, (2, "Refill"): "x"})
    run_engine(book, client, "refill")
    assert "the service's name says it has no refill" in read_orders(book)[0]["Error"]
    assert sim.counts.get("refill", 0) == 0
    set_cells(book, {(2, "Refill until"): None, (2, "Refill"): "x"})
    run_engine(book, client, "refill", now=later(40))  # emptied: dated again (30 days), past
    assert sim.counts.get("refill", 0) == 0 and "window ended" in read_orders(book)[0]["Error"]
    set_cells(book, {(2, "Refill until"): "ask", (2, "Refill"): "x"})
    run_engine(book, client, "refill", now=later(40))  # a word is no date: the panel decides
    assert sim.counts["refill"] == 1


def test_status_notes_orders_whose_window_ends_within_the_warning_days(tmp_path, sim, client):
    book = placed_book(tmp_path, client)
    sim.set_status(1001, "Completed")
    report = run_engine(book, client, "status", now=later(27), refill_warning_days=3)
    [row, other] = read_orders(book)
    assert row["Error"].startswith("Note: refill window ends") and "(3 days left)" in row["Error"]
    assert other["Error"] is None
    assert report.counts()[("status", "refill ends soon")] == 1 and not report.failed
    # Further away than the warning days: no note; past the window: the note goes.
    run_engine(book, client, "status", now=later(20), refill_warning_days=3)
    assert read_orders(book)[0]["Error"] is None
    run_engine(book, client, "status", now=later(27), refill_warning_days=3)
    run_engine(book, client, "status", now=later(31), refill_warning_days=3)
    assert read_orders(book)[0]["Error"] is None


def test_the_ending_note_never_replaces_a_real_error(tmp_path, sim, client):
    book = placed_book(tmp_path, client)
    sim.set_status(1001, "Completed")
    # Final in the sheet: the refresh leaves the row alone, as must the note.
    set_cells(book, {(2, "Status"): "Completed", (2, "Error"): "my own remark"})
    report = run_engine(book, client, "status", now=later(29))
    assert read_orders(book)[0]["Error"] == "my own remark"
    assert report.counts()[("status", "refill ends soon")] == 1


def test_orders_the_journal_does_not_know_get_no_date_and_no_service_list_is_fetched(
    tmp_path, sim, client
):
    rows = [(1, "https://a", 100)]
    book = make_orders_book(tmp_path / "o.xlsx", rows, (*ORDER_HEADER, "Order ID"))
    set_cells(book, {(2, "Order ID"): 1001})
    sim.reset_counts()
    run_engine(book, client, "status")
    assert read_orders(book)[0].get("Refill until") is None
    assert sim.counts.get("services", 0) == 0


def test_refill_warning_days_is_read_from_the_settings_sheet(tmp_path):
    from smmsheet.config import workbook_settings
    from smmsheet.errors import ConfigError

    assert workbook_settings([("Refill warning days", 7)]).refill_warning_days == 7
    assert workbook_settings([]).refill_warning_days is None  # the engine's default: 3
    for bad in ("soon", -1, 1000):
        with pytest.raises(ConfigError, match="Refill warning days"):
            workbook_settings([("Refill warning days", bad)])


def test_the_session_passes_the_settings_warning_days_to_the_engine(tmp_path, sim, client):
    from smmsheet.session import Session

    book = placed_book(tmp_path, client)
    sim.set_status(1001, "Completed")
    add_settings(book, [("Refill warning days", 0)])
    with Session(book, client=client) as session:
        session.run("status", RunOptions(now=later(27)))
    assert read_orders(book)[0]["Error"] is None


def flag(book, row):
    set_cells(book, {(row, "Refill"): "x"})


def set_cells(book, cells):
    """Write cells by (row, header text) with openpyxl, as a user's edit."""
    from openpyxl import load_workbook

    wb = load_workbook(book)
    sheet = wb["Orders"]
    header = [c.value for c in sheet[1]]
    for (row, title), value in cells.items():
        sheet.cell(row, header.index(title) + 1).value = value  # None clears it
    wb.save(book)


def add_settings(book, rows):
    from openpyxl import load_workbook

    wb = load_workbook(book)
    sheet = wb.create_sheet("Settings")
    for row in rows:
        sheet.append(list(row))
    wb.save(book)


def test_a_service_list_that_fails_leaves_refill_until_empty_and_the_run_goes_on(tmp_path, client):
    import json

    from smmsheet.panel import PanelClient

    from .scripted import ScriptedPanel

    book = placed_book(tmp_path, client)
    set_cells(book, {(2, "Refill until"): None})

    def script(form):
        if form["action"] == "services":
            return 502, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>"
        done = {"status": "Completed", "charge": "0.09", "remains": "0", "currency": "USD"}
        reply = {oid: done for oid in form["orders"].split(",")}
        return 200, {"Content-Type": "application/json"}, json.dumps(reply).encode()

    with ScriptedPanel(script) as panel, PanelClient(panel.url, "k", retries=0) as scripted:
        report = run_engine(book, scripted, "status")
    row = read_orders(book)[0]
    assert row["Status"] == "Completed" and row["Refill until"] is None
    assert any("Refill until is left empty this run" in m for m in report.messages)


def test_refill_until_reads_the_service_list_of_the_panel_that_issued_the_order(
    tmp_path, monkeypatch
):
    """Both panels issue order 1001 for their service 1: each row's window is its own panel's."""
    from smmsheet.simulator import default_services

    from .two_panels import book as two_panel_book
    from .two_panels import open_two
    from .two_panels import run as run_session

    services_b = default_services()
    services_b[0].update(name="Instagram Followers [Refill 60d]")
    with open_two(tmp_path, monkeypatch, b_currency="USD", b_services=services_b):
        path = two_panel_book(
            tmp_path / "o.xlsx",
            ("Service", "Link", "Quantity", "Panel"),
            [(1, "https://x/a", 100, None), (1, "https://x/b", 100, "b")],
        )
        run_session(path, "place")
        rows = read_orders(path)
    assert [r["Order ID"] for r in rows] == [1001, 1001]
    [a, b] = [r["Refill until"] for r in rows]
    assert (b - a).days == 30  # 60 days on panel b, 30 on panel a, placed the same day
