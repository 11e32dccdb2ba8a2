"""Database check: a SQLite host keeps its file in WAL mode.

In SQLite's default rollback-journal mode every commit writes a journal file
and syncs the disk twice, and readers wait while anyone writes.  Sync commits
often: a contact save, each company's CDC poll every few minutes, each batch
of pushes or webhook events.  With WAL a commit appends to one log, readers
never wait for the writer, and the web requests and the runner's thread stop
getting in each other's way (fewer "database is locked").  The mode is a
property of the file, set once, so the doctor reads it rather than the
extension setting it behind the host's back.  Other databases have nothing
to check here.
"""

from __future__ import annotations

import typing as t

import sqlalchemy as sa

from .finding import Finding
from .finding import error
from .finding import ok
from .finding import warn

if t.TYPE_CHECKING:
    from ...extension import QBO

CHECK = "database"
_SET_WAL = (
    'Run `sqlite3 <file> "PRAGMA journal_mode=WAL"` once (the file keeps it), or run that PRAGMA on each new '
    "connection as the demo app does."
)


def check(qbo: QBO) -> list[Finding]:
    """A warning for a file SQLite database not in WAL mode; one ``ok`` otherwise."""
    engine = qbo.state().db.engine
    if engine.dialect.name != "sqlite":
        return [ok(CHECK, f"{engine.dialect.name} database: no journal mode to check.")]
    try:
        with engine.connect() as conn:
            mode = str(conn.exec_driver_sql("PRAGMA journal_mode").scalar() or "").lower()
    except sa.exc.SQLAlchemyError as exc:
        return [
            error(
                CHECK,
                f"The SQLite database cannot be read ({type(exc).__name__}).",
                "Check SQLALCHEMY_DATABASE_URI and that the file is readable.",
            )
        ]
    if mode in ("wal", "memory"):
        return [ok(CHECK, f"SQLite journal mode is {mode}.")]
    return [
        warn(
            CHECK,
            f"SQLite journal mode is {mode}: each commit syncs the disk twice and readers wait for every writer.",
            _SET_WAL,
        )
    ]
