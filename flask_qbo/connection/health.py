"""Read-only queries behind the sync health page, the Add-ons panel and the banner.

Every query is scoped to one tenant (its connection's realm for realm-wide
tables), so a page can never show another tenant's data.  Nothing here calls
QBO: the pages render from local tables only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

from sqlalchemy import func

from ..config import get_config
from ..errors import QBOConfigError
from ..errors import QBOTokenDecryptError
from ..fieldmap import path_label
from ..intuit import auth
from ..models import Connection
from ..models import ConnectionStatus
from ..models import Customer
from ..models import Inbox
from ..models import Outbox
from ..models import OutboxStatus
from ..models import SyncLog
from ..models import utcnow
from ..sync.payload import contact_values
from ..sync.payload import known_name
from ..widgets.formatting import without_code_prefix
from . import upkeep

if t.TYPE_CHECKING:
    from sqlalchemy.orm import QueryableAttribute

    from ..extension import QBO

#: How many recent failures the health page lists.
FAILURES_SHOWN = 25

ENVIRONMENT_LABELS = {"production": "Production", "sandbox": "Sandbox", "emulator": "Emulator"}

#: Rows of the field chart for what the contact card shows from QBO, outside the host's FieldMap.
CARD_ROWS: tuple[dict[str, str], ...] = tuple(
    {
        "label": f"{label} (on the contact card)",
        "qbo": qbo,
        "attr": f"card: {attr}",
        "path": path,
        "direction": "QBO → CRM",
    }
    for label, qbo, attr, path in (
        ("Terms", "Terms", "terms", "SalesTermRef"),
        ("Payment method", "Preferred payment method", "payment method", "PaymentMethodRef"),
        ("Delivery method", "Preferred delivery method", "delivery method", "PreferredDeliveryMethod"),
        ("Balance", "Open balance", "balance", "Balance, BalanceWithJobs"),
        ("Currency", "Currency", "currency", "CurrencyRef"),
        ("Tax status, resale number", "Taxable, Resale number", "tax status, resale no.", "Taxable, ResaleNum"),
        ("Customer since", "Created", "customer since", "MetaData.CreateTime"),
    )
)


@dataclasses.dataclass
class Failure:
    """One row of the "recent failures" table."""

    kind: str  # "outbox" (retryable) or "log"
    when: dt.datetime | None
    contact_key: str | None
    contact: str
    code: str | None
    message: str
    status: str
    outbox_id: int | None = None
    attempts: int = 0


def environment_label(conn: Connection) -> str:
    """How the panel names the connection's environment ("Sandbox", "Production"...)."""
    return ENVIRONMENT_LABELS.get(conn.environment, conn.environment)


def reads_this_month(conn: Connection, now: dt.datetime | None = None) -> int:
    """Metered reads counted in the current month (the counter resets monthly)."""
    month = (now or utcnow()).strftime("%Y-%m")
    return (conn.reads_count or 0) if conn.reads_month == month else 0


def status_counts(
    qbo: QBO, model: type[Outbox] | type[Inbox], column: QueryableAttribute[str], value: str
) -> dict[str, int]:
    """``{status: count}`` for one tenant's outbox or one realm's inbox."""
    db_session = qbo.state().db.session
    rows = db_session.query(model.status, func.count()).filter(column == value).group_by(model.status)
    return {status: count for status, count in rows}


def contact_label(qbo: QBO, tenant_key: str, contact_key: str | None) -> str:
    """A readable name for a contact, never another tenant's.

    Uses the model's own ``__str__`` when it defines one, else the name a push
    would give the customer (:func:`~flask_qbo.sync.payload.known_name`), else
    the mirrored DisplayName, else the key.
    """
    if not contact_key:
        return "(no contact)"
    contact = qbo.load_contact(contact_key)
    if contact is None or qbo._tenant_of(contact) != tenant_key:
        return f"Contact {contact_key} (deleted)"
    own_str: object = type(contact).__str__
    if own_str is not object.__str__:
        return str(contact)
    name = known_name(contact_values(contact, qbo._registration().fields))
    if name:
        return name
    mirror = (
        qbo.state()
        .db.session.query(Customer.display_name)
        .filter(Customer.tenant_key == tenant_key, Customer.contact_key == contact_key)
        .scalar()
    )
    return mirror or f"Contact {contact_key}"


