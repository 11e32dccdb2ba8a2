"""The import's review: the admin's decisions and the dry-run preview of what applying them writes.

Each proposed match ends as exactly one of ``link`` (to a chosen contact),
``create`` (a new contact from the customer) or ``skip``; ``pending`` rows are
left alone when the decisions are applied (:mod:`.apply`), so nothing happens
that the admin did not choose.

When a customer is linked to an existing contact, values are merged field by
field: QBO's value wins where both sides have one (it is the books of record)
and the contact's value fills a field QBO leaves empty.  The preview lists
exactly those writes, per side (:func:`plan`); :mod:`.apply` performs the same
plan, so the preview never promises what applying does not do.

The review page offers one decision per row; linking to a contact other than
the proposal goes through the contact search (:func:`find_contact` resolves
what was typed when the page runs without JavaScript), so nobody is asked for
a contact key.  Preview rows name fields by their :attr:`~flask_qbo.fieldmap.Field.label`.

Contact keys are stored in their one canonical spelling
(:meth:`~flask_qbo.extension.QBO._canonical_key`), so the "already chosen" check
(:func:`claims`) sees every duplicate.
"""

from __future__ import annotations

import typing as t

from sqlalchemy import func

from ..fieldmap import Field
from ..fieldmap import path_label
from ..models import Customer
from ..models import ImportDecision
from ..models import ImportMatch
from ..models import ImportRun
from ..models import ImportStatus
from ..state import get_qbo
from ..sync.payload import contact_values
from ..sync.payload import display_name
from ..sync.payload import normalize
from ..sync.payload import pulled_value
from ..sync.payload import qbo_values
from .matching import search_contacts

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ..extension import QBO

DECISIONS = tuple(ImportDecision)
#: Most contacts one search of the review lists (the picker, and a typed search).
SEARCH_LIMIT = 20
#: Match kinds nobody, or several, were proposed for: the rows that need a person (the "Needs attention" filter).
ATTENTION_KINDS = ("ambiguous", "none")
#: Most contacts named in the message when a typed search matches several.
NAMED_IN_MESSAGE = 3


def load_run(run_id: int) -> tuple[QBO, Session, ImportRun]:
    """The app's extension, its database session and import run ``run_id``.

    :raises LookupError: no such run.
    """
    qbo = get_qbo()
    session = qbo.state().db.session()
    run = session.get(ImportRun, int(run_id))
    if run is None:
        raise LookupError(f"No import run {run_id}.")
    return qbo, session, run


def tenant_contact(qbo: QBO, run: ImportRun, contact_key: str | None) -> t.Any:
    """The host's contact ``contact_key`` of the run's tenant.

    :raises ValueError: no such contact, or another tenant's.
    """
    contact = qbo.load_contact(str(contact_key))
    if contact is None or qbo._tenant_of(contact) != run.tenant_key:
        raise ValueError(f"Contact {contact_key!r} does not exist in this account.")
    return contact


def claims(
    session: Session, run: ImportRun, contact_keys: t.Iterable[str], qbo_id: str | None = None
) -> dict[str, str]:
    """Why each of ``contact_keys`` cannot be linked to customer ``qbo_id``: ``{key: reason}``.

    A contact is taken when another QBO customer of the tenant is already
    linked to it, or another row of this import already chose it; one
    contact linked to two customers would make every later sync ambiguous.
    Free contacts are absent from the result.
    """
    keys = {str(k) for k in contact_keys}
    if not keys:
        return {}
    reasons: dict[str, str] = {}
    linked = session.query(Customer.contact_key, Customer.display_name, Customer.qbo_id).filter(
        Customer.tenant_key == run.tenant_key,
        Customer.contact_key.in_(keys),
        Customer.qbo_id != str(qbo_id or ""),
    )
    for key, name, other in linked:
        reasons[str(key)] = f"already linked to QuickBooks customer {name or other}"
    chosen = (
        session.query(ImportMatch.contact_key, Customer.display_name, ImportMatch.qbo_id)
        .outerjoin(Customer, (Customer.qbo_id == ImportMatch.qbo_id) & (Customer.realm_id == run.realm_id))
        .filter(
            ImportMatch.run_id == run.id,
            ImportMatch.decision == ImportDecision.LINK,
            ImportMatch.contact_key.in_(keys),
            ImportMatch.qbo_id != str(qbo_id or ""),
        )
    )
    for key, name, other in chosen:
        reasons.setdefault(str(key), f"already chosen for QuickBooks customer {name or other} in this import")
    return reasons


