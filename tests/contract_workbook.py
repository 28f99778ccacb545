"""The contract every WorkbookAdapter passes, whatever it writes to (a file, live Excel).

One suite, many backends, as xlwings runs ``tests/test_engines`` against every engine. A
backend plugs in through a :class:`Harness`: ``open`` builds a workbook holding the given
sheets and returns an adapter on it; ``reopen`` returns a fresh adapter that sees what a
later run would see (the file on disk, the cells in Excel). Each ``check_*`` function takes
a harness and asserts one behaviour; ``CONTRACT`` lists them all for parametrisation::

    @pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__)
    def test_contract(check, harness):
        check(harness)
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import pytest

from smmsheet.errors import WorkbookError
from smmsheet.workbook.base import CellValue, NewColumn, WorkbookAdapter, cell_value_problem

from .fake_excel import FakeBook, Formula, excel_entry

Sheets = dict[str, list[list[CellValue]]]

ORDERS: list[list[CellValue]] = [
    ["Service", "Link", "Quantity", "Order ID", "Status"],
    [1, "https://instagram.com/a", 100, None, None],
    [3, "https://instagram.com/b", 250, 1001, "Pending"],
]

#: Text Excel would turn into a formula, a number, a boolean or a date if written naively.
TRICKY_TEXT = [
    '=HYPERLINK("http://evil","x")',
    "+1",
    "-x",
    "@SUM(A1)",
    "'quoted",
    "00123",
    "TRUE",
    "2024-01-02",
    "1e5",
]


class Harness(Protocol):
    """How the contract reaches one adapter implementation."""

    def open(self, sheets: Sheets) -> WorkbookAdapter:
        """A workbook holding ``sheets`` (values from A1; None leaves a cell empty)."""
        ...

    def reopen(self, book: WorkbookAdapter) -> WorkbookAdapter:
        """What a later run sees after ``book.save()``."""
        ...


# --------------------------------------------------------------------------- harnesses


class XlsxHarness:
    """The headless adapter over an .xlsx made with openpyxl in a temporary folder."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "book.xlsx"

    def open(self, sheets: Sheets) -> WorkbookAdapter:
        from openpyxl import Workbook

        from smmsheet.workbook.xlsx import XlsxWorkbook

        workbook = Workbook()
        first = True
        for name, rows in sheets.items():
            if first:
                sheet = workbook.active
                assert sheet is not None
                sheet.title = name
                first = False
            else:
                sheet = workbook.create_sheet(name)
            for r, row in enumerate(rows, start=1):
                for c, value in enumerate(row, start=1):
                    if value is not None:
                        sheet.cell(row=r, column=c, value=value)
        workbook.save(self.path)
        return XlsxWorkbook(self.path)

    def open_with_array_formula(
        self, sheets: Sheets, sheet: str, block: tuple[int, int, int, int]
    ) -> WorkbookAdapter:
        """``open``, with a legacy array formula over ``block`` (top, left, bottom, right)."""
        from openpyxl import load_workbook
        from openpyxl.worksheet.formula import ArrayFormula

        from smmsheet.workbook.base import column_letters
        from smmsheet.workbook.xlsx import XlsxWorkbook

        self.open(sheets)
        top, left, bottom, right = block
        ref = f"{column_letters(left)}{top}:{column_letters(right)}{bottom}"
        workbook = load_workbook(self.path)
        workbook[sheet].cell(row=top, column=left).value = ArrayFormula(ref, "=1+1")
        workbook.save(self.path)
        return XlsxWorkbook(self.path)

    def open_with_hidden_rows(self, sheets: Sheets, sheet: str, rows: set[int]) -> WorkbookAdapter:
        """``open``, with ``rows`` of ``sheet`` hidden (Format > Hide, as a filter hides them)."""
        from openpyxl import load_workbook

        from smmsheet.workbook.xlsx import XlsxWorkbook

        self.open(sheets)
        workbook = load_workbook(self.path)
        for row in rows:
            workbook[sheet].row_dimensions[row].hidden = True
        workbook.save(self.path)
        return XlsxWorkbook(self.path)

    def reopen(self, book: WorkbookAdapter) -> WorkbookAdapter:
        from smmsheet.workbook.xlsx import XlsxWorkbook

        return XlsxWorkbook(self.path)


