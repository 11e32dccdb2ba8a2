"""Pages requested ahead and several at once: within the throttle, stored in order, progress exact.

Pages are made two rows long so a small company needs many of them.  The
concurrency test holds every query at the transport until the expected number
is in flight (a forced interleaving, not a sleep): sequential fetching never
gets there and the gate gives up after a while.
"""

from __future__ import annotations

import threading
import typing as t

import pytest
from requests.adapters import BaseAdapter

from flask_qbo.emulator.transport import WSGIAdapter
from flask_qbo.importing import fetch
from flask_qbo.importing import pages
from flask_qbo.intuit import throttle
from flask_qbo.models import Customer
from flask_qbo.models import ImportRun
from flask_qbo.models import Transaction
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from tests.conftest import login
from tests.hostapp import ACME_ADMIN
from tests.hostapp import db
from tests.sync.pull.pull_support import add_customer
from tests.sync.pull.pull_support import add_invoice

CUSTOMERS = 7
INVOICES = 12
#: Longest a held query waits for the others before the gate gives up (only reached when fetching is sequential).
GATE_TIMEOUT = 5.0


class Gate(BaseAdapter):
    """The emulator's transport, holding each query until ``wanted`` are in flight at once (then open).

    ``slots()`` is how many throttle slots the realm's callers hold: every query
    in flight must hold one (``unthrottled`` counts those that did not).
    """

    def __init__(self, inner: BaseAdapter, wanted: int, slots: t.Callable[[], int], others: int) -> None:
        super().__init__()
        self.inner = inner
        self.wanted = wanted
        self.slots = slots
        self.others = others
        self.unthrottled = 0
        self.cond = threading.Condition()
        self.now = 0
        self.peak = 0
        self.opened = False
        self.gave_up = False

    def send(self, request: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
        if "/query" not in request.url:
            return self.inner.send(request, *args, **kwargs)
        with self.cond:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.unthrottled += self.slots() < self.now + self.others
            if self.now >= self.wanted:
                self.opened = True
                self.cond.notify_all()
            if not self.cond.wait_for(lambda: self.opened, timeout=GATE_TIMEOUT):
                self.gave_up = self.opened = True
        try:
            return self.inner.send(request, *args, **kwargs)
        finally:
            with self.cond:
                self.now -= 1

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)


@pytest.fixture
def company(emulator: t.Any) -> None:
    ids = [add_customer(emulator, GivenName=f"G{n}", FamilyName="Page")["Id"] for n in range(CUSTOMERS)]
    for n in range(INVOICES):
        add_invoice(emulator, ids[n % CUSTOMERS], 10 + n)


def rows_stored(model: t.Any) -> int:
    return int(db.session.query(model).count())


def test_pages_are_fetched_concurrently_within_the_shared_throttle(app, emulator, connected, company, small_pages):
    """Three slots for the realm, one held by another caller: the import keeps exactly two queries in flight."""
    app.config["QBO_MAX_CONCURRENT"] = 3
    shared = throttle.install(app, throttle.build_throttle(app))
    backend = t.cast(throttle.LocalBackend, shared.backend)
    gate = Gate(WSGIAdapter(emulator.app), wanted=2, slots=lambda: backend.in_flight(TEST_REALM), others=1)
    get_qbo(app).mount_transport(emulator.config.base_url.rstrip("/"), gate, app)
    held = shared.acquire(TEST_REALM)  # e.g. a push running meanwhile
    try:
        with app.app_context():
            qbo = get_qbo(app)
            run = fetch.start_import(qbo, "acme")
            run = fetch.run_import_step(qbo, run.id, budget=100)
            assert (run.status, run.error) == ("review", None)
            assert rows_stored(Customer) == CUSTOMERS and rows_stored(Transaction) == INVOICES
    finally:
        shared.release(TEST_REALM, held)
    assert (gate.peak, gate.gave_up, gate.unthrottled) == (2, False, 0)


