"""Two Celery workers on the real PostgreSQL and Redis, against an emulator served over HTTP.

What is checked is what the Celery runner promises (docs/deploying.rst):
every contact becomes exactly one QBO customer however the two workers race,
edits of one contact reach QBO in the order they were made, both workers
together stay inside QBO's per-company limits (the emulator, time-scaled,
answers 429 when they do not), and a worker killed mid-push loses nothing
once its claim's lease has run out.
"""

from __future__ import annotations

import re
import typing as t
from pathlib import Path

import pytest
import sqlalchemy as sa

from flask_qbo.models import Customer
from flask_qbo.models import Outbox
from flask_qbo.models import SyncLog
from flask_qbo.runners.celery import CDC_TASK
from flask_qbo.runners.celery import PUSH_TASK
from flask_qbo.runners.celery import celery_for
from flask_qbo.testing import TEST_REALM

from ..conftest import POSTGRES_URL
from ..conftest import REDIS_URL
from ..conftest import need_service
from ..hostapp import Contact
from ..hostapp import db
from .services import CeleryWorkers
from .services import Stack
from .services import celery_stack

pytestmark = [pytest.mark.celery, pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(150)]

#: The emulator runs 20× faster than real time: QBO's minute lasts 3 s.
TIME_SCALE = 20.0
WINDOW = 60.0 / TIME_SCALE
#: QBO's limits in the emulator (per scaled minute) and the client's, a little under them.
QBO_PER_WINDOW, CLIENT_PER_WINDOW = 40, 34
QBO_CONCURRENT = CLIENT_CONCURRENT = 2
NOTE = re.compile(r"^c(\d+)-edit-(\d+)$")


