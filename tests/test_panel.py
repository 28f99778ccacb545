"""PanelClient against the simulator over loopback: every action and every fault knob."""

from __future__ import annotations

import queue
import threading
from decimal import Decimal

import pytest

from smmsheet.errors import (
    AmbiguousRequestError,
    InvalidKeyError,
    PanelRejectedError,
    PanelUnavailableError,
)
from smmsheet.panel import OrderStatus, PanelClient
from smmsheet.simulator import DEFAULT_API_KEY


def test_services_are_typed(client):
    services = {s.id: s for s in client.services()}
    followers = services[1]
    assert followers.type == "Default" and followers.rate == Decimal("0.90")
    assert (followers.min, followers.max, followers.refill, followers.dripfeed) == (
        50,
        10000,
        True,
        True,
    )
    assert services[2].type == "Custom Comments"
    assert services[20].name.startswith("=")  # panel text is data, not a formula


def test_balance_is_charged_by_add(client, sim):
    assert client.balance().amount == Decimal("1000")
    client.add(1, link="https://instagram.com/x", quantity=1000)
    assert client.balance().amount == Decimal("999.1")


@pytest.mark.parametrize(
    ("service", "fields"),
    [
        (1, {"link": "https://a", "quantity": 100, "runs": 2, "interval": 15}),
        (2, {"link": "https://a", "comments": ["c"] * 10}),
        (5, {"link": "https://a", "quantity": 100, "usernames": "a\nb"}),
        (11, {"link": "https://a"}),
        (17, {"username": "shop", "min": 100, "max": 200, "delay": 30, "posts": 2}),
        (
            18,
            {
                "link": "https://a",
                "quantity": 1000,
                "country": "US",
                "device": 1,
                "type_of_traffic": 2,
                "referring_url": "https://r",
            },
        ),
    ],
)
def test_add_for_each_service_type(client, sim, service, fields):
    order = client.add(service, **fields)
    assert isinstance(order, str)
    assert sim.orders[int(order)].service == service
    expected = {k: "\n".join(v) if isinstance(v, list) else str(v) for k, v in fields.items()}
    assert sim.orders[int(order)].fields.items() >= expected.items()


def test_add_rejections_carry_the_panels_message(client):
    with pytest.raises(PanelRejectedError, match="Incorrect service ID"):
        client.add(9999, link="https://a", quantity=100)
    with pytest.raises(PanelRejectedError, match="minimal"):
        client.add(1, link="https://a", quantity=1)


def test_status_single_and_multi_with_per_id_errors(client, sim):
    a = client.add(1, link="https://a", quantity=100)
    b = client.add(3, link="https://b", quantity=100)
    single = client.status(a)
    assert single.status == "Pending" and single.charge == Decimal("0.09")
    assert single.currency == "USD" and single.remains == 100
    many = client.status_many([a, b, 77, int(b)])
    assert set(many) == {a, b, "77"}
    assert many["77"].error == "Incorrect order ID"
    assert many[a].status == "In progress"
    with pytest.raises(PanelRejectedError, match="Incorrect order ID"):
        client.status(12345)


def test_multi_status_chunks_at_100_ids_with_bounded_concurrency(client, sim):
    ids = list(range(1, 251))
    result = client.status_many(ids)
    assert len(result) == 250 and sim.counts["status"] == 3
    assert all(r.error == "Incorrect order ID" for r in result.values())


def test_status_chunks_send_only_a_window_ahead_of_what_was_read(client, sim):
    """All 10,000 chunks of a million ids were sent at once, and their results held to the end."""
    import time

    chunks = client.status_chunks(range(1, 5001))  # 50 requests, 4 in flight
    first = next(chunks)
    time.sleep(0.3)  # the panel answers in well under that: whatever was sent has answered
    sent = sim.counts["status"]
    rest = list(chunks)
    assert len(first) == 100 and sum(len(part) for part in rest) == 4900
    assert sent <= 3 * client.max_workers  # a window of 2 per worker, and those just read
    assert sim.counts["status"] == 50


