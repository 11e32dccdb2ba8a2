"""A page stored in one statement keeps the mirror's rules: newer wins, tombstones hold, links stay.

:mod:`flask_qbo.sync.pull.bulk` moves :mod:`~flask_qbo.sync.pull.mirror`'s
single-row rules into one ``INSERT … ON CONFLICT DO UPDATE … WHERE``.  These
cases run on SQLite here and on PostgreSQL in
``tests/integration/test_import_upsert_pg.py`` (same functions, other database).
"""

from __future__ import annotations

import datetime as dt
import typing as t

from sqlalchemy import event

from flask_qbo.models import Connection
from flask_qbo.models import Customer
from flask_qbo.models import RefItem
from flask_qbo.models import Transaction
from flask_qbo.sync.pull import bulk
from flask_qbo.sync.pull import mirror
from flask_qbo.testing import TEST_REALM
from tests.hostapp import db

TODAY = dt.date(2026, 3, 1)


def with_connection(app: t.Any) -> t.Any:
    with app.app_context():
        db.session.add(Connection(tenant_key="acme", realm_id=TEST_REALM, status="connected"))
        db.session.commit()
    return app


def customer(qbo_id: str, token: str, when: str, **fields: t.Any) -> dict[str, t.Any]:
    base = {"Id": qbo_id, "SyncToken": token, "DisplayName": f"Customer {qbo_id} v{token}", "Active": True}
    return {**base, "MetaData": {"CreateTime": "2026-01-01T00:00:00Z", "LastUpdatedTime": when}, **fields}


def invoice(qbo_id: str, token: str, when: str, total: float = 10) -> dict[str, t.Any]:
    return {
        "Id": qbo_id,
        "SyncToken": token,
        "CustomerRef": {"value": "1"},
        "TotalAmt": total,
        "Balance": total,
        "TxnDate": "2026-01-15",
        "MetaData": {"CreateTime": "2026-01-01T00:00:00Z", "LastUpdatedTime": when},
    }


def statements(app: t.Any) -> list[str]:
    """Collect the SQL the app's engine runs from now on."""
    seen: list[str] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def names(app: t.Any, model: t.Any = Customer) -> dict[str, t.Any]:
    with app.app_context():
        if model is Customer:
            return {c.qbo_id: (c.display_name, c.sync_token) for c in db.session.query(Customer)}
        return {x.qbo_id: (x.total, x.sync_token, x.deleted) for x in db.session.query(Transaction)}


def test_a_page_is_one_statement_that_inserts_and_updates(store_app: t.Any) -> None:
    seen = statements(store_app)
    with store_app.app_context():
        conn = db.session.query(Connection).one()
        page = [customer(str(n), "0", "2026-02-01T10:00:00Z") for n in range(1, 51)]
        bulk.upsert_customers(db.session, conn, page)
        db.session.commit()
        bulk.upsert_customers(db.session, conn, [customer("1", "3", "2026-02-02T10:00:00Z")])
        db.session.commit()
    writes = [s for s in seen if s.lstrip().upper().startswith("INSERT INTO QBO_CUSTOMER")]
    assert len(writes) == 2 and not [s for s in seen if "FROM qbo_customer" in s and "SELECT" in s.upper()]
    found = names(store_app)
    assert len(found) == 50 and found["1"] == ("Customer 1 v3", "3") and found["2"] == ("Customer 2 v0", "0")


def test_a_number_orjson_cannot_encode_is_stored_as_it_came(store_app: t.Any) -> None:
    """An integer beyond 64 bits in QBO's JSON (a custom field, say) takes the standard encoder, whole."""
    huge = 2**70 + 1
    with store_app.app_context():
        conn = db.session.query(Connection).one()
        bulk.upsert_customers(db.session, conn, [customer("1", "0", "2026-02-01T10:00:00Z", Extra={"n": huge})])
        bulk.upsert_transactions(
            db.session, TEST_REALM, "Invoice", [{**invoice("2", "0", "2026-02-01T10:00:00Z"), "N": huge}]
        )
        db.session.commit()
        assert db.session.query(Customer).one().raw["Extra"] == {"n": huge}
        assert db.session.query(Transaction).one().raw["N"] == huge


