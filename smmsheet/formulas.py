"""The bodies of the ``SMM_*`` cell formulas: read-only panel lookups, coalesced and cached.

Pure Python, no xlwings: :mod:`smmsheet.udf` declares the formulas to Excel and calls these
functions; tests, benchmarks and the REPL call them directly.

No formula ever places, refills or cancels: this module only calls the panel's read
actions (status, refill_status, balance, services); a test scans it to keep it that way.

Excel calculates the formulas synchronously, one cell after another on its own thread
(xlwings' async mode, which rewrites formulas behind Excel's back, is not used). So a
column of ``=SMM_STATUS(A2)`` filled down 500 rows arrives as 500 calls in a row. The first
cell whose id is not in the cache sends one multi-id ``status`` request carrying its id and
up to 99 other open orders of the same panel that smmsheet knows of (the index of recent
orders, :mod:`smmsheet.recent`, fed by the ribbon's runs and by the formulas' answers),
nearest ids first; the next cells are answered from memory. ``=SMM_STATUS(A2:A500)`` is one
call for the whole range: its ids go out 100 a request. Results are kept ``STATUS_TTL``
seconds; cached ids due for a refresh ride along with the next request. Calls from several
threads at once (VBA, scripts) still share requests through the :class:`Coalescer`.

Errors come back as short ``#SMM: ...`` text, never a traceback and never the API key. The
panel is resolved from the environment and the user config file (``config.resolve_panel``);
a formula cannot read the workbook's Settings sheet while Excel is calculating.

Example::

    from smmsheet.formulas import UdfPanel, smm_status

    panel = UdfPanel(PanelClient(url, key))
    smm_status([[1001], [1002]], "remains", panel=panel)   # [[157], [0]]
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .recent import RecentOrders, panel_key

if TYPE_CHECKING:
    from .models import Balance, OrderStatus, RefillStatus, Service
    from .panel import PanelClient

__all__ = [
    "BATCH_LIMIT",
    "COALESCE_WINDOW",
    "ERROR_PREFIX",
    "ERROR_TTL",
    "SERVICES_TTL",
    "STATUS_TTL",
    "Coalescer",
    "UdfPanel",
    "reset_panels",
    "smm_balance",
    "smm_cost",
    "smm_refill_status",
    "smm_services",
    "smm_status",
    "udf_panel",
]

#: Seconds a status (or refill status, or the balance) is served from memory.
STATUS_TTL = 30.0
#: Seconds a per-id error ("Incorrect order ID", "cannot reach the panel") is kept.
ERROR_TTL = 5.0
#: Seconds the service list (SMM_SERVICES, SMM_COST) is kept.
SERVICES_TTL = 300.0
#: Seconds the first caller of a batch waits for other cells to join it.
COALESCE_WINDOW = 0.03
#: Ids per multi-id request: the API's limit.
BATCH_LIMIT = 100
#: Longest a formula waits for its batch (the client's own timeouts and retries come first).
WAIT_TIMEOUT = 120.0
#: Known ids older than this fraction of the TTL ride along when a request has room.
REFRESH_AHEAD = 0.5
#: Ids not asked about for this long are forgotten (no longer refreshed along).
FORGET_AFTER = 10 * STATUS_TTL
#: Start of every error a formula returns.
ERROR_PREFIX = "#SMM: "
MAX_ERROR_CHARS = 120

#: SMM_STATUS fields: what the user may type -> OrderStatus attribute.
STATUS_FIELDS = {
    "status": "status",
    "charge": "charge",
    "startcount": "start_count",
    "remains": "remains",
    "currency": "currency",
}

V = TypeVar("V")
T = TypeVar("T")


# --------------------------------------------------------------------------- coalescing


@dataclass(eq=False)
class _Batch(Generic[V]):
    """Ids collected for one multi-id request, and the futures their callers wait on."""

    futures: dict[str, Future[V]] = field(default_factory=dict)
    closed: threading.Event = field(default_factory=threading.Event)


class Coalescer(Generic[V]):
    """Share multi-id requests between threads and keep the answers for a short while.

    ``fetch(ids)`` sends one request for at most ``limit`` ids and returns a result for
    each. :meth:`get_many` may be called from many threads at once.

    >>> sizes = []
    >>> c = Coalescer(lambda ids: sizes.append(len(ids)) or {i: i * 2 for i in ids})
    >>> c.get_many(["1", "2"]), c.get_many(["2"]), sizes
    ({'1': '11', '2': '22'}, {'2': '22'}, [2])
    """

    def __init__(
        self,
        fetch: Callable[[list[str]], Mapping[str, V]],
        *,
        limit: int = BATCH_LIMIT,
        window: float = COALESCE_WINDOW,
        ttl: float = STATUS_TTL,
        error_ttl: float = ERROR_TTL,
        is_error: Callable[[V], bool] = lambda value: False,
        clock: Callable[[], float] = time.monotonic,
        companions: Callable[[str, int, Callable[[str], bool]], list[str]] | None = None,
        on_answers: Callable[[Mapping[str, V]], None] | None = None,
    ) -> None:
        self._fetch = fetch
        self._companions = companions
        self._on_answers = on_answers
        self.limit = limit
        self.window = window
        self.ttl = ttl
        self.error_ttl = error_ttl
        self._is_error = is_error
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, V]] = {}
        self._inflight: dict[str, Future[V]] = {}
        self._open: _Batch[V] | None = None
        #: Requests sent (fetch calls), for tests and benchmarks.
        self.requests = 0

    def clear(self) -> None:
        """Forget every cached answer."""
        with self._lock:
            self._cache.clear()

    def _fresh(self, entry: tuple[float, V], now: float) -> bool:
        stamp, value = entry
        return now - stamp < (self.error_ttl if self._is_error(value) else self.ttl)

    def get_many(self, ids: Iterable[str]) -> dict[str, V]:
        """Answers for ``ids``: from memory, from a request in flight, or from a new batch."""
        results: dict[str, V] = {}
        waiting: dict[str, Future[V]] = {}
        full: list[_Batch[V]] = []
        led: list[_Batch[V]] = []
        with self._lock:
            now = self._clock()
            for oid in dict.fromkeys(ids):
                entry = self._cache.get(oid)
                if entry is not None and self._fresh(entry, now):
                    results[oid] = entry[1]
                    continue
                future = self._inflight.get(oid)
                if future is None:
                    if self._open is None:
                        self._open = _Batch()
                        led.append(self._open)
                    future = Future()
                    self._open.futures[oid] = future
                    self._inflight[oid] = future
                    if len(self._open.futures) >= self.limit:
                        self._open.closed.set()
                        full.append(self._open)
                        self._open = None
                waiting[oid] = future
        for batch in full:
            self._send(batch)
        for batch in led:
            if batch.closed.wait(self.window):
                continue  # filled up and sent by whoever filled it
            with self._lock:
                if batch.closed.is_set():
                    continue
                batch.closed.set()
                if self._open is batch:
                    self._open = None
            self._send(batch)
        for oid, future in waiting.items():
            results[oid] = future.result(timeout=WAIT_TIMEOUT)
        return results

    def _known(self, oid: str, now: float) -> bool:
        """Whether ``oid`` is answered from memory or already asked for (caller holds the lock)."""
        entry = self._cache.get(oid)
        return oid in self._inflight or (entry is not None and self._fresh(entry, now))

    def _send(self, batch: _Batch[V]) -> None:
        """Send one batch, topped up with ids likely asked next; settle its futures.

        Room left in the request goes first to cached ids due for a refresh, then to the
        ``companions`` of its first id (for statuses: other open orders smmsheet knows of).
        """
        extra: list[str] = []
        if self._companions is not None and len(batch.futures) < self.limit:
            first = next(iter(batch.futures))
            now = self._clock()

            def skip(oid: str) -> bool:  # a hint only: checked again under the lock below
                return oid in batch.futures or self._known(oid, now)

            try:
                extra = self._companions(first, self.limit, skip)
            except Exception:  # noqa: BLE001 - an optimisation never fails a formula
                extra = []
        with self._lock:
            now = self._clock()
            forgotten: list[str] = []
            for oid, (stamp, value) in self._cache.items():
                age = now - stamp
                if age < self.ttl * REFRESH_AHEAD:
                    break  # the cache is in answer order: the rest are younger still
                if age > FORGET_AFTER:
                    forgotten.append(oid)
                elif (
                    len(batch.futures) < self.limit
                    and oid not in self._inflight
                    and not self._is_error(value)
                ):
                    future: Future[V] = Future()
                    batch.futures[oid] = future
                    self._inflight[oid] = future
            for oid in forgotten:
                del self._cache[oid]
            for oid in extra:
                if len(batch.futures) >= self.limit:
                    break
                if oid not in batch.futures and not self._known(oid, now):
                    batch.futures[oid] = Future()
                    self._inflight[oid] = batch.futures[oid]
            ids = list(batch.futures)
            self.requests += 1
        try:
            answers = self._fetch(ids)
        except BaseException as exc:
            with self._lock:
                for oid in ids:
                    self._inflight.pop(oid, None)
            for future in batch.futures.values():
                future.set_exception(exc)
            return
        with self._lock:
            stamp = self._clock()
            for oid in ids:
                self._inflight.pop(oid, None)
                if oid in answers:
                    self._cache.pop(oid, None)  # to the end: the cache stays in answer order
                    self._cache[oid] = (stamp, answers[oid])
        if self._on_answers is not None:
            try:
                self._on_answers(answers)
            except Exception:  # noqa: BLE001 - an optimisation never fails a formula
                pass
        for oid, future in batch.futures.items():
            if oid in answers:
                future.set_result(answers[oid])
            else:
                future.set_exception(LookupError(f"the panel's reply had no entry for {oid}"))


class _Timed(Generic[T]):
    """One value fetched at most once per ``ttl`` seconds, whoever asks."""

    def __init__(
        self, fetch: Callable[[], T], ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: tuple[float, T] | None = None

    def get(self) -> T:
        with self._lock:  # concurrent callers wait for the one fetch instead of repeating it
            now = self._clock()
            if self._value is None or now - self._value[0] >= self._ttl:
                self._value = (now, self._fetch())
            return self._value[1]


# --------------------------------------------------------------------------- the panel


class UdfPanel:
    """A panel client with the coalescers and caches every formula shares.

    ``recent`` is the index of recent orders (:mod:`smmsheet.recent`): a status request
    for a cell not in the cache carries up to 99 other open orders of this panel from it,
    and what the panel answers tells the index which orders are final. ``window`` is how
    long the first caller of a batch waits for other threads (0: Excel calls formulas one
    after another, so there is nobody to wait for).
    """

    def __init__(
        self,
        client: PanelClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        recent: RecentOrders | None = None,
        window: float = 0.0,
    ) -> None:
        from .models import services_by_id

        self.client = client
        self.recent = recent
        #: Which panel the index files ids under: its URL, never the key.
        self.panel_key = panel_key(client.url)
        companions = on_answers = None
        if recent is not None:
            key = self.panel_key

            def companions(first: str, room: int, skip: Callable[[str], bool]) -> list[str]:
                return recent.open_ids(key, first, room, skip)

            def on_answers(answers: Mapping[str, OrderStatus]) -> None:
                recent.record(key, _finals(answers))

        self.status: Coalescer[OrderStatus] = Coalescer(
            client.status_many,
            is_error=lambda s: s.error is not None,
            clock=clock,
            window=window,
            companions=companions,
            on_answers=on_answers,
        )
        self.refills: Coalescer[RefillStatus] = Coalescer(
            client.refill_status_many,
            is_error=lambda s: s.error is not None,
            clock=clock,
            window=window,
        )
        self.balance: _Timed[Balance] = _Timed(client.balance, STATUS_TTL, clock)
        self.services: _Timed[dict[int, Service]] = _Timed(
            lambda: services_by_id(client.services()), SERVICES_TTL, clock
        )

    def __repr__(self) -> str:
        return f"UdfPanel({self.client.shown_url!r})"


def _finals(answers: Mapping[str, OrderStatus]) -> dict[str, bool]:
    """What a status reply says of each order for the index: ``{id: final}``.

    A final status, or an error the panel gave that id ("Incorrect order ID"), is final.
    An unreachable panel says nothing of any order, nor does a reply without a single
    status (a refused key, a whole request turned down): recording those as final would
    close every open order fetched along, and the column would cost a request per cell.
    """
    from .orders import is_final

    if not any(a.error is None for a in answers.values()):
        return {}
    return {
        k: a.error is not None or is_final(a.status)
        for k, a in answers.items()
        if not a.unavailable
    }


_PANELS: dict[tuple[str, str], tuple[str, UdfPanel]] = {}  # (profile, URL) -> (key digest, panel)
_PANELS_LOCK = threading.Lock()
#: What each profile's last resolution depended on, and the panel it gave (see
#: :func:`udf_panel`); the default panel under "".
_RESOLVED: dict[str, tuple[tuple[object, ...], UdfPanel]] = {}


def _resolution_inputs() -> tuple[object, ...]:
    """What :func:`~smmsheet.config.resolve_panel` reads: the variables and the file's stamp."""
    from .config import ENV_API_KEY, ENV_CONFIG, ENV_PANEL_URL, ENV_PROFILE

    env = os.environ
    values = tuple(env.get(name) for name in (ENV_PANEL_URL, ENV_API_KEY, ENV_PROFILE, ENV_CONFIG))
    try:
        stat = os.stat(env.get(ENV_CONFIG) or _default_config_file())
        stamp: object = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = None
    return (*values, stamp)