def test_refill_single_multi_and_status(client, sim):
    a = client.add(1, link="https://a", quantity=100)
    b = client.add(1, link="https://reject-me", quantity=100)
    sim.advance(3)
    rid = client.refill(a)
    many = client.refill_many([b, 4242])
    assert many["4242"].error == "Incorrect order ID" and many[b].refill
    rb = many[b].refill
    assert client.refill_status(rid).status == "Pending"
    sim.advance(5)
    statuses = client.refill_status_many([rid, rb, 999])
    assert statuses[rid].status == "Completed" and statuses[rb].status == "Rejected"
    assert statuses["999"].error == "Refill not found"


def test_cancel_refunds_and_reports_per_id(client, sim):
    a = client.add(1, link="https://a", quantity=1000)
    c = client.add(3, link="https://c", quantity=100)  # service 3 cannot be canceled
    result = client.cancel([a, c, 31337])
    assert result[a].ok and not result[c].ok and "disabled" in (result[c].error or "")
    assert result["31337"].error == "Incorrect order ID"
    assert sim.orders[int(a)].status == "Canceled"


def test_invalid_key(sim):
    with PanelClient(sim.url, "wrong-key") as c, pytest.raises(InvalidKeyError) as info:
        c.balance()
    assert "wrong-key" not in str(info.value)


def test_invalid_key_in_a_multi_call_is_raised_not_spread(sim):
    with PanelClient(sim.url, "wrong-key") as c, pytest.raises(InvalidKeyError):
        c.status_many(range(1, 301))


def test_5xx_on_reads_is_retried(sim):
    sim.faults.error_rate = 0.5
    with PanelClient(sim.url, DEFAULT_API_KEY, retries=8, backoff=0.001) as c:
        for _ in range(5):
            assert c.balance().currency == "USD"
    assert sim.counts["fault:5xx"] > 0


def test_5xx_on_add_is_ambiguous_and_sent_once(client, sim):
    sim.faults.error_rate = 1.0
    with pytest.raises(AmbiguousRequestError, match="may have been placed"):
        client.add(1, link="https://a", quantity=100)
    assert sim.counts["add"] == 1


def test_challenge_page_on_add_is_not_placed_and_not_ambiguous(client, sim):
    sim.faults.html_rate = 1.0
    with pytest.raises(PanelUnavailableError, match="challenge") as info:
        client.add(1, link="https://a", quantity=100)
    assert not isinstance(info.value, AmbiguousRequestError)
    assert sim.counts["add"] == 1 and not sim.orders


def test_html_storm_on_reads_gives_up_with_one_clear_error(sim):
    sim.faults.html_rate = 1.0
    with PanelClient(sim.url, DEFAULT_API_KEY, retries=2, backoff=0.001) as c:
        with pytest.raises(PanelUnavailableError, match="unavailable"):
            c.services()
    assert sim.counts["services"] == 3


def test_a_panel_url_without_the_api_path_says_to_check_the_url(sim):
    # The site's address instead of its API's (no /api/v2): the web server answers a 404
    # page. "the panel is unavailable (HTTP 404)" sent the user to wait for a panel that is up.
    site = sim.url.removesuffix("/api/v2")
    with PanelClient(site, DEFAULT_API_KEY, retries=0) as c:
        with pytest.raises(PanelUnavailableError) as info:
            c.balance()
    message = str(info.value)
    assert "unavailable" not in message
    assert f"no panel API at {site} (HTTP 404)" in message and "/api/v2" in message


def test_garbage_reply_on_add_is_ambiguous(client, sim):
    sim.faults.garbage_rate = 1.0
    with pytest.raises(AmbiguousRequestError):
        client.add(1, link="https://a", quantity=100)
    assert sim.counts["add"] == 1


def test_drop_after_accept_is_ambiguous_and_the_panel_has_the_order(client, sim):
    sim.faults.drop_after_accept = 1.0
    with pytest.raises(AmbiguousRequestError, match="may have been placed"):
        client.add(1, link="https://a", quantity=100)
    assert len(sim.orders) == 1 and sim.counts["add"] == 1


