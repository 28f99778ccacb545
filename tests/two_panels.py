"""Two panel simulators at once, as two profiles of a user config file (``a``, the default,
and ``b``), and a way to run the engine over a workbook through the session, as shells do."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from smmsheet.simulator import DEFAULT_API_KEY, PanelSimulator


@dataclass
class TwoPanels:
    a: PanelSimulator
    b: PanelSimulator
    config: Path


def write_config(path: Path, sims: dict[str, PanelSimulator], default: str = "a") -> Path:
    """A user config file with one profile per simulator (the key in the private file)."""
    lines = [f'default_profile = "{default}"', ""]
    for name, sim in sims.items():
        lines += [f"[profiles.{name}]", f'url = "{sim.url}"', f'api_key = "{DEFAULT_API_KEY}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@contextlib.contextmanager
def open_two(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    b_currency: str = "EUR",
    b_services: list[dict[str, Any]] | None = None,
    b_balance: str = "1000",
) -> Iterator[TwoPanels]:
    """Panel ``a`` (the default profile, USD, the seeded catalogue) and panel ``b``."""
    with (
        PanelSimulator() as a,
        PanelSimulator(currency=b_currency, services=b_services, balance=b_balance) as b,
    ):
        config = write_config(tmp_path / "config.toml", {"a": a, "b": b})
        monkeypatch.setenv("SMMSHEET_CONFIG", str(config))
        for variable in ("SMMSHEET_PANEL_URL", "SMMSHEET_API_KEY", "SMMSHEET_PROFILE"):
            monkeypatch.delenv(variable, raising=False)
        yield TwoPanels(a, b, config)


@pytest.fixture(name="two_panels")
def two_panels_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwoPanels]:
    """Panel ``a`` (the default profile, USD) and panel ``b`` (EUR), both on loopback."""
    with open_two(tmp_path, monkeypatch) as panels:
        yield panels


def run(path: Path, command: str, **options: Any) -> Any:
    """One command over a saved workbook through the session (Settings, panels, journal)."""
    from smmsheet.batch import RunOptions
    from smmsheet.session import Session

    with Session(path) as session:
        return session.run(command, RunOptions(**options))


def book(
    path: Path,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    settings: Sequence[Sequence[Any]] = (),
    routes: Sequence[Sequence[Any]] = (),
) -> Path:
    """An order workbook with an optional Settings sheet and Routes sheet (openpyxl)."""
    from .conftest import openpyxl_orders

    workbook, _ = openpyxl_orders(list(header), *(list(row) for row in rows))
    if settings:
        extra = workbook.create_sheet("Settings")
        for row in settings:
            extra.append(list(row))
    if routes:
        extra = workbook.create_sheet("Routes")
        extra.append(["Product", "Panel", "Service"])
        for row in routes:
            extra.append(list(row))
    workbook.save(path)
    return path