def recent_failures(qbo: QBO, tenant_key: str, limit: int = FAILURES_SHOWN) -> list[Failure]:
    """Failed or dead outbox rows (retryable) and failed sync-log entries, newest first.

    A failed push is recorded twice, as the outbox row and as a "push failed"
    log entry; listing both shows one failure as two.  The outbox row wins (it
    carries the Retry button), so a push log entry is shown only when its
    contact has no failed or dead outbox row, and only until a later push of
    that contact succeeds.  Pull failures and connection events are never
    duplicated by the outbox and are always listed.
    """
    db_session = qbo.state().db.session
    failures: list[Failure] = []
    retryable_contacts = {
        key
        for (key,) in db_session.query(Outbox.contact_key).filter(
            Outbox.tenant_key == tenant_key, Outbox.status.in_((OutboxStatus.FAILED, OutboxStatus.DEAD))
        )
    }
    rows = (
        db_session.query(Outbox)
        .filter(Outbox.tenant_key == tenant_key, Outbox.status.in_((OutboxStatus.FAILED, OutboxStatus.DEAD)))
        .order_by(Outbox.updated_at.desc(), Outbox.id.desc())
        .limit(limit)
    )
    for row in rows:
        failures.append(
            Failure(
                kind="outbox",
                when=row.updated_at,
                contact_key=row.contact_key,
                contact=contact_label(qbo, tenant_key, row.contact_key),
                code=row.error_code,
                message=without_code_prefix(row.error_code, row.last_error) or "No message recorded.",
                status=row.status,
                outbox_id=row.id,
                attempts=row.attempts or 0,
            )
        )
    logs = (
        db_session.query(SyncLog)
        .filter(SyncLog.tenant_key == tenant_key, SyncLog.action.in_(("failed", "expired")))
        .order_by(SyncLog.id.desc())
        .limit(limit)
    )
    # A push that later succeeded for the same contact resolved the failure: hide it.
    last_success = dict(
        db_session.query(SyncLog.contact_key, func.max(SyncLog.id))
        .filter(
            SyncLog.tenant_key == tenant_key, SyncLog.direction == "push", SyncLog.action.notin_(("failed", "expired"))
        )
        .group_by(SyncLog.contact_key)
    )
    for entry in logs:
        if entry.direction == "push" and (
            entry.contact_key in retryable_contacts or entry.id < last_success.get(entry.contact_key, 0)
        ):
            continue
        failures.append(
            Failure(
                kind="log",
                when=entry.created_at,
                contact_key=entry.contact_key,
                contact=contact_label(qbo, tenant_key, entry.contact_key) if entry.contact_key else "(connection)",
                code=entry.error_code,
                message=without_code_prefix(entry.error_code, entry.message) or "No message recorded.",
                status=f"{entry.direction} {entry.action}",
            )
        )
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    failures.sort(key=lambda f: f.when or epoch, reverse=True)
    return failures[:limit]


def recent_events(qbo: QBO, tenant_key: str, limit: int = 10) -> list[SyncLog]:
    """Connection events (connected, warnings, disconnects), newest first."""
    return (
        qbo.state()
        .db.session.query(SyncLog)
        .filter(SyncLog.tenant_key == tenant_key, SyncLog.direction == "connect")
        .order_by(SyncLog.id.desc())
        .limit(limit)
        .all()
    )


def key_problem(qbo: QBO, conn: Connection) -> str | None:
    """Why sync cannot decrypt the connection's tokens: this process's key, else a worker's report.

    The web process and the sync workers may run with different keys (one of
    them not restarted, a missing variable), so a pending outbox row that a
    worker left waiting for the key is reported too.  ``None`` when neither
    applies.
    """
    if conn.status != ConnectionStatus.CONNECTED:
        return None
    problem = auth.key_problem(qbo, conn)
    if problem:
        return problem
    reported = (
        qbo.state()
        .db.session.query(Outbox.last_error)
        .filter(
            Outbox.tenant_key == conn.tenant_key,
            Outbox.status == OutboxStatus.PENDING,
            Outbox.error_code == QBOTokenDecryptError.code,
        )
        .order_by(Outbox.id.desc())
        .limit(1)
        .scalar()
    )
    return f"A sync worker reported: {reported}" if reported else None