def decide(run_id: int, qbo_id: str, decision: str, contact_key: str | None = None) -> ImportMatch:
    """Record the admin's choice for one customer.

    ``link`` needs a contact of the run's tenant that no other customer is
    linked to (or chose in this import); otherwise :class:`ValueError` says
    why and nothing changes.
    """
    qbo, session, run = load_run(run_id)
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {tuple(d.value for d in DECISIONS)}, not {decision!r}.")
    if run.status != ImportStatus.REVIEW:
        raise ValueError("Decisions can only change while the import is in review.")
    match = session.query(ImportMatch).filter_by(run_id=run.id, qbo_id=str(qbo_id)).one_or_none()
    if match is None:
        raise LookupError(f"Customer {qbo_id} is not part of import run {run_id}.")
    if match.applied:
        raise ValueError(f"Customer {qbo_id} was already applied in this import; its decision cannot change.")
    if decision == ImportDecision.LINK:
        typed = contact_key or match.contact_key
        if not typed:
            raise ValueError("Choose the contact to link this customer to.")
        try:
            key = qbo._canonical_key(typed)
        except ValueError as exc:
            raise ValueError(f"{exc} Find the contact by name or email and choose it from the list.") from None
        try:
            contact = tenant_contact(qbo, run, key)
        except ValueError:
            raise ValueError(
                f"No contact with key {key!r} in this account: find the contact by name or email "
                "and choose it from the list."
            ) from None
        reason = claims(session, run, [key], match.qbo_id).get(key)
        if reason:
            name = display_name(contact_values(contact, qbo._registration().fields))
            raise ValueError(f"{name} (contact {key}) is {reason}; choose another contact.")
        if match.match_kind == "email" and not match.candidates and match.contact_key and key != match.contact_key:
            match.candidates = [match.contact_key]  # remember the e-mail proposal: the row is no longer "exact"
        match.contact_key = key
    match.decision = ImportDecision(decision)
    session.commit()
    return match


def proposed_key(match: ImportMatch) -> str | None:
    """The contact the import proposed for ``match``; for an e-mail row, even after the admin chose another."""
    if match.match_kind == "email" and match.candidates:
        return str(match.candidates[0])
    return match.contact_key


def follows_exact(match: ImportMatch) -> bool:
    """Whether ``match`` is an exact e-mail match still pointing at its proposed contact (linked or pending)."""
    return (
        match.match_kind == "email"
        and match.decision in (ImportDecision.PENDING, ImportDecision.LINK)
        and match.contact_key is not None
        and match.contact_key == proposed_key(match)
    )


def find_contact(run_id: int, text: str) -> str:
    """The key of the one contact a typed search names, for linking a customer of run ``run_id``.

    What the review's search field holds when the page runs without
    JavaScript (or the admin pressed Enter before the list filled): the
    contacts of the run's tenant matching every word, as the picker lists
    them.  Only a single match (or the contact's exact key) is the contact:
    among several, even when all but one are taken, the admin chooses, so a
    contact nobody singled out is never linked.  Otherwise :class:`ValueError`
    names the matches and asks the admin to choose one.
    """
    qbo, _, run = load_run(run_id)
    text = " ".join(str(text or "").split())
    found = search_contacts(qbo, run.tenant_key, text, limit=SEARCH_LIMIT) if text else []
    if not found:
        raise ValueError(f"No contact matches “{text}”: type part of the contact's name or email address.")
    keys = [str(qbo._contact_key(contact)) for contact in found]
    if len(keys) == 1 or keys[0] == text:
        return keys[0]  # decide() says why if it is taken
    fields = qbo._registration().fields
    names = [display_name(contact_values(c, fields)) or "?" for c in found[:NAMED_IN_MESSAGE]]
    more = "…" if len(found) > NAMED_IN_MESSAGE else ""
    raise ValueError(
        f"{len(found)}{'+' if len(found) >= SEARCH_LIMIT else ''} contacts match “{text}” ({', '.join(names)}{more}): "
        "choose one from the list, or type more of the name or the email address."
    )


def _acceptable(session: Session, run: ImportRun) -> list[ImportMatch]:
    """Pending exact e-mail rows whose proposed contact is still free: what "Accept all exact matches" links."""
    rows = [
        match
        for match in session.query(ImportMatch).filter_by(
            run_id=run.id, match_kind="email", decision=ImportDecision.PENDING
        )
        if follows_exact(match)
    ]
    taken = claims(session, run, [m.contact_key for m in rows if m.contact_key])
    return [match for match in rows if match.contact_key not in taken]


def acceptable_count(run_id: int) -> int:
    """How many rows "Accept all exact matches" would link now (the review shows the button only then)."""
    _, session, run = load_run(run_id)
    return len(_acceptable(session, run))


def accept_all_exact(run_id: int) -> int:
    """Link every still-pending customer whose e-mail matched exactly one contact; returns how many.

    A proposed contact the admin already linked another row to is left
    pending rather than linked twice; so is a row whose contact the admin
    changed and then set back to undecided.
    """
    _, session, run = load_run(run_id)
    rows = _acceptable(session, run)
    for match in rows:
        match.decision = ImportDecision.LINK
    session.commit()
    return len(rows)


