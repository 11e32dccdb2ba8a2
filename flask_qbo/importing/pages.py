"""Which pages an import step asks for, and asking for several at once within QBO's limits.

The import stores pages strictly in cursor order (:mod:`.fetch`), but a page
of QBO takes far longer to arrive than to store, so the pages a step will
store are requested ahead, up to the realm's concurrency limit.  Only pages
certain to be needed are requested: the run counts every phase once
(:func:`count_phases`, one batch request of ``COUNT`` queries), and
:func:`plan` walks the cursor forward through those counts.  A page of an
entity whose count is unknown ends the plan: whether the next page exists is
only known once it arrives.  If the company changed meanwhile and a page comes
back shorter or fuller than planned, the cursor (not the plan) decides the
next page and the plan is made again from it; pages requested on the old plan
are dropped.

The requests go through the client's shared :class:`~flask_qbo.intuit.throttle.Throttle`
like every other call, so the import never holds more than
``QBO_MAX_CONCURRENT`` slots nor sends more than ``QBO_RATE_LIMIT_PER_MINUTE``,
together with everything else talking to the realm.  The page workers never
touch the database: they send the access token the step started with
(:class:`~flask_qbo.intuit.auth.BorrowedToken`), and a page QBO refuses it for
is fetched again by the step's own client, which refreshes the token as every
other call does.  The workers only receive each answer; the storing thread
parses it when it takes the page (:meth:`PageFetcher.take`).  Parsed on the
workers, the pages waiting to be stored took more memory and the threads
contended for the interpreter lock: a tenth more CPU per row, measured on
PostgreSQL.
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
import typing as t

from flask import Flask

from ..intuit.app_client import realm_client
from ..intuit.auth import BorrowedToken
from ..intuit.auth import TokenRefused
from ..intuit.client import QBOClient
from ..sync.pull import mirror

if t.TYPE_CHECKING:
    from ..extension import QBO

#: Rows per page (QBO's largest).
PAGE_SIZE = 1000
#: Fetch order: the card's reference lists, customers, then each transaction type.
PHASES = ("Term", "PaymentMethod", "Customer", *mirror.TRANSACTION_TYPES)

#: ``(entity, start)`` of one page.
Page = tuple[str, int]
#: A received page's answer, parsed when called (:meth:`QBOClient.query_unparsed`).
Parse = t.Callable[[], dict[str, t.Any]]


def plan(entity: str, start: int, totals: t.Mapping[str, int], limit: int, *, documents: bool = True) -> list[Page]:
    """The next ``limit`` pages from the cursor ``(entity, start)`` that are sure to be needed.

    ``totals`` is rows per entity (:func:`count_phases`); a page holding
    :data:`PAGE_SIZE` rows is followed by another of its entity, as the cursor
    moves.  Without ``documents`` the plan stops before the transaction types
    (``QBO_MIRROR = "linked"`` with no linked customer: nothing to read).
    """
    pages: list[Page] = []
    index = PHASES.index(entity)
    while len(pages) < limit and (documents or entity not in mirror.TRANSACTION_TYPES):
        pages.append((entity, start))
        total = totals.get(entity)
        if total is None:
            break
        if start + PAGE_SIZE - 1 <= total:
            start += PAGE_SIZE
            continue
        index += 1
        if index == len(PHASES):
            break
        entity, start = PHASES[index], 1
    return pages


def count_phases(client: QBOClient, statements: t.Mapping[str, str]) -> dict[str, int]:
    """Rows per entity for ``{entity: "SELECT COUNT(*) …"}``, in one batch request.

    An item QBO answers with a fault is left out: that entity is paged one
    page at a time, as before counts existed.
    """
    entities = list(statements)
    answers = client.batch([{"Query": statements[entity]} for entity in entities])
    totals: dict[str, int] = {}
    for entity, answer in zip(entities, answers):
        count = (answer.get("QueryResponse") or {}).get("totalCount") if "Fault" not in answer else None
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            totals[entity] = count
    return totals


class PageFetcher:
    """Requests pages on worker threads, keeping up to ``window`` ahead; results come back in request order.

    Use as a context manager: leaving it cancels pages not yet sent and waits
    for those in flight (their answers are dropped).
    """

    def __init__(self, qbo: QBO, app: Flask, client: QBOClient, window: int) -> None:
        self.app = app
        self.client = client
        self.token = BorrowedToken(client.auth.token())
        self.workers = realm_client(qbo, client.realm_id, self.token, app=app)
        self.window = max(1, window)
        self.queue: collections.deque[tuple[Page, str, concurrent.futures.Future[Parse]]] = collections.deque()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.window, thread_name_prefix="qbo-import")
        self._reads = 0
        self._lock = threading.Lock()

    def __enter__(self) -> PageFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    @property
    def reads(self) -> int:
        """Pages the workers fetched (metered reads), dropped ones included."""
        with self._lock:
            return self._reads

    def full(self) -> bool:
        return len(self.queue) >= self.window

    def request(self, page: Page, statement: str) -> None:
        """Send ``statement`` (the query of ``page``) as soon as the throttle grants a slot."""
        self.queue.append((page, statement, self.pool.submit(self._fetch, statement)))

    def next_page(self) -> Page | None:
        """The page whose answer :meth:`take` returns next, if any was requested."""
        return self.queue[0][0] if self.queue else None

    def drop(self) -> None:
        """Forget every page requested so far (the cursor went another way)."""
        for _, _, future in self.queue:
            future.cancel()
        self.queue.clear()

    def take(self) -> dict[str, t.Any]:
        """The ``QueryResponse`` of the oldest requested page, waiting for it and parsing it on this thread.

        QBO's errors, and an answer that is not a ``QueryResponse``, are raised here.
        """
        _, statement, future = self.queue.popleft()
        try:
            return future.result()()
        except TokenRefused:
            page = self.client.query_page(statement)  # refreshes the token, or flags the connection
            self.token.value = self.client.auth.token()
            return page

    def _fetch(self, statement: str) -> Parse:
        with self.app.app_context():
            answer = self.workers.query_unparsed(statement)
        with self._lock:
            self._reads += 1
        return answer
