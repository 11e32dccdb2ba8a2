"""Apply QBO objects to the CRM: the mirror tables and linked host contacts.

:mod:`flask_qbo.pull` decides *what* changed (webhook events, CDC pages,
queries); this module decides what each changed object *means* locally.  Both
webhooks and CDC deliver the same object several times and out of order, so
every path here is idempotent: an older version is ignored
(:func:`flask_qbo.sync.pull.parsing.is_stale`), the same version is a no-op, and a version
we pushed ourselves (an echo) never writes the contact.

Lock order.  On PostgreSQL every transaction that writes several
``qbo_customer`` rows takes their row locks in one global order, the *customer
lock order*: by ``contact_key`` (code-point order, as Python compares strings;
unlinked rows last), then by ``qbo_id``.  The push side writes rows in
contact-key order one flush at a time (:func:`flask_qbo.sync.push.settle.record_all`,
:mod:`flask_qbo.sync.capture`); a pull transaction locks every customer row it may
write up front, in the same order, with :func:`~flask_qbo.sync.locks.lock_customers`, before its
first write.  Two transactions that each acquire locks in ascending order of
one total order cannot wait on each other in a cycle, so a pull and a push
touching the same customers never deadlock, whatever order the pull then
applies its objects in (newest last, merges after everything).  The pull's
other writes (transactions, sync log, host contacts) are rows a push never
locks, so they cannot close a cycle with a push either.  (Host contacts are
also written by CRM edits, in the host's own flush order; that pair is outside
this rule.)

The connection row comes before all of that: see :mod:`flask_qbo.sync.locks`.
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t

from flask import current_app
from sqlalchemy import func
from sqlalchemy.orm import QueryableAttribute

from ... import signals
from ...config import get_config
from ...models import Connection
from ...models import Customer
from ...models import Outbox
from ...models import SyncLog
from ...models import SyncStatus
from ...models import qbo_today
from ...models import utcnow
from ..capture import suppress_capture
from ..dating import qbo_changed_at
from ..merge import CRM
from ..merge import conflict_entry
from ..merge import winner_for
from ..payload import advanced
from ..payload import apply_values
from ..payload import contact_values
from ..payload import crm_base
from ..payload import customer_hash
from ..payload import field_values
from ..payload import normalize
from ..payload import pulled_value
from ..payload import qbo_changes
from ..payload import qbo_values
from ..queue import UNFINISHED
from . import items
from . import milestones
from . import mirror
from . import parsing
from . import prefetch
from . import requeue
from . import scope

if t.TYPE_CHECKING:
    from ...extension import QBO
    from ...fieldmap import FieldMap

log = logging.getLogger(__name__)


class Applier:
    """Applies QBO objects of one connection; counts what actually changed.

    :param qbo: the extension.
    :param connection: the tenant's connection (its realm scopes every write).
    :param today: the date statuses such as "overdue" are computed for.
    """

    def __init__(self, qbo: QBO, connection: Connection, *, today: dt.date | None = None) -> None:
        self.qbo = qbo
        self.conn = connection
        self.realm_id = str(connection.realm_id)
        self.session = qbo.state().db.session()
        self.app = current_app._get_current_object()  # type: ignore[attr-defined]
        self.today = today or qbo_today()
        self.applied = 0
        #: The ``extra`` of this applier's log records.
        self.log_extra = {"qbo_realm": self.realm_id, "qbo_tenant": connection.tenant_key}
        #: Once-only signals (invoice paid, estimate accepted) claimed here; the caller sends them after its commit.
        self.milestones = milestones.Milestones(self.app, connection.tenant_key)

    # -- dispatch -------------------------------------------------------------------

    def apply(self, entity: str, data: t.Mapping[str, t.Any]) -> bool:
        """Apply one object of any supported entity; True when something changed locally.

        A change is announced with :data:`~flask_qbo.signals.pull_applied` (the pull latency).
        """
        changed = self._apply(entity, data)
        if changed:
            when = parsing.last_updated(data)
            signals.pull_applied.send(self.app, realm_id=self.realm_id, entity=entity, changed_at=when)
        return changed

    def _apply(self, entity: str, data: t.Mapping[str, t.Any]) -> bool:
        if entity == "Customer":
            return self.customer(data)
        if entity in mirror.TRANSACTION_TYPES:
            return self.transaction(entity, data)
        if entity in mirror.REF_KINDS:
            if data.get("status") != "Deleted":
                mirror.store_ref_item(self.session, self.realm_id, entity, data)
            return False
        if entity == "Item":  # reference data, like the lists above: not counted in ``applied``
            return items.apply_item(self.session, self.realm_id, data)
        return False

    def item_gone(self, qbo_id: str) -> bool:
        """An item QBO no longer has as such (merged away, or missing from a read): inactive."""
        return items.inactivate(self.session, self.realm_id, qbo_id)

    def _changed(
        self,
        entity: str,
        qbo_id: str,
        contact_key: str | None,
        action: str,
        fields: list[str] | None = None,
        message: str | None = None,
    ) -> None:
        self.applied += 1
        log.debug("Pulled QBO %s %s: %s.", entity, qbo_id, action, extra=self.log_extra)
        if action != "mirrored":
            self.session.add(
                SyncLog(
                    tenant_key=self.conn.tenant_key,
                    realm_id=self.realm_id,
                    contact_key=contact_key,
                    qbo_id=qbo_id,
                    direction="pull",
                    action=action,
                    fields=fields or None,
                    message=message,
                )
            )
        signals.pulled.send(self.app, realm_id=self.realm_id, entity=entity, qbo_id=qbo_id, contact_key=contact_key)

    # -- transactions ---------------------------------------------------------------------

    def transaction(self, entity: str, data: t.Mapping[str, t.Any]) -> bool:
        """Upsert a transaction (or tombstone a deleted one); merged customers resolve to the survivor."""
        if not scope.keeps(self.session, self.realm_id, entity, data):
            return False  # QBO_MIRROR = "linked": an unlinked customer's document
        before = mirror.get_transaction(self.session, self.realm_id, entity, str(data["Id"]))
        state = (before.sync_token, before.deleted, before.qbo_updated_at) if before is not None else None
        was = milestones.Before.of(before)
        row = mirror.upsert_transaction(self.session, self.realm_id, entity, data, today=self.today)
        if row.customer_qbo_id:
            survivor = mirror.surviving_id(self.session, self.realm_id, row.customer_qbo_id)
            row.customer_qbo_id = survivor
        self.milestones.seen(self.session, entity, was, row)  # QBO may move a balance without a new SyncToken
        if state == (row.sync_token, row.deleted, row.qbo_updated_at):
            return False
        self._changed(entity, row.qbo_id, None, "deleted" if row.deleted else "mirrored")
        return True

    def delete_transaction(self, entity: str, qbo_id: str, when: dt.datetime | None) -> bool:
        """A delete event: tombstone the row without reading QBO (there is nothing left to read)."""
        before = mirror.get_transaction(self.session, self.realm_id, entity, qbo_id)
        if (before is not None and before.deleted) or (before is None and scope.linked_only()):
            return False  # nothing to tombstone: already one, or ("linked") a document never mirrored
        row = mirror.mark_transaction_deleted(self.session, self.realm_id, entity, qbo_id, when=when)
        if not row.deleted:
            return False
        self._changed(entity, qbo_id, None, "deleted")
        return True

    # -- customers ------------------------------------------------------------------------

    def customer(self, data: t.Mapping[str, t.Any]) -> bool:
        """Mirror a customer and bring its linked contact up to date (or create one)."""
        qbo_id = str(data["Id"])
        row = mirror.get_customer(self.session, self.realm_id, qbo_id)
        if data.get("status") == "Deleted":
            return self._customer_removed(row)
        if row is not None and parsing.is_stale(row.sync_token, row.qbo_updated_at, data):
            return False  # older than the version we hold
        if row is not None and row.sync_token is not None and row.sync_token == str(data.get("SyncToken")):
            return self._balances(row, data)  # the version we hold (often our own push's echo)
        was_active = row.active if row is not None else None
        is_new = row is None
        row = mirror.upsert_customer(self.session, self.conn, data)
        registration = self.qbo._contact
        if registration is None:
            self._changed("Customer", qbo_id, None, "mirrored")
            return True
        values = qbo_values(data, registration.fields)
        digest = customer_hash(values)
        if row.contact_key is None:
            if (
                is_new
                and get_config("QBO_IMPORT_NEW_CUSTOMERS")
                and row.active
                and not row.merged_into
                and not self._awaiting_push(data, values)
            ):
                return self._create_contact(row, values, digest)
            self._changed("Customer", qbo_id, None, "mirrored")
            return True
        if digest in (row.last_pushed_hash, row.last_pulled_hash):
            # Our own push coming back, or a change to fields we do not map (balance, terms):
            # the mirror is refreshed above, the contact is already right.
            row.last_pulled_hash = digest
            self._changed("Customer", qbo_id, row.contact_key, "echo" if digest == row.last_pushed_hash else "mirrored")
            return True
        self._update_contact(row, data, values, digest, was_active)
        return True

    def _balances(self, row: Customer, data: t.Mapping[str, t.Any]) -> bool:
        """Same version, maybe a new balance: QBO recomputes Balance without bumping SyncToken."""
        balances = (parsing.to_decimal(data.get("Balance")), parsing.to_decimal(data.get("BalanceWithJobs")))
        if balances == (row.balance, row.balance_with_jobs):
            return False
        row.balance, row.balance_with_jobs = balances
        self._changed("Customer", row.qbo_id, row.contact_key, "mirrored")
        return True

    def _customer_removed(self, row: Customer | None, message: str = "Merged away in QuickBooks.") -> bool:
        """QBO never deletes customers: a deleted one was merged away (see :mod:`flask_qbo.sync.pull.merges`)."""
        if row is None or not row.active:
            return False
        row.active = False
        self._changed("Customer", row.qbo_id, row.contact_key, "inactivated", message=message)
        return True

    def customer_removed(self, qbo_id: str, message: str) -> bool:
        """A customer gone from QBO whose survivor cannot be named: inactivate it, ``message`` saying why."""
        return self._customer_removed(mirror.get_customer(self.session, self.realm_id, qbo_id), message)

    def _awaiting_push(self, data: t.Mapping[str, t.Any], values: t.Mapping[str, t.Any]) -> bool:
        """True when this customer is, or will be, linked by a push still queued or in flight.

        Two cases.  Our own create whose answer was lost (a timeout after QBO
        executed it, a killed worker) comes back through a webhook or CDC as a
        customer nobody is linked to yet; its outbox row recorded the DisplayName
        it sent, which QBO keeps unique, so the retry will adopt it (even when the
        contact was deleted meanwhile).  And a contact with this customer's email
        whose push is queued will match it by email.  Importing the customer in
        either case would give the person a second contact.
        """
        in_flight = (
            self.session.query(Outbox.contact_key, Outbox.create_sent)
            .filter(Outbox.tenant_key == self.conn.tenant_key, Outbox.status.in_(UNFINISHED))
            .all()
        )
        if not in_flight:
            return False
        name = data.get("DisplayName")
        if any(sent and sent.get("DisplayName") == name for _key, sent in in_flight):
            return True
        email = normalize(values.get("PrimaryEmailAddr.Address"))
        registration = self.qbo._registration()
        field = registration.fields.by_path("PrimaryEmailAddr.Address")
        column = getattr(registration.model, field.attr, None) if field is not None and field.attr else None
        if not email or not isinstance(column, QueryableAttribute):
            return False
        waiting = {key for key, _sent in in_flight}
        with self.session.no_autoflush:
            candidates: t.Iterable[object] = self.session.query(registration.model).filter(
                func.lower(column) == str(email).lower()
            )
            return any(
                self.qbo._contact_key(c) in waiting and self.qbo._tenant_of(c) == self.conn.tenant_key
                for c in candidates
            )

    def _create_contact(self, row: Customer, values: dict[str, t.Any], digest: str) -> bool:
        if not self.qbo._has_contact_factory:
            log.warning(
                "QBO_IMPORT_NEW_CUSTOMERS is on but no @qbo.contact_factory is registered.", extra=self.log_extra
            )
            self._changed("Customer", row.qbo_id, None, "mirrored")
            return True
        fields = self.qbo._registration().fields
        attrs = contact_attrs(values, fields)
        with suppress_capture():
            contact = self.qbo._create_contact(self.conn.tenant_key, attrs)
            apply_values(contact, values, fields, fields.setter_paths)
            self.session.flush()
        row.contact_key = self.qbo._contact_key(contact)
        self._mark_synced(row, digest, advanced(None, values, {}, contact_values(contact, fields)))
        self._changed("Customer", row.qbo_id, row.contact_key, "created", fields=sorted(attrs))
        return True

    def _update_contact(
        self, row: Customer, data: t.Mapping[str, t.Any], values: dict[str, t.Any], digest: str, was_active: bool | None
    ) -> None:
        fields = self.qbo._registration().fields
        contact = prefetch.contact(self.qbo, self.session, self.realm_id, str(row.contact_key))
        if contact is None:  # deleted in the CRM; the mirror still shows the customer
            self._changed("Customer", row.qbo_id, row.contact_key, "mirrored")
            return
        if self.qbo._tenant_of(contact) != row.tenant_key:
            # Links are made tenant-checked; a key that now names another tenant's
            # contact (keys reused after a delete) must never receive this data.
            log.warning(
                "Customer %s is linked to contact %s of another tenant; not applied.",
                row.qbo_id,
                row.contact_key,
                extra=self.log_extra,
            )
            self._changed("Customer", row.qbo_id, row.contact_key, "mirrored")
            return
        base = row.synced_values
        paths = qbo_changes(values, base) if base is not None else list(values)
        crm_wins = self._conflicts(row, contact, data, values, base, paths)
        apply_paths = [p for p in paths if p not in crm_wins]
        before = contact_values(contact, fields)
        with suppress_capture():
            written = apply_values(contact, values, fields, apply_paths)
        state = advanced(base, values, before, contact_values(contact, fields))
        self._mark_synced(row, digest, state, pending=bool(crm_wins))
        action = "updated"
        if was_active is not None and was_active != row.active:
            action = "reactivated" if row.active else "inactivated"
        self._changed("Customer", row.qbo_id, row.contact_key, action, fields=written)

    def _conflicts(
        self,
        row: Customer,
        contact: object,
        data: t.Mapping[str, t.Any],
        values: dict[str, t.Any],
        base: dict[str, t.Any] | None,
        paths: list[str],
    ) -> set[str]:
        """Paths where the CRM holds an unpushed edit that beats QBO's (they are not written)."""
        if base is None:
            return set()
        fields = self.qbo._registration().fields
        crm_edited_at = prefetch.unpushed_edit(self.session, self.realm_id, row.tenant_key, str(row.contact_key))
        if crm_edited_at is None:
            return set()
        # The same rule as push's three-way merge, so both directions settle a conflict alike.
        qbo_at = qbo_changed_at(self.session, row.tenant_key, str(row.contact_key), data, fields)
        winner = winner_for(get_config("QBO_CONFLICT_POLICY"), crm_edited_at, qbo_at)
        crm_newer = winner == CRM
        wins: set[str] = set()
        for path in paths:
            field = fields.by_path(path)
            if field is None or not field.pulls:
                continue
            crm = field_values(field, contact)[path]
            if crm == normalize((crm_base(base) or {}).get(path)) or crm == normalize(values.get(path)):
                continue  # the CRM did not touch it, or both sides agree
            if crm_newer:
                wins.add(path)
            self.session.add(
                SyncLog(
                    tenant_key=row.tenant_key,
                    realm_id=self.realm_id,
                    contact_key=row.contact_key,
                    qbo_id=row.qbo_id,
                    direction="pull",
                    action="conflict",
                    fields=[field.name],
                    conflict={field.name: conflict_entry(crm, values.get(path), winner, crm_edited_at, qbo_at)},
                )
            )
            signals.conflict.send(
                self.app,
                contact_key=row.contact_key,
                field=field.name,
                crm_value=crm,
                qbo_value=values.get(path),
                winner=winner,
                crm_changed_at=crm_edited_at,
                qbo_changed_at=qbo_at,
            )
        return wins

    def _mark_synced(self, row: Customer, digest: str, state: dict[str, t.Any], *, pending: bool = False) -> None:
        row.synced_values = state
        row.last_pulled_hash = digest
        row.last_synced_at = utcnow()
        if not pending:
            row.sync_status, row.sync_error = SyncStatus.SYNCED, None

    # -- merges ---------------------------------------------------------------------------

    def merge(self, from_id: str, into: t.Mapping[str, t.Any], *, message: str | None = None) -> bool:
        """A merge: mirror the survivor, move the link and the transactions to it, re-queue failed pushes.

        Run for a Merge event and for a merge found without one
        (:mod:`flask_qbo.sync.pull.merges`); once recorded, a merge is not
        applied again, so the event and the repair may both arrive.
        """
        into_id = str(into["Id"])
        source = mirror.get_customer(self.session, self.realm_id, from_id)
        if source is not None and source.merged_into == into_id:
            return False
        self.customer(into)
        linked = source.contact_key if source is not None else None
        target = mirror.move_customer(self.session, self.realm_id, from_id, into_id)
        contact_key = target.contact_key if target is not None else None
        self._changed("Customer", into_id, contact_key, "merged", message=message or f"Customer {from_id} merged in.")
        if target is not None and linked is not None and contact_key == linked:
            requeue.after_merge(self.session, self.conn, target)
        return True


def contact_attrs(values: t.Mapping[str, t.Any], fields: FieldMap) -> dict[str, t.Any]:
    """QBO ``{path: value}`` as ``{attr: value}`` for a new contact (pulled fields with an attribute only).

    When several fields feed one attribute the first with a value wins, as in
    :func:`~flask_qbo.sync.payload.apply_values`.
    """
    attrs: dict[str, t.Any] = {}
    for field in fields:
        if field.pulls and field.attr and field.set is None and attrs.get(field.attr) is None:
            if any(path in values for path in field.paths):
                attrs[field.attr] = pulled_value(field, values)
    return {k: v for k, v in attrs.items() if v is not None}
