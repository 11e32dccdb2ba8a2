"""Bind processors for SQLite's date and time columns that format in C.

SQLAlchemy's SQLite ``DATE`` and ``DATETIME`` processors build a dict of the
value's fields and format it with ``%`` in Python, once per value: with a
``TxnDate``, a ``DueDate`` and a ``LastUpdatedTime`` in every row, that was
the largest of the processors :mod:`.rawmany` runs over an import page.
``date.isoformat`` and ``datetime.isoformat(" ", "microseconds")`` write the
same text (years of four digits, six fractional digits always) in C.

A faster processor is used only after it has given, for probe values, exactly
what SQLAlchemy's gives: a column declared with its own ``storage_format`` (or
a SQLAlchemy that formats differently) keeps SQLAlchemy's processor.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import sqlalchemy as sa

from ...models.base import UTCDateTime

if t.TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import Dialect
    from sqlalchemy.types import TypeEngine

Processor = t.Callable[[t.Any], t.Any]

_UTC = dt.timezone.utc
#: Values that tell the default storage formats from any other: every field differs, none is zero.
_DATE_PROBE = dt.date(987, 6, 5)
_TIME_PROBES = (
    dt.datetime(987, 6, 5, 4, 3, 2, 1),
    dt.datetime(2024, 12, 31, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=-7, minutes=-30))),
)


def _dates(standard: Processor) -> Processor:
    """SQLite's default ``DATE`` text of a date; anything else (``None``, a datetime) as SQLAlchemy binds it."""

    def process(value: t.Any) -> t.Any:
        return value.isoformat() if type(value) is dt.date else standard(value)

    return process


def _utc_times(standard: Processor) -> Processor:
    """A datetime as :class:`~flask_qbo.models.base.UTCDateTime` stores it on SQLite: its UTC fields, no offset."""

    def process(value: t.Any) -> t.Any:
        if type(value) is not dt.datetime:
            return standard(value)
        if value.tzinfo is not None:
            value = value.astimezone(_UTC).replace(tzinfo=None)
        return value.isoformat(" ", "microseconds")

    return process


def bind_processor(type_: TypeEngine[t.Any], dialect: Dialect) -> Processor | None:
    """What binds ``type_``'s values on ``dialect``: SQLAlchemy's processor, or one of the faster ones above."""
    standard = type_.dialect_impl(dialect).bind_processor(dialect)
    if dialect.name != "sqlite" or standard is None:
        return standard
    probes: tuple[dt.date, ...]
    if isinstance(type_, UTCDateTime):
        fast, probes = _utc_times(standard), _TIME_PROBES
    elif isinstance(type_, sa.Date):
        fast, probes = _dates(standard), (_DATE_PROBE,)
    else:
        return standard
    return fast if all(fast(probe) == standard(probe) for probe in probes) else standard
