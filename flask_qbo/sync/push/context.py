"""What one outbox row's push works with, and how its outcome is recorded.

:class:`RowContext` carries the row, its connection, the client and the session
through the write modules (:mod:`~flask_qbo.sync.push.update`,
:mod:`~flask_qbo.sync.push.create`, :mod:`~flask_qbo.sync.push.ops`).  Every
write derives its ``requestid`` here (:func:`request_id`), and every successful
write ends in :func:`record`: the mirror row, the link, the synced values and
the sync log are left in the session for the caller's single commit, so QBO's
answer and our record of it are saved together.
"""

from __future__ import annotations

import dataclasses
import typing as t
import uuid as uuidlib

from sqlalchemy.orm import Session

from ...fieldmap import FieldMap
from ...models import Connection
from ...models import Customer
from ...models import Outbox
from ...models import SyncLog
from ...models import SyncStatus
from ...models import utcnow
from ..locks import hold_connection
from ..payload import customer_hash
from ..payload import qbo_values
from ..payload import sync_state
from ..pull import balances
from ..pull import milestones
from ..pull import mirror

if t.TYPE_CHECKING:
    from ...extension import QBO
    from ...intuit.client import QBOClient


@dataclasses.dataclass
class RowContext:
    """Everything one row's push needs."""

    qbo: QBO
    session: Session
    row: Outbox
    connection: Connection
    client: QBOClient
    #: The update being sent, noted (:func:`flask_qbo.sync.dating.sent_update`) until QBO answers; kept on
    #: the row when the attempt fails without its answer recorded (:func:`flask_qbo.sync.push.rows.keep_sent`).
    sent: dict[str, t.Any] | None = None
    #: The customer a bulk lookup already matched to this unlinked contact
    #: (:mod:`flask_qbo.sync.push.creates`), so match-or-create skips its own queries.
    found: dict[str, t.Any] | None = None
    #: The push queued a follow-up row in its commit (a document's send): the runner is woken after it.
    queued: bool = False
    #: The push queued a re-read of a customer's balance (an inbox event) in its commit: the pull is woken after it.
    reread: bool = False
    #: What a create of this row adds to the mapped values' body (a currency, a job's parent;
    #: see :func:`with_extra`), set by :func:`flask_qbo.sync.push.ops.upsert_row`.
    create_extra: dict[str, t.Any] = dataclasses.field(default_factory=dict)

    @property
    def parent_id(self) -> str | None:
        """The QBO id of the parent a create makes this contact's customer a job of (``None``: top level)."""
        ref = self.create_extra.get("ParentRef")
        return str(ref["value"]) if isinstance(ref, dict) and ref.get("value") else None

    @property
    def fields(self) -> FieldMap:
        return self.qbo._registration().fields

    #: Once-only notices (``invoice_paid``, ``estimate_accepted``) this push's mirror writes claimed,
    #: sent after its commit (:func:`flask_qbo.sync.pull.milestones.mirror_noticed`).
    notices: list[milestones.Claimed] = dataclasses.field(default_factory=list)

    def mirror(self, entity: str, data: t.Mapping[str, t.Any]) -> None:
        """Mirror a transaction from QBO's answer; a payment or acceptance it is first to show is noticed."""
        realm_id = str(self.connection.realm_id)
        self.notices.extend(milestones.mirror_noticed(self.session, self.row.tenant_key, realm_id, entity, data))

    def reread_balance(self, txn_type: str, customer_qbo_id: str | None) -> None:
        """After a write to a document, have the pull read its customer's balance again.

        QBO sends no event for the balance it moved (see :mod:`flask_qbo.sync.pull.balances`).
        """
        realm_id = str(self.connection.realm_id)
        self.reread = balances.queue_reread(self.session, realm_id, txn_type, customer_qbo_id) or self.reread

    def hold(self) -> None:
        """Before the first write after QBO answered: see :func:`flask_qbo.sync.locks.hold_connection`."""
        hold_connection(self.session, self.connection)


def request_id(row: Outbox, kind: str, *parts: object) -> str:
    """The ``requestid`` of one write of a row.

    The first create is sent with the row's ``uuid`` itself.  Every other write
    uses a UUID derived from it and from what is being written (the SyncToken it
    applies to, the name tried): a retry of the same write replays QBO's first
    answer, while a different write — a coalesced newer edit — is not mistaken
    for it.
    """
    if kind == "create" and not parts:
        return row.uuid
    return str(uuidlib.uuid5(uuidlib.UUID(row.uuid), ":".join([kind, *(str(p) for p in parts)])))


def with_extra(payload: dict[str, t.Any], extra: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A create body with ``extra``'s keys set, and those ``extra`` gives as ``None`` left out."""
    for key, value in extra.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def link_of(ctx: RowContext) -> Customer | None:
    """The mirror row linked to the row's contact in the connected realm."""
    return (
        ctx.session.query(Customer)
        .filter_by(tenant_key=ctx.row.tenant_key, contact_key=ctx.row.contact_key, realm_id=ctx.connection.realm_id)
        .one_or_none()
    )


def mark_synced(link: Customer) -> None:
    """The contact card says "synced" (and drops an old error) once nothing is left to send."""
    if link.sync_status != SyncStatus.SYNCED:
        link.sync_status = SyncStatus.SYNCED
        link.sync_error = None


def push_log(ctx: RowContext, qbo_id: object, action: str, **details: t.Any) -> SyncLog:
    """A ``push`` entry of the sync log about the row's contact (``fields``, ``conflict``, ``message`` ...)."""
    return SyncLog(
        tenant_key=ctx.row.tenant_key,
        realm_id=ctx.connection.realm_id,
        contact_key=ctx.row.contact_key,
        qbo_id=None if qbo_id is None else str(qbo_id),
        direction="push",
        action=action,
        **details,
    )


def record(
    ctx: RowContext, data: dict[str, t.Any], values: t.Mapping[str, t.Any], action: str, fields: list[str]
) -> dict[str, t.Any]:
    """Mirror QBO's answer, store the link's synced state and log it (committed by the caller)."""
    session = ctx.session
    ctx.hold()
    for stale in session.query(Customer).filter(
        Customer.tenant_key == ctx.row.tenant_key,
        Customer.contact_key == ctx.row.contact_key,
        Customer.qbo_id != str(data["Id"]),
    ):
        stale.contact_key = None
    session.flush()
    link = mirror.upsert_customer(session, ctx.connection, data, contact_key=ctx.row.contact_key)
    link.last_pushed_hash = customer_hash(values)
    link.synced_values = sync_state(qbo_values(data, ctx.fields), values)
    link.sync_status = SyncStatus.SYNCED
    link.sync_error = None
    link.last_synced_at = utcnow()
    session.add(push_log(ctx, data["Id"], action, fields=fields))
    return {"qbo_id": str(data["Id"]), "operation": action, "fields": fields}
