"""Cell formulas' bodies: read-only, coalesced into shared requests, cached, errors as short text.

Every test talks to the real simulator over loopback; nothing about the panel is mocked.
"""

from __future__ import annotations

import ast
import threading
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from smmsheet import formulas, udf
from smmsheet.formulas import Coalescer, UdfPanel, smm_status
from smmsheet.panel import PanelClient
from smmsheet.simulator import DEFAULT_API_KEY, PanelSimulator

from .conftest import point_cli_at
from .fake_excel import ExcelCalculation

PAID = {"add", "refill", "refill_many", "cancel"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sim() -> Iterator[PanelSimulator]:
    with PanelSimulator(balance="10000") as simulator:
        yield simulator


@pytest.fixture
def client(sim: PanelSimulator) -> Iterator[PanelClient]:
    with PanelClient(sim.url, DEFAULT_API_KEY, max_workers=8) as c:
        yield c


@pytest.fixture
def panel(client: PanelClient) -> UdfPanel:
    return UdfPanel(client)


def place(client: PanelClient, count: int, service: int = 3) -> list[str]:
    """Orders placed through the API (test setup; formulas never place)."""

    def one(n: int) -> str:
        return client.add(service, link=f"https://instagram.com/p/udf{n}", quantity=100)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(count)))


# --------------------------------------------------------------------------- Excel's way


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user data folder (index of recent orders, ribbon lock) of this test only."""
    folder = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(folder))
    return folder


@pytest.fixture(scope="module")
def excel_calc() -> ExcelCalculation:
    """The formulas as Excel's UDF server on Windows declares them, calculated as Excel does."""
    from .windows_xlwings import udf_module_with_real_decorators

    return ExcelCalculation(udf_module_with_real_decorators())


@pytest.fixture
def formulas_env(
    sim: PanelSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    point_cli_at(sim, tmp_path, monkeypatch)
    formulas.reset_panels()
    yield
    formulas.reset_panels()


def place_from_the_ribbon(tmp_path: Path, count: int) -> list[str]:
    """``count`` orders placed with the ribbon's Place orders on a workbook open in Excel."""
    from smmsheet.excel import run_macro
    from smmsheet.templates import TEMPLATE_COLUMNS
    from smmsheet.workbook.live import XlwingsWorkbook

    from .fake_excel import FakeBook

    header = list(TEMPLATE_COLUMNS)
    rows = [header] + [
        [
            {"Service": 3, "Link": f"https://instagram.com/p/r{n}", "Quantity": 100}.get(t)
            for t in header
        ]
        for n in range(count)
    ]
    path = tmp_path / "orders.xlsx"
    path.write_bytes(b"")
    book = FakeBook({"Orders": rows}, fullname=str(path))
    told: list[str] = []
    run_macro("place", XlwingsWorkbook(book), None, None, lambda q: True, told.append)
    assert not told, told
    column = header.index("Order ID") + 1
    return [str(int(book.sheets["Orders"].cells[(r, column)])) for r in range(2, count + 2)]


def test_500_cells_filled_down_over_orders_placed_from_the_ribbon_cost_at_most_10_requests(
    sim: PanelSimulator, formulas_env: None, excel_calc: ExcelCalculation, tmp_path: Path
) -> None:
    ids = place_from_the_ribbon(tmp_path, 500)
    formulas.reset_panels()  # Excel's UDF server is another process than the ribbon's
    sim.reset_counts()
    cells = excel_calc.fill_down("SMM_STATUS", [float(i) for i in ids])
    print(f"500 cells, one after another -> {sim.counts['status']} status requests")
    assert sim.counts["status"] <= 10
    assert len(excel_calc.threads) == 1
    assert all(c[0][0] in {"Pending", "In progress", "Processing"} for c in cells)
    sim.reset_counts()
    excel_calc.fill_down("SMM_STATUS", [float(i) for i in ids])  # recalculation
    assert sim.counts["status"] == 0


def test_a_column_the_formulas_saw_before_costs_at_most_10_requests_in_a_new_excel(
    sim: PanelSimulator, client: PanelClient, formulas_env: None, excel_calc: ExcelCalculation
) -> None:
    ids = place(client, 500)  # placed elsewhere: smmsheet knows nothing of them yet
    sim.reset_counts()
    whole = excel_calc.cell("SMM_STATUS", [[float(i)] for i in ids])  # =SMM_STATUS(A2:A501)
    assert sim.counts["status"] == 5 and len(whole) == 500
    formulas.reset_panels()  # Excel restarted: the cache is gone, the index is not
    sim.reset_counts()
    excel_calc.fill_down("SMM_STATUS", [float(i) for i in ids])
    assert sim.counts["status"] <= 10


def test_cells_over_orders_smmsheet_never_saw_cost_a_request_each_the_range_form_does_not(
    sim: PanelSimulator, client: PanelClient, formulas_env: None, excel_calc: ExcelCalculation
) -> None:
    ids = place(client, 30)
    sim.reset_counts()
    excel_calc.fill_down("SMM_STATUS", ids)
    assert sim.counts["status"] == 30  # why docs/excel.md gives A2:A500 for such columns
    formulas.reset_panels()
    sim.reset_counts()
    excel_calc.cell("SMM_STATUS", [[i] for i in ids])
    assert sim.counts["status"] == 1


def test_final_orders_are_not_fetched_along(
    sim: PanelSimulator, client: PanelClient, own_data_dir: Path
) -> None:
    from smmsheet.recent import RecentOrders, panel_key

    index = RecentOrders(own_data_dir / "recent.sqlite")
    ids = place(client, 5)
    index.remember(panel_key(client.url), ids)
    sim.set_status(ids[0], "Completed")
    panel = UdfPanel(client, recent=index)
    smm_status(ids[1], panel=panel)  # fetches all five, learns that the first is final
    assert sorted(index.open_ids(panel_key(client.url), ids[1], 99)) == sorted(ids[2:])
    assert ids[0] not in index.open_ids(panel_key(client.url), ids[4], 99)


def test_a_damaged_index_file_costs_requests_never_an_answer(
    sim: PanelSimulator, client: PanelClient, own_data_dir: Path
) -> None:
    from smmsheet.recent import RecentOrders

    bad = own_data_dir / "recent.sqlite"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"this is not a database" * 100)
    ids = place(client, 3)
    panel = UdfPanel(client, recent=RecentOrders(bad))
    sim.reset_counts()
    answers = [smm_status(i, panel=panel)[0][0] for i in ids]
    assert all(a in {"Pending", "In progress"} for a in answers), answers
    assert sim.counts["status"] == 3


