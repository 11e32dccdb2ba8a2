"""Per-entity knowledge: which entities exist, what QBO validates, what it derives.

The store stays generic (ids, SyncTokens, change log); everything that differs
between a Customer and an Invoice lives here so both the HTTP API and the
Python API enforce the same rules.
"""

from __future__ import annotations

from datetime import date
from datetime import timedelta
from decimal import ROUND_HALF_UP
from decimal import Decimal
from decimal import InvalidOperation
from typing import TYPE_CHECKING
from typing import Any

from . import errors
from .errors import EmulatorFault

if TYPE_CHECKING:
    from .store import Company

NAME_LISTS = ("Customer", "Term", "PaymentMethod", "Account", "Item")
TRANSACTIONS = ("Invoice", "Payment", "Estimate", "SalesReceipt", "CreditMemo", "RefundReceipt")
ENTITIES = NAME_LISTS + TRANSACTIONS + ("CompanyInfo",)
#: URL segment (lower case) and case-insensitive query name → canonical name.
BY_LOWER = {name.lower(): name for name in ENTITIES}
#: Reference lists a client may create; Account and Item are read-only here.
CREATABLE = ("Customer", "Term", "PaymentMethod") + TRANSACTIONS
VOIDABLE = ("Invoice", "Payment", "SalesReceipt", "CreditMemo", "RefundReceipt")
DELETED_SUFFIX = " (deleted)"

_META = ("Id", "MetaData.CreateTime", "MetaData.LastUpdatedTime")
_TXN_FILTERS = _META + ("DocNumber", "TxnDate", "CustomerRef", "TotalAmt", "PrivateNote", "EmailStatus", "PrintStatus")
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
    "Item": frozenset(_META + ("Name", "Active", "Type", "FullyQualifiedName")),
    "Invoice": frozenset(_TXN_FILTERS + ("DueDate", "Balance")),
    "Payment": frozenset(_TXN_FILTERS + ("UnappliedAmt", "PaymentRefNum")),
    "Estimate": frozenset(_TXN_FILTERS + ("TxnStatus", "ExpirationDate")),
    "SalesReceipt": frozenset(_TXN_FILTERS + ("Balance",)),
    "CreditMemo": frozenset(_TXN_FILTERS + ("Balance", "RemainingCredit")),
    "RefundReceipt": frozenset(_TXN_FILTERS + ("Balance",)),
    "CompanyInfo": frozenset(_META + ("CompanyName", "Country")),
}
#: Values a name-list query filters by when ``Active`` is not in the WHERE clause.
ACTIVE_BY_DEFAULT = frozenset(NAME_LISTS)

CUSTOMER_LIMITS = {
    "DisplayName": 500,
    "Title": 16,
    "GivenName": 100,
    "MiddleName": 100,
    "FamilyName": 100,
    "Suffix": 16,
    "CompanyName": 100,
    "PrintOnCheckName": 110,
    "Notes": 2000,
    "ResaleNum": 16,
}
NESTED_LIMITS = {
    ("PrimaryEmailAddr", "Address"): 100,
    ("PrimaryPhone", "FreeFormNumber"): 30,
    ("AlternatePhone", "FreeFormNumber"): 30,
    ("Mobile", "FreeFormNumber"): 30,
    ("Fax", "FreeFormNumber"): 30,
    ("WebAddr", "URI"): 1000,
}
ADDRESS_LIMITS = {
    "Line1": 500,
    "Line2": 500,
    "Line3": 500,
    "Line4": 500,
    "Line5": 500,
    "City": 255,
    "CountrySubDivisionCode": 255,
    "PostalCode": 30,
    "Country": 255,
}
NAME_PARTS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
NO_SEPARATOR_FIELDS = ("DisplayName",) + NAME_PARTS + ("PrintOnCheckName",)
#: Fields the server owns; values sent by a client are ignored (as QBO does).
READ_ONLY = frozenset(
    {
        "Id",
        "SyncToken",
        "MetaData",
        "domain",
        "sparse",
        "FullyQualifiedName",
        "Level",
        "BalanceWithJobs",
        "TotalAmt",
        "RemainingCredit",
        "UnappliedAmt",
        "DeliveryInfo",
        "HomeBalance",
        "HomeTotalAmt",
    }
)
DELIVERY_METHODS = ("Print", "Email", "None")
ESTIMATE_STATUSES = ("Pending", "Accepted", "Closed", "Rejected", "Converted")
MAX_JOB_LEVEL = 4
UNDEPOSITED_FUNDS = {"value": "4", "name": "Undeposited Funds"}
CHECKING = {"value": "35", "name": "Checking"}
SERVICES_ITEM = {"value": "1", "name": "Services"}
_CENT = Decimal("0.01")


