"""Bugs the convergence soak found, each pinned by the smallest sequence that shows it."""

from __future__ import annotations

import datetime as dt
import typing as t

import sqlalchemy as sa

from flask_qbo import signals
from flask_qbo.intuit.client import QBOClient
from flask_qbo.models import Customer
from flask_qbo.models import Outbox
from flask_qbo.models import SyncLog
from flask_qbo.state import get_qbo
from flask_qbo.sync.pull import pull
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from tests.hostapp import Contact
from tests.hostapp import db


def _due_now() -> None:
    """Backoffs end (the test does not wait for them)."""
    db.session.execute(sa.update(Outbox).values(available_at=sa.func.now()))
    db.session.commit()


def test_a_lost_create_answer_is_not_imported_as_a_second_contact(
    app: t.Any, emulator: t.Any, connected: t.Any
) -> None:
    """QBO made the customer but the answer timed out; CDC sees an unlinked customer with the contact's email.

    apply.Applier.customer used to import it (QBO_IMPORT_NEW_CUSTOMERS) as a new contact, so the
    person had two contacts; the retry then linked the original one.
    """
    app.config.update(QBO_IMPORT_NEW_CUSTOMERS=True, QBO_MAX_RETRIES=0)
    with app.app_context():
        qbo = get_qbo(app)
        db.session.add(Contact(tenant="acme", first_name="Ann", last_name="Lost", email="ann@lost.test"))
        db.session.commit()
        emulator.faults.timeout_next(1, after_execute=True, method="POST", path_contains="/customer")
        push.process(qbo)
        assert db.session.query(Outbox).one().status == "pending"
        db.session.commit()
        pull.poll_cdc(qbo, qbo.connection("acme"))
        assert db.session.query(Contact).count() == 1
        _due_now()
        push.process(qbo)
        link = db.session.query(Customer).one()
        assert link.contact_key == str(db.session.query(Contact).one().id)
        db.session.commit()
    assert len(emulator.store.list(TEST_REALM, "Customer")) == 1


def _edited_before_qbo(
    qbo: t.Any, emulator: t.Any, name: str, *, crm: str = "crm edit", theirs: str = "newer qbo edit", ago: int = 10
) -> tuple[Contact, str, dt.datetime]:
    """A linked contact whose CRM edit of Notes (``crm``) was made ``ago`` seconds before QBO's (``theirs``).

    Returns the contact, its customer's id and the edit's time (the pending row's ``updated_at``).
    """
    contact = Contact(tenant="acme", first_name="Ann", last_name=name, email=f"ann@{name.lower()}.test", notes="v0")
    db.session.add(contact)
    db.session.commit()
    push.process(qbo)
    qbo_id = db.session.query(Customer).one().qbo_id
    contact.notes = crm
    db.session.commit()
    row = db.session.query(Outbox).filter_by(status="pending").one()
    row.created_at -= dt.timedelta(seconds=ago)
    row.updated_at = edited_at = row.updated_at - dt.timedelta(seconds=ago)
    db.session.commit()
    current = emulator.store.read(TEST_REALM, "Customer", qbo_id)
    emulator.store.update(
        TEST_REALM,
        "Customer",
        {"Id": qbo_id, "SyncToken": current["SyncToken"], "sparse": True, "Notes": theirs},
    )
    return contact, qbo_id, edited_at


def test_a_retried_push_does_not_make_an_old_crm_edit_win(app: t.Any, emulator: t.Any, connected: t.Any) -> None:
    """CRM edit, then a newer QBO edit, then a failed push attempt, then the QBO edit is pulled.

    push.claim/release bumped qbo_outbox.updated_at (the model's onupdate), which
    apply.Applier._conflicts reads as the time of the CRM change: the retried old
    edit looked newer than QBO's and overwrote it.
    """
    app.config["QBO_MAX_RETRIES"] = 0
    with app.app_context():
        qbo = get_qbo(app)
        contact, qbo_id, edited_at = _edited_before_qbo(qbo, emulator, "Retry")
        emulator.faults.fail_next(1, status=503, path_contains="/v3/")
        push.process(qbo)  # the attempt fails after QBO's edit; the row goes back to pending
        row = db.session.query(Outbox).filter_by(status="pending").one()
        assert row.updated_at == edited_at
        db.session.commit()
        pull.poll_cdc(qbo, qbo.connection("acme"))
        _due_now()
        push.process(qbo)
        assert db.session.get(Contact, contact.id).notes == "newer qbo edit"
        db.session.commit()
    assert emulator.store.read(TEST_REALM, "Customer", qbo_id)["Notes"] == "newer qbo edit"