def test_latency_beyond_the_read_timeout(sim):
    sim.faults.latency = 0.3
    with PanelClient(sim.url, DEFAULT_API_KEY, timeout=(2, 0.05), retries=1, backoff=0) as c:
        with pytest.raises(PanelUnavailableError):
            c.balance()
        with pytest.raises(AmbiguousRequestError):
            c.add(1, link="https://a", quantity=100)
    assert sim.counts["balance"] == 2 and sim.counts["add"] == 1


def test_429_above_the_concurrency_limit_is_absorbed_by_retries(sim):
    sim.faults.latency = 0.05
    sim.faults.max_concurrency = 2
    sim.faults.retry_after = 0.01
    with PanelClient(sim.url, DEFAULT_API_KEY, max_workers=6, backoff=0.01, retries=10) as c:
        result = c.status_many(range(1, 601))
        errors = []

        def add(i):
            try:
                c.add(1, link=f"https://x/{i}", quantity=100)
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(result) == 600 and sim.counts["fault:429"] > 0
    assert not errors and len(sim.orders) == 6  # 429 means "not processed": safe to resend


def test_a_multi_status_left_early_sends_nothing_more_and_ends_its_threads(client, sim):
    """A caller that stops reading (an error while writing a chunk, Ctrl-C) stops the run."""
    import threading
    import time

    chunks = client.status_chunks(range(1, 5001))  # 50 requests
    assert len(next(chunks)) == 100
    chunks.close()
    sent = sim.counts["status"]
    time.sleep(0.3)
    assert sim.counts["status"] == sent < 50
    assert not [t for t in threading.enumerate() if t.name == "smmsheet-chunks"]


def test_requests_in_flight_take_short_gil_turns_and_give_the_interpreters_back(client, sim):
    """A worker whose reply came in waited up to 5 ms for the GIL behind the run's thread."""
    import sys

    from smmsheet.runtime import QUICK_TURN

    seen: list[float] = []
    sim.on_request = lambda request: seen.append(sys.getswitchinterval())
    before = sys.getswitchinterval()
    assert before > QUICK_TURN  # the interpreter's default (5 ms) in the test process
    assert len(client.status_many(range(1, 1001))) == 1000
    assert seen and max(seen) <= QUICK_TURN
    assert sys.getswitchinterval() == before
    chunks = client.status_chunks(range(1, 5001))  # left early (an error writing a chunk)
    next(chunks)
    assert sys.getswitchinterval() <= QUICK_TURN
    chunks.close()
    assert sys.getswitchinterval() == before


def test_two_fan_outs_at_once_give_the_interval_back_only_when_both_end(client, sim):
    import sys

    from smmsheet.runtime import QUICK_TURN

    before = sys.getswitchinterval()
    first = client.status_chunks(range(1, 5001))
    second = client.status_chunks(range(1, 5001))
    next(first), next(second)
    first.close()
    assert sys.getswitchinterval() <= QUICK_TURN  # the second is still in flight
    second.close()
    assert sys.getswitchinterval() == before


def test_a_client_used_after_close_still_asks_and_places_once(sim):
    """A formula's cached client is closed when replaced while Excel may still be using it."""
    c = PanelClient(sim.url, sim.api_key)
    c.balance()
    c.close()
    assert c.balance().amount == sim.balance
    c.close()
    order = c.add(1, link="https://instagram.com/after-close", quantity=100)
    assert sim.counts["add"] == 1 and c.status(order).status


def test_close_ends_the_kept_alive_connections(sim):
    """A closed client holds no socket to the panel (a long Excel session closes many)."""
    import gc

    c = PanelClient(sim.url, sim.api_key)
    c.balance()
    sockets = [conn.sock for conn in list(c._route.pool.pool.queue) if conn and conn.sock]
    assert sockets
    c.close()
    gc.collect()
    assert all(sock.fileno() == -1 for sock in sockets)


