"""The customer's DisplayName follows the contact's name (``QBO_DISPLAY_NAME``), kept unique.

The demo-shaped host maps no DisplayName: it is derived from the mapped names
("First Last", else the company, else the email).  Before issue 20 it was set on
create only, so renaming a contact never renamed its customer.
"""

from __future__ import annotations

import typing as t

import pytest

from flask_qbo import get_qbo
from flask_qbo.errors import QBOConfigError
from flask_qbo.models import Customer
from flask_qbo.sync.push import push
from flask_qbo.sync.push.update import follows_name
from flask_qbo.testing import TEST_REALM
from tests.hostapp import Contact
from tests.hostapp import db


@pytest.fixture
def ctx(app: t.Any, connected: t.Any) -> t.Iterator[t.Any]:
    app.config["QBO_MAX_RETRIES"] = 0
    with app.app_context():
        yield app


def drain() -> None:
    while push.process(get_qbo()) > 0:
        pass


def linked(*names: tuple[str, str]) -> list[Contact]:
    contacts = [Contact(tenant="acme", first_name=first, last_name=last) for first, last in names]
    db.session.add_all(contacts)
    db.session.commit()
    drain()
    return contacts


def customer_of(emulator: t.Any, contact: Contact) -> dict[str, t.Any]:
    link = db.session.query(Customer).filter_by(contact_key=str(contact.id)).one()
    return t.cast(dict, emulator.store.read(TEST_REALM, "Customer", link.qbo_id))


def test_renaming_a_contact_renames_its_customer(ctx: t.Any, emulator: t.Any) -> None:
    [ann] = linked(("Ann", "Lee"))
    ann.last_name = "Lee-Smith"
    db.session.commit()
    drain()
    assert customer_of(emulator, ann)["DisplayName"] == "Ann Lee-Smith"


def test_a_rename_onto_a_taken_name_gets_a_suffix_once(ctx: t.Any, emulator: t.Any) -> None:
    ann, _bo = linked(("Ann", "Lee"), ("Bo", "Chen"))
    ann.first_name, ann.last_name = "Bo", "Chen"
    db.session.commit()
    drain()
    assert customer_of(emulator, ann)["DisplayName"] == "Bo Chen (2)"
    emulator.reset_counters()
    ann.phone = "555-0100"
    db.session.commit()
    drain()
    assert emulator.counters[TEST_REALM]["writes"] == 1  # the phone only: the suffixed name is the same name
    assert customer_of(emulator, ann)["DisplayName"] == "Bo Chen (2)"


def test_create_only_never_renames(ctx: t.Any, emulator: t.Any) -> None:
    [ann] = linked(("Ann", "Lee"))
    ann.last_name = "Lee-Smith"
    db.session.commit()
    drain()
    assert customer_of(emulator, ann)["DisplayName"] == "Ann Lee-Smith"  # "follow", the default
    ctx.config["QBO_DISPLAY_NAME"] = "create_only"
    ann.last_name = "Smith"
    db.session.commit()
    drain()
    cust = customer_of(emulator, ann)
    assert (cust["DisplayName"], cust["FamilyName"]) == ("Ann Lee-Smith", "Smith")


def test_a_name_given_in_qbo_stays_until_the_contact_is_renamed(ctx: t.Any, emulator: t.Any) -> None:
    [ann] = linked(("Ann", "Lee"))
    cust = customer_of(emulator, ann)
    emulator.store.update(
        TEST_REALM,
        "Customer",
        {"Id": cust["Id"], "SyncToken": cust["SyncToken"], "DisplayName": "Lee, Ann"},
        sparse=True,
    )
    ann.phone = "555-0100"
    db.session.commit()
    drain()
    assert customer_of(emulator, ann)["DisplayName"] == "Lee, Ann"  # an unrelated edit does not undo it
    ann.first_name = "Anna"
    db.session.commit()
    drain()
    assert customer_of(emulator, ann)["DisplayName"] == "Anna Lee"


def test_renames_in_a_backlog_take_the_single_path(ctx: t.Any, emulator: t.Any) -> None:
    ctx.config["QBO_BATCH_THRESHOLD"] = 1
    contacts = linked(("Ann", "Lee"), ("Bo", "Chen"), ("Cy", "Park"))
    for contact in contacts:
        contact.last_name += "-Smith"
    db.session.commit()
    drain()
    assert [customer_of(emulator, c)["DisplayName"] for c in contacts] == [
        "Ann Lee-Smith",
        "Bo Chen-Smith",
        "Cy Park-Smith",
    ]


def test_an_unknown_mode_is_refused(ctx: t.Any) -> None:
    ctx.config["QBO_DISPLAY_NAME"] = "sometimes"
    with pytest.raises(QBOConfigError, match="QBO_DISPLAY_NAME"):
        follows_name()
