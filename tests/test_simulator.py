"""The simulator is a real API v2 panel: every test talks to it over loopback HTTP."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from smmsheet.simulator import DEFAULT_API_KEY, Faults, PanelSimulator, default_services

Call = Callable[..., Any]

LINK = "https://instagram.com/p/abc"


@pytest.fixture
def sim() -> Iterator[PanelSimulator]:
    with PanelSimulator() as simulator:
        yield simulator


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.fixture
def post(sim: PanelSimulator, session: requests.Session) -> Callable[..., requests.Response]:
    """POST one form to the simulator with the right key unless the test overrides it."""

    def send(action: str | None = None, **params: Any) -> requests.Response:
        form = {"key": sim.api_key, **params}
        if action is not None:
            form["action"] = action
        return session.post(sim.url, data=form, timeout=5)

    return send


@pytest.fixture
def api(post: Callable[..., requests.Response]) -> Call:
    """Call an action and return the decoded JSON of an HTTP 200 reply."""

    def call(action: str, **params: Any) -> Any:
        response = post(action, **params)
        assert response.status_code == 200, response.text
        return response.json()

    return call


def add(api: Call, service: int = 1, link: str = LINK, quantity: int = 100, **extra: Any) -> Any:
    return api("add", service=service, link=link, quantity=quantity, **extra)


# -- catalogue, balance, key ------------------------------------------------------------------


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
    with PanelSimulator(services=custom, balance="5", currency="EUR") as sim:
        form = {"key": DEFAULT_API_KEY, "action": "services"}
        assert [s["service"] for s in requests.post(sim.url, data=form, timeout=5).json()] == [77]
        form["action"] = "balance"
        assert requests.post(sim.url, data=form, timeout=5).json() == {
            "balance": "5.00000",
            "currency": "EUR",
        }


def test_balance_is_a_five_decimal_string(api: Call) -> None:
    assert api("balance") == {"balance": "1000.00000", "currency": "USD"}


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
def test_missing_or_wrong_key_is_refused_with_http_200(
    post: Callable[..., requests.Response], key: str | None
) -> None:
    response = post("balance", key=key)  # requests leaves a None field out of the form
    assert response.status_code == 200
    assert response.json() == {"error": "Invalid API key"}


def test_key_in_the_url_is_not_accepted(sim: PanelSimulator) -> None:
    url = f"{sim.url}?key={sim.api_key}&action=balance"
    assert requests.post(url, timeout=5).json() == {"error": "Invalid API key"}


@pytest.mark.parametrize("action", [None, "", "delete_everything"])
def test_unknown_action_is_an_incorrect_request(
    post: Callable[..., requests.Response], action: str | None
) -> None:
    assert post(action).json() == {"error": "Incorrect request"}


def test_other_paths_are_404_html_and_get_is_405(sim: PanelSimulator) -> None:
    base = sim.url.removesuffix("/api/v2")
    missing = requests.post(f"{base}/api/v1", data={"key": sim.api_key}, timeout=5)
    assert missing.status_code == 404 and "<html" in missing.text
    get = requests.get(sim.url, timeout=5)
    assert get.status_code == 405 and get.headers["Allow"] == "POST"


def test_keep_alive_serves_many_requests_on_one_connection(sim: PanelSimulator) -> None:
    host, port = sim.url.split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    for _ in range(3):
        conn.request("POST", "/api/v2", body=f"key={sim.api_key}&action=balance", headers=headers)
        response = conn.getresponse()
        assert response.status == 200 and b'"balance"' in response.read()
    conn.request("GET", "/nowhere")
    assert conn.getresponse().status == 404
    conn.close()


# -- add ----------------------------------------------------------------------------------------


def test_add_charges_rate_per_thousand_and_creates_a_pending_order(
    api: Call, sim: PanelSimulator
) -> None:
    assert add(api, service=1, quantity=150) == {"order": 1001}
    assert sim.balance == Decimal("1000") - Decimal("0.135")
    order = sim.orders[1001]
    assert (order.service, order.link, order.quantity, order.remains) == (1, LINK, 150, 150)
    assert order.status == "Pending" and order.charge == Decimal("0.13500")
    assert order.fields == {"service": "1", "link": LINK, "quantity": "150"}
    assert order.currency == "USD" and order.created <= time.time()


def test_order_ids_are_sequential_from_1001(api: Call) -> None:
    ids = [add(api, link=f"{LINK}{i}")["order"] for i in range(3)]
    assert ids == [1001, 1002, 1003]


def test_start_count_is_reproducible_from_the_seed() -> None:
    def first_start_count(seed: int) -> int:
        with PanelSimulator(seed=seed) as sim:
            form = {"key": sim.api_key, "action": "add", "service": 1, "link": LINK}
            requests.post(sim.url, data={**form, "quantity": 100}, timeout=5)
            return sim.orders[1001].start_count

    assert first_start_count(7) == first_start_count(7)


def test_charge_is_rounded_to_five_decimals(api: Call, sim: PanelSimulator) -> None:
    add(api, service=21, quantity=1234)  # 0.0123 * 1234 / 1000 = 0.0151782
    assert sim.orders[1001].charge == Decimal("0.01518")
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
    api: Call, sim: PanelSimulator, quantity: int, error: str
) -> None:
    assert add(api, quantity=quantity) == {"error": error}
    assert sim.orders == {} and sim.balance == Decimal("1000")


@pytest.mark.parametrize("quantity", [None, "", "1.5", "-5", "1,000", "many"])
def test_add_with_malformed_quantity_is_an_incorrect_request(
    api: Call, quantity: str | None
) -> None:
    params: dict[str, Any] = {"service": 1, "link": LINK}
    if quantity is not None:
        params["quantity"] = quantity
    assert api("add", **params) == {"error": "Incorrect request"}


def test_custom_comments_quantity_is_the_number_of_non_empty_lines(
    api: Call, sim: PanelSimulator
) -> None:
    comments = "\n".join(f"nice {i}" for i in range(12)) + "\n\n  \r\n"
    assert api("add", service=2, link=LINK, comments=comments) == {"order": 1001}
    assert sim.orders[1001].quantity == 12
    assert sim.orders[1001].charge == Decimal("0.09600")  # 8 * 12 / 1000
    too_few = "\n".join(["a"] * 9)
    assert api("add", service=2, link=LINK + "2", comments=too_few) == {
        "error": "Quantity less than minimal 10"
    }


def test_dripfeed_total_is_quantity_times_runs_with_min_max_per_run(
    api: Call, sim: PanelSimulator
) -> None:
    assert add(api, service=1, quantity=5000, runs=3, interval=30) == {"order": 1001}
    order = sim.orders[1001]
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


def test_package_charges_the_rate_per_package(api: Call, sim: PanelSimulator) -> None:
    assert api("add", service=11, link=LINK) == {"order": 1001}
    assert sim.orders[1001].charge == Decimal("3.00000")
    assert sim.orders[1001].quantity == 1
    assert sim.balance == Decimal("997")


def test_custom_comments_package_charges_per_package(api: Call, sim: PanelSimulator) -> None:
    assert api("add", service=19, link=LINK, comments="a\nb\nc") == {"order": 1001}
    assert (sim.orders[1001].quantity, sim.orders[1001].charge) == (3, Decimal("2.00000"))


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
    api: Call, sim: PanelSimulator, service: int
) -> None:
    assert api("add", service=service, **VALID_FORMS[service]) == {"order": 1001}
    assert sim.orders[1001].service == service


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


def test_subscription_charges_max_per_post(api: Call, sim: PanelSimulator) -> None:
    form = dict(VALID_FORMS[17], posts=5, old_posts=2, expiry="31/12/2030")
    assert api("add", service=17, **form) == {"order": 1001}
    order = sim.orders[1001]
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


def test_web_traffic_accepts_full_options_with_dripfeed(api: Call, sim: PanelSimulator) -> None:
    form = dict(VALID_FORMS[18], country="US", device=5, type_of_traffic=1, google_keyword="x")
    assert api("add", service=18, runs=2, interval=60, **form) == {"order": 1001}
    assert sim.orders[1001].quantity == 2000


def test_not_enough_funds_is_refused_and_nothing_charged() -> None:
    with PanelSimulator(balance="0.10") as sim:
        form = {"key": sim.api_key, "action": "add", "service": 4, "link": LINK}
        reply = requests.post(sim.url, data={**form, "quantity": 100}, timeout=5).json()
        assert reply == {"error": "Not enough funds on balance"}
        assert sim.orders == {} and sim.balance == Decimal("0.10")
        sim.balance = Decimal("0.12")  # exactly the charge: accepted
        assert requests.post(sim.url, data={**form, "quantity": 100}, timeout=5).json() == {
            "order": 1001
        }
        assert sim.balance == 0


def test_active_order_with_same_link_and_service_is_refused_until_final(
    api: Call, sim: PanelSimulator
) -> None:
    add(api, service=1)
    assert add(api, service=1) == {
        "error": "You have active order with this link. Please wait until order being completed."
    }
    assert add(api, service=4) == {"order": 1002}  # another service may use the link
    sim.set_status(1001, "Completed")
    assert add(api, service=1) == {"order": 1003}


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
    with PanelSimulator(auto_progress=False) as sim:
        form = {"key": sim.api_key, "action": "add", "service": 1, "link": LINK}
        requests.post(sim.url, data={**form, "quantity": 100}, timeout=5)
        status = {"key": sim.api_key, "action": "status", "order": 1001}
        for _ in range(3):
            assert requests.post(sim.url, data=status, timeout=5).json()["status"] == "Pending"
        sim.advance()
        assert sim.orders[1001].status == "In progress"
        sim.advance(5)
        assert (sim.orders[1001].status, sim.orders[1001].remains) == ("Completed", 0)


def test_partial_links_on_service_3_end_partial_with_a_refund(
    api: Call, sim: PanelSimulator
) -> None:
    add(api, service=3, link="https://instagram.com/p/partial-1", quantity=1000)
    assert sim.balance == Decimal("999.75")
    sim.advance(2)
    final = api("status", order=1001)
    assert final["status"] == "Partial"
    remains = int(final["remains"])
    assert 0 < remains < 1000
    refund = Decimal("0.25") * remains / 1000
    assert Decimal(final["charge"]) == Decimal("0.25") - refund
    assert sim.balance + sim.orders[1001].charge == Decimal("1000")


def test_partial_marker_only_applies_to_service_3(api: Call, sim: PanelSimulator) -> None:
    add(api, service=1, link="https://instagram.com/p/partial-1")
    sim.advance(2)
    assert sim.orders[1001].status == "Completed"


def test_set_status_forces_a_state(api: Call, sim: PanelSimulator) -> None:
    add(api)
    sim.set_status(1001, "Processing", remains=42)
    assert api("status", order=1001)["remains"] == "42"
    sim.set_status(1001, "Canceled")
    assert api("status", order=1001)["status"] == "Canceled"
    with pytest.raises(KeyError):
        sim.set_status(4242, "Completed")


# -- refill ---------------------------------------------------------------------------------------


def test_refill_of_a_completed_order_then_its_status_progresses(
    api: Call, sim: PanelSimulator
) -> None:
    add(api, service=1)
    sim.set_status(1001, "Completed")
    assert api("refill", order=1001) == {"refill": "501"}
    assert sim.refills[501].order_id == 1001
    statuses = [api("refill_status", refill=501)["status"] for _ in range(4)]
    assert statuses == ["Pending", "In progress", "Completed", "Completed"]


def test_refill_of_a_partial_order_is_accepted(api: Call, sim: PanelSimulator) -> None:
    add(api, service=4)
    sim.set_status(1001, "Partial", remains=10)
    assert api("refill", order=1001) == {"refill": "501"}


def test_refill_errors(api: Call, sim: PanelSimulator) -> None:
    add(api, service=3)
    add(api, service=1)
    sim.set_status(1001, "Completed")
    assert api("refill", order=4242) == {"error": "Incorrect order ID"}
    assert api("refill", order=1001) == {"error": "Refill is disabled for this service"}
    assert api("refill", order=1002) == {"error": "Order is not completed"}
    assert sim.refills == {}


def test_multi_refill_lists_results_in_request_order(api: Call, sim: PanelSimulator) -> None:
    add(api, service=1, link=LINK + "1")
    add(api, service=4, link=LINK + "2")
    sim.set_status(1001, "Completed")
    sim.set_status(1002, "Completed")
    reply = api("refill", orders="1002, 3 ,1001")
    assert reply == [
        {"order": 1002, "refill": 501},
        {"order": 3, "refill": {"error": "Incorrect order ID"}},
        {"order": 1001, "refill": 502},
    ]


def test_refill_for_reject_links_ends_rejected(api: Call, sim: PanelSimulator) -> None:
    add(api, service=1, link="https://instagram.com/reject-me")
    sim.set_status(1001, "Completed")
    api("refill", order=1001)
    sim.advance(2)
    assert api("refill_status", refill=501) == {"status": "Rejected"}


def test_multi_refill_status_lists_per_id_errors(api: Call, sim: PanelSimulator) -> None:
    add(api, service=1)
    sim.set_status(1001, "Completed")
    api("refill", order=1001)
    assert api("refill_status", refills="501, 3") == [
        {"refill": 501, "status": "Pending"},
        {"refill": 3, "status": {"error": "Refill not found"}},
    ]
    assert api("refill_status", refill=77) == {"error": "Refill not found"}


# -- cancel ---------------------------------------------------------------------------------------


def test_cancel_refunds_and_keeps_remains(api: Call, sim: PanelSimulator) -> None:
    add(api, service=1, quantity=1000)
    assert sim.balance == Decimal("999.1")
    assert api("cancel", orders="1001") == [{"order": 1001, "cancel": 1}]
    assert sim.balance == Decimal("1000")
    status = api("status", order=1001)
    assert (status["status"], status["remains"], status["charge"]) == (
        "Canceled",
        "1000",
        "0.00000",
    )


def test_multi_cancel_reports_each_reason_in_request_order(api: Call, sim: PanelSimulator) -> None:
    add(api, service=1, link=LINK + "1")  # 1001 cancelable
    add(api, service=3, link=LINK + "2")  # 1002 cancel disabled
    add(api, service=4, link=LINK + "3")  # 1003 completed
    sim.set_status(1003, "Completed")
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


# -- faults ---------------------------------------------------------------------------------------


def test_latency_delays_every_reply(api: Call, sim: PanelSimulator) -> None:
    sim.faults.latency = 0.05
    started = time.perf_counter()
    api("balance")
    assert time.perf_counter() - started >= 0.05


@pytest.mark.parametrize(
    ("knob", "kind"), [("error_rate", "5xx"), ("html_rate", "html"), ("garbage_rate", "garbage")]
)
def test_failed_replies_are_not_processed(
    post: Callable[..., requests.Response], sim: PanelSimulator, knob: str, kind: str
) -> None:
    setattr(sim.faults, knob, 1.0)
    response = post("add", service=1, link=LINK, quantity=100)
    with pytest.raises(ValueError):
        response.json()
    if kind == "5xx":
        assert response.status_code == 502
    elif kind == "html":
        assert response.status_code in (200, 503) and "Just a moment..." in response.text
    else:
        assert response.status_code == 200
    assert sim.orders == {} and sim.balance == Decimal("1000")
    assert sim.counts[f"fault:{kind}"] == 1 and sim.counts["add"] == 1
    setattr(sim.faults, knob, 0.0)
    assert post("add", service=1, link=LINK, quantity=100).json() == {"order": 1001}


def test_fault_rolls_are_reproducible_from_the_seed() -> None:
    def codes(seed: int) -> list[int]:
        with PanelSimulator(seed=seed, faults=Faults(error_rate=0.5)) as sim:
            form = {"key": sim.api_key, "action": "balance"}
            return [requests.post(sim.url, data=form, timeout=5).status_code for _ in range(20)]

    first = codes(3)
    assert first == codes(3)
    assert {200, 502} == set(first)


def test_too_many_concurrent_requests_get_429_with_retry_after(sim: PanelSimulator) -> None:
    sim.faults = Faults(latency=0.2, max_concurrency=1, retry_after=2.5)
    barrier = threading.Barrier(4)
    responses: list[requests.Response] = []

    def call() -> None:
        barrier.wait()
        form = {"key": sim.api_key, "action": "add", "service": 1, "link": LINK, "quantity": 100}
        responses.append(requests.post(sim.url, data=form, timeout=5))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    limited = [r for r in responses if r.status_code == 429]
    assert limited and len(limited) < 4
    assert all(r.headers["Retry-After"] == "2.5" for r in limited)
    assert all(r.json() == {"error": "Too many requests"} for r in limited)
    assert sim.counts["fault:429"] == len(limited) and sim.counts["add"] == 4
    assert len(sim.orders) == 1  # the other three were not processed


def test_retry_after_defaults_to_one_second(sim: PanelSimulator, api: Call) -> None:
    sim.faults.max_concurrency = 0
    response = requests.post(sim.url, data={"key": sim.api_key, "action": "balance"}, timeout=5)
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"


def test_dropped_add_reply_still_places_and_charges_the_order(
    post: Callable[..., requests.Response], sim: PanelSimulator
) -> None:
    sim.faults.drop_after_accept = 1.0
    with pytest.raises(requests.ConnectionError):
        post("add", service=1, link=LINK, quantity=100)
    assert list(sim.orders) == [1001] and sim.balance == Decimal("999.91")
    assert sim.counts["fault:drop"] == 1
    assert post("status", order=1001).json()["status"] == "Pending"  # only adds are dropped
    assert post("add", service=1, link=LINK, quantity=100).json()["error"].startswith("You have")


def test_counts_per_action_and_reset(api: Call, sim: PanelSimulator) -> None:
    add(api)
    api("status", order=1001)
    api("status", order=1001)
    api("balance")
    assert sim.counts["status"] == 2 and sim.counts["add"] == 1 and sim.counts["balance"] == 1
    assert sim.counts["requests"] == 4
    sim.reset_counts()
    assert sim.counts == {}


def test_concurrent_adds_are_thread_safe(sim: PanelSimulator) -> None:
    def worker(index: int) -> None:
        with requests.Session() as s:
            for n in range(25):
                form = {"key": sim.api_key, "action": "add", "service": 3, "quantity": 100}
                reply = s.post(sim.url, data={**form, "link": f"{LINK}/{index}/{n}"}, timeout=5)
                assert "order" in reply.json()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(sim.orders) == list(range(1001, 1201))
    assert sim.balance == Decimal("1000") - 200 * Decimal("0.025")
    assert sim.counts["add"] == 200


# -- lifecycle ------------------------------------------------------------------------------------


def test_url_needs_a_started_simulator() -> None:
    with pytest.raises(RuntimeError):
        _ = PanelSimulator().url


def test_stop_closes_kept_alive_connections(session: requests.Session) -> None:
    sim = PanelSimulator().start()
    form = {"key": sim.api_key, "action": "balance"}
    assert session.post(sim.url, data=form, timeout=5).status_code == 200
    url = sim.url
    sim.stop()
    with pytest.raises(requests.ConnectionError):
        session.post(url, data=form, timeout=5)
    sim.stop()  # idempotent


def test_serve_forever_blocks_until_stopped() -> None:
    sim = PanelSimulator()
    thread = threading.Thread(target=sim.serve_forever, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while True:
        try:
            url = sim.url
            break
        except RuntimeError:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    form = {"key": sim.api_key, "action": "balance"}
    assert requests.post(url, data=form, timeout=5).json()["balance"] == "1000.00000"
    sim.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


# --------------------------------------------------------------------------- dialects, limits


def speak(dialect: str, *forms: dict[str, Any]) -> list[tuple[int, Any]]:
    """Send ``forms`` in turn to a fresh simulator speaking ``dialect``; (status, JSON) each."""
    with PanelSimulator(dialect=dialect) as sim, requests.Session() as s:
        replies = [s.post(sim.url, data={"key": sim.api_key, **f}, timeout=5) for f in forms]
    return [(r.status_code, r.json()) for r in replies]


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


def test_an_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown dialect 'nope'.*standard"):
        PanelSimulator(dialect="nope")


def test_requests_beyond_the_per_minute_limit_get_429_with_the_wait() -> None:
    now = [0.0]
    faults = Faults(max_requests_per_minute=2)
    with PanelSimulator(faults=faults, clock=lambda: now[0]) as sim, requests.Session() as s:
        form = {"key": sim.api_key, "action": "balance"}
        codes = [s.post(sim.url, data=form, timeout=5).status_code for _ in range(2)]
        now[0] = 45.0
        refused = s.post(sim.url, data=form, timeout=5)
        now[0] = 60.0
        again = s.post(sim.url, data=form, timeout=5)
    assert codes == [200, 200] and refused.status_code == 429
    assert refused.headers["Retry-After"] == "15" and again.status_code == 200
    assert sim.counts["fault:rate"] == 1
