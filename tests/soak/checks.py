"""What "converged" means after a soak run, as lists of concrete discrepancies.

Kept apart from the runner so each rule reads on its own; see
:mod:`tests.soak.soak` for the rules in prose.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import typing as t

from flask_qbo.models import CUSTOMER_OPS
from flask_qbo.models import Outbox
from flask_qbo.models import SyncLog
from flask_qbo.sync.payload import get_path
from flask_qbo.sync.payload import normalize
from flask_qbo.testing import TEST_REALM

from ..hostapp import Contact
from ..hostapp import db

if t.TYPE_CHECKING:
    from .soak import Person
    from .soak import Settled
    from .soak import Soak


def verify(soak: Soak) -> dict[str, list[str]]:
    """Every check of the soak; each list is empty when the run converged."""
    from .soak import EDITS
    from .soak import REQUESTS_PER_OP

    customers = soak.emu.store.list(TEST_REALM, "Customer", include_inactive=True)
    by_email: dict[str, list[dict[str, t.Any]]] = collections.defaultdict(list)
    for data in customers:
        by_email[str(get_path(data, "PrimaryEmailAddr.Address"))].append(data)
    problems: dict[str, list[str]] = {
        "duplicates": [],
        "mismatches": [],
        "lost_edits": [],
        "conflicts": [],
        "deletes": [],
        "missing": [],
        "failed_rows": [],
        "requests": [],
        "drain": [],
    }
    if not soak.drained:
        problems["drain"].append(f"not settled after {soak.o.max_drain_rounds} drain rounds")
        problems["drain"] += soak.unsettled
    with soak.app.app_context():
        contacts: dict[str, list[Contact]] = collections.defaultdict(list)
        for contact in db.session.query(Contact):
            contacts[str(contact.email)].append(contact)
        keys = {p.contact_key: p.email for p in soak.people if p.contact_key is not None}  # deleted ones too
        keys.update((str(c.id), email) for email, found in contacts.items() for c in found)
        settled = _settled_by_person(soak, keys)
        problems["conflicts"] += _wrong_winners(soak.people, settled, _logged_conflicts())
        for email, found in list(contacts.items()) + list(by_email.items()):
            if len(found) > 1:
                problems["duplicates"].append(f"{email}: {len(found)} records")
        fields = soak.fields
        for person in soak.people:
            contact = (contacts.get(person.email) or [None])[0]
            customer = (by_email.get(person.email) or [None])[0]
            if person.deleted is not None:
                problems["deletes"] += _deleted(person, contact, customer)
                continue
            if contact is None or customer is None:
                problems["missing"].append(
                    f"{person.email} ({person.origin}): contact={contact is not None} customer={customer is not None}"
                )
                continue
            if contact.archived or customer.get("Active") is False:
                problems["deletes"].append(
                    f"{person.email}: live person archived={contact.archived} active={customer.get('Active')}"
                )
            for attr in EDITS:
                path = fields.by_attr(attr).path
                crm, qbo = normalize(getattr(contact, attr)), normalize(get_path(customer, path))
                if crm != qbo:
                    problems["mismatches"].append(f"{person.email} {attr}: crm={crm!r} qbo={qbo!r}")
                    continue
                conflicts = [c for c in settled.get(person.email, []) if c.attr == attr]
                expected = expected_value(person, attr, conflicts)
                if expected is not None and crm != expected.value:
                    writes = [(w.seq, w.side, w.value, w.stamp.isoformat()) for w in person.writes(attr)]
                    seen = [(c.seq, c.winner, c.crm_value, c.qbo_value) for c in conflicts]
                    problems["lost_edits"].append(
                        f"{person.email} {attr}: has {crm!r}, expected {expected.value!r}; "
                        f"writes {writes}; conflicts {seen}"
                    )
        # Document rows are judged by tests.soak.documents: a refusal there can be legitimate.
        failed = Outbox.status.in_(("failed", "dead")) & Outbox.op.in_(CUSTOMER_OPS)
        for row in db.session.query(Outbox).filter(failed):
            problems["failed_rows"].append(f"outbox {row.id} contact {row.contact_key}: {row.last_error}")
        db.session.commit()
    operations = sum(soak.ops.values())
    if soak.requests() > REQUESTS_PER_OP * operations + 200:
        problems["requests"].append(f"{soak.requests()} requests for {operations} operations")
    if soak.last_round_requests > 2:
        problems["requests"].append(f"a converged round still made {soak.last_round_requests} requests")
    return problems


@dataclasses.dataclass
class Expected:
    """The value a field must end with (a class, so that None can be expected)."""

    value: t.Any


def newer_side(person: Person, seq: int) -> str:
    """Which side changed the record last among the first ``seq`` writes, as newest-wins must see it.

    The engine dates the CRM side by its latest unpushed edit and QBO's by the
    customer's ``LastUpdatedTime``; both are in each write's ``stamp``.  QBO
    wins only when strictly newer (its whole seconds tie in the CRM's favour).
    """
    latest = _latest(person, seq)
    crm, qbo = latest["crm"], latest["qbo"]
    return "qbo" if crm is not None and qbo is not None and qbo > crm else "crm"


def _latest(person: Person, seq: int) -> dict[str, dt.datetime | None]:
    return {
        side: max((w.stamp for w in person.history if w.side == side and w.seq <= seq), default=None)
        for side in ("crm", "qbo")
    }


def expected_value(person: Person, attr: str, conflicts: list[Settled]) -> Expected | None:
    """The one value newest-wins leaves in ``attr`` (None when nobody wrote it).

    The writes and the conflicts the engine settled, in the order they
    happened (a conflict is settled by the work that follows the writes
    counted in its ``seq``): a write sets the value, a conflict the value of
    the side that changed the record last by then.
    """
    events = [(w.seq, 0, normalize(w.value)) for w in person.writes(attr)]
    for c in conflicts:
        side = newer_side(person, c.seq)
        events.append((c.seq, 1, normalize(c.crm_value if side == "crm" else c.qbo_value)))
    if not events:
        return None
    return Expected(max(events, key=lambda e: (e[0], e[1]))[2])


def _settled_by_person(soak: Soak, email_by_key: dict[str, str]) -> dict[str, list[Settled]]:
    """The reported conflicts by person (email)."""
    by_person: dict[str, list[Settled]] = collections.defaultdict(list)
    for c in soak.settled:
        if c.contact_key in email_by_key:
            by_person[email_by_key[c.contact_key]].append(c)
    return by_person


def _wrong_winners(people: list[Person], settled: dict[str, list[Settled]], logged: dict[str, list[str]]) -> list[str]:
    """Conflicts the engine settled for the side that had not changed the record last."""
    found = []
    for person in people:
        for c in settled.get(person.email, []):
            side = newer_side(person, c.seq)
            if c.winner != side:
                stamps = {k: v.isoformat() if v else None for k, v in _latest(person, c.seq).items()}
                history = [(w.seq, w.side, w.attr, w.value, w.stamp.isoformat()) for w in person.history]
                found.append(
                    f"{person.email} {c.attr}: {c.winner} won (crm={c.crm_value!r} qbo={c.qbo_value!r}) "
                    f"after write {c.seq}, but {side} changed the record last {stamps} (the engine compared "
                    f"{c.engine_saw}); writes {history}; "
                    f"sync log {logged.get(c.contact_key, [])}"
                )
    return found


def _logged_conflicts() -> dict[str, list[str]]:
    """The sync log's conflict entries by contact key (which direction settled them, when)."""
    logged: dict[str, list[str]] = collections.defaultdict(list)
    for entry in db.session.query(SyncLog).filter(SyncLog.action == "conflict").order_by(SyncLog.id):
        logged[str(entry.contact_key)].append(f"{entry.direction} {entry.created_at.isoformat()} {entry.conflict}")
    return logged


def _deleted(person: Person, contact: Contact | None, customer: dict[str, t.Any] | None) -> list[str]:
    """A CRM delete leaves the customer inactive (or never created); a QBO inactivation archives the contact."""
    found = []
    if customer is not None and customer.get("Active") is not False:
        found.append(f"{person.email}: deleted in {person.deleted} but the QBO customer is active")
    if person.deleted == "crm" and contact is not None:
        found.append(f"{person.email}: deleted in the CRM but the contact came back")
    if person.deleted == "qbo" and contact is not None and not contact.archived:
        found.append(f"{person.email}: inactive in QBO but the contact is not archived")
    return found
