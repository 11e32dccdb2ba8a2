"""The company's products and services (QBO ``Item``) in ``qbo_item``, from every path that sees one.

A salesperson's estimate may only name an item QBO still sells, so the mirror
must follow QBO: the reference read (:mod:`flask_qbo.billing.reference`) stores
every item of a company in pages, and webhooks and CDC keep it current between
reads (:class:`~flask_qbo.sync.pull.apply.Applier` hands their Items here).
Both go through :func:`upsert_items`, one ``INSERT … ON CONFLICT DO UPDATE``
per page whose ``WHERE`` refuses an older version, like the customer and
transaction pages of :mod:`.bulk`.

QBO never deletes an item: "delete" makes it inactive, and a merge leaves the
merged-away item behind.  An item that QBO stops returning (a CDC ``Deleted``
record, an item named by a webhook that a read no longer finds, the item a
Merge removed) is therefore marked inactive here, never removed: old documents
still name it.

An item whose default sales tax code the mirror does not know tells that the
company's tax codes changed since they were read (tax codes are not in CDC);
:func:`note_tax_code` makes the next periodic reference read come at once.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from decimal import ROUND_HALF_UP
from decimal import Decimal
from decimal import InvalidOperation

import sqlalchemy as sa

from ...models import CompanyPrefs
from ...models import Item
from ...models import TaxCode
from ...models import utcnow
from . import bulk
from .parsing import clip
from .parsing import is_stale
from .parsing import last_updated
from .parsing import to_bool

if t.TYPE_CHECKING:
    from sqlalchemy.orm import Session

Row = t.Mapping[str, t.Any]

_ITEMS = t.cast(sa.Table, Item.__table__)
#: Unit prices keep QBO's precision (a bundle's component price may carry 7 decimals).
_PRICE_PLACES = Decimal("0.0000001")
#: The largest unit price QBO accepts (its reference: 99999999999).
_PRICE_MAX = Decimal("99999999999")


def item_columns(data: Row) -> dict[str, t.Any]:
    """The ``qbo_item`` columns a QBO Item dict sets (all but its keys)."""
    return {
        "sync_token": clip(data.get("SyncToken"), 32),
        "name": clip(data.get("Name"), 100) or str(data["Id"]),
        "fully_qualified_name": clip(data.get("FullyQualifiedName"), 500),
        "sku": clip(data.get("Sku"), 100),
        "type": clip(data.get("Type"), 20),
        "description": clip(data.get("Description"), 4000),
        "unit_price": unit_price(data.get("UnitPrice")),
        "taxable": to_bool(data.get("Taxable")),
        "sales_tax_code_id": clip(_ref(data, "SalesTaxCodeRef"), 32),
        "income_account_id": clip(_ref(data, "IncomeAccountRef"), 32),
        "active": data.get("Active", True) is not False,
        "raw": dict(data),
        "qbo_updated_at": last_updated(data),
    }


def unit_price(value: object) -> Decimal | None:
    """An Item's ``UnitPrice`` as a Decimal of up to 7 places; ``None`` when absent or not a sane number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        price = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not price.is_finite() or abs(price) > _PRICE_MAX:
        return None
    return price.quantize(_PRICE_PLACES, rounding=ROUND_HALF_UP)


def _ref(data: Row, key: str) -> object:
    ref = data.get(key)
    return ref.get("value") if isinstance(ref, t.Mapping) else None


def upsert_items(session: Session, realm_id: str, rows: t.Sequence[Row]) -> None:
    """Mirror a page of QBO Item dicts (CDC's ``{"status": "Deleted"}`` ones inactivate); not committed.

    An older version than the stored one is refused in SQL, so a page read
    before a webhook's newer read never overwrites it.
    """
    rows = bulk.latest(rows)
    gone = [data for data in rows if data.get("status") == "Deleted"]
    living = [data for data in rows if data.get("status") != "Deleted"]
    insert = bulk.insert_for(session)
    if insert is None:
        for data in living:
            _upsert_one(session, realm_id, data)
    elif living:
        now = utcnow()
        values = [
            {"realm_id": realm_id, "qbo_id": str(data["Id"]), "updated_at": now, **item_columns(data)}
            for data in living
        ]
        stmt = insert(_ITEMS)
        new, old = stmt.excluded, _ITEMS.c
        changed = {name: new[name] for name in values[0] if name not in ("realm_id", "qbo_id")}
        stmt = stmt.on_conflict_do_update(
            index_elements=[old.realm_id, old.qbo_id],
            set_=changed,
            where=bulk.not_older(new, old, bulk.dialect_of(session)),
        )
        session.execute(stmt, values)
    for data in gone:
        inactivate(session, realm_id, str(data["Id"]), when=last_updated(data))


