"""Currencies on sales documents, and the emulator's fixed exchange-rate table.

With ``CurrencyPrefs.MultiCurrencyEnabled`` on (facts §7) every transaction
names its currency (``CurrencyRef``, an ISO code), which must be its
customer's; ``ExchangeRate`` (home units per foreign unit) defaults to 1 when
omitted, as QBO does, and is always 1 in the home currency. The home-currency
views ``HomeTotalAmt`` / ``HomeBalance`` are derived on every read
(:func:`home_amounts`), so a payment that lowers ``Balance`` lowers them too.
With the switch off (the default) a document simply carries the home currency.

QBO's own rate table follows the markets; the emulator's is fixed
(:data:`RATES_PER_USD`) so tests can state their expectations: the rate from a
source currency to the home currency is the ratio of their USD values, rounded
to seven decimals, the same for every ``asofdate``.
"""

from __future__ import annotations

import typing as t
from decimal import ROUND_HALF_UP
from decimal import Decimal

from .. import errors
from .flags import multicurrency
from .lines import cents
from .lines import decimal

if t.TYPE_CHECKING:
    from ..company import Company

#: Currency code → (name, value of one unit in US dollars).
RATES_PER_USD: dict[str, tuple[str, Decimal]] = {
    "USD": ("United States Dollar", Decimal("1")),
    "EUR": ("Euro", Decimal("1.08")),
    "GBP": ("British Pound Sterling", Decimal("1.27")),
    "CAD": ("Canadian Dollar", Decimal("0.74")),
    "AUD": ("Australian Dollar", Decimal("0.66")),
    "MXN": ("Mexican Peso", Decimal("0.058")),
    "INR": ("Indian Rupee", Decimal("0.012")),
    "JPY": ("Japanese Yen", Decimal("0.0067")),
}
RATE_PLACES = Decimal("0.0000001")


def rate(source: str, home: str) -> Decimal:
    """Home units per one ``source`` unit from the fixed table (2500 for a code it lacks)."""
    for code in (source, home):
        if code not in RATES_PER_USD:
            raise errors.invalid_reference("SourceCurrencyCode", code)
    return (RATES_PER_USD[source][1] / RATES_PER_USD[home][1]).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def exchange_rate(source: str, home: str, as_of: str) -> dict[str, t.Any]:
    """One ``ExchangeRate`` object as QBO shapes it."""
    return {
        "SourceCurrencyCode": source,
        "TargetCurrencyCode": home,
        "Rate": float(rate(source, home)),
        "AsOfDate": as_of,
        "SyncToken": "0",
        "domain": "QBO",
        "sparse": False,
    }


def document_currency(
    company: Company,
    obj: dict[str, t.Any],
    current: dict[str, t.Any] | None,
    customer: dict[str, t.Any],
    home: dict[str, str],
) -> None:
    """Settle a transaction's ``CurrencyRef`` and, in a multi-currency company, its ``ExchangeRate``."""
    if not multicurrency(company):
        obj["CurrencyRef"] = (current or {}).get("CurrencyRef") or obj.get("CurrencyRef") or dict(home)
        return
    if current is not None:
        obj["CurrencyRef"] = current["CurrencyRef"]
    else:
        sent = obj.get("CurrencyRef")
        code = str(sent.get("value") or "").strip().upper() if isinstance(sent, dict) else ""
        if not code:
            raise errors.required("CurrencyRef", "Required parameter CurrencyRef is missing in the request")
        if code not in RATES_PER_USD:
            raise errors.invalid_reference("CurrencyRef", code)
        own = str((customer.get("CurrencyRef") or home).get("value") or home["value"])
        if code != own:
            raise errors.business(
                f"The transaction currency ({code}) must be the customer's currency ({own}).", "CurrencyRef"
            )
        obj["CurrencyRef"] = {"value": code, "name": RATES_PER_USD[code][0]}
    if obj["CurrencyRef"]["value"] == home["value"] or obj.get("ExchangeRate") is None:
        obj["ExchangeRate"] = 1
        return
    given = decimal(obj["ExchangeRate"], "ExchangeRate")
    if given <= 0:
        raise errors.business("ExchangeRate must be greater than zero.", "ExchangeRate")
    obj["ExchangeRate"] = float(given)


def home_amounts(obj: dict[str, t.Any]) -> dict[str, float]:
    """``HomeTotalAmt`` and ``HomeBalance`` of a stored transaction that has an ``ExchangeRate``."""
    if obj.get("ExchangeRate") is None:
        return {}
    factor = Decimal(str(obj["ExchangeRate"]))
    out: dict[str, float] = {}
    for source, target in (("TotalAmt", "HomeTotalAmt"), ("Balance", "HomeBalance")):
        if obj.get(source) is not None:
            out[target] = float(cents(Decimal(str(obj[source])) * factor))
    return out