def test_threads_calling_at_once_still_share_requests(
    sim: PanelSimulator, client: PanelClient
) -> None:
    panel = UdfPanel(client, window=0.05)  # VBA or scripts calling from several threads
    ids = place(client, 500)
    sim.reset_counts()
    start = threading.Barrier(len(ids))
    results: dict[int, Any] = {}

    def cell(order_id: int) -> None:
        start.wait()
        results[order_id] = smm_status(order_id, panel=panel)

    threads = [threading.Thread(target=cell, args=(oid,)) for oid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sim.counts["status"] <= 10
    assert len(results) == 500


# --------------------------------------------------------------------------- coalescing


def test_recalculation_within_the_ttl_sends_no_request(
    sim: PanelSimulator, client: PanelClient, panel: UdfPanel
) -> None:
    ids = place(client, 3)
    first = smm_status([[i] for i in ids], panel=panel)
    sim.reset_counts()
    assert smm_status([[i] for i in ids], panel=panel) == first
    assert sim.counts["status"] == 0


def test_statuses_are_asked_again_once_the_ttl_is_over(
    sim: PanelSimulator, client: PanelClient
) -> None:
    clock = Clock()
    panel = UdfPanel(client, clock=clock)
    (oid,) = place(client, 1)
    smm_status(oid, panel=panel)
    sim.set_status(oid, "Completed")
    clock.now += formulas.STATUS_TTL - 1
    assert smm_status(oid, panel=panel) != [["Completed"]]
    clock.now += 2
    assert smm_status(oid, panel=panel) == [["Completed"]]


def test_ids_seen_before_are_refreshed_in_the_same_request(
    sim: PanelSimulator, client: PanelClient
) -> None:
    clock = Clock()
    panel = UdfPanel(client, clock=clock)
    ids = place(client, 5)
    for oid in ids:
        smm_status(oid, panel=panel)  # five cells calculated one by one
    clock.now += formulas.STATUS_TTL + 1
    sim.reset_counts()
    for oid in ids:
        smm_status(oid, panel=panel)
    assert sim.counts["status"] == 1


def test_a_failed_batch_reaches_every_waiter_and_is_not_cached() -> None:
    calls: list[list[int]] = []

    def fetch(ids: list[int]) -> dict[int, int]:
        calls.append(ids)
        if len(calls) == 1:
            raise TimeoutError("no answer")
        return {i: i for i in ids}

    coalescer: Coalescer[int] = Coalescer(fetch, window=0.05)
    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(lambda i: _outcome(coalescer, i), [1, 2, 3]))
    assert outcomes == ["TimeoutError"] * 3
    assert coalescer.get_many([1, 2]) == {1: 1, 2: 2}
    assert len(calls) == 2


