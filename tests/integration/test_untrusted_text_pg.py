"""Text from QuickBooks with control characters on a real PostgreSQL.

PostgreSQL refuses a NUL in a text column, so one customer or invoice holding
one used to fail every pull transaction of its company (webhook batches and
CDC polls alike, forever).  SQLite stores the NUL, which is why only this
database shows it.

It runs on each host shape (``host_kind``): crm2 gets the new contact through
its one ``name``; ``notes`` is a column only the demo-shaped host maps.
"""

from __future__ import annotations

import pytest

from flask_qbo import get_qbo
from flask_qbo.models import Customer
from flask_qbo.models import Transaction
from flask_qbo.sync.pull import pull
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator
from tests.hosts.adapter import build


@pytest.mark.postgres
def test_a_nul_from_quickbooks_never_wedges_the_pull(pg: tuple[str, str], host_kind: str) -> None:
    emu = make_emulator()
    host = build(host_kind, pg[0], QBO_IMPORT_NEW_CUSTOMERS=True)
    app, db = host.app, host.db
    attach_emulator(app, emu)
    connect_tenant(app, emu, host.tenant, TEST_REALM)
    customer = emu.store.create(
        TEST_REALM,
        "Customer",
        {"DisplayName": "Nul\x00 Byte", "GivenName": "N\x00ul", "FamilyName": "Byte\u202e", "Notes": "a\x00\nb"},
    )
    emu.store.create(
        TEST_REALM,
        "Invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "PrivateNote": "memo\x00 text",
            "DocNumber": "7\x00",
            "Line": [
                {"Amount": 10, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
            ],
        },
    )
    try:
        with app.app_context():
            qbo = get_qbo(app)
            assert pull.poll_cdc(qbo, qbo.connection(host.tenant)) == 2
            created = db.session.query(host.contact_model).one()
            assert host.values(created)["name"] == "Nul Byte"
            if host_kind == "hostapp":  # crm2 has no notes field
                assert (created.first_name, created.last_name, created.notes) == ("Nul", "Byte", "a\nb")
            assert db.session.query(Customer).one().display_name == "Nul Byte"
            invoice = db.session.query(Transaction).one()
            assert (invoice.doc_number, invoice.memo) == ("7", "memo text")
    finally:
        host.dispose()  # the schema is dropped next: no pooled connection may hold it
