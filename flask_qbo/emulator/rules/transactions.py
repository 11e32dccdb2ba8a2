"""QBO's rules for the six sales transactions: lines, totals, dates, payments.

Invoices, estimates, sales receipts, credit memos and refund receipts share the
line arithmetic (:mod:`.lines`), the document numbering and estimate links
(:mod:`.documents`), the currency (:mod:`.currency`) and what QBO fills in on
them here: a line tax code, the tax summary, the due date and the customer's
addresses. A
Payment instead applies its amount to open invoices through
``Line[].LinkedTxn`` and may not exceed what they owe.

Line tax codes are kept (``NON`` when none is sent) and, in a US company,
must be ``TAX`` or ``NON``; the tax itself and the total that includes it are
:mod:`.tax`'s, once lines and addresses are settled.
"""

from __future__ import annotations

import typing as t
from datetime import date
from datetime import timedelta
from decimal import Decimal

from .. import errors
from .currency import document_currency
from .documents import default_bill_email
from .documents import link_estimate
from .documents import number_document
from .documents import online_payment_defaults
from .documents import prepare_estimate_fields
from .lines import price_lines
from .tax import settle_tax
from .values import addresses
from .values import check_date
from .values import check_length
from .values import money
from .values import reference

if t.TYPE_CHECKING:
    from ..company import Company

#: References to the default accounts and item every new company has (defaults.py).
UNDEPOSITED_FUNDS = {"value": "4", "name": "Undeposited Funds"}
CHECKING = {"value": "35", "name": "Checking"}
#: The two line tax codes of a US company.
US_LINE_TAX_CODES = ("TAX", "NON")
NON_TAXABLE = "NON"


def _item_line(company: Company, detail: dict[str, t.Any]) -> None:
    """Check a sales line's tax code (``NON`` when none is sent)."""
    element = "Line.SalesItemLineDetail"
    code = str((detail.get("TaxCodeRef") or {}).get("value") or NON_TAXABLE)
    if company.country() == "US" and code not in US_LINE_TAX_CODES:
        raise errors.business("Valid Line TaxCodes for US should be TAX or NON", f"{element}.TaxCodeRef", code="6100")
    detail["TaxCodeRef"] = {"value": code}


def prepare_transaction(
    company: Company,
    entity: str,
    obj: dict[str, t.Any],
    current: dict[str, t.Any] | None,
    currency: dict[str, str],
    today: str,
) -> dict[str, t.Any]:
    """Validate a sales transaction and compute totals, dates and numbers."""
    obj["CustomerRef"] = reference(company, "Customer", obj.get("CustomerRef"), "CustomerRef", "DisplayName")
    customer = company.table("Customer")[obj["CustomerRef"]["value"]]
    obj["TxnDate"] = check_date(obj.get("TxnDate") or today, "TxnDate")
    check_length(obj.get("PrivateNote"), 4000, "PrivateNote")
    check_length(obj.get("DocNumber"), 21, "DocNumber")
    document_currency(company, obj, current, customer, currency)
    if entity != "Payment":
        obj.setdefault("PrintStatus", "NotSet")
    obj.setdefault("EmailStatus", "NotSet")
    if obj.get("PaymentMethodRef"):
        obj["PaymentMethodRef"] = reference(company, "PaymentMethod", obj["PaymentMethodRef"], "PaymentMethodRef")
    if entity == "Payment":
        return _prepare_payment(company, obj, current)
    if not obj.get("Line"):
        raise errors.required("Line", "Required parameter Line is missing in the request")
    priced = price_lines(company, list(obj["Line"]), (current or {}).get("Line"))
    for line in priced.lines:
        if line["DetailType"] == "SalesItemLineDetail":
            _item_line(company, line["SalesItemLineDetail"])
    obj["Line"], total = priced.lines, float(priced.total)
    obj["TotalAmt"] = total
    if current is None:
        for name in ("BillAddr", "ShipAddr"):
            if name not in obj and customer.get(name):
                obj[name] = dict(customer[name])
    addresses(company, obj, current, ("BillAddr", "ShipAddr"))
    total = settle_tax(company, obj, current, total)  # TxnTaxDetail and TotalAmt: see rules/tax.py
    number_document(company, entity, obj, current)
    if entity in ("Invoice", "Estimate"):
        default_bill_email(obj, customer, current)
    if entity == "Invoice":
        term_ref = obj.get("SalesTermRef") or customer.get("SalesTermRef")
        due_days = 0
        if term_ref:
            obj["SalesTermRef"] = reference(company, "Term", term_ref, "SalesTermRef")
            due_days = int(company.table("Term")[obj["SalesTermRef"]["value"]].get("DueDays") or 0)
        if obj.get("DueDate"):
            obj["DueDate"] = check_date(obj["DueDate"], "DueDate")
        else:
            obj["DueDate"] = (date.fromisoformat(obj["TxnDate"]) + timedelta(days=due_days)).isoformat()
        obj["Balance"] = money(total - company.applied_to_invoice((current or {}).get("Id")))
        if obj["Balance"] < 0:
            raise errors.business("The invoice total cannot be less than the payments applied to it.", "Line")
        link_estimate(company, obj, current)
        online_payment_defaults(company, obj, current)
    elif entity == "Estimate":
        prepare_estimate_fields(obj, current)
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


def _prepare_payment(company: Company, obj: dict[str, t.Any], current: dict[str, t.Any] | None) -> dict[str, t.Any]:
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
