"""The company's ``Preferences``: QBO's settings page, as one read-only entity.

Integrators read Preferences before anything else (is sales tax on? may a
document carry its own number? which currency is home?), so every company
has one, ``GET /preferences`` and ``select * from Preferences`` answer it, and
its values describe what the emulator really does for the company's
:class:`~flask_qbo.emulator.settings.CompanySettings`: by default documents
are numbered by the server (``CustomTxnNumbers`` false), discounts and
estimates exist, a US company has automated sales tax but has not set it up
(``PartnerTaxEnabled`` false, every ``TotalTax`` 0), one currency, no
automatic application of credits or payments. Field names and nesting follow
Intuit's Preferences reference and the SDK fixtures listed in
``docs/emulator.rst``.

The rules read the flags back through :class:`Prefs` (``company.prefs``), so
the Preferences a client reads and the behaviour it meets cannot disagree.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from .settings import CompanySettings

#: The entity id: a company has exactly one Preferences object.
PREFERENCES_ID = "1"
#: The default Term (``Net 30``, defaults.py) and the default sales item (``Services``).
DEFAULT_TERM_ID = "3"
DEFAULT_ITEM_ID = "1"


def _message(subject: str, body: str, company_name: str) -> dict[str, str]:
    return {"Subject": f"{subject} from {company_name}", "Message": f"{body}\n\nKind regards,\n{company_name}"}


@dataclass(frozen=True)
class Prefs:
    """The Preferences flags the rules act on, read from a company's Preferences row."""

    custom_txn_numbers: bool
    multicurrency_enabled: bool
    home_currency: str
    using_sales_tax: bool
    #: ``None`` when the company is not on automated sales tax (every non-US company).
    partner_tax_enabled: bool | None
    tax_group_code: str | None
    allow_estimates: bool
    allow_discount: bool
    allow_deposit: bool
    allow_shipping: bool
    online_payments: bool
    track_quantity_on_hand: bool
    default_terms: str | None

    @property
    def automated_sales_tax(self) -> bool:
        """True when US automated sales tax is on and set up: the emulator then computes the tax."""
        return bool(self.partner_tax_enabled) and self.using_sales_tax

    @classmethod
    def read(cls, row: dict[str, t.Any]) -> Prefs:
        forms = row.get("SalesFormsPrefs") or {}
        tax = row.get("TaxPrefs") or {}
        currency = row.get("CurrencyPrefs") or {}
        return cls(
            custom_txn_numbers=forms.get("CustomTxnNumbers") is True,
            multicurrency_enabled=currency.get("MultiCurrencyEnabled") is True,
            home_currency=str((currency.get("HomeCurrency") or {}).get("value", "")),
            using_sales_tax=tax.get("UsingSalesTax") is True,
            partner_tax_enabled=tax.get("PartnerTaxEnabled"),
            tax_group_code=(tax.get("TaxGroupCodeRef") or {}).get("value"),
            allow_estimates=forms.get("AllowEstimates") is True,
            allow_discount=forms.get("AllowDiscount") is True,
            allow_deposit=forms.get("AllowDeposit") is True,
            allow_shipping=forms.get("AllowShipping") is True,
            online_payments=forms.get("ETransactionPaymentEnabled") is True,
            track_quantity_on_hand=(row.get("ProductAndServicesPrefs") or {}).get("QuantityOnHand") is True,
            default_terms=(forms.get("DefaultTerms") or {}).get("value"),
        )


def _tax_prefs(settings: CompanySettings, default_tax_code: str | None) -> dict[str, t.Any]:
    """US: automated sales tax, set up or not; elsewhere: tax codes always on, no ``PartnerTaxEnabled``."""
    if settings.country == "US":
        return {"UsingSalesTax": settings.sales_tax, "PartnerTaxEnabled": settings.sales_tax}
    prefs: dict[str, t.Any] = {"UsingSalesTax": True}
    if default_tax_code:
        prefs["TaxGroupCodeRef"] = {"value": default_tax_code}
    return prefs


