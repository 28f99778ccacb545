"""Ribbon macros over the engine: confirmation, one alert, Error cells, no key anywhere.

Excel's object model is the in-memory fake (tests/fake_excel.py); the panel is the real
simulator over loopback, reached through the same code paths as from the ribbon.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smmsheet import excel
from smmsheet.excel import MACROS, run_macro
from smmsheet.journal import Journal, journal_location
from smmsheet.panel import PanelClient
from smmsheet.simulator import DEFAULT_API_KEY, PanelSimulator
from smmsheet.templates import TEMPLATE_COLUMNS
from smmsheet.workbook.live import XlwingsWorkbook

from .fake_excel import CellError, FakeApp, FakeBook, Formula
from .two_panels import two_panels_fixture  # noqa: F401

SECRET = "sk-live-SECRET-0123456789"


class Dialogs:
    """Records what a macro asked and told; answers questions from a script."""

    def __init__(self, *answers: bool) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []
        self.told: list[str] = []
        self.notes: list[str | None] = []

    def ask(self, text: str) -> bool:
        self.asked.append(text)
        return self.answers.pop(0) if self.answers else False

    def tell(self, text: str) -> None:
        self.told.append(text)

    def notify(self, text: str | None) -> None:
        self.notes.append(text)


@pytest.fixture
def sim() -> Iterator[PanelSimulator]:
    with PanelSimulator(api_key=SECRET, balance="100") as simulator:
        yield simulator


@pytest.fixture
def client(sim: PanelSimulator) -> Iterator[PanelClient]:
    with PanelClient(sim.url, SECRET) as c:
        yield c


@pytest.fixture
def panel_env(sim: PanelSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The panel as a user configures it: environment variables, no config file."""
    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("SMMSHEET_PANEL_URL", sim.url)
    monkeypatch.setenv("SMMSHEET_API_KEY", SECRET)
    monkeypatch.delenv("SMMSHEET_PROFILE", raising=False)


def order_book(
    rows: list[dict[str, Any]], tmp_path: Path, *, answers: list[str] | None = None, **sheets: Any
) -> FakeBook:
    """A workbook open in (fake) Excel, saved at tmp_path/orders.xlsx, with these order rows."""
    table = [list(TEMPLATE_COLUMNS)]
    for values in rows:
        table.append([values.get(title) for title in TEMPLATE_COLUMNS])
    path = tmp_path / "orders.xlsx"
    path.write_bytes(b"")
    return FakeBook({"Orders": table, **sheets}, fullname=str(path), app=FakeApp(answers=answers))


def column(book: FakeBook, title: str, sheet: str = "Orders") -> list[Any]:
    """The values under a header, rows 2..last."""
    cells = book.sheets[sheet].cells
    col = next(c for (r, c), v in cells.items() if r == 1 and v == title)
    last = max(r for r, _ in cells)
    return [cells.get((r, col)) for r in range(2, last + 1)]


def everything_shown(book: FakeBook, dialogs: Dialogs | None = None) -> str:
    """Every cell of every sheet, every alert and message, as one text."""
    parts = [str(v) for sheet in book.sheets for v in sheet.cells.values()]
    parts += [str(a) for a in book.app.alerts] + [str(s) for s in book.app.status_history]
    if dialogs is not None:
        parts += dialogs.asked + dialogs.told + [str(n) for n in dialogs.notes]
    return "\n".join(parts)


def run(command: str, book: FakeBook, client: PanelClient | None, dialogs: Dialogs) -> Any:
    adapter = XlwingsWorkbook(book)
    return run_macro(
        command,
        adapter,
        None,  # where the book's journal belongs (beside its file here)
        client,
        dialogs.ask,
        dialogs.tell,
        progress=adapter.progress,
        notify=dialogs.notify,
    )


GOOD_ROWS = [
    {"Service": 1, "Link": "https://instagram.com/shop", "Quantity": 1000},
    {"Service": 3, "Link": "https://instagram.com/p/one", "Quantity": 1000},
    {"Service": 3, "Link": "https://instagram.com/p/two", "Quantity": 2000},
]


