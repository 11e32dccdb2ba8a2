"""The company's reference data for quote-to-cash, read from QBO and stored per realm.

A draft estimate is checked against what the company sells and how it taxes
(:mod:`flask_qbo.models.billing`: items, tax codes and rates, the Preferences
snapshot).  Those tables are read here in one pass per company,
:func:`refresh_reference`: every Item (inactive ones too, so an old document's
item keeps its name), every TaxCode and TaxRate, the Preferences object and
``CompanyInfo.Country``.  All reads come first, then every table is written
with ``INSERT … ON CONFLICT`` in one transaction (the read counter commits on a
connection of its own, which must not wait behind this one's writes).

When it runs:

* after a company is connected: :func:`refresh_due` finds connections that
  have no preferences row yet, and the runners call it on a short timer, so
  the callback request never waits for QBO;
* every day (:data:`REFRESH_AFTER`), because tax codes and Preferences are not
  in CDC (items are kept current between reads by webhooks and CDC, see
  :mod:`flask_qbo.sync.pull.items`);
* at once when an item names a tax code the mirror lacks (or a host asks
  with :func:`mark_due`); validation does not ask: a draft's tax code comes
  from the mirror's own list, and one missing there is refused as inactive;
* by the billing form itself when nothing of the company is mirrored yet
  (:func:`read_if_unread`: the form was opened before the runners' first read);
* on demand: ``flask qbo reference``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
import typing as t

import sqlalchemy as sa

from ..errors import QBOAuthError
from ..errors import QBOTokenDecryptError
from ..intuit import faults
from ..models import CompanyPrefs
from ..models import Connection
from ..models import ConnectionStatus
from ..models import Item
from ..models import TaxCode
from ..models import TaxRate
from ..models import utcnow
from ..sync.pull import bulk
from ..sync.pull import items
from ..sync.pull.reads import chunks
from . import reference_parse as parse

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ..extension import QBO

log = logging.getLogger(__name__)

#: How old a company's reference read may get before the periodic refresh reads it again.
REFRESH_AFTER = dt.timedelta(days=1)
#: Companies :func:`refresh_due` reads per call; the rest wait for the runner's next turn.
REFRESH_BATCH = 20
#: Rows per ``INSERT … ON CONFLICT`` statement (QBO's largest page).
PAGE = 1000
#: Seconds a company whose read failed is left alone by :func:`refresh_due` in this process.
RETRY_AFTER = 600.0

_guard = threading.Lock()
#: ``(database URL, connection id)`` → monotonic time of its last failed read in this process.
_failed: dict[tuple[str, int], float] = {}

#: Statements of the reference read.  Items: inactive ones too.  Tax codes and rates: as QBO lists them.
ITEMS_QUERY = "SELECT * FROM Item WHERE Active IN (true, false)"
TAX_CODES_QUERY = "SELECT * FROM TaxCode"
TAX_RATES_QUERY = "SELECT * FROM TaxRate"


@dataclasses.dataclass(frozen=True)
class ReferenceRead:
    """What one :func:`refresh_reference` stored."""

    realm_id: str
    items: int
    tax_codes: int
    tax_rates: int
    tax_model: str

    def __str__(self) -> str:
        return (
            f"realm {self.realm_id}: {self.items} items, {self.tax_codes} tax codes, "
            f"{self.tax_rates} tax rates, tax model {self.tax_model}"
        )


def refresh_reference(qbo: QBO, connection: Connection) -> ReferenceRead:
    """Read a company's items, tax codes and rates, Preferences and country, and store them; commits.

    Objects the company no longer lists are kept, inactive: documents keep
    naming them.  Raises the client's errors (an auth failure means the
    connection needs a reconnect; nothing is written then).
    """
    session = qbo.state().db.session()
    realm = str(connection.realm_id)
    client = qbo.client(connection)
    started = utcnow()  # a row mirrored after this (an Item webhook during the read) is not "missing"
    item_rows = list(client.query(ITEMS_QUERY))
    code_rows = list(client.query(TAX_CODES_QUERY))
    rate_rows = list(client.query(TAX_RATES_QUERY))
    prefs = client.preferences()
    info = client.company_info()
    for start in range(0, len(item_rows), PAGE):
        items.upsert_items(session, realm, item_rows[start : start + PAGE])
    _inactivate_missing(session, Item, realm, {str(data["Id"]) for data in item_rows}, started)
    _store(session, TaxCode, realm, [(str(d["Id"]), parse.tax_code_columns(d)) for d in code_rows])
    _inactivate_missing(session, TaxCode, realm, {str(data["Id"]) for data in code_rows}, started)
    _store(session, TaxRate, realm, [(str(d["Id"]), parse.tax_rate_columns(d)) for d in rate_rows])
    _inactivate_missing(session, TaxRate, realm, {str(data["Id"]) for data in rate_rows}, started)
    columns = parse.prefs_columns(prefs, info)
    now = utcnow()
    _store_prefs(session, realm, {**columns, "fetched_at": now, "reference_read_at": now})
    session.commit()
    found = ReferenceRead(realm, len(item_rows), len(code_rows), len(rate_rows), str(columns["tax_model"]))
    log.info("Reference data read: %s.", found, extra={"qbo_realm": realm, "qbo_tenant": connection.tenant_key})
    return found


_Model = type[TaxCode] | type[TaxRate] | type[Item]


def _store(
    session: Session, model: type[TaxCode] | type[TaxRate], realm: str, rows: list[tuple[str, dict[str, t.Any]]]
) -> None:
    """Upsert whole rows of a full read (no version to compare: the read is the truth)."""
    if not rows:
        return
    now = utcnow()
    values = [{"realm_id": realm, "qbo_id": qbo_id, "updated_at": now, **columns} for qbo_id, columns in rows]
    table = t.cast(sa.Table, model.__table__)
    insert = bulk.insert_for(session)
    if insert is None:
        for value in values:
            query = sa.select(model).where(model.realm_id == realm, model.qbo_id == value["qbo_id"])
            row = session.scalars(query).one_or_none() or model(realm_id=realm, qbo_id=value["qbo_id"])
            for name, column in value.items():
                setattr(row, name, column)
            session.add(row)
        return
    for start in range(0, len(values), PAGE):
        stmt = insert(table)
        keep = ("realm_id", "qbo_id")
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.realm_id, table.c.qbo_id],
            set_={name: stmt.excluded[name] for name in values[0] if name not in keep},
        )
        session.execute(stmt, values[start : start + PAGE])


def _inactivate_missing(session: Session, model: _Model, realm: str, listed: set[str], started: dt.datetime) -> None:
    """Rows of ``realm`` that the full read did not list: inactive (never deleted).

    Only rows last written before the read ``started``: one a webhook mirrored
    while the pages were being read (a brand-new item) is newer than the read.
    """
    older = sa.and_(model.realm_id == realm, model.updated_at < started)
    stored = set(session.scalars(sa.select(model.qbo_id).where(older, model.active.is_(True))))
    for chunk in chunks(stored - listed):
        session.execute(
            sa.update(model)
            .where(older, model.qbo_id.in_(chunk))
            .values(active=False, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def _store_prefs(session: Session, realm: str, columns: dict[str, t.Any]) -> None:
    """Insert or replace the realm's one preferences row (two refreshes at once both succeed)."""
    table = t.cast(sa.Table, CompanyPrefs.__table__)
    insert = bulk.insert_for(session)
    if insert is None:
        row = session.scalars(sa.select(CompanyPrefs).where(CompanyPrefs.realm_id == realm)).one_or_none()
        row = row or CompanyPrefs(realm_id=realm)
        for name, value in columns.items():
            setattr(row, name, value)
        session.add(row)
        return
    stmt = insert(table).values(realm_id=realm, **columns)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.realm_id], set_=columns)
    session.execute(stmt)


