"""A document for a contact QuickBooks does not have yet: it waits for the contact's own create, and says plainly
when it cannot be made (never as QuickBooks' refusal, since QuickBooks was not asked)."""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest

from flask_qbo import get_qbo
from flask_qbo.models import Customer
from flask_qbo.models import Document
from flask_qbo.models import ImportMatch
from flask_qbo.models import ImportRun
from flask_qbo.models import Outbox
from flask_qbo.models import OutboxOp
from flask_qbo.models import utcnow
from flask_qbo.sync.push.doc_contact import IN_REVIEW
from flask_qbo.sync.push.doc_failure import NO_CUSTOMER
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import push_now
from tests.hostapp import Contact
from tests.hostapp import db

from .docs_helpers import add_document
from .docs_helpers import invoices
from .docs_helpers import link_of
from .docs_helpers import retry_now


@pytest.fixture
def ctx(app: t.Any, connected: t.Any) -> t.Iterator[t.Any]:
    app.config["QBO_MAX_RETRIES"] = 0
    with app.app_context():
        yield app


def unsynced_contact(**kw: t.Any) -> Contact:
    """A contact with nothing queued: never edited since the company was connected (or its data purged)."""
    contact = Contact(tenant="acme", first_name="Olivia", last_name="Crane", email="olivia@crane.example", **kw)
    with get_qbo().suppress_capture():
        db.session.add(contact)
        db.session.commit()
    return contact


def customers(emulator: t.Any) -> list[dict[str, t.Any]]:
    return t.cast(list, emulator.store.list(TEST_REALM, "Customer"))


def pushed(document: Document) -> Document:
    """Push everything due, then the document as the push left it."""
    push_now()
    db.session.expire_all()
    found = db.session.get(Document, document.id)
    assert found is not None
    return found


def test_an_unsynced_contacts_invoice_queues_the_contacts_create_and_is_made(ctx: t.Any, emulator: t.Any) -> None:
    contact = unsynced_contact()
    document, row = add_document(contact)
    push_now()
    db.session.expire_all()
    [customer] = customers(emulator)
    assert customer["DisplayName"] == "Olivia Crane" and link_of(contact).qbo_id == customer["Id"]
    [invoice] = invoices(emulator)
    assert invoice["CustomerRef"]["value"] == customer["Id"]
    document = db.session.get(Document, document.id)
    assert (document.state, document.error_message) == ("created", None)
    rows = db.session.query(Outbox).order_by(Outbox.id).all()
    assert [(r.op, r.status) for r in rows] == [(OutboxOp.UPSERT, "done"), (OutboxOp.CREATE_DOC, "done")]
    assert rows[1].uuid == row.uuid and rows[1].attempts == 1  # same requestid; waiting spent no attempt


def test_after_a_purge_the_invoice_links_the_customer_quickbooks_has_instead_of_a_twin(
    ctx: t.Any, emulator: t.Any
) -> None:
    emulator.store.create(
        TEST_REALM, "Customer", {"DisplayName": "Crane & Sons", "PrimaryEmailAddr": {"Address": "olivia@crane.example"}}
    )
    contact = unsynced_contact()
    document, _ = add_document(contact)
    push_now()
    db.session.expire_all()
    [customer] = customers(emulator)  # matched by email, as the contact's own push matches
    [invoice] = invoices(emulator)
    assert invoice["CustomerRef"]["value"] == customer["Id"] == link_of(contact).qbo_id
    assert db.session.get(Document, document.id).state == "created"


def test_two_documents_wait_for_one_create_and_keep_their_order(ctx: t.Any, emulator: t.Any) -> None:
    contact = unsynced_contact()
    first, _ = add_document(contact, kind="Estimate")
    second, _ = add_document(contact)
    push_now()
    db.session.expire_all()
    assert len(customers(emulator)) == 1
    rows = db.session.query(Outbox).order_by(Outbox.id).all()
    assert [(r.op, (r.target or {}).get("document_id")) for r in rows] == [
        (OutboxOp.UPSERT, None),
        (OutboxOp.CREATE_DOC, first.id),
        (OutboxOp.CREATE_DOC, second.id),
    ]
    assert [d.state for d in db.session.query(Document).order_by(Document.id)] == ["created", "created"]