# --------------------------------------------------------------------------- placing


def test_an_order_id_showing_an_excel_error_is_never_bought_again(
    sim: PanelSimulator, client: PanelClient, tmp_path: Path
) -> None:
    """Inside Excel the Order ID of a placed row shows #REF! (its lookup's sheet was
    deleted) or #SPILL!: xlwings read both as empty, so the ribbon's Place bought those
    rows again. They now stop their rows with what the cell shows; the others are placed."""
    spill = -2146826243  # what COM hands over for #SPILL!, a code xlwings does not name
    book = order_book(GOOD_ROWS, tmp_path)
    cells = book.sheets["Orders"].cells
    id_col = TEMPLATE_COLUMNS.index("Order ID") + 1
    cells[(2, id_col)] = Formula("=Ids!A2", CellError("#REF!"))
    cells[(3, id_col)] = Formula("=Ids!A3#", spill)
    run("place", book, client, Dialogs(True))
    assert sim.counts["add"] == 1
    errors = column(book, "Error")
    assert "#REF!" in str(errors[0]) and "#SPILL!" in str(errors[1]) and not errors[2]
    ids = column(book, "Order ID")
    assert isinstance(ids[0], Formula) and isinstance(ids[1], Formula)  # the formulas stay
    assert ids[2] == 1001


def test_rows_a_filter_hides_are_not_bought_when_place_is_pressed(
    sim: PanelSimulator, client: PanelClient, tmp_path: Path
) -> None:
    """A reseller filters the sheet to one client's rows and presses Place: the rows out
    of sight were bought too. Now only what shows is placed; each hidden row says why in
    its Error cell, and once shown it is placed by the next Place."""
    book = order_book(GOOD_ROWS, tmp_path)
    book.sheets["Orders"].hidden.update({2, 4})  # the filter shows row 3 only
    dialogs = Dialogs(True)
    run("place", book, client, dialogs)
    assert dialogs.asked[0].startswith("Place 1 order for about")
    assert sim.counts["add"] == 1
    assert column(book, "Order ID") == [None, 1001, None]
    errors = column(book, "Error")
    assert "hidden" in str(errors[0]) and "hidden" in str(errors[2]) and not errors[1]
    book.sheets["Orders"].hidden.clear()  # Data > Clear filter
    run("place", book, client, Dialogs(True))
    assert sim.counts["add"] == 3
    assert sorted(column(book, "Order ID")) == [1001, 1002, 1003]
    assert not any(column(book, "Error"))


def test_an_excel_without_entire_row_hidden_still_leaves_hidden_rows_unbought(
    sim: PanelSimulator, client: PanelClient, tmp_path: Path
) -> None:
    """Excel for Mac (AppleScript) has no ``EntireRow``: the question failed, was taken as
    "not hidden", and the rows the filter hides were bought. The rows' height (0 when
    hidden), which every engine tells, answers instead."""
    book = order_book(GOOD_ROWS, tmp_path)
    sheet = book.sheets["Orders"]
    sheet.entire_row_answers = sheet.special_cells_answer = False
    sheet.hidden.update({2, 4})
    run("place", book, client, Dialogs(True))
    assert sim.counts["add"] == 1
    assert column(book, "Order ID") == [None, 1001, None]
    errors = column(book, "Error")
    assert "hidden" in str(errors[0]) and "hidden" in str(errors[2]) and not errors[1]


def test_an_excel_that_cannot_tell_hidden_rows_places_nothing(
    sim: PanelSimulator, client: PanelClient, tmp_path: Path
) -> None:
    """An engine that answers neither ``EntireRow.Hidden`` nor the rows' height: what is out
    of sight cannot be told, so nothing is bought and the alert says why."""
    book = order_book(GOOD_ROWS, tmp_path)
    sheet = book.sheets["Orders"]
    sheet.entire_row_answers = sheet.heights_answer = sheet.special_cells_answer = False
    sheet.hidden.add(2)
    dialogs = Dialogs(True)
    run("place", book, client, dialogs)
    assert sim.counts["add"] == 0
    assert column(book, "Order ID") == [None, None, None]
    assert "hidden" in everything_shown(book, dialogs)