class LiveHarness:
    """The live adapter over the in-memory fake of Excel's object model."""

    def __init__(self, fullname: str = "Book1") -> None:
        self.fullname = fullname
        self.book: FakeBook | None = None

    def open(self, sheets: Sheets) -> WorkbookAdapter:
        from smmsheet.workbook.live import XlwingsWorkbook

        self.book = FakeBook(
            {k: [list(r) for r in v] for k, v in sheets.items()}, fullname=self.fullname
        )
        return XlwingsWorkbook(self.book)

    def open_with_array_formula(
        self, sheets: Sheets, sheet: str, block: tuple[int, int, int, int]
    ) -> WorkbookAdapter:
        """``open``, with a legacy array formula over ``block`` (top, left, bottom, right)."""
        book = self.open(sheets)
        assert self.book is not None
        self.book.sheets[sheet].add_array_formula(*block, "1+1")
        return book

    def open_with_hidden_rows(self, sheets: Sheets, sheet: str, rows: set[int]) -> WorkbookAdapter:
        """``open``, with ``rows`` of ``sheet`` hidden."""
        book = self.open(sheets)
        assert self.book is not None
        self.book.sheets[sheet].hidden.update(rows)
        return book

    def reopen(self, book: WorkbookAdapter) -> WorkbookAdapter:
        from smmsheet.workbook.live import XlwingsWorkbook

        assert self.book is not None
        return XlwingsWorkbook(self.book)


class RemoteHarness:
    """The live adapter over xlwings' own remote engine (xlwings Server / Office.js).

    ``open`` builds the JSON payload an xlwings Server client sends; the adapter runs
    through real xlwings Range code, which queues actions. ``reopen`` plays those actions
    the way Excel would (``excel_entry``) and builds the next request's payload from the
    result, so the contract checks what reaches Excel, not just what was queued.
    """

    def __init__(self) -> None:
        self.payload: dict[str, Any] = {}
        self.actions: list[dict[str, Any]] = []

    def open(self, sheets: Sheets) -> WorkbookAdapter:
        import xlwings as xw

        self.payload = {
            "client": "Office.js",
            "version": xw.__version__,
            "book": {"name": "orders.xlsx", "active_sheet_index": 0, "selection": "A1"},
            "names": [],
            "sheets": [
                {"name": name, "values": _payload_values(rows), "pictures": [], "tables": []}
                for name, rows in sheets.items()
            ],
        }
        return self._adapter()

    def _adapter(self) -> WorkbookAdapter:
        import copy

        import xlwings as xw

        from smmsheet.workbook.live import XlwingsWorkbook

        return XlwingsWorkbook(xw.Book(json=copy.deepcopy(self.payload)))

    def _set_name(self, name: str, refers_to: str) -> None:
        """A book-level name as the next request's payload carries it."""
        names = [n for n in self.payload["names"] if n["name"].casefold() != name.casefold()]
        names.append(
            {
                "name": name,
                "refers_to": refers_to,
                "sheet_index": None,
                "address": None,
                "book_scope": True,
                "scope_sheet_name": None,
                "scope_sheet_index": None,
            }
        )
        self.payload["names"] = names

    def reopen(self, book: WorkbookAdapter) -> WorkbookAdapter:
        actions = book.book.impl.json()["actions"]  # type: ignore[attr-defined]
        self.actions.extend(actions)
        grids = {s["name"]: _grid_from_payload(s["values"]) for s in self.payload["sheets"]}
        order = [s["name"] for s in self.payload["sheets"]]
        for action in actions:
            func = action["func"]
            if func == "addSheet":
                index, name = action["args"]
                order.insert(index, name)
                grids[name] = {}
                continue
            if func in ("namesAdd", "setNameRefersTo"):
                self._set_name(action["args"][0], action["args"][-1])
                continue
            name = order[action["sheet_position"]]
            if func == "sheetClearContents":
                grids[name] = {}
            elif func == "setValues":
                top, left = action["start_row"] + 1, action["start_column"] + 1
                for dr, row in enumerate(action["values"]):
                    for dc, item in enumerate(row):
                        stored = excel_entry(item)
                        if stored is None:
                            grids[name].pop((top + dr, left + dc), None)
                        else:
                            grids[name][(top + dr, left + dc)] = stored
            elif func in ("setNumberFormat", "setColumnWidth", "save", "alert"):
                pass
            else:
                raise AssertionError(f"unexpected action {func}")
        self.payload["sheets"] = [
            {"name": n, "values": _payload_from_grid(grids[n]), "pictures": [], "tables": []}
            for n in order
        ]
        return self._adapter()