def _outcome(coalescer: Coalescer[int], oid: int) -> Any:
    try:
        return coalescer.get_many([oid])
    except Exception as exc:
        return type(exc).__name__


def test_a_batch_never_carries_more_than_100_ids() -> None:
    sizes: list[int] = []
    coalescer: Coalescer[int] = Coalescer(lambda ids: sizes.append(len(ids)) or {i: i for i in ids})
    assert len(coalescer.get_many(range(1, 251))) == 250
    assert sizes == [100, 100, 50]


# --------------------------------------------------------------------------- SMM_STATUS


def test_status_of_a_range_has_the_shape_of_the_range(client: PanelClient, panel: UdfPanel) -> None:
    a, b = place(client, 2)
    result = smm_status([[a, None], [-3, float(b)]], panel=panel)
    assert result[0][1] == "" and result[1][0] == "#SMM: not an id: -3"
    assert result[0][0] in {"Pending", "In progress"} and result[1][1] in {"Pending", "In progress"}


def test_status_fields_come_back_as_numbers_or_text(
    sim: PanelSimulator, client: PanelClient, panel: UdfPanel
) -> None:
    (oid,) = place(client, 1)
    sim.set_status(oid, "Completed")
    assert smm_status(oid, "remains", panel=panel) == [[0]]
    charge = smm_status(oid, "Charge", panel=panel)[0][0]
    assert isinstance(charge, float) and charge == pytest.approx(0.025)
    assert smm_status(oid, "start count", panel=panel)[0][0] >= 0
    assert smm_status(oid, "currency", panel=panel) == [["USD"]]
    assert smm_status(oid, "colour", panel=panel)[0][0].startswith("#SMM: unknown field")


def test_an_unknown_order_id_is_a_short_error_in_its_cell(panel: UdfPanel) -> None:
    assert smm_status(999999, panel=panel) == [["#SMM: Incorrect order ID"]]


def test_refill_status_reads_refills(
    sim: PanelSimulator, client: PanelClient, panel: UdfPanel
) -> None:
    (oid,) = place(client, 1, service=1)
    sim.set_status(oid, "Completed")
    refill_id = client.refill(oid)  # setup through the client; formulas never refill
    result = formulas.smm_refill_status([[refill_id, 424242]], panel=panel)
    assert result[0][0] in {"Pending", "In progress", "Completed"}
    assert result[0][1].startswith("#SMM: ")


# --------------------------------------------------------------------------- the others


def test_balance_services_and_cost(panel: UdfPanel) -> None:
    assert formulas.smm_balance(panel=panel) == 10000.0
    table = formulas.smm_services(panel=panel)
    assert table[0][:3] == ["Service", "Name", "Type"]
    by_id = {row[0]: row for row in table[1:]}
    assert by_id[20][1] == '=HYPERLINK("http://evil","x")', "a value, never a formula"
    assert len({len(row) for row in table}) == 1
    assert formulas.smm_cost(1, 1000, panel=panel) == pytest.approx(0.9)
    assert formulas.smm_cost("21", 5000.0, panel=panel) == pytest.approx(0.0615)
    assert formulas.smm_cost(999, 10, panel=panel) == "#SMM: the panel has no service 999"
    assert str(formulas.smm_cost(1, "lots", panel=panel)).startswith("#SMM: quantity")


@pytest.mark.parametrize(
    ("quantity", "shown"),
    [("1k", "#SMM: quantity must be a whole number, got '1k'"), ("1.000", "could mean 1000 or 1")],
)
def test_cost_reads_the_quantity_as_a_run_does(panel: UdfPanel, quantity, shown) -> None:
    # '1k' cost 1 follower's price, 1000 times too little, for a row a run refuses.
    assert formulas.smm_cost("1 – Instagram Followers", "1,000", panel=panel) == pytest.approx(0.9)
    assert shown in str(formulas.smm_cost(1, quantity, panel=panel))