@pytest.mark.parametrize("partly", [None, False], ids=["null", "false"])
def test_rows_a_filter_hides_are_found_whatever_excel_says_of_a_run_partly_hidden(
    sim: PanelSimulator, client: PanelClient, tmp_path: Path, partly: bool | None
) -> None:
    """What ``EntireRow.Hidden`` returns for rows only some of which are hidden is not
    documented: were it False, a run holding filtered-out rows read as all shown, and those
    rows were bought from the ribbon. The visible cells are counted instead."""
    book = order_book(GOOD_ROWS, tmp_path)
    sheet = book.sheets["Orders"]
    sheet.partly_hidden = partly
    sheet.hidden.update({2, 4})
    run("place", book, client, Dialogs(True))
    assert sim.counts["add"] == 1
    assert column(book, "Order ID") == [None, 1001, None]


def test_a_long_sheet_with_one_hidden_row_asks_excel_a_few_questions(
    sim: PanelSimulator, client: PanelClient, tmp_path: Path
) -> None:
    """Excel answers whether a whole run of rows is hidden (None: some are): 2,000 rows
    to place cost a few dozen questions, not one a row."""
    rows = [
        {"Service": 3, "Link": f"https://instagram.com/p/{n}", "Quantity": 100} for n in range(2000)
    ]
    book = order_book(rows, tmp_path)
    sheet = book.sheets["Orders"]
    sheet.hidden.add(1500)
    adapter = XlwingsWorkbook(book)
    assert adapter.hidden_rows("Orders", range(2, 2002)) == {1500}
    assert sheet.asked_hidden <= 2 * 11 + 1  # halving 2,000 rows down to one: 11 levels


def test_place_asks_with_row_count_and_cost_before_sending(
    sim: PanelSimulator, client: PanelClient, tmp_path: Path
) -> None:
    book = order_book(GOOD_ROWS, tmp_path)
    dialogs = Dialogs(True)
    run("place", book, client, dialogs)
    assert len(dialogs.asked) == 1
    assert dialogs.asked[0].startswith("Place 3 orders for about 1.65 USD?")
    assert "Balance: 100.00 USD" in dialogs.asked[0]
    assert sim.counts["add"] == 3
    assert sorted(column(book, "Order ID")) == [1001.0, 1002.0, 1003.0]  # placed concurrently
    assert column(book, "Status")[0] in {"Pending", "In progress"}
    assert dialogs.told == []
    assert dialogs.notes[-1] is not None and "3 placed" in dialogs.notes[-1]


def test_the_place_question_shows_a_small_cost_as_it_is_not_as_zero(
    sim: PanelSimulator, client: PanelClient, tmp_path: Path
) -> None:
    # 12 likes at 0.25 per 1,000 cost 0.003: "about 0.00 USD" would ask to spend nothing.
    book = order_book(
        [{"Service": 3, "Link": "https://instagram.com/p/x", "Quantity": 12}], tmp_path
    )
    dialogs = Dialogs(False)
    run("place", book, client, dialogs)
    assert dialogs.asked[0].startswith("Place 1 order for about 0.003 USD?")
    assert sim.counts["add"] == 0


def test_a_place_within_the_days_cap_is_a_status_bar_note_not_an_alert(
    sim: PanelSimulator, client: PanelClient, tmp_path: Path
) -> None:
    # Every Place under a Max spend per day ended in an alert saying only the day's total.
    settings = [["Setting", "Value"], ["Max spend per day", 10]]
    book = order_book(GOOD_ROWS, tmp_path, Settings=settings)
    dialogs = Dialogs(True)
    run("place", book, client, dialogs)
    assert sim.counts["add"] == 3 and dialogs.told == []
    assert dialogs.notes[-1] is not None and "3 placed" in dialogs.notes[-1]


