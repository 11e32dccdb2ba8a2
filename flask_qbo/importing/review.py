"""The import's review: the admin's decisions, a dry-run preview, and applying them.

Each proposed match ends as exactly one of ``link`` (to a chosen contact),
``create`` (a new contact from the customer) or ``skip``; ``pending`` rows are
left alone by :func:`apply`, so nothing happens that the admin did not choose.

When a customer is linked to an existing contact, values are merged field by
field: QBO's value wins where both sides have one (it is the books of record)
and the contact's value fills a field QBO leaves empty.  The preview lists
exactly those writes, per side; applying performs them (the QBO side through
the outbox, so it is pushed like any other change).

Applying writes customer rows one flush each in the customer lock order
(:func:`flask_qbo.sync.pull.apply.lock_order`), the order push and pull lock them in, so
an import being applied cannot deadlock with a push on PostgreSQL.

Applying never wedges a run.  Contact keys are stored in their one canonical
spelling (:meth:`~flask_qbo.extension.QBO.canonical_key`), so the "already chosen" check
sees every duplicate; the decisions are checked as a whole before anything is
written; and a batch that fails anyway is rolled back and the run returns to
review with the reason (:class:`ApplyError`).  Batches are claimed on the run's
row, so a second Apply (a double click, or a resume after a crash) never applies
a row twice, and a cancelled run stops at its next batch.
"""

from __future__ import annotations

import logging
import typing as t

from sqlalchemy import func
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError

from ..fieldmap import apply_values
from ..fieldmap import contact_values
from ..fieldmap import customer_hash
from ..fieldmap import display_name
from ..fieldmap import normalize
from ..fieldmap import qbo_values
from ..models import Customer
from ..models import ImportMatch
from ..models import ImportRun
from ..models import OutboxOp
from ..models import SyncLog
from ..models import utcnow
from ..state import get_qbo
from ..sync.capture import suppress_capture
from ..sync.capture import write_row
from ..sync.pull.apply import lock_order

log = logging.getLogger("flask_qbo.backfill")

DECISIONS = ("pending", "link", "create", "skip")
#: Decided rows applied per transaction: customer row locks are held for one batch at most.
APPLY_BATCH = 200


class ApplyError(ValueError):
    """Applying stopped; the run is back in review and ``run.error`` holds this message."""


def _run(run_id: int) -> tuple[t.Any, t.Any, ImportRun]:
    qbo = get_qbo()
    session = qbo.state().db.session
    run = session.get(ImportRun, int(run_id))
    if run is None:
        raise LookupError(f"No import run {run_id}.")
    return qbo, session, run


def _tenant_contact(qbo: t.Any, run: ImportRun, contact_key: str) -> t.Any:
    contact = qbo.load_contact(str(contact_key))
    if contact is None or qbo.tenant_of(contact) != run.tenant_key:
        raise ValueError(f"Contact {contact_key!r} does not exist in this account.")
    return contact


def claims(session: t.Any, run: ImportRun, contact_keys: t.Iterable[str], qbo_id: str | None = None) -> dict[str, str]:
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
        reasons[key] = f"already linked to QuickBooks customer {name or other}"
    chosen = (
        session.query(ImportMatch.contact_key, Customer.display_name, ImportMatch.qbo_id)
        .outerjoin(Customer, (Customer.qbo_id == ImportMatch.qbo_id) & (Customer.realm_id == run.realm_id))
        .filter(
            ImportMatch.run_id == run.id,
            ImportMatch.decision == "link",
            ImportMatch.contact_key.in_(keys),
            ImportMatch.qbo_id != str(qbo_id or ""),
        )
    )
    for key, name, other in chosen:
        reasons.setdefault(key, f"already chosen for QuickBooks customer {name or other} in this import")
    return reasons