def _payload_cell(value: Any) -> Any:
    """A cell as an xlwings Server client sends it: "" empty, ISO text for dates."""
    if value is None:
        return ""
    if isinstance(value, Formula):
        return "#NAME?"
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="milliseconds") + "Z"
    return value


def _payload_values(rows: list[list[CellValue]]) -> list[list[Any]]:
    grid = {
        (r, c): excel_entry(v)
        for r, row in enumerate(rows, start=1)
        for c, v in enumerate(row, start=1)
        if v is not None
    }
    return _payload_from_grid(grid)


def _payload_from_grid(grid: dict[tuple[int, int], Any]) -> list[list[Any]]:
    if not grid:
        return [[]]
    bottom = max(r for r, _ in grid)
    right = max(c for _, c in grid)
    return [
        [_payload_cell(grid.get((r, c))) for c in range(1, right + 1)] for r in range(1, bottom + 1)
    ]


def _grid_from_payload(values: list[list[Any]]) -> dict[tuple[int, int], Any]:
    out: dict[tuple[int, int], Any] = {}
    for r, row in enumerate(values, start=1):
        for c, item in enumerate(row, start=1):
            if item == "" or item is None:
                continue
            if isinstance(item, str) and item.endswith("Z") and "T" in item:
                out[(r, c)] = dt.datetime.fromisoformat(item[:-1])
            elif item == "#NAME?":
                out[(r, c)] = Formula("?")
            else:
                out[(r, c)] = item
    return out


# --------------------------------------------------------------------------- helpers


def trim(rows: list[list[CellValue]]) -> list[list[CellValue]]:
    """Rows without trailing empty cells and trailing empty rows (adapters may pad)."""
    out = [list(row) for row in rows]
    for row in out:
        while row and row[-1] is None:
            row.pop()
    while out and not out[-1]:
        out.pop()
    return out


def cell(rows: list[list[CellValue]], row: int, col: int) -> CellValue:
    """The value at 1-based (row, col), None when outside what was read."""
    if row > len(rows) or col > len(rows[row - 1]):
        return None
    return rows[row - 1][col - 1]


def saved(harness: Harness, book: WorkbookAdapter) -> WorkbookAdapter:
    """Save ``book`` and return what a later run sees."""
    book.save()
    book.close()
    return harness.reopen(book)


def same_number(value: CellValue, expected: float) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isclose(float(value), expected, rel_tol=0, abs_tol=1e-12)
    )


# --------------------------------------------------------------------------- the contract


def check_sheet_names_in_workbook_order(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS, "Settings": [["Profile", "main"]], "Help": [["hi"]]})
    assert book.sheet_names() == ["Orders", "Settings", "Help"]


def check_read_values_starts_at_a1_with_padding(harness: Harness) -> None:
    book = harness.open({"Orders": [[None, None, None], [None, None, None], [None, None, "x"]]})
    rows = book.read_values("Orders")
    assert trim(rows) == [[], [], [None, None, "x"]]


def check_read_values_of_an_empty_sheet_is_empty(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS, "Empty": []})
    assert trim(book.read_values("Empty")) == []


def check_read_values_returns_text_numbers_and_empty_cells(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS})
    rows = book.read_values("Orders")
    assert trim(rows)[0] == ["Service", "Link", "Quantity", "Order ID", "Status"]
    assert same_number(cell(rows, 3, 4), 1001)
    assert cell(rows, 2, 4) is None
    assert cell(rows, 3, 5) == "Pending"


