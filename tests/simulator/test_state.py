"""The panel's books: charging, order ids, progress, refills and cancels (no HTTP)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from smmsheet.simulator import DEFAULT_API_KEY, PanelState, SimOrder

from .conftest import LINK, Call, add, sender


def test_balance_is_a_five_decimal_string(api: Call) -> None:
    assert api("balance") == {"balance": "1000.00000", "currency": "USD"}


def test_add_charges_rate_per_thousand_and_creates_a_pending_order(
    api: Call, panel: PanelState
) -> None:
    assert add(api, service=1, quantity=150) == {"order": 1001}
    assert panel.balance == Decimal("1000") - Decimal("0.135")
    order = panel.orders[1001]
    assert (order.service, order.link, order.quantity, order.remains) == (1, LINK, 150, 150)
    assert order.status == "Pending" and order.charge == Decimal("0.13500")
    assert order.fields == {"service": "1", "link": LINK, "quantity": "150"}
    assert order.currency == "USD" and order.created <= time.time()


def test_order_ids_are_sequential_from_1001(api: Call) -> None:
    ids = [add(api, link=f"{LINK}{i}")["order"] for i in range(3)]
    assert ids == [1001, 1002, 1003]


def test_start_count_is_reproducible_from_the_seed() -> None:
    def first_start_count(seed: int) -> int:
        panel = PanelState(api_key=DEFAULT_API_KEY, seed=seed)
        sender(panel)("add", service=1, link=LINK, quantity=100)
        return panel.orders[1001].start_count

    assert first_start_count(7) == first_start_count(7)


def test_not_enough_funds_is_refused_and_nothing_charged() -> None:
    panel = PanelState(api_key=DEFAULT_API_KEY, balance="0.10")
    send = sender(panel)
    reply = send("add", service=4, link=LINK, quantity=100).body
    assert reply == {"error": "Not enough funds on balance"}
    assert panel.orders == {} and panel.balance == Decimal("0.10")
    panel.balance = Decimal("0.12")  # exactly the charge: accepted
    assert send("add", service=4, link=LINK, quantity=100).body == {"order": 1001}
    assert panel.balance == 0


def test_active_order_with_same_link_and_service_is_refused_until_final(
    api: Call, panel: PanelState
) -> None:
    add(api, service=1)
    assert add(api, service=1) == {
        "error": "You have active order with this link. Please wait until order being completed."
    }
    assert add(api, service=4) == {"order": 1002}  # another service may use the link
    panel.set_status(1001, "Completed")
    assert add(api, service=1) == {"order": 1003}


def test_an_order_put_straight_into_the_books_blocks_its_link_too(
    api: Call, panel: PanelState
) -> None:
    panel.add_orders(
        [
            SimOrder(1001, 1, LINK, 100, Decimal("0.09"), 0, 100, "In progress", "USD", {}, 0.0),
            SimOrder(1002, 1, LINK + "x", 100, Decimal("0.09"), 0, 0, "Completed", "USD", {}, 0.0),
        ]
    )
    assert "active order" in add(api, service=1)["error"]
    assert add(api, service=1, link=LINK + "x") == {"order": 1003}  # its order is final


# -- status and progression ---------------------------------------------------------------------


def test_status_reports_strings_and_progresses_after_each_read(api: Call) -> None:
    add(api, quantity=150)
    first = api("status", order=1001)
    assert first == {
        "charge": "0.13500",
        "start_count": first["start_count"],
        "status": "Pending",
        "remains": "150",
        "currency": "USD",
    }
    assert first["start_count"].isdigit()
    second = api("status", order="1001")
    assert (second["status"], second["remains"]) == ("In progress", "75")
    third = api("status", order=1001)
    assert (third["status"], third["remains"]) == ("Completed", "0")
    assert api("status", order=1001)["status"] == "Completed"


@pytest.mark.parametrize("order", [None, "", "4242", "abc"])
def test_status_of_unknown_order_is_refused(api: Call, order: str | None) -> None:
    params = {"order": order} if order is not None else {}
    assert api("status", **params) == {"error": "Incorrect order ID"}


def test_multi_status_is_keyed_by_id_with_per_id_errors(api: Call) -> None:
    add(api, link=LINK + "1")
    add(api, link=LINK + "2")
    reply = api("status", orders=" 1001, 9999 ,abc,1002")
    assert list(reply) == ["1001", "9999", "abc", "1002"]
    assert reply["1001"]["status"] == reply["1002"]["status"] == "Pending"
    assert reply["9999"] == reply["abc"] == {"error": "Incorrect order ID"}
    again = api("status", orders="1001,1001")
    assert list(again) == ["1001"] and again["1001"]["status"] == "In progress"


@pytest.mark.parametrize(
    ("action", "param"),
    [
        ("status", "orders"),
        ("refill", "orders"),
        ("refill_status", "refills"),
        ("cancel", "orders"),
    ],
)
def test_more_than_100_ids_are_refused(api: Call, action: str, param: str) -> None:
    many = ",".join(str(1001 + i) for i in range(101))
    assert api(action, **{param: many}) == {"error": "Incorrect request"}
    exactly = ",".join(str(1001 + i) for i in range(100))
    assert "error" not in api(action, **{param: exactly})


def test_without_auto_progress_orders_move_only_on_advance() -> None:
    panel = PanelState(api_key=DEFAULT_API_KEY, auto_progress=False)
    send = sender(panel)
    send("add", service=1, link=LINK, quantity=100)
    for _ in range(3):
        assert send("status", order=1001).body["status"] == "Pending"
    panel.advance()
    assert panel.orders[1001].status == "In progress"
    panel.advance(5)
    assert (panel.orders[1001].status, panel.orders[1001].remains) == ("Completed", 0)


def test_partial_links_on_service_3_end_partial_with_a_refund(api: Call, panel: PanelState) -> None:
    add(api, service=3, link="https://instagram.com/p/partial-1", quantity=1000)
    assert panel.balance == Decimal("999.75")
    panel.advance(2)
    final = api("status", order=1001)
    assert final["status"] == "Partial"
    remains = int(final["remains"])
    assert 0 < remains < 1000
    refund = Decimal("0.25") * remains / 1000
    assert Decimal(final["charge"]) == Decimal("0.25") - refund
    assert panel.balance + panel.orders[1001].charge == Decimal("1000")


def test_partial_marker_only_applies_to_service_3(api: Call, panel: PanelState) -> None:
    add(api, service=1, link="https://instagram.com/p/partial-1")
    panel.advance(2)
    assert panel.orders[1001].status == "Completed"


def test_set_status_forces_a_state(api: Call, panel: PanelState) -> None:
    add(api)
    panel.set_status(1001, "Processing", remains=42)
    assert api("status", order=1001)["remains"] == "42"
    panel.set_status(1001, "Canceled")
    assert api("status", order=1001)["status"] == "Canceled"
    with pytest.raises(KeyError):
        panel.set_status(4242, "Completed")


# -- refill ---------------------------------------------------------------------------------------


def test_refill_of_a_completed_order_then_its_status_progresses(
    api: Call, panel: PanelState
) -> None:
    add(api, service=1)
    panel.set_status(1001, "Completed")
    assert api("refill", order=1001) == {"refill": "501"}
    assert panel.refills[501].order_id == 1001
    statuses = [api("refill_status", refill=501)["status"] for _ in range(4)]
    assert statuses == ["Pending", "In progress", "Completed", "Completed"]


def test_refill_of_a_partial_order_is_accepted(api: Call, panel: PanelState) -> None:
    add(api, service=4)
    panel.set_status(1001, "Partial", remains=10)
    assert api("refill", order=1001) == {"refill": "501"}


def test_refill_errors(api: Call, panel: PanelState) -> None:
    add(api, service=3)
    add(api, service=1)
    panel.set_status(1001, "Completed")
    assert api("refill", order=4242) == {"error": "Incorrect order ID"}
    assert api("refill", order=1001) == {"error": "Refill is disabled for this service"}
    assert api("refill", order=1002) == {"error": "Order is not completed"}
    assert panel.refills == {}


def test_multi_refill_lists_results_in_request_order(api: Call, panel: PanelState) -> None:
    add(api, service=1, link=LINK + "1")
    add(api, service=4, link=LINK + "2")
    panel.set_status(1001, "Completed")
    panel.set_status(1002, "Completed")
    reply = api("refill", orders="1002, 3 ,1001")
    assert reply == [
        {"order": 1002, "refill": 501},
        {"order": 3, "refill": {"error": "Incorrect order ID"}},
        {"order": 1001, "refill": 502},
    ]


def test_refill_for_reject_links_ends_rejected(api: Call, panel: PanelState) -> None:
    add(api, service=1, link="https://instagram.com/reject-me")
    panel.set_status(1001, "Completed")
    api("refill", order=1001)
    panel.advance(2)
    assert api("refill_status", refill=501) == {"status": "Rejected"}


def test_multi_refill_status_lists_per_id_errors(api: Call, panel: PanelState) -> None:
    add(api, service=1)
    panel.set_status(1001, "Completed")
    api("refill", order=1001)
    assert api("refill_status", refills="501, 3") == [
        {"refill": 501, "status": "Pending"},
        {"refill": 3, "status": {"error": "Refill not found"}},
    ]
    assert api("refill_status", refill=77) == {"error": "Refill not found"}


# -- cancel ---------------------------------------------------------------------------------------


def test_cancel_refunds_and_keeps_remains(api: Call, panel: PanelState) -> None:
    add(api, service=1, quantity=1000)
    assert panel.balance == Decimal("999.1")
    assert api("cancel", orders="1001") == [{"order": 1001, "cancel": 1}]
    assert panel.balance == Decimal("1000")
    status = api("status", order=1001)
    assert (status["status"], status["remains"], status["charge"]) == (
        "Canceled",
        "1000",
        "0.00000",
    )


def test_multi_cancel_reports_each_reason_in_request_order(api: Call, panel: PanelState) -> None:
    add(api, service=1, link=LINK + "1")  # 1001 cancelable
    add(api, service=3, link=LINK + "2")  # 1002 cancel disabled
    add(api, service=4, link=LINK + "3")  # 1003 completed
    panel.set_status(1003, "Completed")
    reply = api("cancel", orders="9, 1003,1002 , 1001")
    assert reply == [
        {"order": 9, "cancel": {"error": "Incorrect order ID"}},
        {"order": 1003, "cancel": {"error": "Order cannot be canceled"}},
        {"order": 1002, "cancel": {"error": "Cancel is disabled for this service"}},
        {"order": 1001, "cancel": 1},
    ]


def test_cancel_accepts_a_single_order(api: Call) -> None:
    add(api, service=1)
    assert api("cancel", order=1001) == {"cancel": 1}
    assert api("cancel", order=1001) == {"error": "Order cannot be canceled"}
    assert api("cancel", order=5) == {"error": "Incorrect order ID"}


# -- set up directly ------------------------------------------------------------------------------


def test_orders_put_in_directly_are_reported_and_the_next_add_follows_them(
    api: Call, panel: PanelState
) -> None:
    seeded = [
        SimOrder(
            id=order_id,
            service=1,
            link=f"{LINK}/{order_id}",
            quantity=100,
            charge=Decimal("0.09000"),
            start_count=7,
            remains=100,
            status="In progress",
            currency="USD",
            fields={},
            created=0.0,
        )
        for order_id in (1001, 1002)
    ]
    panel.add_orders(seeded)
    assert panel.balance == Decimal("1000")  # nothing charged
    assert api("status", order=1002)["status"] == "In progress"
    assert panel.next_order_id == 1003 and add(api) == {"order": 1003}
