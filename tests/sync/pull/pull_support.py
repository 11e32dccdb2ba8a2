"""Helpers shared by the pull, webhook, mirror and import tests."""

from __future__ import annotations

import typing as t

import requests

from flask_qbo.emulator import WSGIAdapter
from flask_qbo.models import Inbox
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from tests.hostapp import Contact
from tests.hostapp import db

CRM_URL = "http://crm.test"


def route_webhooks(app: t.Any, emu: t.Any, **knobs: t.Any) -> None:
    """Deliver the emulator's webhooks to ``app`` in-process (no socket)."""
    session = requests.Session()
    session.mount(CRM_URL, WSGIAdapter(app))
    emu.webhooks.session = session
    emu.webhooks.configure(
        url=f"{CRM_URL}/qbo/webhooks", verifier_token=app.config["QBO_WEBHOOK_VERIFIER_TOKEN"], **knobs
    )


def add_customer(emu: t.Any, realm: str = TEST_REALM, **fields: t.Any) -> dict[str, t.Any]:
    fields.setdefault("DisplayName", f"{fields.get('GivenName', 'Ann')} {fields.get('FamilyName', 'Lee')}")
    return emu.store.create(realm, "Customer", fields)


def pending_event(n: int = 1, entity: str = "Customer") -> int:
    """One pending webhook event for the connected realm, naming a customer QBO does not have; its id."""
    row = Inbox(
        event_id=f"e{n}",
        realm_id=TEST_REALM,
        entity=entity,
        entity_id=str(900 + n),
        operation="Update",
        event_time=utcnow(),
    )
    db.session.add(row)
    db.session.commit()
    return row.id


def add_invoice(
    emu: t.Any, customer_id: str, amount: float = 100.0, realm: str = TEST_REALM, **fields: t.Any
) -> dict[str, t.Any]:
    body = {
        "CustomerRef": {"value": customer_id},
        "Line": [
            {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
        ],
        **fields,
    }
    return emu.store.create(realm, "Invoice", body)


def pull(app: t.Any) -> int:
    """Run one inbox pass inside an app context."""
    from flask_qbo.sync.pull import pull as pull_mod

    with app.app_context():
        return pull_mod.process(get_qbo(app))


def poll(app: t.Any, tenant: str = "acme") -> int:
    from flask_qbo.sync.pull import pull as pull_mod

    with app.app_context():
        qbo = get_qbo(app)
        return pull_mod.poll_cdc(qbo, qbo.connection(tenant))


def make_contact(app: t.Any, **values: t.Any) -> int:
    """Create a contact with capture suppressed (no outbox row); returns its id."""
    from flask_qbo.sync.capture import suppress_capture

    with app.app_context():
        with suppress_capture():
            contact = Contact(tenant=values.pop("tenant", "acme"), **values)
            db.session.add(contact)
        db.session.commit()
        return int(contact.id)


def missing_customer_events(app: t.Any, how_many: int, first_id: int = 5_000_000, realm: str = TEST_REALM) -> None:
    """Pending inbox events for customers QBO never had: a flood, as a sender with the verifier key could make."""
    from flask_qbo.models import Inbox
    from flask_qbo.models import utcnow

    with app.app_context():
        db.session.add_all(
            Inbox(
                event_id=f"flood-{first_id + i}",
                realm_id=realm,
                entity="Customer",
                entity_id=str(first_id + i),
                operation="Update",
                event_time=utcnow(),
            )
            for i in range(how_many)
        )
        db.session.commit()


def linked_contact(app: t.Any, emu: t.Any, tenant: str = "acme") -> tuple[int, str]:
    """A contact linked to a QBO customer as a finished sync leaves it; returns (contact id, customer id)."""
    from flask_qbo.sync.payload import customer_hash
    from flask_qbo.sync.payload import qbo_values
    from flask_qbo.sync.pull import mirror

    customer = add_customer(emu, GivenName="Watch", FamilyName="Push")
    with app.app_context():
        qbo = get_qbo(app)
        with qbo.suppress_capture():
            contact = Contact(tenant=tenant, first_name="Watch", last_name="Push")
            db.session.add(contact)
        db.session.commit()
        row = mirror.upsert_customer(db.session, qbo.connection(tenant), customer, contact_key=str(contact.id))
        row.synced_values = qbo_values(customer, qbo._registration().fields)
        row.last_pulled_hash = customer_hash(row.synced_values)
        db.session.commit()
        return int(contact.id), str(customer["Id"])


def edit_phone(app: t.Any, contact_id: int, phone: str) -> None:
    """A CRM edit of a synced field, committed (captured into the outbox)."""
    with app.app_context():
        db.session.get(Contact, contact_id).phone = phone
        db.session.commit()


def phone_in_qbo(emu: t.Any, customer_id: str, realm: str = TEST_REALM) -> str | None:
    return (emu.store.read(realm, "Customer", customer_id).get("PrimaryPhone") or {}).get("FreeFormNumber")
