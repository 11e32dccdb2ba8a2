"""The import's page upsert on a real PostgreSQL: the SQLite cases of ``tests/importing/test_bulk_upsert.py``.

PostgreSQL has its own ``INSERT … ON CONFLICT`` dialect and compares the
SyncTokens with a regular expression instead of ``GLOB``; the same cases prove
both.
"""

from __future__ import annotations

import typing as t

import pytest

from tests.hostapp import make_app
from tests.importing.test_bulk_upsert import TODAY
from tests.importing.test_bulk_upsert import test_a_deleted_item_in_a_page_tombstones_its_row  # noqa: F401
from tests.importing.test_bulk_upsert import test_a_number_orjson_cannot_encode_is_stored_as_it_came  # noqa: F401
from tests.importing.test_bulk_upsert import test_a_page_is_one_statement_that_inserts_and_updates  # noqa: F401
from tests.importing.test_bulk_upsert import test_a_repeated_id_in_one_page_keeps_the_newest  # noqa: F401
from tests.importing.test_bulk_upsert import test_an_older_page_never_overwrites_a_newer_row  # noqa: F401
from tests.importing.test_bulk_upsert import test_customer_rules_match_the_single_row_path  # noqa: F401
from tests.importing.test_bulk_upsert import test_transactions_newer_wins_and_a_tombstone_holds  # noqa: F401
from tests.importing.test_bulk_upsert import test_without_comparable_tokens_the_later_time_wins  # noqa: F401
from tests.importing.test_bulk_upsert import with_connection
from tests.importing.test_rawmany import test_a_column_with_a_python_default_must_be_passed  # noqa: F401
from tests.importing.test_rawmany import test_the_driver_stores_what_sqlalchemy_would  # noqa: F401


@pytest.fixture
def store_app(pg: tuple[str, str]) -> t.Iterator[t.Any]:
    """The host app on a fresh PostgreSQL schema with one connection row."""
    from tests.hostapp import db

    app = with_connection(make_app(pg[0]))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_only_the_pages_id_lookups_are_planned_for_their_values(store_app: t.Any) -> None:
    """The before-image read of a page is planned for its ids; the upsert, run once per row, keeps its plan."""
    from sqlalchemy import event

    from flask_qbo.sync.pull import milestones
    from flask_qbo.testing import TEST_REALM
    from tests.hostapp import db
    from tests.importing.test_bulk_upsert import invoice

    modes: list[tuple[str, str]] = []

    def record(conn: t.Any, cursor: t.Any, statement: str, *args: t.Any) -> None:
        if "qbo_transaction" in statement:
            with conn.connection.dbapi_connection.cursor() as probe:
                probe.execute("SHOW plan_cache_mode")
                modes.append((statement.split()[0].upper(), probe.fetchone()[0]))

    with store_app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
        for token in ("0", "1"):  # the second page finds its rows mirrored: the re-read runs too
            page = [invoice(str(n), token, f"2026-02-0{int(token) + 1}T10:00:00Z") for n in (1, 2, 3)]
            milestones.upsert_page_noticed(db.session, "acme", TEST_REALM, "Invoice", page, TODAY)
            db.session.commit()
        event.remove(db.engine, "before_cursor_execute", record)
    assert {mode for kind, mode in modes if kind == "SELECT"} == {"force_custom_plan"}
    assert {mode for kind, mode in modes if kind == "INSERT"} == {"auto"}
    assert [kind for kind, _ in modes].count("SELECT") == 3


def test_a_page_as_one_document_stores_what_it_stores_row_by_row(
    store_app: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL gets a page as one INSERT … SELECT from one JSON document; each value must come out
    as the per-row ``INSERT … VALUES`` (SQLite's statement, on PostgreSQL here) stores it."""
    from sqlalchemy.dialects import sqlite

    from flask_qbo.models import Connection
    from flask_qbo.sync.pull import bulk
    from flask_qbo.sync.pull import pagerows
    from flask_qbo.sync.pull import rawmany
    from tests.hostapp import db
    from tests.importing.test_rawmany import NOW
    from tests.importing.test_rawmany import _store
    from tests.importing.test_rawmany import stored

    monkeypatch.setattr(bulk, "utcnow", lambda: NOW)
    row_by_row = pagerows.page_insert
    with store_app.app_context():
        conn = db.session.query(Connection).one()
        statements: list[str] = []

        def recorded(*args: t.Any) -> t.Any:
            stmt, params = row_by_row(*args)
            statements.append(str(stmt))
            return stmt, params

        monkeypatch.setattr(pagerows, "page_insert", recorded)
        _store(conn, "111")  # as one document
        with monkeypatch.context() as patched:
            patched.setattr(pagerows, "page_insert", lambda dialect, *args: row_by_row(sqlite.dialect(), *args))
            patched.setattr(rawmany, "_prepared", {})  # the same shapes, compiled from the other statements
            _store(conn, "222")
        db.session.flush()
        assert statements and all("json_to_recordset" in sql for sql in statements)
        for table in ("qbo_customer", "qbo_transaction"):
            document, rows = (found := stored(table))[: len(found) // 2], found[len(found) // 2 :]
            assert document and document == rows, table
        db.session.rollback()


def test_new_rows_as_one_document_store_what_an_executemany_stores(store_app: t.Any) -> None:
    """The import's proposals go to PostgreSQL as one document: JSON lists, nulls, flags and enum members
    must come out as SQLAlchemy's own executemany of ``INSERT … VALUES`` stores them."""
    import sqlalchemy as sa

    from flask_qbo.models import ImportDecision
    from flask_qbo.models import ImportMatch
    from flask_qbo.sync.pull import pagerows
    from flask_qbo.sync.pull import rawmany
    from tests.hostapp import db

    table = t.cast(sa.Table, ImportMatch.__table__)

    def proposals(run_id: int) -> list[dict[str, t.Any]]:
        return [
            {
                "run_id": run_id,
                "qbo_id": "1",
                "contact_key": "Zoë 'quoted' \"key\"",
                "match_kind": "email",
                "candidates": None,
                "decision": ImportDecision.PENDING,
                "applied": False,
            },
            {
                "run_id": run_id,
                "qbo_id": "2",
                "contact_key": None,
                "match_kind": "ambiguous",
                "candidates": ["7", "8\u00009", '\\ and " and ü'],
                "decision": ImportDecision.SKIP,
                "applied": True,
            },
        ]

    with store_app.app_context():
        stmt, params = pagerows.rows_insert(db.session.connection().dialect, table, proposals(1))
        assert "json_to_recordset" in str(stmt) and len(params) == 1
        rawmany.execute_many(db.session, stmt, params, shape="test proposals")
        db.session.execute(sa.insert(table), proposals(2))
        found = db.session.execute(
            sa.select(table.c.run_id, table.c.qbo_id, table.c.contact_key, table.c.match_kind)
            .add_columns(table.c.candidates, table.c.decision, table.c.applied)
            .order_by(table.c.run_id, table.c.qbo_id)
        ).all()
        assert len(found) == 4
        assert [row[1:] for row in found[:2]] == [row[1:] for row in found[2:]]
        assert found[1].candidates == ["7", "8\u00009", '\\ and " and ü'] and found[0].candidates is None
        nothing, none = pagerows.rows_insert(db.session.connection().dialect, table, [])
        rawmany.execute_many(db.session, nothing, none, shape="test no proposals")  # an empty company's: no error
        db.session.rollback()
