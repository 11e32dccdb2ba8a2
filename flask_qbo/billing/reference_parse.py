"""QBO's tax codes, tax rates, Preferences and CompanyInfo as ``qbo_tax_code`` / ``qbo_tax_rate`` /
``qbo_company_prefs`` columns.

Pure functions over untrusted payloads, kept apart from the reads and writes
of :mod:`.reference` so each rule can be checked against Intuit's documented
shapes (``tests/conformance``) without a company.  The one rule that matters
most is :func:`tax_model`: it decides whether a document's lines say
``TAX``/``NON`` (US automated sales tax), name a tax code each (other
countries), or carry no tax at all.
"""

from __future__ import annotations

import typing as t
from decimal import ROUND_HALF_UP
from decimal import Decimal
from decimal import InvalidOperation

from ..sync.payload import get_path
from ..sync.pull.parsing import clip
from .catalog import NO_TAX
from .catalog import PER_LINE
from .catalog import US_AST
from .catalog import US_MANUAL

Row = t.Mapping[str, t.Any]


#: Country spellings seen in ``CompanyInfo.Country`` that are not ISO 3166 alpha-2.
_COUNTRIES = {
    "USA": "US",
    "UNITED STATES": "US",
    "CAN": "CA",
    "CANADA": "CA",
    "GBR": "GB",
    "UK": "GB",
    "UNITED KINGDOM": "GB",
    "AUS": "AU",
    "AUSTRALIA": "AU",
    "IND": "IN",
    "INDIA": "IN",
    "FRA": "FR",
    "FRANCE": "FR",
}


def flag(value: object, default: bool) -> bool:
    """A Preferences boolean (QBO sends JSON booleans; ``"true"``/``"false"`` strings are accepted too)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return default


def ref_value(value: object) -> str | None:
    """The id in a reference (``{"value": "3"}``), or a bare id; ``None`` when absent."""
    if isinstance(value, t.Mapping):
        value = value.get("value")
    return clip(value, 32) if value not in (None, "") else None


def country_code(info: Row) -> str | None:
    """``CompanyInfo.Country`` as an ISO alpha-2 code (``US``, ``CA`` ...); ``None`` when unknown."""
    raw = info.get("Country")
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip().upper()
    if len(text) == 2 and text.isalpha():
        return text
    return _COUNTRIES.get(text)


def tax_model(prefs: Row, country: str | None) -> str:
    """How the company's sales forms carry tax.

    ``us_ast`` when ``TaxPrefs.PartnerTaxEnabled`` is true (automated sales
    tax set up); ``us_manual`` for a US company using sales tax the classic
    way (its lines also say ``TAX``/``NON``, but QBO applies only the rate the
    document names, else none); ``per_line`` for any other company using sales
    tax (every line names a tax code); ``none`` when sales tax is off.
    """
    taxes = prefs.get("TaxPrefs")
    taxes = taxes if isinstance(taxes, t.Mapping) else {}
    using = flag(taxes.get("UsingSalesTax"), False)
    if flag(taxes.get("PartnerTaxEnabled"), False):
        return US_AST
    if country == "US" and using:
        return US_MANUAL
    if using:
        return PER_LINE
    return NO_TAX


def prefs_columns(prefs: Row, info: Row) -> dict[str, t.Any]:
    """The ``qbo_company_prefs`` columns read from Preferences and CompanyInfo (all but the realm and times)."""
    country = country_code(info)
    sales = prefs.get("SalesFormsPrefs")
    sales = sales if isinstance(sales, t.Mapping) else {}
    return {
        "country": country,
        "home_currency": clip(ref_value(get_path(prefs, "CurrencyPrefs.HomeCurrency")), 3),
        "multi_currency": flag(get_path(prefs, "CurrencyPrefs.MultiCurrencyEnabled"), False),
        "custom_txn_numbers": flag(sales.get("CustomTxnNumbers"), False),
        "allow_estimates": flag(sales.get("AllowEstimates"), True),
        "allow_discount": flag(sales.get("AllowDiscount"), True),
        "online_payments": flag(sales.get("ETransactionPaymentEnabled"), False),
        "tax_model": tax_model(prefs, country),
        "default_tax_code_id": ref_value(get_path(prefs, "TaxPrefs.TaxGroupCodeRef")),
        "default_terms_id": ref_value(sales.get("DefaultTerms")),
        "raw": dict(prefs),
    }


def tax_code_columns(data: Row) -> dict[str, t.Any]:
    """The ``qbo_tax_code`` columns of a QBO TaxCode (all but its keys)."""
    return {
        "name": clip(data.get("Name"), 100) or str(data["Id"]),
        "description": clip(data.get("Description"), 500),
        "taxable": flag(data.get("Taxable"), True),
        "tax_group": flag(data.get("TaxGroup"), False),
        "active": flag(data.get("Active"), True),
        "hidden": flag(data.get("Hidden"), False),
        "sales_rates": sales_rates(data),
        "raw": dict(data),
    }


def sales_rates(data: Row) -> list[dict[str, t.Any]]:
    """``SalesTaxRateList.TaxRateDetail`` flattened: ``[{"rate_id", "order", "applies_to"}, ...]`` in tax order."""
    details = get_path(data, "SalesTaxRateList.TaxRateDetail")
    found: list[dict[str, t.Any]] = []
    for detail in details if isinstance(details, list) else []:
        if not isinstance(detail, t.Mapping):
            continue
        rate_id = ref_value(detail.get("TaxRateRef"))
        if rate_id is None:
            continue
        order = detail.get("TaxOrder")
        found.append(
            {
                "rate_id": rate_id,
                "order": order if isinstance(order, int) and not isinstance(order, bool) else 0,
                "applies_to": clip(detail.get("TaxTypeApplicable"), 30),
            }
        )
    return sorted(found, key=lambda rate: int(rate["order"]))


def tax_rate_columns(data: Row) -> dict[str, t.Any]:
    """The ``qbo_tax_rate`` columns of a QBO TaxRate (all but its keys)."""
    return {
        "name": clip(data.get("Name"), 100) or str(data["Id"]),
        "rate_value": percent(data.get("RateValue")),
        "agency_id": ref_value(data.get("AgencyRef")),
        "active": flag(data.get("Active"), True),
        "raw": dict(data),
    }


def percent(value: object) -> Decimal | None:
    """A ``RateValue`` (8.25 for 8.25 %) as a four-place Decimal in 0..100; ``None`` when it is not one."""
    if value is None or isinstance(value, bool):
        return None
    try:
        rate = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not rate.is_finite() or not 0 <= rate <= 100:
        return None
    return rate.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
