"""The core integration scenarios, run against every host shape (issue 20, item 8).

The demo-shaped host keeps first/last name and address columns on the contact;
``crm2`` has one ``name``, addresses in a related table, CSRFProtect and
Flask-Migrate.  A scenario that passes for one shape and not the other is the
extension depending on the demo's shape.
"""

from __future__ import annotations

import typing as t

import pytest

from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import pull_now
from flask_qbo.testing import push_now
from tests.connection.test_connect_support import connect_via_ui
from tests.hosts.adapter import Host
from tests.hosts.posts import assert_posts_need_the_token


@pytest.fixture
def connected(host: Host, emulator: t.Any) -> Host:
    connect_tenant(host.app, emulator, host.tenant, TEST_REALM)
    return host


def customers(emulator: t.Any) -> list[dict[str, t.Any]]:
    return emulator.store.list(TEST_REALM, "Customer", include_inactive=True)


def one_customer(emulator: t.Any) -> dict[str, t.Any]:
    [customer] = customers(emulator)
    return customer


def ann(host: Host) -> int:
    """The scenarios' contact, pushed to QuickBooks."""
    contact_id = host.new_contact("Ann Lee", "ann@example.com", phone="555-0100", line1="1 Main St", city="Springfield")
    assert push_now(host.app) == 1
    return contact_id


def test_an_admin_connects_through_the_emulator(host: Host, emulator: t.Any) -> None:
    client = host.app.test_client()
    host.login(client)
    assert connect_via_ui(client, emulator).status_code == 302
    with host.app.app_context():
        connection = get_qbo(host.app).connection(host.tenant)
        assert connection is not None
        assert (connection.status, connection.realm_id) == ("connected", TEST_REALM)


def test_a_new_contact_becomes_a_customer(connected: Host, emulator: t.Any) -> None:
    ann(connected)
    customer = one_customer(emulator)
    assert (customer["DisplayName"], customer["GivenName"], customer["FamilyName"]) == ("Ann Lee", "Ann", "Lee")
    assert customer["PrimaryEmailAddr"]["Address"] == "ann@example.com"
    assert customer["PrimaryPhone"]["FreeFormNumber"] == "555-0100"
    assert (customer["BillAddr"]["Line1"], customer["BillAddr"]["City"]) == ("1 Main St", "Springfield")


def test_a_rename_moves_the_display_name(connected: Host, emulator: t.Any) -> None:
    contact_id = ann(connected)
    connected.rename(contact_id, "Ann Smith")
    assert push_now(connected.app) == 1
    customer = one_customer(emulator)
    assert (customer["DisplayName"], customer["GivenName"], customer["FamilyName"]) == ("Ann Smith", "Ann", "Smith")


def test_an_address_edit_reaches_quickbooks(connected: Host, emulator: t.Any) -> None:
    contact_id = ann(connected)
    connected.edit_billing_city(contact_id, "Shelbyville")
    assert push_now(connected.app) == 1  # captured with the edit's own commit, whichever table holds it
    assert one_customer(emulator)["BillAddr"]["City"] == "Shelbyville"


def test_a_quickbooks_edit_comes_back(connected: Host, emulator: t.Any) -> None:
    contact_id = ann(connected)
    customer = one_customer(emulator)
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
    assert pull_now(connected.app) >= 1
    contact = connected.read(contact_id)
    assert (contact["name"], contact["phone"], contact["billing_city"]) == ("Ann Lee", "555-0199", "Capital City")
    assert contact["billing_line1"] == "1 Main St"


def test_the_widgets_render_on_the_contact_page(connected: Host, emulator: t.Any) -> None:
    contact_id = ann(connected)
    client = connected.app.test_client()
    connected.login(client)
    summary = client.get(f"/qbo/w/{contact_id}/summary")
    assert summary.status_code == 200
    assert "Ann Lee" in summary.get_data(as_text=True) and "qbo-badge--sync-linked" in summary.get_data(as_text=True)
    for widget in ("icon", "transactions"):
        assert client.get(f"/qbo/w/{contact_id}/{widget}").status_code == 200, widget


def test_posts_refuse_a_missing_token(connected: Host, emulator: t.Any) -> None:
    contact_id = ann(connected)
    client = connected.app.test_client()
    connected.login(client)
    assert_posts_need_the_token(client, contact_id)