def test_declining_the_confirmation_places_nothing(
    sim: PanelSimulator, client: PanelClient, tmp_path: Path
) -> None:
    book = order_book(GOOD_ROWS, tmp_path)
    dialogs = Dialogs(False)
    run("place", book, client, dialogs)
    assert len(dialogs.asked) == 1
    assert sim.counts["add"] == 0
    assert column(book, "Order ID") == [None, None, None]
    assert book.writes() == []
    assert sim.balance == 100


def test_row_errors_are_one_alert_and_land_in_the_error_cells(
    sim: PanelSimulator, client: PanelClient, tmp_path: Path
) -> None:
    rows = [
        GOOD_ROWS[0],
        {"Service": 999, "Link": "https://instagram.com/x", "Quantity": 100},
        {"Service": 1, "Link": "https://instagram.com/y", "Quantity": 5},
        {"Service": 1, "Quantity": 100},
    ]
    book = order_book(rows, tmp_path)
    dialogs = Dialogs(True)
    run("place", book, client, dialogs)
    assert sim.counts["add"] == 1
    assert len(dialogs.told) == 1
    alert = dialogs.told[0]
    assert alert.startswith("3 rows need attention")
    assert "row 3:" in alert and "row 4:" in alert and "row 5:" in alert
    errors = column(book, "Error")
    assert errors[0] is None and all(errors[1:])


def test_formula_looking_service_names_land_as_text_in_the_services_sheet(
    client: PanelClient, tmp_path: Path
) -> None:
    book = order_book([], tmp_path)
    dialogs = Dialogs()
    run("services", book, client, dialogs)
    assert [s.name for s in book.sheets] == ["Orders", "Services"]
    names = column(book, "Name", sheet="Services")
    assert '=HYPERLINK("http://evil","x")' in names
    assert not any(isinstance(v, Formula) for v in book.sheets["Services"].cells.values())
    categories = column(book, "Category", sheet="Services")
    assert "@Weird +Category" in categories
    assert dialogs.told == [] and "services" in str(dialogs.notes[-1])


def test_refresh_refill_and_cancel_act_on_their_rows(
    sim: PanelSimulator, client: PanelClient, tmp_path: Path
) -> None:
    sim.auto_progress = False  # orders move only when the test says so
    rows = [*GOOD_ROWS, {"Service": 4, "Link": "https://youtube.com/watch?v=1", "Quantity": 100}]
    book = order_book(rows, tmp_path)
    run("place", book, client, Dialogs(True))
    ids = [int(i) for i in column(book, "Order ID")]  # adds run concurrently: any order
    sim.set_status(ids[0], "Completed")
    dialogs = Dialogs()
    run("status", book, client, dialogs)
    assert column(book, "Status")[0] == "Completed"
    assert column(book, "Remains")[0] == 0

    sheet = book.sheets["Orders"]
    refill_col = TEMPLATE_COLUMNS.index("Refill") + 1
    cancel_col = TEMPLATE_COLUMNS.index("Cancel") + 1
    sheet.set_rows([["x"]], top=2, left=refill_col)
    sheet.set_rows([["x"]], top=5, left=cancel_col)
    run("refill", book, client, Dialogs())
    asked = Dialogs(True)
    run("cancel", book, client, asked)
    question = f"Cancel 1 order: {ids[3]} (row 5)?\n\nA canceled order cannot be resumed."
    assert asked.asked == [question]
    run("refill-status", book, client, Dialogs())
    assert column(book, "Refill ID")[0] == 501.0
    assert column(book, "Refill")[0] is None
    assert column(book, "Refill Status")[0] is not None
    assert (sim.counts["refill"], sim.counts["cancel"]) == (1, 1)
    assert column(book, "Cancel")[3] is None and column(book, "Status")[3] == "Cancel requested"