def test_cost_of_a_drop_down_pick_whose_name_is_now_another_service_is_an_error(
    panel: UdfPanel,
) -> None:
    # As a run refuses the row: the formula priced service 1 for a cell showing Likes.
    said = formulas.smm_cost("1 – Instagram Likes", 1000, panel=panel)
    assert str(said).startswith("#SMM: Service 1 is 'Instagram Followers [Refill 30d]' on the")
    assert formulas.smm_cost("3 – Instagram Likes", 1000, panel=panel) == pytest.approx(0.25)


def test_a_panel_that_is_down_is_a_short_error_without_the_key() -> None:
    secret = "sk-live-0123456789abcdef"
    with PanelSimulator() as gone:
        url = gone.url
    with PanelClient(url, secret, retries=0, timeout=(0.5, 0.5)) as down:
        panel = UdfPanel(down)
        results = [
            smm_status([[1001]], panel=panel)[0][0],
            formulas.smm_refill_status(7, panel=panel)[0][0],
            formulas.smm_balance(panel=panel),
            formulas.smm_services(panel=panel)[0][0],
            formulas.smm_cost(1, 100, panel=panel),
        ]
    for text in results:
        assert isinstance(text, str) and text.startswith("#SMM: "), text
        assert secret not in text and "Traceback" not in text and len(text) <= 120


def test_a_refused_key_is_reported_without_the_key(sim: PanelSimulator) -> None:
    secret = "sk-wrong-key-7777777777"
    with PanelClient(sim.url, secret) as wrong:
        text = smm_status(1001, panel=UdfPanel(wrong))[0][0]
    assert text.startswith("#SMM: the panel refused the API key")
    assert secret not in text


def test_formulas_use_the_panel_from_the_environment_and_cache_it_per_url(
    sim: PanelSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("SMMSHEET_PANEL_URL", sim.url)
    monkeypatch.setenv("SMMSHEET_API_KEY", DEFAULT_API_KEY)
    monkeypatch.delenv("SMMSHEET_PROFILE", raising=False)
    formulas.reset_panels()
    try:
        first = formulas.udf_panel()
        assert formulas.udf_panel() is first
        assert udf.SMM_BALANCE() == 10000.0
        monkeypatch.setenv("SMMSHEET_API_KEY", "another-key")
        assert formulas.udf_panel() is not first
        assert udf.SMM_BALANCE().startswith("#SMM: the panel refused the API key")
        monkeypatch.delenv("SMMSHEET_PANEL_URL")
        assert udf.SMM_BALANCE().startswith("#SMM: no panel URL")
    finally:
        formulas.reset_panels()


# --------------------------------------------------------------------------- read-only


@pytest.mark.parametrize("module", [formulas, udf], ids=["formulas", "udf"])
def test_the_formula_modules_never_name_a_paid_client_method(module: types.ModuleType) -> None:
    tree = ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))
    names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    names |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert not names & PAID
    assert "Engine" not in imported and "Engine" not in names


