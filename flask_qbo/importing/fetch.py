"""The import's run and its fetch phase: page every QBO customer and transaction into the mirror.

The seed product only syncs a contact once someone edits it; the import fills
the mirror up front and proposes which contact each customer is.  This module
owns an import run from its start to the review: starting one, fetching its
pages, proposing the matches (:mod:`.matching`), the progress bar, and
cancelling an unfinished run.  The review's decisions live in :mod:`.review`,
carrying them out in :mod:`.apply`.

Fetching is a sequence of *steps* (:mod:`.step`), each storing up to a budget
of query pages, every page committed together with the run's cursor
(``{"entity": ..., "start": ..., "totals": {...}}``), so a crash loses at most
the pages in flight and the next step resumes from the cursor.  Pages are
``SELECT * FROM <Entity> STARTPOSITION n MAXRESULTS 1000``: one query per
entity type per page, never one per customer, so the request count stays at the
minimum the page size allows (plus one batch of ``COUNT`` queries, for the plan
and the progress bar).  A step requests the pages it will store ahead, up to
the realm's concurrency limit (:mod:`.pages`), and stores each with one bulk
upsert.

Steps are driven by whoever asks: the progress poll of the admin page (a step
of about a second per poll, :func:`poll_step`, so it works with ``QBO_RUNNER =
"none"``), ``flask qbo import``, or a scheduler calling :func:`run_pending`
(the poll's step).  A compare-and-set on the run's request counter makes
concurrent drivers harmless: the loser's page is discarded.
"""

from __future__ import annotations

import logging
import math
import typing as t

from flask import Flask
from flask import current_app
from sqlalchemy import Text
from sqlalchemy import cast
from sqlalchemy import select
from sqlalchemy import update

from ..config import get_config
from ..errors import QBOConfigError
from ..errors import QBOError
from ..intuit import jsonbody
from ..intuit.auth import record_reads
from ..models import Connection
from ..models import Customer
from ..models import ImportDecision
from ..models import ImportMatch
from ..models import ImportRun
from ..models import ImportStatus
from ..models import SyncLog
from ..models import utcnow
from ..state import get_qbo
from ..sync.payload import contact_values
from ..sync.payload import qbo_values
from ..sync.pull import mirror
from ..sync.pull import pagerows
from ..sync.pull import rawmany
from . import pages
from . import step
from .matching import ContactIndex
from .matching import flag_shared
from .matching import match_fields
from .matching import tenant_contacts
from .pages import PHASES

if t.TYPE_CHECKING:
    from sqlalchemy import CursorResult
    from sqlalchemy import Table
    from sqlalchemy.orm import Session

    from ..extension import QBO

log = logging.getLogger(__name__)

#: Run states in which the import still has work before the review.
ACTIVE = (ImportStatus.FETCHING, ImportStatus.REVIEW, ImportStatus.APPLYING)
#: Pages per step when the caller names no budget: a short step.
DEFAULT_BUDGET = 3
#: Seconds a step driven by the progress poll keeps requesting pages (:func:`poll_step`).
POLL_SECONDS = 1.0
#: Pages a poll's step may store at most: more than a second's worth at any page rate seen.
POLL_BUDGET = 100


def _session(qbo: QBO) -> Session:
    """The app's database session (the scoped session's current one)."""
    return qbo.state().db.session()


def import_enabled() -> bool:
    """False when ``QBO_INITIAL_SYNC = "on_change"``: contacts sync only once edited, as in the seed."""
    return bool(get_config("QBO_INITIAL_SYNC") != "on_change")


def current_run(qbo: QBO, tenant_key: str) -> ImportRun | None:
    """The tenant's most recent import run, if any."""
    return _session(qbo).query(ImportRun).filter_by(tenant_key=tenant_key).order_by(ImportRun.id.desc()).first()


def start_import(qbo: QBO, tenant_key: str, months: int | None = None, user: str | None = None) -> ImportRun:
    """Create an import run (or return the tenant's unfinished one); nothing is fetched yet.

    :param months: import only transactions dated within this many months
        (``None``: all history).  Customers are always imported in full.
    """
    if not import_enabled():
        raise QBOConfigError('The initial import is off (QBO_INITIAL_SYNC = "on_change").')
    if months is not None and (int(months) < 1 or int(months) > 1200):
        raise ValueError("months must be between 1 and 1200, or None for all history.")
    conn = qbo.connection(tenant_key)
    if conn is None or not conn.is_active:
        raise QBOConfigError(f"Tenant {tenant_key} has no working QuickBooks connection; connect first.")
    existing = current_run(qbo, tenant_key)
    if existing is not None and existing.status in ACTIVE:
        return existing
    run = ImportRun(
        tenant_key=tenant_key,
        realm_id=str(conn.realm_id),
        status=ImportStatus.FETCHING,
        months=int(months) if months is not None else None,
        cursor={"entity": PHASES[0], "start": 1},
        started_by=user,
    )
    session = _session(qbo)
    session.add(run)
    session.commit()
    return run


