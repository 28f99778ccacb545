"""What the simulated panel sells: the seeded services and the rules of each service type.

``default_services()`` is the catalogue a new ``PanelSimulator`` lists, one dict per service as
the ``services`` action shows it (plus hidden keys that say how it really behaves);
``misleading_services()`` are services whose listing does not tell the whole price.
``Catalogue`` holds them parsed, and ``read_order`` applies a service type's rules to an
``add`` form (the fields it needs, how its quantity is counted, drip-feed, subscriptions, web
traffic) and prices it, refusing with the panel's own message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from .protocol import (
    DIGITS,
    E_DISABLED,
    E_LINK,
    E_NO_DRIPFEED,
    E_REQUEST,
    E_SERVICE,
    Form,
    Refusal,
    count_lines,
    integer,
    required_int,
    text,
    to_money,
)

#: Subscription ``delay`` values (minutes) real panels accept.
SUBSCRIPTION_DELAYS = frozenset({0, 5, 10, 15, 30, *range(60, 601, 30)})


def default_services() -> list[dict[str, Any]]:
    """Return a fresh copy of the seeded catalogue, one dict per service as the API lists it."""

    def svc(
        sid: int,
        name: str,
        type_: str,
        category: str,
        rate: str,
        lo: str,
        hi: str,
        refill: bool = False,
        cancel: bool = False,
        dripfeed: bool = False,
    ) -> dict[str, Any]:
        return {
            "service": sid,
            "name": name,
            "type": type_,
            "category": category,
            "rate": rate,
            "min": lo,
            "max": hi,
            "refill": refill,
            "cancel": cancel,
            "dripfeed": dripfeed,
        }

    services = [
        svc(1, "Instagram Followers [Refill 30d]", "Default", "Instagram Followers",
            "0.90", "50", "10000", refill=True, cancel=True, dripfeed=True),
        svc(2, "Instagram Custom Comments", "Custom Comments", "Instagram Comments",
            "8", "10", "1500", cancel=True),
        svc(3, "Instagram Likes", "Default", "Instagram Likes", "0.25", "10", "50000"),
        svc(4, "YouTube Views", "Default", "YouTube Views", "1.20", "100", "1000000",
            refill=True, cancel=True),
        svc(5, "Instagram Mentions", "Mentions", "Instagram Mentions", "4.00", "100", "10000"),
        svc(6, "Instagram Mentions Custom List", "Mentions Custom List", "Instagram Mentions",
            "5.00", "10", "1000"),
        svc(7, "Instagram Mentions Hashtag", "Mentions Hashtag", "Instagram Mentions",
            "4.00", "100", "10000"),
        svc(8, "Instagram Mentions User Followers", "Mentions User Followers",
            "Instagram Mentions", "4.00", "100", "10000"),
        svc(9, "Instagram Mentions Media Likers", "Mentions Media Likers", "Instagram Mentions",
            "4.00", "100", "10000"),
        svc(10, "Instagram Mentions with Hashtags", "Mentions with Hashtags",
            "Instagram Mentions", "4.50", "100", "10000"),
        svc(11, "Instagram Package: 1000 Likes + 10 Comments", "Package", "Instagram Packages",
            "3.00", "1", "1"),
        svc(12, "Google SEO Backlinks", "SEO", "SEO", "2.50", "100", "5000"),
        svc(13, "Instagram Comment Likes", "Comment Likes", "Instagram Comments",
            "1.50", "50", "10000"),
        svc(14, "Twitter Poll Votes", "Poll", "Twitter", "2.00", "100", "10000"),
        svc(15, "Telegram Invites from Groups", "Invites from Groups", "Telegram",
            "6.00", "100", "5000"),
        svc(16, "Instagram Comment Replies", "Comment Replies", "Instagram Comments",
            "10.00", "5", "500"),
        svc(17, "Instagram Auto Likes [Subscription]", "Subscriptions", "Instagram Auto Likes",
            "0.30", "50", "5000"),
        svc(18, "Website Traffic [Worldwide]", "Web Traffic", "Website Traffic",
            "0.50", "500", "1000000", dripfeed=True),
        svc(19, "Instagram Custom Comments Package [up to 10]", "Custom Comments Package",
            "Instagram Packages", "2.00", "1", "10"),
        svc(20, '=HYPERLINK("http://evil","x")', "Default", "@Weird +Category",
            "1", "10", "100"),
        svc(21, "TikTok Views", "Default", "TikTok Views", "0.0123", "100", "10000000",
            cancel=True),
        svc(22, "Instagram Story Views [disabled]", "Default", "Instagram Story Views",
            "0.10", "100", "10000"),
    ]  # fmt: skip
    services[-1]["disabled"] = True  # hidden from the listing; add answers "Disabled service ID"
    return services


#: Catalogue keys that say how the simulator really behaves; never part of the listing.
HIDDEN_KEYS = frozenset({"disabled", "charge_rate", "package_per_1000", "unlisted"})


def misleading_services() -> list[dict[str, Any]]:
    """Services whose listing does not tell the whole price, as found on real panels.

    Not in the default catalogue; add them with
    ``PanelSimulator(services=default_services() + misleading_services())``:
    30-32 list no usable rate (missing, ``"N/A"``, negative) yet charge 2.00 per 1000;
    33 is a Package billed ``rate x 1 / 1000`` instead of its rate; 34 lists neither
    ``refill`` nor ``cancel`` (the panel does not say) and offers both.
    """
    odd = {"type": "Default", "category": "Misleading", "min": "10", "max": "10000"}
    return [
        {**odd, "service": 30, "name": "No rate field", "charge_rate": "2.00"},
        {**odd, "service": 31, "name": "Rate N/A", "rate": "N/A", "charge_rate": "2.00"},
        {**odd, "service": 32, "name": "Negative rate", "rate": "-1.00", "charge_rate": "2.00"},
        {
            **odd,
            "service": 33,
            "name": "Package billed per 1000",
            "type": "Package",
            "rate": "3.00",
            "min": "1",
            "max": "1",
            "package_per_1000": True,
        },
        {
            **odd,
            "service": 34,
            "name": "Says nothing on refill/cancel",
            "rate": "1.00",
            "refill": True,
            "cancel": True,
            "unlisted": ("refill", "cancel"),
        },
    ]


@dataclass(frozen=True)
class Service:
    """A catalogue entry with its numbers parsed."""

    id: int
    type: str
    rate: Decimal
    min: int
    max: int
    refill: bool
    cancel: bool
    dripfeed: bool
    disabled: bool
    listing: dict[str, Any]
    #: A Package charged ``rate x 1 / 1000`` instead of its rate (panels differ).
    package_per_1000: bool = False


@dataclass(frozen=True)
class TypeRule:
    """Which ``add`` fields one service type needs and how its quantity is counted."""

    needs_link: bool = True
    count: str = "quantity"  # quantity | comments | usernames | one | subscription
    extra: tuple[str, ...] = ()
    per_package: bool = False


DEFAULT_RULE = TypeRule()
#: The rule of each service type of ``docs/panel-api.md``; other types order as Default.
RULES: dict[str, TypeRule] = {
    "Default": DEFAULT_RULE,
    "Package": TypeRule(count="one", per_package=True),
    "SEO": TypeRule(extra=("keywords",)),
    "Custom Comments": TypeRule(count="comments", extra=("comments",)),
    "Custom Comments Package": TypeRule(count="comments", extra=("comments",), per_package=True),
    "Mentions": TypeRule(extra=("usernames",)),
    "Mentions with Hashtags": TypeRule(extra=("usernames", "hashtags")),
    "Mentions Custom List": TypeRule(count="usernames", extra=("usernames",)),
    "Mentions Hashtag": TypeRule(extra=("hashtag",)),
    "Mentions User Followers": TypeRule(extra=("username",)),
    "Mentions Media Likers": TypeRule(extra=("media",)),
    "Comment Likes": TypeRule(extra=("username",)),
    "Poll": TypeRule(extra=("answer_number",)),
    "Invites from Groups": TypeRule(extra=("groups",)),
    "Comment Replies": TypeRule(count="comments", extra=("username", "comments")),
    "Subscriptions": TypeRule(
        needs_link=False, count="subscription", extra=("username", "min", "max", "delay")
    ),
    "Web Traffic": DEFAULT_RULE,
}


def flag(value: Any) -> bool:
    """Read a panel flag given as ``true``, ``"true"``, ``1`` or ``"1"``."""
    return value is True or str(value).strip().lower() in {"1", "true", "yes"}


def parse_service(raw: Mapping[str, Any]) -> Service:
    """Turn one catalogue dict into a ``Service``; the listing keeps strings as panels do."""
    listing = {k: v for k, v in raw.items() if k not in HIDDEN_KEYS}
    listing["service"] = int(raw["service"])
    for key in ("rate", "min", "max"):
        if key in raw:
            listing[key] = str(raw[key])
    for key in ("refill", "cancel"):
        listing[key] = flag(raw.get(key, False))
    for key in raw.get("unlisted", ()):  # fields this panel leaves out of its listing
        listing.pop(key, None)
    return Service(
        id=int(raw["service"]),
        type=str(raw.get("type", "Default")),
        rate=Decimal(str(raw.get("charge_rate", raw.get("rate")))),
        min=int(raw["min"]),
        max=int(raw["max"]),
        refill=flag(raw.get("refill", False)),
        cancel=flag(raw.get("cancel", False)),
        dripfeed=flag(raw.get("dripfeed", False)),
        disabled=flag(raw.get("disabled", False)),
        listing=listing,
        package_per_1000=flag(raw.get("package_per_1000", False)),
    )


class Catalogue:
    """The services one panel offers, by id."""

    def __init__(self, entries: Iterable[Mapping[str, Any]]) -> None:
        parsed = [parse_service(entry) for entry in entries]
        self._by_id = {service.id: service for service in parsed}

    def listing(self) -> list[dict[str, Any]]:
        """The catalogue as the ``services`` action lists it (disabled services left out)."""
        return [dict(s.listing) for s in self._by_id.values() if not s.disabled]

    def get(self, service_id: int) -> Service | None:
        """The service with this id, listed or not."""
        return self._by_id.get(service_id)

    def orderable(self, token: str) -> Service:
        """The service an ``add`` names in its ``service`` field, or the panel's refusal."""
        token = token.strip()
        service = self._by_id.get(int(token)) if DIGITS.fullmatch(token) else None
        if service is None:
            raise Refusal(E_SERVICE)
        if service.disabled:
            raise Refusal(E_DISABLED)
        return service