def test_a_refused_then_retried_push_does_not_make_an_old_crm_edit_win(
    app: t.Any, emulator: t.Any, connected: t.Any
) -> None:
    """CRM edit, then a newer QBO edit, then QBO refuses the push; the pull and a Retry follow.

    Marking the row failed and reviving it (Retry, or a merge's re-queue) went
    through the ORM, whose ``onupdate`` stamped ``updated_at`` with the time of
    that bookkeeping: the refused old edit looked newer than QBO's, so the pull
    kept it and the retry pushed it over QBO's (the soak's contact p21).
    """
    app.config["QBO_MAX_RETRIES"] = 0
    with app.app_context():
        qbo = get_qbo(app)
        contact, qbo_id, edited_at = _edited_before_qbo(qbo, emulator, "Refused")
        emulator.faults.fail_next(1, status=400, code="6000", path_contains="/customer", method="POST")
        push.process(qbo)
        row = db.session.query(Outbox).filter_by(status="failed").one()
        assert row.updated_at == edited_at
        db.session.commit()
        pull.poll_cdc(qbo, qbo.connection("acme"))
        assert db.session.get(Contact, contact.id).notes == "newer qbo edit"
        db.session.commit()
        assert push.retry(row.id, "acme")
        assert db.session.get(Outbox, row.id).updated_at == edited_at
        db.session.commit()
        push.process(qbo)
        assert db.session.get(Contact, contact.id).notes == "newer qbo edit"
        db.session.commit()
    assert emulator.store.read(TEST_REALM, "Customer", qbo_id)["Notes"] == "newer qbo edit"


def test_a_create_attempt_leaves_the_edit_time_alone(app: t.Any, emulator: t.Any, connected: t.Any) -> None:
    """A create's note (``create_sent``) is written before sending; it is not an edit of the contact."""
    app.config["QBO_MAX_RETRIES"] = 0
    with app.app_context():
        qbo = get_qbo(app)
        db.session.add(Contact(tenant="acme", first_name="Ann", last_name="Slow", email="ann@slow.test"))
        db.session.commit()
        row = db.session.query(Outbox).one()
        row.updated_at = edited_at = row.updated_at - dt.timedelta(seconds=10)
        db.session.commit()
        emulator.faults.timeout_next(1, after_execute=True, method="POST", path_contains="/customer")
        push.process(qbo)
        row = db.session.query(Outbox).one()
        assert (row.status, row.updated_at) == ("pending", edited_at)
        assert row.create_sent is not None


def test_a_newer_crm_edit_queued_behind_a_waiting_one_wins_the_merge(
    app: t.Any, emulator: t.Any, connected: t.Any
) -> None:
    """CRM edit (its push waits), then a QBO edit, then a newer CRM edit of the same field, then the push.

    push.update.merge_with dated the CRM side of a 5010 merge by the outbox row's
    ``created_at`` (its first edit) on a model without ``updated_at``, so QBO's
    older edit won and the CRM's newest edit was lost; the pull side dates the
    CRM by the latest unpushed edit, as newest-wins means.
    """
    app.config["QBO_MAX_RETRIES"] = 0
    conflicts: list[dict[str, t.Any]] = []
    signals.conflict.connect(lambda sender, **kw: conflicts.append(kw), app, weak=False)
    with app.app_context():
        qbo = get_qbo(app)
        # The first edit was made a minute ago (its push has been waiting since); QBO's edit comes after it.
        contact, qbo_id, _ = _edited_before_qbo(qbo, emulator, "Waits", crm="first crm edit", theirs="qbo edit", ago=60)
        contact.notes = "newest crm edit"  # after QBO's edit (LastUpdatedTime has whole seconds)
        db.session.commit()
        assert db.session.query(Outbox).filter_by(status="pending").count() == 1  # coalesced into the waiting row
        push.process(qbo)  # 5010, then the merge
        assert [(c["field"], c["winner"]) for c in conflicts] == [("notes", "crm")]
        assert db.session.get(Contact, contact.id).notes == "newest crm edit"
        db.session.commit()
    assert emulator.store.read(TEST_REALM, "Customer", qbo_id)["Notes"] == "newest crm edit"


