"""Push engine against the in-process emulator."""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest

from flask_qbo import get_qbo
from flask_qbo import signals
from flask_qbo.models import Customer
from flask_qbo.models import Outbox
from flask_qbo.models import SyncLog
from flask_qbo.models import utcnow
from flask_qbo.sync.push import push
from flask_qbo.sync.queue import LEASE
from flask_qbo.sync.queue import OUTBOX
from flask_qbo.testing import TEST_REALM
from tests.hostapp import Contact
from tests.hostapp import db


@pytest.fixture
def ctx(app: t.Any, connected: t.Any) -> t.Iterator[t.Any]:
    app.config["QBO_MAX_RETRIES"] = 0
    with app.app_context():
        yield app


def customers(emulator: t.Any) -> list[dict[str, t.Any]]:
    return emulator.store.list(TEST_REALM, "Customer", include_inactive=True)


def new_contact(**kw: t.Any) -> Contact:
    kw.setdefault("first_name", "Ann")
    kw.setdefault("last_name", "Lee")
    contact = Contact(tenant="acme", **kw)
    db.session.add(contact)
    db.session.commit()
    return contact


def drain() -> int:
    total = 0
    while (n := push.process(get_qbo())) > 0:
        total += n
    return total


def statuses() -> list[str]:
    return [o.status for o in db.session.query(Outbox).order_by(Outbox.id)]


def test_create_update_and_signal(ctx: t.Any, emulator: t.Any) -> None:
    seen: list[dict[str, t.Any]] = []
    signals.pushed.connect(lambda sender, **kw: seen.append(kw), ctx, weak=False)
    contact = new_contact(email="ann@example.com")
    assert drain() == 1
    [cust] = customers(emulator)
    assert (cust["DisplayName"], cust["PrimaryEmailAddr"]["Address"]) == ("Ann Lee", "ann@example.com")
    link = db.session.query(Customer).one()
    assert (link.contact_key, link.sync_status, link.qbo_id) == (str(contact.id), "synced", cust["Id"])
    contact.phone = "555-1000"
    db.session.commit()
    drain()
    assert customers(emulator)[0]["PrimaryPhone"]["FreeFormNumber"] == "555-1000"
    assert [s["operation"] for s in seen] == ["created", "updated"]
    assert statuses() == ["done", "done"]


def test_two_edits_before_processing_make_one_request(ctx: t.Any, emulator: t.Any) -> None:
    contact = new_contact()
    drain()
    emulator.reset_counters()
    contact.phone = "1"
    db.session.commit()
    contact.phone = "2"
    db.session.commit()
    assert drain() == 1
    assert emulator.counters[TEST_REALM]["writes"] == 1
    assert customers(emulator)[0]["PrimaryPhone"]["FreeFormNumber"] == "2"


def test_unchanged_contact_sends_nothing(ctx: t.Any, emulator: t.Any) -> None:
    contact = new_contact()
    drain()
    emulator.reset_counters()
    push.request_sync(contact)
    drain()
    assert emulator.counters[TEST_REALM]["requests"] == 0


def test_control_characters_are_stripped_and_the_echo_changes_nothing(ctx: t.Any, emulator: t.Any) -> None:
    """QBO receives clean text; the contact keeps what it holds and is never pushed again for it."""
    from flask_qbo.sync.pull import pull

    contact = new_contact(first_name="A\u202enn", notes="line one\x00\r\nline two\x1b", email="ann\u200b@example.com")
    assert drain() == 1
    [cust] = customers(emulator)
    assert (cust["DisplayName"], cust["GivenName"], cust["PrimaryEmailAddr"]["Address"], cust["Notes"]) == (
        "Ann Lee",
        "Ann",
        "ann@example.com",
        "line one\nline two",
    )
    qbo = get_qbo()
    pull.poll_cdc(qbo, qbo.connection("acme"))  # our own push comes back
    db.session.refresh(contact)
    assert contact.first_name == "A\u202enn" and contact.notes == "line one\x00\r\nline two\x1b"
    emulator.reset_counters()
    contact.notes = "line one\x00\x07\nline two"  # differs only by stripped characters
    db.session.commit()
    push.request_sync(contact)
    drain()
    assert emulator.counters[TEST_REALM]["writes"] == 0
    assert db.session.query(Outbox).filter(Outbox.status != "done").count() == 0


