"""Two Send clicks at once on PostgreSQL: the check and the insert are one step, so one row is queued."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from flask_qbo.billing.actions import queue_action
from flask_qbo.billing.problems import ActionRefused
from flask_qbo.models import Outbox
from flask_qbo.models import OutboxOp
from flask_qbo.models import Transaction
from flask_qbo.testing import TEST_REALM
from tests.hostapp import db
from tests.hostapp import make_app

#: How long the first click waits for the second to block or finish (a bound, not a sleep: it ends early).
WAIT = 10.0


def _send(txn_id: int) -> Outbox:
    txn = db.session.get(Transaction, txn_id)
    assert txn is not None
    return queue_action(db.session, tenant_key="acme", contact_key="c1", txn=txn, action="send", send_to="a@b.co")


def _blocked_on_a_lock(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        waiting = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
        return bool(waiting.scalar())


def test_two_sends_at_once_queue_one_row(pg: tuple[str, str]) -> None:
    app = make_app(pg[0])
    with app.app_context():
        txn = Transaction(realm_id=TEST_REALM, txn_type="Invoice", qbo_id="130", customer_qbo_id="58", status="open")
        db.session.add(txn)
        db.session.commit()
        txn_id = txn.id
        engine = db.engine
    first_queued, second_started, second_done = threading.Event(), threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def second() -> None:
        first_queued.wait(WAIT)
        with app.app_context():
            second_started.set()
            try:
                _send(txn_id)
                db.session.commit()
                outcome["second"] = "queued"
            except ActionRefused as exc:
                db.session.rollback()
                outcome["second"] = exc.message
            finally:
                second_done.set()
                db.session.remove()

    thread = threading.Thread(target=second)
    thread.start()
    with app.app_context():
        _send(txn_id)  # the first click: checked and inserted, not committed yet
        first_queued.set()
        assert second_started.wait(WAIT)
        # the second click either finished (the race the lock prevents) or waits on the first's lock
        for _ in range(int(WAIT * 20)):
            if second_done.is_set() or _blocked_on_a_lock(engine):
                break
            second_done.wait(0.05)
        db.session.commit()
        db.session.remove()
    thread.join(WAIT)
    assert not thread.is_alive()
    with app.app_context():
        rows = db.session.query(Outbox).filter_by(op=OutboxOp.SEND_DOC).all()
        assert len(rows) == 1, outcome
        assert "already has an action on its way" in str(outcome["second"])
        db.session.remove()
        db.engine.dispose()
