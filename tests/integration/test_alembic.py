"""Alembic and Flask-Migrate manage the ``qbo_*`` tables beside the host's own, as the docs say.

Each test follows docs/installation.rst ("Tables and migrations") on a host with
its own tables (tests/hostapp.py): autogenerate, upgrade, autogenerate again.
The first migration must run as generated (no ``NameError`` for
``flask_qbo.models``) and the second must be empty, on SQLite and on PostgreSQL,
including the status columns and the inbox's claim columns, which a database
left by an older release gains through the same steps.
"""

from __future__ import annotations

import logging.config
import pathlib
import re
import typing as t

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_qbo import models
from tests.hostapp import db
from tests.hostapp import make_app
from tests.hosts import crm2

#: What docs/installation.rst tells a plain-Alembic host to put in env.py.
ENV_METADATA = """\
import flask_qbo.models
from tests.hostapp import db

target_metadata = [db.metadata, flask_qbo.models.metadata]
"""
ENV_CONFIGURE = "target_metadata=target_metadata, render_item=flask_qbo.models.render_item"

#: What it tells a Flask-Migrate host to put in migrations/env.py: the import, and get_metadata() replaced.
FLASK_MIGRATE_IMPORT = "import flask_qbo.models\n"
FLASK_MIGRATE_METADATA = """\
def get_metadata():
    return [target_db.metadata, flask_qbo.models.metadata]"""


@pytest.fixture(autouse=True)
def keep_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """env.py's ``fileConfig`` would disable every logger of the test process; the migration runs without it."""
    monkeypatch.setattr(logging.config, "fileConfig", lambda *args, **kwargs: None)


def _alembic_env(tmp_path: pathlib.Path, url: str) -> Config:
    """``alembic init`` (generic template) plus the documented edits to env.py."""
    scripts = tmp_path / "migrations"
    command.init(Config(str(tmp_path / "alembic.ini")), str(scripts))
    env = scripts / "env.py"
    source = env.read_text()
    source = source.replace("target_metadata = None\n", ENV_METADATA)
    source = source.replace("target_metadata=target_metadata", ENV_CONFIGURE)
    assert source.count("render_item=") == 2, "the generic env.py changed shape"
    env.write_text(source)
    config = Config()
    config.set_main_option("script_location", str(scripts))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade_body(path: pathlib.Path) -> str:
    """The statements of a migration's ``upgrade()``, without its docstring and Alembic's marker comments."""
    body = path.read_text().split("def upgrade()", 1)[1].split("def downgrade()", 1)[0]
    lines = [line.strip() for line in body.splitlines()[1:]]
    lines = [line for line in lines if line and not line.startswith(("#", '"""'))]
    return "\n".join(lines)


def _check_first_migration(path: pathlib.Path) -> None:
    text = path.read_text()
    assert "flask_qbo" not in text, "a migration must not depend on the package's internals"
    body = _upgrade_body(path)
    for table in [*models.metadata.tables, *db.metadata.tables]:
        assert f"'{table}'" in body, table
    for column in ("available_at", "claimed_at"):
        assert re.search(rf"sa\.Column\('{column}', sa\.DateTime\(timezone=True\)", body), column
    assert "sa.Column('claimed_by', sa.String(length=64)" in body
    assert re.search(r"sa\.Column\('status', sa\.Enum\('pending', .*native_enum=False, length=20\)", body)