def summary(run_id: int) -> dict[str, int]:
    """Row counts for the review's header: per match kind, ``decided`` (not pending), ``total``, and
    ``attention_left``: rows that need a person and are still undecided (the filter's tab shows it)."""
    _, session, run = load_run(run_id)
    counts = {kind: 0 for kind in ("email", "phone", "name", "ambiguous", "none")}
    decided = total = left = 0
    rows = (
        session.query(ImportMatch.match_kind, ImportMatch.decision, func.count())
        .filter(ImportMatch.run_id == run.id)
        .group_by(ImportMatch.match_kind, ImportMatch.decision)
    )
    for kind, decision, number in rows:
        counts[kind] = counts.get(kind, 0) + number
        total += number
        if decision != ImportDecision.PENDING:
            decided += number
        elif kind in ATTENTION_KINDS:
            left += number
    return {**counts, "decided": decided, "total": total, "attention_left": left}


def plan(qbo: QBO, run: ImportRun, match: ImportMatch, customer: Customer) -> dict[str, t.Any]:
    """What deciding ``match`` writes on each side: the preview row, and what :mod:`.apply` carries out.

    ``crm`` lists ``{"attr", "label", "from", "to"}`` writes to the contact, ``qbo``
    lists ``{"path", "label", "from", "to"}`` values the contact fills in on QBO's
    side; ``label`` is what the page shows (the field's label, or for one path of
    a several-path field, that path's :func:`~flask_qbo.fieldmap.path_label`).
    """
    fields = qbo._registration().fields
    values = qbo_values(customer.raw or {}, fields)
    entry: dict[str, t.Any] = {
        "qbo_id": match.qbo_id,
        "display_name": customer.display_name,
        "decision": match.decision,
        "contact_key": match.contact_key,
        "crm": [],
        "qbo": [],
    }
    if match.decision == ImportDecision.CREATE:
        # What the contact factory gets: attributes only (a set= field has none), the first field per attribute.
        for f in fields:
            if f.pulls and f.attr and f.set is None and _incoming(f, values) is not None:
                if all(row["attr"] != f.attr for row in entry["crm"]):
                    entry["crm"].append({"attr": f.attr, "label": f.label, "from": None, "to": _incoming(f, values)})
        return entry
    if match.decision != ImportDecision.LINK or not match.contact_key:
        return entry
    contact = tenant_contact(qbo, run, match.contact_key)
    current = contact_values(contact, fields)
    for field in fields:
        differ = [p for p in field.paths if normalize(values.get(p)) != normalize(current.get(p))]
        if not differ:
            continue
        if field.pulls and any(values.get(p) is not None for p in differ):
            change = {
                "attr": field.name,
                "label": field.label,
                "from": _own(field, contact),
                "to": _incoming(field, values),
            }
            entry["crm"].append(change)
            continue
        for path in differ:
            if values.get(path) is None and current.get(path) is not None and field.pushes:
                label = field.label if len(field.paths) == 1 else path_label(path)
                entry["qbo"].append({"path": path, "label": label, "from": None, "to": current[path]})
    return entry


def _incoming(field: Field, values: t.Mapping[str, t.Any]) -> t.Any:
    return pulled_value(field, values)


def _own(field: Field, contact: object) -> t.Any:
    """The contact's value of a field, as the host sees it (before ``to_qbo``)."""
    return field.get(contact) if field.get is not None else getattr(contact, field.attr or "", None)


def decided(
    session: Session, run: ImportRun, limit: int | None = None, kinds: t.Sequence[str] | None = None
) -> list[tuple[ImportMatch, Customer]]:
    """Linked or created rows not applied yet, in row order (the first ``limit`` of them).

    :param kinds: only rows whose match kind is one of these (``None``: every row), and
        only links: for ``"email"``, only links to the proposed contact (:func:`follows_exact`),
        so "Link exact matches" never creates a contact or links one the admin chose instead.
    """
    rows = (
        session.query(ImportMatch, Customer)
        .join(Customer, (Customer.qbo_id == ImportMatch.qbo_id) & (Customer.realm_id == run.realm_id))
        .filter(
            ImportMatch.run_id == run.id,
            ImportMatch.decision.in_((ImportDecision.LINK, ImportDecision.CREATE)),
            ImportMatch.applied.is_(False),
        )
    )
    if kinds is None:
        return [(match, customer) for match, customer in rows.order_by(ImportMatch.id).limit(limit)]
    rows = rows.filter(ImportMatch.match_kind.in_(tuple(kinds)), ImportMatch.decision == ImportDecision.LINK)
    found = [
        (match, customer)
        for match, customer in rows.order_by(ImportMatch.id)
        if match.match_kind != "email" or follows_exact(match)
    ]
    return found[:limit]


def preview(run_id: int) -> list[dict[str, t.Any]]:
    """Dry run: for each linked or created customer, the contact fields and QBO fields that will change."""
    qbo, session, run = load_run(run_id)
    return [plan(qbo, run, match, customer) for match, customer in decided(session, run)]
