"""Which QBO entities the emulator knows and what a client may do with each.

The catalogue every other module consults: the name lists and sales
transactions that exist, which of them can be created, voided or filtered in a
query, and the enumerations QBO accepts. Kept free of behaviour (and of
imports) so the store, the query engine, the seed and the web UI can all read
it without depending on the validation rules.
"""

from __future__ import annotations

NAME_LISTS = ("Customer", "Term", "PaymentMethod", "Account", "Item")
TRANSACTIONS = ("Invoice", "Payment", "Estimate", "SalesReceipt", "CreditMemo", "RefundReceipt")
#: The company's tax list: served and queried, never written by a client, not in CDC.
TAX_LISTS = ("TaxCode", "TaxRate")
ENTITIES = NAME_LISTS + TRANSACTIONS + ("CompanyInfo", "Preferences") + TAX_LISTS
#: URL segment (lower case) and case-insensitive query name → canonical name.
BY_LOWER = {name.lower(): name for name in ENTITIES}
#: Reference lists a client may create; Account is read-only here (and an Item of Type Group).
CREATABLE = ("Customer", "Term", "PaymentMethod", "Item") + TRANSACTIONS
#: Entities the emulator serves but no client may change.
READ_ONLY = ("Account", "Preferences") + TAX_LISTS
#: Entities a CDC request may not name (QBO leaves the tax list out of change data capture).
NOT_IN_CDC = TAX_LISTS
VOIDABLE = ("Invoice", "Payment", "SalesReceipt", "CreditMemo", "RefundReceipt")
#: Appended to the DisplayName of an inactive customer, as QBO does.
DELETED_SUFFIX = " (deleted)"

_META = ("Id", "MetaData.CreateTime", "MetaData.LastUpdatedTime")
_TXN_FILTERS = _META + ("DocNumber", "TxnDate", "CustomerRef", "TotalAmt", "PrivateNote", "EmailStatus", "PrintStatus")
#: Properties a query's WHERE and ORDERBY may name, per entity.
FILTERABLE: dict[str, frozenset[str]] = {
    "Customer": frozenset(
        _META
        + (
            "DisplayName",
            "GivenName",
            "MiddleName",
            "FamilyName",
            "CompanyName",
            "PrintOnCheckName",
            "FullyQualifiedName",
            "PrimaryEmailAddr",
            "Active",
            "Balance",
            "BalanceWithJobs",
            "Job",
            "ParentRef",
        )
    ),
    "Term": frozenset(_META + ("Name", "Active", "Type", "DueDays")),
    "PaymentMethod": frozenset(_META + ("Name", "Active", "Type")),
    "Account": frozenset(_META + ("Name", "Active", "AccountType", "FullyQualifiedName")),
    "Item": frozenset(
        _META + ("Name", "Active", "Type", "FullyQualifiedName", "Sku", "SubItem", "Taxable", "ParentRef", "UnitPrice")
    ),
    "TaxCode": frozenset(_META + ("Name", "Active", "Taxable", "TaxGroup", "Hidden")),
    "TaxRate": frozenset(_META + ("Name", "Active", "RateValue", "AgencyRef")),
    "Invoice": frozenset(_TXN_FILTERS + ("DueDate", "Balance")),
    "Payment": frozenset(_TXN_FILTERS + ("UnappliedAmt", "PaymentRefNum")),
    "Estimate": frozenset(_TXN_FILTERS + ("TxnStatus", "ExpirationDate")),
    "SalesReceipt": frozenset(_TXN_FILTERS + ("Balance",)),
    "CreditMemo": frozenset(_TXN_FILTERS + ("Balance", "RemainingCredit")),
    "RefundReceipt": frozenset(_TXN_FILTERS + ("Balance",)),
    "CompanyInfo": frozenset(_META + ("CompanyName", "Country")),
    "Preferences": frozenset(_META),
}
#: Values a name-list query filters by when ``Active`` is not in the WHERE clause.
ACTIVE_BY_DEFAULT = frozenset(NAME_LISTS)

#: A customer's ``PreferredDeliveryMethod`` values.
DELIVERY_METHODS = ("Print", "Email", "None")
#: An estimate's ``TxnStatus`` values.
ESTIMATE_STATUSES = ("Pending", "Accepted", "Closed", "Rejected", "Converted")