def test_every_formula_against_the_simulator_places_refills_and_cancels_nothing(
    sim: PanelSimulator, client: PanelClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ids = place(client, 3, service=1)
    sim.set_status(ids[0], "Completed")
    refill_id = client.refill(ids[0])
    sim.reset_counts()
    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("SMMSHEET_PANEL_URL", sim.url)
    monkeypatch.setenv("SMMSHEET_API_KEY", DEFAULT_API_KEY)
    formulas.reset_panels()
    try:
        for field in ["status", "charge", "start_count", "remains", "currency"]:
            udf.SMM_STATUS([[i] for i in ids], field)
        udf.SMM_REFILL_STATUS([[refill_id]])
        udf.SMM_BALANCE()
        udf.SMM_SERVICES()
        udf.SMM_COST(1, 100)
    finally:
        formulas.reset_panels()
    assert sim.counts["requests"] > 0
    assert (sim.counts["add"], sim.counts["refill"], sim.counts["cancel"]) == (0, 0, 0)


def test_remembering_a_journal_again_does_not_reopen_final_orders(own_data_dir: Path) -> None:
    from smmsheet.recent import RecentOrders

    index = RecentOrders(own_data_dir / "recent.sqlite")
    index.remember("https://p.example/api/v2", ["1", "2", "3"])
    index.record("https://p.example/api/v2", {"2": True, "3": False})
    index.remember("https://p.example/api/v2", ["1", "2", "3", "4"])  # the next ribbon run
    assert index.open_ids("https://p.example/api/v2", "1", 10) == ["3", "4"]
    assert index.open_ids("https://other.example/api/v2", "1", 10) == []


def test_the_index_sees_what_another_process_remembered_and_text_ids(
    own_data_dir: Path,
) -> None:
    from smmsheet.recent import RecentOrders

    path = own_data_dir / "recent.sqlite"
    excel_udf_server, ribbon = RecentOrders(path), RecentOrders(path)
    panel = "https://p.example/api/v2"
    ribbon.remember(panel, ["100", "105", "90"])
    assert excel_udf_server.open_ids(panel, "101", 2) == ["100", "105"]
    ribbon.remember(panel, ["102", "ORD-7", "ORD-8"])  # a later run, in another process
    found = excel_udf_server.open_ids(panel, "101", 10)
    assert found[:4] == ["102", "100", "105", "90"]  # nearest first
    assert sorted(found[4:]) == ["ORD-7", "ORD-8"]  # text ids after every number
    assert excel_udf_server.open_ids(panel, "ORD-7", 3) == ["105", "102", "100"]
    assert excel_udf_server.open_ids(panel, "101", 0) == []


def test_ids_that_only_look_like_numbers_are_fetched_as_the_panel_wrote_them(
    own_data_dir: Path,
) -> None:
    from smmsheet.recent import RecentOrders

    index = RecentOrders(own_data_dir / "Jo #1 %20 ?x" / "recent.sqlite")  # a user's folder
    panel = "https://p.example/api/v2"
    index.remember(panel, ["0012", "١٢", "13"])
    assert sorted(index.open_ids(panel, "12", 5)) == sorted(["13", "0012", "١٢"])


def test_a_journal_is_read_again_only_when_it_changed(own_data_dir: Path) -> None:
    from smmsheet.recent import RecentOrders

    index = RecentOrders(own_data_dir / "recent.sqlite")
    journal = own_data_dir / "orders.xlsx.smmsheet-journal.sqlite"
    journal.parent.mkdir(parents=True)
    journal.write_bytes(b"v1")
    reads: list[int] = []

    def ids() -> list[str]:
        reads.append(1)
        return ["7", "8"]

    panel = "https://p.example/api/v2"
    assert index.remember_source(panel, journal, ids) is True
    assert index.remember_source(panel, journal, ids) is False  # a status refresh: unchanged
    journal.write_bytes(b"v2, longer")  # a placing run wrote to it
    assert index.remember_source(panel, journal, ids) is True
    assert len(reads) == 2 and index.open_ids(panel, "7", 5) == ["8"]
    assert index.remember_source(panel, own_data_dir / "gone.sqlite", ids) is False


def test_formulas_ask_the_panel_a_profile_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reseller on two panels: ``=SMM_BALANCE("b")`` is panel b's balance, as a row's
    Panel cell names b, and ``=SMM_STATUS(A2, , "b")`` asks b about its order; empty is the
    default panel; a typo says which profiles exist. Never the environment's panel for a
    named profile."""
    from .two_panels import open_two

    formulas.reset_panels()
    with open_two(tmp_path, monkeypatch, b_balance="12.5") as panels:
        try:
            assert udf.SMM_BALANCE() == float(panels.a.state.balance)
            assert udf.SMM_BALANCE("b") == 12.5
            assert udf.SMM_BALANCE(" b ") == 12.5
            assert udf.SMM_BALANCE("") == float(panels.a.state.balance)
            typo = udf.SMM_BALANCE("bb")
            assert isinstance(typo, str) and typo.startswith("#SMM: no profile 'bb'")
            monkeypatch.setenv("SMMSHEET_PANEL_URL", panels.a.url)
            monkeypatch.setenv("SMMSHEET_API_KEY", DEFAULT_API_KEY)
            assert udf.SMM_BALANCE("b") == 12.5  # the profile's own URL and key
            assert panels.b.counts["balance"] == 1, "cached like every formula's panel"
            # Every formula: an order of panel b is looked up on b, never on the default.
            with PanelClient(panels.b.url, DEFAULT_API_KEY) as b:
                order = b.add(service=1, link="https://instagram.com/p/b", quantity=100)
            assert udf.SMM_STATUS([[order]], "status", "b")[0][0] == "Pending"
            assert str(udf.SMM_STATUS([[order]])[0][0]).startswith("#SMM: ")  # a: no such order
            assert udf.SMM_REFILL_STATUS([[7]], "b")[0][0].startswith("#SMM: ")
            assert panels.b.counts["refill_status"] == 1
            assert udf.SMM_SERVICES("b")[0][:2] == ["Service", "Name"]
            assert udf.SMM_COST(1, 1000, "b") == udf.SMM_COST(1, 1000)  # same catalogue
            assert panels.b.counts["services"] == 1
        finally:
            formulas.reset_panels()


def test_balance_of_a_profile_named_by_a_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reseller's second account is profile "2": Excel passes ``=SMM_BALANCE(2)`` (or a
    cell holding 2) as the float 2.0, which was looked up as a profile "2.0" that does not
    exist. A whole number names its profile as a row's Panel cell's text does."""
    from smmsheet.simulator import PanelSimulator

    from .two_panels import write_config

    formulas.reset_panels()
    with PanelSimulator(balance="7.25") as second:
        config = write_config(tmp_path / "config.toml", {"2": second}, default="2")
        monkeypatch.setenv("SMMSHEET_CONFIG", str(config))
        for variable in ("SMMSHEET_PANEL_URL", "SMMSHEET_API_KEY", "SMMSHEET_PROFILE"):
            monkeypatch.delenv(variable, raising=False)
        try:
            assert udf.SMM_BALANCE(2.0) == 7.25
            assert udf.SMM_BALANCE(2) == 7.25
            half = udf.SMM_BALANCE(2.5)
            assert isinstance(half, str) and half.startswith("#SMM: no profile '2.5'")
        finally:
            formulas.reset_panels()


def test_balance_of_a_panel_argument_that_is_an_error_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, excel_calc: ExcelCalculation
) -> None:
    """``=SMM_BALANCE(VLOOKUP(A2, Accounts, 2, FALSE))`` whose lookup failed: xlwings hands
    an error argument over as None, the same as an empty one, and the cell showed the
    default panel's balance as the balance of the account the lookup was for."""
    from .fake_excel import CellError
    from .two_panels import open_two

    formulas.reset_panels()
    with open_two(tmp_path, monkeypatch, b_balance="12.5") as panels:
        try:
            assert excel_calc.cell("SMM_BALANCE") == float(panels.a.state.balance)
            assert excel_calc.cell("SMM_BALANCE", "b") == 12.5
            for error in ("#N/A", "#REF!", "#VALUE!"):
                shown = excel_calc.cell("SMM_BALANCE", CellError(error))
                assert isinstance(shown, str) and shown.startswith("#SMM:"), (error, shown)
                assert error in shown
            ranged = excel_calc.cell("SMM_BALANCE", [["a", "b"]])  # a range: no panel either
            assert isinstance(ranged, str) and ranged.startswith("#SMM:")
            assert panels.a.counts["balance"] == 1
            # Every formula's panel argument: an order of panel b is not looked up on a.
            shown = excel_calc.cell("SMM_STATUS", [[5001]], "status", CellError("#N/A"))
            assert shown == [["#SMM: the panel given is #N/A, not a profile name"]]
            cost = excel_calc.cell("SMM_COST", 1, 1000, CellError("#REF!"))
            assert isinstance(cost, str) and "#REF!" in cost
            assert not panels.a.counts.get("status") and not panels.a.counts.get("services")
        finally:
            formulas.reset_panels()


