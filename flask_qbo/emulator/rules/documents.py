"""Document-level rules of invoices and estimates: numbers, estimate links, estimate fields.

Kept apart from the line arithmetic (:mod:`.lines`) and from the totals and
dates every sales transaction shares (:mod:`.transactions`):

* numbering follows ``SalesFormsPrefs.CustomTxnNumbers`` (facts §2.5): off, a
  document without a ``DocNumber`` gets the next number and one a client sends
  is kept; on, a sent number is kept and a missing one stays empty. A number
  another document of the same type already has is refused with 6140 unless
  the request says ``include=allowduplicatedocnum``;
* an invoice converts an estimate through ``LinkedTxn`` (facts §6): one
  estimate per invoice, which must exist (2500) and must still be open;
* a new invoice or estimate without ``BillEmail`` takes the customer's
  primary email (the address ``/send`` mails);
* an estimate carries ``TxnStatus`` (Pending by default), ``AcceptedBy``,
  ``AcceptedDate`` and ``ExpirationDate``; its ``LinkedTxn`` is the server's.
"""

from __future__ import annotations

import typing as t

from .. import errors
from ..entities import ESTIMATE_STATUSES
from ..errors import EmulatorFault
from .flags import sales_form_flag
from .values import check_date
from .values import check_length

if t.TYPE_CHECKING:
    from ..company import Company

#: The ``include`` option that lets a request reuse a document number.
ALLOW_DUPLICATE = "allowduplicatedocnum"
#: Estimate statuses that can no longer be converted to an invoice.
CLOSED_STATUSES = ("Closed", "Converted")


def number_document(company: Company, entity: str, obj: dict[str, t.Any], current: dict[str, t.Any] | None) -> None:
    """Keep a sent ``DocNumber``; otherwise keep the stored one, or number it (unless custom numbers are on)."""
    if obj.get("DocNumber"):
        return
    kept = (current or {}).get("DocNumber")
    if kept:
        obj["DocNumber"] = kept
    elif sales_form_flag(company, "CustomTxnNumbers"):
        obj.pop("DocNumber", None)
    else:
        obj["DocNumber"] = company.next_doc_number(entity)


def duplicate_number(entity: str, number: str, other_id: str) -> EmulatorFault:
    """6140: the number is taken (wording modelled on the code's name, not copied from Intuit)."""
    return EmulatorFault(
        400,
        "6140",
        "Duplicate Document Number Error",
        f"Duplicate Document Number Error : DocNumber={number} is already used by {entity} {other_id}. "
        f"Choose another number or send include={ALLOW_DUPLICATE}.",
        "DocNumber",
    )


def check_unique_number(
    company: Company, entity: str, obj: dict[str, t.Any], current: dict[str, t.Any] | None, include: str
) -> None:
    """6140 when a newly given ``DocNumber`` is another document's, unless the request allows it."""
    number = obj.get("DocNumber")
    if not number or number == (current or {}).get("DocNumber"):
        return
    if ALLOW_DUPLICATE in {part.strip().lower() for part in include.split(",")}:
        return
    own_id = (current or {}).get("Id")
    for other in company.table(entity).values():
        if other.get("DocNumber") == number and other.get("Id") != own_id:
            raise duplicate_number(entity, str(number), str(other["Id"]))


def estimate_link(obj: dict[str, t.Any]) -> str | None:
    """The id of the estimate an invoice body links to, if any (a fault for more than one)."""
    ids = [
        str(link.get("TxnId"))
        for link in obj.get("LinkedTxn") or []
        if isinstance(link, dict) and link.get("TxnType") == "Estimate"
    ]
    if len(set(ids)) > 1:
        raise errors.business("An invoice can be linked to only one estimate.", "LinkedTxn")
    return ids[0] if ids else None


def link_estimate(company: Company, obj: dict[str, t.Any], current: dict[str, t.Any] | None) -> None:
    """Validate an invoice's estimate link; ``LinkedTxn`` keeps just that link (payments are added on read)."""
    estimate_id = estimate_link(obj)
    obj["LinkedTxn"] = []
    if estimate_id is None:
        return
    estimate = company.table("Estimate").get(estimate_id)
    if estimate is None:
        raise errors.invalid_reference("LinkedTxn", estimate_id)
    already = current is not None and estimate_link(current) == estimate_id
    if not already:
        if estimate.get("TxnStatus") in CLOSED_STATUSES or estimate.get("LinkedTxn"):
            raise errors.business(
                f"Estimate {estimate.get('DocNumber') or estimate_id} is {estimate.get('TxnStatus')} "
                "and cannot be converted to another invoice.",
                "LinkedTxn",
            )
        if estimate["CustomerRef"]["value"] not in company.family(obj["CustomerRef"]["value"]):
            raise errors.business("The estimate belongs to a different customer.", "LinkedTxn")
    obj["LinkedTxn"] = [{"TxnId": estimate_id, "TxnType": "Estimate"}]


def prepare_estimate_fields(obj: dict[str, t.Any], current: dict[str, t.Any] | None) -> None:
    """Status, acceptance and expiry of an estimate; its links stay the server's."""
    status = obj.get("TxnStatus") or "Pending"
    if status not in ESTIMATE_STATUSES:
        raise EmulatorFault(400, "2170", "Invalid Enumeration", f"Invalid Enumeration : {status}", "TxnStatus")
    obj["TxnStatus"] = status
    for name in ("AcceptedDate", "ExpirationDate"):
        if obj.get(name):
            obj[name] = check_date(obj[name], name)
    check_length(obj.get("AcceptedBy"), 100, "AcceptedBy")
    obj["LinkedTxn"] = (current or {}).get("LinkedTxn") or []


def online_payment_defaults(company: Company, obj: dict[str, t.Any], current: dict[str, t.Any] | None) -> None:
    """A new invoice of a company that takes online payments allows card and bank payment unless told not to."""
    if current is None and sales_form_flag(company, "ETransactionPaymentEnabled"):
        for name in ("AllowOnlineCreditCardPayment", "AllowOnlineACHPayment"):
            obj.setdefault(name, True)


def default_bill_email(obj: dict[str, t.Any], customer: dict[str, t.Any], current: dict[str, t.Any] | None) -> None:
    """A new document without ``BillEmail`` takes the customer's primary email, as QBO's forms prefill it."""
    address = (customer.get("PrimaryEmailAddr") or {}).get("Address")
    if current is None and address and not (obj.get("BillEmail") or {}).get("Address"):
        obj["BillEmail"] = {"Address": address}
    check_length((obj.get("BillEmail") or {}).get("Address"), 100, "BillEmail.Address")