def test_matches_by_email_and_reactivates_deleted(ctx: t.Any, emulator: t.Any) -> None:
    emulator.store.create(TEST_REALM, "Customer", {"DisplayName": "Ann Lee", "PrimaryEmailAddr": {"Address": "a@x.io"}})
    old = customers(emulator)[0]
    emulator.store.update(TEST_REALM, "Customer", {"Id": old["Id"], "SyncToken": old["SyncToken"], "Active": False})
    new_contact(email="a@x.io")
    drain()
    [cust] = customers(emulator)
    assert cust["Active"] is True and cust["DisplayName"] == "Ann Lee"
    assert db.session.query(SyncLog).filter_by(action="reactivated").count() == 1


def test_duplicate_name_gets_a_suffix(ctx: t.Any, emulator: t.Any) -> None:
    emulator.store.create(TEST_REALM, "Customer", {"DisplayName": "Ann Lee", "PrimaryEmailAddr": {"Address": "o@x.io"}})
    new_contact(email="ann@example.com")
    drain()
    names = sorted(c["DisplayName"] for c in customers(emulator))
    assert names == ["Ann Lee", "Ann Lee (2)"]


def test_timeout_after_create_never_duplicates(ctx: t.Any, emulator: t.Any) -> None:
    emulator.faults.timeout_next(after_execute=True, method="POST", path_contains="/customer")
    new_contact()  # no email: only the requestid replay or the name match can save us
    drain()
    row = db.session.query(Outbox).one()
    assert row.status == "pending" and row.attempts == 1
    row.available_at = utcnow()
    db.session.commit()
    drain()
    assert len(customers(emulator)) == 1
    assert statuses() == ["done"]


def test_crash_between_claim_and_response_is_reclaimed(ctx: t.Any, emulator: t.Any) -> None:
    contact = new_contact(email="c@x.io")
    row = db.session.query(Outbox).one()
    qbo = get_qbo()
    # A worker claims the row, QBO applies the create, the worker dies before commit.
    assert OUTBOX.claim(db.session, row.id, utcnow(), "dead-worker")
    client = qbo.client(qbo.connection("acme"))
    client.create("Customer", {"DisplayName": "Ann Lee", "GivenName": "Ann"}, request_id=row.uuid)
    assert drain() == 0  # claim still within its lease
    db.session.query(Outbox).update({"claimed_at": utcnow() - LEASE - dt.timedelta(seconds=1)})
    db.session.commit()
    assert drain() == 1
    assert len(customers(emulator)) == 1
    assert db.session.query(Customer).one().contact_key == str(contact.id)


def test_create_uses_row_uuid_as_requestid(ctx: t.Any, emulator: t.Any, monkeypatch: t.Any) -> None:
    from flask_qbo.intuit.client import QBOClient

    sent: list[str | None] = []
    original = QBOClient.create

    def spy(self: t.Any, entity: str, obj: dict, request_id: str | None = None) -> dict:
        sent.append(request_id)
        return original(self, entity, obj, request_id=request_id)

    monkeypatch.setattr(QBOClient, "create", spy)
    new_contact()
    row_uuid = db.session.query(Outbox).one().uuid
    drain()
    assert sent == [row_uuid]


def test_edit_during_push_is_not_lost(ctx: t.Any, emulator: t.Any, monkeypatch: t.Any) -> None:
    contact = new_contact()
    drain()
    from flask_qbo.intuit.client import QBOClient

    original = QBOClient.sparse_update

    def edit_meanwhile(self: t.Any, entity: str, obj: dict, request_id: str | None = None) -> dict:
        monkeypatch.setattr(QBOClient, "sparse_update", original)
        with ctx.app_context():  # another request edits the contact while ours is in flight
            other = db.session.get(Contact, contact.id)
            other.phone = "second"
            db.session.commit()
        return original(self, entity, obj, request_id=request_id)

    contact.phone = "first"
    db.session.commit()
    monkeypatch.setattr(QBOClient, "sparse_update", edit_meanwhile)
    drain()
    assert customers(emulator)[0]["PrimaryPhone"]["FreeFormNumber"] == "second"
    assert statuses() == ["done", "done", "done"]


def test_pulled_change_does_not_echo(ctx: t.Any, emulator: t.Any) -> None:
    contact = new_contact()
    drain()
    with get_qbo().suppress_capture():
        contact.notes = "written by pull"
    db.session.commit()
    assert db.session.query(Outbox).filter_by(status="pending").count() == 0


