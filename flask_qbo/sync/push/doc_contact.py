"""A document's customer: its contact's own, which QBO must have before the document can name it.

One contact's outbox rows run oldest first, so a contact saved before its
document is created first and the document then names the customer it made.
A contact QBO has never seen may have nothing queued, though: it was never
edited since the company was connected, or a disconnect deleted the synced
data.  Its document's row then queues the contact's own create, as saving the
contact would (:func:`~flask_qbo.sync.capture.write_row`), and goes back in
line behind it.  Going back in line is a new row: the queue orders a contact's
rows by id, and a row that only waited would hold the create up behind itself.
The new row keeps the old one's ``uuid`` (so its ``requestid``) and
``created_at``.

A document that cannot be made is said to be so in plain words, with what to
do, under :data:`~flask_qbo.sync.push.doc_failure.NO_CUSTOMER`: the folder
then says it was not sent, never that QBO refused it, since QBO was not asked.
That is the case when the contact's own push failed (its reason is quoted), when
the contact was deleted, and when the create it waited for ended without a
customer (no second round: that could go on for ever).

A contact the first sync's review has yet to decide (an open import's proposal
names it, as the match or as one of several candidates) is left to the admin.
Its push would match only a customer with the same email or DisplayName and
create one otherwise, while the review proposes matches by phone and by
normalised names too: creating it now could make the very twin the review is
there to avoid.  The document waits for the review instead, with a note
saying so, and is sent once the review links the contact (or skips it).
"""

from __future__ import annotations

from sqlalchemy import and_
from sqlalchemy import or_

from ...errors import QBOValidationError
from ...models import CUSTOMER_OPS
from ...models import Customer
from ...models import Document
from ...models import ImportDecision
from ...models import ImportMatch
from ...models import ImportRun
from ...models import ImportStatus
from ...models import Outbox
from ...models import OutboxOp
from ...models import OutboxStatus
from ..capture import write_row
from .context import RowContext
from .context import link_of
from .doc_failure import NO_CUSTOMER

#: Seconds a document of a contact in the first sync's review waits before it looks again.
REVIEW_WAIT = 60.0
#: Import runs whose proposals may still link a contact.
_OPEN_RUNS = (ImportStatus.FETCHING, ImportStatus.REVIEW, ImportStatus.APPLYING)
#: The document folder's note while a document waits for the review.
IN_REVIEW = (
    "Waiting for an admin to review the QuickBooks matches of the first sync: QuickBooks may already have "
    "this contact. It is sent once the review links the contact (or skips the match)."
)


class ContactPending(Exception):
    """The document's row waits for its contact's customer: never a failure, and no attempt spent.

    :param wait: seconds before the row looks again; ``None`` when the row was
        put back in line behind the contact's create instead (it is gone).
    """

    def __init__(self, message: str, wait: float | None) -> None:
        super().__init__(message)
        self.wait = wait


def customer_for(ctx: RowContext, document: Document) -> Customer:
    """The customer the row's document is made for, once its contact is in QBO.

    :raises ContactPending: the contact is on its way to QBO (or waits for the review).
    :raises QBOValidationError: the contact cannot get there; the message says why and what to do.
    """
    link = link_of(ctx)
    if link is not None:
        return link
    kind = document.kind.lower()
    if ctx.qbo.load_contact(ctx.row.contact_key) is None:
        raise _not_sent(f"Not sent: the contact was deleted, so there is nobody to make this {kind} for.")
    if _in_review(ctx):
        ctx.hold()
        document.error_message = IN_REVIEW
        ctx.session.commit()
        raise ContactPending(IN_REVIEW, REVIEW_WAIT)
    own = _newest_customer_row(ctx)
    if own is not None and own.status in (OutboxStatus.FAILED, OutboxStatus.DEAD):
        raise _not_sent(
            f"Not sent: the contact could not be added to QuickBooks ({own.last_error or 'no reason given'}). "
            f"Fix the contact (its QuickBooks card shows what is wrong), then retry this {kind}."
        )
    behind = (ctx.row.target or {}).get("behind")
    if own is not None and own.status == OutboxStatus.DONE and isinstance(behind, int) and own.id >= behind:
        raise _not_sent(
            f"Not sent: the contact's sync ended without adding it to QuickBooks. "
            f'Use "Sync now" on its QuickBooks card, then retry this {kind}.'
        )
    ctx.hold()
    if own is None or own.status == OutboxStatus.DONE:  # nothing queued would ever make the customer
        write_row(ctx.session.connection(), ctx.row.tenant_key, ctx.row.contact_key, OutboxOp.UPSERT)
        own = _newest_customer_row(ctx)
    assert own is not None  # written just above when there was none
    _requeue_behind(ctx, own.id)
    ctx.session.commit()
    raise ContactPending("Waiting for the contact to be added to QuickBooks first.", None)


def _newest_customer_row(ctx: RowContext) -> Outbox | None:
    """The contact's latest customer row (create, update or inactivation), whatever its status."""
    return (
        ctx.session.query(Outbox)
        .filter(
            Outbox.tenant_key == ctx.row.tenant_key,
            Outbox.contact_key == ctx.row.contact_key,
            Outbox.op.in_(CUSTOMER_OPS),
        )
        .order_by(Outbox.id.desc())
        .first()
    )


def _requeue_behind(ctx: RowContext, row_id: int) -> None:
    """Replace the document's row by one behind ``row_id``: same ``uuid``, ``created_at`` and document. No commit."""
    old = ctx.row
    again = Outbox(
        uuid=old.uuid,
        tenant_key=old.tenant_key,
        contact_key=old.contact_key,
        op=old.op,
        status=OutboxStatus.PENDING,
        attempts=0,
        target={**(old.target or {}), "behind": row_id},
        created_at=old.created_at,
    )
    ctx.session.delete(old)
    ctx.session.flush()  # the uuid is unique: the old row goes first
    ctx.session.add(again)


def _in_review(ctx: RowContext) -> bool:
    """Whether an open import of the tenant may still link the contact to a customer QBO has."""
    key = ctx.row.contact_key
    rows = (
        ctx.session.query(ImportMatch.contact_key, ImportMatch.candidates)
        .join(ImportRun, ImportRun.id == ImportMatch.run_id)
        .filter(
            ImportRun.tenant_key == ctx.row.tenant_key,
            ImportRun.status.in_(_OPEN_RUNS),
            ImportMatch.applied.is_(False),
            or_(
                and_(
                    ImportMatch.contact_key == key,
                    ImportMatch.decision.in_((ImportDecision.PENDING, ImportDecision.LINK)),
                ),
                and_(ImportMatch.decision == ImportDecision.PENDING, ImportMatch.candidates.is_not(None)),
            ),
        )
    )
    return any(contact_key == key or key in (candidates or []) for contact_key, candidates in rows)


def _not_sent(message: str) -> QBOValidationError:
    return QBOValidationError(message, status=None, code=NO_CUSTOMER)
