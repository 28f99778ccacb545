"""The simulator on the wire: HTTP, the fault knobs, start and stop; every test uses loopback."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from smmsheet.simulator import Faults, PanelSimulator

from .conftest import LINK, Call, add


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
    """Call an action over HTTP and return the decoded JSON of an HTTP 200 reply."""

    def call(action: str, **params: Any) -> Any:
        response = post(action, **params)
        assert response.status_code == 200, response.text
        return response.json()

    return call


def test_a_placed_order_is_in_the_panel_behind_the_wire(api: Call, sim: PanelSimulator) -> None:
    assert add(api, service=1, quantity=150) == {"order": 1001}
    assert sim.balance == Decimal("999.865") and sim.orders[1001].link == LINK
    sim.set_status(1001, "Completed")
    assert api("refill", order=1001) == {"refill": "501"} and sim.refills[501].order_id == 1001
    assert sim.find_order("1001.0") is sim.orders[1001] and sim.public_id(sim.refills[501]) == "501"
    sim.balance = Decimal(0)
    assert add(api, link=LINK + "2") == {"error": "Not enough funds on balance"}


def test_a_refusal_goes_on_the_wire_with_its_dialect_s_http_status() -> None:
    with PanelSimulator(dialect="http-errors") as sim:
        form = {"key": "wrong", "action": "balance"}
        response = requests.post(sim.url, data=form, timeout=5)
    assert response.status_code == 401 and response.json() == {"error": "Invalid API key"}


def test_key_in_the_url_is_not_accepted(sim: PanelSimulator) -> None:
    url = f"{sim.url}?key={sim.api_key}&action=balance"
    assert requests.post(url, timeout=5).json() == {"error": "Invalid API key"}


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


def test_an_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown dialect 'nope'.*standard"):
        PanelSimulator(dialect="nope")
