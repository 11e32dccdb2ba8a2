"""One statement over many rows, handed to the driver: the last step of the import's bulk upserts.

``session.execute(stmt, rows)`` runs an executemany through SQLAlchemy's
per-row parameter machinery: each row's parameters are constructed and every
value goes through its type's processor, row after row.  In an import of tens
of thousands of rows that was the largest cost left after parsing the answers.

Here a statement is compiled once per shape (dialect, table, column keys), the
processors SQLAlchemy would apply are looked up once
(:meth:`sqlalchemy.types.TypeEngine.bind_processor` of each parameter's type,
or for SQLite's dates and times an equivalent that formats in C: :mod:`.sqlitebind`),
and each row becomes the driver's parameters in one pass, run with
:meth:`sqlalchemy.engine.Connection.exec_driver_sql`.  The values stored are
the ones SQLAlchemy would store, and engine events still see the statement.

A value every row shares (the time a page is stored) is passed once, in
``shared``: its processors run once per call, not once per row.

A statement whose columns have Python-side defaults is refused: SQLAlchemy
computes those per row, and the bulk upserts pass every column they write.
"""

from __future__ import annotations

import itertools
import operator
import typing as t

import sqlalchemy as sa

from . import sqlitebind

if t.TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import Dialect
    from sqlalchemy.orm import Session

Processor = t.Callable[[t.Any], t.Any]


class Prepared(t.NamedTuple):
    """A compiled statement and how to turn a row dict into the driver's parameters."""

    sql: str
    #: ``(parameter name in the SQL, row key, processor or None, shared)`` in the driver's order; a shared
    #: value is read from the call's ``shared``, not from each row.
    slots: tuple[tuple[str, str, Processor | None, bool], ...]
    #: Values of the statement's own parameters (literals such as a pattern), already processed.
    constants: dict[str, t.Any]
    positional: bool


_prepared: dict[tuple[str, str, str, str, tuple[str, ...], tuple[str, ...]], Prepared] = {}


def prepare(
    dialect: Dialect, stmt: sa.Insert, keys: t.Sequence[str], shape: str, shared: t.Collection[str] = ()
) -> Prepared:
    """Compile ``stmt`` for rows with ``keys`` and the parameters named in ``shared``.

    ``shape`` names the statement: one compile per shape and keys.  Compiled
    per driver too: two PostgreSQL drivers in one process (psycopg and
    psycopg2, say) render casts and parameters differently.
    """
    cache_key = (dialect.name, dialect.driver, dialect.paramstyle, shape, tuple(keys), tuple(sorted(shared)))
    found = _prepared.get(cache_key)
    if found is not None:
        return found
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys), for_executemany=True)
    if compiled.insert_prefetch or compiled.update_prefetch:
        names = [c.key for c in (*compiled.insert_prefetch, *compiled.update_prefetch)]
        raise ValueError(f"Columns {names} have Python-side defaults: pass their values in every row.")
    order = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)
    escaped = compiled.escaped_bind_names
    slots: list[tuple[str, str, Processor | None, bool]] = []
    constants: dict[str, t.Any] = {}
    for name in order:
        bind = compiled.binds[name]
        processor = sqlitebind.bind_processor(bind.type, dialect)
        sql_name = escaped.get(name, name)
        if name in keys or name in shared:
            slots.append((sql_name, name, processor, name in shared))
        else:
            value = bind.effective_value
            constants[sql_name] = processor(value) if processor else value
            slots.append((sql_name, "", None, False))
    prepared = Prepared(compiled.string, tuple(slots), constants, compiled.positional)
    _prepared[cache_key] = prepared
    return prepared


def execute_many(
    session: Session,
    stmt: sa.Insert,
    rows: t.Sequence[t.Mapping[str, t.Any]],
    shape: str,
    shared: t.Mapping[str, t.Any] | None = None,
) -> None:
    """Run ``stmt`` once per row of ``rows`` (all with the same keys) in ``session``'s transaction.

    ``shared`` gives the values of ``stmt``'s own bound parameters (:func:`sqlalchemy.bindparam`
    by name) that are the same in every row.
    """
    if not rows:
        return
    shared = shared or {}
    connection = session.connection()
    prepared = prepare(connection.dialect, stmt, list(rows[0]), shape, list(shared))
    # Column by column (map over the rows runs in C), then zipped into each row's parameters.
    columns: list[t.Iterable[t.Any]] = []
    for sql_name, key, processor, is_shared in prepared.slots:
        if is_shared:
            value = shared[key]
            columns.append(itertools.repeat(processor(value) if processor else value, len(rows)))
        elif not key:
            columns.append(itertools.repeat(prepared.constants[sql_name], len(rows)))
        elif processor is None:
            columns.append(map(operator.itemgetter(key), rows))
        else:
            columns.append(map(processor, map(operator.itemgetter(key), rows)))
    if prepared.positional:
        connection.exec_driver_sql(prepared.sql, list(zip(*columns)))
    else:
        names = [slot[0] for slot in prepared.slots]
        connection.exec_driver_sql(prepared.sql, [dict(zip(names, values)) for values in zip(*columns)])
