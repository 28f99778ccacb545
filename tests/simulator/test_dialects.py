"""The dialects: who may ask, and how each family of panels words its replies (no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from smmsheet.simulator import DEFAULT_API_KEY, PanelState
from smmsheet.simulator.dialects import Reply

from .conftest import LINK, Send, sender


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
def test_missing_or_wrong_key_is_refused_with_http_200(send: Send, key: str | None) -> None:
    assert send("balance", key=key) == Reply(200, {"error": "Invalid API key"}, refused=True)


@pytest.mark.parametrize("action", [None, "", "delete_everything"])
def test_unknown_action_is_an_incorrect_request(send: Send, action: str | None) -> None:
    assert send(action).body == {"error": "Incorrect request"}


def speak(dialect: str, *forms: dict[str, Any]) -> list[tuple[int, Any]]:
    """Send ``forms`` in turn to a fresh panel speaking ``dialect``; (status, reply) each."""
    send = sender(PanelState(api_key=DEFAULT_API_KEY), dialect)
    replies = [send(**form) for form in forms]
    return [(reply.status, reply.body) for reply in replies]


ADD = {"action": "add", "service": "1", "link": LINK, "quantity": "100"}


def test_success_wrapped_dialect_wraps_orders_and_words_refusals_two_ways() -> None:
    refusal = {"action": "add", "service": "999", "link": LINK, "quantity": "100"}
    assert speak("success-wrapped", ADD, refusal, refusal) == [
        (200, {"status": "success", "order": 1001}),
        (200, {"status": "fail", "message": "Incorrect service ID"}),
        (200, {"success": False, "msg": "Incorrect service ID"}),
    ]


def test_text_ids_dialect_uses_text_ids_as_values_and_keys() -> None:
    status = {"action": "status", "orders": "ORD-01HGX1001,1001"}
    [(_, placed), (_, statuses)] = speak("text-ids", ADD, status)
    assert placed == {"order": "ORD-01HGX1001"}
    assert statuses["ORD-01HGX1001"]["status"] == "Pending"
    assert statuses["1001"] == {"error": "Incorrect order ID"}


def test_cancel_list_dialect_answers_in_the_order_of_the_ids_sent() -> None:
    cancel = {"action": "cancel", "orders": "1001,77"}
    assert speak("cancel-list", ADD, cancel)[1] == (200, [1, {"error": "Incorrect order ID"}])


def test_balance_variants_dialect_words_the_balance_three_ways() -> None:
    balance = {"action": "balance"}
    replies = [reply for _, reply in speak("balance-variants", balance, balance, balance)]
    assert replies == [1000.0, "1000.00000 USD", {"amount": "1000.00000", "currency": "USD"}]


@pytest.mark.parametrize(
    ("dialect", "shape"), [("services-wrapped", "data"), ("services-keyed", "keyed")]
)
def test_services_dialects_wrap_or_key_the_list(dialect: str, shape: str) -> None:
    [(_, reply)] = speak(dialect, {"action": "services"})
    if shape == "data":
        first = reply["data"][0]
        assert first["service"] == "1" and "desc" in first and "dripfeed" not in first
    else:
        assert "service" not in reply["1"] and reply["1"]["refill"] == "1"


def test_http_errors_dialect_refuses_with_http_statuses() -> None:
    funds = {"action": "add", "service": "4", "link": LINK, "quantity": "1000000"}
    [(status, reply)] = speak("http-errors", funds)
    assert (status, reply) == (422, {"message": "Not enough funds on balance"})


def test_refill_variants_dialect_words_one_refill_two_ways_and_many_as_a_list() -> None:
    panel = PanelState(api_key=DEFAULT_API_KEY)
    send = sender(panel, "refill-variants")
    for n in (1, 2):
        send("add", service=1, link=f"{LINK}{n}", quantity=100)
        panel.set_status(1000 + n, "Completed")
    assert send("refill", order=1001).body == {"refill": "501"}
    assert send("refill", orders="1002").body == {
        "success": "Refill request has been received",
        "refill": 502,
    }
    assert send("refill", orders="1001, 77").body == [
        {"order": 1001, "refill": 503},
        {"order": 77, "error": "Incorrect order ID"},
    ]


def test_status_spellings_dialect_spells_statuses_and_leaves_pending_counts_unknown() -> None:
    panel = PanelState(api_key=DEFAULT_API_KEY, auto_progress=False)
    send = sender(panel, "status-spellings")
    send("add", service=1, link=LINK, quantity=100)
    pending = send("status", order=1001).body
    assert (pending["status"], pending["start_count"], pending["remains"]) == (
        "pending",
        "",
        "Unknown",
    )
    panel.set_status(1001, "In progress", remains=40)
    moving = send("status", orders="1001").body["1001"]
    assert (moving["status"], moving["remains"]) == ("in_progress", "40")