@pytest.mark.parametrize(("policy", "expected_notes"), [("crm", "crm"), ("qbo", "qbo"), ("newest", "qbo")])
def test_stale_synctoken_merges_per_policy(ctx: t.Any, emulator: t.Any, policy: str, expected_notes: str) -> None:
    ctx.config["QBO_CONFLICT_POLICY"] = policy
    conflicts: list[dict[str, t.Any]] = []
    signals.conflict.connect(lambda sender, **kw: conflicts.append(kw), ctx, weak=False)
    contact = new_contact(notes="base")
    drain()
    contact.notes = "crm"
    contact.phone = "crm-phone"
    db.session.commit()
    emulator.clock.advance(60)  # QBO's edit is the newer one
    cust = customers(emulator)[0]
    emulator.store.update(
        TEST_REALM,
        "Customer",
        {"Id": cust["Id"], "SyncToken": cust["SyncToken"], "Notes": "qbo", "CompanyName": "QBO Co"},
    )
    drain()
    cust = customers(emulator)[0]
    db.session.refresh(contact)
    assert cust["Notes"] == contact.notes == expected_notes
    assert cust["PrimaryPhone"]["FreeFormNumber"] == contact.phone == "crm-phone"
    assert cust["CompanyName"] == contact.company == "QBO Co"
    log = db.session.query(SyncLog).filter_by(action="conflict").one()
    entry = log.conflict["notes"]
    assert {k: entry[k] for k in ("crm", "qbo", "winner")} == {"crm": "crm", "qbo": "qbo", "winner": expected_notes}
    assert entry["crm_at"] and entry["qbo_at"]  # the two times newest-wins compared
    assert conflicts[-1]["crm_changed_at"] is not None and conflicts[-1]["qbo_changed_at"] is not None
    assert conflicts and conflicts[-1]["field"] == "notes"
    assert db.session.query(Outbox).filter_by(status="pending").count() == 0  # write-back did not echo


def test_validation_fault_shown_then_retried_after_fix(ctx: t.Any, emulator: t.Any) -> None:
    failures: list[t.Any] = []
    signals.sync_failed.connect(lambda sender, **kw: failures.append(kw), ctx, weak=False)
    contact = new_contact()
    drain()
    emulator.faults.fail_next(
        status=400, code="2050", message="Invalid value", path_contains="/customer", method="POST", element="Notes"
    )
    contact.notes = "rejected"
    db.session.commit()
    drain()
    row = db.session.query(Outbox).order_by(Outbox.id.desc()).first()
    link = db.session.query(Customer).one()
    assert (row.status, row.error_code) == ("failed", "2050")
    assert link.sync_status == "failed" and "Invalid value" in link.sync_error
    assert failures and failures[0]["contact_key"] == str(contact.id)
    contact.notes = "fixed"
    db.session.commit()
    drain()
    assert customers(emulator)[0]["Notes"] == "fixed"
    db.session.refresh(link)
    assert link.sync_status == "synced"


def test_preflight_failure_and_retry(ctx: t.Any, emulator: t.Any) -> None:
    new_contact(email="broken")
    drain()
    row = db.session.query(Outbox).one()
    assert row.status == "failed" and "email" in row.last_error
    assert customers(emulator) == []
    assert push.retry(row.id, "globex") is False
    assert push.retry_all("acme") == 1
    assert db.session.query(Outbox).one().status == "pending"


def test_rate_limit_backs_off(ctx: t.Any, emulator: t.Any) -> None:
    new_contact()
    emulator.faults.fail_next(n=1, status=429)
    drain()
    row = db.session.query(Outbox).one()
    assert row.status == "pending" and row.error_code == "3001"
    assert row.available_at > utcnow()
    assert push.next_due_in() > 0
    row.available_at = utcnow()
    db.session.commit()
    drain()
    assert len(customers(emulator)) == 1


def test_server_error_backs_off_exponentially(ctx: t.Any, emulator: t.Any) -> None:
    new_contact()
    # The release happened between ``before`` and ``after``, so the backoff it chose lies
    # between ``available_at - after`` and ``available_at - before``, however slow the drain.
    bounds = []
    for _ in range(3):
        emulator.faults.fail_next(status=503)
        before = utcnow()
        drain()
        after = utcnow()
        row = db.session.query(Outbox).one()
        bounds.append(((row.available_at - after).total_seconds(), (row.available_at - before).total_seconds()))
        row.available_at = utcnow()
        db.session.commit()
    assert bounds[0][0] <= 1.0 + 1e-3
    assert bounds[2][1] >= 1.0 and bounds[2][0] <= 4.0 + 1e-3
    assert row.attempts == 3