def test_a_contact_whose_own_push_failed_fails_the_document_in_plain_words(ctx: t.Any, emulator: t.Any) -> None:
    emulator.faults.fail_next(status=400, code="6000", message="Nope", method="POST", path_contains="/customer")
    contact = unsynced_contact()
    document, _ = add_document(contact)
    document = pushed(document)
    assert (document.state, document.error_code) == ("failed", NO_CUSTOMER)
    assert document.error_message == (
        "Not sent: the contact could not be added to QuickBooks ([6000] Nope). "
        "Fix the contact (its QuickBooks card shows what is wrong), then retry this invoice."
    )
    assert invoices(emulator) == [] and customers(emulator) == []


def test_a_deleted_contacts_document_is_not_sent(ctx: t.Any, emulator: t.Any) -> None:
    contact = unsynced_contact()
    document, _ = add_document(contact)
    with get_qbo().suppress_capture():
        db.session.delete(contact)
        db.session.commit()
    document = pushed(document)
    assert (document.state, document.error_code) == ("failed", NO_CUSTOMER)
    assert "the contact was deleted" in document.error_message
    assert customers(emulator) == [] and db.session.query(Outbox).filter_by(op=OutboxOp.UPSERT).count() == 0


def test_a_create_that_ended_without_a_customer_is_not_waited_for_again(ctx: t.Any, emulator: t.Any) -> None:
    contact = unsynced_contact()
    done = Outbox(tenant_key="acme", contact_key=str(contact.id), op=OutboxOp.UPSERT, status="done")
    db.session.add(done)
    db.session.commit()
    document, row = add_document(contact)
    row.target = {**row.target, "behind": done.id}  # it already went back in line behind that create
    db.session.commit()
    document = pushed(document)
    assert (document.state, document.error_code) == ("failed", NO_CUSTOMER)
    assert "ended without adding it to QuickBooks" in document.error_message
    assert db.session.query(Outbox).count() == 2 and customers(emulator) == []


def _review(contact: Contact, **match: t.Any) -> ImportMatch:
    run = ImportRun(tenant_key="acme", realm_id=TEST_REALM, status="review")
    db.session.add(run)
    db.session.flush()
    row = ImportMatch(run_id=run.id, qbo_id="77", **match)
    db.session.add(row)
    db.session.commit()
    return row


@pytest.mark.parametrize(
    "match",
    [
        pytest.param({"match_kind": "phone", "contact_key": "self"}, id="proposed"),
        pytest.param({"match_kind": "ambiguous", "contact_key": None, "candidates": ["other", "self"]}, id="candidate"),
    ],
)
def test_a_contact_the_first_syncs_review_may_link_waits_for_the_review(
    ctx: t.Any, emulator: t.Any, match: dict[str, t.Any]
) -> None:
    contact = unsynced_contact()
    key = str(contact.id)
    match = {
        k: (key if v == "self" else [key if c == "self" else c for c in v] if isinstance(v, list) else v)
        for k, v in match.items()
    }
    proposal = _review(contact, **match)
    document, row = add_document(contact)
    push_now()
    db.session.expire_all()
    assert customers(emulator) == [] and invoices(emulator) == []  # no twin of the customer the review proposes
    document = db.session.get(Document, document.id)
    assert (document.state, document.error_message) == ("sending", IN_REVIEW)
    waiting = db.session.get(Outbox, row.id)
    assert (waiting.status, waiting.attempts, waiting.last_error) == ("pending", 0, IN_REVIEW)
    assert waiting.available_at > utcnow() + dt.timedelta(seconds=30)
    assert db.session.query(Outbox).count() == 1  # the contact's create is the review's decision
    proposal.decision = "skip"
    db.session.commit()
    retry_now()
    push_now()
    db.session.expire_all()
    [invoice] = invoices(emulator)
    assert invoice["CustomerRef"]["value"] == link_of(contact).qbo_id
    document = db.session.get(Document, document.id)
    assert (document.state, document.error_message) == ("created", None)


def test_a_contact_the_review_links_sends_its_document_to_that_customer(ctx: t.Any, emulator: t.Any) -> None:
    contact = unsynced_contact()
    proposal = _review(contact, match_kind="email", contact_key=str(contact.id))
    document, _ = add_document(contact)
    push_now()
    customer = emulator.store.create(TEST_REALM, "Customer", {"DisplayName": "Crane & Sons"})
    db.session.add(Customer(realm_id=TEST_REALM, qbo_id=customer["Id"], tenant_key="acme", contact_key=str(contact.id)))
    proposal.applied = True  # what applying the review's link leaves
    db.session.commit()
    retry_now()
    push_now()
    db.session.expire_all()
    [invoice] = invoices(emulator)
    assert invoice["CustomerRef"]["value"] == customer["Id"] and len(customers(emulator)) == 1
    assert db.session.get(Document, document.id).state == "created"
