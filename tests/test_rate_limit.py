"""Panels that allow N requests a minute: the client keeps under the limit, on a fake clock."""

from __future__ import annotations

import threading

from smmsheet.panel import PanelClient
from smmsheet.simulator import DEFAULT_API_KEY, Faults, PanelSimulator


class FakeClock:
    """Time that moves only when someone sleeps; shared by the client and the simulator."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


def test_a_client_limited_to_n_a_minute_never_trips_a_panel_that_allows_n():
    clock = FakeClock()
    faults = Faults(max_requests_per_minute=5)
    with (
        PanelSimulator(faults=faults, clock=clock.time) as sim,
        PanelClient(
            sim.url,
            DEFAULT_API_KEY,
            max_requests_per_minute=5,
            clock=clock.time,
            sleep=clock.sleep,
            retries=0,
        ) as client,
    ):
        for _ in range(12):
            client.balance()
    assert sim.counts["fault:rate"] == 0 and sim.counts["balance"] == 12
    assert clock.now == 120.0, "12 requests at 5 a minute: the 6th and the 11th wait a minute"


def test_the_limit_is_shared_by_every_thread_of_a_client(sim):
    clock = FakeClock()
    clock.sleep = clock.slept.append  # type: ignore[method-assign]  # time stands still
    with PanelClient(
        sim.url,
        DEFAULT_API_KEY,
        max_workers=4,
        max_requests_per_minute=3,
        clock=clock.time,
        sleep=clock.sleep,
    ) as client:
        results = client.status_many([str(i) for i in range(1, 1101)])  # 11 requests
    assert len(results) == 1100 and sim.counts["status"] == 11
    # one budget for all four threads: 3 now, 3 a minute later, 3 two minutes later, ...
    assert sorted(clock.slept) == [60.0] * 3 + [120.0] * 3 + [180.0] * 2


def test_without_a_client_limit_the_panels_429_and_retry_after_are_honoured():
    clock = FakeClock()
    with (
        PanelSimulator(faults=Faults(max_requests_per_minute=2), clock=clock.time) as sim,
        PanelClient(sim.url, DEFAULT_API_KEY, clock=clock.time, sleep=clock.sleep) as client,
    ):
        for _ in range(3):
            client.balance()
    assert sim.counts["fault:rate"] >= 1 and sim.counts["balance"] >= 4
    assert max(clock.slept) == 60.0, "slept exactly what Retry-After asked"