def run_import_step(
    qbo: QBO,
    run_id: int,
    budget: int = DEFAULT_BUDGET,
    on_page: t.Callable[[ImportRun], None] | None = None,
    seconds: float | None = None,
) -> ImportRun:
    """Fetch up to ``budget`` pages of a run, then (once all are in) compute the match proposals.

    Pages are requested ahead, several at once (:mod:`.pages`), and stored
    one by one in cursor order, each in its own commit (``on_page(run)`` is
    called after each).  With ``seconds``, the step stops requesting pages
    after that long and ends once the pages in flight are stored.  A QBO
    error is recorded on the run (shown on the progress page) and the run
    stays resumable: the next step retries the same page.

    Fetching and storing overlap only within a step: the last pages of a
    step are stored with nothing else in flight.  A driver with time to
    spare (``flask qbo import``) takes many pages per step for that reason.
    """
    session = _session(qbo)
    run = _get_run(session, run_id)
    if run.status != ImportStatus.FETCHING:
        return run
    conn = qbo.connection(run.tenant_key)
    if conn is None or not conn.is_active:
        run.error = "The QuickBooks connection is not working; reconnect to continue the import."
        session.commit()
        return run
    client = qbo.client(conn)
    app = t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]  # werkzeug proxy
    window = min(max(1, budget), client.throttle.limits.concurrent if client.throttle else 1)
    fetcher: pages.PageFetcher | None = None
    try:
        with pages.PageFetcher(qbo, app, client, window) as fetcher:
            step.fetch_pages(_session(qbo), conn, run, client, fetcher, max(1, budget), on_page, seconds)
    except QBOError as exc:
        session.rollback()
        run = _get_run(session, run_id)
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        session.commit()
        log.warning(
            "Import %s paused on a QBO error; the next step retries: %s",
            run_id,
            exc,
            extra={"qbo_tenant": run.tenant_key, "intuit_tid": getattr(exc, "intuit_tid", None)},
        )
        _meter(qbo, conn, fetcher, app)
        return run
    _meter(qbo, conn, fetcher, app)
    if run.cursor is None and run.status == ImportStatus.FETCHING:
        _propose_matches(qbo, run)
    return run


def _meter(qbo: QBO, conn: Connection, fetcher: pages.PageFetcher | None, app: Flask) -> None:
    """Count the page workers' reads on the connection (the step's own client counts its own)."""
    if fetcher is not None and fetcher.reads:
        record_reads(qbo, conn.id, fetcher.reads, app=app)


def _get_run(session: Session, run_id: int) -> ImportRun:
    run = session.get(ImportRun, int(run_id))
    if run is None:
        raise LookupError(f"No import run {run_id}.")
    return run


def _propose_matches(qbo: QBO, run: ImportRun) -> None:
    """Pair each unlinked, active customer of the realm with a contact (or flag it); then review."""
    session = _session(qbo)
    registration = qbo._registration()
    fields = match_fields(registration.fields)
    linked = {
        key
        for (key,) in session.query(Customer.contact_key).filter(
            Customer.tenant_key == run.tenant_key, Customer.contact_key.isnot(None)
        )
    }
    index = ContactIndex()
    for contact in tenant_contacts(qbo, run.tenant_key, chunk=1000):
        key = qbo._contact_key(contact)
        if key not in linked:
            index.add(key, contact_values(contact, fields))
    # Columns, not mirror objects, and one statement for the proposals (:func:`.pagerows.rows_insert`): a company of
    # tens of thousands of customers is proposed for without an object per row.
    # ``raw`` as its text, parsed with orjson: the JSON type's own loader (the standard parser)
    # was a sixth of proposing for a large company.
    customers = session.execute(
        select(Customer.qbo_id, Customer.display_name, cast(Customer.raw, Text))
        .where(Customer.realm_id == run.realm_id, Customer.contact_key.is_(None), Customer.active.is_(True))
        .order_by(Customer.id)
        .execution_options(yield_per=1000)
    )
    proposals = {}
    for qbo_id, display_name, raw in customers:
        values = qbo_values((jsonbody.loads(raw) if raw else None) or {}, fields)
        values["DisplayName"] = display_name
        proposals[qbo_id] = index.propose(values)
    done = {qbo_id for (qbo_id,) in session.query(ImportMatch.qbo_id).filter_by(run_id=run.id)}
    rows = [
        {
            "run_id": run.id,
            "qbo_id": qbo_id,
            "contact_key": contact_key,
            "match_kind": kind,
            "candidates": candidates or None,
            "decision": ImportDecision.PENDING,
            "applied": False,
        }
        for qbo_id, (contact_key, kind, candidates) in flag_shared(proposals).items()
        if qbo_id not in done
    ]
    stmt, params = pagerows.rows_insert(session.connection().dialect, t.cast("Table", ImportMatch.__table__), rows)
    rawmany.execute_many(session, stmt, params, shape="import proposals")
    # A run cancelled meanwhile stays cancelled; its proposals are dropped with the rollback.
    moved = t.cast(
        "CursorResult[t.Any]",
        session.execute(
            update(ImportRun)
            .where(ImportRun.id == run.id, ImportRun.status == ImportStatus.FETCHING)
            .values(status=ImportStatus.REVIEW)
        ),
    )
    if moved.rowcount != 1:
        session.rollback()
        return
    session.commit()


