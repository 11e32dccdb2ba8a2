"""The local mirror of QBO customers and transactions.

Widgets read only these rows, so every QBO payload that reaches the CRM (a
push response, a webhook-triggered read, a CDC page, the initial import) goes
through the functions here.  They share one rule: QBO data is untrusted and
arrives out of order, so strings are clipped to the column sizes, times are
normalised to UTC, and an older version of an object never overwrites a newer
one (:func:`~flask_qbo.sync.pull.parsing.is_stale`).  Reading QBO's values
(times, dates, money, staleness) is :mod:`~flask_qbo.sync.pull.parsing`'s job.

Deleted transactions are kept as rows with ``deleted=True`` rather than removed:
the tombstone remembers the delete time, so a late webhook or an overlapping
CDC page carrying the pre-delete version cannot resurrect it.  Widgets filter
``deleted`` rows out.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...intuit.times import parse_time
from ...models import Connection
from ...models import Customer
from ...models import RefItem
from ...models import Transaction
from ...models import qbo_today
from ...models import utcnow
from . import prefetch
from .docstatus import status_of
from .parsing import clip
from .parsing import is_stale
from .parsing import last_updated
from .parsing import parse_date
from .parsing import to_bool
from .parsing import to_decimal

if t.TYPE_CHECKING:
    from ...intuit.client import QBOClient

#: The sales transactions mirrored per customer (QBO entity names).
TRANSACTION_TYPES = ("Invoice", "Payment", "Estimate", "SalesReceipt", "CreditMemo", "RefundReceipt")
#: Reference lists whose names the summary card shows.
REF_KINDS = ("Term", "PaymentMethod")

#: ``names(kind, ref)``: the display name of a ``SalesTermRef``/``PaymentMethodRef`` (see :func:`ref_name`).
RefNames = t.Callable[[str, t.Mapping[str, t.Any]], "str | None"]


# -- reference lists (Term, PaymentMethod) ----------------------------------------


def ref_name(session: Session, realm_id: str, kind: str, ref: object) -> str | None:
    """Display name of a ``SalesTermRef``/``PaymentMethodRef``: the ref's own name or the cache."""
    if not isinstance(ref, t.Mapping) or not ref.get("value"):
        return None
    if ref.get("name"):
        return clip(ref["name"], 100)
    item = session.query(RefItem).filter_by(realm_id=realm_id, kind=kind, qbo_id=str(ref["value"])).one_or_none()
    return item.name if item else None


def store_ref_item(session: Session, realm_id: str, kind: str, data: t.Mapping[str, t.Any]) -> RefItem:
    """Insert or update one cached Term/PaymentMethod (from a query, CDC or webhook read)."""
    qbo_id = str(data["Id"])
    item = session.query(RefItem).filter_by(realm_id=realm_id, kind=kind, qbo_id=qbo_id).one_or_none()
    if item is None:
        item = RefItem(realm_id=realm_id, kind=kind, qbo_id=qbo_id)
        session.add(item)
    item.name = clip(data.get("Name"), 100) or qbo_id
    item.active = data.get("Active", True) is not False
    item.raw = dict(data)
    return item


def refresh_ref_items(session: Session, client: QBOClient, realm_id: str) -> int:
    """Re-read every Term and PaymentMethod of a realm and fill in customers' card names.

    Two queries per realm; inactive items are included so an old customer's
    retired terms still show a name.
    """
    # Every read before the first write: the client counts reads in its own short
    # transaction, which must not wait behind this session's uncommitted rows.
    fetched = [
        (kind, data)
        for kind in REF_KINDS
        for data in client.query(f"SELECT * FROM {kind} WHERE Active IN (true, false)")
    ]
    for kind, data in fetched:
        store_ref_item(session, realm_id, kind, data)
    session.flush()
    names = {(item.kind, item.qbo_id): item.name for item in session.query(RefItem).filter_by(realm_id=realm_id)}
    for customer in session.query(Customer).filter_by(realm_id=realm_id):
        if customer.terms_id:
            customer.terms_name = names.get(("Term", customer.terms_id), customer.terms_name)
        if customer.payment_method_id:
            customer.payment_method_name = names.get(
                ("PaymentMethod", customer.payment_method_id), customer.payment_method_name
            )
    return len(fetched)


# -- customers -----------------------------------------------------------------------


