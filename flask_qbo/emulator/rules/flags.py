"""The few Preferences switches the document rules obey, read from the company itself.

Sales documents change behaviour with four company settings (Intuit's
Preferences reference): whether the company numbers its own documents
(``SalesFormsPrefs.CustomTxnNumbers``), allows discounts
(``SalesFormsPrefs.AllowDiscount``), takes online payments
(``SalesFormsPrefs.ETransactionPaymentEnabled``) and keeps several currencies
(``CurrencyPrefs.MultiCurrencyEnabled``). The rules read them here, from the
company's stored Preferences object (:mod:`..preferences` builds it), so a test
or the web UI that flips a switch changes what the next write does.
"""

from __future__ import annotations

import typing as t

from ..preferences import PREFERENCES_ID

if t.TYPE_CHECKING:
    from ..company import Company


def _section(company: Company, name: str) -> dict[str, t.Any]:
    prefs = company.table("Preferences").get(PREFERENCES_ID) or {}
    section = prefs.get(name)
    return section if isinstance(section, dict) else {}


def sales_form_flag(company: Company, name: str, default: bool = False) -> bool:
    """One boolean of ``Preferences.SalesFormsPrefs`` (``default`` when the company has none)."""
    value = _section(company, "SalesFormsPrefs").get(name, default)
    return value is True or str(value).lower() == "true"


def multicurrency(company: Company) -> bool:
    """``Preferences.CurrencyPrefs.MultiCurrencyEnabled``."""
    value = _section(company, "CurrencyPrefs").get("MultiCurrencyEnabled", False)
    return value is True or str(value).lower() == "true"


def home_currency(company: Company, fallback: str) -> str:
    """The company's home currency code (``CurrencyPrefs.HomeCurrency``), else ``fallback``."""
    ref = _section(company, "CurrencyPrefs").get("HomeCurrency")
    return str(ref.get("value") or fallback) if isinstance(ref, dict) else fallback
