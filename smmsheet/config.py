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
    deadline = 60                      # seconds a request may take, connect to last byte
    max_requests_per_minute = 120      # for panels that rate-limit; default: no limit

The key goes only where it belongs. A profile's key is sent only to the profile's own
``url``, ``SMMSHEET_API_KEY`` only to ``SMMSHEET_PANEL_URL`` (or, when that is unset, to
the profile's url), and "the same place" means the same scheme, host and port. So
``--panel-url https://other.example/api/v2`` without ``--api-key`` is refused rather than
sent someone else's key; ``--api-key`` goes with whatever URL the run uses. A URL that
carries a key in its query string is refused: the key travels only in the POST body.

The API key never lives in a workbook: a Settings sheet that holds one is refused.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError, scrub
from .money import Rates
from .panel import DEFAULT_DEADLINE, DEFAULT_MAX_WORKERS, PanelClient
from .values import Unreadable, amount, is_blank, whole_number
from .workbook.base import WorkbookAdapter, find_sheet

__all__ = [
    "ENV_API_KEY",
    "ENV_CONFIG",
    "ENV_PANEL_URL",
    "ENV_PROFILE",
    "PanelSettings",
    "WorkbookSettings",
    "config_path",
    "profile_names",
    "resolve_panel",
    "resolve_profile",
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
    deadline: float = DEFAULT_DEADLINE
    max_requests_per_minute: int | None = None

    def client(self) -> PanelClient:
        """A :class:`PanelClient` for these settings."""
        return PanelClient(
            self.url,
            self.api_key,
            max_workers=self.max_workers,
            deadline=self.deadline,
            max_requests_per_minute=self.max_requests_per_minute,
        )


@dataclass(frozen=True)
class WorkbookSettings:
    """Non-secret settings a workbook may carry on a ``Settings`` sheet."""

    profile: str | None = None
    max_spend: Decimal | None = None
    #: ``Max spend per day``: what the workbook's placings may cost in one calendar day.
    max_spend_per_day: Decimal | None = None
    #: ``status`` notes orders whose refill window ends within this many days (None: not
    #: set, the engine's default applies).
    refill_warning_days: int | None = None
    #: The currency Cost, Profit and Max spend are counted in (``Currency``); None: the
    #: default panel's.
    currency: str | None = None
    #: ``Rate EUR`` = 1.08: one EUR is 1.08 of ``currency``. Given by the user, never fetched.
    rates: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def money(self) -> Rates:
        """The reporting currency and its rates, as the profit and cap arithmetic takes them."""
        return Rates(self.currency, dict(self.rates))


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the user config file lives (``SMMSHEET_CONFIG`` overrides)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG]).expanduser()
    from platformdirs import user_config_path

    return user_config_path("smmsheet", appauthor=False) / "config.toml"


#: The names the config file may use, at its top and in a profile. A name not here is a typo
#: to report: dropped in silence, ``api_kye`` loses the key and ``max_request_per_minute``
#: the panel's rate limit.
FILE_SETTINGS = ("default_profile", "profiles")
PROFILE_SETTINGS = (
    "url",
    "api_key",
    "api_key_env",
    "max_workers",
    "deadline",
    "max_requests_per_minute",
)


def _load_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    _check_names(data, FILE_SETTINGS, "", path)
    profiles = data.get("profiles")
    for name, table in profiles.items() if isinstance(profiles, dict) else ():
        if isinstance(table, dict):
            _check_names(table, PROFILE_SETTINGS, f" in profile {name!r}", path)
    return data


