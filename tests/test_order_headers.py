"""Headers as people write them, through the engine and the CLI: money first."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from smmsheet.cli import cli

from .conftest import make_orders_book, read_orders, run_engine


def test_an_id_under_order_hash_is_never_bought_again(tmp_path, sim, client):
    """The issue's money case: "Order #" was not known, the id under it unseen, the row
    placed a second time."""
    first = make_orders_book(tmp_path / "first.xlsx", [(1, "https://instagram.com/a", 100)])
    run_engine(first, client, "place")
    (placed,) = read_orders(first)
    assert len(sim.orders) == 1

    header = ("Svc", "URL", "Qty", "Order #", "Refil")
    theirs = make_orders_book(
        tmp_path / "theirs.xlsx",
        [(1, "https://instagram.com/a", 100, placed["Order ID"], None)],
        header=header,
    )
    report = run_engine(theirs, client, "run")
    assert len(sim.orders) == 1  # nothing bought again
    (row,) = read_orders(theirs)
    assert row["Order #"] == placed["Order ID"] and row["Status"]  # refreshed, not placed
    assert "Order ID" not in row  # the id stays in the user's own column
    assert any("'Refil' is not read: did you mean 'Refill'?" in m for m in report.messages)


def test_ids_under_a_misspelt_order_id_header_stop_the_run_before_any_order(tmp_path, panel_env):
    book = make_orders_book(
        tmp_path / "typo.xlsx",
        [(1, "https://instagram.com/a", 100, 1001), (1, "https://instagram.com/b", 100, None)],
        header=("Service", "Link", "Quantity", "Ordr ID"),
    )
    done = CliRunner().invoke(cli, ["place", str(book), "--yes"])
    assert done.exit_code == 2 and "'Ordr ID' looks like 'Order ID'" in done.output
    assert panel_env.orders == {}


def test_cli_prints_the_header_warning_and_the_headers_found(tmp_path, panel_env):
    good = make_orders_book(
        tmp_path / "o.xlsx",
        [(1, "https://x.com/a", 100, "x")],
        header=("Service", "Link", "Qty", "Staus"),
    )
    done = CliRunner().invoke(cli, ["place", str(good), "--yes"])
    assert "column D header 'Staus' is not read: did you mean 'Status'?" in done.output
    assert done.exit_code == 0, done.output

    bad = make_orders_book(
        tmp_path / "b.xlsx", [(1, "https://x.com/a", 100)], header=("Service", "Lnk", "Qty")
    )
    done = CliRunner().invoke(cli, ["place", str(bad), "--yes"])
    assert done.exit_code == 2
    assert "row 1 has 'Service', 'Lnk', 'Qty' but no 'Link'" in done.output


def test_the_ribbon_shows_the_header_warning(tmp_path, client):
    """A macro run over a book open in Excel tells the warning in its alert."""
    from .fake_excel import FakeApp, FakeBook
    from .test_excel import Dialogs, run

    path = tmp_path / "orders.xlsx"
    path.write_bytes(b"")
    header = ["Service", "Link", "Quantity", "Order ID", "Refil"]
    book = FakeBook(
        {"Orders": [header, [1, "https://x.com/a", 100, None, "x"]]},
        fullname=str(path),
        app=FakeApp(),
    )
    dialogs = Dialogs(True)
    run("place", book, client, dialogs)
    assert any("'Refil' is not read: did you mean 'Refill'?" in t for t in dialogs.told)


def test_output_columns_never_land_on_a_column_that_holds_values(tmp_path, sim, client):
    """Found in review: the columns to create started after the last header cell with a
    value, so a column with no header (notes), or one whose header is a formula with no
    cached value (openpyxl writes none), took 'Order ID': its header formula and the
    user's cells were overwritten, and an id there was never seen."""
    from openpyxl import Workbook

    path = tmp_path / "orders.xlsx"
    book = Workbook()
    sheet = book.active
    sheet.title = "Orders"
    sheet.append(["Service", "Link", "Quantity", '="Order "&"Notes"', None])
    sheet.append([1, "https://instagram.com/a", 100, "client Bob", "call back"])
    book.save(path)
    run_engine(path, client, "place")
    assert len(sim.orders) == 1
    sheet = __import__("openpyxl").load_workbook(path)["Orders"]
    assert [c.value for c in sheet[1]][3:6] == ['="Order "&"Notes"', None, "Order ID"]
    assert [c.value for c in sheet[2]][3:6] == ["client Bob", "call back", 1001]


