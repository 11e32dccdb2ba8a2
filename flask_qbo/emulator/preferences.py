"""The company's ``Preferences``: QBO's settings page, as one read-only entity.

Integrators read Preferences before anything else (is sales tax on? may a
document carry its own number? which currency is home?), so every company
has one, ``GET /preferences`` and ``select * from Preferences`` answer it, and
its values describe what the emulator really does: documents are numbered by
the server (``CustomTxnNumbers`` false), discounts and estimates exist, sales
tax is not set up (every ``TxnTaxDetail.TotalTax`` is 0), one currency, no
automatic application of credits or payments. Field names and nesting follow
Intuit's Preferences reference and the SDK fixtures listed in
``docs/emulator.rst``.
"""

from __future__ import annotations

import typing as t

#: The entity id: a company has exactly one Preferences object.
PREFERENCES_ID = "1"
#: The default Term (``Net 30``, defaults.py) and the default sales item (``Services``).
DEFAULT_TERM_ID = "3"
DEFAULT_ITEM_ID = "1"


def _message(subject: str, body: str, company_name: str) -> dict[str, str]:
    return {"Subject": f"{subject} from {company_name}", "Message": f"{body}\n\nKind regards,\n{company_name}"}


def new_preferences(
    company_name: str, currency: dict[str, str], fiscal_month: str, stamp: dict[str, str]
) -> dict[str, t.Any]:
    """The Preferences of a company just created (``stamp`` is its ``MetaData``)."""
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
            "QuantityOnHand": False,
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
            "CustomTxnNumbers": False,
            "AllowDeposit": False,
            "AllowDiscount": True,
            "AllowEstimates": True,
            "AllowServiceDate": False,
            "AllowShipping": False,
            "DefaultTerms": {"value": DEFAULT_TERM_ID},
            "DefaultCustomerMessage": "Thank you for your business.",
            "EmailCopyToCompany": False,
            "ETransactionEnabledStatus": "NotApplicable",
            "ETransactionAttachPDF": False,
            "ETransactionPaymentEnabled": False,
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
        "TaxPrefs": {"UsingSalesTax": False, "PartnerTaxEnabled": False},
        "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": currency["value"]}},
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
