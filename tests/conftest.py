"""Shared fixtures: the panel simulator on a free loopback port, order workbooks in tmp_path."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from smmsheet.panel import PanelClient
from smmsheet.simulator import DEFAULT_API_KEY, PanelSimulator

ORDER_HEADER = ("Service", "Link", "Quantity", "Runs", "Interval", "Comments", "Refill", "Cancel")


@pytest.fixture
def sim() -> Iterator[PanelSimulator]:
    with PanelSimulator() as server:
        yield server


@pytest.fixture
def client(sim: PanelSimulator) -> Iterator[PanelClient]:
    with PanelClient(sim.url, DEFAULT_API_KEY, backoff=0.001, max_workers=4) as c:
        yield c


@pytest.fixture
def panel_env(
    sim: PanelSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> PanelSimulator:
    """Point the CLI at the simulator through the environment, with no user config file."""
    return point_cli_at(sim, tmp_path, monkeypatch)


def point_cli_at(
    sim: PanelSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> PanelSimulator:
    """Set the environment the CLI resolves its panel from to ``sim`` (no user config)."""
    monkeypatch.setenv("SMMSHEET_PANEL_URL", sim.url)
    monkeypatch.setenv("SMMSHEET_API_KEY", DEFAULT_API_KEY)
    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("SMMSHEET_PROFILE", raising=False)
    return sim


@pytest.fixture
def misleading_sim() -> Iterator[PanelSimulator]:
    """The default catalogue plus services without a usable price or with odd billing."""
    from smmsheet.simulator import default_services, misleading_services

    with PanelSimulator(services=default_services() + misleading_services()) as server:
        yield server


def run_engine(path: Path, client: Any, command: str, **options: Any) -> Any:
    """One engine run over a saved workbook, journaled beside it, as the shells do it."""
    from smmsheet.batch import Engine, RunOptions
    from smmsheet.journal import Journal, journal_path
    from smmsheet.workbook import open_workbook

    book = open_workbook(str(path))
    with Journal(journal_path(path)) as journal:
        engine = Engine(book, client, journal, RunOptions(**options), command=command)
        return engine.execute(command)


def make_orders_book(
    path: Path,
    rows: Sequence[Sequence[Any]],
    header: Sequence[str] = ORDER_HEADER,
    *,
    extra_sheets: bool = False,
) -> Path:
    """Write an order workbook with openpyxl (a real .xlsx) and return its path."""
    book, _ = openpyxl_orders(list(header), *(list(row) for row in rows))
    if extra_sheets:
        other = book.create_sheet("Notes")
        other["A1"] = "keep me"
        other["B2"] = "=1+1"
    book.save(path)
    return path


def read_orders(path: Path, sheet: str = "Orders") -> list[dict[str, Any]]:
    """The order rows of a workbook as dicts keyed by header text (read with openpyxl)."""
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True)
    rows = list(book[sheet].iter_rows(values_only=True))
    book.close()
    header = [str(h) if h is not None else "" for h in rows[0]]
    return [dict(zip(header, r, strict=False)) for r in rows[1:] if any(v is not None for v in r)]


def assert_sheet_matches_panel(path: Path, sim: PanelSimulator, *, unknown_ok: int = 0) -> None:
    """Every order the panel accepted is in the sheet exactly once, on the row it was for.

    ``unknown_ok`` orders may be missing from the sheet when their rows are marked
    "check panel" (the reply was lost after the panel accepted them).
    """
    assert_rows_match_panel(read_orders(path), sim, unknown_ok=unknown_ok)


def cell_text(value: Any) -> str:
    """A cell as the text the panel got for it (``1001.0`` -> ``"1001"``, dates d/m/Y)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return str(value).strip()


def assert_rows_match_panel(
    rows: Sequence[dict[str, Any]], sim: PanelSimulator, *, unknown_ok: int = 0
) -> None:
    """``assert_sheet_matches_panel`` for rows already read (dicts keyed by header text).

    An order missing from the sheet must belong to a row marked "check panel" whose link is
    the order's link, one such row per missing order.
    """
    ids = [r["Order ID"] for r in rows if r.get("Order ID") is not None]
    assert len(ids) == len(set(ids)), "an order id appears twice in the sheet"
    for row in rows:
        if row.get("Order ID") is not None and int(row["Order ID"]) in sim.orders:
            target = cell_text(row.get("Link")) or cell_text(row.get("Username"))
            assert sim.orders[int(row["Order ID"])].link == target
    missing = set(sim.orders) - {int(i) for i in ids}
    ambiguous = [
        r
        for r in rows
        if r.get("Order ID") is None and str(r.get("Error") or "").startswith("check panel")
    ]
    assert len(missing) <= min(unknown_ok, len(ambiguous)), f"orders lost: {sorted(missing)}"
    unclaimed = [cell_text(r.get("Link")) or cell_text(r.get("Username")) for r in ambiguous]
    for order_id in sorted(missing):
        link = sim.orders[order_id].link
        assert link in unclaimed, f"order {order_id} ({link}) is neither in the sheet nor flagged"
        unclaimed.remove(link)


def fail_saves_after_the_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the save that marks a run (before its first paid request) through, then fail every
    later save: the run's paid requests go out and their outcomes never reach the file."""
    from smmsheet.errors import WorkbookError
    from smmsheet.workbook.xlsx import XlsxWorkbook

    real_save = XlsxWorkbook.save
    saves: list[int] = []

    def save(self: XlsxWorkbook) -> None:
        saves.append(1)
        if len(saves) > 1:
            raise WorkbookError("disk full")
        real_save(self)

    monkeypatch.setattr(XlsxWorkbook, "save", save)


@pytest.fixture(params=["stream", "tree"])
def patcher(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test through both sheet patchers of the .xlsx adapter: the fast text one and
    the lxml tree one."""
    from smmsheet.workbook.xlsx import sheet_patch

    monkeypatch.setattr(sheet_patch, "STREAM_PATCHING", request.param == "stream")
    return str(request.param)


@pytest.fixture
def rich(tmp_path: Path) -> Path:
    """A workbook with a chart, an image, validation, a table, a macro and more (xlsxwriter)."""
    from . import workbooks

    path = tmp_path / "orders.xlsx"
    workbooks.build_rich_workbook(path)
    return path


def openpyxl_orders(*rows: list[object]) -> tuple[Any, Any]:
    """An openpyxl workbook whose Orders sheet holds ``rows``: (workbook, sheet), to change
    further before saving (hyperlinks, array formulas, cells far to the right)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Orders"
    for row in rows:
        sheet.append(row)
    return book, sheet


@pytest.fixture
def fresh_patches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sheets each save patched from the file (a prepared sheet is not among them)."""
    patched: list[str] = []
    from smmsheet.workbook.xlsx import save

    real = save.patch_sheet

    def spy(xml: Any, edit: Any, date1904: bool, styles: Any, where: str, output: Any) -> Any:
        patched.append(where)
        return real(xml, edit, date1904, styles, where, output)

    monkeypatch.setattr(save, "patch_sheet", spy)
    return patched
