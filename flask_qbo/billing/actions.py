"""What can be done to an estimate or invoice QBO already has, by QBO's rules, and queueing it.

The folder offers only what QBO would do: send an invoice or estimate that is
not void; show a payment link for an open invoice of a company on QuickBooks
Payments that has a billing address; convert an *accepted* estimate that no
invoice is linked to yet; void an invoice nothing was paid on (QBO refuses to
void a paid one, so it is not offered); delete an estimate no invoice links to
(QBO deletes a linked one only once unlinked) and an invoice with no payment.
An estimate counts as linked when QBO calls it *Converted* or the CRM made an
invoice from it that the mirror does not link yet.  An action on its way to
QBO hides its button, and a queued void or delete hides everything but the PDF.

The same rules are checked again when the action is queued (a second tab, a
stale page), and each action is an outbox row like every other write, so it
survives restarts and QBO's outages and never runs twice.  The check and the
insert hold the document's mirror row (:func:`hold_document`) until the
caller commits, so two clicks at once queue one row: the second waits, then
sees the first's row and is refused.
"""

from __future__ import annotations

import collections
import typing as t

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..models import Customer
from ..models import Document
from ..models import DocumentState
from ..models import Outbox
from ..models import OutboxOp
from ..models import OutboxStatus
from ..models import Transaction
from .catalog import Catalog
from .catalog import Prefs
from .documents import queue_document
from .draft import Draft
from .draft import DraftLine
from .draft import decimal_or_none
from .money import ZERO
from .money import to_cents
from .problems import ActionRefused
from .validate import email_problem

if t.TYPE_CHECKING:
    from ..intuit.client import QBOClient

#: Every action, in the order the folder shows them.
ACTIONS = ("send", "payment_link", "convert", "void", "delete", "pdf")
#: The actions that are outbox rows, and their ops.
QUEUED = {"send": OutboxOp.SEND_DOC, "void": OutboxOp.VOID_DOC, "delete": OutboxOp.DELETE_DOC}
DOCUMENT_TYPES = ("Invoice", "Estimate")
#: Outbox states in which a queued action is still on its way to QBO.  A refused one is not:
#: the salesperson may try again (another address, after a refund), and the new row replaces it.
_OPEN = (OutboxStatus.PENDING, OutboxStatus.IN_PROGRESS)
_REFUSED = (OutboxStatus.FAILED, OutboxStatus.DEAD)

PendingOps = t.Mapping[tuple[str, str], t.AbstractSet[OutboxOp]]


def _raw(txn: Transaction) -> t.Mapping[str, t.Any]:
    return txn.raw or {}


def linked(txn: Transaction, txn_type: str) -> bool:
    """Whether the mirrored transaction links to one of type ``txn_type`` (``Invoice``, ``Payment`` ...)."""
    links = _raw(txn).get("LinkedTxn") or ()
    return any(isinstance(link, t.Mapping) and link.get("TxnType") == txn_type for link in links)


def bill_email(txn: Transaction) -> str | None:
    """The document's ``BillEmail`` address, if it has one."""
    value = _raw(txn).get("BillEmail")
    address = value.get("Address") if isinstance(value, t.Mapping) else None
    return str(address) if address else None


def _unpaid(txn: Transaction) -> bool:
    """No payment applied: the balance is the whole total and no payment links to it."""
    total = txn.total if txn.total is not None else ZERO
    balance = txn.balance if txn.balance is not None else total
    return balance == total and not linked(txn, "Payment")


