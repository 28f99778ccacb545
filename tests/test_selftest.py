"""The ribbon's Self-test on a user's machine as it is: a proxy, a real panel configured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from smmsheet.simulator import PanelSimulator


def _behind_a_dead_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there


def test_self_test_passes_behind_a_proxy_and_never_asks_the_users_panel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An office PC has HTTP(S)_PROXY set (Windows: the system proxy, which requests reads
    too). The simulator listens on this computer's 127.0.0.1, which no proxy can reach:
    sent through one, every step after the first failed with a ProxyError."""
    from smmsheet.selftest import run_self_test

    _behind_a_dead_proxy(monkeypatch)
    with PanelSimulator() as users_panel:
        monkeypatch.setenv("SMMSHEET_PANEL_URL", users_panel.url)
        monkeypatch.setenv("SMMSHEET_API_KEY", users_panel.api_key)
        checks = run_self_test()
        assert all(check.ok for check in checks), [(c.step, c.detail) for c in checks]
        assert sum(users_panel.counts.values()) == 0


def test_demo_runs_behind_a_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`smmsheet demo` starts its own simulator on 127.0.0.1 too: no proxy reaches it."""
    from smmsheet.cli import cli

    _behind_a_dead_proxy(monkeypatch)
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo.xlsx"), "--json"])
    assert json.loads(result.output)["ok"] is True, result.output
