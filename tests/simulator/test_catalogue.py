"""The catalogue: the seeded services as listed, and each service type's rules for ``add``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from smmsheet.simulator import DEFAULT_API_KEY, PanelState, default_services, misleading_services

from .conftest import LINK, Call, add, sender


def test_services_lists_catalogue_with_numbers_as_strings(api: Call) -> None:
    services = api("services")
    by_id = {s["service"]: s for s in services}
    assert set(range(1, 22)) <= set(by_id)
    first = by_id[1]
    assert first == {
        "service": 1,
        "name": "Instagram Followers [Refill 30d]",
        "type": "Default",
        "category": "Instagram Followers",
        "rate": "0.90",
        "min": "50",
        "max": "10000",
        "refill": True,
        "cancel": True,
        "dripfeed": True,
    }
    assert all(isinstance(s["rate"], str) and isinstance(s["min"], str) for s in services)
    assert by_id[11]["type"] == "Package" and by_id[11]["rate"] == "3.00"


def test_services_keep_formula_looking_text_verbatim(api: Call) -> None:
    weird = {s["service"]: s for s in api("services")}[20]
    assert weird["name"] == '=HYPERLINK("http://evil","x")'
    assert weird["category"] == "@Weird +Category"


def test_disabled_service_is_hidden_and_refused(api: Call) -> None:
    assert 22 not in {s["service"] for s in api("services")}
    assert add(api, service=22) == {"error": "Disabled service ID"}


def test_custom_catalogue_replaces_the_seeded_one() -> None:
    custom = [dict(default_services()[2], service=77)]
    send = sender(PanelState(api_key=DEFAULT_API_KEY, services=custom, balance="5", currency="EUR"))
    assert [s["service"] for s in send("services").body] == [77]
    assert send("balance").body == {"balance": "5.00000", "currency": "EUR"}


def test_misleading_services_list_less_than_they_charge() -> None:
    panel = PanelState(api_key=DEFAULT_API_KEY, services=misleading_services())
    listed = {s["service"]: s for s in sender(panel)("services").body}
    assert "rate" not in listed[30] and listed[31]["rate"] == "N/A"
    assert "refill" not in listed[34] and "cancel" not in listed[34]
    assert "charge_rate" not in listed[30] and "package_per_1000" not in listed[33]
    order = sender(panel)("add", service=31, link=LINK, quantity=1000).body
    assert panel.orders[order["order"]].charge == Decimal("2.00000")


def test_charge_is_rounded_to_five_decimals(api: Call, panel: PanelState) -> None:
    add(api, service=21, quantity=1234)  # 0.0123 * 1234 / 1000 = 0.0151782
    assert panel.orders[1001].charge == Decimal("0.01518")
    assert api("status", order=1001)["charge"] == "0.01518"


@pytest.mark.parametrize("service", [None, "", "999", "abc"])
def test_add_with_unknown_or_missing_service_is_refused(api: Call, service: str | None) -> None:
    params = {"link": LINK, "quantity": 100}
    if service is not None:
        params["service"] = service
    assert api("add", **params) == {"error": "Incorrect service ID"}


@pytest.mark.parametrize("link", [None, "", "   "])
def test_add_without_link_is_refused(api: Call, link: str | None) -> None:
    params: dict[str, Any] = {"service": 1, "quantity": 100}
    if link is not None:
        params["link"] = link
    assert api("add", **params) == {"error": "Incorrect link"}


@pytest.mark.parametrize(
    ("quantity", "error"),
    [(49, "Quantity less than minimal 50"), (10001, "Quantity more than maximal 10000")],
)
def test_add_outside_min_max_is_refused(
    api: Call, panel: PanelState, quantity: int, error: str
) -> None:
    assert add(api, quantity=quantity) == {"error": error}
    assert panel.orders == {} and panel.balance == Decimal("1000")


@pytest.mark.parametrize("quantity", [None, "", "1.5", "-5", "1,000", "many"])
def test_add_with_malformed_quantity_is_an_incorrect_request(
    api: Call, quantity: str | None
) -> None:
    params: dict[str, Any] = {"service": 1, "link": LINK}
    if quantity is not None:
        params["quantity"] = quantity
    assert api("add", **params) == {"error": "Incorrect request"}


def test_custom_comments_quantity_is_the_number_of_non_empty_lines(
    api: Call, panel: PanelState
) -> None:
    comments = "\n".join(f"nice {i}" for i in range(12)) + "\n\n  \r\n"
    assert api("add", service=2, link=LINK, comments=comments) == {"order": 1001}
    assert panel.orders[1001].quantity == 12
    assert panel.orders[1001].charge == Decimal("0.09600")  # 8 * 12 / 1000
    too_few = "\n".join(["a"] * 9)
    assert api("add", service=2, link=LINK + "2", comments=too_few) == {
        "error": "Quantity less than minimal 10"
    }


def test_dripfeed_total_is_quantity_times_runs_with_min_max_per_run(
    api: Call, panel: PanelState
) -> None:
    assert add(api, service=1, quantity=5000, runs=3, interval=30) == {"order": 1001}
    order = panel.orders[1001]
    assert order.quantity == order.remains == 15000
    assert order.charge == Decimal("13.50000")
    assert add(api, service=1, link=LINK + "2", quantity=40, runs=10, interval=5) == {
        "error": "Quantity less than minimal 50"
    }


@pytest.mark.parametrize(
    "extra",
    [{"runs": 2}, {"interval": 10}, {"runs": 0, "interval": 10}, {"runs": 2, "interval": "x"}],
)
def test_incomplete_dripfeed_is_an_incorrect_request(api: Call, extra: dict[str, Any]) -> None:
    assert add(api, service=1, **extra) == {"error": "Incorrect request"}


def test_dripfeed_on_a_service_without_it_is_refused(api: Call) -> None:
    reply = add(api, service=4, quantity=100, runs=2, interval=10)
    assert reply == {"error": "Drip-feed is disabled for this service"}


def test_package_charges_the_rate_per_package(api: Call, panel: PanelState) -> None:
    assert api("add", service=11, link=LINK) == {"order": 1001}
    assert panel.orders[1001].charge == Decimal("3.00000")
    assert panel.orders[1001].quantity == 1
    assert panel.balance == Decimal("997")


def test_custom_comments_package_charges_per_package(api: Call, panel: PanelState) -> None:
    assert api("add", service=19, link=LINK, comments="a\nb\nc") == {"order": 1001}
    assert (panel.orders[1001].quantity, panel.orders[1001].charge) == (3, Decimal("2.00000"))


#: A valid ``add`` form per service type; every listed field is required.
VALID_FORMS: dict[int, dict[str, Any]] = {
    1: {"link": LINK, "quantity": 100},
    2: {"link": LINK, "comments": "\n".join(["x"] * 10)},
    5: {"link": LINK, "quantity": 100, "usernames": "a\nb"},
    6: {"link": LINK, "usernames": "\n".join(f"user{i}" for i in range(10))},
    7: {"link": LINK, "quantity": 100, "hashtag": "cats"},
    8: {"link": LINK, "quantity": 100, "username": "someone"},
    9: {"link": LINK, "quantity": 100, "media": "https://instagram.com/p/m"},
    10: {"link": LINK, "quantity": 100, "usernames": "a\nb", "hashtags": "#x\n#y"},
    11: {"link": LINK},
    12: {"link": LINK, "quantity": 100, "keywords": "cheap shoes"},
    13: {"link": LINK, "quantity": 100, "username": "commenter"},
    14: {"link": LINK, "quantity": 100, "answer_number": "2"},
    15: {"link": LINK, "quantity": 100, "groups": "g1\ng2"},
    16: {"link": LINK, "username": "commenter", "comments": "\n".join(["r"] * 5)},
    17: {"username": "target", "min": 100, "max": 200, "delay": 30},
    18: {"link": LINK, "quantity": 1000},
    19: {"link": LINK, "comments": "one"},
}


@pytest.mark.parametrize("service", sorted(VALID_FORMS))
def test_every_service_type_accepts_its_documented_fields(
    api: Call, panel: PanelState, service: int
) -> None:
    assert api("add", service=service, **VALID_FORMS[service]) == {"order": 1001}
    assert panel.orders[1001].service == service


@pytest.mark.parametrize(
    ("service", "missing"),
    [(s, name) for s, form in sorted(VALID_FORMS.items()) for name in form],
)
def test_every_required_field_is_enforced(api: Call, service: int, missing: str) -> None:
    form = {k: v for k, v in VALID_FORMS[service].items() if k != missing}
    reply = api("add", service=service, **form)
    expected = "Incorrect link" if missing == "link" else "Incorrect request"
    assert reply == {"error": expected}


@pytest.mark.parametrize("delay", [0, 5, 10, 15, 30, 60, 90, 120, 600])
def test_subscription_accepts_the_documented_delays(api: Call, delay: int) -> None:
    assert "order" in api("add", service=17, **dict(VALID_FORMS[17], delay=delay))


@pytest.mark.parametrize("delay", [1, 20, 45, 75, 630, -5, "soon"])
def test_subscription_refuses_other_delays(api: Call, delay: Any) -> None:
    reply = api("add", service=17, **dict(VALID_FORMS[17], delay=delay))
    assert reply == {"error": "Incorrect request"}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"min": 300, "max": 200}, "Incorrect request"),
        ({"min": 10}, "Quantity less than minimal 50"),
        ({"max": 9000}, "Quantity more than maximal 5000"),
        ({"expiry": "2025-12-31"}, "Incorrect request"),
        ({"posts": 0}, "Incorrect request"),
    ],
)
def test_subscription_validates_min_max_posts_and_expiry(
    api: Call, change: dict[str, Any], error: str
) -> None:
    reply = api("add", service=17, **dict(VALID_FORMS[17], **change))
    assert reply == {"error": error}


def test_subscription_charges_max_per_post(api: Call, panel: PanelState) -> None:
    form = dict(VALID_FORMS[17], posts=5, old_posts=2, expiry="31/12/2030")
    assert api("add", service=17, **form) == {"order": 1001}
    order = panel.orders[1001]
    assert (order.link, order.quantity, order.charge) == ("target", 1000, Decimal("0.30000"))


@pytest.mark.parametrize(
    "change",
    [
        {"device": 6},
        {"device": 0},
        {"type_of_traffic": 4},
        {"type_of_traffic": 1},
        {"type_of_traffic": 2},
    ],
)
def test_web_traffic_validates_device_and_traffic_type(api: Call, change: dict[str, Any]) -> None:
    reply = api("add", service=18, **dict(VALID_FORMS[18], **change))
    assert reply == {"error": "Incorrect request"}


def test_web_traffic_accepts_full_options_with_dripfeed(api: Call, panel: PanelState) -> None:
    form = dict(VALID_FORMS[18], country="US", device=5, type_of_traffic=1, google_keyword="x")
    assert api("add", service=18, runs=2, interval=60, **form) == {"order": 1001}
    assert panel.orders[1001].quantity == 2000