def test_a_column_of_panel_cells_asks_each_order_of_its_own_rows_panel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, excel_calc: ExcelCalculation
) -> None:
    """A reseller on two panels keeps a Panel column beside the Order IDs, as the runs read
    it: ``=SMM_STATUS(D2:D4, , J2:J4)`` was refused ("a range of cells, not a profile
    name"), so the sheet needed a formula per panel. Each id is now asked of its own row's
    panel, each panel once, and two panels' orders may share an id."""
    from smmsheet.simulator import DEFAULT_API_KEY

    from .two_panels import open_two

    formulas.reset_panels()
    with open_two(tmp_path, monkeypatch) as panels:
        try:
            with (
                PanelClient(panels.a.url, DEFAULT_API_KEY) as a,
                PanelClient(panels.b.url, DEFAULT_API_KEY) as b,
            ):
                first = a.add(service=1, link="https://instagram.com/p/a", quantity=100)
                same = b.add(service=1, link="https://instagram.com/p/b", quantity=100)
                other = b.add(service=1, link="https://instagram.com/p/c", quantity=100)
            assert first == same  # one id, two panels' orders
            panels.b.set_status(same, "Completed", remains=0)
            ids = [[first], [same], [other], [None]]
            shown = excel_calc.cell("SMM_STATUS", ids, "status", [[""], ["b"], [" b "], ["a"]])
            assert shown == [["Pending"], ["Completed"], ["Pending"], [""]]
            assert panels.a.counts["status"] == 1 and panels.b.counts["status"] == 1
            assert excel_calc.cell("SMM_STATUS", [[same, other]], "remains", [["b"]]) == [
                [0, 100]
            ]  # one cell: one panel for every id
            assert excel_calc.cell("SMM_REFILL_STATUS", [[7], [7]], [["a"], ["b"]])[1][
                0
            ].startswith("#SMM: ")
            assert panels.b.counts["refill_status"] == 1
        finally:
            formulas.reset_panels()


