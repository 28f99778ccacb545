"""The ribbon's Self-test on a user's machine as it is: a proxy, a real panel configured."""

from __future__ import annotations

import pytest

from smmsheet.simulator import PanelSimulator


def test_self_test_passes_behind_a_proxy_and_never_asks_the_users_panel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An office PC has HTTP(S)_PROXY set (Windows: the system proxy, which requests reads
    too). The simulator listens on this computer's 127.0.0.1, which no proxy can reach:
    sent through one, every step after the first failed with a ProxyError."""
    from smmsheet.selftest import run_self_test

    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    with PanelSimulator() as users_panel:
        monkeypatch.setenv("SMMSHEET_PANEL_URL", users_panel.url)
        monkeypatch.setenv("SMMSHEET_API_KEY", users_panel.api_key)
        checks = run_self_test()
        assert all(check.ok for check in checks), [(c.step, c.detail) for c in checks]
        assert sum(users_panel.counts.values()) == 0
