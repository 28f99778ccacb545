"""Fixtures for the simulator's pure rooms: a panel's books and a responder, no HTTP.

``api("add", service=1, ...)`` sends a form the way a client does (fields given as None are
left out, the rest become text) and returns the reply as JSON would carry it; the server's
own tests (``test_server.py``) send the same forms over loopback HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from smmsheet.simulator import DEFAULT_API_KEY, DIALECTS, PanelState
from smmsheet.simulator.dialects import Reply, Responder

Call = Callable[..., Any]
Send = Callable[..., Reply]

LINK = "https://instagram.com/p/abc"


def sender(panel: PanelState, dialect: str = "standard") -> Send:
    """Send forms to ``panel`` in ``dialect``: ``send("add", service=1, ...)`` -> ``Reply``."""
    responder = Responder(panel, DIALECTS[dialect])

    def send(action: str | None = None, **params: Any) -> Reply:
        fields = {"key": DEFAULT_API_KEY, "action": action, **params}
        reply = responder.answer({k: str(v) for k, v in fields.items() if v is not None})
        return Reply(reply.status, json.loads(json.dumps(reply.body)), reply.refused)

    return send


@pytest.fixture
def panel() -> PanelState:
    return PanelState(api_key=DEFAULT_API_KEY)


@pytest.fixture
def send(panel: PanelState) -> Send:
    return sender(panel)


@pytest.fixture
def api(send: Send) -> Call:
    """Call an action and return the reply of an HTTP 200 answer."""

    def call(action: str, **params: Any) -> Any:
        reply = send(action, **params)
        assert reply.status == 200, reply
        return reply.body

    return call


def add(api: Call, service: int = 1, link: str = LINK, quantity: int = 100, **extra: Any) -> Any:
    return api("add", service=service, link=link, quantity=quantity, **extra)