def test_a_lost_create_then_a_crm_delete_is_neither_imported_nor_left_active(
    app: t.Any, emulator: t.Any, connected: t.Any
) -> None:
    """The contact is deleted before the retry: no contact holds the email any more.

    The pull side used to import the customer as a new contact ("the contact came
    back"); the outbox row's recorded create identifies it as ours instead, and the
    retry makes it inactive.
    """
    app.config.update(QBO_IMPORT_NEW_CUSTOMERS=True, QBO_MAX_RETRIES=0)
    with app.app_context():
        qbo = get_qbo(app)
        db.session.add(Contact(tenant="acme", first_name="Del", last_name="Lost", email="del@lost.test"))
        db.session.commit()
        emulator.faults.timeout_next(1, after_execute=True, method="POST", path_contains="/customer")
        push.process(qbo)
        db.session.delete(db.session.query(Contact).one())
        db.session.commit()
        pull.poll_cdc(qbo, qbo.connection("acme"))
        assert db.session.query(Contact).count() == 0  # not imported back
        _due_now()
        push.process(qbo)
        db.session.commit()
    (customer,) = emulator.store.list(TEST_REALM, "Customer", include_inactive=True)
    assert customer["Active"] is False


def _create_never_reaches_qbo_over_a_namesake(app: t.Any, emulator: t.Any) -> t.Any:
    """An older, unlinked "Twin Person" exists; our create of the same name times out before QBO runs it."""
    emulator.store.create(
        TEST_REALM,
        "Customer",
        {
            "DisplayName": "Twin Person",
            "GivenName": "Twin",
            "FamilyName": "Person",
            "PrimaryEmailAddr": {"Address": "old@twin.test"},
        },
    )
    app.config.update(QBO_MAX_RETRIES=0)
    qbo = get_qbo(app)
    db.session.add(Contact(tenant="acme", first_name="Twin", last_name="Person", email="new@twin.test"))
    db.session.commit()
    emulator.faults.timeout_next(1, method="POST", path_contains="/customer")  # before QBO executes it
    push.process(qbo)
    row = db.session.query(Outbox).one()
    assert row.status == "pending" and row.create_sent["DisplayName"] == "Twin Person"
    db.session.commit()
    return qbo


def test_a_namesake_is_not_adopted_as_our_lost_create(app: t.Any, emulator: t.Any, connected: t.Any) -> None:
    """The soak's "missing" person: the retry adopted the older namesake and took over its email."""
    with app.app_context():
        qbo = _create_never_reaches_qbo_over_a_namesake(app, emulator)
        _due_now()
        push.process(qbo)
        assert db.session.query(Contact).one().email == "new@twin.test"
        db.session.commit()
    emails = sorted(c["PrimaryEmailAddr"]["Address"] for c in emulator.store.list(TEST_REALM, "Customer"))
    assert emails == ["new@twin.test", "old@twin.test"]


def test_deleting_after_a_create_that_never_landed_leaves_the_namesake_alone(
    app: t.Any, emulator: t.Any, connected: t.Any
) -> None:
    with app.app_context():
        qbo = _create_never_reaches_qbo_over_a_namesake(app, emulator)
        db.session.delete(db.session.query(Contact).one())
        db.session.commit()
        _due_now()
        push.process(qbo)
        db.session.commit()
    (namesake,) = emulator.store.list(TEST_REALM, "Customer", include_inactive=True)
    assert namesake["Active"] is True and namesake["PrimaryEmailAddr"]["Address"] == "old@twin.test"


def test_a_delete_while_the_lost_create_was_in_flight_still_inactivates(
    app: t.Any, emulator: t.Any, connected: t.Any
) -> None:
    """The soak's last case: the delete came while the create row was claimed, so it got its own row.

    The create's retry found the contact gone and stopped; the delete's row had no
    link and no recorded create, so the customer stayed active.
    """
    app.config.update(QBO_MAX_RETRIES=0)
    with app.app_context():
        qbo = get_qbo(app)
        db.session.add(Contact(tenant="acme", first_name="Mid", last_name="Flight", email="mid@flight.test"))
        db.session.commit()
        emulator.faults.timeout_next(1, after_execute=True, method="POST", path_contains="/customer")
        push.process(qbo)
        create_row = db.session.query(Outbox).one()
        assert create_row.create_sent is not None
        create_row.status = "in_progress"  # the delete lands while a worker holds the row
        db.session.commit()
        db.session.delete(db.session.query(Contact).one())
        db.session.commit()
        assert db.session.query(Outbox).count() == 2  # the delete could not fold into a claimed row
        db.session.query(Outbox).filter_by(id=create_row.id).update({"status": "pending"})
        db.session.commit()
        _due_now()
        while push.process(qbo):  # the delete's row waits for the create's (per-contact order)
            pass
        assert {row.status for row in db.session.query(Outbox)} == {"done"}
        db.session.commit()
    (customer,) = emulator.store.list(TEST_REALM, "Customer", include_inactive=True)
    assert customer["Active"] is False