def check_a_read_shows_each_row_to_its_watch_as_it_returns_it(harness: Harness) -> None:
    """A refresh asks the panel about the first rows while the others are still read."""
    book = harness.open({"Orders": ORDERS})
    seen: list[list[CellValue]] = []
    rows = book.read_values("Orders", watch=lambda row: seen.append(list(row)))
    assert trim(seen) == trim(rows) and len(trim(rows)) == 3
    book.write_cells("Orders", {(4, 1): 7})  # a buffered write: the rows as read with it
    seen.clear()
    rows = book.read_values("Orders", watch=lambda row: seen.append(list(row)))
    assert trim(seen) == trim(rows) and cell(seen, 4, 1) == 7


def check_written_cells_read_back_after_save(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS})
    book.write_cells("Orders", {(2, 4): 1002, (2, 5): "In progress", (3, 5): "Completed"})
    rows = saved(harness, book).read_values("Orders")
    assert same_number(cell(rows, 2, 4), 1002)
    assert cell(rows, 2, 5) == "In progress"
    assert cell(rows, 3, 5) == "Completed"
    assert cell(rows, 3, 2) == "https://instagram.com/b", "untouched cells stay"


def check_cells_beyond_the_used_range_extend_it(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS})
    book.write_cells("Orders", {(10, 12): "far away"})
    rows = saved(harness, book).read_values("Orders")
    assert cell(rows, 10, 12) == "far away"


def check_none_clears_a_cell(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS})
    book.write_cells("Orders", {(3, 4): None, (3, 5): None})
    rows = saved(harness, book).read_values("Orders")
    assert cell(rows, 3, 4) is None
    assert cell(rows, 3, 5) is None
    assert cell(rows, 3, 3) is not None


def check_formula_looking_text_is_written_as_text(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS})
    book.write_cells("Orders", {(4 + i, 2): text for i, text in enumerate(TRICKY_TEXT)})
    rows = saved(harness, book).read_values("Orders")
    assert [cell(rows, 4 + i, 2) for i in range(len(TRICKY_TEXT))] == TRICKY_TEXT


def check_numbers_decimals_bools_and_dates_round_trip_as_values(harness: Harness) -> None:
    when = dt.datetime(2026, 11, 24, 20, 19, 45)
    book = harness.open({"Orders": ORDERS})
    book.write_cells(
        "Orders",
        {
            (5, 1): 7,
            (5, 2): 0.1,
            (5, 3): Decimal("0.27819"),
            (5, 4): True,
            (5, 5): False,
            (5, 6): dt.date(2026, 11, 24),
            (5, 7): when,
            (5, 8): 123456789012,
        },
    )
    rows = saved(harness, book).read_values("Orders")
    assert same_number(cell(rows, 5, 1), 7)
    assert same_number(cell(rows, 5, 2), 0.1)
    assert same_number(cell(rows, 5, 3), 0.27819), "Decimal must not lose digits"
    assert cell(rows, 5, 4) is True
    assert cell(rows, 5, 5) is False
    day = cell(rows, 5, 6)
    assert isinstance(day, dt.date) and (day.year, day.month, day.day) == (2026, 11, 24)
    moment = cell(rows, 5, 7)
    assert isinstance(moment, dt.datetime) and moment.replace(microsecond=0) == when
    assert same_number(cell(rows, 5, 8), 123456789012)


def check_replace_sheet_creates_a_missing_sheet_at_the_end(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS, "Settings": [["Profile", None]]})
    table: list[list[CellValue]] = [
        ["Service", "Name", "Rate per 1000"],
        [1, "Instagram Followers", 0.9],
        [20, '=HYPERLINK("http://evil","x")', 1.0],
    ]
    book.replace_sheet("Services", table)
    assert "Services" in book.sheet_names()
    again = saved(harness, book)
    assert again.sheet_names() == ["Orders", "Settings", "Services"]
    rows = trim(again.read_values("Services"))
    assert rows[0] == ["Service", "Name", "Rate per 1000"]
    assert cell(rows, 3, 2) == '=HYPERLINK("http://evil","x")'
    assert same_number(cell(rows, 2, 3), 0.9)