def test_progress_counts_rows_stored_and_moves_with_every_page(app, emulator, connected, company, small_pages):
    """Each step's counts are the rows in the mirror; the bar rises with every transaction page too."""
    seen = []
    with app.app_context():
        qbo = get_qbo(app)
        run = fetch.start_import(qbo, "acme")
        while run.status == "fetching":
            run = fetch.run_import_step(qbo, run.id, budget=2)
            assert run.error is None
            assert (run.customers_done, run.transactions_done) == (rows_stored(Customer), rows_stored(Transaction))
            seen.append((run.cursor["entity"] if run.cursor else None, fetch.progress(run), run.transactions_done))
        run = db.session.get(ImportRun, run.id)
        assert (run.customers_done, run.customers_total, run.transactions_done) == (CUSTOMERS, CUSTOMERS, INVOICES)
    percents = [percent for _, percent, _ in seen]
    assert percents == sorted(percents) and percents[-1] == 100
    moving = [(percent, done) for entity, percent, done in seen if entity == "Invoice"]
    assert len(moving) >= 3 and all(b[0] > a[0] for a, b in zip(moving, moving[1:]))


def test_a_stored_page_does_not_read_its_run_again(app, emulator, connected, company, small_pages):
    """The page's compare-and-set returns the run as it committed it: after every page the run is what
    the database holds, and no page reads the run's row again (one read more per page, on the critical path)."""
    from sqlalchemy import event

    selects: list[str] = []
    pages_seen: list[tuple[t.Any, ...]] = []
    checking = threading.Event()  # set while the test itself reads the run

    def record(conn: t.Any, cursor: t.Any, statement: str, *args: t.Any) -> None:
        if statement.startswith("SELECT") and "FROM qbo_import_run" in statement and not checking.is_set():
            selects.append(statement)

    with app.app_context():
        qbo = get_qbo(app)
        run = fetch.start_import(qbo, "acme")

        def on_page(current: ImportRun) -> None:
            seen = (current.cursor, current.customers_done, current.transactions_done, current.requests_made)
            checking.set()
            with db.engine.connect() as other:  # the database's own view of the committed run
                stored = other.execute(ImportRun.__table__.select().where(ImportRun.__table__.c.id == current.id)).one()
            checking.clear()
            pages_seen.append(seen)
            assert seen == (stored.cursor, stored.customers_done, stored.transactions_done, stored.requests_made)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            run = fetch.run_import_step(qbo, run.id, budget=100, on_page=on_page)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert (run.status, run.customers_done, run.transactions_done) == ("review", CUSTOMERS, INVOICES)
    assert len(pages_seen) >= 10 and [done for _, done, _, _ in pages_seen][-1] == CUSTOMERS
    assert len(selects) <= 2, selects  # the step's own first read of the run, and the proposals' final read


def test_pages_are_parsed_by_the_storing_thread_not_the_page_workers(
    app, emulator, connected, company, small_pages, monkeypatch
):
    """Workers only receive pages; each is parsed by the thread that stores it, when it stores it
    (pages waiting in the queue are bytes, and the threads contend less for the interpreter lock)."""
    from flask_qbo.intuit import client as client_module

    parsed_on: list[str] = []
    real = client_module.load_json

    def recording(body: bytes) -> t.Any:
        if b"QueryResponse" in body:
            parsed_on.append(threading.current_thread().name)
        return real(body)

    monkeypatch.setattr(client_module, "load_json", recording)
    with app.app_context():
        qbo = get_qbo(app)
        run = fetch.run_import_step(qbo, fetch.start_import(qbo, "acme").id, budget=100)
        assert (run.status, run.customers_done, run.transactions_done) == ("review", CUSTOMERS, INVOICES)
    assert len(parsed_on) >= 10 and set(parsed_on) == {threading.current_thread().name}


def test_a_refused_token_is_refreshed_by_the_step_and_the_page_fetched_again(app, emulator, connected, company):
    emulator.faults.fail_next(n=1, status=401, code="3200", path_contains="query")
    with app.app_context():
        qbo = get_qbo(app)
        run = fetch.start_import(qbo, "acme")
        while run.status == "fetching":
            run = fetch.run_import_step(qbo, run.id, budget=10)
            assert run.error is None
        assert rows_stored(Customer) == CUSTOMERS and rows_stored(Transaction) == INVOICES