def _check_names(table: Mapping[str, Any], known: Sequence[str], where: str, path: Path) -> None:
    """One clear error for the first name of ``table`` that is not a setting."""
    import difflib

    for name in table:
        if name not in known:
            close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{path}: unknown setting {name!r}{where}{hint}; the settings are "
                + ", ".join(known)
            )


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
            by = (
                ""  # --profile or a row's Panel cell: the caller's own words
                if profile
                else f" ({ENV_PROFILE})"
                if env.get(ENV_PROFILE)
                else " (the Settings sheet's Profile)"
                if named
                else " (default_profile)"
            )
            raise ConfigError(f"no profile {chosen_name!r}{by} in {path} (profiles: {known})")
        chosen = profiles[chosen_name]
        if not isinstance(chosen, dict):
            raise ConfigError(f"{path}: profile {chosen_name!r} must be a table")

    def from_profile(name: str) -> str | None:
        if name == "api_key" and chosen.get("api_key_env"):
            return env.get(str(chosen["api_key_env"])) or None
        value = chosen.get(name)
        return str(value) if value else None

    profile_url, profile_key = from_profile("url"), from_profile("api_key")
    env_url, env_key = env.get(ENV_PANEL_URL) or None, env.get(ENV_API_KEY) or None
    profile_layer = (profile_url, profile_key)
    env_layer = (env_url, env_key)
    layers = [profile_layer, env_layer] if named else [env_layer, profile_layer]
    final_url = next((u for u, _ in [(url, api_key), *layers] if u), None)

    if not final_url:
        raise ConfigError(
            f"no panel URL: pass --panel-url, set {ENV_PANEL_URL}, or add a profile to {path}"
        )
    # A key pasted into the URL itself (a path, not a ?key=) is hidden by its value.
    secrets = (api_key, profile_key, env_key)
    if not final_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"panel URL must start with http:// or https://: {scrub(final_url, secrets)!r}"
        )
    try:
        target = _origin(final_url)  # first: a URL urlsplit refuses is one clear error
    except ConfigError as exc:
        raise ConfigError(scrub(str(exc), secrets)) from None
    if scrub(urlsplit(final_url).query) != urlsplit(final_url).query:
        raise ConfigError(
            f"the panel URL carries a secret in its query string ({scrub(final_url)}): "
            "smmsheet sends the key only in the POST body; remove it from the URL and use "
            f"--api-key, {ENV_API_KEY} or a profile"
        )
    profile_name = f"profile {chosen_name!r}"
    # Each key with the place it belongs to (None: anywhere this run goes), highest first.
    keys: list[tuple[str | None, str | None, str]] = [(api_key, None, "--api-key")]
    profile_keys = [(profile_key, profile_url or "", f"the key of {profile_name}")]
    env_keys = [(env_key, env_url or profile_url or "", ENV_API_KEY)]
    keys += profile_keys + env_keys if named else env_keys + profile_keys
    final_key = next(
        (k for k, home, _ in keys if k and (home is None or _origin(home) == target)), None
    )
    if not final_key:
        stray = next(((home, what) for k, home, what in keys if k), None)
        if stray is not None:
            home, what = stray
            belongs = f"belongs to {_shown_origin(home)}" if home else "has no panel URL of its own"
            pair = f"{ENV_PANEL_URL} with {ENV_API_KEY}"
            raise ConfigError(
                f"{what} {belongs}; it is not sent to {_shown_origin(final_url)}: pass "
                f"--api-key for that panel, or set {pair}, or use a profile with both"
            )
        variable = chosen.get("api_key_env")
        hint = f" ({profile_name} reads it from {variable}, which is not set)" if variable else ""
        raise ConfigError(
            f"no API key: pass --api-key, set {ENV_API_KEY}, or add it to a profile in {path}"
            + hint
        )
    return PanelSettings(
        final_url,
        final_key,
        chosen_name,
        max(1, min(_number(chosen, "max_workers", int, DEFAULT_MAX_WORKERS, path), 16)),
        deadline=_number(chosen, "deadline", float, DEFAULT_DEADLINE, path),
        max_requests_per_minute=_number(chosen, "max_requests_per_minute", int, None, path),
    )


def profile_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """The profiles of the user config file, in the file's order."""
    env = os.environ if environ is None else environ
    profiles = _load_file(config_path(env)).get("profiles", {})
    return list(profiles) if isinstance(profiles, dict) else []


