"""The cheapest route: a Routes sheet maps a product to (panel, service) candidates
(issue 13, item 2). Every test runs two simulators at once: ``a`` (the default profile) and
``b``, which sells service 1 cheaper unless a test says otherwise."""

from __future__ import annotations

from decimal import Decimal

import pytest

from smmsheet.errors import LayoutError
from smmsheet.journal import Journal, State, journal_path
from smmsheet.panel import PanelClient
from smmsheet.routes import read_routes
from smmsheet.simulator import DEFAULT_API_KEY, default_services

from . import workbooks
from .conftest import fail_saves_after_the_marker, read_orders
from .two_panels import book, open_two, run

HEADER = ("Service", "Link", "Quantity", "Panel")
ROUTES = [("IG Followers", "a", 1), ("IG Followers", "b", 1)]
ROW = ("ig followers", "https://x/1", 100)  # product names are matched ignoring case


def cheaper_b(rate: str = "0.50", **changes: str) -> list[dict[str, object]]:
    """The seeded catalogue with service 1 at ``rate`` (0.90 on panel a)."""
    services = default_services()
    services[0].update(rate=rate, **changes)
    return services


def journal_of(path):
    with Journal(journal_path(path), lock=False) as journal:
        return [(e.panel, e.request.get("service"), e.state) for e in journal.entries()]


def test_a_product_goes_to_its_cheapest_candidate_and_the_row_says_where(tmp_path, monkeypatch):
    with open_two(tmp_path, monkeypatch, b_currency="USD", b_services=cheaper_b()) as panels:
        path = book(tmp_path / "o.xlsx", HEADER, [ROW], routes=ROUTES)
        report = run(path, "place")
        assert not report.failed and not panels.a.orders and len(panels.b.orders) == 1
        [row] = read_orders(path)
        assert (row["Service"], row["Panel"], row["Order ID"]) == (1, "b", 1001)
        # A re-run never routes a placed row again, whatever the prices are now.
        panels.b.services[0]["rate"] = "5"
        run(path, "run")
        assert panels.a.counts["add"] == 0 and panels.b.counts["add"] == 1


def test_candidates_in_other_currencies_are_compared_at_the_settings_rates(tmp_path, monkeypatch):
    """0.85 EUR a 1000 at 1.10 USD per EUR is 0.935 USD: panel a's 0.90 USD is cheaper."""
    with open_two(tmp_path, monkeypatch, b_services=cheaper_b("0.85")) as panels:
        settings = [("Currency", "USD"), ("Rate EUR", "1.10")]
        path = book(tmp_path / "o.xlsx", HEADER, [ROW], routes=ROUTES, settings=settings)
        run(path, "place")
        assert len(panels.a.orders) == 1 and not panels.b.orders
        assert read_orders(path)[0]["Panel"] == "a"


def test_a_candidate_whose_min_max_does_not_fit_the_quantity_is_passed_over(tmp_path, monkeypatch):
    with open_two(tmp_path, monkeypatch, b_services=cheaper_b(min="500")) as panels:
        path = book(tmp_path / "o.xlsx", HEADER, [ROW], routes=ROUTES)
        run(path, "place")
        assert len(panels.a.orders) == 1 and not panels.b.orders


def test_a_candidate_whose_panel_lacks_the_balance_is_passed_over(tmp_path, monkeypatch):
    """b is cheaper but holds 0.06: the first row (0.05) fits there, the second goes to a."""
    with open_two(
        tmp_path, monkeypatch, b_currency="USD", b_services=cheaper_b(), b_balance="0.06"
    ) as panels:
        rows = [ROW, ("IG Followers", "https://x/2", 100)]
        path = book(tmp_path / "o.xlsx", HEADER, rows, routes=ROUTES)
        run(path, "place")
        assert [o.link for o in panels.b.orders.values()] == ["https://x/1"]
        assert [o.link for o in panels.a.orders.values()] == ["https://x/2"]


def test_a_definite_refusal_fails_over_to_the_next_candidate(tmp_path, monkeypatch):
    with open_two(tmp_path, monkeypatch, b_currency="USD", b_services=cheaper_b()) as panels:
        with PanelClient(panels.b.url, DEFAULT_API_KEY) as b:
            b.add(1, link="https://x/1", quantity=100)  # b now refuses: an active order
        path = book(tmp_path / "o.xlsx", HEADER, [ROW], routes=ROUTES)
        report = run(path, "place")
        assert not report.failed
        [row] = read_orders(path)
        assert (row["Panel"], row["Service"], row["Order ID"]) == ("a", 1, 1001)
        assert journal_of(path) == [("b", "1", State.REJECTED), ("a", "1", State.ACCEPTED)]