def malformed_webhooks(qbo: QBO, tenant_key: str, limit: int = FAILURES_SHOWN) -> list[SyncLog]:
    """Parts of signed notifications that could not be stored (which part, and why), newest first.

    The webhook view records them per tenant (see :mod:`flask_qbo.views.webhooks`);
    the change they would have announced still arrives by the next CDC poll.
    """
    return (
        qbo.state()
        .db.session.query(SyncLog)
        .filter(SyncLog.tenant_key == tenant_key, SyncLog.direction == "webhook", SyncLog.action == "malformed")
        .order_by(SyncLog.id.desc())
        .limit(limit)
        .all()
    )


def field_chart(qbo: QBO) -> list[dict[str, str]]:
    """The live chart: the registered FieldMap, the DisplayName as ``QBO_DISPLAY_NAME`` pushes it, the card rows.

    Each row is labelled for people (``label``, ``qbo``: :meth:`FieldMap.chart
    <flask_qbo.fieldmap.FieldMap.chart>`) and named for developers (``attr``, ``path``).

    Unmapped, the DisplayName is derived from the mapped names; mapped or not,
    ``"create_only"`` sends it on create only, which its row says.
    """
    fields = qbo._registration().fields
    rows = fields.chart()
    on_create = get_config("QBO_DISPLAY_NAME") == "create_only"
    named = fields.by_path("DisplayName")
    if named is None:
        direction = "CRM → QBO on create; shown" if on_create else "CRM → QBO"
        rows.append(
            {
                "label": "Display name (made from the name fields, kept unique)",
                "qbo": path_label("DisplayName"),
                "attr": "(derived, unique)",
                "path": "DisplayName",
                "direction": direction,
            }
        )
    elif on_create and named.pushes:
        row = rows[fields.fields.index(named)]
        row["direction"] += " (CRM → QBO on create only)"
    return rows + [dict(row) for row in CARD_ROWS]


def summary(qbo: QBO, tenant_key: str) -> dict[str, t.Any]:
    """Everything the health page shows for one tenant."""
    conn = qbo.connection(tenant_key)
    data: dict[str, t.Any] = {
        "connection": conn,
        "outbox": status_counts(qbo, Outbox, Outbox.tenant_key, tenant_key),
        "inbox": {},
        "failures": recent_failures(qbo, tenant_key),
        "events": recent_events(qbo, tenant_key),
        "malformed_webhooks": malformed_webhooks(qbo, tenant_key),
        "chart": field_chart(qbo),
        "warning_days": None,
        "deadline": None,
        "reads": 0,
        "key_problem": None,
    }
    if conn is not None:
        data["environment"] = environment_label(conn)
        data["key_problem"] = key_problem(qbo, conn)
        data["deadline"] = upkeep.deadline(conn)
        data["warning_days"] = upkeep.warning_due(conn)
        data["reads"] = reads_this_month(conn)
        if conn.realm_id:
            data["inbox"] = status_counts(qbo, Inbox, Inbox.realm_id, conn.realm_id)
    return data


def banner_state(qbo: QBO) -> dict[str, t.Any] | None:
    """What the connection banner says for the current request, or ``None`` for no banner.

    Safe on any page of the host: outside a tenant, or when the host's hooks
    fail to name one, it shows nothing rather than breaking the page.
    """
    try:
        tenant = qbo.current_tenant()
    except QBOConfigError:
        return None
    conn = qbo.connection(tenant)
    if conn is None:
        return None
    admin = qbo._is_admin()
    company = conn.company_name or f"company {conn.realm_id}"
    if conn.status == ConnectionStatus.NEEDS_RECONNECT:
        return {
            "level": "error",
            "kind": "needs_reconnect",
            "admin": admin,
            "company": company,
            "reason": conn.status_reason,
        }
    if conn.status == ConnectionStatus.DISCONNECTED:
        return {
            "level": "info",
            "kind": "disconnected",
            "admin": admin,
            "company": company,
            "since": conn.disconnected_at,
        }
    if auth.key_problem(qbo, conn):
        return {"level": "error", "kind": "key_problem", "admin": admin, "company": company}
    days = upkeep.warning_due(conn)
    if days is not None and admin:
        return {
            "level": "warning",
            "kind": "expiring",
            "admin": admin,
            "company": company,
            "deadline": upkeep.deadline(conn),
            "days": days,
        }
    return None
