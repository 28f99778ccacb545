"""Which panel to talk to: command-line flags, a named profile, environment, workbook Settings.

Precedence, highest first:

1. ``--panel-url`` / ``--api-key`` flags;
2. a profile named explicitly (``--profile``, ``SMMSHEET_PROFILE``, or the workbook's
   ``Settings`` sheet row ``Profile``) from the user config file;
3. the environment variables ``SMMSHEET_PANEL_URL`` and ``SMMSHEET_API_KEY``;
4. the config file's ``default_profile``.

The user config file (``smmsheet config-path`` prints where) is TOML::

    default_profile = "main"

    [profiles.main]
    url = "https://panel.example/api/v2"
    api_key_env = "MAIN_PANEL_KEY"     # or: api_key = "..." (keep the file private)
    max_workers = 4

The API key never lives in a workbook: a Settings sheet that holds one is refused.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .panel import DEFAULT_MAX_WORKERS, PanelClient
from .typed_numbers import Unreadable, amount
from .workbook.base import WorkbookAdapter, find_sheet

__all__ = [
    "ENV_API_KEY",
    "ENV_CONFIG",
    "ENV_PANEL_URL",
    "ENV_PROFILE",
    "PanelSettings",
    "WorkbookSettings",
    "config_path",
    "resolve_panel",
    "settings_of",
    "spending_cap",
    "workbook_settings",
]

ENV_PANEL_URL = "SMMSHEET_PANEL_URL"
ENV_API_KEY = "SMMSHEET_API_KEY"
ENV_PROFILE = "SMMSHEET_PROFILE"
ENV_CONFIG = "SMMSHEET_CONFIG"
SETTINGS_SHEET = "Settings"


@dataclass(frozen=True)
class PanelSettings:
    """A resolved panel: URL, key (hidden from repr) and client options."""

    url: str
    api_key: str = field(repr=False)
    profile: str | None = None
    max_workers: int = DEFAULT_MAX_WORKERS

    def client(self) -> PanelClient:
        """A :class:`PanelClient` for these settings."""
        return PanelClient(self.url, self.api_key, max_workers=self.max_workers)


@dataclass(frozen=True)
class WorkbookSettings:
    """Non-secret settings a workbook may carry on a ``Settings`` sheet."""

    profile: str | None = None
    max_spend: Decimal | None = None


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the user config file lives (``SMMSHEET_CONFIG`` overrides)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG]).expanduser()
    from platformdirs import user_config_path

    return user_config_path("smmsheet", appauthor=False) / "config.toml"


def _load_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None


def resolve_panel(
    *,
    url: str | None = None,
    api_key: str | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    workbook: WorkbookSettings | None = None,
) -> PanelSettings:
    """Resolve the panel to use from flags, profile, environment and config file.

    Raises :class:`ConfigError` with one line saying what is missing.
    """
    env = os.environ if environ is None else environ
    path = config_path(env)
    data = _load_file(path)
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: 'profiles' must be a table")

    named = profile or env.get(ENV_PROFILE) or (workbook.profile if workbook else None)
    chosen_name = named or data.get("default_profile")
    chosen: dict[str, Any] = {}
    if chosen_name:
        if chosen_name not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise ConfigError(f"no profile {chosen_name!r} in {path} (profiles: {known})")
        chosen = profiles[chosen_name]
        if not isinstance(chosen, dict):
            raise ConfigError(f"{path}: profile {chosen_name!r} must be a table")

    def from_profile(name: str) -> str | None:
        if name == "api_key" and chosen.get("api_key_env"):
            return env.get(str(chosen["api_key_env"])) or None
        value = chosen.get(name)
        return str(value) if value else None

    layers: list[tuple[str | None, str | None]] = [(url, api_key)]
    profile_layer = (from_profile("url"), from_profile("api_key"))
    env_layer = (env.get(ENV_PANEL_URL) or None, env.get(ENV_API_KEY) or None)
    layers += [profile_layer, env_layer] if named else [env_layer, profile_layer]
    final_url = next((u for u, _ in layers if u), None)
    final_key = next((k for _, k in layers if k), None)

    if not final_url:
        raise ConfigError(
            f"no panel URL: pass --panel-url, set {ENV_PANEL_URL}, or add a profile to {path}"
        )
    if not final_url.startswith(("http://", "https://")):
        raise ConfigError(f"panel URL must start with http:// or https://: {final_url!r}")
    if not final_key:
        hint = f" (profile {chosen_name!r} names {chosen.get('api_key_env')})" if chosen else ""
        raise ConfigError(
            f"no API key: pass --api-key, set {ENV_API_KEY}, or add it to a profile in {path}"
            + hint
        )
    try:
        workers = int(chosen.get("max_workers", DEFAULT_MAX_WORKERS))
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: max_workers must be a whole number") from None
    return PanelSettings(final_url, final_key, chosen_name, max(1, min(workers, 16)))


_SECRET_NAMES = {"apikey", "key", "api_key", "apitoken", "token", "secret", "password"}


def spending_cap(value: object, source: str) -> Decimal:
    """Read a spending cap typed by the user; raise :class:`ConfigError` if it cannot be read.

    One reading for the Settings sheet's ``Max spend`` and ``--max-spend``, so ``25``,
    ``"$25"``, ``"25 USD"``, ``"25,00"`` and ``"25.00 €"`` mean the same wherever they are
    typed. A cap that cannot be read is no reason to spend without one: the run stops before
    anything is sent, and ``source`` (``"--max-spend"``, ``"Max spend in Settings!B3"``)
    says where to fix it.

    >>> spending_cap("$1,234.50", "--max-spend")
    Decimal('1234.50')
    """
    try:
        cap = amount(value)
    except Unreadable as exc:
        raise ConfigError(
            f"{source} must be an amount such as 25 or 25.50, got {exc}; nothing was sent"
        ) from None
    if cap < 0:
        raise ConfigError(f"{source} must not be negative, got {cap}; nothing was sent")
    return cap


def workbook_settings(
    rows: Sequence[Sequence[object]], sheet: str = SETTINGS_SHEET
) -> WorkbookSettings:
    """Read a ``Settings`` sheet: two columns, name and value (``Profile``, ``Max spend``).

    A row that looks like an API key is refused, so a key never travels inside a workbook;
    a ``Max spend`` that cannot be read is refused too (:func:`spending_cap`).
    """
    values: dict[str, object] = {}
    cells: dict[str, str] = {}
    for number, row in enumerate(rows, start=1):
        if len(row) < 2 or row[0] is None:
            continue
        name = "".join(str(row[0]).lower().split()).replace("_", "")
        if name in {n.replace("_", "") for n in _SECRET_NAMES} and row[1] not in (None, ""):
            raise ConfigError(
                "the workbook's Settings sheet holds an API key: remove it and use a profile "
                "or the SMMSHEET_API_KEY environment variable instead"
            )
        values[name] = row[1]
        cells[name] = f"{sheet}!B{number}"
    profile = values.get("profile")
    raw_spend = values.get("maxspend")
    blank = raw_spend is None or (isinstance(raw_spend, str) and not raw_spend.strip())
    spend = None if blank else spending_cap(raw_spend, f"Max spend in {cells['maxspend']}")
    return WorkbookSettings(profile=str(profile).strip() if profile else None, max_spend=spend)


def settings_of(book: WorkbookAdapter) -> WorkbookSettings:
    """The workbook's ``Settings`` sheet (any case), or defaults when it has none."""
    name = find_sheet(book.sheet_names(), SETTINGS_SHEET)
    return WorkbookSettings() if name is None else workbook_settings(book.read_values(name), name)