def check_replace_sheet_replaces_every_old_value(harness: Harness) -> None:
    old: list[list[CellValue]] = [["old"] * 6 for _ in range(8)]
    book = harness.open({"Orders": ORDERS, "Services": old})
    book.replace_sheet("Services", [["Service", "Name"], [1, "new"]])
    rows = trim(saved(harness, book).read_values("Services"))
    assert rows == [["Service", "Name"], [rows[1][0], "new"]]
    assert same_number(rows[1][0], 1)


def check_sheet_names_are_case_insensitive(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS})
    book.write_cells("orders", {(2, 5): "Pending"})
    assert cell(saved(harness, book).read_values("ORDERS"), 2, 5) == "Pending"


def check_writing_to_a_missing_sheet_is_refused(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS})
    with pytest.raises(WorkbookError):
        book.write_cells("Nope", {(1, 1): "x"})


def check_close_drops_unsaved_writes(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS})
    book.write_cells("Orders", {(2, 5): "Pending"})
    book.close()
    assert cell(harness.reopen(book).read_values("Orders"), 2, 5) is None


def check_save_without_changes_changes_nothing(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS})
    before = book.read_values("Orders")
    assert trim(saved(harness, book).read_values("Orders")) == trim(before)


#: Panel values no cell can hold: each adapter refuses them with a WorkbookError when
#: they are buffered (never OverflowError or ValueError halfway through a save).
ABSURD_VALUES: list[CellValue] = [
    10**5000,  # a 5,000-digit start count
    10**400,
    Decimal("1E+400"),  # a charge of 1 followed by 400 zeros
    Decimal("NaN"),
    float("inf"),
    2**53 + 1,
]


def check_values_no_cell_can_hold_are_refused_with_a_workbook_error(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS})
    for value in ABSURD_VALUES:
        assert cell_value_problem(value) is not None
        with pytest.raises(WorkbookError, match="cannot write to a cell"):
            book.write_cells("Orders", {(2, 5): "not buffered", (2, 4): value})
        with pytest.raises(WorkbookError, match="cannot write to a cell"):
            book.replace_sheet("Services", [["Service", "Rate"], [1, value]])
    assert book.sheet_names() == ["Orders"]
    book.write_cells("Orders", {(3, 5): "Completed"})
    rows = saved(harness, book).read_values("Orders")
    assert cell(rows, 2, 5) is None and cell(rows, 2, 4) is None
    assert cell(rows, 3, 5) == "Completed"


def check_a_writable_book_passes_the_pre_send_check(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS})
    book.check_writable()  # raises WorkbookError when save() could not write


#: Cells a run plans to write: results of both rows and a new output column's header.
PLANNED = [(2, 4), (2, 5), (3, 5), (1, 6), (2, 6), (3, 6), (40, 6)]


def check_the_pre_send_check_proves_planned_cells_can_be_saved(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS, "Settings": [["Profile", "main"]]})
    book.write_cells("Orders", {(3, 5): "Completed"})
    book.check_writable("orders", PLANNED)
    book.check_writable("Settings", [])
    book.check_writable(sheet="Orders", cells=set(PLANNED))
    rows = book.read_values("Orders")
    assert cell(rows, 3, 5) == "Completed", "what was buffered stays buffered"
    assert cell(rows, 2, 6) is None and cell(rows, 40, 6) is None, "nothing was written"
    rows = saved(harness, book).read_values("Orders")
    assert cell(rows, 3, 5) == "Completed"
    assert all(cell(rows, r, c) is None for r, c in PLANNED if (r, c) != (3, 5))


def check_the_pre_send_check_refuses_a_column_beyond_xfd(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS})
    with pytest.raises(WorkbookError, match="column 16385 is beyond column XFD"):
        book.check_writable("Orders", [(2, 4), (1, 16_385)])