@functools.cache
def _default_config_file() -> Path:
    from .config import config_path

    return config_path({})


def udf_panel(profile: str = "") -> UdfPanel:
    """The panel formulas talk to, resolved from env/user config and kept per URL.

    ``profile`` names a profile of the config file, as a row's ``Panel`` cell does (its
    own URL and key only, never the environment's); empty: the default panel. Resolved
    once and reused while the environment variables and the config file's modification
    stamp stay the same (a stat per call, not a parse): a changed key for the same URL (a
    new ``SMMSHEET_API_KEY``) gets a fresh client.
    """
    inputs = _resolution_inputs()
    resolved = _RESOLVED.get(profile)
    if resolved is not None and resolved[0] == inputs:
        return resolved[1]
    from .config import resolve_panel, resolve_profile

    settings = resolve_profile(profile) if profile else resolve_panel()
    digest = hashlib.sha256(settings.api_key.encode()).hexdigest()
    # Kept per profile and URL: two profiles of one panel with their own keys (two
    # accounts) each keep their client, where one slot per URL closed and rebuilt them in
    # turn; a profile's changed key closes the client of its old key.
    where = (profile, settings.url)
    with _PANELS_LOCK:
        known = _PANELS.get(where)
        if known is not None and known[0] == digest:
            panel = known[1]
        else:
            if known is not None:
                known[1].client.close()
            panel = UdfPanel(settings.client(), recent=RecentOrders(recent_path()))
            _PANELS[where] = (digest, panel)
        _RESOLVED[profile] = (inputs, panel)
        return panel


