"""Capture: outbox rows written in the host's transaction, coalesced, suppressed.

The rules run on SQLite and on PostgreSQL (``either``): PostgreSQL writes the
row with one statement (:mod:`flask_qbo.sync.outboxwrite`), the others with three.
"""

from __future__ import annotations

import threading
import time
import typing as t

import pytest
import sqlalchemy as sa

from flask_qbo import get_qbo
from flask_qbo.models import Customer
from flask_qbo.models import Outbox
from flask_qbo.sync.push import push
from flask_qbo.testing import attach_emulator
from tests.hostapp import Contact
from tests.hostapp import db
from tests.hostapp import make_app


@pytest.fixture
def on_postgres(pg: tuple[str, str], emulator: t.Any) -> t.Iterator[t.Any]:
    """The host app on a fresh PostgreSQL schema."""
    app = make_app(pg[0])
    attach_emulator(app, emulator)
    yield app
    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def either(request: pytest.FixtureRequest) -> t.Any:
    """The host app on SQLite, then on PostgreSQL."""
    return request.getfixturevalue("app" if request.param == "sqlite" else "on_postgres")


def rows() -> list[tuple[str, str, str]]:
    return [(o.contact_key, o.op, o.status) for o in db.session.query(Outbox).order_by(Outbox.id)]


def add_contact(**kw: t.Any) -> Contact:
    contact = Contact(tenant="acme", first_name="Ann", last_name="Lee", **kw)
    db.session.add(contact)
    db.session.commit()
    return contact


def test_new_contact_writes_one_upsert_row(either: t.Any) -> None:
    with either.app_context():
        contact = add_contact()
        assert rows() == [(str(contact.id), "upsert", "pending")]
        assert db.session.query(Outbox).one().tenant_key == "acme"


def test_edits_coalesce_into_one_pending_row(either: t.Any) -> None:
    with either.app_context():
        contact = add_contact()
        contact.phone = "1"
        db.session.commit()
        contact.email = "ann@example.com"
        db.session.commit()
        assert len(rows()) == 1


def test_unmapped_or_cosmetic_change_writes_nothing(either: t.Any) -> None:
    with either.app_context():
        contact = add_contact(phone=None)
        db.session.query(Outbox).delete()
        db.session.commit()
        contact.lead_score = 99
        db.session.commit()
        contact.phone = ""  # None → "" is no change for QBO
        contact.first_name = "Ann  "
        db.session.commit()
        assert rows() == []


def test_rollback_leaves_nothing(either: t.Any) -> None:
    with either.app_context():
        db.session.add(Contact(tenant="acme", first_name="Bo"))
        db.session.flush()
        assert len(rows()) == 1
        db.session.rollback()
        assert rows() == []
        assert db.session.query(Contact).count() == 0


def test_suppress_capture_writes_nothing_but_keeps_earlier_edits(either: t.Any) -> None:
    with either.app_context():
        qbo = get_qbo()
        contact = add_contact()
        db.session.query(Outbox).delete()
        db.session.commit()
        with qbo.suppress_capture():
            contact.phone = "from qbo"
        db.session.commit()
        assert rows() == []
        contact.notes = "user edit"  # unflushed edit before the block is still captured
        with qbo.suppress_capture():
            contact.phone = "from qbo again"
        db.session.commit()
        assert len(rows()) == 1


def test_edit_while_in_flight_gets_a_new_row(either: t.Any) -> None:
    with either.app_context():
        contact = add_contact()
        row = db.session.query(Outbox).one()
        row.status = "in_progress"
        db.session.commit()
        contact.phone = "2"
        db.session.commit()
        assert [r[2] for r in rows()] == ["in_progress", "pending"]


def test_delete_inactivates_or_is_ignored(app: t.Any) -> None:
    with app.app_context():
        contact = add_contact()
        db.session.delete(contact)
        db.session.commit()
        assert [r[1] for r in rows()] == ["inactivate"]
    other = make_app(app.config["SQLALCHEMY_DATABASE_URI"] + "2", QBO_DELETE_POLICY="ignore")
    with other.app_context():
        contact = add_contact()
        db.session.query(Outbox).delete()
        db.session.commit()
        db.session.delete(contact)
        db.session.commit()
        assert rows() == []


def test_failed_row_is_reset_with_a_new_uuid_on_edit(either: t.Any) -> None:
    with either.app_context():
        contact = add_contact()
        row = db.session.query(Outbox).one()
        old_uuid = row.uuid
        row.status, row.last_error = "failed", "bad"
        db.session.commit()
        contact.email = "fixed@example.com"
        db.session.commit()
        db.session.refresh(row)
        assert (row.status, row.last_error) == ("pending", None)
        assert row.uuid != old_uuid


def test_two_apps_capture_separately(app: t.Any, tmp_path: t.Any) -> None:
    other = make_app(f"sqlite:///{tmp_path / 'other.sqlite'}")
    with other.app_context():
        add_contact()
        assert len(rows()) == 1
    with app.app_context():
        assert rows() == []


def test_a_delete_folds_into_the_pending_row_and_an_edit_keeps_it_inactivate(either: t.Any) -> None:
    with either.app_context():
        contact = add_contact()
        key = str(contact.id)
        db.session.add(Customer(tenant_key="acme", realm_id="1", qbo_id="7", contact_key=key, sync_status="synced"))
        db.session.commit()
        contact.phone = "3"
        db.session.commit()
        assert db.session.query(Customer).one().sync_status == "pending"  # marked with the row
        db.session.delete(contact)
        db.session.commit()
        assert rows() == [(key, "inactivate", "pending")]
        push.request_sync(key, tenant_key="acme")  # "Sync now" afterwards: still one row, still "inactivate"
        assert rows() == [(key, "inactivate", "pending")]


def test_edit_racing_a_claim_is_not_folded_into_the_claimed_row_on_postgres(on_postgres: t.Any) -> None:
    """The PostgreSQL twin of the push tests' forced race: the claim holds the row while the edit's statement runs.

    The edit's one statement read the row as pending and waits on its lock; the claim then commits.  PostgreSQL
    re-checks the status on the claimed version, so the edit gets a new row instead of folding into one in flight.
    """
    with on_postgres.app_context():
        contact = add_contact()
        contact_id = int(contact.id)
        row_id = db.session.query(Outbox).one().id
        db.session.commit()
        engine = db.engine
    claimer = engine.connect()
    claim = claimer.begin()
    claimer.execute(sa.text("UPDATE qbo_outbox SET status = 'in_progress' WHERE id = :id"), {"id": row_id})
    done = threading.Event()
    failures: list[BaseException] = []

    def edit() -> None:
        try:
            with on_postgres.app_context():
                db.session.get(Contact, contact_id).phone = "555-0199"
                db.session.commit()
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            done.set()

    editor = threading.Thread(target=edit)
    editor.start()
    try:
        with engine.connect() as watcher:  # until the edit's statement waits on the claimed row's lock
            waiting = sa.text(  # a row lock's waiter waits on the holder's transaction id
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype IN ('transactionid', 'tuple')"
            )
            deadline = time.monotonic() + 10
            while not watcher.execute(waiting).scalar() and time.monotonic() < deadline:
                watcher.rollback()
                time.sleep(0.01)
            assert watcher.execute(waiting).scalar(), "the edit never waited on the claimed row"
    finally:
        claim.commit()
        claimer.close()
    editor.join(10)
    assert done.is_set() and not failures
    with on_postgres.app_context():
        assert rows() == [(str(contact_id), "upsert", "in_progress"), (str(contact_id), "upsert", "pending")]
