"""The ``INSERT`` a page of mirror rows is upserted with, and the parameters handed to the driver.

:mod:`.bulk` adds the ``ON CONFLICT … DO UPDATE`` and its rules; this module
decides how the rows reach the database:

* SQLite: ``INSERT … VALUES`` run once per row (an executemany, :mod:`.rawmany`);
* PostgreSQL: one ``INSERT … SELECT`` from ``json_to_recordset`` over the
  whole page as one JSON array (the rows' columns and their ``raw``), typed
  by the table's columns.  The server plans and runs one statement instead
  of a thousand, and the driver sends one parameter, encoded in C, instead of
  twenty thousand converted one by one: a page's write took less than half
  the client's and the server's time.  Each ``raw`` travels as a string of
  JSON inside the document, read back as ``json``: PostgreSQL refuses to
  read a ``\u0000`` escape (a NUL QuickBooks may send in any text) out of a
  document into a value, but keeps it in ``json`` text.

The import's match proposals, new rows without a ``raw``, go the same way
(:func:`rows_insert`).

Either way each row's ``raw`` is encoded with orjson (the column's own JSON
type would encode it with :mod:`json`, which cost the import more than any
other step of storing a page), and the time the page is stored, the same in
all its rows, is bound once (``shared``).

The record's columns are typed without their lengths (``TEXT`` for a
``VARCHAR(32)``): the column's own assignment then refuses a value too long,
as the single-row path does, where a cast would cut it short.
"""

from __future__ import annotations

import json
import typing as t
from decimal import Decimal

import orjson
import sqlalchemy as sa

#: The bound name of a row's encoded ``raw`` (SQLite), or of the whole page as one document (PostgreSQL);
#: a column's own name is reserved in an INSERT.
RAW = "raw_json"
#: The bound name of the time a page is stored, the same in all its rows: passed once, processed once.
NOW = "page_stored_at"


class EncodedJSON(sa.types.TypeDecorator[str]):
    """A JSON column's value already encoded as JSON text, bound as it is.

    The column stays JSON to the database (PostgreSQL still gets its cast);
    only the encoding step of :class:`sqlalchemy.types.JSON` is skipped.
    """

    impl = sa.JSON
    cache_ok = True

    def bind_processor(self, dialect: sa.Dialect) -> None:
        return None


def encoded(value: t.Any) -> str:
    """``value`` as JSON text: orjson, or :mod:`json` for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value)


def page_insert(
    dialect: sa.Dialect, insert: t.Callable[[sa.Table], t.Any], table: sa.Table, values: list[dict[str, t.Any]]
) -> tuple[t.Any, list[dict[str, t.Any]]]:
    """The dialect's ``INSERT`` of ``values`` (each with a ``raw``; ``updated_at`` bound as :data:`NOW`)
    and the rows to run it with (:func:`.rawmany.execute_many`).  ``values`` are consumed."""
    if dialect.name != "postgresql":
        for row in values:
            row[RAW] = encoded(row.pop("raw"))
        return insert(table).values(raw=sa.bindparam(RAW, type_=EncodedJSON()), updated_at=sa.bindparam(NOW)), values
    keys = list(values[0])
    source = sa.select(*_document_columns(dialect, table, values), sa.bindparam(NOW, type_=table.c.updated_at.type))
    return insert(table).from_select([*keys, "updated_at"], source), [{RAW: _page_json(values)}]


def rows_insert(
    dialect: sa.Dialect, table: sa.Table, values: list[dict[str, t.Any]]
) -> tuple[sa.Insert, list[dict[str, t.Any]]]:
    """A plain ``INSERT`` of many new rows of ``table`` and the rows to run it with (:func:`.rawmany.execute_many`).

    On PostgreSQL it is :func:`page_insert`'s one ``INSERT … SELECT`` from the rows as
    one JSON document; elsewhere (and for no rows, which run nothing) an executemany
    of ``INSERT … VALUES``.  ``values`` are consumed.
    """
    if dialect.name != "postgresql" or not values:
        return sa.insert(table), values
    source = sa.select(*_document_columns(dialect, table, values))
    return sa.insert(table).from_select(list(values[0]), source), [{RAW: _page_json(values)}]


def _document_columns(
    dialect: sa.Dialect, table: sa.Table, values: list[dict[str, t.Any]]
) -> list[sa.ColumnElement[t.Any]]:
    """The columns of ``values`` read back out of the document :func:`_page_json` makes of them.

    Each row's values become what SQLAlchemy would bind (times in UTC, an enum's
    members as their values...), except a JSON column's, which is encoded to a
    string of JSON inside the document and cast back (see the module's
    docstring: NUL).  ``values`` are changed in place.
    """
    keys = list(values[0])
    encoded_keys = {key for key in keys if isinstance(table.c[key].type, sa.JSON)}
    for key in keys:
        process = encoded if key in encoded_keys else table.c[key].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            for row in values:
                row[key] = process(row[key])
    rows = (
        sa.func.json_to_recordset(sa.cast(sa.bindparam(RAW, type_=sa.Text()), sa.JSON))
        .table_valued(*(sa.column(key, sa.Text() if key in encoded_keys else _unsized(table.c[key])) for key in keys))
        .render_derived(with_types=True)
    )
    return [sa.cast(rows.c[key], sa.JSON) if key in encoded_keys else rows.c[key] for key in keys]


def _page_json(values: list[dict[str, t.Any]]) -> str:
    """The page's rows as one JSON array: dates and times in ISO 8601, money as decimal strings.

    Every value is a column's (text, number, date, time, flag) or a ``raw`` already encoded
    by :func:`encoded`, so orjson takes all of them.
    """
    return orjson.dumps(values, default=_decimal).decode()


def _decimal(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _unsized(column: sa.Column[t.Any]) -> sa.types.TypeEngine[t.Any]:
    """``column``'s type without its length or precision (see the module's docstring)."""
    kind = column.type
    if isinstance(kind, sa.String):
        return sa.Text()
    if isinstance(kind, sa.Numeric):
        return sa.Numeric() if kind.asdecimal else sa.Numeric(asdecimal=False)
    return kind