def _upsert_one(session: Session, realm_id: str, data: Row) -> None:
    """The ORM path, for a database without ``ON CONFLICT``."""
    row = get_item(session, realm_id, str(data["Id"]))
    if row is None:
        row = Item(realm_id=realm_id, qbo_id=str(data["Id"]))
        session.add(row)
    elif is_stale(row.sync_token, row.qbo_updated_at, data):
        return
    for name, value in item_columns(data).items():
        setattr(row, name, value)


def get_item(session: Session, realm_id: str, qbo_id: str) -> Item | None:
    """The mirror row of one item, if any."""
    return session.scalars(sa.select(Item).where(Item.realm_id == realm_id, Item.qbo_id == str(qbo_id))).one_or_none()


def apply_item(session: Session, realm_id: str, data: Row) -> bool:
    """Mirror one Item from a webhook read or a CDC page; True when the stored row changed."""
    before = _state(session, realm_id, str(data["Id"]))
    upsert_items(session, realm_id, [data])
    after = _state(session, realm_id, str(data["Id"]))
    if after is not None and after != before:
        note_tax_code(session, realm_id, _ref(data, "SalesTaxCodeRef"))
    return after != before


def _state(session: Session, realm_id: str, qbo_id: str) -> tuple[object, ...] | None:
    """What says whether an item changed: its version and whether it is active (read past the identity map)."""
    query = sa.select(Item.sync_token, Item.active, Item.qbo_updated_at).where(
        Item.realm_id == realm_id, Item.qbo_id == qbo_id
    )
    found = session.execute(query.execution_options(populate_existing=True)).one_or_none()
    return tuple(found) if found is not None else None


def inactivate(session: Session, realm_id: str, qbo_id: str, *, when: dt.datetime | None = None) -> bool:
    """An item QBO no longer returns (deleted, merged away): inactive from now on; True when it was active.

    ``when`` is the time QBO gave the removal; a stored version newer than it
    (the item came back meanwhile) is left alone.  An item never mirrored
    needs nothing: there is no row to inactivate and nothing to show.
    """
    newer = sa.and_(Item.qbo_updated_at.isnot(None), Item.qbo_updated_at > when) if when is not None else sa.false()
    result = session.execute(
        sa.update(Item)
        .where(Item.realm_id == realm_id, Item.qbo_id == str(qbo_id), Item.active.is_(True), sa.not_(newer))
        .values(active=False, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return bool(t.cast("sa.CursorResult[t.Any]", result).rowcount)


def note_tax_code(session: Session, realm_id: str, code_id: object) -> bool:
    """An item names tax code ``code_id``: when the mirror lacks it, ask for a reference read now.

    The read is due when ``reference_read_at`` is empty
    (:func:`flask_qbo.billing.reference.refresh_due`).  True when it was asked for.
    """
    if not code_id:
        return False
    known = session.scalar(
        sa.select(TaxCode.id).where(TaxCode.realm_id == realm_id, TaxCode.qbo_id == str(code_id)).limit(1)
    )
    if known is not None:
        return False
    result = session.execute(
        sa.update(CompanyPrefs)
        .where(CompanyPrefs.realm_id == realm_id, CompanyPrefs.reference_read_at.isnot(None))
        .values(reference_read_at=None)
        .execution_options(synchronize_session="fetch")
    )
    return bool(t.cast("sa.CursorResult[t.Any]", result).rowcount)