def allowed_actions(
    txn: Transaction, prefs: Prefs, pending_ops: t.AbstractSet[OutboxOp], *, converted: bool = False
) -> list[str]:
    """The actions QBO would accept on ``txn`` now, minus those already queued (``pending_ops``).

    ``pending_ops`` are the ops on their way to QBO for this transaction
    (:func:`pending_actions`).  ``converted`` says an invoice was made (or is
    being made, or was refused and awaits the salesperson) from this estimate
    though its own mirror row may not link it yet (:func:`converted_estimates`):
    like a linked one it offers neither Convert nor Delete, because QBO makes
    one invoice per conversion and deletes a linked estimate only once unlinked.
    It defaults to ``False`` so that a host's own call keeps working; pass it.
    """
    if txn.deleted or txn.txn_type not in DOCUMENT_TYPES:
        return []
    if OutboxOp.VOID_DOC in pending_ops or OutboxOp.DELETE_DOC in pending_ops:
        return ["pdf"]
    invoice = txn.txn_type == "Invoice"
    void = txn.status == "void"
    balance = txn.balance if txn.balance is not None else ZERO
    allowed: set[str] = {"pdf"}
    if not void and OutboxOp.SEND_DOC not in pending_ops:
        allowed.add("send")
    if invoice and not void and balance > 0 and prefs.online_payments and bill_email(txn):
        allowed.add("payment_link")
    invoiced = not invoice and (converted or OutboxOp.CREATE_DOC in pending_ops or _invoiced(txn))
    if not invoice and txn.status == "accepted" and not invoiced:
        allowed.add("convert")
    if invoice and not void and _unpaid(txn):
        allowed.add("void")
    if (invoice and _unpaid(txn)) or (not invoice and not invoiced):
        allowed.add("delete")
    return [action for action in ACTIONS if action in allowed]


def _invoiced(estimate: Transaction) -> bool:
    """The estimate's own row says an invoice was made from it: an invoice link, or QBO's ``Converted`` status.

    A *Converted* estimate is linked to its invoice in QBO even when the link is
    not in the mirror, and QBO deletes a linked estimate only once unlinked
    (facts: quote-to-cash §2.8).
    """
    return linked(estimate, "Invoice") or str(_raw(estimate).get("TxnStatus") or "").casefold() == "converted"


def pending_actions(session: Session, tenant_key: str, contact_key: str) -> dict[tuple[str, str], set[OutboxOp]]:
    """``(txn_type, qbo_id) → ops`` on their way to QBO (pending or running) for the contact's documents.

    A conversion counts as ``CREATE_DOC`` on the estimate while the invoice
    made from it is being sent, and only then: once QBO made it (or refused
    it) nothing is on its way, the row shows its outcome and the folder stops
    polling quickly.  What it leaves behind is :func:`converted_estimates`.
    """
    found: dict[tuple[str, str], set[OutboxOp]] = collections.defaultdict(set)
    rows = session.query(Outbox).filter(
        Outbox.tenant_key == tenant_key,
        Outbox.contact_key == contact_key,
        Outbox.op.in_(tuple(QUEUED.values())),
        Outbox.status.in_(_OPEN),
    )
    for row in rows:
        target = row.target or {}
        if target.get("txn_type") and target.get("qbo_id"):
            found[(str(target["txn_type"]), str(target["qbo_id"]))].add(row.op)
    sending = session.query(Document.estimate_qbo_id).filter(
        Document.tenant_key == tenant_key,
        Document.contact_key == contact_key,
        Document.estimate_qbo_id.is_not(None),
        Document.state == DocumentState.SENDING,
    )
    for (estimate_id,) in sending:
        found[("Estimate", str(estimate_id))].add(OutboxOp.CREATE_DOC)
    return dict(found)


def converted_estimates(session: Session, tenant_key: str, contact_key: str) -> set[str]:
    """The QBO ids of the contact's estimates an invoice was, is being, or was refused to be made from.

    A conversion being sent, or refused and awaiting the salesperson (*Edit
    and retry* or *Discard*); one made whose invoice is neither void nor
    deleted; or a mirrored invoice whose ``LinkedTxn`` names the estimate.
    The estimate itself may still read *Accepted* (closing it after the
    conversion can fail, its event can be late), and must not offer Convert
    or Delete again (``converted`` of :func:`allowed_actions`).
    """
    conversions = session.query(Document).filter(
        Document.tenant_key == tenant_key,
        Document.contact_key == contact_key,
        Document.estimate_qbo_id.is_not(None),
        Document.state.in_((DocumentState.SENDING, DocumentState.FAILED, DocumentState.CREATED)),
    )
    found = {
        str(document.estimate_qbo_id)
        for document in conversions
        if document.state != DocumentState.CREATED or _live_invoice(session, document)
    }
    return found | _linked_estimates(session, tenant_key, contact_key)


