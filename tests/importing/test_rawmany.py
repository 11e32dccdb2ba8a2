"""The bulk upserts hand their rows to the driver (:mod:`flask_qbo.sync.pull.rawmany`): what they store must
be exactly what SQLAlchemy's own executemany stored, value for value, on SQLite here and on PostgreSQL in
``tests/integration/test_import_upsert_pg.py``."""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest
import sqlalchemy as sa

from flask_qbo.models import Connection
from flask_qbo.models import Outbox
from flask_qbo.models import Transaction
from flask_qbo.sync.pull import bulk
from flask_qbo.sync.pull import rawmany
from tests.hostapp import db
from tests.importing.test_bulk_upsert import customer

NOW = dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=dt.timezone.utc)
TODAY = dt.date(2026, 3, 1)


def documents() -> dict[str, list[dict[str, t.Any]]]:
    """Documents whose values go through every kind of column: dates, money, times, text, JSON."""
    meta = {"CreateTime": "2026-01-01T00:00:00-08:00", "LastUpdatedTime": "2026-02-03T04:05:06.789-08:00"}
    return {
        "Invoice": [
            {
                "Id": "1",
                "SyncToken": "3",
                "DocNumber": "1001",
                "CustomerRef": {"value": "1", "name": "Ann"},
                "TxnDate": "2026-01-15",
                "DueDate": "2026-02-14",
                "TotalAmt": 1234.565,
                "Balance": 0.1,
                "CurrencyRef": {"value": "CAD"},
                "EmailStatus": "EmailSent",
                "CustomerMemo": {"value": "Merci — ✓ «payé»"},
                "PrivateNote": "a NUL\x00 as QBO may send one",
                "MetaData": meta,
            },
            {"Id": "2", "SyncToken": "x7", "TotalAmt": 0, "MetaData": {}},
        ],
        "Payment": [
            {"Id": "3", "SyncToken": "0", "TotalAmt": "99.999", "CustomerRef": {"value": "1"}, "MetaData": meta}
        ],
        "Estimate": [
            {"Id": "4", "SyncToken": "1", "ExpirationDate": "2026-04-01", "TxnStatus": "Accepted", "TotalAmt": 5}
        ],
    }


def stored(table: str) -> list[tuple[t.Any, ...]]:
    """Every row of ``table`` as the driver returns it (no type processing), ``id`` left out."""
    rows = db.session.connection().exec_driver_sql(f"SELECT * FROM {table} ORDER BY realm_id, qbo_id")
    names = list(rows.keys())
    return [tuple(v for k, v in zip(names, row) if k not in ("id", "realm_id", "tenant_key")) for row in rows]


def _store(conn: Connection, realm: str) -> None:
    conn.realm_id = realm
    bulk.upsert_customers(
        db.session, conn, [customer("1", "2", "2026-02-01T10:00:00Z", CompanyName="Ünïcødé & Co", Balance=12.5)]
    )
    for entity, rows in documents().items():
        bulk.upsert_transactions(db.session, realm, entity, rows, today=TODAY)


def _sqlalchemy_executemany(
    session: t.Any, stmt: sa.Insert, rows: list[dict[str, t.Any]], shape: str, shared: dict[str, t.Any] | None = None
) -> None:
    session.execute(stmt, [dict(row, **(shared or {})) for row in rows])


def test_the_driver_stores_what_sqlalchemy_would(store_app: t.Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "utcnow", lambda: NOW)
    with store_app.app_context():
        conn = db.session.query(Connection).one()
        _store(conn, "111")  # through the driver
        with monkeypatch.context() as patched:  # through SQLAlchemy's executemany, as before
            patched.setattr(rawmany, "execute_many", _sqlalchemy_executemany)
            _store(conn, "222")
        db.session.flush()
        for table in ("qbo_customer", "qbo_transaction"):
            mine, theirs = (rows := stored(table))[: len(rows) // 2], rows[len(rows) // 2 :]
            assert mine and mine == theirs, table
        db.session.rollback()


def test_a_value_shared_by_the_rows_is_the_calls_own(store_app: t.Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The time a page is stored is passed once per page; a later page must not store the first page's time."""
    later = NOW + dt.timedelta(minutes=5)
    with store_app.app_context():
        for when, realm in ((NOW, "111"), (later, "222")):
            monkeypatch.setattr(bulk, "utcnow", lambda when=when: when)
            bulk.upsert_transactions(db.session, realm, "Invoice", documents()["Invoice"], today=TODAY)
        stored_at: dict[str, set[dt.datetime]] = {}
        for realm, when in db.session.execute(sa.select(Transaction.realm_id, Transaction.updated_at)):
            stored_at.setdefault(realm, set()).add(when)
        assert stored_at == {"111": {NOW}, "222": {later}}
        db.session.rollback()


def test_a_column_with_a_python_default_must_be_passed(store_app: t.Any) -> None:
    """SQLAlchemy computes such defaults per row; the driver path refuses rather than storing NULL."""
    with store_app.app_context():
        with pytest.raises(ValueError, match="uuid"):
            rawmany.execute_many(db.session, sa.insert(Outbox), [{"tenant_key": "acme", "contact_key": "1"}], "t")
        db.session.rollback()


def test_each_driver_gets_its_own_compiled_statement() -> None:
    """Two ways of speaking to PostgreSQL in one process (here psycopg with either parameter style)."""
    from sqlalchemy.dialects.postgresql import psycopg

    stmt = sa.insert(Outbox).values(uuid=sa.bindparam("uuid"))
    keys = ["uuid", "tenant_key", "contact_key", "op", "status", "attempts", "available_at", "created_at", "updated_at"]
    named = rawmany.prepare(psycopg.dialect(), stmt, keys, "driver test")
    positional = rawmany.prepare(psycopg.dialect(paramstyle="format"), stmt, keys, "driver test")
    assert "%(tenant_key)s" in named.sql and not named.positional
    assert "%(tenant_key)s" not in positional.sql and positional.positional
