"""What "converged" means after a soak run, as lists of concrete discrepancies.

Kept apart from the runner so each rule reads on its own; see
:mod:`tests.soak.soak` for the rules in prose.
"""

from __future__ import annotations

import collections
import typing as t

from flask_qbo.mapping import get_path
from flask_qbo.mapping import normalize
from flask_qbo.models import Outbox
from flask_qbo.testing import TEST_REALM

from ..hostapp import Contact
from ..hostapp import db

if t.TYPE_CHECKING:
    from .soak import Person
    from .soak import Soak


def verify(soak: Soak) -> dict[str, list[str]]:
    """Every check of the soak; each list is empty when the run converged."""
    from .soak import EDITS
    from .soak import REQUESTS_PER_OP

    customers = soak.emu.store.list(TEST_REALM, "Customer", include_inactive=True)
    by_email: dict[str, list[dict[str, t.Any]]] = collections.defaultdict(list)
    for data in customers:
        by_email[str(get_path(data, "PrimaryEmailAddr.Address"))].append(data)
    problems: dict[str, list[str]] = {"duplicates": [], "mismatches": [], "lost_edits": [], "deletes": [],
                                      "missing": [], "failed_rows": [], "requests": []}
    with soak.app.app_context():
        contacts: dict[str, list[Contact]] = collections.defaultdict(list)
        for contact in db.session.query(Contact):
            contacts[str(contact.email)].append(contact)
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
                problems["missing"].append(f"{person.email} ({person.origin}): contact={contact is not None} "
                                           f"customer={customer is not None}")
                continue
            if contact.archived or customer.get("Active") is False:
                problems["deletes"].append(f"{person.email}: live person archived={contact.archived} "
                                           f"active={customer.get('Active')}")
            for attr in EDITS:
                path = fields.by_attr(attr).path
                crm, qbo = normalize(getattr(contact, attr)), normalize(get_path(customer, path))
                if crm != qbo:
                    problems["mismatches"].append(f"{person.email} {attr}: crm={crm!r} qbo={qbo!r}")
                    continue
                allowed = _allowed(person, attr)
                if allowed is not None and crm not in allowed:
                    writes = [(round(w.when % 1000, 2), w.side, w.value) for w in person.writes[attr]]
                    lost = (f"{person.email} {attr}: has {crm!r}, expected one of "
                            f"{sorted(map(str, allowed))}; writes {writes}")
                    problems["lost_edits"].append(lost)
        for row in db.session.query(Outbox).filter(Outbox.status.in_(("failed", "dead"))):
            problems["failed_rows"].append(f"outbox {row.id} contact {row.contact_key}: {row.last_error}")
        db.session.commit()
    operations = sum(soak.ops.values())
    if soak.requests() > REQUESTS_PER_OP * operations + 200:
        problems["requests"].append(f"{soak.requests()} requests for {operations} operations")
    if soak.last_round_requests > 2:
        problems["requests"].append(f"a converged round still made {soak.last_round_requests} requests")
    return problems


def _allowed(person: Person, attr: str) -> set[t.Any] | None:
    """Values the field may end with under "newest wins".

    The newest write of the field, or the other side's last write of it when
    that side changed the *record* at about the same time or later: Flask-QBO
    dates a CRM change by the contact's latest unpushed edit and QBO's by the
    customer's ``LastUpdatedTime`` (whole seconds), so a true conflict is
    decided per record, not per field.
    """
    from .soak import TIE_SECONDS

    writes = person.writes.get(attr)
    if not writes:
        return None
    last = max(writes, key=lambda w: w.when)
    allowed = {normalize(last.value)}
    other = [w for w in writes if w.side != last.side]
    if other:
        latest_other = max(w.when for ws in person.writes.values() for w in ws if w.side != last.side)
        if latest_other >= last.when - TIE_SECONDS:
            allowed.add(normalize(max(other, key=lambda w: w.when).value))
    return allowed


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
