"""Full comparison of QBO with the local mirror and linked contacts (``flask qbo reconcile``).

Webhooks and CDC keep the two sides equal; this is the audit that proves it
(or repairs it after, say, a database restore).  It reads every customer and
every mirrored transaction type with paged queries, then reports:

* ``missing``: in QBO, not in the mirror;
* ``stale``: the mirror holds an older SyncToken;
* ``gone``: mirrored as live but no longer in QBO (deleted there);
* ``merged``: a mirrored customer no longer in QBO whose transactions QBO now
  files under another customer: it was merged into that one, and the link and
  the transactions follow it (:mod:`flask_qbo.sync.pull.merges`), whether or
  not it was inactivated before;
* ``contact``: a linked contact's pulled field differs from QBO while no CRM
  change is waiting to be pushed.

With ``apply=True`` each difference is fixed the way a pull would fix it.
"""

from __future__ import annotations

import dataclasses
import typing as t

from sqlalchemy.orm import Session

from ...fieldmap import Field
from ...fieldmap import FieldMap
from ...models import Customer
from ...models import Outbox
from ...models import OutboxStatus
from ...models import Transaction
from ..capture import suppress_capture
from ..locks import lock_customers
from ..payload import advanced
from ..payload import apply_values
from ..payload import contact_values
from ..payload import is_our_name
from ..payload import normalize
from ..payload import qbo_values
from . import merges
from . import mirror
from . import scope
from .apply import Applier

if t.TYPE_CHECKING:
    from ...extension import QBO
    from ...models import Connection


@dataclasses.dataclass
class Difference:
    """One disagreement between QBO and the CRM."""

    kind: str
    entity: str
    qbo_id: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind:8} {self.entity} {self.qbo_id}" + (f": {self.detail}" if self.detail else "")


def reconcile(qbo: QBO, connection: Connection, *, apply: bool = False) -> list[Difference]:
    """Compare both sides of one connection; fix the differences when ``apply`` is true."""
    session = qbo.state().db.session()  # the current Session itself, so helpers can take a plain Session
    client = qbo.client(connection)
    realm = str(connection.realm_id)
    applier = Applier(qbo, connection)
    found: list[Difference] = []
    # Every read first: the read counter commits on its own connection, which must
    # not wait behind this session's writes (SQLite allows one writer).
    everything = {
        entity: {
            str(d["Id"]): d
            for d in client.query(
                f"SELECT * FROM {entity}" + (" WHERE Active IN (true, false)" if entity == "Customer" else "")
            )
        }
        for entity in ("Customer", *mirror.TRANSACTION_TYPES)
    }
    held = {(entity, qbo_id): data for entity, objects in everything.items() for qbo_id, data in objects.items()}
    gone = set(_local(session, realm, "Customer")) - set(everything["Customer"])
    survivors = merges.find(session, realm, gone, held, None)  # before any write moves a transaction
    if apply:  # the customer lock order of flask_qbo.sync.pull.apply, before the first write
        lock_customers(session, realm, [*everything["Customer"], *_local(session, realm, "Customer")])
    linked = scope.linked_ids(session, realm) if scope.linked_only() else None
    for entity, remote in everything.items():
        local = _local(session, realm, entity, linked)
        if linked is not None and entity != "Customer":  # QBO_MIRROR = "linked": only linked customers' documents
            remote = {
                qbo_id: data for qbo_id, data in remote.items() if scope.keeps(session, realm, entity, data, linked)
            }
        for qbo_id, data in remote.items():
            token = local.get(qbo_id)
            if token is None:
                found.append(Difference("missing", entity, qbo_id))
            elif token != str(data.get("SyncToken")):
                found.append(Difference("stale", entity, qbo_id, f"mirror {token}, QBO {data.get('SyncToken')}"))
            else:
                continue
            if apply:
                applier.apply(entity, data)
        inactive = _inactive(session, realm, entity)
        for qbo_id in sorted(set(local) - set(remote)):
            survivor = survivors.into.get(qbo_id) if entity == "Customer" else None
            if survivor is not None:
                found.append(Difference("merged", entity, qbo_id, f"merged into customer {survivor['Id']}"))
            elif qbo_id not in inactive:
                found.append(Difference("gone", entity, qbo_id))
            if apply and entity != "Customer":
                applier.delete_transaction(entity, qbo_id, None)
        if entity == "Customer":
            if apply:
                survivors.apply(applier)
            found.extend(_contacts(qbo, session, connection.tenant_key, realm, remote, apply=apply))
    if apply:
        session.commit()
        applier.milestones.send()
    return found