def is_converted(session: Session, tenant_key: str, contact_key: str, txn: Transaction) -> bool:
    """``converted`` for :func:`allowed_actions` of one document: an estimate in :func:`converted_estimates`."""
    return txn.txn_type == "Estimate" and txn.qbo_id in converted_estimates(session, tenant_key, contact_key)


def _live_invoice(session: Session, document: Document) -> bool:
    """Whether the invoice a conversion made still stands (not void, not deleted), as the mirror knows it.

    Until the estimate's own mirror row shows it closed (its re-read after the
    conversion can fail, its event can be late), this is what says it was converted.
    """
    invoice = (
        session.query(Transaction)
        .filter_by(realm_id=document.realm_id, txn_type="Invoice", qbo_id=document.qbo_id)
        .one_or_none()
    )
    return invoice is None or (not invoice.deleted and invoice.status != "void")


def _linked_estimates(session: Session, tenant_key: str, contact_key: str) -> set[str]:
    """The estimates the contact's mirrored invoices link to (``LinkedTxn`` of type ``Estimate``)."""
    invoices = (
        session.query(Transaction.raw)
        .join(
            Customer,
            (Customer.realm_id == Transaction.realm_id) & (Customer.qbo_id == Transaction.customer_qbo_id),
        )
        .filter(
            Customer.tenant_key == tenant_key,
            Customer.contact_key == contact_key,
            Transaction.txn_type == "Invoice",
            Transaction.deleted.is_(False),
        )
    )
    return {
        str(link["TxnId"])
        for (raw,) in invoices
        for link in (raw or {}).get("LinkedTxn") or ()
        if isinstance(link, t.Mapping) and link.get("TxnType") == "Estimate" and link.get("TxnId")
    }


def hold_document(session: Session, txn: Transaction) -> None:
    """Lock ``txn``'s mirror row until the transaction ends, before checking what is queued for it.

    PostgreSQL: ``SELECT … FOR UPDATE`` on the row.  SQLite has no row locks:
    a no-op update takes the database's write lock, which serialises writers.
    """
    table = t.cast(sa.Table, Transaction.__table__)
    with session.no_autoflush:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(sa.select(table.c.id).where(table.c.id == txn.id).with_for_update())
        else:
            session.execute(sa.update(table).where(table.c.id == txn.id).values(updated_at=table.c.updated_at))


def queue_action(
    session: Session,
    *,
    tenant_key: str,
    contact_key: str,
    txn: Transaction,
    action: str,
    send_to: str | None = None,
) -> Outbox:
    """Queue ``send``, ``void`` or ``delete`` for ``txn`` (flushed, not committed); :class:`ActionRefused` if QBO would refuse."""
    op = QUEUED.get(action)
    if op is None:
        raise ActionRefused(f"“{action}” is not an action that can be queued.")
    hold_document(session, txn)
    pending = pending_actions(session, tenant_key, contact_key).get((txn.txn_type, txn.qbo_id), set())
    converted = is_converted(session, tenant_key, contact_key, txn)
    if action not in allowed_actions(txn, Prefs.load(session, txn.realm_id), pending, converted=converted):
        raise ActionRefused(_refusal(txn, action, pending))
    target: dict[str, t.Any] = {"txn_type": txn.txn_type, "qbo_id": txn.qbo_id}
    if action == "send":
        address = (send_to or "").strip() or bill_email(txn)
        if not address:
            raise ActionRefused("Enter an email address: this document has none.")
        problem = email_problem("send_to", address)
        if problem is not None:
            raise ActionRefused(problem.message)
        target["send_to"] = address
    _drop_refused(session, tenant_key, contact_key, op, txn)
    row = Outbox(tenant_key=tenant_key, contact_key=contact_key, op=op, status=OutboxStatus.PENDING, target=target)
    session.add(row)
    session.flush()
    return row


