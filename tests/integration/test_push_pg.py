"""Two workers draining one outbox on a real PostgreSQL (``FOR UPDATE SKIP LOCKED`` claims).

Two app instances share one database schema and one emulator company, each
with its own engine and session, the way two web processes or two Celery
workers would.  While they push, the test keeps editing contacts, so some
edits queue behind a row that is in flight.  Every claim is checked at once
from a third connection: a contact never has two rows in flight, and no row
is taken while an older row of its contact is unfinished.  That backlog is
above ``QBO_BATCH_THRESHOLD``, so it exercises batch claims; the single-row
claim's race is forced in tests/sync/push/test_push_claim_race.py and run here too.

Both scenarios run on every host shape (``host_kind``): the outbox and its
claims must not care how the host stores a contact.
"""

from __future__ import annotations

import threading
import time
import typing as t

import sqlalchemy as sa
from cryptography.fernet import Fernet

from flask_qbo import get_qbo
from flask_qbo.models import Outbox
from flask_qbo.models import utcnow
from flask_qbo.sync.push import batch
from flask_qbo.sync.push import push
from flask_qbo.sync.queue import OUTBOX
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator
from tests.hosts.adapter import Host
from tests.hosts.adapter import make_app
from tests.sync.push.test_push_claim_race import push_workers
from tests.sync.push.test_push_claim_race import scenario_one_claim_wins

CONTACTS = 45
ROUNDS = 4

#: Rows in flight with an unfinished older row of the same contact, or two in flight for one contact.
OUT_OF_ORDER = sa.text("""
    SELECT o.id FROM qbo_outbox o
    WHERE o.status = 'in_progress' AND EXISTS (
        SELECT 1 FROM qbo_outbox p
        WHERE p.tenant_key = o.tenant_key AND p.contact_key = o.contact_key AND p.id < o.id
          AND p.status IN ('pending', 'in_progress'))
""")


def test_two_workers_never_share_a_row_and_keep_contact_order(
    monkeypatch: t.Any, pg: tuple[str, str], host_kind: str
) -> None:
    url = pg[0]
    checker = sa.create_engine(url)
    try:
        key = Fernet.generate_key().decode()
        emu = make_emulator()
        apps = [make_app(host_kind, url, QBO_TOKEN_ENCRYPTION_KEY=key, QBO_MAX_RETRIES=0) for _ in range(2)]
        for app in apps:
            attach_emulator(app, emu)
        host = Host(host_kind, apps[0])
        db, model = host.db, host.contact_model
        connect_tenant(apps[0], emu, host.tenant, TEST_REALM)

        violations: list[list[int]] = []
        claimed: list[int] = []
        lock = threading.Lock()

        def checked(claim: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
            def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
                result = claim(*args, **kwargs)
                with checker.connect() as conn:
                    bad = list(conn.execute(OUT_OF_ORDER).scalars())
                with lock:
                    if bad:
                        violations.append(bad)
                    claimed.extend(result if isinstance(result, list) else [args[1]] if result else [])
                return result

            return wrapper

        monkeypatch.setattr(OUTBOX, "claim", checked(OUTBOX.claim))
        monkeypatch.setattr(batch, "claim_batch", checked(batch.claim_batch))

        stop = threading.Event()
        handled = [0, 0]
        errors: list[BaseException] = []
        start = threading.Barrier(3)

        def work(n: int) -> None:
            try:
                with apps[n].app_context():
                    qbo = get_qbo(apps[n])
                    start.wait()
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline:
                        done = push.process(qbo, limit=30)
                        handled[n] += done
                        db.session.remove()
                        if done == 0:
                            if stop.is_set():
                                return
                            time.sleep(0.01)
            except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
                errors.append(exc)

        with apps[0].app_context():
            contacts = [host.contact(f"Pg{i} Worker") for i in range(CONTACTS)]
            db.session.add_all(contacts)
            db.session.commit()
            ids = [c.id for c in contacts]
            threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
            for thread in threads:
                thread.start()
            start.wait()
            for round_no in range(ROUNDS):  # edits land while rows are in flight: some queue behind them
                time.sleep(0.05)
                for contact in db.session.query(model).filter(model.id.in_(ids)):
                    contact.phone = f"555-{round_no}-{contact.id}"
                db.session.commit()
            stop.set()
            for thread in threads:
                thread.join(90)
            assert not errors, errors
            rows = db.session.query(Outbox).all()
            assert {r.status for r in rows} == {"done"}
            assert all(r.attempts == 1 for r in rows), [(r.id, r.attempts) for r in rows if r.attempts != 1]
            assert sorted(claimed) == sorted(r.id for r in rows)  # every row claimed exactly once
            assert len(rows) > CONTACTS  # some edits really queued behind rows in flight
        assert violations == []
        assert min(handled) > 0, handled  # both workers took part
        customers = emu.store.list(TEST_REALM, "Customer", include_inactive=True)
        assert len(customers) == CONTACTS
        phones = {c["GivenName"]: c["PrimaryPhone"]["FreeFormNumber"] for c in customers}
        assert phones == {f"Pg{i}": f"555-{ROUNDS - 1}-{cid}" for i, cid in enumerate(ids)}
        for app in apps:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    finally:
        checker.dispose()


def test_one_single_row_claim_wins_postgres(monkeypatch: t.Any, pg: tuple[str, str], host_kind: str) -> None:
    """Two workers read the same row (the first read's ``SKIP LOCKED`` lock released) and claim it at once."""
    emu = make_emulator()
    apps = push_workers(pg[0], emu, host_kind)
    try:
        scenario_one_claim_wins(apps, emu, monkeypatch, host_kind)
    finally:
        for app in apps:  # the schema is dropped next: no pooled connection may hold it
            Host(host_kind, app).dispose()


def test_a_batch_claim_takes_at_most_its_size_postgres(pg: tuple[str, str], host_kind: str) -> None:
    """``UPDATE ... IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)`` can take far more than n rows on PostgreSQL.

    Then one worker holds a whole backlog while the others find nothing (issue
    16: one Celery worker idle for a quarter of a push burst).
    """
    app = make_app(host_kind, pg[0])
    host = Host(host_kind, app)
    try:
        with app.app_context():
            session = host.db.session
            session.add_all(Outbox(tenant_key="acme", contact_key=str(i)) for i in range(90))
            session.commit()
            claimed = OUTBOX.claim_many(session, [Outbox.tenant_key == "acme"], 30, utcnow(), "w1")
            assert len(claimed) == 30
            assert session.query(Outbox).filter_by(status="in_progress").count() == 30
            assert claimed == sorted(row.id for row in session.query(Outbox).order_by(Outbox.id).limit(30))
    finally:
        host.dispose()
