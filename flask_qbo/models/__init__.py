"""The extension's own tables.

They sit on their own :class:`~sqlalchemy.MetaData` with a ``qbo_`` prefix, so a host never
subclasses them and can hand :data:`metadata` (with :func:`render_item`) to its Alembic env.
They live on the host's engine and are used through the host's session, which is what lets
an outbox row commit in the same transaction as the contact edit.
"""

from __future__ import annotations

from .base import NAMING_CONVENTION
from .base import Base
from .base import Money
from .base import Status
from .base import UTCDateTime
from .base import metadata
from .base import qbo_today
from .base import render_item
from .base import status_column
from .base import to_cents
from .base import utcnow
from .billing import CompanyPrefs
from .billing import Document
from .billing import Item
from .billing import Notice
from .billing import TaxCode
from .billing import TaxRate
from .importing import ImportMatch
from .importing import ImportRun
from .statuses import CUSTOMER_OPS
from .statuses import ConnectionStatus
from .statuses import DocumentState
from .statuses import ImportDecision
from .statuses import ImportStatus
from .statuses import InboxStatus
from .statuses import OutboxOp
from .statuses import OutboxStatus
from .statuses import SyncStatus
from .sync import Connection
from .sync import Customer
from .sync import Inbox
from .sync import Outbox
from .sync import RefItem
from .sync import SyncLog
from .sync import Transaction

__all__ = [
    "Base",
    "CUSTOMER_OPS",
    "CompanyPrefs",
    "Connection",
    "ConnectionStatus",
    "Customer",
    "Document",
    "DocumentState",
    "ImportDecision",
    "ImportMatch",
    "ImportRun",
    "ImportStatus",
    "Inbox",
    "InboxStatus",
    "Item",
    "Money",
    "to_cents",
    "NAMING_CONVENTION",
    "Notice",
    "Outbox",
    "OutboxOp",
    "OutboxStatus",
    "RefItem",
    "Status",
    "SyncLog",
    "SyncStatus",
    "TaxCode",
    "TaxRate",
    "Transaction",
    "UTCDateTime",
    "metadata",
    "qbo_today",
    "render_item",
    "status_column",
    "utcnow",
]