def test_balance_is_told(client: PanelClient, tmp_path: Path) -> None:
    dialogs = Dialogs()
    run("balance", order_book([], tmp_path), client, dialogs)
    assert dialogs.told == ["Balance: 100.00 USD"]  # as every other line shows money


def test_balance_shows_every_panel_the_workbook_uses(two_panels: Any, tmp_path: Path) -> None:
    routes = [["Product", "Panel", "Service"], ["Likes", "b", 3], ["Likes", "gone", 3]]
    dialogs = Dialogs()
    run("balance", order_book([], tmp_path, Routes=routes), None, dialogs)
    assert len(dialogs.told) == 1
    lines = dialogs.told[0].splitlines()
    assert lines[:3] == ["Balances:", "  a     1000.00 USD", "  b     1000.00 EUR"]  # a: default
    assert lines[3].startswith("  gone  error: ") and "no profile 'gone'" in lines[3]


# --------------------------------------------------------------------------- errors, secrets


def test_a_missing_panel_setting_is_one_alert_and_nothing_is_sent(
    sim: PanelSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("SMMSHEET_PANEL_URL", raising=False)
    monkeypatch.delenv("SMMSHEET_API_KEY", raising=False)
    monkeypatch.delenv("SMMSHEET_PROFILE", raising=False)
    dialogs = Dialogs(True)
    run("place", order_book(GOOD_ROWS, tmp_path), None, dialogs)
    assert len(dialogs.told) == 1 and dialogs.told[0].startswith("smmsheet: no panel URL")
    assert sim.counts["requests"] == 0


def test_a_settings_sheet_holding_a_key_is_refused(
    sim: PanelSimulator, panel_env: None, tmp_path: Path
) -> None:
    book = order_book(GOOD_ROWS, tmp_path, Settings=[["Setting", "Value"], ["API key", "sk-x9"]])
    dialogs = Dialogs(True)
    run("place", book, None, dialogs)
    assert len(dialogs.told) == 1 and "Settings sheet holds an API key" in dialogs.told[0]
    assert "sk-x9" not in dialogs.told[0]
    assert sim.counts["requests"] == 0


def test_the_key_never_appears_in_a_cell_or_a_dialog(
    sim: PanelSimulator, panel_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rows = [*GOOD_ROWS, {"Service": 22, "Link": "https://instagram.com/z", "Quantity": 100}]
    book = order_book(rows, tmp_path, Settings=[["Setting", "Value"], ["Max spend", 1]])
    dialogs = Dialogs(True)
    for command in ["place", "status", "refill", "refill-status", "cancel", "services"]:
        run(command, book, None, dialogs)
    run("balance", book, None, dialogs)
    assert sim.counts["add"] >= 1 and dialogs.told
    monkeypatch.setenv("SMMSHEET_API_KEY", SECRET + "-wrong")
    run("status", book, None, dialogs)
    assert "refused the API key" in dialogs.told[-1]
    shown = everything_shown(book, dialogs)
    assert SECRET not in shown


def test_a_workbook_another_run_holds_is_one_alert(
    client: PanelClient, sim: PanelSimulator, tmp_path: Path
) -> None:
    book = order_book(GOOD_ROWS, tmp_path)
    dialogs = Dialogs(True)
    with Journal(journal_location(book.fullname)):
        run("place", book, client, dialogs)
    assert len(dialogs.told) == 1 and "another smmsheet run" in dialogs.told[0]
    assert sim.counts["add"] == 0


def test_an_unexpected_failure_is_one_alert_without_a_traceback(
    client: PanelClient, tmp_path: Path
) -> None:
    class Broken(XlwingsWorkbook):
        def read_values(self, sheet: str, watch: Any = None) -> list[list[Any]]:
            raise RuntimeError("COM went away")

    dialogs = Dialogs()
    book = order_book(GOOD_ROWS, tmp_path)
    run_macro(
        "status",
        Broken(book),
        journal_location(book.fullname),
        client,
        dialogs.ask,
        dialogs.tell,
    )
    assert dialogs.told == ["smmsheet: unexpected RuntimeError: COM went away"]


# --------------------------------------------------------------------------- the Excel shells


def test_ribbon_macro_runs_on_the_calling_book_with_excel_dialogs(
    sim: PanelSimulator, panel_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    book = order_book(GOOD_ROWS, tmp_path, answers=["yes"])
    monkeypatch.setattr(excel, "_caller", lambda: book)
    excel.place_orders()
    confirm, *rest = book.app.alerts
    assert confirm["buttons"] == "yes_no" and confirm["title"] == "smmsheet"
    assert confirm["prompt"].startswith("Place 3 orders")
    assert rest == []
    assert sim.counts["add"] == 3
    assert (tmp_path / "orders.xlsx.smmsheet-journal.sqlite").exists()
    # saved before the first order (the marker naming the run) and after the write
    assert book.saved == 2, "a workbook with a file on disk is saved after the write"
    assert any(str(s).startswith("smmsheet: place") for s in book.app.status_history)

    excel.show_balance()
    assert book.app.alerts[-1]["prompt"].startswith("Balance: ")


def test_ribbon_macro_errors_are_one_critical_alert(
    sim: PanelSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("SMMSHEET_PANEL_URL", raising=False)
    book = order_book(GOOD_ROWS, tmp_path)
    monkeypatch.setattr(excel, "_caller", lambda: book)
    excel.refresh_status()
    assert len(book.app.alerts) == 1
    assert book.app.alerts[0]["mode"] == "critical"


@pytest.mark.parametrize("name", sorted(MACROS))
def test_every_macro_is_a_function_of_the_module(name: str) -> None:
    assert callable(getattr(excel, name))
    assert getattr(excel, name).__doc__


def test_every_macro_runs_an_engine_command_spelled_as_the_engine_does_or_a_lookup() -> None:
    from smmsheet.batch import Command

    assert set(MACROS.values()) == {*Command, "balance", "services", "self-test"} - {Command.RUN}


def test_default_simulator_key_is_not_the_one_under_test() -> None:
    assert SECRET != DEFAULT_API_KEY


# --------------------------------------------------------------------------- long runs


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user data folder (ribbon lock, index of recent orders) of this test only."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


def test_a_run_that_fails_halfway_gives_the_status_bar_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    book = order_book(GOOD_ROWS, tmp_path)

    def halfway(*args: Any, progress: Any, **kwargs: Any) -> None:
        progress("placing", 3, 10)
        raise RuntimeError("COM went away")

    monkeypatch.setattr(excel, "_caller", lambda: book)
    monkeypatch.setattr(excel, "run_macro", halfway)
    with pytest.raises(RuntimeError):
        excel.place_orders()
    assert book.app.status_history[-2:] == ["smmsheet: placing 3/10", False]


def test_a_finished_run_leaves_its_summary_not_its_progress(
    sim: PanelSimulator, panel_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    book = order_book(GOOD_ROWS, tmp_path, answers=["yes"])
    monkeypatch.setattr(excel, "_caller", lambda: book)
    excel.place_orders()
    assert str(book.app.status_history[-1]).startswith("smmsheet: place: 3 ")


def test_a_second_click_while_a_run_works_is_refused_clearly(
    sim: PanelSimulator, panel_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from filelock import FileLock

    book = order_book(GOOD_ROWS, tmp_path, answers=["yes"])
    monkeypatch.setattr(excel, "_caller", lambda: book)
    excel.ribbon_lock_path().parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(excel.ribbon_lock_path())):  # the first click, still working
        excel.place_orders()
    assert [a["prompt"] for a in book.app.alerts] == [
        "smmsheet: another smmsheet button is still running. Wait until it has finished "
        "(the status bar shows its progress), then click again."
    ]
    assert sim.counts["add"] == 0 and book.saved == 0
    excel.place_orders()  # once it is done, the button works
    assert sim.counts["add"] == 3


@pytest.mark.parametrize("answer", ["no", "yes"])
def test_unsaved_edits_are_not_saved_with_the_results_without_asking(
    sim: PanelSimulator,
    panel_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    answer: str,
) -> None:
    book = order_book(GOOD_ROWS, tmp_path, answers=[answer, "yes"])
    book.api.Saved = False  # the user typed somewhere and did not save
    monkeypatch.setattr(excel, "_caller", lambda: book)
    excel.place_orders()
    question = book.app.alerts[0]
    assert question["buttons"] == "yes_no" and "changes you have not saved" in question["prompt"]
    if answer == "no":
        assert sim.counts["add"] == 0 and book.saved == 0 and len(book.app.alerts) == 1
    else:
        assert sim.counts["add"] == 3 and book.saved == 2


def test_a_book_without_unsaved_edits_is_not_asked_about_them(
    sim: PanelSimulator, panel_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    book = order_book(GOOD_ROWS, tmp_path)
    monkeypatch.setattr(excel, "_caller", lambda: book)
    excel.refresh_status()
    excel.show_balance()
    assert not any("not saved" in a["prompt"] for a in book.app.alerts)


# --------------------------------------------------------------------------- self-test


def test_self_test_shows_a_passing_table_in_a_new_workbook_and_leaves_the_users_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SMMSHEET_PANEL_URL", "http://127.0.0.1:9/api/v2")  # never used
    book = order_book(GOOD_ROWS, tmp_path)
    before = (dict(book.sheets["Orders"].cells), list(book.log))
    monkeypatch.setattr(excel, "_caller", lambda: book)
    excel.self_test()
    (report,) = book.app.books.created
    rows = report.sheets[0].cells
    table = [[rows.get((r, c)) for c in range(1, 4)] for r in range(1, 9)]
    assert table[0] == ["Step", "Result", "Detail"]
    steps = [row[0] for row in table[1:]]
    assert steps == [
        "Start the panel simulator",
        "Scratch order workbook",
        "Place orders",
        "Refresh status",
        "Refill",
        "Formula column (SMM_STATUS)",
        "No key in the workbook",
    ]
    assert all(row[1] == "PASS" for row in table[1:]), table
    assert rows[(9, 1)] == "All steps" and rows[(9, 2)] == "PASS"
    assert (dict(book.sheets["Orders"].cells), list(book.log)) == before
    assert book.saved == 0 and report.saved == 0
    assert book.app.alerts == []
    assert not list(tmp_path.glob("*journal*"))
    assert book.app.status_history[-1] is False


def test_a_failing_self_test_step_is_a_fail_row_and_one_alert(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from smmsheet import selftest

    monkeypatch.setattr(selftest, "ROWS", [(999, "https://instagram.com/x", 100)])
    book = order_book([], tmp_path)
    monkeypatch.setattr(excel, "_caller", lambda: book)
    excel.self_test()
    (report,) = book.app.books.created
    cells = report.sheets[0].cells
    results = {cells[(r, 1)]: cells[(r, 2)] for r in range(2, 6) if (r, 1) in cells}
    assert results["Place orders"] == "FAIL"
    assert "Refresh status" not in results  # the steps after a failure cannot run
    (alert,) = book.app.alerts
    assert alert["prompt"].startswith("smmsheet: the self-test failed at: Place orders")


def test_the_status_bar_shows_money_as_every_other_output_does():
    """0.003 spent reads 0.003, as in the CLI, not 0.00 (one money format)."""
    from decimal import Decimal

    from smmsheet import excel
    from smmsheet.batch import Outcome, Report, Step

    report = Report()
    report.add(2, Step.PLACE, Outcome.PLACED)
    report.spent, report.currency = Decimal("0.003"), "USD"
    assert excel._summary("place", report) == "smmsheet: place: 1 placed for about 0.003 USD"
