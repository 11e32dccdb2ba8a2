"""The host's ``db.create_all()`` and ``db.drop_all()`` create and drop the ``qbo_*`` tables too.

The extension's tables sit on their own metadata (:data:`flask_qbo.models.metadata`,
so Alembic can be given it on its own), which Flask-SQLAlchemy does not know.
Yet every contact commit writes to them, so wherever the host's tables are
created, a test fixture or a small app's start-up, ours must be too, and a
test's ``db.drop_all()`` must not leave our rows to the next test.  SQLAlchemy's
DDL events on the host's metadata do that with no call for the host to add:
ours are created before the host's, whose tables may have a foreign key to
ours (PostgreSQL refuses one to a table that does not exist yet), and dropped
after them.
Migrations are unaffected: Alembic never calls ``create_all``.
"""

from __future__ import annotations

import typing as t

from sqlalchemy import MetaData
from sqlalchemy import event
from sqlalchemy.engine import Connection

from ..models import metadata

if t.TYPE_CHECKING:
    from flask_sqlalchemy import SQLAlchemy


def follow_host(db: SQLAlchemy) -> None:
    """Create and drop the ``qbo_*`` tables with ``db``'s default metadata; once, however many apps share ``db``."""
    if not event.contains(db.metadata, "before_create", _create):
        event.listen(db.metadata, "before_create", _create)
        event.listen(db.metadata, "after_drop", _drop)


def _create(target: MetaData, connection: Connection, **kw: object) -> None:
    metadata.create_all(connection)


def _drop(target: MetaData, connection: Connection, **kw: object) -> None:
    metadata.drop_all(connection)
