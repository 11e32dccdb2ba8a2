"""One fetch step of the import: pages from the run's cursor, requested ahead, stored in order.

:mod:`.fetch` owns the run; a step here asks :mod:`.pages` for the pages the
cursor will reach, has them requested several at once, and stores each as it
comes (in cursor order) with one bulk upsert (:mod:`flask_qbo.sync.pull.bulk`)
and one compare-and-set on the run's request counter, in its own commit.  The
counter makes concurrent drivers harmless: the loser's page is rolled back.
The run's first step also counts every phase's rows (one batch request), kept
in the cursor as ``totals``: they plan the pages and fill the progress bar.
"""

from __future__ import annotations

import datetime as dt
import time
import typing as t

from flask import current_app
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

from ..models import Connection
from ..models import ImportRun
from ..models import ImportStatus
from ..models import qbo_today
from ..models import utcnow
from ..sync.pull import bulk
from ..sync.pull import milestones
from ..sync.pull import mirror
from ..sync.pull import scope
from . import pages
from .pages import PHASES

if t.TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.orm import Session

    from ..intuit.client import QBOClient


def _where(run: ImportRun, entity: str, scope_filter: str = "") -> str:
    """The ``WHERE`` of an entity's pages; ``scope_filter`` limits documents to linked customers."""
    conditions = []
    if entity in ("Customer", "Term", "PaymentMethod"):
        conditions.append("Active IN (true, false)")
    elif run.months:
        since = (run.started_at or utcnow()).date() - dt.timedelta(days=round(run.months * 30.44))
        conditions.append(f"TxnDate >= '{since.isoformat()}'")
    if scope_filter:
        conditions.append(scope_filter)
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def _statement(run: ImportRun, entity: str, start: int, scope_filter: str = "") -> str:
    """One page's query (``QBO_MIRROR = "linked"`` passes its ``CustomerRef IN (...)`` as ``scope_filter``)."""
    where = _where(run, entity, scope_filter)
    return f"SELECT * FROM {entity}{where} STARTPOSITION {start} MAXRESULTS {pages.PAGE_SIZE}"


class _Step:
    """What one step knows besides the run: the documents' scope and the entity counts."""

    def __init__(self, session: Session, run: ImportRun) -> None:
        #: ``""``, a ``CustomerRef IN (...)``, or ``None`` when no document is to be read.
        self.only = scope.read_filter(session, run.realm_id)
        self.linked = scope.linked_ids(session, run.realm_id) if scope.linked_only() else None
        self.totals: dict[str, int] | None = (run.cursor or {}).get("totals")
        self.counted = False

    def statement(self, run: ImportRun, page: pages.Page) -> str:
        entity, start = page
        return _statement(run, entity, start, (self.only or "") if entity in mirror.TRANSACTION_TYPES else "")

    def count(self, run: ImportRun, client: QBOClient) -> dict[str, int]:
        """Every phase's rows (one batch request), the first time a run needs them."""
        if self.totals is None:
            documents = mirror.TRANSACTION_TYPES
            phases = [e for e in PHASES if self.only is not None or e not in documents]
            where = {e: _where(run, e, (self.only or "") if e in documents else "") for e in phases}
            self.totals = pages.count_phases(client, {e: f"SELECT COUNT(*) FROM {e}{where[e]}" for e in phases})
            self.counted = True
        return self.totals


#: The run's columns an UPDATE returns after a page, and the attributes they load.
_RUN_COLUMNS = tuple(sa_inspect(ImportRun).columns)
_RUN_ATTRIBUTES = tuple(sa_inspect(ImportRun).get_property_by_column(column).key for column in _RUN_COLUMNS)


