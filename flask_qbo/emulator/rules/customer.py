"""QBO's Customer rules: name and length checks, DisplayName uniqueness, jobs.

A Customer is the entity the sync writes most, so its checks follow Intuit's
documented limits field by field, and the fields QBO derives (DisplayName from
the name parts, FullyQualifiedName and Level of a job, the `` (deleted)``
suffix of an inactive customer) are filled here, on every create and update.
"""

from __future__ import annotations

import typing as t

from .. import errors
from ..entities import DELETED_SUFFIX
from ..entities import DELIVERY_METHODS
from ..errors import EmulatorFault
from .values import addresses
from .values import check_length
from .values import money
from .values import reference

if t.TYPE_CHECKING:
    from ..company import Company

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
NAME_PARTS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
NO_SEPARATOR_FIELDS = ("DisplayName",) + NAME_PARTS + ("PrintOnCheckName",)
MAX_JOB_LEVEL = 4


def prepare_customer(
    company: Company, obj: dict[str, t.Any], current: dict[str, t.Any] | None, currency: dict[str, str]
) -> dict[str, t.Any]:
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
        parent = reference(company, "Customer", obj.get("ParentRef"), "ParentRef", "DisplayName")
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
            obj[name] = reference(company, "Term" if name == "SalesTermRef" else "PaymentMethod", obj[name], name)
    obj["CurrencyRef"] = (current or {}).get("CurrencyRef") or obj.get("CurrencyRef") or dict(currency)
    # On automated sales tax a new customer is taxable unless it names an exemption reason.
    ast_default = company.prefs.automated_sales_tax and not obj.get("TaxExemptionReasonId")
    obj.setdefault("Taxable", bool(obj.get("DefaultTaxCodeRef")) or ast_default)
    if current is None:
        obj["_opening"] = money(obj.get("Balance", 0), "Balance")
    obj.pop("Balance", None)
    addresses(company, obj, current, ("BillAddr", "ShipAddr"))
    return obj
