"""The qbo_* tables: own metadata, prefix, creation on SQLite and PostgreSQL, Alembic use."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from flask_qbo import models
from flask_qbo.models import Connection
from flask_qbo.models import Customer
from flask_qbo.models import Outbox
from tests.hostapp import db
from tests.hostapp import make_app

EXPECTED = {
    "qbo_connection",
    "qbo_customer",
    "qbo_transaction",
    "qbo_outbox",
    "qbo_inbox",
    "qbo_sync_log",
    "qbo_ref_item",
    "qbo_import_run",
    "qbo_import_match",
    "qbo_item",
    "qbo_tax_code",
    "qbo_tax_rate",
    "qbo_company_prefs",
    "qbo_document",
    "qbo_notice",
}


def test_own_metadata_with_prefix() -> None:
    assert set(models.metadata.tables) == EXPECTED
    assert all(name.startswith("qbo_") for name in models.metadata.tables)
    # Not the host's metadata: hosts never subclass our models.
    assert models.metadata is not db.metadata


def test_create_all_on_sqlite(app) -> None:
    with app.app_context():
        names = set(sa.inspect(db.engine).get_table_names())
    assert EXPECTED <= names
    assert {"users", "contacts"} <= names


def test_create_tables_cli_is_idempotent(app) -> None:
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["qbo", "create-tables"])
        assert result.exit_code == 0, result.output
        assert "ready" in result.output


def test_rows_round_trip_with_aware_datetimes(app) -> None:
    with app.app_context():
        conn = Connection(tenant_key="acme", realm_id="1", status="connected")
        db.session.add(conn)
        db.session.add(Outbox(tenant_key="acme", contact_key="7"))
        db.session.commit()
        row = db.session.query(Outbox).one()
        assert row.uuid and len(row.uuid) == 36
        assert row.status == "pending"
        assert row.available_at.tzinfo is not None
        assert "token" not in repr(conn).lower()


def test_unique_link_per_contact(app) -> None:
    with app.app_context():
        db.session.add(Customer(tenant_key="acme", realm_id="1", qbo_id="1", contact_key="5"))
        db.session.add(Customer(tenant_key="acme", realm_id="1", qbo_id="2", contact_key="5"))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_alembic_style_metadata_compare(app) -> None:
    """A host's Alembic env can compare ``flask_qbo.models.metadata`` against the database."""
    with app.app_context():
        inspector = sa.inspect(db.engine)
        for table in models.metadata.sorted_tables:
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            assert columns == {c.name for c in table.columns}


@pytest.mark.postgres
def test_tables_on_postgresql(pg: tuple[str, str]) -> None:
    url, schema = pg
    app = make_app(url)
    with app.app_context():
        names = set(sa.inspect(db.engine).get_table_names(schema=schema))
        assert EXPECTED <= names
        db.session.add(Connection(tenant_key="acme", realm_id="1"))
        db.session.commit()
        assert db.session.query(Connection).one().created_at.tzinfo is not None
        db.session.remove()
        db.engine.dispose()
