"""Applying the import's decisions: links and new contacts, in batches that never wedge a run.

Only rows decided ``link`` or ``create`` are carried out, each as the plan the
preview showed (:func:`.review.plan`); the QBO side of a link goes through the
outbox, so it is pushed like any other change.

Applying writes customer rows one flush each in the customer lock order
(:func:`flask_qbo.sync.locks.lock_order`), the order push and pull lock them in, so
an import being applied cannot deadlock with a push on PostgreSQL.

Applying never wedges a run.  The decisions are checked as a whole before
anything is written; a batch that fails anyway is rolled back and the run
returns to review with the reason (:class:`ApplyError`).  Batches are claimed
on the run's row, so a second Apply (a double click, or a resume after a crash)
never applies a row twice, and a cancelled run stops at its next batch.
"""

from __future__ import annotations

import logging
import typing as t

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError

from ..models import Customer
from ..models import ImportDecision
from ..models import ImportMatch
from ..models import ImportRun
from ..models import ImportStatus
from ..models import OutboxOp
from ..models import SyncLog
from ..models import SyncStatus
from ..models import utcnow
from ..state import wake
from ..sync.capture import suppress_capture
from ..sync.capture import write_row
from ..sync.locks import lock_order
from ..sync.payload import advanced
from ..sync.payload import apply_values
from ..sync.payload import contact_values
from ..sync.payload import customer_hash
from ..sync.payload import display_name
from ..sync.payload import qbo_values
from .review import accept_all_exact
from .review import decided
from .review import load_run
from .review import plan
from .review import tenant_contact

if t.TYPE_CHECKING:
    from sqlalchemy import CursorResult
    from sqlalchemy.orm import Session

    from ..extension import QBO

log = logging.getLogger(__name__)

#: Decided rows applied per transaction: customer row locks are held for one batch at most.
APPLY_BATCH = 200
#: Run states an Apply may start from (``applying``: resuming one that stopped).
APPLICABLE = (ImportStatus.REVIEW, ImportStatus.APPLYING)
#: Match kinds "Link exact matches" carries out: one contact with the customer's e-mail address.
EXACT_KINDS = ("email",)


class ApplyError(ValueError):
    """Applying stopped; the run is back in review and ``run.error`` holds this message."""


def apply(run_id: int, kinds: t.Sequence[str] | None = None) -> int:
    """Carry out every decision (links, new contacts); skipped and pending rows are untouched.

    Also resumes a run left ``applying`` (a crash, a failed batch): rows
    already applied are not applied again.  Raises :class:`ApplyError` (the
    run back in review, the reason in ``run.error``) when the decisions
    conflict or a batch fails, and :class:`ValueError` when the run is not
    one that can be applied (finished, cancelled, or cancelled meanwhile).

    :param kinds: carry out only the decided rows of these match kinds; the
        run then goes back to review while other rows are left to decide or
        apply (it is done only when none is).  ``None``: every decided row,
        and the run is done.
    """
    qbo, session, run = load_run(run_id)
    if run.status not in APPLICABLE:
        raise ValueError(f"Import run {run_id} is {run.status}; only a reviewed import can be applied.")
    problems = _conflicts(qbo, session, run, kinds)
    if problems:
        _stop(session, run.id, "Nothing was applied: " + " ".join(problems) + " Change these rows and apply again.")
    started = t.cast(
        "CursorResult[t.Any]",
        session.execute(
            update(ImportRun)
            .where(ImportRun.id == run.id, ImportRun.status.in_(APPLICABLE))
            .values(status=ImportStatus.APPLYING, error=None)
        ),
    )
    session.commit()
    if started.rowcount != 1:
        raise ValueError(f"Import run {run_id} was cancelled or finished meanwhile; nothing was applied.")
    applied = 0
    queued = False
    while (batch := _apply_batch(qbo, session, run_id, kinds)) is not None:
        applied += batch[0]
        queued = queued or batch[1]
    run = _reread(session, run_id)
    if run.status == ImportStatus.CANCELLED:
        raise ValueError(
            f"Import run {run_id} was cancelled while it was being applied; "
            f"{run.applied} customers linked or created before that stay so."
        )
    finished = run.status == ImportStatus.DONE or (kinds is not None and run.status == ImportStatus.REVIEW)
    if not finished or run.error:  # another Apply of the same run stopped and put it back in review
        raise ApplyError(run.error or f"Import run {run_id} is back in review; apply it again.")
    if queued:
        wake(reason="import")
    return applied