def _drop_refused(session: Session, tenant_key: str, contact_key: str, op: OutboxOp, txn: Transaction) -> None:
    """Delete earlier refused rows of the same action on the same document: the new row supersedes them."""
    rows = session.query(Outbox).filter(
        Outbox.tenant_key == tenant_key,
        Outbox.contact_key == contact_key,
        Outbox.op == op,
        Outbox.status.in_(_REFUSED),
    )
    for row in rows:
        target = row.target or {}
        if (target.get("txn_type"), target.get("qbo_id")) == (txn.txn_type, txn.qbo_id):
            session.delete(row)


def _refusal(txn: Transaction, action: str, pending: t.AbstractSet[OutboxOp]) -> str:
    """Why ``action`` is not offered on ``txn``, in the salesperson's words."""
    name = txn.txn_type.lower()
    if txn.deleted:
        return f"This {name} was deleted in QuickBooks."
    if pending & {QUEUED[action], OutboxOp.VOID_DOC, OutboxOp.DELETE_DOC}:
        return f"This {name} already has an action on its way to QuickBooks."
    if txn.status == "void":
        return f"This {name} is void."
    if action == "void" and txn.txn_type != "Invoice":
        return "Only invoices can be voided; delete the estimate instead."
    if action in ("void", "delete") and txn.txn_type == "Invoice":
        return "A payment was applied to this invoice; QuickBooks will not void or delete it."
    return f"QuickBooks does not allow this on this {name} now (an invoice is linked to it)."


# -- conversion and the payment link ------------------------------------------------


def _sales_lines(lines: t.Iterable[t.Any]) -> t.Iterator[DraftLine]:
    """The item lines of a QBO ``Line`` list, bundle components included."""
    for line in lines:
        if not isinstance(line, t.Mapping):
            continue
        if line.get("DetailType") == "GroupLineDetail":
            yield from _sales_lines((line.get("GroupLineDetail") or {}).get("Line") or ())
            continue
        detail = line.get("SalesItemLineDetail")
        if line.get("DetailType") != "SalesItemLineDetail" or not isinstance(detail, t.Mapping):
            continue
        qty, unit_price = decimal_or_none(detail.get("Qty")), decimal_or_none(detail.get("UnitPrice"))
        amount = decimal_or_none(line.get("Amount"))
        if amount is None:
            amount = to_cents(qty * unit_price) if qty is not None and unit_price is not None else ZERO
        yield DraftLine(
            item_id=str((detail.get("ItemRef") or {}).get("value") or "") or None,
            description=str(line.get("Description") or ""),
            qty=qty,
            unit_price=unit_price,
            amount=to_cents(amount),
            tax_code_id=str((detail.get("TaxCodeRef") or {}).get("value") or "") or None,
        )


def draft_from_estimate(estimate: Transaction) -> Draft:
    """An invoice draft copying a mirrored estimate's lines, discount, memo, email and currency."""
    raw = _raw(estimate)
    lines = raw.get("Line") or ()
    discount = next((line for line in lines if line.get("DetailType") == "DiscountLineDetail"), None)
    percent = amount = None
    if discount is not None:
        detail = discount.get("DiscountLineDetail") or {}
        if detail.get("PercentBased"):
            percent = decimal_or_none(detail.get("DiscountPercent"))
        else:
            amount = decimal_or_none(discount.get("Amount"))
    memo = raw.get("CustomerMemo")
    return Draft(
        kind="Invoice",
        lines=tuple(_sales_lines(lines)),
        discount_percent=percent,
        discount_amount=amount,
        terms_id=str((raw.get("SalesTermRef") or {}).get("value") or "") or None,
        customer_memo=str(memo.get("value") or "") if isinstance(memo, t.Mapping) else "",
        bill_email=bill_email(estimate) or "",
        currency=str((raw.get("CurrencyRef") or {}).get("value") or "") or estimate.currency,
        exchange_rate=decimal_or_none(raw.get("ExchangeRate")),
        estimate_qbo_id=estimate.qbo_id,
    )