@dataclass(frozen=True)
class OrderRequest:
    """An ``add`` its service type accepts: where it goes, how many units, what it costs."""

    service: Service
    #: The link, or the username of a subscription.
    target: str
    #: Units over every drip-feed run (a subscription: ``max`` per post times the posts).
    total: int
    charge: Decimal


def read_order(service: Service, form: Form) -> OrderRequest:
    """Check an ``add`` form against its service type's rules and price it.

    Example::

        likes = Catalogue(default_services()).orderable("3")  # 0.25 per 1000
        read_order(likes, {"link": "https://instagram.com/p/x", "quantity": "40"}).charge
        # Decimal('0.01000')
    """
    rule = RULES.get(service.type, DEFAULT_RULE)
    link = text(form, "link")
    if rule.needs_link and link is None:
        raise Refusal(E_LINK)
    if any(text(form, name) is None for name in rule.extra):
        raise Refusal(E_REQUEST)
    if rule.count == "subscription":
        total = _subscription_total(form, service)
        target = (form.get("username") or "").strip()
    else:
        total = _quantity_total(form, service, rule)
        target = (link or "").strip()
    if service.type == "Web Traffic":
        _check_web_traffic(form)
    per_package = rule.per_package and not service.package_per_1000
    charge = to_money(service.rate if per_package else service.rate * total / 1000)
    return OrderRequest(service=service, target=target, total=total, charge=charge)


