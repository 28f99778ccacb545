"""SMM_* formulas and the index of recent orders, attacked: outages, odd ids, two panels."""

from __future__ import annotations

from pathlib import Path

from smmsheet.formulas import UdfPanel, smm_status
from smmsheet.panel import PanelClient
from smmsheet.recent import RecentOrders, panel_key
from smmsheet.simulator import DEFAULT_API_KEY, PanelSimulator


def test_a_panel_outage_during_a_recalculation_does_not_close_the_orders_in_the_index(
    tmp_path: Path,
) -> None:
    """Cells calculated while the panel is down show an error; the 99 orders fetched along
    are still open, so the column after the outage costs ceil(N/100) requests again, not
    one request per cell."""
    index = RecentOrders(tmp_path / "recent.sqlite")
    with PanelSimulator() as sim:
        url = sim.url
        with PanelClient(url, DEFAULT_API_KEY) as client:
            ids = [
                client.add(3, link=f"https://instagram.com/p/o{n}", quantity=100)
                for n in range(150)
            ]
    index.remember(panel_key(url), ids)
    with PanelClient(url, DEFAULT_API_KEY, retries=0, timeout=(0.5, 0.5)) as down:
        answer = smm_status(ids[0], panel=UdfPanel(down, recent=index))[0][0]
    assert str(answer).startswith("#SMM: ")
    assert len(index.open_ids(panel_key(url), ids[0], 99)) == 99


def test_ids_no_panel_gives_never_enter_the_index(tmp_path: Path) -> None:
    """The ribbon copies a workbook's journal into the index; a journal that came with a
    stranger's workbook could hold any text as an order id. One 200,000-character id (or
    one with control characters) would then ride along in every formula's request: the
    index keeps only ids as the panel client itself accepts them."""
    index = RecentOrders(tmp_path / "recent.sqlite")
    key = "http://127.0.0.1:1/api/v2"
    index.remember(key, ["x" * 200_000, "ord\n5", "ORD-7", "1001"])
    assert sorted(index.open_ids(key, "1002", 99)) == ["1001", "ORD-7"]
