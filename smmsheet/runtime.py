"""Interpreter settings a run holds while it works in bulk, and gives back after.

Two of CPython's process-wide knobs are tuned for programs unlike a run over 100,000 rows
with requests in flight:

- :func:`quick_turns`: the GIL's switch interval (5 ms by default). A worker whose reply
  has come in must take the GIL before it sends its next request, while the run's own
  thread is busy with the answers before it; at 5 ms a turn that wait was on every
  request's path.
- :func:`few_collections`: the cyclic garbage collector's first threshold (700 new objects
  by default). A run reads a sheet as a million small objects that all stay alive, and each
  time the heap had grown by a quarter the collector walked all of it: seven full passes in
  a 100,000-row refresh, 0.35 s, two of them while requests were in flight, holding the GIL
  (so holding back every worker). At 20,000 a run of that size makes none. mypy does the
  same while it builds.

Each is held, not set: runs may nest or overlap (two panels' requests at once, a fleet of
books on threads), so the first one in sets the knob and the last one out puts back what
the first one found, unless someone set their own value meanwhile. A value someone set
further in the same direction is kept.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["BULK_THRESHOLD", "QUICK_TURN", "few_collections", "quick_turns"]

#: The GIL switch interval while requests are in flight, in seconds.
QUICK_TURN = 0.001
#: New objects between two young collections while a run works in bulk.
BULK_THRESHOLD = 20_000

_V = TypeVar("_V")


class _Held(Generic[_V]):
    """A process-wide setting held while anyone needs it, then put back as it was."""

    def __init__(
        self, read: Callable[[], _V], write: Callable[[_V], object], held: Callable[[_V], _V]
    ) -> None:
        self._read, self._write, self._held = read, write, held
        self._lock = threading.Lock()
        self._holders = 0
        self._before: _V | None = None
        self._set: _V | None = None  # what the first holder set, as the interpreter keeps it

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        # Counted before set, and inside the try: a Ctrl-C is raised as a builtin call
        # returns, and one as the knob was just set must still give it back.
        try:
            with self._lock:
                self._holders += 1
                if self._holders == 1:
                    before = self._before  # kept by a hold cut short before it gave back
                    if before is None:
                        self._before = before = self._read()
                    self._set = None  # unknown until read back: given back regardless
                    self._write(self._held(before))
                    self._set = self._read()
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0 and self._before is not None:
                    # Someone set their own value meanwhile (an add-in, a macro): theirs stays.
                    if self._set is None or self._read() == self._set:
                        self._write(self._before)
                    self._before = None


#: Shorter GIL turns while requests are in flight (never longer than someone set them).
quick_turns = _Held(sys.getswitchinterval, sys.setswitchinterval, lambda t: min(t, QUICK_TURN))


def _set_threshold(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(*thresholds)


def _bulk_threshold(thresholds: tuple[int, int, int]) -> tuple[int, int, int]:
    """Young collections no more often than every BULK_THRESHOLD new objects; a collector
    switched off by a threshold of 0 stays off."""
    young, middle, old = thresholds
    return (young if young == 0 else max(young, BULK_THRESHOLD), middle, old)


#: Fewer collections while a run reads, asks and writes in bulk.
few_collections = _Held(gc.get_threshold, _set_threshold, _bulk_threshold)