def recent_path() -> Path:
    """Where formulas and the ribbon keep the index of recent orders."""
    from .recent import default_path

    return default_path()


def reset_panels() -> None:
    """Close and forget every cached panel (tests; a config change in a long Excel session)."""
    with _PANELS_LOCK:
        for _, panel in _PANELS.values():
            panel.client.close()
        _PANELS.clear()
        _RESOLVED.clear()


# --------------------------------------------------------------------------- plain functions


def _error(exc: BaseException, panel: UdfPanel | None = None) -> str:
    """A short ``#SMM: ...`` text for a cell: our message, or just the kind of a surprise."""
    from .errors import SmmsheetError

    if isinstance(exc, SmmsheetError):
        text = str(exc)
    elif isinstance(exc, TimeoutError):
        text = "the panel did not answer in time"
    else:
        text = f"unexpected {type(exc).__name__}"
    from .errors import scrub

    text = scrub(text, [getattr(panel.client, "_key", "") if panel is not None else ""])
    return (ERROR_PREFIX + " ".join(text.split()))[:MAX_ERROR_CHARS]


def _grid(values: Any) -> list[list[Any]]:
    """A scalar, a row or a 2D range as a 2D list."""
    if not isinstance(values, list | tuple):
        return [[values]]
    if not values:
        return [[]]
    if not isinstance(values[0], list | tuple):
        return [list(values)]
    return [list(row) for row in values]