def test_a_timed_step_stops_requesting_at_its_time_and_stores_what_is_in_flight(
    app, emulator, connected, company, small_pages, monkeypatch
):
    """The clock passes the step's time once the window's three pages are requested: those three are
    stored, no fourth is asked for, and the next step goes on from the cursor."""
    from flask_qbo.importing import step

    app.config["QBO_MAX_CONCURRENT"] = 3
    requested: list[pages.Page] = []
    ask = pages.PageFetcher.request

    def request(self: pages.PageFetcher, page: pages.Page, statement: str) -> None:
        requested.append(page)
        ask(self, page, statement)

    class Clock:
        """Past the step's time once three pages are requested; ``stopped`` holds it at the start."""

        stopped = False

        @classmethod
        def monotonic(cls) -> float:
            return 0.0 if cls.stopped or len(requested) < 3 else 100.0

    monkeypatch.setattr(pages.PageFetcher, "request", request)
    monkeypatch.setattr(step, "time", Clock)
    with app.app_context():
        qbo = get_qbo(app)
        run = fetch.start_import(qbo, "acme")
        run = fetch.run_import_step(qbo, run.id, budget=100, seconds=1.0)
        assert len(requested) == 3 and run.requests_made == 4  # the three pages and the count
        planned = pages.plan(*requested[0], run.cursor["totals"], 4)
        assert planned[:3] == requested and (run.cursor["entity"], run.cursor["start"]) == planned[3]
        assert (run.status, run.error) == ("fetching", None)
        Clock.stopped = True
        run = fetch.run_import_step(qbo, run.id, budget=100, seconds=1.0)
        assert (run.status, rows_stored(Customer), rows_stored(Transaction)) == ("review", CUSTOMERS, INVOICES)


def test_one_progress_poll_keeps_requesting_for_its_seconds(
    app, client, emulator, connected, company, small_pages, monkeypatch
):
    """Three pages a poll kept three of the realm's ten requests busy; a poll now requests for a second
    (here: an hour), so a small company is fetched in one poll."""
    monkeypatch.setattr(fetch, "POLL_SECONDS", 3600.0)
    login(client, ACME_ADMIN)
    with app.app_context():
        run_id = fetch.start_import(get_qbo(app), "acme").id
    assert client.get(f"/qbo/import/{run_id}/progress").status_code == 286  # htmx: stop polling, done
    with app.app_context():
        assert db.session.get(ImportRun, run_id).status == "review"
        assert (rows_stored(Customer), rows_stored(Transaction)) == (CUSTOMERS, INVOICES)


def test_a_schedulers_step_is_the_polls_step(app, emulator, connected, company, small_pages, monkeypatch):
    """``run_pending`` advanced runs three pages at a time; it now takes the poll's time-bounded step."""
    monkeypatch.setattr(fetch, "POLL_SECONDS", 3600.0)
    with app.app_context():
        qbo = get_qbo(app)
        run_id = fetch.start_import(qbo, "acme").id
        assert fetch.run_pending(qbo) == 1
        assert db.session.get(ImportRun, run_id).status == "review"
        assert (rows_stored(Customer), rows_stored(Transaction)) == (CUSTOMERS, INVOICES)
        assert fetch.run_pending(qbo) == 0  # nothing left fetching


@pytest.mark.parametrize(
    "cursor,totals,limit,documents,expected",
    [
        # Counts known: every page up to the budget, a full last page followed by an empty one.
        (
            ("Customer", 1),
            {"Customer": 4, "Invoice": 2},
            5,
            True,
            [("Customer", 1), ("Customer", 3), ("Customer", 5), ("Invoice", 1), ("Invoice", 3)],
        ),
        (
            ("Customer", 3),
            {"Customer": 3, "Invoice": 1, "Payment": 0},
            9,
            True,
            [("Customer", 3), ("Invoice", 1), ("Payment", 1), ("Estimate", 1)],
        ),
        # An entity without a count: its first page only, then nothing is certain.
        (("Invoice", 1), {"Invoice": 3}, 9, True, [("Invoice", 1), ("Invoice", 3), ("Payment", 1)]),
        # Nothing to read for documents ("linked" with none linked): the plan stops before them.
        (("Customer", 1), {"Customer": 1, "Invoice": 5}, 9, False, [("Customer", 1)]),
        (("RefundReceipt", 1), {"RefundReceipt": 1}, 9, True, [("RefundReceipt", 1)]),
    ],
)
def test_plan_requests_only_pages_the_cursor_will_reach(small_pages, cursor, totals, limit, documents, expected):
    assert pages.plan(*cursor, totals, limit, documents=documents) == expected