def resolve_profile(name: str, environ: Mapping[str, str] | None = None) -> PanelSettings:
    """A named profile alone, as a row's ``Panel`` cell names it: its own URL and key only.

    The environment's ``SMMSHEET_PANEL_URL``/``SMMSHEET_API_KEY`` are not a fallback here: a
    row naming a profile must never reach the environment's panel instead.
    """
    env = dict(os.environ if environ is None else environ)
    for variable in (ENV_PANEL_URL, ENV_API_KEY, ENV_PROFILE):
        env.pop(variable, None)
    return resolve_panel(profile=name, environ=env)


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of a URL: where a key may be sent."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # "http://[::1/api": an IPv6 address not closed
        raise ConfigError(f"invalid panel URL {scrub(url)!r}") from None
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        raise ConfigError(f"invalid port in the panel URL {scrub(url)!r}") from None
    return scheme, (parts.hostname or "").rstrip(".").lower(), port


def _shown_origin(url: str) -> str:
    scheme, host, port = _origin(url)
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + ("" if port == default else f":{port}")


def _number(table: Mapping[str, Any], name: str, kind: type, default: Any, path: Path) -> Any:
    """A positive number setting of a profile, or ``default`` when it is not set."""
    if name not in table:
        return default
    try:
        value = kind(table[name])
    except (TypeError, ValueError, OverflowError):
        value = None
    if value is None or isinstance(table[name], bool) or not value > 0:
        word = "whole number" if kind is int else "number"
        raise ConfigError(f"{path}: {name} must be a positive {word}")
    return value


#: Words that make a Settings label a secret: "API key", "API-Key", "Key:", "Panel key",
#: "token", "api_token", "secret", "Password".
_SECRET_WORDS = re.compile(r"key$|apikey|token|secret|passw|pwd")


def _label(text: object) -> str:
    """A Settings label as compared: lower case letters and digits only, a trailing unit
    (``Max spend (USD)``) left out."""
    return re.sub(r"[^a-z0-9]", "", re.sub(r"\([^()]*\)\s*$", "", str(text).lower()))


#: The labels a Settings sheet's rows may carry, as compared, and as the template spells them.
SETTINGS_LABELS = {
    "profile": "Profile",
    "maxspend": "Max spend",
    "maxspendperday": "Max spend per day",
    "refillwarningdays": "Refill warning days",
    "currency": "Currency",
    "reportingcurrency": "Reporting currency",
}


#: A limit per day named without "spend" (``Max per day``, ``Daily budget``, ``Limit/day``).
_DAY_LIMIT = r"(?=.*da(y|ily))(daily)?(max|maximum|limit|cap|budget)(perday|aday|day|daily)?"