def _autogenerate_twice(config: Config, url: str) -> None:
    first = command.revision(config, message="add qbo tables", autogenerate=True)
    assert not isinstance(first, list) and first is not None
    _check_first_migration(pathlib.Path(first.path))
    command.upgrade(config, "head")
    engine = sa.create_engine(url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {*models.metadata.tables, *db.metadata.tables} <= tables
    second = command.revision(config, message="nothing", autogenerate=True)
    assert not isinstance(second, list) and second is not None
    assert _upgrade_body(pathlib.Path(second.path)) == "pass"


def test_alembic_autogenerate_on_sqlite(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    _autogenerate_twice(_alembic_env(tmp_path, url), url)


@pytest.mark.postgres
def test_alembic_autogenerate_on_postgresql(tmp_path: pathlib.Path, pg: tuple[str, str]) -> None:
    url, _schema = pg
    _autogenerate_twice(_alembic_env(tmp_path, url), url)


#: The inbox columns added in the layered-layout release (docs/sync.rst, "inbox-upgrade").
INBOX_CLAIM_COLUMNS = ("available_at", "claimed_at", "claimed_by")


def _flask_app(host: str, url: str) -> tuple[Flask, SQLAlchemy]:
    """The test host (tables made, then dropped) or crm2 (which sets up Flask-Migrate itself), on ``url``."""
    if host == "crm2":  # its factory sets up Flask-Migrate with render_item, as the docs say
        return crm2.create_app(TESTING=True, SQLALCHEMY_DATABASE_URI=url), crm2.db
    app = make_app(url)
    flask_migrate.Migrate(app, db, render_item=models.render_item)
    with app.app_context():
        db.drop_all()  # make_app created every table; a migrated host starts without them
    return app, db


def _flask_migrate_twice(tmp_path: pathlib.Path, url: str, *, host: str, start: str) -> None:
    """``flask db init`` / ``migrate`` / ``upgrade`` / ``migrate`` through Flask-Migrate's API.

    ``start`` is the database the host has: ``"empty"``, or ``"old inbox"`` (every
    table, the inbox without its claim columns, as an older release left it).
    """
    app, host_db = _flask_app(host, url)
    directory = str(tmp_path / "migrations")
    with app.app_context():
        if start == "old inbox":
            host_db.create_all()
            with host_db.engine.begin() as conn:
                for column in INBOX_CLAIM_COLUMNS:
                    conn.execute(sa.text(f"ALTER TABLE qbo_inbox DROP COLUMN {column}"))
        flask_migrate.init(directory)
        env = tmp_path / "migrations" / "env.py"
        source = env.read_text()
        begin = source.index("def get_metadata():")
        end = source.index("\n\n\n", begin)
        env.write_text(FLASK_MIGRATE_IMPORT + source[:begin] + FLASK_MIGRATE_METADATA + source[end:])
        flask_migrate.migrate(directory, message="qbo tables")
        versions = sorted((tmp_path / "migrations" / "versions").glob("*.py"))
        assert len(versions) == 1
        assert "flask_qbo" not in versions[0].read_text()
        body = _upgrade_body(versions[0])
        if start == "old inbox":
            assert "create_table" not in body and body.count("add_column") == len(INBOX_CLAIM_COLUMNS)
            assert "sa.Column('available_at', sa.DateTime(timezone=True), nullable=False)" in body
        flask_migrate.upgrade(directory)
        inspector = sa.inspect(host_db.engine)
        assert {*models.metadata.tables, *host_db.metadata.tables} <= set(inspector.get_table_names())
        assert set(INBOX_CLAIM_COLUMNS) <= {c["name"] for c in inspector.get_columns("qbo_inbox")}
        # Flask-Migrate writes no file when autogenerate finds nothing to do.
        flask_migrate.migrate(directory, message="nothing")
        assert sorted((tmp_path / "migrations" / "versions").glob("*.py")) == versions
        host_db.session.remove()
        for engine in host_db.engines.values():
            engine.dispose()


@pytest.mark.parametrize("host", ["hostapp", "crm2"])
@pytest.mark.parametrize("start", ["empty", "old inbox"])
def test_flask_migrate_on_sqlite(tmp_path: pathlib.Path, host: str, start: str) -> None:
    _flask_migrate_twice(tmp_path, f"sqlite:///{tmp_path / 'crm.sqlite'}", host=host, start=start)


@pytest.mark.postgres
@pytest.mark.parametrize("host", ["hostapp", "crm2"])
@pytest.mark.parametrize("start", ["empty", "old inbox"])
def test_flask_migrate_on_postgresql(tmp_path: pathlib.Path, pg: tuple[str, str], host: str, start: str) -> None:
    url, _schema = pg
    _flask_migrate_twice(tmp_path, url, host=host, start=start)


def test_render_item_leaves_other_objects_to_alembic() -> None:
    context: t.Any = type("Ctx", (), {"opts": {"sqlalchemy_module_prefix": "sqla."}})()
    assert models.render_item("type", models.UTCDateTime(), context) == "sqla.DateTime(timezone=True)"
    assert models.render_item("type", sa.String(20), context) is False
    assert models.render_item("server_default", models.UTCDateTime(), context) is False