def money(value: Any, element: str = "Amount") -> float:
    """Parse an amount the way QBO accepts it (number or numeric string), to cents."""
    try:
        return float(Decimal(str(value)).quantize(_CENT, rounding=ROUND_HALF_UP))
    except (InvalidOperation, ValueError) as exc:
        raise errors.request_error(f"Invalid amount: {value!r}", element) from exc


def check_length(value: Any, limit: int, element: str) -> None:
    if isinstance(value, str) and len(value) > limit:
        raise errors.too_long(element, limit)


def _ref(company: Company, entity: str, ref: Any, element: str, label: str = "Name") -> dict[str, str]:
    """Validate a ReferenceType and fill its ``name`` from the target."""
    if not isinstance(ref, dict) or not str(ref.get("value", "")).strip():
        raise errors.required(element)
    ref_id = str(ref["value"])
    target = company.table(entity).get(ref_id)
    if target is None:
        raise errors.invalid_reference(element, ref_id)
    if target.get("Active") is False:
        raise errors.not_found(entity, ref_id)
    return {"value": ref_id, "name": target.get(label, "")}


def merge_for_write(
    entity: str, current: dict[str, Any] | None, incoming: dict[str, Any], sparse: bool
) -> dict[str, Any]:
    """Combine a stored object and a client body per QBO's full/sparse rules.

    A full update nulls every writable field the client left out; a sparse
    update changes only what was sent. Read-only fields always come from the
    stored copy.
    """
    read_only = READ_ONLY - {"TotalAmt"} if entity == "Payment" else READ_ONLY
    writable = {k: v for k, v in incoming.items() if k not in read_only and not k.startswith("_")}
    if current is None:
        return writable
    if sparse:
        merged = {k: v for k, v in current.items()}
        merged.update(writable)
        return merged
    kept = {k: v for k, v in current.items() if k in read_only or k.startswith("_")}
    kept.update(writable)
    return kept


# --------------------------------------------------------------------------- customers


