"""Money across panels: one reporting currency, the user's own rates, profit per row. Pure.

Panels bill in their account's currency. A workbook that names a reporting currency in its
Settings sheet (``Currency``) counts Cost, Profit and Max spend in it, converting with the
rates the same sheet gives (``Rate EUR`` = 1.08: one EUR is 1.08 of the reporting currency).
Nothing is looked up on the network and nothing is guessed: an amount in a currency without
a rate is :class:`NoRate`, which the caller turns into that row's error.

All arithmetic is in :class:`~decimal.Decimal`, exactly; only the Margin (a ratio) is
rounded, to :data:`MARGIN_PLACES` decimals.

>>> Rates("USD", {"EUR": Decimal("1.10")}).convert(Decimal("2"), "EUR")
Decimal('2.20')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from .errors import SmmsheetError

__all__ = ["MARGIN_PLACES", "NoRate", "Profit", "Rates", "profit"]

#: Decimals the Margin (profit / revenue) is rounded to: 0.2537 is 25.37 %.
MARGIN_PLACES = Decimal("0.0001")
#: Statuses whose order delivered nothing the client pays for.
_NOTHING_DELIVERED = frozenset({"canceled", "cancelled", "refunded", "fail", "failed"})


class NoRate(SmmsheetError):
    """An amount is in a currency the Settings sheet gives no rate for."""


@dataclass(frozen=True)
class Rates:
    """The reporting currency (None: amounts stay in the currency they came in) and the
    rates into it, by three-letter code."""

    currency: str | None = None
    rates: Mapping[str, Decimal] = field(default_factory=dict)

    def convert(self, value: Decimal, currency: str | None) -> Decimal:
        """``value`` of ``currency`` in the reporting currency; raises :class:`NoRate`."""
        if self.currency is None:
            return value
        code = (currency or "").strip().upper()
        if code == self.currency:
            return value
        if not code:
            raise NoRate(
                f"the panel did not say which currency it charged in, so it cannot be counted "
                f"in {self.currency}"
            )
        rate = self.rates.get(code)
        if rate is None:
            raise NoRate(
                f"no rate for {code} in the Settings sheet (add a row 'Rate {code}' with how "
                f"many {self.currency} one {code} is)"
            )
        return value * rate


@dataclass(frozen=True)
class Profit:
    """One row's money: what the panel charged and what the client pays, in one currency."""

    cost: Decimal
    revenue: Decimal
    profit: Decimal
    #: Profit / revenue, rounded to MARGIN_PLACES; None when the revenue is 0.
    margin: Decimal | None


def profit(
    *,
    charge: Decimal,
    currency: str | None,
    sell_price: Decimal,
    per_order: bool,
    quantity: int,
    remains: int | None,
    status: str | None,
    rates: Rates,
) -> Profit:
    """A row's cost, revenue, profit and margin from the charge the panel reported.

    Revenue is ``sell_price`` per 1000 of ``quantity`` (or per order when ``per_order``); a
    Partial order earns only what was delivered (quantity - remains), and a canceled,
    refunded or failed one earns nothing, as resellers refund their client.

    >>> row = profit(charge=Decimal("0.90"), currency="USD", sell_price=Decimal("1.50"),
    ...              per_order=False, quantity=1000, remains=0, status="Completed", rates=Rates())
    >>> row.profit, row.margin
    (Decimal('0.60'), Decimal('0.4000'))
    """
    cost = rates.convert(charge, currency)
    word = (status or "").strip().lower()
    if word in _NOTHING_DELIVERED:
        revenue = Decimal(0)
    elif per_order:
        revenue = sell_price
    else:
        delivered = quantity
        if word == "partial" and remains is not None:
            delivered = max(0, quantity - remains)
        revenue = sell_price * delivered / 1000
    gain = revenue - cost
    margin = (gain / revenue).quantize(MARGIN_PLACES) if revenue else None
    return Profit(cost, revenue, gain, margin)