def test_an_older_namesake_with_our_email_is_matched_not_adopted(app: t.Any, emulator: t.Any, connected: t.Any) -> None:
    """The DisplayName and the email both fit, but the customer is older than our create: it is not ours.

    Adopting it would take the values we sent as what QBO held, so every field
    where the namesake differs (its phone) would look like a QBO edit and
    overwrite the contact.  Matched by email instead, it is the same person and
    the contact's values win, as for any first match.
    """
    emulator.clock.advance(-3600)  # made an hour before our create was sent
    namesake = emulator.store.create(
        TEST_REALM,
        "Customer",
        {
            "DisplayName": "Twin Person",
            "GivenName": "Twin",
            "FamilyName": "Person",
            "PrimaryEmailAddr": {"Address": "old@twin.test"},
            "PrimaryPhone": {"FreeFormNumber": "555-0199"},
            "Notes": "the namesake's notes",
        },
    )
    emulator.clock.advance(3600)
    with app.app_context():
        app.config.update(QBO_MAX_RETRIES=0)
        qbo = get_qbo(app)
        contact = Contact(
            tenant="acme", first_name="Twin", last_name="Person", email="twin@twin.test", phone="555-0100"
        )
        db.session.add(contact)
        db.session.commit()
        emulator.faults.timeout_next(1, method="POST", path_contains="/customer")  # before QBO executes it
        push.process(qbo)
        assert db.session.query(Outbox).one().create_sent["DisplayName"] == "Twin Person"
        db.session.commit()
        # Meanwhile someone in QBO gives the namesake our email.
        current = emulator.store.read(TEST_REALM, "Customer", namesake["Id"])
        emulator.store.update(
            TEST_REALM,
            "Customer",
            {
                "Id": namesake["Id"],
                "SyncToken": current["SyncToken"],
                "sparse": True,
                "PrimaryEmailAddr": {"Address": "twin@twin.test"},
            },
        )
        _due_now()
        push.process(qbo)
        contact = db.session.get(Contact, contact.id)
        assert contact.phone == "555-0100"
        action = db.session.query(SyncLog.action).filter_by(direction="push", qbo_id=namesake["Id"]).scalar()
        assert action == "matched"
        db.session.commit()
    (customer,) = emulator.store.list(TEST_REALM, "Customer")
    assert customer["PrimaryPhone"]["FreeFormNumber"] == "555-0100"


def _our_update_lands_unanswered_after_a_qbo_edit(
    app: t.Any, emulator: t.Any, monkeypatch: t.Any
) -> tuple[t.Any, Contact, str, list[dict[str, t.Any]]]:
    """QBO edits the mobile, the CRM the phone; our merged update lands in QBO later, and its answer is lost.

    The push of the phone gets 5010 (QBO's mobile edit), merges (no conflict: each
    side changed its own field) and sends the phone again, on QBO's SyncToken.  QBO
    executes that write a minute after the mobile edit (the emulator's clock moves
    on while it is in flight) and the answer times out: the attempt rolls back and
    the row waits, while QBO holds a version *we* wrote, whose LastUpdatedTime is
    the write's.  Then the CRM user edits the mobile too: after QBO's edit, before
    QBO executed our write.
    """
    app.config["QBO_MAX_RETRIES"] = 0
    conflicts: list[dict[str, t.Any]] = []
    signals.conflict.connect(lambda sender, **kw: conflicts.append(kw), app, weak=False)
    qbo = get_qbo(app)
    contact = Contact(tenant="acme", first_name="Own", last_name="Write", email="own@write.test", mobile="556-0")
    db.session.add(contact)
    db.session.commit()
    push.process(qbo)
    qbo_id = db.session.query(Customer).one().qbo_id
    current = emulator.store.read(TEST_REALM, "Customer", qbo_id)
    emulator.store.update(
        TEST_REALM,
        "Customer",
        {"Id": qbo_id, "SyncToken": current["SyncToken"], "sparse": True, "Mobile": {"FreeFormNumber": "556-QBO"}},
    )
    contact.phone = "555-CRM"
    db.session.commit()
    original = QBOClient.sparse_update
    sends: list[dict[str, t.Any]] = []

    def in_flight(self: t.Any, entity: str, obj: dict[str, t.Any], request_id: str | None = None) -> t.Any:
        sends.append(obj)
        if len(sends) == 2:  # the merged write: QBO executes it a minute later, and its answer is lost
            emulator.clock.advance(60)
            emulator.faults.timeout_next(1, after_execute=True, method="POST", path_contains="/customer")
        return original(self, entity, obj, request_id=request_id)

    monkeypatch.setattr(QBOClient, "sparse_update", in_flight)
    push.process(qbo)
    monkeypatch.setattr(QBOClient, "sparse_update", original)
    assert len(sends) == 2 and db.session.query(Outbox).filter_by(status="pending").count() == 1
    landed = emulator.store.read(TEST_REALM, "Customer", qbo_id)
    assert landed["PrimaryPhone"]["FreeFormNumber"] == "555-CRM"  # our write landed; we never heard
    db.session.commit()
    contact = db.session.get(Contact, contact.id)
    contact.mobile = "556-CRM"  # the CRM's edit: newer than QBO's mobile edit, older than our write's stamp
    db.session.commit()
    assert conflicts == []
    return qbo, contact, qbo_id, conflicts


