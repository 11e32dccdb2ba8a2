"""The daily overdue sweep, the notice claim under two concurrent workers, and how the runners schedule both."""

from __future__ import annotations

import datetime as dt
import threading
import time
import typing as t
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from flask_qbo import signals
from flask_qbo.billing import notices
from flask_qbo.billing import reference
from flask_qbo.models import Connection
from flask_qbo.models import ConnectionStatus
from flask_qbo.models import Customer
from flask_qbo.models import Notice
from flask_qbo.models import Transaction
from flask_qbo.runners.thread import ThreadRunner
from flask_qbo.state import get_qbo
from flask_qbo.sync.pull import milestones
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import connect_tenant
from tests.hostapp import db
from tests.hostapp import make_app

R = TEST_REALM
OTHER = "9130350000000002"
TODAY = dt.date(2026, 11, 29)


def invoice(
    qbo_id: str, *, realm: str = R, balance: str = "80.00", due: dt.date | None = None, **values: t.Any
) -> Transaction:
    return Transaction(
        realm_id=realm,
        txn_type=values.pop("txn_type", "Invoice"),
        qbo_id=qbo_id,
        customer_qbo_id="58",
        doc_number=f"D{qbo_id}",
        total=Decimal("100.00"),
        balance=Decimal(balance),
        due_date=due or TODAY - dt.timedelta(days=1),
        status=values.pop("status", "overdue"),
        deleted=values.pop("deleted", False),
        **values,
    )


@pytest.fixture
def overdue_heard() -> t.Iterator[list[dict[str, t.Any]]]:
    got: list[dict[str, t.Any]] = []

    def receiver(sender: t.Any, **kwargs: t.Any) -> None:
        got.append(kwargs)

    signals.invoice_overdue.connect(receiver)
    yield got
    signals.invoice_overdue.disconnect(receiver)


def test_the_sweep_announces_each_open_past_due_invoice_once(app, emulator, connected, overdue_heard):
    emulator.add_company(OTHER, "Gone Co")
    gone = connect_tenant(app, emulator, "gone", OTHER)
    with app.app_context():
        db.session.get(Connection, gone.id).status = ConnectionStatus.DISCONNECTED
        db.session.add(Customer(tenant_key="acme", realm_id=R, qbo_id="58", contact_key="7", active=True))
        db.session.add_all(
            [
                invoice("1"),  # open, due yesterday: announced
                invoice("2", balance="0.00", status="paid"),
                invoice("3", balance="0.00", status="void"),
                invoice("4", due=TODAY),  # due today: not yet
                invoice("5", deleted=True),
                invoice("6", realm=OTHER),  # its company is disconnected
                invoice("7", txn_type="Estimate", status="pending"),
                invoice("8", due=TODAY - dt.timedelta(days=40), balance="20.00", status="partially_paid"),
            ]
        )
        db.session.commit()
        qbo = get_qbo(app)
        assert notices.sweep_overdue(qbo, TODAY) == 2
        assert notices.sweep_overdue(qbo, TODAY) == 0
        assert notices.sweep_overdue(qbo, TODAY + dt.timedelta(days=3)) == 1  # invoice 4 fell due since
        # Paid late, then reopened: still never announced twice.
        db.session.query(Transaction).filter_by(qbo_id="1").update({"balance": Decimal("5.00")})
        db.session.commit()
        assert notices.sweep_overdue(qbo, TODAY + dt.timedelta(days=9)) == 0
    assert [kw["qbo_id"] for kw in overdue_heard] == ["1", "8", "4"]
    assert overdue_heard[0] == {
        "realm_id": R,
        "tenant_key": "acme",
        "contact_key": "7",
        "qbo_id": "1",
        "doc_number": "D1",
        "balance": Decimal("80.00"),
        "due_date": TODAY - dt.timedelta(days=1),
    }


def test_the_sweep_works_in_batches(app, connected, overdue_heard, monkeypatch):
    monkeypatch.setattr(notices, "BATCH", 2)
    with app.app_context():
        db.session.add_all([invoice(str(n)) for n in range(1, 6)])
        db.session.commit()
        assert notices.sweep_overdue(get_qbo(app), TODAY) == 5
    assert sorted(kw["qbo_id"] for kw in overdue_heard) == ["1", "2", "3", "4", "5"]


