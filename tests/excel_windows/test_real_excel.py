"""The add-in in real Excel: install, the order template, every ribbon button, 500 formulas.

Run on Windows with Excel: ``pytest -m excel tests/excel_windows -p no:cacheprovider``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import Dialogs, run_ribbon, wait_for

pytestmark = pytest.mark.excel

ROWS = 3


@pytest.fixture(scope="module")
def orders(app: Any, addin: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A copy of the order template with three rows, open in Excel."""
    from smmsheet.templates import build_orders_template

    path = build_orders_template(tmp_path_factory.mktemp("orders") / "orders.xlsx")
    book = app.books.open(str(path))
    sheet = book.sheets["Orders"]
    sheet.range("A2").value = [
        [1, "https://instagram.com/excel.test", 1000],
        [3, "https://instagram.com/p/excel1", 1000],
        [3, "https://instagram.com/p/excel2", 2000],
    ]
    book.save()
    book.activate()
    return book


def column(book: Any, title: str, rows: int = ROWS) -> list[Any]:
    sheet = book.sheets["Orders"]
    header = sheet.range("A1").expand("right").value
    col = header.index(title) + 1
    return sheet.range((2, col), (rows + 1, col)).options(ndim=1).value


def test_the_addin_shows_its_formulas_in_excel(orders: Any, app: Any) -> None:
    assert "smmsheet.xlam" in [b.name for b in app.books]
    cell = orders.sheets["Settings"].range("E1")
    cell.formula = "=SMM_COST(1,1000)"
    app.calculate()
    assert cell.value == pytest.approx(0.9)
    cell.clear_contents()


def test_place_orders_places_each_row_once(orders: Any, sim: Any, app: Any) -> None:
    dialogs = Dialogs("yes")
    dialogs.start()
    try:
        sim.reset_counts()
        run_ribbon(app, "PlaceOrders")
    finally:
        dialogs.stop()
    assert sim.counts["add"] == ROWS
    assert all(column(orders, "Order ID"))
    assert any(text.startswith("Place 3 orders") for text in dialogs.seen), dialogs.seen
    assert app.api.StatusBar is False or app.api.StatusBar.startswith("smmsheet: place")


@pytest.mark.parametrize(
    "callback", ["RefreshStatus", "CreateRefills", "RefillStatus", "CancelOrders", "ShowBalance"]
)
def test_each_ribbon_button_runs_without_an_error_dialog(
    orders: Any, sim: Any, app: Any, callback: str
) -> None:
    dialogs = Dialogs("no")  # Cancel asks first: "no" keeps the orders
    dialogs.start()
    try:
        run_ribbon(app, callback)
    finally:
        dialogs.stop()
    assert not [t for t in dialogs.seen if t.startswith("smmsheet:")], dialogs.seen


def test_load_services_writes_the_services_sheet(orders: Any, app: Any) -> None:
    run_ribbon(app, "LoadServices")
    names = [s.name for s in orders.sheets]
    assert "Services" in names


def test_500_formulas_cost_at_most_10_status_requests(
    orders: Any, sim: Any, app: Any, tmp_path: Path
) -> None:
    sheet = orders.sheets["Orders"]
    header = sheet.range("A1").expand("right").value
    id_col = header.index("Order ID") + 1
    more = [[1, f"https://instagram.com/p/bulk{n}", 100] for n in range(500 - ROWS)]
    sheet.range((ROWS + 2, 1)).value = more
    dialogs = Dialogs("yes")
    dialogs.start()
    try:
        run_ribbon(app, "PlaceOrders")  # 497 more: the ribbon puts them in the index
    finally:
        dialogs.stop()
    formulas = orders.sheets.add("Formulas")
    letter = sheet.range((1, id_col)).get_address(False, False).rstrip("1")
    sim.reset_counts()
    formulas.range("A1:A500").formula = f"=SMM_STATUS(Orders!{letter}2)"  # filled down
    app.calculate()

    def settled() -> bool:
        values = formulas.range("A1:A500").value
        return all(isinstance(v, str) and not v.startswith("#N/A") for v in values)

    wait_for(settled, "500 SMM_STATUS cells")
    values = formulas.range("A1:A500").value
    assert not [v for v in values if v.startswith("#")], values[:5]
    assert sim.counts["status"] <= 10, sim.counts
    sim.reset_counts()
    formulas.range("B1:B500").formula = "=A1"  # an edit elsewhere: no request
    app.calculate()
    assert sim.counts["status"] == 0


def test_self_test_button_passes(app: Any, orders: Any) -> None:
    before = len(app.books)
    run_ribbon(app, "SelfTest")
    assert len(app.books) == before + 1
    report = app.books[-1]
    rows = report.sheets[0].range("A1").expand().value
    assert rows[-1][:2] == ["All steps", "PASS"], rows