def test_our_own_lost_write_does_not_make_qbo_look_newer_in_a_merge(
    app: t.Any, emulator: t.Any, connected: t.Any, monkeypatch: t.Any
) -> None:
    """The retry gets 5010 against our own write; QBO's side is dated by QBO's edit, not by our write.

    push.update.merge_with dated QBO's side by the re-read customer's LastUpdatedTime,
    which our own unanswered write had set: QBO's older mobile beat the CRM's newer one.
    """
    with app.app_context():
        qbo, contact, qbo_id, conflicts = _our_update_lands_unanswered_after_a_qbo_edit(app, emulator, monkeypatch)
        _due_now()
        push.process(qbo)
        assert [(c["field"], c["winner"]) for c in conflicts] == [("mobile", "crm")]
        assert conflicts[0]["qbo_changed_at"] < conflicts[0]["crm_changed_at"]
        assert db.session.get(Contact, contact.id).mobile == "556-CRM"
        assert db.session.query(Outbox).filter(Outbox.status != "done").count() == 0
        db.session.commit()
    assert emulator.store.read(TEST_REALM, "Customer", qbo_id)["Mobile"]["FreeFormNumber"] == "556-CRM"


def test_our_own_lost_write_pulled_back_does_not_make_qbo_look_newer(
    app: t.Any, emulator: t.Any, connected: t.Any, monkeypatch: t.Any
) -> None:
    """The same write comes back through CDC before the retry: the pull dates QBO's side the same way."""
    with app.app_context():
        qbo, contact, qbo_id, conflicts = _our_update_lands_unanswered_after_a_qbo_edit(app, emulator, monkeypatch)
        pull.poll_cdc(qbo, qbo.connection("acme"))
        assert [(c["field"], c["winner"]) for c in conflicts] == [("mobile", "crm")]
        assert db.session.get(Contact, contact.id).mobile == "556-CRM"
        db.session.commit()
        _due_now()
        push.process(qbo)
        assert db.session.query(Outbox).filter(Outbox.status != "done").count() == 0
        db.session.commit()
    assert emulator.store.read(TEST_REALM, "Customer", qbo_id)["Mobile"]["FreeFormNumber"] == "556-CRM"


def test_a_contact_made_after_a_delete_gets_its_own_customer(app: t.Any, emulator: t.Any, connected: t.Any) -> None:
    """The soak's p24/p31/p61: SQLite gave a new contact the id of the contact just deleted.

    Keys are what links, outbox rows and conflict dates are filed under, so the
    new contact inherited the deleted one's customer and its waiting
    inactivation, and its create dated another person's conflict.  Hosts must
    never reuse a key (docs/installation.rst, "Contact keys"); the test host
    declares AUTOINCREMENT, as the demo does.
    """
    with app.app_context():
        qbo = get_qbo(app)
        gone = Contact(tenant="acme", first_name="Ann", last_name="Gone", email="ann@gone.test")
        db.session.add(gone)
        db.session.commit()
        push.process(qbo)
        gone_key, gone_customer = str(gone.id), db.session.query(Customer).one().qbo_id
        db.session.delete(gone)
        db.session.commit()
        new = Contact(tenant="acme", first_name="Bea", last_name="New", email="bea@new.test")
        db.session.add(new)
        db.session.commit()
        assert str(new.id) != gone_key
        push.process(qbo)
        assert db.session.query(Customer).filter_by(contact_key=str(new.id)).one().qbo_id != gone_customer
        db.session.commit()
    names = {c["DisplayName"]: c["Active"] for c in emulator.store.list(TEST_REALM, "Customer", include_inactive=True)}
    assert names == {"Ann Gone (deleted)": False, "Bea New": True}