def convert_estimate(
    session: Session,
    *,
    tenant_key: str,
    contact_key: str,
    estimate: Transaction,
    catalog: Catalog,
    created_by: str | None,
) -> Document:
    """Queue an invoice made from an accepted estimate (linked to it); :class:`ActionRefused` otherwise."""
    hold_document(session, estimate)
    pending = pending_actions(session, tenant_key, contact_key).get((estimate.txn_type, estimate.qbo_id), set())
    converted = is_converted(session, tenant_key, contact_key, estimate)
    allowed = allowed_actions(estimate, catalog.prefs, pending, converted=converted)
    if estimate.txn_type != "Estimate" or "convert" not in allowed:
        raise ActionRefused("Only an accepted estimate with no invoice yet can be converted.")
    return queue_document(
        session,
        tenant_key=tenant_key,
        realm_id=estimate.realm_id,
        contact_key=contact_key,
        draft=draft_from_estimate(estimate),
        catalog=catalog,
        created_by=created_by,
    )


#: Why the panel shows no payment link, in words for the salesperson.
NO_EMAIL = "QuickBooks makes no payment link for this invoice: it has no billing email."
NOT_PAYABLE = "QuickBooks makes no payment link for this invoice: it does not accept online card or bank payments."
NO_LINK = (
    "QuickBooks returned no payment link for this invoice. It makes one only for a company on QuickBooks "
    "Payments, for an invoice that accepts card or bank payments and has a billing email."
)
UNSAFE = "QuickBooks returned a payment link that is not a secure (https) address, so it is not shown."
#: The invoice flags that let a customer pay it online.
ONLINE_FLAGS = ("AllowOnlineCreditCardPayment", "AllowOnlineACHPayment")


class PaymentLink(t.NamedTuple):
    """What the payment link panel shows: the link, or why there is none (exactly one is set)."""

    url: str | None
    problem: str | None


def payment_link(client: QBOClient, qbo_id: str, emulator_url: str | None) -> PaymentLink:
    """The invoice's online payment link, read live from QBO (``include=invoiceLink``), or why there is none.

    QBO data is untrusted and the link is shown for copying and following, so
    only a web address is kept: ``https://``, which every Intuit link is, or,
    when the host talks to the emulator (``emulator_url``, see
    :func:`flask_qbo.config.emulator_url`), an address on that emulator, which
    serves its pay page over plain HTTP.  Anything else (``javascript:``, a
    plain-HTTP host) is refused as unsafe, and said so.  When QBO gives no link
    the invoice it returned tells which of QBO's conditions is missing.
    """
    invoice = client.read("Invoice", qbo_id, include="invoiceLink")
    link = invoice.get("InvoiceLink")
    if not isinstance(link, str) or not link:
        return PaymentLink(None, _why_no_link(invoice))
    if link.startswith("https://") or (emulator_url is not None and link.startswith(f"{emulator_url}/")):
        return PaymentLink(link, None)
    return PaymentLink(None, UNSAFE)


def _why_no_link(invoice: t.Mapping[str, t.Any]) -> str:
    """Which of QBO's conditions for a link the invoice as read fails, or the whole rule when none shows.

    The company's online payments are not in the invoice; the folder offers the
    button only when the mirrored preferences say they are on.  A flag that is
    absent is not taken as off: Intuit says they default to on when the company
    takes that method.
    """
    email = invoice.get("BillEmail")
    if not (isinstance(email, t.Mapping) and email.get("Address")):
        return NO_EMAIL
    if all(invoice.get(flag) is False for flag in ONLINE_FLAGS):
        return NOT_PAYABLE
    return NO_LINK