def _check_bounds(quantity: int, service: Service) -> None:
    """Refuse a quantity outside the service's min/max with the panel's wording."""
    if quantity < service.min:
        raise Refusal(f"Quantity less than minimal {service.min}")
    if quantity > service.max:
        raise Refusal(f"Quantity more than maximal {service.max}")


def _quantity_total(form: Form, service: Service, rule: TypeRule) -> int:
    """Total units of a non-subscription order; min/max apply per drip-feed run."""
    if rule.count == "quantity":
        quantity = required_int(form, "quantity")
    elif rule.count == "one":
        quantity = 1
    else:
        quantity = count_lines(form, rule.count)
    _check_bounds(quantity, service)
    runs = integer(form, "runs", required=False)
    interval = integer(form, "interval", required=False)
    if runs is None and interval is None:
        return quantity
    if not service.dripfeed:
        raise Refusal(E_NO_DRIPFEED)
    if runs is None or interval is None or runs < 1 or interval < 1:
        raise Refusal(E_REQUEST)
    return quantity * runs


def _subscription_total(form: Form, service: Service) -> int:
    """Total units of a subscription: ``max`` per post times ``posts`` (one if not given)."""
    low, high = required_int(form, "min"), required_int(form, "max")
    if required_int(form, "delay") not in SUBSCRIPTION_DELAYS or low > high:
        raise Refusal(E_REQUEST)
    _check_bounds(low, service)
    _check_bounds(high, service)
    posts = integer(form, "posts", required=False)
    integer(form, "old_posts", required=False)
    if posts == 0:
        raise Refusal(E_REQUEST)
    expiry = text(form, "expiry")
    if expiry is not None:
        try:
            datetime.strptime(expiry.strip(), "%d/%m/%Y")
        except ValueError:
            raise Refusal(E_REQUEST) from None
    return high * (posts or 1)


def _check_web_traffic(form: Form) -> None:
    """Validate the optional Web Traffic fields: device 1-5, traffic type 1-3 and its companion."""
    device = integer(form, "device", required=False)
    kind = integer(form, "type_of_traffic", required=False)
    if device is not None and not 1 <= device <= 5:
        raise Refusal(E_REQUEST)
    if kind is not None and not 1 <= kind <= 3:
        raise Refusal(E_REQUEST)
    if kind == 1 and text(form, "google_keyword") is None:
        raise Refusal(E_REQUEST)
    if kind == 2 and text(form, "referring_url") is None:
        raise Refusal(E_REQUEST)