def decide(run_id: int, qbo_id: str, decision: str, contact_key: str | None = None) -> ImportMatch:
    """Record the admin's choice for one customer.

    ``link`` needs a contact of the run's tenant that no other customer is
    linked to (or chose in this import); otherwise :class:`ValueError` says
    why and nothing changes.
    """
    qbo, session, run = _run(run_id)
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS}, not {decision!r}.")
    if run.status != "review":
        raise ValueError("Decisions can only change while the import is in review.")
    match = session.query(ImportMatch).filter_by(run_id=run.id, qbo_id=str(qbo_id)).one_or_none()
    if match is None:
        raise LookupError(f"Customer {qbo_id} is not part of import run {run_id}.")
    if match.applied:
        raise ValueError(f"Customer {qbo_id} was already applied in this import; its decision cannot change.")
    if decision == "link":
        typed = contact_key or match.contact_key
        if not typed:
            raise ValueError("Choose the contact to link this customer to.")
        try:
            key = qbo.canonical_key(typed)
        except ValueError as exc:
            raise ValueError(
                f"{exc} Pick one from the search results, or enter the key of an existing contact."
            ) from None
        try:
            contact = _tenant_contact(qbo, run, key)
        except ValueError:
            raise ValueError(
                f"No contact with key {key!r} in this account: pick one from the search results, "
                "or enter the key of an existing contact."
            ) from None
        reason = claims(session, run, [key], match.qbo_id).get(key)
        if reason:
            name = display_name(contact_values(contact, qbo.registration().fields))
            raise ValueError(f"{name} (contact {key}) is {reason}; choose another contact.")
        match.contact_key = key
    match.decision = decision
    session.commit()
    return match


def accept_all_exact(run_id: int) -> int:
    """Link every still-pending customer whose e-mail matched exactly one contact; returns how many.

    A proposed contact the admin already linked another row to is left
    pending rather than linked twice.
    """
    _, session, run = _run(run_id)
    rows = session.query(ImportMatch).filter_by(run_id=run.id, match_kind="email", decision="pending").all()
    taken = claims(session, run, [m.contact_key for m in rows if m.contact_key])
    count = 0
    for match in rows:
        if match.contact_key and match.contact_key not in taken:
            match.decision = "link"
            count += 1
    session.commit()
    return count


def summary(run_id: int) -> dict[str, int]:
    """Row counts for the review's header: per match kind, ``decided`` (not pending) and ``total``."""
    _, session, run = _run(run_id)
    counts = {kind: 0 for kind in ("email", "phone", "name", "ambiguous", "none")}
    decided = total = 0
    rows = (
        session.query(ImportMatch.match_kind, ImportMatch.decision, func.count())
        .filter(ImportMatch.run_id == run.id)
        .group_by(ImportMatch.match_kind, ImportMatch.decision)
    )
    for kind, decision, number in rows:
        counts[kind] = counts.get(kind, 0) + number
        total += number
        if decision != "pending":
            decided += number
    return {**counts, "decided": decided, "total": total}


def _plan(qbo: t.Any, run: ImportRun, match: ImportMatch, customer: Customer) -> dict[str, t.Any]:
    """What deciding ``match`` writes on each side (the preview row, also used by apply)."""
    fields = qbo.registration().fields
    values = qbo_values(customer.raw or {}, fields)
    entry: dict[str, t.Any] = {
        "qbo_id": match.qbo_id,
        "display_name": customer.display_name,
        "decision": match.decision,
        "contact_key": match.contact_key,
        "crm": [],
        "qbo": [],
    }
    if match.decision == "create":
        entry["crm"] = [
            {"attr": f.attr, "from": None, "to": _incoming(f, values)}
            for f in fields
            if f.pulls and _incoming(f, values) is not None
        ]
        return entry
    if match.decision != "link" or not match.contact_key:
        return entry
    contact = _tenant_contact(qbo, run, match.contact_key)
    current = contact_values(contact, fields)
    for field in fields:
        theirs, ours = values.get(field.path), current.get(field.path)
        if normalize(theirs) == normalize(ours):
            continue
        if theirs is not None and field.pulls:
            entry["crm"].append(
                {"attr": field.attr, "from": getattr(contact, field.attr, None), "to": _incoming(field, values)}
            )
        elif theirs is None and ours is not None and field.pushes:
            entry["qbo"].append({"path": field.path, "from": None, "to": ours})
    return entry


def _incoming(field: t.Any, values: t.Mapping[str, t.Any]) -> t.Any:
    value = values.get(field.path)
    return field.from_qbo(value) if field.from_qbo is not None else value


def _decided(session: t.Any, run: ImportRun, limit: int | None = None) -> list[tuple[ImportMatch, Customer]]:
    """Linked or created rows not applied yet, in row order (the first ``limit`` of them)."""
    return (
        session.query(ImportMatch, Customer)
        .join(Customer, (Customer.qbo_id == ImportMatch.qbo_id) & (Customer.realm_id == run.realm_id))
        .filter(
            ImportMatch.run_id == run.id, ImportMatch.decision.in_(("link", "create")), ImportMatch.applied.is_(False)
        )
        .order_by(ImportMatch.id)
        .limit(limit)
        .all()
    )