def check_the_pre_send_check_refuses_a_missing_sheet(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS})
    with pytest.raises(WorkbookError, match="Nope"):
        book.check_writable("Nope", [(2, 4)])


def check_the_pre_send_check_refuses_a_cell_of_an_array_formula(harness: Harness) -> None:
    make = getattr(harness, "open_with_array_formula", None)
    if make is None:
        pytest.skip("this backend cannot hold an array formula")
    book = make({"Orders": ORDERS}, "Orders", (2, 6, 3, 6))  # F2:F3
    book.check_writable("Orders", [(2, 4), (2, 5), (4, 6)])
    with pytest.raises(WorkbookError, match="F2 is part of (an|the) array formula"):
        book.check_writable("Orders", [(2, 4), (3, 5), (2, 6), (3, 6)])
    book.write_cells("Orders", {(3, 6): "buffered"})
    with pytest.raises(WorkbookError, match="F3 is part of (an|the) array formula"):
        book.check_writable("Orders", [(2, 4)])


def check_hidden_rows_are_told_among_the_rows_asked(harness: Harness) -> None:
    make = getattr(harness, "open_with_hidden_rows", None)
    if make is None:
        pytest.skip("this backend cannot hide a row")
    rows = [*ORDERS, *([5, f"https://instagram.com/{n}", 100, None, None] for n in range(9))]
    book = make({"Orders": rows, "Other": ORDERS}, "Orders", {2, 5, 6, 7, 11})
    assert book.hidden_rows("Orders", range(2, 13)) == {2, 5, 6, 7, 11}
    assert book.hidden_rows("orders", [3, 4, 7, 12]) == {7}  # only those asked, any case
    assert book.hidden_rows("Orders", []) == set()
    assert book.hidden_rows("Other", range(1, 4)) == set()
    book.write_cells("Orders", {(7, 4): 1001})  # writing does not show a row
    assert book.hidden_rows("Orders", [7]) == {7}


def check_a_sheet_without_a_tables_totals_row_tells_none(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS})
    assert book.totals_rows("Orders") == {}  # before a read
    assert book.read_values("Orders") == [list(r) for r in ORDERS]
    assert book.totals_rows("orders") == {}  # a sheet without a Table's totals: none


#: A journal marker as the engine writes it; quotes must survive the text constant.
MARKER = 'smmsheet-journal v1 9f1c2e4a-"quoted" run 5d0b7a31'


def check_the_journal_marker_is_buffered_like_a_cell_and_kept_by_save(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS})
    assert book.read_marker() is None
    book.write_marker("dropped by close")
    assert book.read_marker() == "dropped by close"
    book.close()
    assert book.read_marker() is None
    book.write_marker(MARKER)
    book.write_cells("Orders", {(2, 5): "Pending"})
    again = saved(harness, book)
    assert again.read_marker() == MARKER
    assert again.sheet_names() == ["Orders"], "the marker needs no sheet"
    assert cell(again.read_values("Orders"), 2, 5) == "Pending"
    again.write_marker("smmsheet-journal v1 next")
    assert saved(harness, again).read_marker() == "smmsheet-journal v1 next"


def check_a_marker_a_workbook_cannot_hold_is_refused(harness: Harness) -> None:
    book = harness.open({"Orders": ORDERS})
    for bad in ["", "x" * 256, "two\nlines"]:
        with pytest.raises(WorkbookError, match="marker"):
            book.write_marker(bad)
    book.write_marker("x" * 255)
    assert saved(harness, book).read_marker() == "x" * 255