def get_customer(session: Session, realm_id: str, qbo_id: str) -> Customer | None:
    """The mirror row of one QBO customer, if any (from the running inbox batch's prefetch when it has it)."""
    known, row = prefetch.customer(session, realm_id, str(qbo_id))
    if known:
        return row
    return session.query(Customer).filter_by(realm_id=realm_id, qbo_id=str(qbo_id)).one_or_none()


def upsert_customer(
    session: Session,
    connection: Connection,
    data: t.Mapping[str, t.Any],
    *,
    contact_key: str | None = None,
    unlink: bool = False,
) -> Customer:
    """Mirror a QBO Customer dict; returns the row (added to ``session``, not committed).

    ``contact_key`` links the row to a contact; the link is never cleared unless
    ``unlink`` is true, because a pull that knows nothing about the link must
    not lose it.  An older version than the mirrored one changes nothing but
    the link.
    """
    realm_id = str(connection.realm_id)
    qbo_id = str(data["Id"])
    row = get_customer(session, realm_id, qbo_id)
    if row is None:
        row = Customer(tenant_key=connection.tenant_key, realm_id=realm_id, qbo_id=qbo_id, active=True)
        session.add(row)
    elif is_stale(row.sync_token, row.qbo_updated_at, data):
        _set_link(row, contact_key, unlink)
        return row
    _set_link(row, contact_key, unlink)
    _fill_customer(session, row, data)
    return row


def new_customer_row(
    session: Session, connection: Connection, data: t.Mapping[str, t.Any], names: RefNames | None = None
) -> dict[str, t.Any]:
    """The columns of a mirror row for a QBO Customer dict the mirror does not hold yet (no link).

    What :func:`upsert_customer` would store for it, as values for a Core
    ``INSERT`` of many rows at once: a push batch's new customers
    (:func:`flask_qbo.sync.push.settle.record_all`) and an import page
    (:mod:`.bulk`, with the page's preloaded ``names``).
    """
    realm_id = str(connection.realm_id)
    return {
        "tenant_key": connection.tenant_key,
        "realm_id": realm_id,
        "qbo_id": str(data["Id"]),
        "merged_into": None,
        **customer_columns(data, names or (lambda kind, ref: ref_name(session, realm_id, kind, ref))),
    }


def _set_link(row: Customer, contact_key: str | None, unlink: bool) -> None:
    if unlink:
        row.contact_key = None
    elif contact_key is not None:
        row.contact_key = str(contact_key)


def _fill_customer(session: Session, row: Customer, data: t.Mapping[str, t.Any]) -> None:
    realm_id = row.realm_id
    for name, value in customer_columns(data, lambda kind, ref: ref_name(session, realm_id, kind, ref)).items():
        setattr(row, name, value)
    if row.active:
        row.merged_into = None


def customer_columns(data: t.Mapping[str, t.Any], names: RefNames) -> dict[str, t.Any]:
    """The mirror columns a QBO Customer dict sets (all but its keys, its link and ``merged_into``).

    ``names(kind, ref)`` gives a term's or payment method's display name
    (:func:`ref_name`, or a page's preloaded names).  One definition for the
    single-row and the bulk path (:mod:`.bulk`), so both store a customer alike.
    """
    parent, terms, method = _ref(data, "ParentRef"), _ref(data, "SalesTermRef"), _ref(data, "PaymentMethodRef")
    return {
        "sync_token": clip(data.get("SyncToken"), 32),
        "display_name": clip(data.get("DisplayName"), 500),
        "company_name": clip(data.get("CompanyName"), 100),
        "given_name": clip(data.get("GivenName"), 100),
        "family_name": clip(data.get("FamilyName"), 100),
        "email": clip(_inner(data, "PrimaryEmailAddr", "Address"), 100),
        "phone": clip(_inner(data, "PrimaryPhone", "FreeFormNumber") or _inner(data, "Mobile", "FreeFormNumber"), 30),
        "active": data.get("Active", True) is not False,
        "is_job": bool(data.get("Job")),
        "parent_qbo_id": clip(parent.get("value"), 32),
        "parent_name": clip(parent.get("name"), 500),
        "terms_id": clip(terms.get("value"), 32),
        "terms_name": names("Term", terms),
        "payment_method_id": clip(method.get("value"), 32),
        "payment_method_name": names("PaymentMethod", method),
        "delivery_method": clip(data.get("PreferredDeliveryMethod"), 20),
        "balance": to_decimal(data.get("Balance")),
        "balance_with_jobs": to_decimal(data.get("BalanceWithJobs")),
        "currency": clip(_inner(data, "CurrencyRef", "value"), 3),
        "taxable": to_bool(data.get("Taxable")),
        "resale_num": clip(data.get("ResaleNum"), 16),
        "qbo_created_at": parse_time(_inner(data, "MetaData", "CreateTime")),
        "qbo_updated_at": last_updated(data),
        "raw": dict(data),
    }


