"""A whole page of QBO rows into the mirror in one statement: the import's path.

:mod:`.mirror` stores one object at a time through the ORM, which costs a
``SELECT`` (and the autoflush of the previous row) per object: right for a
webhook or a CDC page of a few changes, ten times the budget for an import of
tens of thousands.  Here a page becomes one Core ``INSERT … ON CONFLICT DO
UPDATE`` (SQLite and PostgreSQL have the same upsert; another database falls
back to the single-row functions), its rows handed to the driver as
SQLAlchemy would convert them (:mod:`.rawmany`): one row at a time on SQLite,
as one JSON document on PostgreSQL (:mod:`.pagerows`).

The rules stay :mod:`.mirror`'s, moved into SQL so they hold against whatever
another process wrote meanwhile:

* the columns come from :func:`.mirror.customer_columns` and
  :func:`.mirror.transaction_columns`, the single-row path's own definitions;
* the ``DO UPDATE`` has a ``WHERE`` that refuses an older version
  (:func:`.parsing.is_stale`: the SyncToken decides when both are numbers, else
  ``LastUpdatedTime``), so a page fetched before a webhook's newer read never
  overwrites it;
* a deleted transaction's tombstone is only replaced by a version updated after
  the delete (:func:`.mirror.upsert_transaction`);
* the link to a contact is never touched, and an active customer loses its
  ``merged_into``, as in :func:`.mirror.upsert_customer`.

SyncTokens are compared as numbers when both are plain digits (after trimming
spaces, at most 18 of them), which is what QBO sends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import typing as t

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from ...models import Connection
from ...models import Customer
from ...models import RefItem
from ...models import Transaction
from ...models import qbo_today
from ...models import utcnow
from . import mirror
from . import pagerows
from . import rawmany
from .parsing import clip
from .parsing import is_stale
from .parsing import last_updated

if t.TYPE_CHECKING:
    from sqlalchemy.orm import QueryableAttribute
    from sqlalchemy.orm import Session

Row = t.Mapping[str, t.Any]


_CUSTOMERS = t.cast(sa.Table, Customer.__table__)
_TRANSACTIONS = t.cast(sa.Table, Transaction.__table__)
#: Longest SyncToken compared as a number (a BIGINT holds 18 digits).
_TOKEN_DIGITS = 18


def upsert_customers(session: Session, connection: Connection, rows: t.Sequence[Row]) -> None:
    """Mirror a page of QBO Customer dicts (in ``session``'s transaction, not committed)."""
    rows = latest(rows)
    insert = insert_for(session)
    if insert is None:
        for data in rows:
            mirror.upsert_customer(session, connection, data)
        return
    if not rows:
        return
    realm_id, now = str(connection.realm_id), utcnow()
    names = _ref_names(session, realm_id)
    values = [mirror.new_customer_row(session, connection, data, names) for data in rows]
    changed_names = [name for name in values[0] if name not in ("tenant_key", "realm_id", "qbo_id")]
    stmt, params = pagerows.page_insert(_dialect(session), insert, _CUSTOMERS, values)
    new, old = stmt.excluded, _CUSTOMERS.c
    changed = {name: new[name] for name in [*changed_names, "updated_at"]}
    changed["merged_into"] = sa.case((new.active == sa.true(), sa.null()), else_=old.merged_into)
    stmt = stmt.on_conflict_do_update(
        index_elements=[old.realm_id, old.qbo_id], set_=changed, where=not_older(new, old, dialect_of(session))
    )
    rawmany.execute_many(session, stmt, params, shape="customer upsert", shared={pagerows.NOW: now})


def upsert_transactions(
    session: Session, realm_id: str, entity: str, rows: t.Sequence[Row], *, today: dt.date | None = None
) -> None:
    """Mirror a page of one transaction type (a ``{"status": "Deleted"}`` item tombstones its row)."""
    if entity not in mirror.TRANSACTION_TYPES:
        raise ValueError(f"{entity!r} is not a mirrored transaction type; expected one of {mirror.TRANSACTION_TYPES}.")
    rows = latest(rows)
    insert = insert_for(session)
    deleted = [data for data in rows if data.get("status") == "Deleted"]
    living = [data for data in rows if data.get("status") != "Deleted"]
    if insert is None:
        for data in living:
            mirror.upsert_transaction(session, realm_id, entity, data, today=today)
    elif living:
        today, now = today or qbo_today(), utcnow()
        values = [
            {
                "realm_id": realm_id,
                "txn_type": entity,
                "qbo_id": str(data["Id"]),
                **mirror.transaction_columns(entity, data, today),
            }
            for data in living
        ]
        changed_names = [name for name in values[0] if name not in ("realm_id", "txn_type", "qbo_id")]
        stmt, params = pagerows.page_insert(_dialect(session), insert, _TRANSACTIONS, values)
        new, old = stmt.excluded, _TRANSACTIONS.c
        after_delete = sa.or_(
            old.qbo_updated_at.is_(None),
            sa.and_(new.qbo_updated_at.isnot(None), new.qbo_updated_at > old.qbo_updated_at),
        )
        guard = sa.case((old.deleted == sa.true(), after_delete), else_=not_older(new, old, dialect_of(session)))
        changed = {name: new[name] for name in [*changed_names, "updated_at"]}
        stmt = stmt.on_conflict_do_update(
            index_elements=[old.realm_id, old.txn_type, old.qbo_id], set_=changed, where=guard
        )
        rawmany.execute_many(session, stmt, params, shape="transaction upsert", shared={pagerows.NOW: now})
    for data in deleted:  # tombstones come one at a time from CDC, never as a page
        mirror.mark_transaction_deleted(session, realm_id, entity, str(data["Id"]), when=last_updated(data))


def linked_documents(
    session: Session, realm_id: str, entity: str, rows: t.Sequence[Row], linked: set[str]
) -> list[Row]:
    """The rows of a page :func:`.scope.keeps` keeps with ``QBO_MIRROR = "linked"``, in two queries.

    A document stays when its mirrored row belongs to a linked customer (it
    moved away or was deleted) or its customer, followed through merges, is linked.
    """
    ids = [str(data["Id"]) for data in rows]
    owned = sa.select(Transaction.qbo_id, Transaction.customer_qbo_id).where(
        Transaction.realm_id == realm_id, Transaction.txn_type == entity, Transaction.qbo_id.in_(ids)
    )
    owners = {qbo_id: owner for qbo_id, owner in session.execute(owned)}
    moves = sa.select(Customer.qbo_id, Customer.merged_into).where(
        Customer.realm_id == realm_id, Customer.merged_into.isnot(None)
    )
    merged = {qbo_id: into for qbo_id, into in session.execute(moves)}

    def survivor(qbo_id: str) -> str:
        seen: set[str] = set()
        while qbo_id in merged and qbo_id not in seen:
            seen.add(qbo_id)
            qbo_id = str(merged[qbo_id])
        return qbo_id

    def keeps(data: Row) -> bool:
        if owners.get(str(data["Id"])) in linked:
            return True
        ref = (data.get("CustomerRef") or {}).get("value") if data.get("status") != "Deleted" else None
        return bool(ref) and survivor(str(ref)) in linked

    return [data for data in rows if keeps(data)]


def latest(rows: t.Sequence[Row]) -> list[Row]:
    """One version per id (QBO never repeats one in a page, but its data is untrusted): the newest."""
    found: dict[str, Row] = {}
    for data in rows:
        key = str(data["Id"])
        seen = found.get(key)
        if seen is None or not is_stale(clip(seen.get("SyncToken"), 32), last_updated(seen), data):
            found[key] = data
    return list(found.values())


@contextlib.contextmanager
def custom_plans(session: Session) -> t.Iterator[None]:
    """On PostgreSQL, plan the block's statements for their values, never generically.

    An import fills the mirror faster than PostgreSQL refreshes its statistics,
    and psycopg prepares a statement run five times; the generic plan PostgreSQL
    then picks for "these thousand ids of one realm" scans every row of the
    realm (0.3 s a page at 50,000 rows instead of 10 ms).  Only for the block:
    the page's upsert, a thousand runs of one single-row statement, would be
    planned a thousand times (a second of an import's ten).  The setting is
    ``SET LOCAL``: a rollback inside the block ends it too.
    """
    postgres = dialect_of(session) == "postgresql"
    if postgres:
        session.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
    yield
    if postgres:
        session.execute(sa.text("RESET plan_cache_mode"))


def among(session: Session, column: QueryableAttribute[str], values: t.Collection[str]) -> sa.ColumnElement[bool]:
    """``column IN values`` for a page's thousand ids, as one parameter where the database can read one.

    Expanded, the list is a thousand parameters, and a statement SQLAlchemy
    renders again for every page: on PostgreSQL also too long for psycopg's
    cache of parsed queries (rendering and splitting it cost a fifth of storing
    a page).  PostgreSQL takes an array; SQLite a JSON array it reads with
    ``json_each`` (built in since SQLite 3.38; an older one gets the list).
    """
    dialect = _dialect(session)
    if dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam("among", list(values), type_=postgresql.ARRAY(sa.String)))
    if dialect.name == "sqlite" and getattr(dialect.dbapi, "sqlite_version_info", (0,)) >= (3, 38):
        listed = sa.func.json_each(sa.bindparam("among", json.dumps(list(values)))).table_valued("value")
        return column.in_(sa.select(listed.c.value))
    return column.in_(list(values))