@pytest.mark.parametrize("stopped", ["ctrl-c in start", "no thread to be had"])
def test_a_fan_out_stopped_while_starting_its_workers_leaves_none_running(
    stopped, client, sim, monkeypatch
):
    """Workers were started before the try that stops them: a Ctrl-C landing in a worker's
    start() (or a process out of threads) left the ones already started asking the panel
    until the window was full, then waiting forever (four threads a time, in Excel too)."""
    import time

    start = threading.Thread.start
    started: list[threading.Thread] = []

    def starting(thread: threading.Thread) -> None:
        if thread.name == "smmsheet-chunks":
            if len(started) == 2:
                if stopped == "ctrl-c in start":
                    start(thread)
                    raise KeyboardInterrupt
                raise RuntimeError("can't start new thread")
            started.append(thread)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", starting)
    chunks = client.status_chunks(range(1, 5001))
    with pytest.raises((KeyboardInterrupt, RuntimeError)):
        next(chunks)
    time.sleep(0.3)
    assert not [t for t in threading.enumerate() if t.name == "smmsheet-chunks"]
    assert sim.counts["status"] <= 2 * client.max_workers


# --------------------------------------------------------------------------- asked ahead


def _asked(sim) -> list[tuple[str, ...]]:
    """The ids of each status request the simulator answers, as they come.

    Only status requests: the simulator tells ``on_request`` after its reply is sent, so
    an ``add`` the test made just before may be told after this is set (a third entry
    that made ``len(asked) == 2`` pass by between two polls: a flaky 30 s wait)."""
    asked: list[tuple[str, ...]] = []
    sim.on_request = lambda request: (
        asked.append(request.ids) if request.action == "status" else None
    )
    return asked


def _wait_for(test, seconds: float = 30.0) -> None:  # generous: a loaded CI machine
    import time

    end = time.monotonic() + seconds
    while not test():
        assert time.monotonic() < end, "not in time"
        time.sleep(0.01)


def test_status_asked_ahead_goes_out_before_the_caller_knows_every_id(client, sim):
    """A refresh hands over ids while its sheet is still read: the first 100 go at once."""
    asked = _asked(sim)
    ahead = client.status_ahead()
    for i in range(1, 251):
        assert ahead.add(str(i))
    _wait_for(lambda: len(asked) == 2)  # two full chunks went out; 50 ids wait for more
    assert sim.counts["status"] == 2
    assert sorted(int(i) for chunk in asked for i in chunk) == list(range(1, 201))
    got: dict[str, object] = {}
    for part in ahead.chunks(str(i) for i in range(1, 301)):
        assert not got.keys() & part.keys()  # each id once
        got.update(part)
    assert sorted(int(i) for i in got) == list(range(1, 301))
    assert sim.counts["status"] == 3  # 201-300 in one more request: nothing asked twice
    _wait_for(lambda: len(asked) == 3)  # the simulator tells after it has answered
    assert sorted(int(i) for chunk in asked for i in chunk) == list(range(1, 301))


def test_ids_asked_ahead_and_no_longer_wanted_are_dropped(client, sim):
    created = [client.add(1, link=f"https://a/{n}", quantity=100) for n in range(3)]
    asked = _asked(sim)
    ahead = client.status_ahead()
    for oid in [*created, *(str(i) for i in range(900_000, 900_200))]:
        ahead.add(oid)
    _wait_for(lambda: len(asked) == 2)
    got: dict[str, OrderStatus] = {}
    for part in ahead.chunks([created[1], "123456789"]):
        got.update(part)
    assert set(got) == {created[1], "123456789"}
    assert got[created[1]].status and not got[created[1]].error
    assert got["123456789"].error  # asked afterwards: the panel does not know it
    _wait_for(lambda: len(asked) == 3)  # told after its reply was sent: may come later
    assert asked[-1] == ("123456789",)


def test_fewer_than_a_request_of_ids_ahead_send_nothing_until_asked(client, sim):
    ahead = client.status_ahead()
    for i in range(1, 100):
        ahead.add(str(i))
    assert not [t for t in threading.enumerate() if t.name == "smmsheet-chunks"]
    assert sim.counts["status"] == 0
    got = {k for part in ahead.chunks([str(i) for i in range(1, 100)]) for k in part}
    assert len(got) == 99 and sim.counts["status"] == 1


