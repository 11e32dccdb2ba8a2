"""The statuses stored in the ``qbo_*`` tables, each a plain string value."""

from __future__ import annotations

from .base import Status


class ConnectionStatus(Status):
    """Where a tenant's link to its QuickBooks company stands."""

    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs_reconnect"
    DISCONNECTED = "disconnected"


class SyncStatus(Status):
    """What the contact card says about a linked customer."""

    SYNCED = "synced"
    PENDING = "pending"
    FAILED = "failed"


class OutboxStatus(Status):
    """An outbox row's place in the push queue."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    #: Refused by QBO (validation): waits for a person to fix the contact.
    FAILED = "failed"
    #: Out of attempts: kept for the health page, never retried on its own.
    DEAD = "dead"


class OutboxOp(Status):
    """What an outbox row asks of QBO."""

    UPSERT = "upsert"
    INACTIVATE = "inactivate"
    #: Make the :class:`~flask_qbo.models.Document` named by ``target["document_id"]`` in QBO.
    CREATE_DOC = "create_doc"
    #: Email a document through QBO (``/send``): ``target={"txn_type", "qbo_id", "send_to"}``.
    SEND_DOC = "send_doc"
    #: Void an invoice: ``target={"txn_type", "qbo_id"}``.
    VOID_DOC = "void_doc"
    #: Delete an estimate or invoice: ``target={"txn_type", "qbo_id"}``.
    DELETE_DOC = "delete_doc"


#: The ops that write the contact's customer; the others act on documents and never coalesce with these.
CUSTOMER_OPS = (OutboxOp.UPSERT, OutboxOp.INACTIVATE)


class InboxStatus(Status):
    """An inbox event's place in the pull queue."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"
    #: Nothing to apply (an entity we do not mirror, a disconnected realm).
    IGNORED = "ignored"


class ImportStatus(Status):
    """Where an import run stands."""

    FETCHING = "fetching"
    REVIEW = "review"
    APPLYING = "applying"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ImportDecision(Status):
    """The admin's choice for one imported QBO customer."""

    PENDING = "pending"
    LINK = "link"
    CREATE = "create"
    SKIP = "skip"


class DocumentState(Status):
    """Where an estimate or invoice made in the CRM stands."""

    #: Saved in the CRM and queued for QBO.
    SENDING = "sending"
    #: QBO made it; the transaction mirror describes it from now on.
    CREATED = "created"
    #: QBO refused it (Intuit's message in ``error_message``): edit and retry, or discard.
    FAILED = "failed"
    #: The salesperson discarded a refused document before QBO made it.
    DISCARDED = "discarded"
