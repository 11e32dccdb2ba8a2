"""What a fetched import found, in the words of the first sync's card.

Connecting starts an import (``QBO_INITIAL_SYNC = "import"``), and the page
the admin lands on must say in one sentence what it found ("5 contacts match a
QuickBooks customer exactly, 2 need review, 23 customers are new") and, once
the exact matches are linked, whose contact page to open.  These read-only
queries feed that card (``qbo/import/_progress.html``) on the connected page
and on the import page alike.
"""

from __future__ import annotations

import typing as t

from sqlalchemy import func

from ..models import Customer
from ..models import ImportDecision
from ..models import ImportMatch
from ..models import ImportRun
from ..sync.payload import contact_values
from ..sync.payload import display_name
from .fetch import progress
from .review import claims
from .review import follows_exact

if t.TYPE_CHECKING:
    from ..extension import QBO

#: Linked contacts the card names, so the admin knows whose page to open next.
LINKED_NAMED = 5


def tally(qbo: QBO, run: ImportRun) -> dict[str, int]:
    """The run's rows by what the admin should do with them; skipped rows are left out.

    ``exact``: customers whose e-mail address matches one contact, still free,
    and not decided otherwise (exactly what "Link exact matches" links);
    ``review``: customers matched by phone or name, claimed by several
    contacts, e-mail rows linked to another contact, or whose proposed
    contact is already taken, which a person should confirm; ``new``:
    customers no contact matches, or to be created, new to the CRM;
    ``linked``: rows this run already linked or created.
    """
    session = qbo.state().session
    counts = {"exact": 0, "review": 0, "new": 0, "linked": 0}
    rows = (
        session.query(ImportMatch.match_kind, ImportMatch.applied, func.count())
        .filter(
            ImportMatch.run_id == run.id, ImportMatch.decision != ImportDecision.SKIP, ImportMatch.match_kind != "email"
        )
        .group_by(ImportMatch.match_kind, ImportMatch.applied)
    )
    for kind, applied, number in rows:
        if applied:
            counts["linked"] += number
        else:
            counts["new" if kind == "none" else "review"] += number
    email = session.query(ImportMatch).filter(
        ImportMatch.run_id == run.id, ImportMatch.decision != ImportDecision.SKIP, ImportMatch.match_kind == "email"
    )
    open_rows = []
    for match in email:
        if match.applied:
            counts["linked"] += 1
        elif match.decision == ImportDecision.CREATE:
            counts["new"] += 1
        elif follows_exact(match):
            open_rows.append(match)
        else:
            counts["review"] += 1
    pending = [m.contact_key for m in open_rows if m.decision == ImportDecision.PENDING and m.contact_key]
    taken = claims(session, run, pending)
    for match in open_rows:
        pending_and_taken = match.decision == ImportDecision.PENDING and match.contact_key in taken
        counts["review" if pending_and_taken else "exact"] += 1
    return counts


def linked_names(qbo: QBO, run: ImportRun, limit: int = LINKED_NAMED) -> list[str]:
    """Names of the first ``limit`` contacts the run linked or created, as the CRM shows them."""
    applied = (
        qbo.state()
        .session.query(ImportMatch.contact_key)
        .filter(ImportMatch.run_id == run.id, ImportMatch.applied.is_(True), ImportMatch.contact_key.isnot(None))
        .order_by(ImportMatch.id)
        .limit(limit)
    )
    keys = [str(key) for (key,) in applied]
    fields = qbo._registration().fields
    contacts = qbo._load_contacts(keys)
    return [
        display_name(contact_values(contacts[key], fields))
        for key in keys
        if key in contacts and qbo._tenant_of(contacts[key]) == run.tenant_key
    ]


def inactive_left_out(qbo: QBO, run: ImportRun) -> int:
    """Unlinked inactive customers of the run's company: fetched (so counted in "N of N customers") but never proposed."""
    return int(
        qbo.state()
        .session.query(func.count(Customer.id))
        .filter(Customer.realm_id == run.realm_id, Customer.contact_key.is_(None), Customer.active.is_(False))
        .scalar()
        or 0
    )


def card(qbo: QBO, run: ImportRun) -> dict[str, t.Any]:
    """The progress card's context: the run, its percent, :func:`tally`, :func:`linked_names`, :func:`inactive_left_out`."""
    return {
        "run": run,
        "percent": progress(run),
        "tally": tally(qbo, run),
        "linked_names": linked_names(qbo, run),
        "inactive": inactive_left_out(qbo, run) if run.status == "review" else 0,
    }