def fetch_pages(
    session: Session,
    conn: Connection,
    run: ImportRun,
    client: QBOClient,
    fetcher: pages.PageFetcher,
    budget: int,
    on_page: t.Callable[[ImportRun], None] | None = None,
    seconds: float | None = None,
) -> None:
    """Store up to ``budget`` pages from the run's cursor, requesting the planned ones ahead.

    ``on_page(run)`` is called after each page is committed (a driver's progress report).
    With ``seconds``, no page is requested once that long has passed (the first always is):
    the pages already in flight are still stored, so the step ends about one page's round
    trip later, however many pages the budget had left.
    """
    step = _Step(session, run)
    requested = 0
    planned: list[pages.Page] = []
    stop_at = None if seconds is None else time.monotonic() + seconds

    def may_request() -> bool:
        return requested < budget and (stop_at is None or requested == 0 or time.monotonic() < stop_at)

    while run.cursor is not None:
        entity, start = run.cursor["entity"], int(run.cursor["start"])
        if entity in mirror.TRANSACTION_TYPES and step.only is None:
            _store_page(session, conn, run, step, entity, start, None)  # "linked" and none linked: nothing to read
            return
        if fetcher.next_page() != (entity, start):
            fetcher.drop()  # the company changed under the plan (or nothing was asked yet): plan again
            if not may_request():
                return
            totals = step.count(run, client)
            planned = pages.plan(entity, start, totals, budget - requested, documents=step.only is not None)
        while planned and not fetcher.full() and may_request():
            page = planned.pop(0)
            fetcher.request(page, step.statement(run, page))
            requested += 1
        if not _store_page(session, conn, run, step, entity, start, fetcher.take()):
            return
        if on_page is not None:
            on_page(run)


def _store_page(
    session: Session,
    conn: Connection,
    run: ImportRun,
    step: _Step,
    entity: str,
    start: int,
    page: t.Mapping[str, t.Any] | None,
) -> bool:
    """Store one page and advance the cursor; False when another driver advanced the run first, or it was cancelled.

    ``page`` is ``None`` when the documents were not read (nothing in scope).
    """
    rows = _rows(page) if page is not None else []
    claimed: list[milestones.Claimed] = []  # a re-import may be first to see a payment or an acceptance
    if entity == "Customer":
        bulk.upsert_customers(session, conn, rows)
    elif entity in mirror.REF_KINDS:
        for data in rows:
            mirror.store_ref_item(session, run.realm_id, entity, data)
    elif rows:
        kept = rows if step.linked is None else bulk.linked_documents(session, run.realm_id, entity, rows, step.linked)
        claimed = milestones.upsert_page_noticed(session, run.tenant_key, run.realm_id, entity, kept, qbo_today())
    seen = run.requests_made
    cursor = _advance(entity, start, len(rows)) if page is not None else None
    if cursor is not None and step.totals is not None:
        cursor["totals"] = step.totals
    values: dict[str, t.Any] = {
        "cursor": cursor,
        "requests_made": seen + (1 if page is not None else 0) + (1 if step.counted else 0),
        "error": None,
    }
    if step.counted and "Customer" in (step.totals or {}) and _before_customers(entity, start):
        values["customers_total"] = (step.totals or {})["Customer"]
    if entity == "Customer":
        values["customers_done"] = ImportRun.customers_done + len(rows)
    elif entity in mirror.TRANSACTION_TYPES:
        values["transactions_done"] = ImportRun.transactions_done + len(rows)
    stored = session.execute(
        update(ImportRun)
        .where(ImportRun.id == run.id, ImportRun.requests_made == seen, ImportRun.status == ImportStatus.FETCHING)
        .values(**values)
        .returning(*_RUN_COLUMNS)
        .execution_options(synchronize_session=False)
    ).first()
    if stored is None:
        session.rollback()
        return False
    session.commit()
    # The run as this commit left it, from the UPDATE's own RETURNING: no reload of it per page.
    for attribute, value in zip(_RUN_ATTRIBUTES, stored):
        set_committed_value(run, attribute, value)
    for signal, kwargs in claimed:
        milestones.announce(t.cast("Flask", current_app._get_current_object()), signal, kwargs)  # type: ignore[attr-defined]
    step.counted = False
    return True


def _before_customers(entity: str, start: int) -> bool:
    """True while no customer page is stored yet: the customer count may still be set."""
    index, customer_at = PHASES.index(entity), PHASES.index("Customer")
    return index < customer_at or (index == customer_at and start == 1)


def _rows(page: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
    for value in page.values():
        if isinstance(value, list):
            return t.cast("list[dict[str, t.Any]]", value)
    return []


def _advance(entity: str, start: int, count: int) -> dict[str, t.Any] | None:
    if count >= pages.PAGE_SIZE:
        return {"entity": entity, "start": start + count}
    index = PHASES.index(entity) + 1
    return {"entity": PHASES[index], "start": 1} if index < len(PHASES) else None
