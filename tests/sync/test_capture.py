"""Capture: outbox rows written in the host's transaction, coalesced, suppressed."""

from __future__ import annotations

import typing as t

from flask_qbo import get_qbo
from flask_qbo.models import Outbox
from tests.hostapp import Contact
from tests.hostapp import db
from tests.hostapp import make_app


def rows() -> list[tuple[str, str, str]]:
    return [(o.contact_key, o.op, o.status) for o in db.session.query(Outbox).order_by(Outbox.id)]


def add_contact(**kw: t.Any) -> Contact:
    contact = Contact(tenant="acme", first_name="Ann", last_name="Lee", **kw)
    db.session.add(contact)
    db.session.commit()
    return contact


def test_new_contact_writes_one_upsert_row(app: t.Any) -> None:
    with app.app_context():
        contact = add_contact()
        assert rows() == [(str(contact.id), "upsert", "pending")]
        assert db.session.query(Outbox).one().tenant_key == "acme"


def test_edits_coalesce_into_one_pending_row(app: t.Any) -> None:
    with app.app_context():
        contact = add_contact()
        contact.phone = "1"
        db.session.commit()
        contact.email = "ann@example.com"
        db.session.commit()
        assert len(rows()) == 1


def test_unmapped_or_cosmetic_change_writes_nothing(app: t.Any) -> None:
    with app.app_context():
        contact = add_contact(phone=None)
        db.session.query(Outbox).delete()
        db.session.commit()
        contact.lead_score = 99
        db.session.commit()
        contact.phone = ""  # None → "" is no change for QBO
        contact.first_name = "Ann  "
        db.session.commit()
        assert rows() == []


def test_rollback_leaves_nothing(app: t.Any) -> None:
    with app.app_context():
        db.session.add(Contact(tenant="acme", first_name="Bo"))
        db.session.flush()
        assert len(rows()) == 1
        db.session.rollback()
        assert rows() == []
        assert db.session.query(Contact).count() == 0


def test_suppress_capture_writes_nothing_but_keeps_earlier_edits(app: t.Any) -> None:
    with app.app_context():
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


def test_edit_while_in_flight_gets_a_new_row(app: t.Any) -> None:
    with app.app_context():
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


def test_failed_row_is_reset_with_a_new_uuid_on_edit(app: t.Any) -> None:
    with app.app_context():
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