def preview(run_id: int) -> list[dict[str, t.Any]]:
    """Dry run: for each linked or created customer, the contact fields and QBO fields that will change."""
    qbo, session, run = _run(run_id)
    return [_plan(qbo, run, match, customer) for match, customer in _decided(session, run)]


def apply(run_id: int) -> int:
    """Carry out every decision (links, new contacts); skipped and pending rows are untouched.

    Also resumes a run left ``applying`` (a crash, a failed batch): rows
    already applied are not applied again.  Raises :class:`ApplyError` (the
    run back in review, the reason in ``run.error``) when the decisions
    conflict or a batch fails, and :class:`ValueError` when the run is not
    one that can be applied (finished, cancelled, or cancelled meanwhile).
    """
    qbo, session, run = _run(run_id)
    if run.status not in ("review", "applying"):
        raise ValueError(f"Import run {run_id} is {run.status}; only a reviewed import can be applied.")
    problems = _conflicts(qbo, session, run)
    if problems:
        _stop(session, run.id, "Nothing was applied: " + " ".join(problems) + " Change these rows and apply again.")
    started = session.execute(
        update(ImportRun)
        .where(ImportRun.id == run.id, ImportRun.status.in_(("review", "applying")))
        .values(status="applying", error=None)
    )
    session.commit()
    if started.rowcount != 1:
        raise ValueError(f"Import run {run_id} was cancelled or finished meanwhile; nothing was applied.")
    applied = 0
    queued = False
    while (batch := _apply_batch(qbo, session, run_id)) is not None:
        applied += batch[0]
        queued = queued or batch[1]
    run = session.get(ImportRun, run_id)
    if run.status == "cancelled":
        raise ValueError(
            f"Import run {run_id} was cancelled while it was being applied; "
            f"{run.applied} customers linked or created before that stay so."
        )
    if run.status != "done":  # another Apply of the same run stopped and put it back in review
        raise ApplyError(run.error or f"Import run {run_id} is back in review; apply it again.")
    if queued:
        from ..state import wake

        wake(reason="import")
    return applied


def _label(match: ImportMatch, customer: Customer | None) -> str:
    name = customer.display_name if customer is not None else None
    return f"QuickBooks customer {name} (id {match.qbo_id})" if name else f"QuickBooks customer {match.qbo_id}"


def _conflicts(qbo: t.Any, session: t.Any, run: ImportRun) -> list[str]:
    """What makes the run's pending links impossible, one sentence per problem naming the rows.

    A key not in its canonical spelling (stored by an older version), or one
    contact chosen for several customers: either would break the one link per
    contact rule halfway through the apply.
    """
    problems = []
    chosen: dict[str, list[str]] = {}
    for match, customer in _decided(session, run):
        if match.decision != "link":
            continue
        try:
            key = qbo.canonical_key(match.contact_key)
        except ValueError as exc:
            problems.append(f"{_label(match, customer)}: {exc} Choose its contact again.")
            continue
        chosen.setdefault(key, []).append(_label(match, customer))
    for key, rows in chosen.items():
        if len(rows) > 1:
            problems.append(f"{_contact_name(qbo, run, key)} is chosen for {len(rows)} customers: {'; '.join(rows)}.")
    return problems


def _contact_name(qbo: t.Any, run: ImportRun, key: str) -> str:
    """``Name (contact key)``, or ``contact key`` when the contact is gone or another tenant's."""
    contact = qbo.load_contact(key)
    if contact is None or qbo.tenant_of(contact) != run.tenant_key:
        return f"contact {key}"
    return f"{display_name(contact_values(contact, qbo.registration().fields))} (contact {key})"


def _stop(session: t.Any, run_id: int, reason: str) -> t.NoReturn:
    """Put an unfinished apply back in review with ``reason`` on the run, then raise :class:`ApplyError`.

    A run cancelled meanwhile stays cancelled.
    """
    session.rollback()
    session.execute(
        update(ImportRun)
        .where(ImportRun.id == run_id, ImportRun.status.in_(("review", "applying")))
        .values(status="review", error=reason[:2000])
    )
    session.commit()
    raise ApplyError(reason)