@pytest.mark.parametrize(
    "spelling",
    [
        "Ord ID",  # a common abbreviation, two letters from 'Order ID'
        "Ord. #",
        "\u041erder ID",  # Cyrillic capital O
        "Order \u0406D",  # Cyrillic capital I (Ukrainian)
        "\uff2f\uff52\uff44\uff45\uff52 \uff29\uff24",  # full-width, as some IMEs type it
        "Order\u200bID",  # a zero-width space pasted from a web page
        "\u039frder \u0399D",  # Greek capitals
    ],
)
def test_an_order_id_header_spelt_otherwise_is_read(tmp_path, sim, client, spelling):
    """Found in review: a header that looks exactly like 'Order ID' but has a Cyrillic O,
    full-width letters or a zero-width space, or the abbreviation 'Ord ID', was neither read
    nor warned about: the id under it was unseen and the row bought again."""
    first = make_orders_book(tmp_path / "first.xlsx", [(1, "https://instagram.com/a", 100)])
    run_engine(first, client, "place")
    (placed,) = read_orders(first)
    theirs = make_orders_book(
        tmp_path / "theirs.xlsx",
        [(1, "https://instagram.com/a", 100, placed["Order ID"])],
        header=("Service", "Link", "Quantity", spelling),
    )
    run_engine(theirs, client, "place")
    assert len(sim.orders) == 1  # nothing bought again
    (row,) = read_orders(theirs)
    assert "Order ID" not in row and row[spelling] == placed["Order ID"]


def test_a_look_alike_order_id_beside_the_real_one_stops_the_run(tmp_path, panel_env):
    """A hostile (or pasted) sheet with 'Order ID' and a Cyrillic '\u041erder ID': which holds
    the ids cannot be told, so nothing is placed."""
    book = make_orders_book(
        tmp_path / "two.xlsx",
        [(1, "https://instagram.com/a", 100, None, 1001)],
        header=("Service", "Link", "Quantity", "Order ID", "\u041erder ID"),
    )
    done = CliRunner().invoke(cli, ["place", str(book), "--yes"])
    assert done.exit_code == 2 and "two columns mean 'Order ID'" in done.output
    assert panel_env.orders == {}


@pytest.mark.parametrize("header", ["ID", "Order", "id #", "Panel ID", "SMM ID"])
def test_numbers_under_an_id_or_order_header_stop_the_run_before_any_order(
    tmp_path, panel_env, header
):
    """Found in review: a reseller's own tracking sheet often calls the panel's order id
    "ID"; smmsheet only warned, and bought every row again. Numbers there stop the run
    (one rename, either way, settles it); notes under "Order" are only warned about."""
    book = make_orders_book(
        tmp_path / "ids.xlsx",
        [(1, "https://instagram.com/a", 100, 1001), (1, "https://instagram.com/b", 100, None)],
        header=("Service", "Link", "Quantity", header),
    )
    done = CliRunner().invoke(cli, ["place", str(book), "--yes"])
    assert done.exit_code == 2, done.output
    assert f"column D header {header!r} holds numbers" in done.output
    assert panel_env.orders == {}

    notes = make_orders_book(
        tmp_path / "notes.xlsx",
        [(1, "https://instagram.com/c", 100, "for Bob")],
        header=("Service", "Link", "Quantity", header),
    )
    done = CliRunner().invoke(cli, ["place", str(notes), "--yes"])
    assert done.exit_code == 0 and f"{header!r} is not read" in done.output


@pytest.mark.parametrize("link", ["Link/URL", "URL / Link", "Link|URL"])
def test_a_header_that_names_one_column_twice_is_read(tmp_path, panel_env, link):
    """Found in review: 'Link/URL', as people title a column, was not understood: no header
    row was found at all."""
    book = make_orders_book(
        tmp_path / "o.xlsx", [(1, "https://instagram.com/a", 100)], header=("Service", link, "Qty.")
    )
    done = CliRunner().invoke(cli, ["place", str(book), "--dry-run"])
    assert done.exit_code == 0 and "Would place 1 order" in done.output, done.output


def test_a_sheet_with_no_room_for_the_output_columns_is_refused_even_in_a_dry_run(
    tmp_path, panel_env
):
    """Found in review: with a cell in column XFD of the header row, a dry run said "Would
    place 1 order" and the real run stopped on 'row 2, column 16387 is beyond column XFD'."""
    import xlsxwriter

    path = tmp_path / "full.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    sheet.write_row(0, 0, ["Service", "Link", "Quantity"])
    sheet.write_row(1, 0, [1, "https://instagram.com/a", 100])
    sheet.write(0, 16_380, "Notes")  # room for 3 of the 10 output columns (XFD is 16,384)
    book.close()
    for flag in ("--dry-run", "--yes"):
        done = CliRunner().invoke(cli, ["place", str(path), flag])
        assert done.exit_code == 2, done.output
        assert "no room for the output columns Start Count, Remains" in done.output
    assert panel_env.orders == {}


def test_output_columns_stay_beside_the_inputs_and_step_over_used_columns(tmp_path, sim, client):
    """The fix above must not send the outputs far right because of a lookup block in Z:
    each new column takes the next column that holds nothing."""
    from openpyxl import Workbook, load_workbook

    path = tmp_path / "orders.xlsx"
    book = Workbook()
    sheet = book.active
    sheet.title = "Orders"
    sheet.append(["Service", "Link", "Quantity"])
    sheet.append([1, "https://instagram.com/a", 100])
    sheet["F2"], sheet["Z3"] = "my note", "lookup"
    book.save(path)
    run_engine(path, client, "place")
    sheet = load_workbook(path)["Orders"]
    assert [c.value for c in sheet[1]][3:8] == ["Order ID", "Status", None, "Charge", "Start Count"]
    assert sheet["F2"].value == "my note" and sheet["Z3"].value == "lookup"
    assert sheet["N1"].value == "Updated" and sheet["Z1"].value is None
