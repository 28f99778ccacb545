"""Shared fixtures: the panel simulator on a free loopback port, order workbooks in tmp_path."""

from __future__ import annotations

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
    monkeypatch.setenv("SMMSHEET_PANEL_URL", sim.url)
    monkeypatch.setenv("SMMSHEET_API_KEY", DEFAULT_API_KEY)
    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("SMMSHEET_PROFILE", raising=False)
    return sim


def make_orders_book(
    path: Path,
    rows: Sequence[Sequence[Any]],
    header: Sequence[str] = ORDER_HEADER,
    *,
    extra_sheets: bool = False,
) -> Path:
    """Write an order workbook with openpyxl (a real .xlsx) and return its path."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Orders"
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
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
    rows = read_orders(path)
    ids = [r["Order ID"] for r in rows if r.get("Order ID") is not None]
    assert len(ids) == len(set(ids)), "an order id appears twice in the sheet"
    for row in rows:
        if row.get("Order ID") is not None and int(row["Order ID"]) in sim.orders:
            assert sim.orders[int(row["Order ID"])].link == (row["Link"] or row.get("Username"))
    missing = set(sim.orders) - {int(i) for i in ids}
    ambiguous = [r for r in rows if str(r.get("Error") or "").startswith("check panel")]
    assert len(missing) <= min(unknown_ok, len(ambiguous)), f"orders lost: {sorted(missing)}"