def test_cli_overdue(app, connected, overdue_heard):
    with app.app_context():
        db.session.add(invoice("1", due=dt.date(2020, 1, 1)))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["qbo", "overdue"])
    assert result.exit_code == 0 and "Announced 1 overdue invoice(s)." in result.output
    assert len(overdue_heard) == 1


def _waiting_on_a_lock(engine: sa.Engine, pid: int, timeout: float = 10.0) -> bool:
    """True once backend ``pid`` waits for a lock (the second claim is blocked on the first transaction)."""
    deadline = time.monotonic() + timeout
    query = sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(query, {"pid": pid}).scalar() == "Lock":
                return True
        time.sleep(0.02)
    return False


def test_two_workers_claiming_one_notice_at_once_on_postgresql(pg):
    """Forced interleaving: A claims and holds its transaction; B's claim is seen waiting; A commits; B finds it."""
    app = make_app(pg[0])
    with app.app_context():
        get_qbo(app).create_all()
        engine = db.engine
    first, second = Session(engine), Session(engine)
    outcome: dict[str, bool] = {}
    try:
        pid = int(second.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        assert milestones.claim(first, R, "Invoice", "42", milestones.PAID) is True

        def worker_b() -> None:
            outcome["b"] = milestones.claim(second, R, "Invoice", "42", milestones.PAID)
            second.commit()

        thread = threading.Thread(target=worker_b)
        thread.start()
        assert _waiting_on_a_lock(engine, pid), "the second claim should wait for the first transaction"
        assert "b" not in outcome
        first.commit()
        thread.join(10)
        assert outcome == {"b": False}
        with Session(engine) as check:
            assert check.scalar(sa.select(sa.func.count(Notice.id))) == 1
        # And when A rolls back instead, B claims it.
        pid = int(second.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())  # B's connection now
        assert milestones.claim(first, R, "Invoice", "43", milestones.PAID) is True
        thread = threading.Thread(
            target=lambda: outcome.update(c=milestones.claim(second, R, "Invoice", "43", milestones.PAID))
        )
        thread.start()
        assert _waiting_on_a_lock(engine, pid)
        first.rollback()
        thread.join(10)
        second.commit()
        assert outcome["c"] is True
    finally:
        first.close()
        second.close()
        engine.dispose()


def test_the_thread_runner_reads_reference_data_on_its_timer_and_sweeps_once_a_day(app, connected, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(reference, "refresh_due", lambda qbo: calls.append("reference") or 0)
    monkeypatch.setattr(notices, "sweep_overdue", lambda qbo: calls.append("overdue") or 0)
    runner = ThreadRunner(app, poll_interval=3600.0, upkeep_interval=3600.0)
    with app.app_context():
        runner.run_once()
        runner.run_once()
        assert calls == ["overdue"]  # the first reference check waits one poll interval
        runner._next_reference = 0.0  # the timer ran out
        runner.run_once()
        runner.run_once()
        assert calls == ["overdue", "reference"]
        runner._swept_on = dt.date(2000, 1, 1)  # the date changed
        runner.run_once()
    assert calls == ["overdue", "reference", "overdue"]


def test_celery_beat_has_the_reference_and_overdue_entries_and_tasks_run_them(tmp_path, emulator, monkeypatch):
    pytest.importorskip("celery")
    from flask_qbo.runners import celery as qbo_celery

    app = make_app(f"sqlite:///{tmp_path / 'crm.sqlite'}", QBO_RUNNER="celery", CELERY={"broker_url": "memory://"})
    celery = qbo_celery.celery_init_app(app)
    schedule = celery.conf.beat_schedule
    assert schedule["flask-qbo-reference"]["task"] == qbo_celery.REFERENCE_TASK
    assert schedule["flask-qbo-reference"]["schedule"] == float(app.config["QBO_CELERY_SWEEP_INTERVAL"])
    daily = schedule["flask-qbo-overdue"]["schedule"]
    assert schedule["flask-qbo-overdue"]["task"] == qbo_celery.OVERDUE_TASK
    assert daily.hour == {12} and daily.minute == {20}  # once a day, just after qbo_today() moves on (12:00 UTC)
    monkeypatch.setattr(reference, "refresh_due", lambda qbo: 3)
    monkeypatch.setattr(notices, "sweep_overdue", lambda qbo: 4)
    assert celery.tasks[qbo_celery.REFERENCE_TASK].apply().get() == 3
    assert celery.tasks[qbo_celery.OVERDUE_TASK].apply().get() == 4
