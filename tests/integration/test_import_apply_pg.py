"""Applying an import on a real PostgreSQL while another Apply, or a Cancel, arrives.

Each Apply batch starts by claiming the run's row, so a second Apply (a double
click, or a resume while the first is still running) waits for the batch in
flight and then finds its rows applied: no contact is created twice.  A Cancel
waits for the batch in flight too, and the Apply stops at its next batch.

The interleavings are forced: the first Apply is held inside its first batch
(in the host's ``contact_factory``) until the other session is seen waiting
for a lock in ``pg_stat_activity``.

Both scenarios run on each host shape (``host_kind``): crm2's factory builds
a contact with one ``name`` from what its map reads in QuickBooks.
"""

from __future__ import annotations

import threading
import time
import typing as t

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from flask_qbo import get_qbo
from flask_qbo.importing import apply as import_apply
from flask_qbo.importing import fetch
from flask_qbo.models import Customer
from flask_qbo.models import ImportMatch
from flask_qbo.models import ImportRun
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator
from tests.hostapp import in_app_thread
from tests.hosts.adapter import Host
from tests.hosts.adapter import build

CUSTOMERS = 3
#: Longest wait for the other session to block on the run's row before the test gives up.
BLOCK_TIMEOUT = 10.0


class Held:
    """The first Apply's first ``contact_factory`` call, held until released."""

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()
        self._first = threading.Lock()

    def hold_first(self) -> None:
        if self._first.acquire(blocking=False):
            self.inside.set()
            assert self.release.wait(BLOCK_TIMEOUT * 2), "never released"


#: What each imported contact is called in the CRM, whichever host made it.
NAMES = [f"New {n}" for n in range(CUSTOMERS)]


@pytest.fixture
def world(pg: tuple[str, str], host_kind: str) -> t.Iterator[tuple[Host, int, Held, dict[str, int]]]:
    """A run in review with CUSTOMERS "create" decisions, a held factory, and a pid-per-thread record."""
    emu = make_emulator()
    host = build(host_kind, pg[0], QBO_TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode())
    app, db = host.app, host.db
    attach_emulator(app, emu)
    connect_tenant(app, emu, host.tenant, TEST_REALM)
    for n in range(CUSTOMERS):
        emu.store.create(TEST_REALM, "Customer", {"DisplayName": f"New {n}", "GivenName": "New", "FamilyName": str(n)})
    held = Held()
    pids: dict[str, int] = {}
    with app.app_context():
        qbo = get_qbo(app)
        run = fetch.start_import(qbo, host.tenant)
        while run.status == "fetching":
            run = fetch.run_import_step(qbo, run.id)
        run_id = run.id
        db.session.query(ImportMatch).filter_by(run_id=run_id).update({"decision": "create"})
        db.session.commit()
        factory = qbo._contact_factory

        @qbo.contact_factory
        def held_factory(tenant_key: str, values: dict[str, t.Any]) -> t.Any:
            held.hold_first()
            return factory(tenant_key, values)

        @sa.event.listens_for(db.engine, "before_cursor_execute")
        def record_pid(conn: t.Any, cursor: t.Any, statement: str, *args: t.Any) -> None:
            if statement.startswith("UPDATE qbo_import_run"):
                pids[threading.current_thread().name] = conn.connection.dbapi_connection.info.backend_pid

    try:
        yield host, run_id, held, pids
    finally:
        host.dispose()


def _wait_blocked(host: Host, pids: dict[str, int], name: str) -> bool:
    """Whether thread ``name``'s session is seen waiting for a lock within BLOCK_TIMEOUT."""
    deadline = time.monotonic() + BLOCK_TIMEOUT
    db = host.db
    with host.app.app_context():
        while time.monotonic() < deadline:
            pid = pids.get(name)
            if pid is not None:
                waiting = db.session.execute(
                    sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                ).scalar()
                db.session.rollback()
                if waiting == "Lock":
                    return True
            time.sleep(0.01)
    return False


def test_a_second_apply_waits_for_the_batch_in_flight_and_creates_nothing_twice(world: t.Any) -> None:
    host, run_id, held, pids = world
    app, db = host.app, host.db
    results: dict[str, t.Any] = {}
    first = in_app_thread(app, "first", lambda: import_apply.apply(run_id), results)
    assert held.inside.wait(BLOCK_TIMEOUT)
    second = in_app_thread(app, "second", lambda: import_apply.apply(run_id), results)
    blocked = _wait_blocked(host, pids, "second")
    held.release.set()
    first.join(30)
    second.join(30)
    assert sorted(c["name"] for c in host.read_all()) == NAMES, "created twice"
    # The second Apply waited on the run's row; when the first batch commits, the first Apply's
    # next claim may reach the row's new version before the second's UPDATE does (PostgreSQL
    # re-checks a waiter against the latest version), and then it finds the run done.  Either
    # way it applied nothing: it returns 0, or says the run finished meanwhile.
    second_result = results.pop("second")
    assert second_result == 0 or "finished meanwhile; nothing was applied" in str(second_result), second_result
    assert results == {"first": CUSTOMERS}
    assert blocked, "the second Apply did not wait for the first one's batch"
    with app.app_context():
        links = [c.contact_key for c in db.session.query(Customer).filter(Customer.realm_id == TEST_REALM)]
        assert len(links) == CUSTOMERS and len(set(links)) == CUSTOMERS and None not in links
        run = db.session.get(ImportRun, run_id)
        assert (run.status, run.applied) == ("done", CUSTOMERS)


def test_a_cancel_waits_for_the_batch_in_flight_and_stops_the_next(world: t.Any, monkeypatch: t.Any) -> None:
    host, run_id, held, pids = world
    app, db = host.app, host.db
    monkeypatch.setattr(import_apply, "APPLY_BATCH", 1)
    cancelled = threading.Event()
    original = import_apply._apply_batch
    calls = []

    def after_cancel(*args: t.Any) -> t.Any:
        calls.append(1)
        if len(calls) == 2:  # the second batch starts only once the Cancel went through
            assert cancelled.wait(BLOCK_TIMEOUT * 2)
        return original(*args)

    monkeypatch.setattr(import_apply, "_apply_batch", after_cancel)
    results: dict[str, t.Any] = {}
    applying = in_app_thread(app, "apply", lambda: import_apply.apply(run_id), results)
    assert held.inside.wait(BLOCK_TIMEOUT)

    def cancel() -> t.Any:
        try:
            return fetch.cancel(run_id, user="admin@acme.test").status
        finally:
            cancelled.set()

    canceller = in_app_thread(app, "cancel", cancel, results)
    blocked = _wait_blocked(host, pids, "cancel")
    done_before_release = "cancel" in results
    held.release.set()
    applying.join(30)
    canceller.join(30)
    assert blocked and not done_before_release, "the Cancel did not wait for the batch in flight"
    assert results["cancel"] == "cancelled"
    assert isinstance(results["apply"], ValueError) and "cancelled while it was being applied" in str(results["apply"])
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        assert (run.status, run.applied) == ("cancelled", 1)
    assert [c["name"] for c in host.read_all()] == NAMES[:1]