def _local(session: Session, realm: str, entity: str, linked: set[str] | None = None) -> dict[str, str | None]:
    """Mirrored ids and SyncTokens; documents only of ``linked`` customers unless it is ``None``."""
    if entity == "Customer":
        rows = session.query(Customer.qbo_id, Customer.sync_token).filter(
            Customer.realm_id == realm, Customer.merged_into.is_(None)
        )
    else:
        rows = session.query(Transaction.qbo_id, Transaction.sync_token).filter(
            Transaction.realm_id == realm, Transaction.txn_type == entity, Transaction.deleted.is_(False)
        )
        if linked is not None:
            rows = rows.filter(Transaction.customer_qbo_id.in_(linked))
    return {qbo_id: token or "" for qbo_id, token in rows}


def _inactive(session: Session, realm: str, entity: str) -> set[str]:
    """Customers already inactive: gone without a survivor to follow, they are not reported again."""
    if entity != "Customer":
        return set()
    rows = session.query(Customer.qbo_id).filter(Customer.realm_id == realm, Customer.active.is_(False))
    return {qbo_id for (qbo_id,) in rows}


def _contacts(
    qbo: QBO, session: Session, tenant_key: str, realm: str, remote: dict[str, dict[str, t.Any]], *, apply: bool
) -> list[Difference]:
    """Linked contacts whose pulled fields disagree with QBO (and have nothing waiting to push)."""
    registration = qbo._contact
    if registration is None:
        return []
    fields = registration.fields
    waiting = {
        key
        for (key,) in session.query(Outbox.contact_key).filter(
            Outbox.tenant_key == tenant_key,
            Outbox.status.in_((OutboxStatus.PENDING, OutboxStatus.IN_PROGRESS, OutboxStatus.FAILED)),
        )
    }
    found: list[Difference] = []
    linked = session.query(Customer).filter(Customer.realm_id == realm, Customer.contact_key.isnot(None))
    for row in linked:
        data = remote.get(row.qbo_id)
        contact = qbo.load_contact(str(row.contact_key))
        if data is None or contact is None or row.contact_key in waiting:
            continue
        theirs, ours = qbo_values(data, fields), contact_values(contact, fields)
        stale = disagreeing(fields, theirs, ours, row.synced_values)
        if not stale:
            continue
        attrs = ", ".join(f.name for f in stale)
        found.append(Difference("contact", "Customer", row.qbo_id, f"contact {row.contact_key} differs in {attrs}"))
        if apply:
            with suppress_capture():
                apply_values(contact, theirs, fields, [p for f in stale for p in f.paths])
            row.synced_values = advanced(row.synced_values, theirs, ours, contact_values(contact, fields))
    return found


def disagreeing(
    fields: FieldMap, theirs: dict[str, t.Any], ours: dict[str, t.Any], synced: dict[str, t.Any] | None
) -> list[Field]:
    """The pulled fields to write QBO's values through, one per attribute that disagrees with QBO.

    An attribute several fields feed (one ``name`` from DisplayName and from
    GivenName + FamilyName) agrees when any of them does: QBO may hold a
    DisplayName unlike its name parts, and the contact can match only one, so
    comparing path by path would rewrite it on every run.  A DisplayName that
    is the contact's plus the suffix that kept it unique agrees too.
    """
    name = ours.get("DisplayName")
    if isinstance(name, str) and is_our_name(theirs.get("DisplayName"), name, synced):
        theirs = {**theirs, "DisplayName": name}
    agree: dict[str, bool] = {}
    first: dict[str, Field] = {}
    for field in fields:
        if not field.pulls:
            continue
        key = field.attr if field.attr and field.get is None else field.name
        same = all(normalize(theirs.get(p)) == normalize(ours.get(p)) for p in field.paths)
        agree[key] = agree.get(key, False) or same
        first.setdefault(key, field)
    return [first[key] for key, same in agree.items() if not same]