def _apply_batch(qbo: t.Any, session: t.Any, run_id: int) -> tuple[int, bool] | None:
    """Apply up to :data:`APPLY_BATCH` decided rows in one transaction: ``(applied, queued)``.

    ``None`` when nothing is left (the run is then done) or the run is no
    longer ``applying`` (cancelled, or put back in review by another Apply).
    The first statement claims the run's row, so a concurrent Apply waits
    for this batch and then reads its rows as applied.
    """
    claim = session.execute(
        update(ImportRun)
        .where(ImportRun.id == run_id, ImportRun.status == "applying")
        .values(applied=ImportRun.applied)
    )
    if claim.rowcount != 1:
        session.rollback()
        return None
    run = session.get(ImportRun, run_id)
    session.refresh(run)
    rows = sorted(
        _decided(session, run, limit=APPLY_BATCH), key=lambda pair: lock_order(pair[1].contact_key, pair[1].qbo_id)
    )
    if not rows:
        run.status, run.error, run.finished_at = "done", None, utcnow()
        session.commit()
        return None
    applied = 0
    queued = False
    for match, customer in rows:
        try:
            outcome = _apply_row(qbo, session, run, match, customer)
        except Exception as exc:  # noqa: BLE001 - any failure must leave the run reviewable, and says why
            log.warning("Import %s: applying %s failed", run_id, match.qbo_id, exc_info=True)
            _stop(session, run_id, _failure(qbo, session, run, match, customer, exc))
        if outcome is not None:
            applied += 1
            queued = queued or outcome
    run.applied += applied
    session.commit()
    return applied, queued


def _apply_row(qbo: t.Any, session: t.Any, run: ImportRun, match: ImportMatch, customer: Customer) -> bool | None:
    """Link or create one row's contact; ``None`` when skipped, else whether a push was queued."""
    fields = qbo.registration().fields
    plan = _plan(qbo, run, match, customer)
    with suppress_capture():
        if match.decision == "create":
            contact = qbo.create_contact(run.tenant_key, {row["attr"]: row["to"] for row in plan["crm"]})
            session.flush()
        else:
            contact = _tenant_contact(qbo, run, match.contact_key)
            if session.query(Customer).filter_by(tenant_key=run.tenant_key, contact_key=match.contact_key).count():
                match.applied = True  # already linked elsewhere (e.g. by a sync meanwhile)
                return None
            apply_values(
                contact,
                qbo_values(customer.raw or {}, fields),
                fields,
                [f.path for f in fields if f.attr in {row["attr"] for row in plan["crm"]}],
            )
    key = qbo.contact_key(contact)
    values = qbo_values(customer.raw or {}, fields)
    customer.contact_key = key
    customer.synced_values = values
    customer.last_pulled_hash = customer_hash(values)
    customer.last_synced_at = utcnow()
    customer.sync_status = "synced"
    session.flush()
    queued = bool(plan["qbo"])
    if queued:
        write_row(session.connection(), run.tenant_key, key, OutboxOp.UPSERT)
        customer.sync_status = "pending"
    match.applied = True
    match.contact_key = key
    session.add(
        SyncLog(
            tenant_key=run.tenant_key,
            realm_id=run.realm_id,
            contact_key=key,
            qbo_id=customer.qbo_id,
            direction="import",
            action="created" if match.decision == "create" else "matched",
            fields=[row["attr"] for row in plan["crm"]] or None,
        )
    )
    return queued


def _failure(qbo: t.Any, session: t.Any, run: ImportRun, match: ImportMatch, customer: Customer, exc: Exception) -> str:
    """The admin's message for a row that failed to apply: which row, which contact, why, what now.

    Read after the rollback, so a unique-constraint conflict can name the
    customer that holds the contact now.
    """
    session.rollback()
    label = _label(match, customer)
    target = "a new contact" if match.decision == "create" else _contact_name(qbo, run, match.contact_key)
    reason = str(exc.orig if isinstance(exc, DBAPIError) else exc).splitlines()[0][:300]
    holder = None
    if match.decision == "link":
        holder = (
            session.query(Customer)
            .filter(
                Customer.tenant_key == run.tenant_key,
                Customer.contact_key == match.contact_key,
                Customer.qbo_id != customer.qbo_id,
            )
            .first()
        )
    if holder is not None:
        reason = f"that contact is already linked to QuickBooks customer {holder.display_name or holder.qbo_id}"
    done = session.get(ImportRun, run.id).applied
    return (
        f"Applying stopped at {label} → {target}: {reason}. {done} customers were linked or created "
        "before it and stay so; the rest are back in review. Change or skip this row and apply again."
    )