def test_auth_failure_keeps_row_and_marks_reconnect(ctx: t.Any, emulator: t.Any) -> None:
    new_contact()
    emulator.revoke_tokens(TEST_REALM)
    emulator.expire_access_tokens(TEST_REALM)
    drain()
    row = db.session.query(Outbox).one()
    assert row.status == "pending"
    assert get_qbo().connection("acme").status == "needs_reconnect"
    assert customers(emulator) == []


def test_disconnected_tenant_rows_wait(app: t.Any, emulator: t.Any) -> None:
    with app.app_context():
        new_contact()
        assert push.process(get_qbo()) == 0
        assert statuses() == ["pending"]


def test_rows_of_a_connection_waiting_for_a_reconnect_wait_too(ctx: t.Any, emulator: t.Any) -> None:
    """A kept connection that is not connected is no tenant sync may push for: its rows are not even counted."""
    new_contact()
    connection = get_qbo().connection("acme")
    connection.status = "needs_reconnect"
    db.session.commit()
    assert push.process(get_qbo()) == 0
    assert push.due_count(get_qbo()) == 0
    assert push.next_due_in(get_qbo()) is None
    [row] = db.session.query(Outbox).all()
    assert (row.status, row.attempts) == ("pending", 0)
    assert customers(emulator) == []


def test_delete_inactivates_customer(ctx: t.Any, emulator: t.Any) -> None:
    contact = new_contact()
    drain()
    db.session.delete(contact)
    db.session.commit()
    drain()
    [cust] = customers(emulator)
    assert cust["Active"] is False and cust["DisplayName"].endswith("(deleted)")


def test_archived_maps_to_inactive_and_back(ctx: t.Any, emulator: t.Any) -> None:
    contact = new_contact()
    drain()
    contact.archived = True
    db.session.commit()
    drain()
    assert customers(emulator)[0]["Active"] is False
    contact.archived = False
    db.session.commit()
    drain()
    assert customers(emulator)[0]["Active"] is True


def test_backlog_goes_through_batch(ctx: t.Any, emulator: t.Any) -> None:
    contacts = [new_contact(first_name=f"P{i}") for i in range(40)]
    drain()
    assert len(customers(emulator)) == 40
    emulator.reset_counters()
    for i, contact in enumerate(contacts):
        contact.phone = f"555-{i:04d}"
    db.session.commit()
    drain()
    counters = emulator.counters[TEST_REALM]
    assert counters["batch"] == 2 and counters["requests"] == 2
    phones = sorted(c["PrimaryPhone"]["FreeFormNumber"] for c in customers(emulator))
    assert phones == sorted(f"555-{i:04d}" for i in range(40))
    assert set(statuses()) == {"done"}


def _lose_the_create_answer(emulator: t.Any, **contact: t.Any) -> Contact:
    """A create QBO applies but whose answer never arrives; the row waits for its retry."""
    emulator.faults.timeout_next(after_execute=True, method="POST", path_contains="/customer")
    made = new_contact(**contact)
    drain()
    row = db.session.query(Outbox).one()
    assert row.status == "pending" and row.create_sent["DisplayName"] == "Ann Lee"
    assert len(customers(emulator)) == 1  # QBO did create it
    return made


def _retry_now() -> None:
    db.session.query(Outbox).filter(Outbox.status == "pending").update({"available_at": utcnow()})
    db.session.commit()
    drain()


def test_lost_create_answer_then_edits_on_both_sides_merge(ctx: t.Any, emulator: t.Any) -> None:
    made = _lose_the_create_answer(emulator, email="ann@x.io", notes="as sent")
    (qbo_customer,) = customers(emulator)
    emulator.store.update(
        TEST_REALM,
        "Customer",
        {"Id": qbo_customer["Id"], "SyncToken": qbo_customer["SyncToken"], "Notes": "edited in QuickBooks"},
        sparse=True,
    )
    made.phone = "555-0100"
    db.session.commit()
    _retry_now()
    (after,) = customers(emulator)
    assert after["Notes"] == "edited in QuickBooks"  # QBO's edit survived
    assert after["PrimaryPhone"]["FreeFormNumber"] == "555-0100"  # the CRM edit arrived
    assert db.session.get(Contact, made.id).notes == "edited in QuickBooks"  # and came back to the CRM
    assert set(statuses()) == {"done"}


def test_lost_create_answer_then_crm_delete_inactivates_it(ctx: t.Any, emulator: t.Any) -> None:
    made = _lose_the_create_answer(emulator)
    db.session.delete(made)
    db.session.commit()
    _retry_now()
    (after,) = customers(emulator)
    assert after["Active"] is False and after["DisplayName"] == "Ann Lee (deleted)"
    assert set(statuses()) == {"done"}
