"""Schema check: every ``qbo_*`` table and column of :data:`flask_qbo.models.metadata` exists in the database.

A host that manages its schema with Alembic migrates the extension's tables
itself; one that skipped a release's migration (say the inbox's
``available_at``/``claimed_at``/``claimed_by``) fails only when sync first
touches the missing column.  Comparing the live database with the metadata
names the gap before that.  Only names are compared: types and indexes are
the migration tool's business.
"""

from __future__ import annotations

import typing as t

import sqlalchemy as sa

from ...models import metadata
from .finding import Finding
from .finding import error
from .finding import ok

if t.TYPE_CHECKING:
    from ...extension import QBO

CHECK = "schema"
_MIGRATE = (
    "Run `flask qbo create-tables` for missing tables; for missing columns apply the release's migration "
    "(Alembic: autogenerate against flask_qbo.models.metadata)."
)


def check(qbo: QBO) -> list[Finding]:
    """One error per table missing or short of columns; one ``ok`` when all match."""
    try:
        inspector = sa.inspect(qbo.state().db.engine)
        present = set(inspector.get_table_names())
        findings: list[Finding] = []
        for table in metadata.sorted_tables:
            if table.name not in present:
                findings.append(error(CHECK, f"Table {table.name} is missing.", _MIGRATE))
                continue
            columns = {column["name"] for column in inspector.get_columns(table.name)}
            missing = [column.name for column in table.columns if column.name not in columns]
            if missing:
                findings.append(error(CHECK, f"Table {table.name} lacks column(s) {', '.join(missing)}.", _MIGRATE))
    except sa.exc.SQLAlchemyError as exc:
        return [
            error(
                CHECK,
                f"The database cannot be inspected ({type(exc).__name__}).",
                "Check SQLALCHEMY_DATABASE_URI and that the database server is up.",
            )
        ]
    if not findings:
        findings.append(ok(CHECK, f"All {len(metadata.sorted_tables)} qbo_* tables have the expected columns."))
    return findings
