"""The tables' foundations: one ``MetaData``, the declarative base, UTC times, money and stored statuses."""

from __future__ import annotations

import datetime as dt
import enum
import typing as t
from decimal import ROUND_HALF_UP
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase

if t.TYPE_CHECKING:
    from alembic.autogenerate.api import AutogenContext


#: Constraint names are fixed so Alembic autogenerate produces stable migrations.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: The metadata holding every ``qbo_*`` table; give it to Alembic's ``target_metadata``.
metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    """Timezone-aware now in UTC; every stored time is UTC."""
    return dt.datetime.now(dt.timezone.utc)


#: How far behind UTC the last time zone's calendar runs (UTC-12).
_LAST_ZONE = dt.timedelta(hours=12)


def qbo_today() -> dt.date:
    """The date overdue invoices are judged by: the day that has begun in every time zone.

    QuickBooks' dates (``TxnDate``, ``DueDate``) are the company's own calendar,
    whose time zone the API does not give: a US company's invoice made in its
    evening is due "today" while UTC is already tomorrow.  A due date before this
    day has ended everywhere, so an invoice is never called overdue on its due date.
    """
    return (utcnow() - _LAST_ZONE).date()


class Status(str, enum.Enum):
    """A status stored as its plain value (``"pending"``), compared and shown as that value."""

    def __str__(self) -> str:
        return str(self.value)


def status_column(kind: type[Status]) -> sa.Enum:
    """A VARCHAR(20) of ``kind``'s values, loaded as members: no database enum type and no CHECK,
    so existing tables and hosts' migrations stay valid when a value is added."""
    return sa.Enum(
        kind, native_enum=False, length=20, create_constraint=False, values_callable=lambda e: [m.value for m in e]
    )


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """A DateTime that always comes back timezone-aware in UTC.

    SQLite drops the offset; PostgreSQL keeps it.  Normalising here means sync
    code can compare times without caring which database it runs on.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        """``value`` in UTC; a naive time is taken as UTC already."""
        if value is None:
            return None
        return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)

    process_result_value = process_bind_param


def render_item(kind: str, obj: object, autogen_context: AutogenContext) -> str | t.Literal[False]:
    """Alembic's ``render_item`` hook: a :class:`UTCDateTime` column is written ``sa.DateTime(timezone=True)``.

    Alembic writes a type from outside SQLAlchemy as ``<module>.<repr>`` without importing the module
    (a ``NameError``).  The database holds a plain timestamp: migrations say so, free of our internals."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return f"{autogen_context.opts['sqlalchemy_module_prefix'] or ''}DateTime(timezone=True)"
    return False


class Base(DeclarativeBase):
    """Declarative base bound to :data:`metadata` (not the host's)."""

    metadata = metadata


Money = sa.Numeric(14, 2)
#: One cent: the precision of every amount QBO stores (and of :data:`Money`).
CENT = Decimal("0.01")


def to_cents(value: Decimal) -> Decimal:
    """``value`` rounded half-up to two decimals (``2.675`` → ``2.68``), as QBO rounds.

    Here, beside :data:`Money`, so billing and sync (which may not import
    each other) round with one definition.
    """
    return value.quantize(CENT, rounding=ROUND_HALF_UP)
