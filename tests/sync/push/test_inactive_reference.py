"""A 610 about an inactive reference tells the contact what to fix; a plain 610 stays "not found"."""

from __future__ import annotations

import typing as t

import pytest

from flask_qbo import get_qbo
from flask_qbo.errors import QBOInactiveReferenceError
from flask_qbo.errors import QBONotFoundError
from flask_qbo.models import Customer
from flask_qbo.models import Outbox
from flask_qbo.models import OutboxStatus
from flask_qbo.models import SyncLog
from flask_qbo.models import SyncStatus
from flask_qbo.sync.payload import customer_hash
from flask_qbo.sync.payload import qbo_values
from flask_qbo.sync.pull import mirror
from flask_qbo.sync.push import push
from flask_qbo.sync.push.explain import failure_message
from flask_qbo.testing import TEST_REALM
from tests.hostapp import Contact
from tests.hostapp import db

R = TEST_REALM
#: Intuit's 610 detail, word for word: it names neither the record nor the field.
INTUIT_610 = (
    "Object Not Found : Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)


@pytest.fixture
def ctx(app: t.Any, connected: t.Any) -> t.Iterator[t.Any]:
    app.config["QBO_MAX_RETRIES"] = 0
    with app.app_context():
        yield app


def linked_with_term(emulator: t.Any, *, mirror_term: bool) -> tuple[Contact, dict[str, t.Any], dict[str, t.Any]]:
    """A contact linked to a customer on the payment term "Net 17", which is then made inactive in QBO."""
    term = emulator.store.create(R, "Term", {"Name": "Net 17", "DueDays": 17})
    customer = emulator.store.create(
        R, "Customer", {"DisplayName": "Ann Lee", "GivenName": "Ann", "SalesTermRef": {"value": term["Id"]}}
    )
    term = emulator.store.update(
        R, "Term", {"Id": term["Id"], "SyncToken": term["SyncToken"], "Active": False}, sparse=True
    )
    qbo = get_qbo()
    with qbo.suppress_capture():
        contact = Contact(tenant="acme", first_name="Ann", last_name="Lee")
        db.session.add(contact)
    db.session.commit()
    row = mirror.upsert_customer(db.session, qbo.connection("acme"), customer, contact_key=str(contact.id))
    row.synced_values = qbo_values(customer, qbo._registration().fields)
    row.last_pulled_hash = customer_hash(row.synced_values)
    if mirror_term:  # pull saw the term made inactive
        mirror.store_ref_item(db.session, R, "Term", term)
    db.session.commit()
    return contact, customer, term


def push_an_edit(contact: Contact) -> Customer:
    contact.phone = "555-0101"
    db.session.commit()
    while push.process(get_qbo()) > 0:
        pass
    return db.session.query(Customer).filter_by(contact_key=str(contact.id)).one()


def test_an_inactive_payment_term_is_named_on_the_contact(ctx: t.Any, emulator: t.Any) -> None:
    contact, customer, term = linked_with_term(emulator, mirror_term=True)
    link = push_an_edit(contact)
    assert link.sync_status == SyncStatus.FAILED
    assert link.sync_error.startswith(f'The payment term "Net 17" (id {term["Id"]}) is inactive in QuickBooks.')
    assert "Make it active again in QuickBooks" in link.sync_error
    assert "QuickBooks error 610" in link.sync_error  # Intuit's words stay, for support
    outbox = db.session.query(Outbox).one()
    assert outbox.status == OutboxStatus.FAILED and outbox.error_code == "610"
    assert outbox.last_error == link.sync_error
    assert db.session.query(SyncLog).filter_by(action="failed").one().message == link.sync_error
    assert link.qbo_id == customer["Id"] and link.contact_key == str(contact.id)  # still linked: nothing relinked


def test_a_term_the_mirror_never_saw_inactive_is_still_named(ctx: t.Any, emulator: t.Any) -> None:
    """Intuit's detail names nothing (nor does the emulator's): the customer's own references are listed."""
    contact, _, term = linked_with_term(emulator, mirror_term=False)
    link = push_an_edit(contact)
    assert link.sync_error.startswith(
        f'Something this customer refers to is inactive in QuickBooks: check the payment term "Net 17" '
        f"(id {term['Id']}), and the customer itself."
    )
    assert link.sync_error.endswith(f"(QuickBooks error 610: {INTUIT_610})")


def test_a_customer_the_mirror_knows_merged_away_is_named(ctx: t.Any, emulator: t.Any) -> None:
    contact, customer, _ = linked_with_term(emulator, mirror_term=False)
    link = db.session.query(Customer).filter_by(contact_key=str(contact.id)).one()
    link.merged_into = "99"
    error = QBOInactiveReferenceError("Object Not Found", code="610", detail=INTUIT_610)
    assert failure_message(db.session, link, error).startswith(
        f"This customer (id {customer['Id']}) is inactive in QuickBooks, or was deleted or merged there."
    )


def test_intuits_generic_detail_lists_what_the_customer_refers_to(ctx: t.Any, emulator: t.Any) -> None:
    contact, _, term = linked_with_term(emulator, mirror_term=False)
    link = db.session.query(Customer).filter_by(contact_key=str(contact.id)).one()
    error = QBOInactiveReferenceError(
        "Object Not Found",
        code="610",
        detail=INTUIT_610,
    )
    assert failure_message(db.session, link, error).startswith(
        f'Something this customer refers to is inactive in QuickBooks: check the payment term "Net 17" (id {term["Id"]}), and the customer itself.'
    )
    mirror.store_ref_item(db.session, R, "Term", emulator.store.read(R, "Term", term["Id"]))
    assert failure_message(db.session, link, error).startswith(
        f'The payment term "Net 17" (id {term["Id"]}) is inactive'
    )


def test_the_field_intuit_names_decides(ctx: t.Any, emulator: t.Any) -> None:
    contact, _, term = linked_with_term(emulator, mirror_term=False)
    link = db.session.query(Customer).filter_by(contact_key=str(contact.id)).one()
    error = QBOInactiveReferenceError("Object Not Found", code="610", element="SalesTermRef", detail="made inactive")
    assert failure_message(db.session, link, error).startswith(
        f'The payment term "Net 17" (id {term["Id"]}) is inactive'
    )
    unknown = QBOInactiveReferenceError("Invalid Reference Id", code="2500", detail="Invalid Reference Id : ClassRef")
    assert failure_message(db.session, link, unknown).startswith(
        "The class this customer refers to (ClassRef) is inactive"
    )
    plain = QBONotFoundError(
        "Object Not Found", code="610", detail="Object Not Found : Another user has deleted this transaction."
    )
    assert failure_message(db.session, link, plain) == str(plain)


def test_without_any_known_reference_the_message_still_says_what_to_check(ctx: t.Any) -> None:
    error = QBOInactiveReferenceError("Object Not Found", code="610", detail="Something ... has been made inactive.")
    message = failure_message(db.session, None, error)
    assert message.startswith("Something this customer refers to (a payment term, payment method, parent customer")
    assert "made inactive or merged" in message


def test_the_customer_itself_named_in_the_detail(ctx: t.Any, emulator: t.Any) -> None:
    """A detail that names the customer written to (Intuit's does not; some gateways' may): the message says so."""
    contact, customer, _ = linked_with_term(emulator, mirror_term=True)
    link = db.session.query(Customer).filter_by(contact_key=str(contact.id)).one()
    error = QBOInactiveReferenceError(
        "Object Not Found", code="610", detail=f"... has been made inactive. (Customer {customer['Id']})"
    )
    assert failure_message(db.session, link, error).startswith(
        f"This customer (id {customer['Id']}) is inactive in QuickBooks, or was deleted or merged there."
    )