def new_preferences(
    company_name: str,
    currency: dict[str, str],
    fiscal_month: str,
    stamp: dict[str, str],
    settings: CompanySettings | None = None,
    default_tax_code: str | None = None,
) -> dict[str, t.Any]:
    """The Preferences of a company just created (``stamp`` is its ``MetaData``).

    ``default_tax_code`` is the Id of a non-US company's default sales tax code.
    """
    settings = settings or CompanySettings()
    return {
        "Id": PREFERENCES_ID,
        "SyncToken": "0",
        "AccountingInfoPrefs": {
            "UseAccountNumbers": False,
            "TrackDepartments": False,
            "ClassTrackingPerTxn": False,
            "ClassTrackingPerTxnLine": False,
            "FirstMonthOfFiscalYear": fiscal_month,
            "TaxYearMonth": fiscal_month,
            "CustomerTerminology": "Customers",
        },
        "ProductAndServicesPrefs": {
            "ForSales": True,
            "ForPurchase": False,
            "QuantityWithPriceAndRate": True,
            "QuantityOnHand": settings.track_quantity_on_hand,
        },
        "SalesFormsPrefs": {
            "CustomField": [
                {
                    "CustomField": [
                        {"Name": f"SalesFormsPrefs.UseSalesCustom{n}", "Type": "BooleanType", "BooleanValue": False}
                        for n in (1, 2, 3)
                    ]
                }
            ],
            "CustomTxnNumbers": settings.custom_txn_numbers,
            "AllowDeposit": settings.allow_deposit,
            "AllowDiscount": settings.allow_discount,
            "AllowEstimates": settings.allow_estimates,
            "AllowServiceDate": False,
            "AllowShipping": settings.allow_shipping,
            "DefaultTerms": {"value": DEFAULT_TERM_ID},
            "DefaultCustomerMessage": "Thank you for your business.",
            "EmailCopyToCompany": False,
            "ETransactionEnabledStatus": "NotApplicable",
            "ETransactionAttachPDF": False,
            "ETransactionPaymentEnabled": settings.online_payments,
            "IPNSupportEnabled": False,
            "AutoApplyCredit": False,
            "AutoApplyPayments": False,
            "UsingPriceLevels": False,
            "UsingProgressInvoicing": False,
        },
        "EmailMessagesPrefs": {
            "InvoiceMessage": _message("Invoice", "Please find your invoice attached.", company_name),
            "EstimateMessage": _message("Estimate", "Please find our estimate attached.", company_name),
            "SalesReceiptMessage": _message("Sales Receipt", "Please find your sales receipt attached.", company_name),
            "StatementMessage": _message("Statement", "Please find your statement attached.", company_name),
        },
        "VendorAndPurchasesPrefs": {"TrackingByCustomer": False, "BillableExpenseTracking": False},
        "TimeTrackingPrefs": {
            "UseServices": False,
            "BillCustomers": False,
            "ShowBillRateToAll": False,
            "WorkWeekStartDate": "Monday",
            "MarkTimeEntriesBillable": False,
        },
        "TaxPrefs": _tax_prefs(settings, default_tax_code),
        "CurrencyPrefs": {
            "MultiCurrencyEnabled": settings.multicurrency,
            "HomeCurrency": {"value": currency["value"]},
        },
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
        "OtherPrefs": {
            "NameValue": [
                {"Name": "SalesFormsPrefs.DefaultItem", "Value": DEFAULT_ITEM_ID},
                {"Name": "ProjectsEnabled", "Value": "false"},
                {"Name": "DateFormat", "Value": "Month Date Year separated by a slash"},
                {"Name": "NumberFormat", "Value": "US Number Format"},
            ]
        },
        "domain": "QBO",
        "sparse": False,
        "MetaData": dict(stamp),
    }