def _ref(data: t.Mapping[str, t.Any], key: str) -> t.Mapping[str, t.Any]:
    """A reference object (``{"value": id, "name": ...}``); empty when absent or malformed."""
    ref = data.get(key)
    return ref if isinstance(ref, dict) or isinstance(ref, Mapping) else {}  # dict first: the ABC check is slow


def _inner(data: t.Mapping[str, t.Any], key: str, inner: str) -> t.Any:
    """``data[key][inner]``, ``None`` when either is absent (``get_path`` for the mirror's hot loop:
    a page of a thousand rows reads ten of these per row)."""
    value = data.get(key)
    return value.get(inner) if isinstance(value, dict) or isinstance(value, Mapping) else None


def move_customer(session: Session, realm_id: str, from_qbo_id: str, into_qbo_id: str) -> Customer | None:
    """Apply a QBO merge: transactions and the contact link move to the surviving customer.

    The merged-away row stays (inactive, ``merged_into`` set) so later events
    about it resolve to the survivor.  When the survivor is already linked to
    another contact, that link wins and the merged contact is left unlinked.
    Returns the survivor's row.
    """
    from_qbo_id, into_qbo_id = str(from_qbo_id), str(into_qbo_id)
    source = get_customer(session, realm_id, from_qbo_id)
    target = get_customer(session, realm_id, into_qbo_id)
    if target is None and source is not None:
        target = Customer(tenant_key=source.tenant_key, realm_id=realm_id, qbo_id=into_qbo_id, active=True)
        session.add(target)
    (
        session.query(Transaction)
        .filter_by(realm_id=realm_id, customer_qbo_id=from_qbo_id)
        .update({Transaction.customer_qbo_id: into_qbo_id}, synchronize_session="fetch")
    )
    if source is None:
        return target
    source.active = False
    source.merged_into = into_qbo_id
    key = source.contact_key
    if key is not None and target is not None and target.contact_key is None:
        source.contact_key = None
        session.flush()  # the (tenant, contact) pair is unique: free it before reusing it
        target.contact_key = key
    return target


def surviving_id(session: Session, realm_id: str, qbo_id: str) -> str:
    """Follow ``merged_into`` links to the customer that now holds a merged id's data."""
    seen: set[str] = set()
    current = str(qbo_id)
    while current not in seen:
        seen.add(current)
        row = get_customer(session, realm_id, current)
        if row is None or not row.merged_into:
            return current
        current = row.merged_into
    return current


# -- transactions ----------------------------------------------------------------------


def _balance(entity: str, data: t.Mapping[str, t.Any]) -> Decimal | None:
    """What is still open on the document: unapplied money for payments, credit left for memos."""
    if entity == "Payment":
        return to_decimal(data.get("UnappliedAmt"))
    if entity == "CreditMemo":
        return to_decimal(data.get("RemainingCredit", data.get("Balance")))
    return to_decimal(data.get("Balance"))


def get_transaction(session: Session, realm_id: str, entity: str, qbo_id: str) -> Transaction | None:
    """The mirror row of one transaction, deleted ones included (from the inbox batch's prefetch when it has it)."""
    known, row = prefetch.transaction(session, realm_id, entity, str(qbo_id))
    if known:
        return row
    return session.query(Transaction).filter_by(realm_id=realm_id, txn_type=entity, qbo_id=str(qbo_id)).one_or_none()


