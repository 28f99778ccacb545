"""The panels one workbook talks to: its default panel and the profiles its rows name.

A row's ``Panel`` cell names a profile of the user config file; an empty cell means the
workbook's default panel (``--profile``, the Settings sheet's ``Profile``, the environment).
Each panel has its own client, opened the first time a row needs it, so a workbook that
names no panel opens none but its default. Every panel is known by a *key*: its profile
name, or ``""`` for a default panel that has no profile name (a URL from the flags or the
environment). The journal records that key with every paid request, and an order id is only
ever looked up on the panel whose key its row carries.

Example::

    panels = Panels(default_client, default_name="main", open_profile=open_client)
    panels.client(panels.key("eu"))     # the "eu" profile's client, opened once
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import ConfigError
from .values import profile_name

if TYPE_CHECKING:  # the engine drives clients it is given: no HTTP client imported here
    from .panel import PanelClient

__all__ = ["Panels"]


class Panels:
    """A workbook's panel clients by key: the default one given, the others opened on demand.

    ``open_profile(name)`` makes the client of a named profile, or raises
    :class:`~smmsheet.errors.ConfigError` (an unknown profile, a profile without its own URL
    or key): that error is the row's, and is remembered so it is raised once per name.
    Clients it opened are closed by :meth:`close`; the default client is the caller's.
    """

    def __init__(
        self,
        default: PanelClient,
        *,
        default_name: str = "",
        open_profile: Callable[[str], PanelClient] | None = None,
    ) -> None:
        self.default = default
        self.default_name = default_name.strip()
        self._open_profile = open_profile
        self._clients: dict[str, PanelClient] = {self.default_name: default}
        self._opened: list[PanelClient] = []
        self._refused: dict[str, ConfigError] = {}
        self._lock = threading.Lock()  # adds are sent from worker threads

    def key(self, name: object) -> str:
        """The key of the panel a ``Panel`` cell names: empty means the default panel. A whole
        number names its profile as its text does (a typed 2 is read as 2.0), as the
        formulas read it."""
        return profile_name(name) or self.default_name

    def label(self, key: str) -> str:
        """How messages name a panel: ``panel 'eu'``, or ``the default panel``."""
        return f"panel {key!r}" if key else "the default panel"

    def client(self, key: str) -> PanelClient:
        """The client of the panel ``key``; raises :class:`ConfigError` when it cannot be had."""
        with self._lock:
            return self._client(key)

    def _client(self, key: str) -> PanelClient:
        found = self._clients.get(key)
        if found is not None:
            return found
        if key in self._refused:
            raise self._refused[key]
        if self._open_profile is None:
            error = ConfigError(
                f"Panel {key!r}: this run knows only its default panel (no profiles to choose "
                "from); leave Panel empty or run with a config file that has this profile"
            )
        else:
            try:
                made = self._open_profile(key)
            except ConfigError as exc:
                error = ConfigError(f"Panel {key!r}: {exc}")
            else:
                self._clients[key] = made
                self._opened.append(made)
                return made
        self._refused[key] = error
        raise error

    @property
    def max_workers(self) -> int:
        """Requests in flight at once across the panels opened so far."""
        return max(c.max_workers for c in self._clients.values())

    def close(self) -> None:
        """Close the clients this object opened (the default client stays the caller's)."""
        for made in self._opened:
            made.close()
        self._opened.clear()
