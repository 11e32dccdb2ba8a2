"""The message a failed push leaves on the contact's card, in words a CRM user can act on.

Most refusals read well as Intuit wrote them (``[6240] Duplicate Name Exists
Error: …``).  A reference to an inactive record does not: QBO answers 610
"Object Not Found : Something you're trying to use has been made inactive.
Check the fields with accounts, customers, items, vendors or employees.",
which names neither the record nor the field, so the user cannot tell that the
customer's payment term was made inactive in QuickBooks.  QBO checks the
references the customer already holds on every update, so the mirror tells
which ones the customer has (payment term, payment method, parent customer)
and which of them it knows to be inactive, and whether it knows the customer
itself to be inactive or merged away; the message names those, with the field or record
Intuit named when it named one (:func:`flask_qbo.intuit.faults.referenced_field`,
:func:`~flask_qbo.intuit.faults.referenced_object`).
"""

from __future__ import annotations

import dataclasses

from sqlalchemy.orm import Session

from ...errors import QBOError
from ...errors import QBOInactiveReferenceError
from ...intuit.faults import referenced_field
from ...intuit.faults import referenced_object
from ...models import Customer
from ...models import RefItem

#: What a reference field holds, in the words of the QuickBooks screens.
FIELD_LABELS = {
    "SalesTermRef": "payment term",
    "PaymentMethodRef": "payment method",
    "ParentRef": "parent customer",
    "CustomerRef": "customer",
    "ItemRef": "product or service",
    "TaxCodeRef": "tax code",
    "DefaultTaxCodeRef": "tax code",
    "CurrencyRef": "currency",
    "ARAccountRef": "account",
    "DepositToAccountRef": "account",
    "ClassRef": "class",
    "DepartmentRef": "location",
}
#: The same words for the entities a fault's detail may name.
ENTITY_LABELS = {
    "Term": "payment term",
    "PaymentMethod": "payment method",
    "Customer": "customer",
    "Item": "product or service",
    "Account": "account",
    "Vendor": "vendor",
    "Employee": "employee",
    "Class": "class",
    "Department": "location",
    "TaxCode": "tax code",
}


@dataclasses.dataclass(frozen=True)
class Reference:
    """One record the customer refers to, as the mirror knows it."""

    field: str
    entity: str
    qbo_id: str
    name: str | None
    #: ``False`` when the mirror knows it is inactive, ``None`` when it cannot tell.
    active: bool | None

    def describe(self) -> str:
        label = FIELD_LABELS.get(self.field) or ENTITY_LABELS.get(self.entity, self.entity)
        return f'the {label} "{self.name}" (id {self.qbo_id})' if self.name else f"the {label} with id {self.qbo_id}"


def failure_message(session: Session, link: Customer | None, exc: Exception) -> str:
    """The contact's sync error for a push that failed with ``exc``."""
    if isinstance(exc, QBOInactiveReferenceError):
        return inactive_reference(session, link, exc)
    if isinstance(exc, QBOError):
        return str(exc)
    return f"Unexpected error: {type(exc).__name__}: {exc}"


def inactive_reference(session: Session, link: Customer | None, exc: QBOInactiveReferenceError) -> str:
    """Name what is inactive in QuickBooks, as far as Intuit's fault and the mirror tell."""
    intuit = f" (QuickBooks error {exc.code}: {exc.detail or exc.message})"
    named, record = referenced_field(exc), referenced_object(exc)
    refs = references(session, link)
    if link is not None and (record == ("Customer", link.qbo_id) or link.merged_into or link.active is False):
        return (
            f"This customer (id {link.qbo_id}) is inactive in QuickBooks, or was deleted or merged there. "
            f"Make it active again in QuickBooks, or check where it was merged, then retry.{intuit}"
        )
    if record is not None:  # Intuit named the record: that one is inactive
        entity, qbo_id = record
        inactive = [ref for ref in refs if (ref.entity, ref.qbo_id) == record] or [
            Reference("", entity, qbo_id, _mirrored_name(session, link, entity, qbo_id), False)
        ]
    elif named is not None:  # Intuit named the field: that reference is the inactive one
        inactive = [ref for ref in refs if ref.field == named.rsplit(".", 1)[-1]]
    else:
        inactive = [ref for ref in refs if ref.active is False]
    if inactive:
        which = " and ".join(ref.describe() for ref in inactive)
        verb = "is" if len(inactive) == 1 else "are"
        return (
            f"{_capital(which)} {verb} inactive in QuickBooks. Make it active again in QuickBooks, "
            f"or choose another on the customer there, then retry.{intuit}"
        )
    if named is not None:
        label = FIELD_LABELS.get(named.rsplit(".", 1)[-1], named)
        return (
            f"The {label} this customer refers to ({named}) is inactive in QuickBooks. Make it active again "
            f"in QuickBooks, or choose another on the customer there, then retry.{intuit}"
        )
    if refs:
        listed = ", ".join(ref.describe() for ref in refs)
        return (
            f"Something this customer refers to is inactive in QuickBooks: check {listed}, and the customer "
            f"itself. Make it active again in QuickBooks, or choose another on the customer there, then "
            f"retry.{intuit}"
        )
    return (
        "Something this customer refers to (a payment term, payment method, parent customer, tax code or "
        "currency) is inactive in QuickBooks, or the customer itself was made inactive or merged. Check the "
        f"customer in QuickBooks, then retry.{intuit}"
    )


def references(session: Session, link: Customer | None) -> list[Reference]:
    """The payment term, payment method and parent customer the linked customer holds, with what is known of them."""
    if link is None:
        return []
    found: list[Reference] = []
    for field, kind, qbo_id, name in (
        ("SalesTermRef", "Term", link.terms_id, link.terms_name),
        ("PaymentMethodRef", "PaymentMethod", link.payment_method_id, link.payment_method_name),
    ):
        if qbo_id:
            item = session.query(RefItem).filter_by(realm_id=link.realm_id, kind=kind, qbo_id=qbo_id).one_or_none()
            found.append(
                Reference(field, kind, qbo_id, (item.name if item else None) or name, item.active if item else None)
            )
    if link.parent_qbo_id:
        parent = session.query(Customer).filter_by(realm_id=link.realm_id, qbo_id=link.parent_qbo_id).one_or_none()
        found.append(
            Reference(
                "ParentRef",
                "Customer",
                link.parent_qbo_id,
                (parent.display_name if parent else None) or link.parent_name,
                (parent.active and not parent.merged_into) if parent else None,
            )
        )
    return found


def _mirrored_name(session: Session, link: Customer | None, entity: str, qbo_id: str) -> str | None:
    """The name the mirror holds for a Term, PaymentMethod or Customer of the link's realm."""
    if link is None:
        return None
    if entity == "Customer":
        row = session.query(Customer).filter_by(realm_id=link.realm_id, qbo_id=qbo_id).one_or_none()
        return row.display_name if row else None
    item = session.query(RefItem).filter_by(realm_id=link.realm_id, kind=entity, qbo_id=qbo_id).one_or_none()
    return item.name if item else None


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