def _misspelt_label(name: str, text: object, value: object, cell: str) -> None:
    """Stop at a row whose label is one letter or two from a setting and holds a value.

    Read as the user's own row, ``Max spnd`` meant a run without the cap typed beside it,
    and ``Profil`` a run on the default panel's account. Any other label for a spending
    limit (``Spend limit``, ``Daily max spend``, ``Max per day``, ``Daily budget``) is taken
    for a cap smmsheet would not keep. Rows of the user's own that are not near a setting
    (``Tax rate``, ``Keywords``, ``Max posts per day``) are left alone.
    """
    import difflib

    if name in SETTINGS_LABELS or is_blank(value):
        return
    close = difflib.get_close_matches(name, SETTINGS_LABELS, n=1, cutoff=0.85)
    spend = "spend" in name and re.search("max|limit|cap", name)
    if close or spend or re.fullmatch(_DAY_LIMIT, name):
        daily = "maxspendperday" if re.search("day|daily", name) else "maxspend"
        meant = SETTINGS_LABELS[close[0] if close else daily]
        raise ConfigError(
            f"{cell} ({str(text).strip()[:40]!r}) is not a setting smmsheet reads: did you "
            f"mean {meant!r}? Rename it, or clear the value beside it; nothing was sent"
        )


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
    """Read a ``Settings`` sheet: two columns, name and value (``Profile``, ``Max spend``,
    ``Currency``, ``Rate EUR`` ...).

    A row that looks like an API key is refused, so a key never travels inside a workbook;
    a ``Max spend`` that cannot be read is refused too (:func:`spending_cap`).
    """
    values: dict[str, object] = {}
    cells: dict[str, str] = {}
    rates: dict[str, Decimal] = {}
    for number, row in enumerate(rows, start=1):
        if len(row) < 2 or row[0] is None:
            continue
        name = _label(row[0])
        if _SECRET_WORDS.search(name) and row[1] not in (None, ""):
            raise ConfigError(
                f"the workbook's Settings sheet holds an API key or another secret "
                f"({str(row[0]).strip()[:40]!r}): remove it and use a profile or the "
                f"{ENV_API_KEY} environment variable instead"
            )
        if name in SETTINGS_LABELS and name in values and not is_blank(row[1]):
            if not is_blank(values[name]):  # which one the user meant is not ours to pick
                raise ConfigError(
                    f"{cells[name]} and {sheet}!B{number} both set "
                    f"{SETTINGS_LABELS[name]!r}: keep one of them; nothing was sent"
                )
        elif name in SETTINGS_LABELS and name in values:
            continue  # a second, empty row takes nothing from the one filled in
        values[name] = row[1]
        cells[name] = f"{sheet}!B{number}"
        if (rate := _RATE_LABEL.fullmatch(str(row[0]).strip())) and row[1] not in (None, ""):
            code = rate.group(1) or rate.group(2)
            rates[code] = _rate(row[1], f"{cells[name]} (rate of {code})")
        elif not rate:
            _misspelt_label(name, row[0], row[1], f"{sheet}!A{number}")
    profile = values.get("profile")
    raw_spend = values.get("maxspend")
    spend = None
    if not is_blank(raw_spend):
        spend = spending_cap(raw_spend, f"Max spend in {cells['maxspend']}")
    per_day = None
    if not is_blank(raw_day := values.get("maxspendperday")):
        per_day = spending_cap(raw_day, f"Max spend per day in {cells['maxspendperday']}")
    warn = None
    if "refillwarningdays" in values and not is_blank(values["refillwarningdays"]):
        warn = _warning_days(values["refillwarningdays"], cells["refillwarningdays"])
    label = "currency" if values.get("currency") else "reportingcurrency"
    currency = str(values.get(label) or "").strip().upper()
    if currency and not re.fullmatch(r"[A-Z]{3}", currency):
        raise ConfigError(
            f"Currency in {cells[label]} must be a three-letter code such as USD or EUR, got "
            f"{currency[:20]!r}"
        )
    return WorkbookSettings(
        profile=str(profile).strip() if profile else None,
        max_spend=spend,
        max_spend_per_day=per_day,
        refill_warning_days=warn,
        currency=currency or None,
        rates=rates,
    )


def _warning_days(value: object, cell: str) -> int:
    """``Refill warning days``: a whole number of days, 0 to 365."""
    try:
        days = whole_number(value)
    except Unreadable as exc:
        raise ConfigError(
            f"Refill warning days in {cell} must be a whole number, got {exc}"
        ) from None
    if not 0 <= days <= 365:
        raise ConfigError(f"Refill warning days in {cell} must be 0 to 365, got {days}")
    return days


#: ``Rate EUR`` or ``EUR rate``: the code in capitals, so ``Tax rate`` is the user's own row.
_RATE_LABEL = re.compile(r"(?i:rate)[\s:]*([A-Z]{3})|([A-Z]{3})\s+(?i:rate)")


def _rate(value: object, source: str) -> Decimal:
    """An exchange rate typed in Settings: a positive amount, or the run stops."""
    try:
        rate = amount(value)
    except Unreadable as exc:
        raise ConfigError(f"{source} must be a number such as 1.08, got {exc}") from None
    if rate <= 0:
        raise ConfigError(f"{source} must be more than 0, got {rate}")
    return rate


def settings_of(book: WorkbookAdapter) -> WorkbookSettings:
    """The workbook's ``Settings`` sheet (any case), or defaults when it has none."""
    name = find_sheet(book.sheet_names(), SETTINGS_SHEET)
    return WorkbookSettings() if name is None else workbook_settings(book.read_values(name), name)