def test_an_older_page_never_overwrites_a_newer_row(store_app: t.Any) -> None:
    """A webhook stored version 5 while the import's page (fetched earlier) still carries version 2."""
    with store_app.app_context():
        conn = db.session.query(Connection).one()
        mirror.upsert_customer(db.session, conn, customer("1", "5", "2026-02-05T10:00:00Z"), contact_key="c-1")
        mirror.upsert_customer(db.session, conn, customer("2", "1", "2026-02-05T10:00:00Z"))
        db.session.commit()
        page = [
            customer("1", "2", "2026-02-02T10:00:00Z"),  # older token: refused
            customer("2", "2", "2026-02-01T10:00:00Z"),  # newer token, older time: the token decides
            customer("3", "0", "2026-02-01T10:00:00Z"),
        ]
        bulk.upsert_customers(db.session, conn, page)
        db.session.commit()
        assert db.session.query(Customer).filter_by(qbo_id="1").one().contact_key == "c-1"
    assert names(store_app) == {"1": ("Customer 1 v5", "5"), "2": ("Customer 2 v2", "2"), "3": ("Customer 3 v0", "0")}


def test_without_comparable_tokens_the_later_time_wins(store_app: t.Any) -> None:
    with store_app.app_context():
        conn = db.session.query(Connection).one()
        mirror.upsert_customer(db.session, conn, customer("1", "x", "2026-02-05T10:00:00Z"))
        mirror.upsert_customer(db.session, conn, customer("2", "x", "2026-02-05T10:00:00Z"))
        db.session.commit()
        page = [customer("1", "y", "2026-02-04T10:00:00Z"), customer("2", "y", "2026-02-06T10:00:00Z")]
        bulk.upsert_customers(db.session, conn, page)
        db.session.commit()
    assert names(store_app) == {"1": ("Customer 1 vx", "x"), "2": ("Customer 2 vy", "y")}


def test_customer_rules_match_the_single_row_path(store_app: t.Any) -> None:
    """Cached term names, the link kept, ``merged_into`` cleared only for an active customer."""
    with store_app.app_context():
        conn = db.session.query(Connection).one()
        db.session.add(RefItem(realm_id=TEST_REALM, kind="Term", qbo_id="3", name="Net 30"))
        for qbo_id in ("1", "2"):
            row = mirror.upsert_customer(db.session, conn, customer(qbo_id, "0", "2026-02-01T10:00:00Z"))
            row.merged_into = "9"
        db.session.commit()
        page = [
            customer("1", "1", "2026-02-02T10:00:00Z", SalesTermRef={"value": "3"}),
            customer("2", "1", "2026-02-02T10:00:00Z", Active=False),
        ]
        bulk.upsert_customers(db.session, conn, page)
        db.session.commit()
        rows = {c.qbo_id: c for c in db.session.query(Customer)}
        assert (rows["1"].terms_name, rows["1"].merged_into, rows["1"].active) == ("Net 30", None, True)
        assert (rows["2"].merged_into, rows["2"].active) == ("9", False)
        assert rows["1"].raw["SalesTermRef"] == {"value": "3"} and rows["1"].tenant_key == "acme"


def test_transactions_newer_wins_and_a_tombstone_holds(store_app: t.Any) -> None:
    with store_app.app_context():
        mirror.upsert_transaction(db.session, TEST_REALM, "Invoice", invoice("1", "4", "2026-02-04T10:00:00Z", 40))
        mirror.upsert_transaction(db.session, TEST_REALM, "Invoice", invoice("2", "0", "2026-02-01T10:00:00Z", 20))
        mirror.mark_transaction_deleted(
            db.session, TEST_REALM, "Invoice", "3", when=dt.datetime(2026, 2, 3, 10, tzinfo=dt.timezone.utc)
        )
        mirror.mark_transaction_deleted(
            db.session, TEST_REALM, "Invoice", "4", when=dt.datetime(2026, 2, 3, 10, tzinfo=dt.timezone.utc)
        )
        db.session.commit()
        page = [
            invoice("1", "2", "2026-02-02T10:00:00Z", 99),  # older than the stored version 4
            invoice("2", "1", "2026-02-02T10:00:00Z", 21),  # newer
            invoice("3", "9", "2026-02-02T10:00:00Z", 30),  # edited before the delete: stays deleted
            invoice("4", "9", "2026-02-05T10:00:00Z", 44),  # recreated after the delete
            invoice("5", "0", "2026-02-01T10:00:00Z", 50),  # new
        ]
        bulk.upsert_transactions(db.session, TEST_REALM, "Invoice", page, today=TODAY)
        db.session.commit()
    found = {
        k: (float(v[0]) if v[0] is not None else None, v[1], v[2]) for k, v in names(store_app, Transaction).items()
    }
    assert found == {
        "1": (40.0, "4", False),
        "2": (21.0, "1", False),
        "3": (None, None, True),
        "4": (44.0, "9", False),
        "5": (50.0, "0", False),
    }


