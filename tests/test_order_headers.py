"""Headers as people write them, through the engine and the CLI: money first."""

from __future__ import annotations

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