def test_no_fail_over_after_an_add_that_may_have_been_placed(tmp_path, monkeypatch):
    with open_two(tmp_path, monkeypatch, b_currency="USD", b_services=cheaper_b()) as panels:
        panels.b.faults.drop_after_accept = 1.0
        path = book(tmp_path / "o.xlsx", HEADER, [ROW], routes=ROUTES)
        report = run(path, "place")
        [row] = read_orders(path)
        assert report.failed and row["Error"].startswith("check panel: may have been placed")
        assert (row["Panel"], row["Service"], row["Order ID"]) == ("b", 1, None)
        assert not panels.a.orders and len(panels.b.orders) == 1
        run(path, "place")  # still blocked: never placed again, on either panel
        assert panels.a.counts["add"] == 0 and panels.b.counts["add"] == 1


def test_when_every_candidate_refuses_the_row_keeps_its_product(tmp_path, monkeypatch):
    with open_two(tmp_path, monkeypatch, b_currency="USD") as panels:
        for sim in (panels.a, panels.b):
            with PanelClient(sim.url, DEFAULT_API_KEY) as client:
                client.add(1, link="https://x/1", quantity=100)
        path = book(tmp_path / "o.xlsx", HEADER, [ROW], routes=ROUTES)
        report = run(path, "place")
        [row] = read_orders(path)
        assert report.failed and row["Order ID"] is None
        assert row["Service"] == "ig followers" and "every route refused it" in row["Error"]
        assert "panel 'a' service 1" in row["Error"] and "panel 'b' service 1" in row["Error"]


def test_a_route_whose_choice_cannot_be_saved_is_never_sent(tmp_path, monkeypatch):
    """The chosen service is saved into the row before its add goes out, so the journal's
    entry always finds its row; a save that fails first sends nothing."""
    with open_two(tmp_path, monkeypatch, b_currency="USD", b_services=cheaper_b()) as panels:
        path = book(tmp_path / "o.xlsx", HEADER, [ROW], routes=ROUTES)
        with monkeypatch.context() as patch:
            fail_saves_after_the_marker(patch)
            with pytest.raises(Exception, match="disk full"):
                run(path, "place")
        assert panels.a.counts["add"] == 0 and panels.b.counts["add"] == 0


def test_a_run_killed_after_a_routed_add_gives_the_order_back_to_its_row(tmp_path, monkeypatch):
    """The add went out and was accepted, the outcome never reached the file: the next run
    finds the row by the content saved before sending and writes the order back."""
    from smmsheet.workbook.xlsx import XlsxWorkbook

    with open_two(tmp_path, monkeypatch, b_currency="USD", b_services=cheaper_b()) as panels:
        path = book(tmp_path / "o.xlsx", HEADER, [ROW], routes=ROUTES)
        real_save, saves = XlsxWorkbook.save, []

        def save(self):
            saves.append(1)
            if len(saves) > 2:  # the marker and the route are saved, the outcome is not
                raise OSError("killed")
            real_save(self)

        with monkeypatch.context() as patch:
            patch.setattr(XlsxWorkbook, "save", save)
            with pytest.raises(OSError):
                run(path, "place")
        report = run(path, "place")
        [row] = read_orders(path)
        assert (row["Order ID"], row["Panel"]) == (1001, "b")
        assert panels.b.counts["add"] == 1 and panels.a.counts["add"] == 0
        assert not report.failed


def test_a_dry_run_names_the_chosen_panel_and_sends_nothing(tmp_path, monkeypatch):
    with open_two(tmp_path, monkeypatch, b_currency="USD", b_services=cheaper_b()) as panels:
        path = book(tmp_path / "o.xlsx", HEADER, [ROW], routes=ROUTES)
        report = run(path, "place", dry_run=True)
        assert [r.message for r in report.results] == ["0.05 on panel 'b' service 1"]
        assert report.preview.cost == Decimal("0.05")
        assert panels.b.counts["add"] == 0 and read_orders(path)[0]["Service"] == "ig followers"


