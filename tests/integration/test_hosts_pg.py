"""A contact's round trip on a real PostgreSQL, on every host shape (issue 20, item 8).

The same CRM user's story on ``hostapp`` (split names, address columns) and
``crm2`` (one ``name``, addresses in a related table): a new contact becomes
a customer, a rename and an edit of the stored address reach QuickBooks,
QuickBooks' edits (a rename too) come back once, and two contacts with one
name keep it in the CRM while QuickBooks keeps its display names unique.  Each expectation is what
the host's own field map sends: both maps send "Ann Lee" as GivenName "Ann",
FamilyName "Lee" and DisplayName "Ann Lee".
"""

from __future__ import annotations

import typing as t

import pytest

from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import pull_now
from flask_qbo.testing import push_now
from tests.hosts.adapter import Host
from tests.hosts.adapter import build

pytestmark = pytest.mark.postgres


@pytest.fixture
def host(pg: tuple[str, str], host_kind: str, emulator: t.Any) -> t.Iterator[Host]:
    """The host on a fresh schema, connected to the emulator's company."""
    built = build(host_kind, pg[0])
    attach_emulator(built.app, emulator)
    connect_tenant(built.app, emulator, built.tenant, TEST_REALM)
    try:
        yield built
    finally:
        built.dispose()  # the schema is dropped next: no pooled connection may hold it


def customers(emulator: t.Any) -> dict[str, dict[str, t.Any]]:
    """QuickBooks' customers by id."""
    return {c["Id"]: c for c in emulator.store.list(TEST_REALM, "Customer", include_inactive=True)}


def names(customer: dict[str, t.Any]) -> tuple[str, str, str]:
    return customer["DisplayName"], customer.get("GivenName", ""), customer.get("FamilyName", "")


def test_a_contact_round_trips_through_quickbooks(host: Host, emulator: t.Any) -> None:
    contact_id = host.new_contact("Ann Lee", "ann@example.com", phone="555-0100", line1="1 Main St", city="Springfield")
    assert push_now(host.app) == 1
    [customer] = customers(emulator).values()
    assert names(customer) == ("Ann Lee", "Ann", "Lee")
    assert (customer["BillAddr"]["Line1"], customer["BillAddr"]["City"]) == ("1 Main St", "Springfield")

    host.rename(contact_id, "Ann Smith")
    assert push_now(host.app) == 1
    assert names(customers(emulator)[customer["Id"]]) == ("Ann Smith", "Ann", "Smith")
    host.edit_billing_city(contact_id, "Shelbyville")  # crm2: the Address row alone, not the contact
    assert push_now(host.app) == 1  # captured in the edit's own commit
    customer = customers(emulator)[customer["Id"]]
    assert customer["BillAddr"]["City"] == "Shelbyville"

    emulator.store.update(
        TEST_REALM,
        "Customer",
        {
            "Id": customer["Id"],
            "SyncToken": customer["SyncToken"],
            "PrimaryPhone": {"FreeFormNumber": "555-0199"},
            "BillAddr": {**customer["BillAddr"], "City": "Capital City"},
        },
    )
    assert pull_now(host.app) >= 1
    assert host.read(contact_id) == {
        "name": "Ann Smith",
        "email": "ann@example.com",
        "phone": "555-0199",
        "billing_line1": "1 Main St",
        "billing_city": "Capital City",
    }
    assert push_now(host.app) == 0  # what came back is not an edit to send again


def test_two_contacts_with_one_name_keep_it_in_the_crm(host: Host, emulator: t.Any) -> None:
    first = host.new_contact("Ann Lee", "ann@example.com")
    second = host.new_contact("Ann Lee", "ann.lee@example.org")
    assert push_now(host.app) == 2
    display = sorted(c["DisplayName"] for c in customers(emulator).values())
    assert len(set(display)) == 2 and display[0] == "Ann Lee"  # QuickBooks' names stay unique
    assert all(names(c)[1:] == ("Ann", "Lee") for c in customers(emulator).values())
    for customer in customers(emulator).values():  # an edit in QuickBooks brings each customer back whole
        emulator.store.update(
            TEST_REALM,
            "Customer",
            {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "PrimaryPhone": {"FreeFormNumber": "555-0142"}},
        )
    assert pull_now(host.app) >= 2
    assert [host.read(first)["name"], host.read(second)["name"]] == ["Ann Lee", "Ann Lee"]
    assert [host.read(first)["phone"], host.read(second)["phone"]] == ["555-0142", "555-0142"]
    assert push_now(host.app) == 0  # no rename goes back and forth


def test_a_rename_in_quickbooks_comes_back_once(host: Host, emulator: t.Any) -> None:
    contact_id = host.new_contact("Ann Lee", "ann@example.com")
    assert push_now(host.app) == 1
    [customer] = customers(emulator).values()
    emulator.store.update(
        TEST_REALM,
        "Customer",
        {
            "Id": customer["Id"],
            "SyncToken": customer["SyncToken"],
            "DisplayName": "Ann Smith",
            "GivenName": "Ann",
            "FamilyName": "Smith",
        },
    )
    assert pull_now(host.app) >= 1
    assert host.read(contact_id)["name"] == "Ann Smith"  # crm2: the one name, from either path
    assert push_now(host.app) == 0  # nothing to send back: no churn between DisplayName and the split names
    assert names(customers(emulator)[customer["Id"]]) == ("Ann Smith", "Ann", "Smith")