def check_added_columns_have_their_headers_and_take_values(harness: Harness) -> None:
    """New output columns: headers written as text, values below them read back as written
    (an Updated date-time stays a date-time, a Charge a number)."""
    book = harness.open({"Orders": ORDERS})
    when = dt.datetime(2026, 11, 25, 20, 30, 5)
    columns = {
        6: NewColumn("Charge", 12, '#,##0.00### "USD"'),
        7: NewColumn("Updated", 17, "yyyy-mm-dd hh:mm"),
        8: NewColumn("=Error", None, None),
    }
    book.add_columns("Orders", 1, columns)
    book.write_cells("Orders", {(2, 6): Decimal("0.0125"), (2, 7): when, (3, 8): "x"})
    rows = saved(harness, book).read_values("Orders")
    assert rows[0][:8] == [
        "Service",
        "Link",
        "Quantity",
        "Order ID",
        "Status",
        "Charge",
        "Updated",
        "=Error",
    ]
    assert same_number(cell(rows, 2, 6), 0.0125)
    moment = cell(rows, 2, 7)
    assert isinstance(moment, dt.datetime) and moment.replace(microsecond=0) == when
    assert cell(rows, 3, 8) == "x"


def check_prepare_is_a_head_start_that_never_changes_what_is_saved(harness: Harness) -> None:
    """``prepare`` may start the save early; rows written again afterwards, above or
    below the row it was given, and rows written later still, are saved as last written."""
    rows: list[list[CellValue]] = [ORDERS[0]] + [[1, f"https://x.com/{n}", 100] for n in range(30)]
    book = harness.open({"Orders": rows})
    book.write_cells("Orders", {(r, 5): f"first {r}" for r in range(2, 12)})
    book.prepare("Orders", 8)
    book.write_cells("Orders", {(3, 5): "again", (9, 5): "again", (20, 6): 7})
    book.prepare("Orders", 25)
    book.write_cells("Orders", {(30, 5): "late"})
    after = saved(harness, book).read_values("Orders")
    assert [cell(after, r, 5) for r in (2, 3, 4, 9, 11, 30)] == [
        "first 2",
        "again",
        "first 4",
        "again",
        "first 11",
        "late",
    ]
    assert same_number(cell(after, 20, 6), 7)
    assert cell(after, 25, 2) == "https://x.com/23", "untouched cells stay"


CONTRACT: list[Callable[[Harness], None]] = [
    check_hidden_rows_are_told_among_the_rows_asked,
    check_a_sheet_without_a_tables_totals_row_tells_none,
    check_sheet_names_in_workbook_order,
    check_read_values_starts_at_a1_with_padding,
    check_read_values_of_an_empty_sheet_is_empty,
    check_read_values_returns_text_numbers_and_empty_cells,
    check_a_read_shows_each_row_to_its_watch_as_it_returns_it,
    check_written_cells_read_back_after_save,
    check_cells_beyond_the_used_range_extend_it,
    check_none_clears_a_cell,
    check_formula_looking_text_is_written_as_text,
    check_numbers_decimals_bools_and_dates_round_trip_as_values,
    check_replace_sheet_creates_a_missing_sheet_at_the_end,
    check_replace_sheet_replaces_every_old_value,
    check_sheet_names_are_case_insensitive,
    check_writing_to_a_missing_sheet_is_refused,
    check_close_drops_unsaved_writes,
    check_save_without_changes_changes_nothing,
    check_a_writable_book_passes_the_pre_send_check,
    check_the_pre_send_check_proves_planned_cells_can_be_saved,
    check_the_pre_send_check_refuses_a_column_beyond_xfd,
    check_the_pre_send_check_refuses_a_missing_sheet,
    check_the_pre_send_check_refuses_a_cell_of_an_array_formula,
    check_the_journal_marker_is_buffered_like_a_cell_and_kept_by_save,
    check_a_marker_a_workbook_cannot_hold_is_refused,
    check_values_no_cell_can_hold_are_refused_with_a_workbook_error,
    check_added_columns_have_their_headers_and_take_values,
    check_prepare_is_a_head_start_that_never_changes_what_is_saved,
]

#: Run only when XLWINGS_LICENSE_KEY is set: xlwings' remote engine is license-gated.
remote_xlwings = pytest.mark.remote_xlwings


def remote_engine_available() -> bool:
    """True when xlwings registered its remote engine (needs XLWINGS_LICENSE_KEY at import)."""
    import os

    if not os.environ.get("XLWINGS_LICENSE_KEY"):
        return False
    import xlwings as xw

    return "remote" in [engine.name for engine in xw.engines]