class _Problem(str):
    """The text a formula shows for a cell that is not an id (never sent to the panel)."""


def _id(value: Any) -> str | None:
    """A cell as an id (text, as the panel gave it); None for an empty cell; a _Problem."""
    from .values import is_blank, parse_id

    if is_blank(value):
        return None
    identifier = parse_id(value)
    if identifier is None:
        return _Problem(f"{ERROR_PREFIX}not an id: {str(value)[:30]}")
    return identifier


def _plain(value: Any) -> Any:
    """A result as Excel takes it: numbers as float/int, None as an empty string."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return float(value)
    return value


def _profile(value: Any) -> str:
    """A formula's panel argument as a profile name; "" (the default panel) when empty.

    A whole number names its profile as a Panel cell's text does (Excel passes 2 as 2.0).
    An error value (``#N/A``, handed over as its text: ``err_to_str``) or a range of cells
    names no panel, and is refused rather than read as empty: the default panel's answer
    would show as another's.
    """
    from .errors import ConfigError
    from .values import EXCEL_ERRORS, profile_name

    if isinstance(value, list | tuple):
        raise ConfigError("the panel given is a range of cells, not a profile name")
    if isinstance(value, str) and value in EXCEL_ERRORS:
        raise ConfigError(f"the panel given is {value}, not a profile name")
    return profile_name(value)


def _lookup(
    ids: Any,
    coalescer: Callable[[UdfPanel], Coalescer[Any]],
    pick: Callable[[Any], Any],
    panel: UdfPanel | None,
    profile: Any = None,
) -> list[list[Any]]:
    """Shared body of SMM_STATUS and SMM_REFILL_STATUS: same shape out as in.

    ``profile`` is one profile for every id, or a range of Panel cells beside the ids (one
    per row, or one per id): each id is asked of its own row's panel, as a run asks it.
    """
    grid = _grid(ids)
    parsed = [[_id(v) for v in row] for row in grid]
    profiles = _profiles(profile, grid)
    wanted: dict[str, list[str]] = {}  # profile -> its ids, each panel asked once
    for row, names in zip(parsed, profiles, strict=True):
        for value, name in zip(row, names, strict=True):
            if value is not None and not isinstance(value, _Problem):
                if not isinstance(name, _Problem):
                    wanted.setdefault(name, []).append(value)
    answers: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    for name, some in wanted.items():
        asked: UdfPanel | None = panel
        try:
            asked = asked or udf_panel(name)
            answers[name] = coalescer(asked).get_many(some)
        except Exception as exc:
            failures[name] = _error(exc, asked)

    def one(value: str | None, name: str) -> Any:
        if value is None:
            return ""
        if isinstance(value, _Problem):
            return str(value)
        if isinstance(name, _Problem):
            return str(name)
        if name in failures:
            return failures[name]
        answer = answers[name][value]
        if answer.error:
            return f"{ERROR_PREFIX}{answer.error}"[:MAX_ERROR_CHARS]
        return _plain(pick(answer))

    return [
        [one(v, n) for v, n in zip(row, names, strict=True)]
        for row, names in zip(parsed, profiles, strict=True)
    ]


def _profiles(profile: Any, grid: list[list[Any]]) -> list[list[str]]:
    """The profile of each cell of ``grid``: the one named, or a range's cell beside it.

    A range of Panel cells is either as large as the ids or one column of as many rows
    (one panel per row); a single cell is one profile for all. A cell that names no
    profile (``#N/A``), or a range of another size, is a :class:`_Problem` in the cells
    it concerns: never the default panel's answer shown as another's.
    """
    shape = [len(row) for row in grid]
    names = _grid(profile) if isinstance(profile, list | tuple) else [[profile]]
    if len(names) == len(grid) and [len(row) for row in names] == shape:
        pass  # one profile per id
    elif len(names) == len(grid) and all(len(row) == 1 for row in names):
        names = [row * width for row, width in zip(names, shape, strict=True)]  # per row
    elif len(names) == 1 and len(names[0]) == 1:
        names = [[names[0][0]] * width for width in shape]  # one for all
    else:
        problem = _Problem(
            f"{ERROR_PREFIX}the panel range is {len(names)}x{max(map(len, names), default=0)} "
            f"cells and the ids {len(grid)}x{max(shape, default=0)}: give one profile, or "
            "the Panel cells beside the ids"
        )
        return [[problem] * width for width in shape]
    return [[_profile_or_problem(value) for value in row] for row in names]


def _profile_or_problem(value: Any) -> str:
    """:func:`_profile`, or the :class:`_Problem` its cells show when it names none."""
    try:
        return _profile(value)
    except Exception as exc:
        return _Problem(_error(exc))


def smm_status(
    order_ids: Any, field: Any = "status", profile: Any = None, *, panel: UdfPanel | None = None
) -> list[list[Any]]:
    """Status (or charge, start_count, remains, currency) of orders, same shape as the input;
    of the default panel's orders, or of those of the config profile ``profile`` names, or
    each of its own row's panel when ``profile`` is the range of Panel cells beside them.

    >>> smm_status([[1001], [None]], "remains", panel=panel)  # doctest: +SKIP
    [[157], ['']]
    >>> smm_status([[1001], [1001]], "status", [[""], ["b"]])  # doctest: +SKIP
    [['In progress'], ['Completed']]
    >>> smm_status([[1001]], "status", "b")  # doctest: +SKIP
    [['Completed']]
    """
    key = "".join(str(field or "status").lower().split()).replace("_", "")
    attribute = STATUS_FIELDS.get(key)
    if attribute is None:
        known = "status, charge, start_count, remains, currency"
        message = f"{ERROR_PREFIX}unknown field {str(field)[:20]!r} ({known})"
        return [[message for _ in row] for row in _grid(order_ids)]
    return _lookup(
        order_ids, lambda p: p.status, lambda answer: getattr(answer, attribute), panel, profile
    )


def smm_refill_status(
    refill_ids: Any, profile: Any = None, *, panel: UdfPanel | None = None
) -> list[list[Any]]:
    """Status of refills, same shape as the input (of the default panel, or the profile's).

    >>> smm_refill_status([[501, 502]], panel=panel)  # doctest: +SKIP
    [['Completed', 'In progress']]
    """
    return _lookup(refill_ids, lambda p: p.refills, lambda answer: answer.status, panel, profile)


def smm_balance(profile: Any = None, *, panel: UdfPanel | None = None) -> float | str:
    """The account balance as a number (the currency is in SMM_SERVICES' panel settings):
    of the default panel, or of the config profile ``profile`` names (as a ``Panel`` cell).

    >>> smm_balance(panel=panel)  # doctest: +SKIP
    100.84292
    >>> smm_balance("cheap")  # doctest: +SKIP
    12.5
    """
    try:
        panel = panel or udf_panel(_profile(profile))
        return float(panel.balance.get().amount)
    except Exception as exc:
        return _error(exc, panel)


def smm_services(profile: Any = None, *, panel: UdfPanel | None = None) -> list[list[Any]]:
    """The panel's service list with a header row, to spill into the sheet (the default
    panel's, or the profile's).

    >>> smm_services(panel=panel)[0][:3]  # doctest: +SKIP
    ['Service', 'Name', 'Type']
    """
    from .services_sheet import services_table

    try:
        panel = panel or udf_panel(_profile(profile))
        table = services_table(list(panel.services.get().values()))
    except Exception as exc:
        return [[_error(exc, panel)]]
    width = max(len(row) for row in table)
    return [[_plain(v) for v in row] + [""] * (width - len(row)) for row in table]


def smm_cost(
    service: Any, quantity: Any, profile: Any = None, *, panel: UdfPanel | None = None
) -> float | str:
    """What ``quantity`` of ``service`` costs at the panel's current rate (rate is per 1000):
    the default panel's, or the profile's.

    >>> smm_cost(1, 1000, panel=panel)  # doctest: +SKIP
    0.9
    """
    from .values import is_blank, parse_int

    if is_blank(service):
        return f"{ERROR_PREFIX}no service"
    service_id = parse_int(service) if not isinstance(service, bool) else None
    if service_id is None or service_id <= 0:
        return f"{ERROR_PREFIX}not a service id: {str(service)[:30]}"
    count = parse_int(quantity) if not isinstance(quantity, bool) else None
    if count is None or count < 0:
        return f"{ERROR_PREFIX}quantity must be a whole number, not {str(quantity)[:20]}"
    try:
        panel = panel or udf_panel(_profile(profile))
        found = panel.services.get().get(service_id)
    except Exception as exc:
        return _error(exc, panel)
    if found is None:
        return f"{ERROR_PREFIX}the panel has no service {service_id}"
    if found.rate is None:
        return f"{ERROR_PREFIX}the panel lists no price for service {service_id}"
    return float(found.rate * count / 1000)