def _dialect(session: Session) -> sa.Dialect:
    return session.get_bind(mapper=Customer).dialect


def dialect_of(session: Session) -> str:
    """The name of the database dialect the mirror tables live on (``sqlite``, ``postgresql`` ...)."""
    return _dialect(session).name


def insert_for(session: Session) -> t.Callable[[sa.Table], t.Any] | None:
    """The dialect's ``insert`` that has ``on_conflict_do_update``, or ``None`` (use the single-row path)."""
    return {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect_of(session))


def _ref_names(session: Session, realm_id: str) -> mirror.RefNames:
    """:func:`.mirror.ref_name` over the realm's cached terms and payment methods, read once per page."""
    items = sa.select(RefItem.kind, RefItem.qbo_id, RefItem.name).where(RefItem.realm_id == realm_id)
    cached = {(kind, qbo_id): name for kind, qbo_id, name in session.execute(items)}

    def names(kind: str, ref: t.Mapping[str, t.Any]) -> str | None:
        if not ref.get("value"):
            return None
        if ref.get("name"):
            return clip(ref["name"], 100)
        return cached.get((kind, str(ref["value"])))

    return names


def _token(column: sa.ColumnElement[t.Any], dialect: str) -> sa.ColumnElement[t.Any]:
    """A SyncToken column as a number, NULL when it is not plain digits."""
    text = sa.func.trim(column)
    if dialect == "postgresql":
        digits: sa.ColumnElement[bool] = text.op("~")(f"^[0-9]{{1,{_TOKEN_DIGITS}}}$")
    else:
        digits = sa.and_(text != "", sa.not_(text.op("GLOB")("*[^0-9]*")), sa.func.length(text) <= _TOKEN_DIGITS)
    return sa.case((digits, sa.cast(text, sa.BigInteger)), else_=sa.null())


def not_older(new: t.Any, old: t.Any, dialect: str) -> sa.ColumnElement[bool]:
    """SQL for "the incoming version is not older than the stored one" (:func:`.parsing.is_stale`, negated)."""
    new_token, old_token = _token(new.sync_token, dialect), _token(old.sync_token, dialect)
    by_time = sa.or_(
        new.qbo_updated_at.is_(None), old.qbo_updated_at.is_(None), new.qbo_updated_at >= old.qbo_updated_at
    )
    tokens_differ = sa.and_(new_token.isnot(None), old_token.isnot(None), new_token != old_token)
    return t.cast("sa.ColumnElement[bool]", sa.case((tokens_differ, new_token > old_token), else_=by_time))
