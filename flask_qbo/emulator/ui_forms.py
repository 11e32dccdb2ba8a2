"""Conversions between QBO JSON and the emulator web UI's forms and labels.

Inputs are named after QBO's own fields (``GivenName``, ``BillAddr.City``,
``SalesTermRef`` …) so a browser test reads like the API docs. Only checks a
browser form needs (is this a number, is this a date) happen here; everything
QBO itself validates (names, emails, references, SyncTokens) is left to the
store, so the UI shows Intuit's own fault messages.
"""

from __future__ import annotations

import typing as t
from datetime import date
from datetime import timedelta
from decimal import Decimal
from decimal import InvalidOperation

Record = dict[str, t.Any]
Form = t.Mapping[str, str]

NAME_FIELDS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix", "CompanyName", "DisplayName")
TEXT_FIELDS = (*NAME_FIELDS, "Notes", "PreferredDeliveryMethod")
PHONE_FIELDS = ("PrimaryPhone", "Mobile")
ADDRESS_FIELDS = ("BillAddr", "ShipAddr")
ADDRESS_PARTS = ("Line1", "City", "CountrySubDivisionCode", "PostalCode", "Country")
REF_FIELDS = {"SalesTermRef": "terms", "PaymentMethodRef": "methods"}


class FormError(Exception):
    """A form value the UI cannot turn into a request (shown like a QBO fault)."""

    code = ""

    def __init__(self, message: str, detail: str = "", element: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.element = element


def customer_form_values(customer: Record) -> dict[str, str]:
    """Flatten a Customer into the form's field names."""
    values = {name: str(customer.get(name) or "") for name in TEXT_FIELDS}
    values["PrimaryEmailAddr"] = str((customer.get("PrimaryEmailAddr") or {}).get("Address") or "")
    for name in PHONE_FIELDS:
        values[name] = str((customer.get(name) or {}).get("FreeFormNumber") or "")
    for name in ADDRESS_FIELDS:
        address = customer.get(name) or {}
        for part in ADDRESS_PARTS:
            values[f"{name}.{part}"] = str(address.get(part) or "")
    for name in REF_FIELDS:
        values[name] = str((customer.get(name) or {}).get("value") or "")
    values["Id"] = str(customer.get("Id", ""))
    values["SyncToken"] = str(customer.get("SyncToken", ""))
    return values


def _form_value(form: Form, name: str) -> str:
    return str(form.get(name, "")).strip()


def customer_body(form: Form, current: Record | None) -> Record:
    """Build a create body (``current`` is None) or a sparse-update body.

    For an update only the fields that differ from ``current`` are sent, next
    to the SyncToken the page was rendered with: a concurrent change then
    surfaces as Intuit's Stale Object Error instead of being overwritten.
    """
    before = customer_form_values(current) if current is not None else {}
    body: Record = {}

    def changed(name: str) -> bool:
        return current is None or _form_value(form, name) != before.get(name, "")

    for name in TEXT_FIELDS:
        value = _form_value(form, name)
        if changed(name) and (value or current is not None):
            body[name] = value
    if changed("PrimaryEmailAddr") and (_form_value(form, "PrimaryEmailAddr") or current is not None):
        body["PrimaryEmailAddr"] = {"Address": _form_value(form, "PrimaryEmailAddr")}
    for name in PHONE_FIELDS:
        value = _form_value(form, name)
        if changed(name) and (value or current is not None):
            body[name] = {"FreeFormNumber": value}
    for name in ADDRESS_FIELDS:
        parts = {part: _form_value(form, f"{name}.{part}") for part in ADDRESS_PARTS}
        if any(changed(f"{name}.{part}") for part in ADDRESS_PARTS) and (any(parts.values()) or current is not None):
            body[name] = parts
    for name in REF_FIELDS:
        value = _form_value(form, name)
        if changed(name) and value:
            body[name] = {"value": value}
    if current is not None:
        body["Id"] = str(current["Id"])
        body["SyncToken"] = _form_value(form, "SyncToken")
    return body


def parse_amount(form: Form, name: str) -> Decimal:
    """A required positive money amount with at most two decimals."""
    raw = _form_value(form, name).replace(",", "").lstrip("$")
    if not raw:
        raise FormError("Amount is required.", f"Enter an amount in {name}.", name)
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise FormError("Amount is not a number.", f"{raw!r} is not an amount.", name) from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise FormError("Amount must be positive, with at most two decimals.", f"{raw!r} is not a valid amount.", name)
    return amount


def parse_date(form: Form, name: str) -> date | None:
    """An optional ISO date (what ``<input type=date>`` sends)."""
    raw = _form_value(form, name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FormError("Date is not valid.", f"{raw!r} is not a date (YYYY-MM-DD).", name) from None


def _customer_ref(customer: Record) -> dict[str, str]:
    return {"value": str(customer["Id"]), "name": str(customer.get("DisplayName", ""))}


def _pick(items: list[Record], value: str) -> dict[str, str] | None:
    if not value:
        return None
    for item in items:
        if str(item["Id"]) == value:
            return {"value": str(item["Id"]), "name": str(item.get("Name", ""))}
    raise FormError("Unknown choice.", f"{value!r} is not in the list.", "")


def _sales_line(amount: Decimal, description: str, refs: dict[str, list[Record]]) -> Record:
    """One item line; in a non-US company it carries the default tax code, as QBO's form fills it in."""
    line: Record = {"Amount": float(amount), "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}
    if description:
        line["Description"] = description
    for code in refs.get("tax_codes", [])[:1]:
        line["SalesItemLineDetail"]["TaxCodeRef"] = {"value": str(code["Id"])}
    return line


def invoice_body(form: Form, customer: Record, refs: dict[str, list[Record]], today: date) -> Record:
    """Invoice with one line; the due date comes from the form or else the terms."""
    amount = parse_amount(form, "Amount")
    txn_date = parse_date(form, "TxnDate") or today
    term = _pick(refs["terms"], _form_value(form, "SalesTermRef"))
    due = parse_date(form, "DueDate")
    if due is None and term is not None:
        days = next((x.get("DueDays") for x in refs["terms"] if str(x["Id"]) == term["value"]), None)
        if days is not None:
            due = txn_date + timedelta(days=int(days))
    body: Record = {
        "CustomerRef": _customer_ref(customer),
        "TxnDate": txn_date.isoformat(),
        "Line": [_sales_line(amount, _form_value(form, "Description"), refs)],
    }
    if due is not None:
        body["DueDate"] = due.isoformat()
    if term is not None:
        body["SalesTermRef"] = term
    if _form_value(form, "DocNumber"):
        body["DocNumber"] = _form_value(form, "DocNumber")
    email = (customer.get("PrimaryEmailAddr") or {}).get("Address")
    if email:
        body["BillEmail"] = {"Address": email}
    return body


def payment_body(form: Form, customer: Record, refs: dict[str, list[Record]], today: date) -> Record:
    """Payment applied to the invoices named by ``apply-<invoiceId>`` inputs.

    When the user fills no per-invoice amount the payment is applied to
    ``refs["open_invoices"]`` (oldest first), as QBO's Receive Payment screen does; any rest
    stays unapplied (a credit on the customer's account).
    """
    total = parse_amount(form, "TotalAmt")
    txn_date = parse_date(form, "TxnDate") or today
    explicit: list[tuple[str, Decimal]] = []
    for key in form:
        if key.startswith("apply-") and _form_value(form, key):
            invoice_id = key.removeprefix("apply-")
            if not (invoice_id.isascii() and invoice_id.isdigit()):  # isdigit alone takes superscripts
                raise FormError("Unknown invoice.", f"{invoice_id!r} is not an invoice id.", key)
            explicit.append((invoice_id, parse_amount(form, key)))
    if explicit:
        if sum(a for _i, a in explicit) > total:
            raise FormError(
                "Applied amounts exceed the payment.",
                "The amounts applied to invoices add up to more than the amount received.",
                "TotalAmt",
            )
        applied = explicit
    else:
        applied = []
        left = total
        for invoice in refs.get("open_invoices", []):
            invoice_id, balance = str(invoice["Id"]), Decimal(str(invoice.get("Balance", 0)))
            if left <= 0:
                break
            share = min(left, balance)
            applied.append((invoice_id, share))
            left -= share
    body: Record = {
        "CustomerRef": _customer_ref(customer),
        "TxnDate": txn_date.isoformat(),
        "TotalAmt": float(total),
        "Line": [
            {"Amount": float(amount), "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}
            for invoice_id, amount in applied
        ],
    }
    method = _pick(refs["methods"], _form_value(form, "PaymentMethodRef"))
    if method is not None:
        body["PaymentMethodRef"] = method
    if _form_value(form, "PaymentRefNum"):
        body["PaymentRefNum"] = _form_value(form, "PaymentRefNum")
    return body


def estimate_body(form: Form, customer: Record, refs: dict[str, list[Record]], today: date) -> Record:
    """Estimate with one line and the chosen status."""
    amount = parse_amount(form, "Amount")
    txn_date = parse_date(form, "TxnDate") or today
    body: Record = {
        "CustomerRef": _customer_ref(customer),
        "TxnDate": txn_date.isoformat(),
        "Line": [_sales_line(amount, _form_value(form, "Description"), refs)],
        "TxnStatus": _form_value(form, "TxnStatus") or "Pending",
    }
    expires = parse_date(form, "ExpirationDate")
    if expires is not None:
        body["ExpirationDate"] = expires.isoformat()
    return body


#: Estimate statuses the page's "Accept" button is offered for.
ACCEPTABLE = ("Pending", "Rejected")


def accept_body(estimate_id: str, sync_token: str, accepted_by: str, today: date) -> Record:
    """The sparse update that marks an estimate accepted today (the UI's "Accept")."""
    body: Record = {
        "Id": estimate_id,
        "SyncToken": sync_token,
        "TxnStatus": "Accepted",
        "AcceptedDate": today.isoformat(),
    }
    if accepted_by:
        body["AcceptedBy"] = accepted_by[:100]
    return body


def money(value: object) -> str:
    """Format an amount as dollars with thousands separators."""
    try:
        amount = Decimal(str(value if value is not None else 0))
    except InvalidOperation:
        return str(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def is_void(txn: Record) -> bool:
    """QBO keeps a voided document, zeroed, with ``PrivateNote`` starting "Voided"."""
    return str(txn.get("PrivateNote", "")).startswith("Voided")


#: An estimate's ``TxnStatus`` in the words QBO's screens use where they differ: the API may
#: say *Converted*, but QuickBooks closes an estimate an invoice is made from and lists it
#: as *Closed* (facts: quote-to-cash §6, QB-HELP-EST).
UI_ESTIMATE_STATUS = {"Converted": "Closed"}


def txn_status(entity: str, txn: Record, today: date) -> str:
    """Status label as QBO's lists show it (Open, Overdue, Paid, Voided, …)."""
    if is_void(txn):
        return "Voided"
    total = Decimal(str(txn.get("TotalAmt", 0) or 0))
    balance = Decimal(str(txn.get("Balance", 0) or 0))
    if entity == "Invoice":
        if balance <= 0:
            return "Paid"
        due = txn.get("DueDate")
        if due and date.fromisoformat(due) < today:
            return "Overdue"
        return "Partially paid" if balance < total else "Open"
    if entity == "Estimate":
        status = str(txn.get("TxnStatus") or "Pending")
        return UI_ESTIMATE_STATUS.get(status, status)
    if entity == "Payment":
        unapplied = Decimal(str(txn.get("UnappliedAmt", 0) or 0))
        return "Unapplied" if unapplied > 0 else "Closed"
    if entity == "CreditMemo":
        remaining = Decimal(str(txn.get("RemainingCredit", 0) or 0))
        return "Unapplied" if remaining > 0 else "Closed"
    return "Paid"