def prepare_customer(
    company: Company, obj: dict[str, Any], current: dict[str, Any] | None, currency: dict[str, str]
) -> dict[str, Any]:
    """Validate a Customer and fill the fields QBO derives.

    DisplayName uniqueness is compared case-insensitively against every other
    customer (an emulator choice: Intuit does not document the case rule).
    Inactive customers carry the `` (deleted)`` suffix, so they never block a name.
    """
    for name in NO_SEPARATOR_FIELDS:
        value = obj.get(name)
        if isinstance(value, str) and any(ch in value for ch in ":\t\n"):
            raise errors.business(f"{name} cannot contain a colon (:), tab or newline.", name)
    for name, limit in CUSTOMER_LIMITS.items():
        check_length(obj.get(name), limit, name)
    for (outer, inner), limit in NESTED_LIMITS.items():
        if isinstance(obj.get(outer), dict):
            check_length(obj[outer].get(inner), limit, f"{outer}.{inner}")
    for addr in ("BillAddr", "ShipAddr"):
        if isinstance(obj.get(addr), dict):
            for part, limit in ADDRESS_LIMITS.items():
                check_length(obj[addr].get(part), limit, f"{addr}.{part}")
    email = (obj.get("PrimaryEmailAddr") or {}).get("Address")
    if email and ("@" not in email or "." not in email.split("@")[-1]):
        raise errors.business(
            "Email Address does not conform to the syntax rules of RFC 822. Supplied value:" + email,
            "PrimaryEmailAddr.Address",
        )
    active = obj.get("Active", True) is not False
    display = str(obj.get("DisplayName") or "").strip()
    if display.endswith(DELETED_SUFFIX):
        display = display[: -len(DELETED_SUFFIX)]
    if not display:
        parts = [str(obj[p]).strip() for p in NAME_PARTS if str(obj.get(p) or "").strip()]
        if not parts:
            raise EmulatorFault(
                400,
                "6080",
                "No Name Provided",
                "Business Validation Error: Please enter a name for the customer.",
                "DisplayName",
            )
        display = " ".join(parts)
        check_length(display, CUSTOMER_LIMITS["DisplayName"], "DisplayName")
    own_id = current["Id"] if current else None
    if active:
        lowered = display.lower()
        for other in company.table("Customer").values():
            if other["Id"] != own_id and other.get("DisplayName", "").lower() == lowered:
                raise errors.duplicate_name()
    method = obj.get("PreferredDeliveryMethod", "Print") or "Print"
    if method not in DELIVERY_METHODS:
        raise EmulatorFault(
            400, "2170", "Invalid Enumeration", f"Invalid Enumeration : {method}", "PreferredDeliveryMethod"
        )
    obj["PreferredDeliveryMethod"] = method
    level, fqn_prefix = 0, ""
    if obj.get("ParentRef") or obj.get("Job"):
        parent = _ref(company, "Customer", obj.get("ParentRef"), "ParentRef", "DisplayName")
        if parent["value"] == own_id or parent["value"] in company.descendants(own_id):
            raise errors.business("A customer cannot be its own parent.", "ParentRef")
        parent_obj = company.table("Customer")[parent["value"]]
        level = int(parent_obj.get("Level", 0)) + 1
        if level > MAX_JOB_LEVEL:
            raise errors.business("Sub-customers can only be nested 4 levels deep.", "ParentRef")
        obj["ParentRef"] = {"value": parent["value"]}
        obj["Job"] = True
        fqn_prefix = parent_obj["FullyQualifiedName"].removesuffix(DELETED_SUFFIX) + ":"
        obj.setdefault("BillWithParent", False)
    else:
        obj.pop("ParentRef", None)
        obj["Job"] = False
        obj["BillWithParent"] = False
    obj["Level"] = level
    suffix = "" if active else DELETED_SUFFIX
    obj["DisplayName"] = display + suffix
    obj["FullyQualifiedName"] = fqn_prefix + display + suffix
    obj["Active"] = active
    if not obj.get("PrintOnCheckName"):
        obj["PrintOnCheckName"] = display[:110]
    for name in ("SalesTermRef", "PaymentMethodRef"):
        if obj.get(name):
            obj[name] = _ref(company, "Term" if name == "SalesTermRef" else "PaymentMethod", obj[name], name)
    obj["CurrencyRef"] = (current or {}).get("CurrencyRef") or obj.get("CurrencyRef") or dict(currency)
    obj.setdefault("Taxable", bool(obj.get("DefaultTaxCodeRef")))
    if current is None:
        obj["_opening"] = money(obj.get("Balance", 0), "Balance")
    obj.pop("Balance", None)
    return obj


# --------------------------------------------------------------------------- transactions