def mark_due(session: Session, realm_id: str) -> None:
    """Have the next :func:`refresh_due` read this company again (in the caller's transaction)."""
    session.execute(
        sa.update(CompanyPrefs)
        .where(CompanyPrefs.realm_id == realm_id)
        .values(reference_read_at=None)
        .execution_options(synchronize_session="fetch")
    )


def due_ids(session: Session, now: dt.datetime, limit: int = REFRESH_BATCH) -> list[int]:
    """Ids of connected connections whose reference data is missing, asked for, or older than :data:`REFRESH_AFTER`.

    Never read (no preferences row) and asked for (``reference_read_at``
    empty) come first, then the oldest reads.
    """
    read_at = CompanyPrefs.reference_read_at
    query = (
        sa.select(Connection.id)
        .outerjoin(CompanyPrefs, CompanyPrefs.realm_id == Connection.realm_id)
        .where(
            Connection.status == ConnectionStatus.CONNECTED,
            Connection.realm_id.isnot(None),
            sa.or_(read_at.is_(None), read_at <= now - REFRESH_AFTER),
        )
        .order_by(read_at.is_not(None), read_at, Connection.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def read_if_unread(qbo: QBO, connection: Connection) -> bool:
    """Read the company's reference data now when none of it is mirrored yet; True when this call read it.

    The runners read a newly connected company within a poll interval, but the
    first sync can be done in seconds, and a form opened before that read would
    offer no products.  So a form that finds neither preferences nor items for
    its company reads them itself, once: a company whose read failed within
    :data:`RETRY_AFTER` is left to the runners (a form must not wait on QBO's
    retries again and again), and a failure is logged, not raised: the form
    still opens, with what the mirror has.
    """
    session = qbo.state().db.session()
    realm = str(connection.realm_id)
    for model in (CompanyPrefs, Item):
        if session.scalar(sa.select(model.id).where(model.realm_id == realm).limit(1)) is not None:
            return False
    url = str(session.get_bind().engine.url)
    with _guard:
        failed_at = _failed.get((url, int(connection.id)))
    if failed_at is not None and time.monotonic() - failed_at < RETRY_AFTER:
        return False
    return _read_or_rest(qbo, session, url, connection)


def _read_or_rest(qbo: QBO, session: Session, url: str, connection: Connection) -> bool:
    """:func:`refresh_reference`; a failure is logged, rolled back and rests the company. True when read."""
    key, tenant = (url, int(connection.id)), connection.tenant_key
    try:
        refresh_reference(qbo, connection)
    except Exception as exc:
        session.rollback()
        with _guard:
            _failed[key] = time.monotonic()
        if isinstance(exc, (QBOAuthError, QBOTokenDecryptError)):
            log.warning(
                "Reference read for tenant %s waits: %s", tenant, faults.brief(exc), extra={"qbo_tenant": tenant}
            )
        else:
            log.exception("Reference read for tenant %s failed; retried later.", tenant, extra={"qbo_tenant": tenant})
        return False
    with _guard:
        _failed.pop(key, None)
    return True


def refresh_due(qbo: QBO, limit: int = REFRESH_BATCH) -> int:
    """Refresh the reference data of up to ``limit`` companies that need it; returns how many were read.

    One company's failure (a reconnect needed, QBO down) is logged and rolled
    back; the others still run, and the failed one stays due.
    """
    session = qbo.state().db.session()
    url = str(session.get_bind().engine.url)
    with _guard:
        resting = {
            conn_id for (db, conn_id), at in _failed.items() if db == url and time.monotonic() - at < RETRY_AFTER
        }
    ids = [conn_id for conn_id in due_ids(session, utcnow(), limit + len(resting)) if conn_id not in resting][:limit]
    session.commit()
    done = 0
    for conn_id in ids:
        conn = session.get(Connection, conn_id)
        if conn is None or not conn.is_active:
            continue
        done += _read_or_rest(qbo, session, url, conn)
    return done