def test_ids_ahead_stop_at_the_limit(client, sim):
    asked = _asked(sim)
    ahead = client.status_ahead(limit=300)
    assert all(ahead.add(str(i)) for i in range(1, 301))
    assert not ahead.add("301")
    got = {k for part in ahead.chunks([str(i) for i in range(1, 401)]) for k in part}
    assert len(got) == 400 and sim.counts["status"] == 4
    _wait_for(lambda: sum(len(chunk) for chunk in asked) == 400)


def test_status_asked_ahead_and_never_read_stops_and_gives_the_turns_back(client, sim):
    """The run stopped before its refresh (a journal it may not use, a workbook Excel holds)."""
    import sys

    from smmsheet.runtime import QUICK_TURN

    sim.faults.latency = 0.05  # 50 requests, 4 at a time: 0.6 s if none were stopped
    before = sys.getswitchinterval()
    ahead = client.status_ahead()
    for i in range(1, 5001):
        ahead.add(str(i))
    assert sys.getswitchinterval() <= QUICK_TURN
    ahead.close()
    assert sys.getswitchinterval() == before
    assert not [t for t in threading.enumerate() if t.name == "smmsheet-chunks"]
    sent = sim.counts["status"]
    assert sent <= 2 * client.max_workers  # closing stopped the other requests
    assert not ahead.add("9999")  # closed: nothing more goes ahead
    ahead.close()  # twice is fine


def test_an_invalid_key_met_ahead_stops_the_read_of_the_answers(sim):
    with PanelClient(sim.url, "wrong-key", backoff=0.001, max_workers=4) as bad:
        ahead = bad.status_ahead()
        for i in range(1, 201):
            ahead.add(str(i))
        with pytest.raises(InvalidKeyError):
            for _ in ahead.chunks([str(i) for i in range(1, 201)]):
                pass
    assert not [t for t in threading.enumerate() if t.name == "smmsheet-chunks"]


def test_status_asked_ahead_is_read_once(client, sim):
    """A second read would wait forever for workers that are gone: it is refused."""
    ahead = client.status_ahead()
    for i in range(1, 201):
        ahead.add(str(i))
    assert len({k for part in ahead.chunks(["1", "2"]) for k in part}) == 2
    with pytest.raises(RuntimeError, match="read or closed"):
        ahead.chunks(["1"])
    closed = client.status_ahead()
    closed.close()
    with pytest.raises(RuntimeError, match="read or closed"):
        closed.chunks(["1"])


class _CtrlCOnce(queue.SimpleQueue):  # type: ignore[type-arg]
    """A queue whose next put of None (the end a close puts) is a Ctrl-C instead."""

    armed = False

    def put(self, item, block=True, timeout=None):
        if self.armed and item is None:
            self.armed = False
            raise KeyboardInterrupt
        super().put(item, block, timeout)


def test_a_ctrl_c_as_the_fan_out_closes_still_gives_the_turns_back(client, sim):
    """The chunk fan-out used to hold the short GIL turns in a ``with`` around its workers'
    whole life; as a class it gave them back only after joining them, so a Ctrl-C between
    setting stop and the join (refill, cancel, a status run) left the whole process on
    1 ms turns. A Ctrl-C cannot be made to land there but by standing in for it."""
    import sys

    from smmsheet.panel import _FanOut, _guarded, _status_failed

    before = sys.getswitchinterval()
    fan = _FanOut(_guarded(client._status_chunk, _status_failed), 2, window=4)
    fan._todo = todo = _CtrlCOnce()
    for start in range(1, 1001, 100):
        fan.put([str(i) for i in range(start, start + 100)])
    fan.end()
    try:
        fan.start()
        assert len(next(fan.results())) == 100
        todo.armed = True
        with pytest.raises(KeyboardInterrupt):
            fan.close()
        assert sys.getswitchinterval() == before
    finally:
        fan.close()  # a second close (StatusAhead's, the engine's) ends the workers
    assert not [t for t in threading.enumerate() if t.name == "smmsheet-chunks"]
    assert sys.getswitchinterval() == before