def test_a_product_no_candidate_fits_says_why_for_each(tmp_path, monkeypatch):
    with open_two(tmp_path, monkeypatch, b_services=cheaper_b(max="50")):
        routes = [*ROUTES, ("IG Followers", "nosuch", 1)]
        path = book(tmp_path / "o.xlsx", HEADER, [("IG Followers", "x", 20)], routes=routes)
        run(path, "place")
        error = read_orders(path)[0]["Error"]
        assert "No route of product 'IG Followers' fits" in error
        assert "below the minimum 50" in error and "no profile 'nosuch'" in error


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ([("Product", "Panel", "Service"), ("Likes", "a", "twelve")], "service id number"),
        ([("Product", "Panel", "Service"), ("12", "a", 3)], "looks like a service id"),
        ([("Product", "Panel", "Service"), (None, "a", 3)], "a Service without a Product"),
        ([("Product", "Panel", "Service"), ("", "", ""), ("Likes", "a", 0)], "sheet, row 3: "),
        ([("Name", "Panel", "Id")], "needs a header row"),
    ],
)
def test_a_routes_sheet_that_cannot_be_read_is_refused(rows, problem):
    with pytest.raises(LayoutError, match=problem):
        read_routes(rows)


def test_a_broken_routes_sheet_stops_placing_before_anything_is_sent(tmp_path, monkeypatch):
    with open_two(tmp_path, monkeypatch) as panels:
        path = book(tmp_path / "o.xlsx", HEADER, [ROW], routes=[("IG Followers", "a", "x")])
        with pytest.raises(LayoutError):
            run(path, "place")
        assert panels.a.counts["add"] == 0


def test_a_row_that_names_its_panel_is_routed_among_that_panels_candidates(tmp_path, monkeypatch):
    with open_two(tmp_path, monkeypatch, b_currency="USD", b_services=cheaper_b()) as panels:
        routes = [*ROUTES, ("IG Followers", "a", 3)]  # a sells it as service 3 too, cheaper
        rows = [
            ("IG Followers", "https://x/1", 100, "a"),
            ("IG Followers", "https://x/2", 100, "zz"),
        ]
        path = book(tmp_path / "o.xlsx", HEADER, rows, routes=routes)
        run(path, "place")
        first, second = read_orders(path)
        assert (first["Panel"], first["Service"]) == ("a", 3) and not panels.b.orders
        assert "Panel names 'zz'" in second["Error"] and second["Order ID"] is None


@pytest.mark.skipif(
    workbooks.OOXML_VALIDATOR is None, reason="the Open XML SDK validator is not installed"
)
def test_a_routed_and_priced_workbook_passes_the_open_xml_schema_check(tmp_path, monkeypatch):
    """The columns a route and a Sell price create (Panel, Cost, Profit, Margin) and the
    rewritten Service cell keep the file valid for Excel."""
    with open_two(tmp_path, monkeypatch, b_currency="USD", b_services=cheaper_b()):
        header = ("Service", "Link", "Quantity", "Sell price")
        path = book(tmp_path / "o.xlsx", header, [(*ROW, "1.50")], routes=ROUTES)
        before = workbooks.schema_errors(path)
        run(path, "place")
        [row] = read_orders(path)
        assert (row["Panel"], row["Cost"]) == ("b", 0.05)
        assert workbooks.schema_errors(path) - before == set()


def test_a_candidate_listed_twice_is_tried_once():
    routes = read_routes([("Product", "Panel", "Service"), ("Likes", "b", 3), ("likes", "b", "3")])
    assert [(c.panel, c.service) for c in routes.products["likes"]] == [("b", 3)]


def test_the_panel_column_a_route_creates_never_overwrites_a_column_without_header(
    tmp_path, monkeypatch
):
    """Outputs take columns D to N; a note sits in O under no header: Panel goes to P."""
    from openpyxl import load_workbook

    with open_two(tmp_path, monkeypatch, b_currency="USD", b_services=cheaper_b()):
        note = [None] * 11 + ["my note"]
        header = ("Service", "Link", "Quantity")
        path = book(tmp_path / "o.xlsx", header, [(*ROW, *note)], routes=ROUTES)
        run(path, "place")
        sheet = load_workbook(path)["Orders"]
        assert (sheet["O2"].value, sheet["O1"].value) == ("my note", None)
        assert (sheet["P1"].value, sheet["P2"].value) == ("Panel", "b")