def _line_total(lines: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float]:
    """Number the lines, fill Amount from Qty × UnitPrice, append the SubTotalLine."""
    out: list[dict[str, Any]] = []
    total = Decimal("0")
    for index, raw in enumerate(ln for ln in lines if ln.get("DetailType") != "SubTotalLineDetail"):
        line = dict(raw)
        detail_type = line.get("DetailType") or "SalesItemLineDetail"
        line["DetailType"] = detail_type
        detail = dict(line.get(detail_type) or {})
        if detail_type == "SalesItemLineDetail":
            detail.setdefault("ItemRef", dict(SERVICES_ITEM))
            if "Amount" not in line and "Qty" in detail and "UnitPrice" in detail:
                line["Amount"] = money(Decimal(str(detail["Qty"])) * Decimal(str(detail["UnitPrice"])))
        if "Amount" not in line:
            if detail_type == "DescriptionOnly":
                line["Amount"] = 0
            else:
                raise errors.required("Line.Amount", "Required parameter Line.Amount is missing in the request")
        line["Amount"] = money(line["Amount"], "Line.Amount")
        line[detail_type] = detail
        line["Id"] = str(index + 1)
        line["LineNum"] = index + 1
        sign = -1 if detail_type == "DiscountLineDetail" else (0 if detail_type == "DescriptionOnly" else 1)
        total += sign * Decimal(str(line["Amount"]))
        out.append(line)
    amount = money(total)
    out.append({"Amount": amount, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
    return out, amount


def _check_date(value: Any, element: str) -> str:
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError as exc:
        raise errors.request_error(f"Invalid date {value!r}", element) from exc


def prepare_transaction(
    company: Company,
    entity: str,
    obj: dict[str, Any],
    current: dict[str, Any] | None,
    currency: dict[str, str],
    today: str,
) -> dict[str, Any]:
    """Validate a sales transaction and compute totals, dates and numbers."""
    obj["CustomerRef"] = _ref(company, "Customer", obj.get("CustomerRef"), "CustomerRef", "DisplayName")
    customer = company.table("Customer")[obj["CustomerRef"]["value"]]
    obj["TxnDate"] = _check_date(obj.get("TxnDate") or today, "TxnDate")
    check_length(obj.get("PrivateNote"), 4000, "PrivateNote")
    check_length(obj.get("DocNumber"), 21, "DocNumber")
    obj["CurrencyRef"] = (current or {}).get("CurrencyRef") or obj.get("CurrencyRef") or dict(currency)
    if entity != "Payment":
        obj.setdefault("PrintStatus", "NotSet")
    obj.setdefault("EmailStatus", "NotSet")
    if obj.get("PaymentMethodRef"):
        obj["PaymentMethodRef"] = _ref(company, "PaymentMethod", obj["PaymentMethodRef"], "PaymentMethodRef")
    if entity == "Payment":
        return _prepare_payment(company, obj, current)
    if not obj.get("Line"):
        raise errors.required("Line", "Required parameter Line is missing in the request")
    obj["Line"], total = _line_total(list(obj["Line"]))
    obj["TotalAmt"] = total
    if not obj.get("DocNumber"):
        obj["DocNumber"] = (current or {}).get("DocNumber") or company.next_doc_number(entity)
    if entity == "Invoice":
        term_ref = obj.get("SalesTermRef") or customer.get("SalesTermRef")
        due_days = 0
        if term_ref:
            obj["SalesTermRef"] = _ref(company, "Term", term_ref, "SalesTermRef")
            due_days = int(company.table("Term")[obj["SalesTermRef"]["value"]].get("DueDays") or 0)
        if obj.get("DueDate"):
            obj["DueDate"] = _check_date(obj["DueDate"], "DueDate")
        else:
            obj["DueDate"] = (date.fromisoformat(obj["TxnDate"]) + timedelta(days=due_days)).isoformat()
        obj["Balance"] = money(total - company.applied_to_invoice((current or {}).get("Id")))
        if obj["Balance"] < 0:
            raise errors.business("The invoice total cannot be less than the payments applied to it.", "Line")
        obj.setdefault("LinkedTxn", [])
    elif entity == "Estimate":
        status = obj.get("TxnStatus") or "Pending"
        if status not in ESTIMATE_STATUSES:
            raise EmulatorFault(400, "2170", "Invalid Enumeration", f"Invalid Enumeration : {status}", "TxnStatus")
        obj["TxnStatus"] = status
    elif entity == "SalesReceipt":
        obj["Balance"] = 0
        obj.setdefault("DepositToAccountRef", dict(UNDEPOSITED_FUNDS))
    elif entity == "CreditMemo":
        obj["RemainingCredit"] = total
        obj["Balance"] = total
    elif entity == "RefundReceipt":
        obj["Balance"] = 0
        obj.setdefault("DepositToAccountRef", dict(CHECKING))
    return obj


def _prepare_payment(company: Company, obj: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """Payments apply amounts to invoices through ``Line[].LinkedTxn``."""
    if "TotalAmt" not in obj:
        raise errors.required("TotalAmt", "Required parameter TotalAmt is missing in the request")
    total = money(obj["TotalAmt"], "TotalAmt")
    own_id = (current or {}).get("Id")
    applied = Decimal("0")
    lines = []
    for raw in obj.get("Line") or []:
        line = dict(raw)
        line["Amount"] = money(line.get("Amount", 0), "Line.Amount")
        for link in line.get("LinkedTxn") or []:
            if link.get("TxnType", "Invoice") != "Invoice":
                continue
            invoice = company.table("Invoice").get(str(link.get("TxnId")))
            if invoice is None:
                raise errors.invalid_reference("Line.LinkedTxn", str(link.get("TxnId")))
            if invoice["CustomerRef"]["value"] not in company.family(obj["CustomerRef"]["value"]):
                raise errors.business("The invoice belongs to a different customer.", "Line.LinkedTxn")
            open_amount = invoice["TotalAmt"] - company.applied_to_invoice(invoice["Id"], exclude_payment=own_id)
            if line["Amount"] > money(open_amount) + 0.0001:
                raise errors.business(
                    f"The payment amount applied to invoice {invoice.get('DocNumber')} exceeds its open balance.",
                    "Line.Amount",
                )
            link["TxnType"] = "Invoice"
            link["TxnId"] = invoice["Id"]
        applied += Decimal(str(line["Amount"]))
        lines.append(line)
    unapplied = money(Decimal(str(total)) - applied)
    if unapplied < 0:
        raise errors.business("The amount applied to invoices is more than the payment total.", "Line")
    obj["Line"] = lines
    obj["TotalAmt"] = total
    obj["UnappliedAmt"] = unapplied
    obj.setdefault("DepositToAccountRef", dict(UNDEPOSITED_FUNDS))
    obj.setdefault("ProcessPayment", False)
    return obj


# --------------------------------------------------------------------------- reference lists


def prepare_term(company: Company, obj: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """Terms: a Name (≤ 31, unique) and either DueDays (STANDARD) or a day of month."""
    _named(company, "Term", obj, current)
    for name, low, high in (
        ("DueDays", 0, 999),
        ("DiscountPercent", 0, 100),
        ("DiscountDays", 0, 999),
        ("DayOfMonthDue", 1, 31),
        ("DueNextMonthDays", 0, 999),
        ("DiscountDayOfMonth", 0, 31),
    ):
        if obj.get(name) is not None and not low <= float(obj[name]) <= high:
            raise errors.business(f"{name} must be between {low} and {high}.", name)
    obj["Type"] = "DATE_DRIVEN" if obj.get("DueDays") is None and obj.get("DayOfMonthDue") else "STANDARD"
    if obj["Type"] == "STANDARD":
        obj.setdefault("DueDays", 0)
    return obj


def prepare_payment_method(company: Company, obj: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    _named(company, "PaymentMethod", obj, current)
    kind = obj.get("Type") or "NON_CREDIT_CARD"
    if kind not in ("CREDIT_CARD", "NON_CREDIT_CARD"):
        raise EmulatorFault(400, "2170", "Invalid Enumeration", f"Invalid Enumeration : {kind}", "Type")
    obj["Type"] = kind
    return obj


def _named(company: Company, entity: str, obj: dict[str, Any], current: dict[str, Any] | None) -> None:
    name = str(obj.get("Name") or "").strip()
    if not name:
        raise errors.required("Name")
    check_length(name, 31, "Name")
    own_id = current["Id"] if current else None
    for other in company.table(entity).values():
        if other["Id"] != own_id and other.get("Name", "").lower() == name.lower():
            raise EmulatorFault(
                400,
                "6240",
                "Duplicate Name Exists Error",
                f"The name supplied already exists. : Another {entity} is already using this name.",
                "Name",
            )
    obj["Name"] = name
    obj["Active"] = obj.get("Active", True) is not False


def prepare(
    company: Company,
    entity: str,
    obj: dict[str, Any],
    current: dict[str, Any] | None,
    currency: dict[str, str],
    today: str,
) -> dict[str, Any]:
    """Dispatch to the entity's rules; CompanyInfo, Account and Item pass through."""
    if entity == "Customer":
        return prepare_customer(company, obj, current, currency)
    if entity in TRANSACTIONS:
        return prepare_transaction(company, entity, obj, current, currency, today)
    if entity == "Term":
        return prepare_term(company, obj, current)
    if entity == "PaymentMethod":
        return prepare_payment_method(company, obj, current)
    return obj
