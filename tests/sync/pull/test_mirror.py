"""The mirror: every card column filled, statuses derived, newest wins, merges and overdue sums."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from flask_qbo.intuit import times
from flask_qbo.models import Connection
from flask_qbo.models import RefItem
from flask_qbo.models import metadata
from flask_qbo.sync.pull import docstatus
from flask_qbo.sync.pull import mirror

TODAY = dt.date(2025, 6, 1)


@pytest.fixture
def session():
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with Session(engine) as s:
        s.add(Connection(tenant_key="acme", realm_id="1", status="connected"))
        s.flush()
        yield s


def conn(session):
    return session.query(Connection).one()


FULL = {
    "Id": "2",
    "SyncToken": "4",
    "DisplayName": "Bill's Windsurf Shop",
    "GivenName": "Bill",
    "FamilyName": "Lucchini",
    "CompanyName": "Bill's Windsurf Shop",
    "PrimaryEmailAddr": {"Address": "Surf@Intuit.com"},
    "PrimaryPhone": {"FreeFormNumber": "(415) 444-6538"},
    "Active": True,
    "Job": True,
    "ParentRef": {"value": "1", "name": "Parent Co"},
    "SalesTermRef": {"value": "3"},
    "PaymentMethodRef": {"value": "2", "name": "Check"},
    "PreferredDeliveryMethod": "Email",
    "Balance": 85.0,
    "BalanceWithJobs": 120.5,
    "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
    "Taxable": False,
    "ResaleNum": "R-1",
    "MetaData": {"CreateTime": "2014-09-11T16:49:28-07:00", "LastUpdatedTime": "2014-09-18T12:56:01-0700"},
}


def test_upsert_customer_fills_every_card_column(session):
    session.add(RefItem(realm_id="1", kind="Term", qbo_id="3", name="Net 30"))
    row = mirror.upsert_customer(session, conn(session), FULL, contact_key="77")
    assert (row.tenant_key, row.realm_id, row.qbo_id, row.contact_key, row.sync_token) == ("acme", "1", "2", "77", "4")
    assert (row.display_name, row.given_name, row.family_name, row.email, row.phone) == (
        "Bill's Windsurf Shop",
        "Bill",
        "Lucchini",
        "Surf@Intuit.com",
        "(415) 444-6538",
    )
    assert (row.is_job, row.parent_qbo_id, row.parent_name) == (True, "1", "Parent Co")
    assert (row.terms_id, row.terms_name, row.payment_method_id, row.payment_method_name) == (
        "3",
        "Net 30",
        "2",
        "Check",
    )
    assert (row.delivery_method, row.balance, row.balance_with_jobs) == ("Email", Decimal("85.00"), Decimal("120.50"))
    assert (row.currency, row.taxable, row.resale_num, row.active) == ("USD", False, "R-1", True)
    assert row.qbo_created_at == dt.datetime(2014, 9, 11, 23, 49, 28, tzinfo=dt.timezone.utc)
    assert row.qbo_updated_at == dt.datetime(2014, 9, 18, 19, 56, 1, tzinfo=dt.timezone.utc)
    assert row.raw["Id"] == "2"


def test_link_kept_unless_unlink_and_stale_versions_ignored(session):
    row = mirror.upsert_customer(session, conn(session), FULL, contact_key="77")
    mirror.upsert_customer(session, conn(session), dict(FULL, SyncToken="5", DisplayName="Renamed"))
    assert (row.contact_key, row.display_name) == ("77", "Renamed")
    mirror.upsert_customer(session, conn(session), dict(FULL, SyncToken="3", DisplayName="Older"))
    assert row.display_name == "Renamed"
    mirror.upsert_customer(session, conn(session), dict(FULL, SyncToken="6"), unlink=True)
    assert row.contact_key is None


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2015-10-05T14:42:19-0700", dt.datetime(2015, 10, 5, 21, 42, 19, tzinfo=dt.timezone.utc)),
        ("2025-09-08T20:52:31.657Z", dt.datetime(2025, 9, 8, 20, 52, 31, 657000, tzinfo=dt.timezone.utc)),
        ("2025-09-10T21:31:25.179851517Z", dt.datetime(2025, 9, 10, 21, 31, 25, 179851, tzinfo=dt.timezone.utc)),
        ("garbage", None),
        (None, None),
    ],
)
def test_parse_time_formats(text, expected):
    assert times.parse_time(text) == expected


@pytest.mark.parametrize(
    "entity,data,status",
    [
        ("Invoice", {"TotalAmt": 0, "Balance": 0, "PrivateNote": "Voided - x"}, "void"),
        ("Invoice", {"TotalAmt": 100, "Balance": 0}, "paid"),
        ("Invoice", {"TotalAmt": 100, "Balance": 40, "DueDate": "2030-01-01"}, "partially_paid"),
        ("Invoice", {"TotalAmt": 100, "Balance": 100, "DueDate": "2025-05-31"}, "overdue"),
        ("Invoice", {"TotalAmt": 100, "Balance": 100, "DueDate": "2025-06-01"}, "open"),
        ("Payment", {"TotalAmt": 50, "UnappliedAmt": 10}, "unapplied"),
        ("Payment", {"TotalAmt": 50, "UnappliedAmt": 0}, "applied"),
        ("Payment", {"TotalAmt": 0, "PrivateNote": "Voided"}, "void"),
        ("Estimate", {"TxnStatus": "Pending"}, "pending"),
        ("Estimate", {"TxnStatus": "Accepted"}, "accepted"),
        ("Estimate", {"TxnStatus": "Closed"}, "closed"),
        ("Estimate", {"TxnStatus": "Rejected"}, "rejected"),
        ("SalesReceipt", {"TotalAmt": 9}, "paid"),
        ("SalesReceipt", {"TotalAmt": 0, "PrivateNote": "Voided"}, "void"),
        ("CreditMemo", {"TotalAmt": 9, "RemainingCredit": 9}, "open"),
        ("CreditMemo", {"TotalAmt": 9, "RemainingCredit": 0}, "applied"),
        ("RefundReceipt", {"TotalAmt": 9}, "refunded"),
        ("RefundReceipt", {"TotalAmt": 0, "PrivateNote": "Voided"}, "void"),
    ],
)
def test_transaction_status(entity, data, status):
    assert docstatus.transaction_status(entity, data, TODAY) == status


def invoice(qbo_id="9", token="0", when="2025-05-01T00:00:00Z", **extra):
    return {
        "Id": qbo_id,
        "SyncToken": token,
        "CustomerRef": {"value": "2"},
        "TotalAmt": 100,
        "Balance": 100,
        "DueDate": "2025-05-15",
        "TxnDate": "2025-04-15",
        "DocNumber": "1001",
        "CurrencyRef": {"value": "USD"},
        "EmailStatus": "EmailSent",
        "MetaData": {"LastUpdatedTime": when},
        **extra,
    }


def test_transaction_upsert_delete_tombstone_and_overdue(session):
    row = mirror.upsert_transaction(session, "1", "Invoice", invoice(), today=TODAY)
    assert (row.status, row.doc_number, row.txn_date, row.due_date, row.email_status) == (
        "overdue",
        "1001",
        dt.date(2025, 4, 15),
        dt.date(2025, 5, 15),
        "EmailSent",
    )
    mirror.upsert_transaction(session, "1", "Invoice", invoice("10", DueDate="2030-01-01"), today=TODAY)
    session.flush()
    assert mirror.overdue_balance(session, "1", "2", TODAY) == Decimal("100.00")
    mirror.upsert_transaction(
        session,
        "1",
        "Invoice",
        {"Id": "9", "status": "Deleted", "MetaData": {"LastUpdatedTime": "2025-05-02T00:00:00Z"}},
    )
    # A late update older than the delete cannot resurrect it.
    mirror.upsert_transaction(session, "1", "Invoice", invoice(token="1", when="2025-05-01T12:00:00Z"), today=TODAY)
    session.flush()
    assert row.deleted
    assert mirror.overdue_balance(session, "1", "2", TODAY) == Decimal("0.00")
    with pytest.raises(ValueError):
        mirror.upsert_transaction(session, "1", "Bill", invoice())


def test_move_customer_repoints_transactions_and_link(session):
    mirror.upsert_customer(session, conn(session), dict(FULL, Id="2"), contact_key="77")
    mirror.upsert_customer(session, conn(session), dict(FULL, Id="5"))
    mirror.upsert_transaction(session, "1", "Invoice", invoice(), today=TODAY)
    target = mirror.move_customer(session, "1", "2", "5")
    session.flush()
    assert target.contact_key == "77"
    assert mirror.get_customer(session, "1", "2").merged_into == "5"
    assert mirror.get_transaction(session, "1", "Invoice", "9").customer_qbo_id == "5"
    assert mirror.surviving_id(session, "1", "2") == "5"


class FakeClient:
    def query(self, stmt):
        if "FROM Term" in stmt:
            return iter([{"Id": "3", "Name": "Net 30", "Active": True}])
        return iter([{"Id": "2", "Name": "Check", "Active": False}])


def test_refresh_ref_items_fills_names(session):
    row = mirror.upsert_customer(session, conn(session), dict(FULL, PaymentMethodRef={"value": "2"}))
    assert row.terms_name is None and row.payment_method_name is None
    assert mirror.refresh_ref_items(session, FakeClient(), "1") == 2
    assert (row.terms_name, row.payment_method_name) == ("Net 30", "Check")