def cancel(run_id: int, user: str | None = None) -> ImportRun:
    """Stop an unfinished run (fetching, in review, or applying), so the tenant can start a new one.

    The way out of a run nobody can finish, such as one left ``applying`` by
    a crashed process.  Customers already linked or created stay so (they
    are real links); nothing else of the run is carried out: a fetch step
    or an Apply batch in flight stops at its next compare-and-set.  Raises
    :class:`ValueError` for a run that is already finished or cancelled.
    """
    session = _session(get_qbo())
    run = _get_run(session, run_id)
    result = t.cast(
        "CursorResult[t.Any]",
        session.execute(
            update(ImportRun)
            .where(ImportRun.id == run.id, ImportRun.status.in_(ACTIVE))
            .values(status=ImportStatus.CANCELLED, finished_at=utcnow())
        ),
    )
    if result.rowcount != 1:
        session.rollback()
        session.refresh(run)
        raise ValueError(f"Import run {run_id} is {run.status}; only an unfinished import can be cancelled.")
    session.add(
        SyncLog(
            tenant_key=run.tenant_key,
            realm_id=run.realm_id,
            direction="import",
            action="cancelled",
            message=f"Import {run.id} cancelled" + (f" by {user}" if user else ""),
        )
    )
    session.commit()
    session.refresh(run)
    log.info(
        "Import %s of tenant %s cancelled by %s",
        run.id,
        run.tenant_key,
        user or "an unnamed caller",
        extra={"qbo_tenant": run.tenant_key},
    )
    return run


def poll_step(qbo: QBO, run_id: int) -> ImportRun:
    """The step one progress poll of the admin page runs: :data:`POLL_SECONDS` of requests.

    A budget of pages would have the poll wait on its last pages with nothing
    else in flight (three pages a poll kept at most three of the realm's ten
    requests busy); a time bound keeps the whole window busy for as long as a
    poll can take, and still answers in about a second plus one page's round trip.
    """
    return run_import_step(qbo, run_id, budget=POLL_BUDGET, seconds=POLL_SECONDS)


def run_pending(qbo: QBO) -> int:
    """Advance every run still fetching by one poll's step (for a scheduler); returns how many advanced.

    The same time-bounded step as the admin page's poll (:func:`poll_step`),
    for the same reason: a step of a few pages would wait on its last ones
    with the rest of the realm's concurrency idle.
    """
    session = _session(qbo)
    ids = [run_id for (run_id,) in session.query(ImportRun.id).filter(ImportRun.status == ImportStatus.FETCHING)]
    for run_id in ids:
        poll_step(qbo, run_id)
    return len(ids)


def minimum_requests(counts: t.Mapping[str, int]) -> int:
    """Fewest query pages that can fetch ``{entity: rows}`` at 1000 rows a page (an empty list is one page)."""
    return sum(max(1, math.ceil(n / pages.PAGE_SIZE)) for n in counts.values())


def progress(run: ImportRun) -> int:
    """Percent done for the progress bar: customers fill the first half, transactions the rest.

    Both halves count rows stored against the run's counts; a run without
    counts (started before they existed) moves the second half a transaction
    type at a time.  Never above 99 until the review is ready, never backwards.
    """
    if run.status != ImportStatus.FETCHING:
        return 100
    cursor = run.cursor or {}
    entity = cursor.get("entity", PHASES[0])
    index = PHASES.index(entity) if entity in PHASES else 0
    customer_at = PHASES.index("Customer")
    if index < customer_at:
        return 0
    if index == customer_at:
        return min(50, int(50 * run.customers_done / run.customers_total)) if run.customers_total else 0
    totals = cursor.get("totals") or {}
    if all(e in totals for e in mirror.TRANSACTION_TYPES):
        documents = sum(totals[e] for e in mirror.TRANSACTION_TYPES)
        return 50 + min(49, int(50 * run.transactions_done / documents)) if documents else 99
    steps = len(PHASES) - customer_at - 1
    return min(99, 50 + int(50 * (index - customer_at - 1) / steps))


__all__ = [
    "ACTIVE",
    "PHASES",
    "cancel",
    "current_run",
    "import_enabled",
    "minimum_requests",
    "poll_step",
    "progress",
    "run_import_step",
    "run_pending",
    "start_import",
]