def link_exact(run_id: int) -> int:
    """Link every exact e-mail match of a run in review, and only those; returns how many were linked.

    The first sync's one button: the rows :func:`.review.accept_all_exact`
    decides are carried out at once (their contacts then sync like any
    linked contact), and every other row stays in review for the admin.
    """
    _, _, run = load_run(run_id)
    if run.status != ImportStatus.REVIEW:
        raise ValueError(f"Import run {run_id} is {run.status}; exact matches are linked from a run in review.")
    accept_all_exact(run_id)
    return apply(run_id, kinds=EXACT_KINDS)


def _label(match: ImportMatch, customer: Customer | None) -> str:
    name = customer.display_name if customer is not None else None
    return f"QuickBooks customer {name} (id {match.qbo_id})" if name else f"QuickBooks customer {match.qbo_id}"


def _reread(session: Session, run_id: int) -> ImportRun:
    """The run as the database holds it after a commit or rollback (another Apply or a cancel may have changed it)."""
    run = session.get(ImportRun, run_id)
    if run is None:
        raise LookupError(f"No import run {run_id}.")
    return run


def _conflicts(qbo: QBO, session: Session, run: ImportRun, kinds: t.Sequence[str] | None) -> list[str]:
    """What makes the run's pending links impossible, one sentence per problem naming the rows.

    A key not in its canonical spelling (stored by an older version), or one
    contact chosen for several customers: either would break the one link per
    contact rule halfway through the apply.
    """
    problems = []
    chosen: dict[str, list[str]] = {}
    for match, customer in decided(session, run, kinds=kinds):
        if match.decision != ImportDecision.LINK:
            continue
        try:
            key = qbo._canonical_key(match.contact_key)
        except ValueError as exc:
            problems.append(f"{_label(match, customer)}: {exc} Choose its contact again.")
            continue
        chosen.setdefault(key, []).append(_label(match, customer))
    for key, rows in chosen.items():
        if len(rows) > 1:
            problems.append(f"{_contact_name(qbo, run, key)} is chosen for {len(rows)} customers: {'; '.join(rows)}.")
    return problems


def _contact_name(qbo: QBO, run: ImportRun, key: str | None) -> str:
    """``Name (contact key)``, or ``contact key`` when the contact is gone or another tenant's."""
    contact = qbo.load_contact(key)
    if contact is None or qbo._tenant_of(contact) != run.tenant_key:
        return f"contact {key}"
    return f"{display_name(contact_values(contact, qbo._registration().fields))} (contact {key})"


def _stop(session: Session, run_id: int, reason: str) -> t.NoReturn:
    """Put an unfinished apply back in review with ``reason`` on the run, then raise :class:`ApplyError`.

    A run cancelled meanwhile stays cancelled.
    """
    session.rollback()
    session.execute(
        update(ImportRun)
        .where(ImportRun.id == run_id, ImportRun.status.in_(APPLICABLE))
        .values(status=ImportStatus.REVIEW, error=reason[:2000])
    )
    session.commit()
    raise ApplyError(reason)


