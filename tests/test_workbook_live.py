"""The live Excel adapter: bulk reads, block writes, text stays text, Excel's errors translated.

Excel cannot run here, so these drive ``XlwingsWorkbook`` through the in-memory fake of
the object model (tests/fake_excel.py) and, opt-in, through xlwings' own remote engine
(real xlwings Range code; needs ``XLWINGS_LICENSE_KEY=noncommercial`` in the environment).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from smmsheet.errors import WorkbookError
from smmsheet.workbook.base import WorkbookAdapter
from smmsheet.workbook.live import XlwingsWorkbook, column_runs, to_excel

from .contract_workbook import (
    CONTRACT,
    ORDERS,
    Harness,
    LiveHarness,
    RemoteHarness,
    remote_engine_available,
    remote_xlwings,
)
from .fake_excel import FakeApp, FakeBook


@pytest.fixture(params=["fake", pytest.param("remote", marks=remote_xlwings)])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "remote":
        if not remote_engine_available():
            pytest.skip("set XLWINGS_LICENSE_KEY=noncommercial to run xlwings' remote engine")
        return RemoteHarness()
    return LiveHarness()


@pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__[len("check_") :])
def test_live_adapter_honours_the_workbook_contract(
    check: Callable[[Harness], None], harness: Harness
) -> None:
    check(harness)


def test_live_adapter_is_a_workbook_adapter() -> None:
    assert isinstance(XlwingsWorkbook(FakeBook()), WorkbookAdapter)


# --------------------------------------------------------------------------- reading


def test_read_values_is_one_bulk_read_anchored_at_a1() -> None:
    book = FakeBook({"Orders": [[None] * 4, [None, None, "Service", "Link"], [None, None, 1, "x"]]})
    rows = XlwingsWorkbook(book).read_values("Orders")
    assert book.log == [("read", "Orders", (3, 4))]
    assert rows[2] == [None, None, 1.0, "x"]


def test_read_values_drops_trailing_empty_rows_of_a_blank_sheet() -> None:
    assert XlwingsWorkbook(FakeBook({"Empty": []})).read_values("Empty") == []


def test_read_values_sees_writes_buffered_but_not_saved() -> None:
    adapter = XlwingsWorkbook(FakeBook({"Orders": ORDERS}))
    adapter.write_cells("Orders", {(2, 4): 1002})
    assert adapter.read_values("Orders")[1][3] == 1002


# --------------------------------------------------------------------------- writing


def test_save_writes_each_contiguous_column_run_as_one_block() -> None:
    book = FakeBook({"Orders": ORDERS})
    adapter = XlwingsWorkbook(book)
    cells: dict[tuple[int, int], Any] = {}
    for row in range(2, 502):
        cells[(row, 4)] = 1000 + row
        cells[(row, 5)] = "Pending"
        cells[(row, 9)] = None
    cells[(600, 5)] = "after a gap"
    adapter.write_cells("Orders", cells)
    adapter.save()
    assert sorted(book.writes()) == [
        ("write", "Orders", (1, 1)),
        ("write", "Orders", (500, 1)),
        ("write", "Orders", (500, 1)),
        ("write", "Orders", (500, 1)),
    ]
    assert adapter.writes == 4
    assert book.sheets["Orders"].cells[(501, 4)] == 1501.0


def test_column_runs_split_on_gaps_and_columns() -> None:
    runs = list(column_runs({(2, 1): "a", (3, 1): "b", (5, 1): "c", (2, 4): 1, (3, 4): 2}))
    assert runs == [(1, 2, ["a", "b"]), (1, 5, ["c"]), (4, 2, [1, 2])]


def test_text_goes_to_excel_with_the_apostrophe_text_marker() -> None:
    assert to_excel("=SUM(A1)") == "'=SUM(A1)"
    assert to_excel("Pending") == "'Pending"
    assert to_excel("'quoted") == "''quoted"
    assert to_excel("") is None
    assert to_excel("bell\x07") == "'bell"


def test_values_are_converted_so_excel_stores_them_exactly() -> None:
    assert to_excel(Decimal("0.27819")) == 0.27819
    assert isinstance(to_excel(Decimal("1")), float)
    assert to_excel(True) is True
    assert to_excel(dt.date(2026, 1, 2)) == dt.datetime(2026, 1, 2)
    assert to_excel(1001) == 1001


def test_formula_text_is_never_stored_as_a_formula() -> None:
    book = FakeBook({"Orders": ORDERS})
    adapter = XlwingsWorkbook(book)
    adapter.write_cells("Orders", {(2, 2): '=HYPERLINK("http://evil","x")', (3, 2): "-1+2"})
    adapter.save()
    assert book.sheets["Orders"].cells[(2, 2)] == '=HYPERLINK("http://evil","x")'
    assert book.sheets["Orders"].cells[(3, 2)] == "-1+2"


def test_replace_sheet_clears_then_writes_one_padded_block() -> None:
    book = FakeBook({"Orders": ORDERS, "Services": [["old"] * 9] * 30})
    adapter = XlwingsWorkbook(book)
    adapter.replace_sheet("Services", [["Service", "Name", "Rate"], [1, "Followers"]])
    adapter.save()
    assert [e for e in book.log if e[0] != "read"] == [
        ("clear", "Services", None),
        ("write", "Services", (2, 3)),
    ]
    assert book.sheets["Services"].cells == {
        (1, 1): "Service",
        (1, 2): "Name",
        (1, 3): "Rate",
        (2, 1): 1.0,
        (2, 2): "Followers",
    }


def test_replace_sheet_adds_a_missing_sheet_after_the_last_one() -> None:
    book = FakeBook({"Orders": ORDERS, "Settings": []})
    adapter = XlwingsWorkbook(book)
    adapter.replace_sheet("Services", [["Service"]])
    adapter.save()
    assert [s.name for s in book.sheets] == ["Orders", "Settings", "Services"]


def test_a_value_excel_cannot_hold_is_refused_before_anything_is_written() -> None:
    book = FakeBook({"Orders": ORDERS})
    adapter = XlwingsWorkbook(book)
    with pytest.raises(WorkbookError, match="finite"):
        adapter.write_cells("Orders", {(2, 5): "ok", (2, 6): float("nan")})
    with pytest.raises(TypeError):
        adapter.write_cells("Orders", {(2, 6): object()})  # type: ignore[dict-item]
    with pytest.raises(WorkbookError, match="outside"):
        adapter.write_cells("Orders", {(0, 1): "x"})
    adapter.save()
    assert book.writes() == []


def test_excel_refusing_a_write_becomes_a_workbook_error_naming_the_block() -> None:
    book = FakeBook({"Orders": ORDERS})
    book.sheets["Orders"].protected = True
    adapter = XlwingsWorkbook(book)
    adapter.write_cells("Orders", {(2, 5): "Pending"})
    with pytest.raises(WorkbookError, match=r"Orders!R2C5.*protected"):
        adapter.save()


def test_save_also_saves_a_workbook_that_lives_on_this_disk(tmp_path: Path) -> None:
    path = tmp_path / "orders.xlsx"
    path.write_bytes(b"")
    local = FakeBook({"Orders": ORDERS}, fullname=str(path))
    adapter = XlwingsWorkbook(local)
    adapter.write_cells("Orders", {(2, 5): "Pending"})
    adapter.save()
    assert local.saved == 1
    assert adapter.local_path() == path


@pytest.mark.parametrize(
    "fullname", ["Book1", "https://d.docs.live.net/abc/orders.xlsx", "/no/such/dir/orders.xlsx"]
)
def test_save_leaves_unsaved_and_cloud_workbooks_to_the_user(fullname: str) -> None:
    book = FakeBook({"Orders": ORDERS}, fullname=fullname)
    adapter = XlwingsWorkbook(book)
    adapter.write_cells("Orders", {(2, 5): "Pending"})
    adapter.save()
    assert book.saved == 0
    assert adapter.local_path() is None


def test_progress_shows_in_the_status_bar_and_gives_it_back() -> None:
    app = FakeApp()
    adapter = XlwingsWorkbook(FakeBook({"Orders": ORDERS}, app=app))
    adapter.progress("place", 1, 3)
    assert app.status_bar == "smmsheet: place 1/3"
    adapter.progress("place", 3, 3)
    assert app.status_bar is False


def test_a_host_without_a_status_bar_is_no_problem() -> None:
    class NoStatusBar:
        @property
        def status_bar(self) -> Any:
            raise NotImplementedError("App.status_bar is not supported on this engine")

        @status_bar.setter
        def status_bar(self, value: Any) -> None:
            raise NotImplementedError("App.status_bar is not supported on this engine")

    book = FakeBook({"Orders": ORDERS})
    book.app = NoStatusBar()  # type: ignore[assignment]
    adapter = XlwingsWorkbook(book)
    adapter.progress("status", 1, 2)
    adapter.close()


# --------------------------------------------------------------------------- xlwings remote


@remote_xlwings
def test_remote_engine_emits_one_set_values_action_per_block_with_text_marked() -> None:
    if not remote_engine_available():
        pytest.skip("set XLWINGS_LICENSE_KEY=noncommercial to run xlwings' remote engine")
    harness = RemoteHarness()
    adapter = harness.open({"Orders": ORDERS})
    assert isinstance(adapter, XlwingsWorkbook)
    rows = adapter.read_values("Orders")
    assert rows[2][3] == 1001
    adapter.write_cells(
        "Orders",
        {(2, 4): 1002, (3, 4): 1003, (2, 5): '=HYPERLINK("http://evil","x")', (3, 5): None},
    )
    adapter.replace_sheet("Services", [["Service", "Name"], [20, "=evil()"]])
    adapter.save()
    actions = adapter.book.impl.json()["actions"]
    assert [a["func"] for a in actions] == [
        "setValues",
        "setValues",
        "addSheet",
        "sheetClearContents",
        "setValues",
    ]
    orders_ids, orders_status, _, _, services = actions
    assert orders_ids["values"] == [[1002], [1003]]
    assert (orders_ids["start_row"], orders_ids["start_column"]) == (1, 3)
    assert (orders_ids["row_count"], orders_ids["column_count"]) == (2, 1)
    assert orders_status["values"] == [['\'=HYPERLINK("http://evil","x")'], [""]]
    assert services["values"] == [["'Service", "'Name"], [20, "'=evil()"]]
    assert services["sheet_position"] == 1
    again = harness.reopen(adapter).read_values("Services")
    assert again[1] == [20, "=evil()"]


# --------------------------------------------------------------------------- before sending


def test_pre_send_check_refuses_what_excel_would_refuse_to_write() -> None:
    book = FakeBook({"Orders": ORDERS})
    sheet = book.sheets["Orders"]
    sheet.add_array_formula(2, 6, 3, 6, "A2:A3*2")
    adapter = XlwingsWorkbook(book)
    with pytest.raises(WorkbookError, match=r"Orders!F3 is part of an array formula"):
        adapter.check_writable("Orders", [(3, 4), (3, 6), (4, 6)])
    adapter.write_cells("Orders", {(3, 6): 1})
    with pytest.raises(WorkbookError, match="R3C6.*part of an array"):
        adapter.save()  # what the check spares the run: Excel's refusal after buying


def test_pre_send_check_refuses_cells_hidden_under_merged_cells() -> None:
    # Order ID merged over rows 2 and 3: row 3's order id would go where no one sees it.
    book = FakeBook({"Orders": ORDERS})
    sheet = book.sheets["Orders"]
    sheet.merge(2, 6, 3, 6)
    sheet.merge(5, 1, 5, 7)  # a title row no write reaches: no matter
    adapter = XlwingsWorkbook(book)
    adapter.check_writable("Orders", [(2, 6), (2, 7), (4, 6)])  # the first cell shows
    with pytest.raises(WorkbookError, match=r"Orders!F3 is hidden under the merged cells F2:F3"):
        adapter.check_writable("Orders", [(2, 6), (3, 6), (4, 6)])


def test_pre_send_check_refuses_locked_cells_of_a_protected_sheet_only() -> None:
    book = FakeBook({"Orders": ORDERS})
    sheet = book.sheets["Orders"]
    sheet.protected = True
    sheet.unlocked = {(r, c) for r in range(2, 4) for c in range(4, 6)}
    adapter = XlwingsWorkbook(book)
    adapter.check_writable("Orders", [(2, 4), (3, 4), (2, 5), (3, 5)])
    with pytest.raises(WorkbookError, match=r"'Orders' is protected and its cells F2:F3"):
        adapter.check_writable("Orders", [(2, 5), (2, 6), (3, 6)])
    adapter.write_cells("Orders", {(2, 4): 1001, (3, 5): "Completed"})
    adapter.save()
    assert sheet.cells[(2, 4)] == 1001.0


def test_the_marker_is_a_hidden_book_level_name() -> None:
    book = FakeBook({"Orders": ORDERS})
    adapter = XlwingsWorkbook(book)
    adapter.write_marker('smmsheet-journal v1 "a" run b')
    assert list(book.names) == []
    adapter.save()
    [name] = list(book.names)
    assert (name.name, name.refers_to) == (
        "_smmsheet_journal",
        '="smmsheet-journal v1 ""a"" run b"',
    )
    assert name.api.Visible is False
    assert XlwingsWorkbook(book).read_marker() == 'smmsheet-journal v1 "a" run b'