def test_a_deleted_item_in_a_page_tombstones_its_row(store_app: t.Any) -> None:
    with store_app.app_context():
        mirror.upsert_transaction(db.session, TEST_REALM, "Payment", invoice("7", "0", "2026-02-01T10:00:00Z"))
        db.session.commit()
        gone = {"Id": "7", "status": "Deleted", "MetaData": {"LastUpdatedTime": "2026-02-02T10:00:00Z"}}
        bulk.upsert_transactions(db.session, TEST_REALM, "Payment", [gone], today=TODAY)
        db.session.commit()
        assert db.session.query(Transaction).filter_by(qbo_id="7").one().deleted is True


def test_a_repeated_id_in_one_page_keeps_the_newest(store_app: t.Any) -> None:
    with store_app.app_context():
        conn = db.session.query(Connection).one()
        page = [customer("1", "3", "2026-02-03T10:00:00Z"), customer("1", "2", "2026-02-02T10:00:00Z")]
        bulk.upsert_customers(db.session, conn, page)
        db.session.commit()
    assert names(store_app) == {"1": ("Customer 1 v3", "3")}


def _lookups(store_app: t.Any, pages: list[list[str]]) -> tuple[list[set[str]], set[str]]:
    """What :func:`bulk.among` finds for each page of ids, and the texts of the SELECTs it ran."""
    from sqlalchemy import select

    seen = statements(store_app)
    with store_app.app_context():
        bulk.upsert_transactions(
            db.session, TEST_REALM, "Invoice", [invoice(n, "0", "2026-02-01T10:00:00Z") for n in "1234"], today=TODAY
        )
        found = [
            set(db.session.scalars(select(Transaction.qbo_id).where(bulk.among(db.session, Transaction.qbo_id, ids))))
            for ids in pages
        ]
        db.session.rollback()
    return found, {s for s in seen if s.lstrip().upper().startswith("SELECT")}


def test_a_pages_ids_are_looked_up_with_one_parameter_on_sqlite(store_app: t.Any) -> None:
    """A thousand ids expanded into a thousand parameters made SQLAlchemy render the lookup again for
    every page; as one JSON array (``json_each``) every page runs the same statement, and finds the same rows."""
    pages = [["1", "2"], ["2", "3", "9"], ["it's", '"4"', "4"]]
    found, selects = _lookups(store_app, pages)
    assert found == [{"1", "2"}, {"2", "3"}, {"4"}]
    assert len(selects) == 1 and "json_each" in selects.pop()


def test_an_sqlite_without_json_each_gets_the_list(store_app: t.Any, monkeypatch: t.Any) -> None:
    from sqlite3 import dbapi2  # what SQLAlchemy's pysqlite dialect holds as its DB-API

    monkeypatch.setattr(dbapi2, "sqlite_version_info", (3, 37, 2))
    found, selects = _lookups(store_app, [["1", "2"], ["2", "3", "9"]])
    assert found == [{"1", "2"}, {"2", "3"}]
    assert len(selects) == 2 and not [s for s in selects if "json_each" in s]


def test_only_a_type_with_notices_reads_its_page_before_storing_it(store_app: t.Any) -> None:
    """The page's earlier state is read to find a paid invoice or an accepted estimate; a payment page has no
    notice to find, so it is stored without that read.  ``moment`` agrees: no other type ever has one."""
    from flask_qbo.sync.pull import milestones

    seen = statements(store_app)
    with store_app.app_context():
        for entity in ("Invoice", "Payment"):
            for token in ("0", "1"):  # the second page finds the first one's rows
                page = [invoice(str(n), token, f"2026-02-0{int(token) + 1}T10:00:00Z") for n in (1, 2)]
                milestones.upsert_page_noticed(db.session, "acme", TEST_REALM, entity, page, TODAY)
                db.session.commit()
    reads = [s for s in seen if s.lstrip().upper().startswith("SELECT") and "FROM qbo_transaction" in s]
    assert len(reads) == 3  # the invoice pages' two reads before, and the second one's read after
    with store_app.app_context():
        assert db.session.query(Transaction).count() == 4  # both types' two documents, stored either way
    before = milestones.Before(balance=10, status="open", deleted=False)
    paid = Transaction(txn_type="X", status="paid", deleted=False)
    accepted = Transaction(txn_type="X", status="accepted", deleted=False)
    for entity in set(mirror.TRANSACTION_TYPES) - milestones.NOTICED_TYPES:
        assert milestones.moment(entity, before, paid) is None and milestones.moment(entity, before, accepted) is None
    assert milestones.moment("Invoice", before, paid) and milestones.moment("Estimate", before, accepted)