def upsert_transaction(
    session: Session,
    realm_id: str,
    entity: str,
    data: t.Mapping[str, t.Any],
    *,
    today: dt.date | None = None,
    racing: bool = False,
) -> Transaction:
    """Mirror one transaction dict (a ``{"status": "Deleted"}`` one marks the row deleted).

    An older version than the mirrored one is ignored, so a late event never
    undoes a newer change or resurrects a deleted document.  ``racing``: the
    caller is a push recording QBO's answer, which a webhook's pull may mirror
    at the same moment; a new row is then inserted under a savepoint (see
    :func:`_insert_transaction`).  The pull inserts plainly, in its batch's one flush.
    """
    if entity not in TRANSACTION_TYPES:
        raise ValueError(f"{entity!r} is not a mirrored transaction type; expected one of {TRANSACTION_TYPES}.")
    if data.get("status") == "Deleted":
        return mark_transaction_deleted(session, realm_id, entity, str(data["Id"]), when=last_updated(data))
    row = get_transaction(session, realm_id, entity, str(data["Id"]))
    if row is None:
        if not racing:
            row = Transaction(realm_id=realm_id, txn_type=entity, qbo_id=str(data["Id"]))
            session.add(row)
            for name, value in transaction_columns(entity, data, today or qbo_today()).items():
                setattr(row, name, value)
            return row
        inserted = _insert_transaction(session, realm_id, entity, data, today or qbo_today())
        if inserted is not None:
            return inserted
        row = get_transaction(session, realm_id, entity, str(data["Id"]))
        assert row is not None  # the concurrent writer's row, committed since our read
    if is_stale(None if row.deleted else row.sync_token, row.qbo_updated_at, data) or (
        row.deleted and not _newer(data, row.qbo_updated_at)
    ):
        return row
    for name, value in transaction_columns(entity, data, today or qbo_today()).items():
        setattr(row, name, value)
    return row


def _insert_transaction(
    session: Session, realm_id: str, entity: str, data: t.Mapping[str, t.Any], today: dt.date
) -> Transaction | None:
    """Insert a transaction the mirror lacks; ``None`` when another writer inserted it first.

    A push records QBO's answer while a webhook's pull may be mirroring the
    same new invoice: the loser of that race must update the winner's row, not
    fail its whole recording on the unique key (a savepoint keeps the rest).
    """
    row = Transaction(
        realm_id=realm_id, txn_type=entity, qbo_id=str(data["Id"]), **transaction_columns(entity, data, today)
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def transaction_columns(entity: str, data: t.Mapping[str, t.Any], today: dt.date) -> dict[str, t.Any]:
    """The mirror columns a (not deleted) QBO transaction dict sets, ``deleted=False`` included.

    One definition for the single-row and the bulk path (:mod:`.bulk`).
    """
    due_date = data.get("DueDate")
    due = parse_date(due_date or data.get("ExpirationDate"))
    total, balance = to_decimal(data.get("TotalAmt")), _balance(entity, data)
    # The status reads an invoice's own Balance and DueDate only, as transaction_status does.
    status = status_of(entity, data, total, balance if entity == "Invoice" else None, due if due_date else None, today)
    return {
        "deleted": False,
        "customer_qbo_id": clip(_inner(data, "CustomerRef", "value"), 32),
        "sync_token": clip(data.get("SyncToken"), 32),
        "doc_number": clip(data.get("DocNumber"), 21),
        "txn_date": parse_date(data.get("TxnDate")),
        "due_date": due,
        "total": total,
        "balance": balance,
        "status": status,
        "currency": clip(_inner(data, "CurrencyRef", "value"), 3),
        "email_status": clip(data.get("EmailStatus"), 20),
        "memo": clip(_inner(data, "CustomerMemo", "value") or data.get("PrivateNote"), 4000),
        "qbo_updated_at": last_updated(data),
        "raw": dict(data),
    }


def _newer(data: t.Mapping[str, t.Any], than: dt.datetime | None) -> bool:
    when = last_updated(data)
    return than is None or (when is not None and when > than)


def mark_transaction_deleted(
    session: Session, realm_id: str, entity: str, qbo_id: str, *, when: dt.datetime | None = None
) -> Transaction:
    """Tombstone a transaction QBO deleted; the row stays so older events cannot bring it back."""
    row = get_transaction(session, realm_id, entity, qbo_id)
    if row is None:
        row = Transaction(realm_id=realm_id, txn_type=entity, qbo_id=str(qbo_id))
        session.add(row)
    elif when is not None and row.qbo_updated_at is not None and when < row.qbo_updated_at:
        return row
    row.deleted = True
    row.qbo_updated_at = when or row.qbo_updated_at or utcnow()
    return row


def overdue_balance(session: Session, realm_id: str, customer_qbo_id: str, today: dt.date) -> Decimal:
    """Sum of open balances on a customer's invoices that are past due (for the summary card)."""
    total = (
        session.query(func.coalesce(func.sum(Transaction.balance), 0))
        .filter(
            Transaction.realm_id == realm_id,
            Transaction.customer_qbo_id == str(customer_qbo_id),
            Transaction.txn_type == "Invoice",
            Transaction.deleted.is_(False),
            Transaction.status != "void",
            Transaction.due_date < today,
            Transaction.balance > 0,
        )
        .scalar()
    )
    return Decimal(str(total)).quantize(Decimal("0.01"))
