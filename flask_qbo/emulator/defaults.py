"""What a new QBO company holds before anyone writes to it.

A sandbox company is never empty: it has its CompanyInfo (addresses, phone,
web site, the day it started), its Preferences, the standard terms and
payment methods, a few accounts, the "Services" item that sales lines
default to and its country's tax codes and rates (:mod:`.tax_tables`). These rows are put straight into the tables (no change log entry,
no webhook), as they exist from the moment the company does.
"""

from __future__ import annotations

import typing as t

from .company import Company
from .preferences import PREFERENCES_ID
from .preferences import new_preferences
from .settings import COUNTRIES
from .settings import CompanySettings
from .tax_tables import default_tax_code
from .tax_tables import tax_lists

DEFAULT_TERMS = (("Due on receipt", 0), ("Net 15", 15), ("Net 30", 30), ("Net 60", 60))
DEFAULT_PAYMENT_METHODS = (
    ("Cash", "NON_CREDIT_CARD"),
    ("Check", "NON_CREDIT_CARD"),
    ("Visa", "CREDIT_CARD"),
    ("MasterCard", "CREDIT_CARD"),
    ("Discover", "CREDIT_CARD"),
    ("American Express", "CREDIT_CARD"),
    ("Diners Club", "CREDIT_CARD"),
)
COMPANY_PHONE = "(650) 555-0100"
DEFAULT_ACCOUNTS = (
    ("1", "Services", "Income", "ServiceFeeIncome"),
    ("4", "Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
    ("35", "Checking", "Bank", "Checking"),
    ("79", "Sales of Product Income", "Income", "SalesOfProductIncome"),
    ("80", "Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    ("81", "Inventory Asset", "Other Current Asset", "Inventory"),
)


def fill_new_company(
    company: Company,
    stamp: dict[str, str],
    currency: dict[str, str],
    today: str,
    company_info: dict[str, object],
    settings: CompanySettings | None = None,
) -> None:
    """Put CompanyInfo and the default lists into a just-created ``company``.

    ``stamp`` is the ``MetaData`` every row gets and ``today`` the company's
    ``CompanyStartDate`` (a seeded company is created on the day its history
    starts); ``company_info`` overrides CompanyInfo fields (a test's own
    CompanyName, say) and ``settings`` the country and Preferences flags.
    """
    settings = settings or CompanySettings()
    address = COUNTRIES[settings.country].address
    name = company.name
    site = "".join(ch for ch in name.lower() if ch.isalnum())[:40] or "company"
    info: dict[str, t.Any] = {
        "Id": company.realm,
        "SyncToken": "0",
        "CompanyName": name,
        "LegalName": name,
        "CompanyAddr": {"Id": company.new_address_id(), **address},
        "CustomerCommunicationAddr": {"Id": company.new_address_id(), **address},
        "LegalAddr": {"Id": company.new_address_id(), **address},
        "PrimaryPhone": {"FreeFormNumber": COMPANY_PHONE},
        "WebAddr": {"URI": f"https://www.{site}.example.com"},
        "Country": settings.country,
        "SupportedLanguages": "en",
        "FiscalYearStartMonth": "January",
        "CompanyStartDate": today,
        "Email": {"Address": "noreply@example.com"},
        "NameValue": [
            {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
            {"Name": "SubscriptionStatus", "Value": "PAID"},
        ],
        "domain": "QBO",
        "sparse": False,
        "MetaData": dict(stamp),
    }
    info.update(company_info)
    company.tables["CompanyInfo"][company.realm] = info
    company.tables["Preferences"][PREFERENCES_ID] = new_preferences(
        str(info["CompanyName"]),
        currency,
        str(info["FiscalYearStartMonth"]),
        stamp,
        settings,
        default_tax_code(settings.country),
    )
    codes, rates = tax_lists(settings.country, stamp, today)
    company.tables["TaxCode"].update((row["Id"], row) for row in codes)
    company.tables["TaxRate"].update((row["Id"], row) for row in rates)
    for index, (term, days) in enumerate(DEFAULT_TERMS, start=1):
        company.tables["Term"][str(index)] = _row(
            str(index), stamp, Name=term, Type="STANDARD", DueDays=days, DiscountPercent=0, DiscountDays=0
        )
    for index, (method, kind) in enumerate(DEFAULT_PAYMENT_METHODS, start=1):
        company.tables["PaymentMethod"][str(index)] = _row(str(index), stamp, Name=method, Type=kind)
    for acc_id, acc_name, acc_type, sub_type in DEFAULT_ACCOUNTS:
        company.tables["Account"][acc_id] = _row(
            acc_id,
            stamp,
            Name=acc_name,
            FullyQualifiedName=acc_name,
            AccountType=acc_type,
            AccountSubType=sub_type,
            CurrentBalance=0,
            CurrencyRef=dict(currency),
        )
    company.tables["Item"]["1"] = _row(
        "1",
        stamp,
        Name="Services",
        FullyQualifiedName="Services",
        Type="Service",
        IncomeAccountRef={"value": "1", "name": "Services"},
    )


def _row(obj_id: str, stamp: dict[str, str], **fields: object) -> dict[str, t.Any]:
    """One active list row in QBO's shape."""
    return {
        "Id": obj_id,
        "SyncToken": "0",
        "Active": True,
        **fields,
        "domain": "QBO",
        "sparse": False,
        "MetaData": dict(stamp),
    }
