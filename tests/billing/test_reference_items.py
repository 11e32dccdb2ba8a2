"""Items kept current between reference reads: webhooks and CDC upsert ``qbo_item``."""

from __future__ import annotations

import typing as t
from decimal import Decimal

from flask_qbo.models import CompanyPrefs
from flask_qbo.models import Inbox
from flask_qbo.models import Item
from flask_qbo.models import TaxCode
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.sync.pull import items
from flask_qbo.sync.pull.apply import Applier
from flask_qbo.testing import TEST_REALM
from tests.billing.reference_support import change_item
from tests.hostapp import db
from tests.sync.pull.pull_support import poll
from tests.sync.pull.pull_support import pull
from tests.sync.pull.pull_support import route_webhooks

R = TEST_REALM


def item_row(app: t.Any, qbo_id: str) -> Item | None:
    with app.app_context():
        row = db.session.query(Item).filter_by(realm_id=R, qbo_id=qbo_id).one_or_none()
        if row is not None:
            db.session.expunge(row)
        return row


def test_an_item_webhook_creates_and_updates_the_row(app, emulator, connected):
    route_webhooks(app, emulator)
    item = change_item(emulator, Name="Lawn care", UnitPrice=30, Sku="LC")
    emulator.webhooks.flush()
    pull(app)
    row = item_row(app, item["Id"])
    assert row is not None and (row.name, row.unit_price, row.sku, row.active) == (
        "Lawn care",
        Decimal("30"),
        "LC",
        True,
    )
    change_item(emulator, item["Id"], UnitPrice=32.5, Name="Lawn care (weekly)")
    emulator.webhooks.flush()
    pull(app)
    row = item_row(app, item["Id"])
    assert row is not None and (row.name, row.unit_price, row.sync_token) == (
        "Lawn care (weekly)",
        Decimal("32.5"),
        "1",
    )


def test_an_item_delete_and_a_merge_leave_inactive_rows(app, emulator, connected):
    route_webhooks(app, emulator)
    kept = change_item(emulator, Name="Mowing")
    merged = change_item(emulator, Name="Mowing (old)")
    dropped = change_item(emulator, Name="Hedges")
    emulator.webhooks.flush()
    pull(app)
    change_item(emulator, dropped["Id"], operation="Delete", Active=False)  # QBO's delete: inactive
    del emulator.store.company(R).tables["Item"][merged["Id"]]
    change_item(emulator, kept["Id"], operation="Merge", deleted_id=merged["Id"], Name="Mowing")
    emulator.webhooks.flush()
    pull(app)
    assert item_row(app, dropped["Id"]).active is False
    assert item_row(app, merged["Id"]).active is False
    assert item_row(app, kept["Id"]).active is True


def test_an_item_event_qbo_cannot_answer_inactivates_the_mirrored_item(app, emulator, connected):
    item = change_item(emulator, Name="Snow removal")
    poll(app)
    del emulator.store.company(R).tables["Item"][item["Id"]]
    with app.app_context():
        db.session.add(
            Inbox(
                event_id="item-gone",
                realm_id=R,
                entity="Item",
                entity_id=item["Id"],
                operation="Update",
                event_time=utcnow(),
            )
        )
        db.session.commit()
    pull(app)
    assert item_row(app, item["Id"]).active is False


def test_cdc_brings_item_changes_without_a_webhook(app, emulator, connected):
    item = change_item(emulator, Name="Planting", UnitPrice=12)
    poll(app)
    assert item_row(app, item["Id"]).unit_price == Decimal("12")
    change_item(emulator, item["Id"], UnitPrice=14, Active=False)
    poll(app)
    row = item_row(app, item["Id"])
    assert row is not None and (row.unit_price, row.active) == (Decimal("14"), False)


def test_a_cdc_deleted_record_inactivates_and_an_older_version_never_overwrites(app, emulator, connected):
    new = {
        "Id": "77",
        "Name": "Seeds",
        "SyncToken": "3",
        "Active": True,
        "UnitPrice": 5,
        "MetaData": {"LastUpdatedTime": "2026-11-02T10:00:00Z"},
    }
    old = {**new, "SyncToken": "2", "UnitPrice": 4, "MetaData": {"LastUpdatedTime": "2026-11-01T10:00:00Z"}}
    with app.app_context():
        qbo = get_qbo(app)
        applier = Applier(qbo, qbo.connection("acme"))
        assert applier.apply("Item", new) is True
        assert applier.apply("Item", old) is False  # older: refused
        assert applier.apply("Item", new) is False  # the same version: nothing changed
        assert applier.apply(
            "Item", {"Id": "77", "status": "Deleted", "MetaData": {"LastUpdatedTime": "2026-11-03T10:00:00Z"}}
        )
        db.session.commit()
        assert applier.applied == 0  # reference data: the count is of customers and documents
    row = item_row(app, "77")
    assert row is not None and (row.unit_price, row.active, row.sync_token) == (Decimal("5"), False, "3")


def test_an_item_naming_an_unknown_tax_code_asks_for_a_reference_read(app, emulator, connected):
    with app.app_context():
        db.session.add(CompanyPrefs(realm_id=R, reference_read_at=utcnow()))
        db.session.add(TaxCode(realm_id=R, qbo_id="5", name="GST"))
        db.session.commit()
        items.apply_item(db.session, R, {"Id": "8", "Name": "Known", "SalesTaxCodeRef": {"value": "5"}})
        db.session.commit()
        assert db.session.query(CompanyPrefs).one().reference_read_at is not None
        items.apply_item(db.session, R, {"Id": "9", "Name": "New code", "SalesTaxCodeRef": {"value": "6"}})
        db.session.commit()
        assert db.session.query(CompanyPrefs).one().reference_read_at is None  # due at once
        assert db.session.query(Item).filter_by(qbo_id="9").one().sales_tax_code_id == "6"


def test_unit_prices_keep_seven_places_and_refuse_nonsense():
    assert items.unit_price("0.12345675") == Decimal("0.1234568")  # half-up
    assert items.unit_price(1e12) is None and items.unit_price("abc") is None and items.unit_price(True) is None