def _services_up() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no Redis here"
        need_service("Redis", f"{REDIS_URL}: {type(exc).__name__}")
    try:
        engine = sa.create_engine(POSTGRES_URL)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # noqa: BLE001
        need_service("PostgreSQL", f"{POSTGRES_URL.split('@')[-1]}: {type(exc).__name__}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Stack]:
    """Emulator server + fresh schema + the host app (runner "celery") + two solo-pool workers."""
    _services_up()
    with celery_stack(
        postgres_url=POSTGRES_URL,
        redis_url=REDIS_URL,
        log_dir=Path(tmp_path_factory.mktemp("celery")),
        prefix="qbo-test",
        time_scale=TIME_SCALE,
        qbo_per_window=QBO_PER_WINDOW,
        qbo_concurrent=QBO_CONCURRENT,
        client_per_window=CLIENT_PER_WINDOW,
        client_concurrent=CLIENT_CONCURRENT,
        latency=0.02,  # every request to QBO takes a little while, so the two workers overlap
    ) as running:
        yield running


def _settle(app: t.Any, timeout: float = 60.0, workers: CeleryWorkers | None = None) -> None:
    """Until the outbox has nothing pending or in progress (fails with the workers' logs)."""
    import time

    deadline = time.monotonic() + timeout
    with app.app_context():
        while True:
            busy = db.session.query(Outbox).filter(Outbox.status.in_(("pending", "in_progress"))).count()
            db.session.commit()
            if not busy:
                return
            if time.monotonic() > deadline:
                logs = "\n".join(workers.log(n) for n in workers.procs) if workers else ""
                pytest.fail(f"{busy} outbox rows still busy after {timeout} s\n{logs}")
            time.sleep(0.1)


def test_two_workers_push_each_customer_once_in_order_and_within_limits(stack: Stack) -> None:
    app, server, workers = stack
    server.emu.reset_counters()
    with app.app_context():
        contacts = []
        for i in range(30):  # one commit each: 30 wake-up tasks spread over both workers
            contact = Contact(tenant="acme", first_name=f"Ada{i}", last_name="Celery", email=f"ada{i}@celery.test")
            db.session.add(contact)
            db.session.commit()
            contacts.append(contact.id)
            if i % 10 == 9:  # never a backlog (batched creates would need far fewer requests): single-row pushes
                _settle(app, workers=workers)
        edited = contacts[:10]
        for round_ in range(1, 5):  # later edits land while earlier pushes are in flight
            for contact_id in edited:
                db.session.get(Contact, contact_id).notes = f"c{contact_id}-edit-{round_}"
                db.session.commit()
    _settle(app, workers=workers)

    with app.app_context():
        links = db.session.query(Customer).filter(Customer.contact_key.isnot(None)).all()
        assert sorted(int(c.contact_key) for c in links) == sorted(contacts)
        assert len({c.qbo_id for c in links}) == len(contacts)
        created = (
            db.session.query(SyncLog.contact_key, sa.func.count())
            .filter(SyncLog.action == "created")
            .group_by(SyncLog.contact_key)
            .all()
        )
        assert {int(k): n for k, n in created} == {cid: 1 for cid in contacts}
        assert db.session.query(Outbox).filter(Outbox.status != "done").count() == 0
        claimers = {row.claimed_by.split(":")[1] for row in db.session.query(Outbox) if row.claimed_by}
        db.session.commit()
    assert len(claimers) == 2, f"both workers should have pushed, saw {claimers}"

    customers = server.emu.store.list(TEST_REALM, "Customer", include_inactive=True)
    assert len(customers) == len(contacts)
    assert len({c["DisplayName"] for c in customers}) == len(contacts)
    assert len({c["PrimaryEmailAddr"]["Address"] for c in customers}) == len(contacts)

    # Order: the Notes each customer received only ever move forward, and end at the last edit.
    seen: dict[int, list[int]] = {}
    for sent in server.log.customer_writes():
        match = NOTE.match(str(sent.get("Notes") or ""))
        if match:
            seen.setdefault(int(match.group(1)), []).append(int(match.group(2)))
    for contact_id in edited:
        assert seen[contact_id] == sorted(seen[contact_id]), (contact_id, seen[contact_id])
    final = {c["Notes"] for c in customers if c.get("Notes")}
    assert final == {f"c{cid}-edit-4" for cid in edited}

    # The throttle held across both processes: QBO never had to refuse a request.
    assert server.emu.counters[TEST_REALM]["throttled"] == 0
    assert server.log.max_in_window(WINDOW) <= QBO_PER_WINDOW
    assert server.log.max_in_flight <= QBO_CONCURRENT
    # ...and it was the binding limit: the work needed several windows.
    assert len(server.log.arrivals()) > 2 * CLIENT_PER_WINDOW


def test_cdc_task_brings_a_qbo_edit_to_the_contact(stack: Stack) -> None:
    import time

    app, server, _ = stack
    with app.app_context():
        link = db.session.query(Customer).filter(Customer.contact_key.isnot(None)).order_by(Customer.id).first()
        contact_id, qbo_id = int(link.contact_key), link.qbo_id
        db.session.commit()
    current = server.emu.store.read(TEST_REALM, "Customer", qbo_id)
    server.emu.store.update(
        TEST_REALM,
        "Customer",
        {"Id": qbo_id, "SyncToken": current["SyncToken"], "sparse": True, "CompanyName": "Edited In QuickBooks"},
    )
    deadline = time.monotonic() + 30
    with app.app_context():
        while db.session.get(Contact, contact_id).company != "Edited In QuickBooks":
            db.session.rollback()
            assert time.monotonic() < deadline, "the CDC task never applied the QBO edit"
            celery_for(app).send_task(CDC_TASK)
            time.sleep(0.5)


def test_worker_killed_mid_push_loses_nothing(stack: Stack) -> None:
    import time

    app, server, workers = stack
    # Creates now take 1.5 s at QBO: long enough to kill the worker while one is in flight.
    slow = server.emu.faults.add_latency(1.5, path_contains="/customer", method="POST")
    with app.app_context():
        new = [
            Contact(tenant="acme", first_name=f"Kill{i}", last_name="Test", email=f"kill{i}@celery.test")
            for i in range(3)
        ]
        db.session.add_all(new)
        db.session.commit()
        keys = [str(c.id) for c in new]
        pids = {str(p.pid): name for name, p in workers.procs.items()}
        deadline = time.monotonic() + 20
        while True:
            row = db.session.query(Outbox).filter(Outbox.contact_key.in_(keys), Outbox.status == "in_progress").first()
            owner = row.claimed_by.split(":")[1] if row is not None else None
            row_id = row.id if row is not None else None
            db.session.commit()
            if row_id is not None and server.log.in_flight:
                break
            assert time.monotonic() < deadline, "no push of the new contacts started"
            time.sleep(0.05)
        workers.kill(pids[owner])
        with server.emu.faults.lock:
            server.emu.faults.rules.remove(slow)
        while server.log.in_flight:  # the orphaned create still completes at QBO
            time.sleep(0.05)
        stuck = db.session.get(Outbox, row_id)
        assert stuck.status == "in_progress" and stuck.attempts == 1
        db.session.commit()
        # Time passes: the dead worker's lease runs out (LEASE is minutes; move the claim back instead).
        db.session.execute(
            sa.update(Outbox)
            .where(Outbox.status == "in_progress")
            .values(claimed_at=sa.func.now() - sa.text("interval '10 minutes'"))
        )
        db.session.commit()
    celery_for(app).send_task(PUSH_TASK)
    _settle(app, workers=workers)

    with app.app_context():
        assert db.session.get(Outbox, row_id).attempts == 2
        links = db.session.query(Customer).filter(Customer.contact_key.in_(keys)).all()
        assert sorted(c.contact_key for c in links) == sorted(keys)
        db.session.commit()
    names = [c["DisplayName"] for c in server.emu.store.list(TEST_REALM, "Customer", include_inactive=True)]
    assert len(names) == len(set(names))
    assert sum(1 for n in names if n.startswith("Kill")) == 3