def test_panel_cells_that_name_no_profile_are_refused_in_the_cells_they_concern(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, excel_calc: ExcelCalculation
) -> None:
    """A Panel cell holding ``#N/A`` (a failed lookup) or a typo refuses its own row; a
    Panel range of another size than the ids refuses every cell. None of them is asked of
    the default panel, whose answer would show as another's."""
    from smmsheet.simulator import DEFAULT_API_KEY

    from .two_panels import open_two

    formulas.reset_panels()
    with open_two(tmp_path, monkeypatch) as panels:
        try:
            with PanelClient(panels.b.url, DEFAULT_API_KEY) as b:
                order = b.add(service=1, link="https://instagram.com/p/b", quantity=100)
            shown = excel_calc.cell(
                "SMM_STATUS", [[order]] * 3, "status", [["#N/A"], ["bb"], ["b"]]
            )
            assert shown[0] == ["#SMM: the panel given is #N/A, not a profile name"]
            assert shown[1][0].startswith("#SMM: no profile 'bb'")
            assert shown[2] == ["Pending"]
            wrong = excel_calc.cell("SMM_STATUS", [[order]] * 3, "status", [["b"], ["b"]])
            assert (
                wrong
                == [
                    [
                        "#SMM: the panel range is 2x1 cells and the ids 3x1: give one profile, or "
                        "the Panel cells beside the ids"
                    ]
                ]
                * 3
            )
            assert not panels.a.counts.get("status")
            assert panels.b.counts["status"] == 1
        finally:
            formulas.reset_panels()


def test_two_profiles_of_one_panel_keep_their_own_clients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two accounts on one panel (two profiles, one URL, two keys): asking one, then the
    other, then the first again closed and rebuilt a client each time (one slot per URL),
    so a formula could find its client closed under it."""
    from smmsheet.simulator import DEFAULT_API_KEY

    from .two_panels import write_config

    formulas.reset_panels()
    with PanelSimulator(balance="7") as sim:
        config = write_config(tmp_path / "config.toml", {"a": sim, "b": sim})
        text = config.read_text(encoding="utf-8")
        second = text.rindex(DEFAULT_API_KEY)
        config.write_text(
            text[:second] + "sk-second-account" + text[second + len(DEFAULT_API_KEY) :]
        )
        monkeypatch.setenv("SMMSHEET_CONFIG", str(config))
        for variable in ("SMMSHEET_PANEL_URL", "SMMSHEET_API_KEY", "SMMSHEET_PROFILE"):
            monkeypatch.delenv(variable, raising=False)
        try:
            first = formulas.udf_panel("a")
            other = formulas.udf_panel("b")
            again = formulas.udf_panel("a")
            monkeypatch.setenv("SMMSHEET_PROFILE", "x")  # a new resolution of each
            assert formulas.udf_panel("a") is first is again and formulas.udf_panel("b") is other
            assert first is not other
            assert udf.SMM_BALANCE("a") == 7.0
            assert str(udf.SMM_BALANCE("b")).startswith("#SMM: the panel refused the API key")
        finally:
            formulas.reset_panels()