def _apply_batch(qbo: QBO, session: Session, run_id: int, kinds: t.Sequence[str] | None) -> tuple[int, bool] | None:
    """Apply up to :data:`APPLY_BATCH` decided rows (of ``kinds``) in one transaction: ``(applied, queued)``.

    ``None`` when nothing is left (the run is then done, or back in review
    for the rows ``kinds`` left out) or the run is no longer ``applying``
    (cancelled, or put back in review by another Apply).
    The first statement claims the run's row, so a concurrent Apply waits
    for this batch and then reads its rows as applied.
    """
    claim = t.cast(
        "CursorResult[t.Any]",
        session.execute(
            update(ImportRun)
            .where(ImportRun.id == run_id, ImportRun.status == ImportStatus.APPLYING)
            .values(applied=ImportRun.applied)
        ),
    )
    if claim.rowcount != 1:
        session.rollback()
        return None
    run = _reread(session, run_id)
    session.refresh(run)
    rows = sorted(
        decided(session, run, limit=APPLY_BATCH, kinds=kinds),
        key=lambda pair: lock_order(pair[1].contact_key, pair[1].qbo_id),
    )
    if not rows:
        run.error = None
        if kinds is not None and _left_to_review(session, run_id):
            run.status = ImportStatus.REVIEW
        else:
            run.status, run.finished_at = ImportStatus.DONE, utcnow()
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


def _left_to_review(session: Session, run_id: int) -> bool:
    """Whether any row of the run is neither applied nor skipped: the admin still has something to do."""
    rows = session.query(ImportMatch).filter(
        ImportMatch.run_id == run_id,
        ImportMatch.applied.is_(False),
        ImportMatch.decision != ImportDecision.SKIP,
    )
    return bool(rows.count())


def _apply_row(qbo: QBO, session: Session, run: ImportRun, match: ImportMatch, customer: Customer) -> bool | None:
    """Link or create one row's contact; ``None`` when skipped, else whether a push was queued."""
    fields = qbo._registration().fields
    writes = plan(qbo, run, match, customer)
    before: dict[str, t.Any] = {}
    with suppress_capture():
        if match.decision == ImportDecision.CREATE:
            contact = qbo._create_contact(run.tenant_key, {row["attr"]: row["to"] for row in writes["crm"]})
            apply_values(contact, qbo_values(customer.raw or {}, fields), fields, fields.setter_paths)
            session.flush()
        else:
            contact = tenant_contact(qbo, run, match.contact_key)
            before = contact_values(contact, fields)
            if session.query(Customer).filter_by(tenant_key=run.tenant_key, contact_key=match.contact_key).count():
                match.applied = True  # already linked elsewhere (e.g. by a sync meanwhile)
                return None
            apply_values(
                contact,
                qbo_values(customer.raw or {}, fields),
                fields,
                [p for p, f in fields.path_fields() if f.name in {row["attr"] for row in writes["crm"]}],
            )
    key = qbo._contact_key(contact)
    values = qbo_values(customer.raw or {}, fields)
    customer.contact_key = key
    customer.synced_values = advanced(None, values, before, contact_values(contact, fields))
    customer.last_pulled_hash = customer_hash(values)
    customer.last_synced_at = utcnow()
    customer.sync_status = SyncStatus.SYNCED
    session.flush()
    queued = bool(writes["qbo"])
    if queued:
        write_row(session.connection(), run.tenant_key, key, OutboxOp.UPSERT)
        customer.sync_status = SyncStatus.PENDING
    match.applied = True
    match.contact_key = key
    session.add(
        SyncLog(
            tenant_key=run.tenant_key,
            realm_id=run.realm_id,
            contact_key=key,
            qbo_id=customer.qbo_id,
            direction="import",
            action="created" if match.decision == ImportDecision.CREATE else "matched",
            fields=[row["attr"] for row in writes["crm"]] or None,
        )
    )
    return queued


def _failure(qbo: QBO, session: Session, run: ImportRun, match: ImportMatch, customer: Customer, exc: Exception) -> str:
    """The admin's message for a row that failed to apply: which row, which contact, why, what now.

    Read after the rollback, so a unique-constraint conflict can name the
    customer that holds the contact now.
    """
    session.rollback()
    label = _label(match, customer)
    target = "a new contact" if match.decision == ImportDecision.CREATE else _contact_name(qbo, run, match.contact_key)
    reason = str(exc.orig if isinstance(exc, DBAPIError) else exc).splitlines()[0][:300]
    holder = None
    if match.decision == ImportDecision.LINK:
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
    done = _reread(session, run.id).applied
    return (
        f"Applying stopped at {label} → {target}: {reason}. {done} customers were linked or created "
        "before it and stay so; the rest are back in review. Change or skip this row and apply again."
    )
