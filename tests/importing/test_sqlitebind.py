"""SQLite's date and time columns bound by C formatting must store exactly SQLAlchemy's text."""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from flask_qbo.models import Transaction
from flask_qbo.models.base import UTCDateTime
from flask_qbo.sync.pull import sqlitebind

SQLITE = sqlite.dialect()
ZONES = [None, dt.timezone.utc, *(dt.timezone(dt.timedelta(minutes=m)) for m in (-720, -450, -420, 0, 345, 840))]
DATES = [dt.date(1, 1, 1), dt.date(987, 6, 5), dt.date(1999, 12, 31), dt.date(2024, 2, 29), dt.date(9999, 12, 31)]
TIMES = [
    dt.datetime(d.year, d.month, d.day, hour, 59, second, micro, tzinfo=zone)
    for d in DATES[1:-1]
    for hour, second, micro in ((0, 0, 0), (23, 59, 999_999), (7, 30, 1))
    for zone in ZONES
]


def _standard(type_: sa.types.TypeEngine[t.Any]) -> t.Callable[[t.Any], t.Any]:
    processor = type_.dialect_impl(SQLITE).bind_processor(SQLITE)
    assert processor is not None
    return processor


@pytest.mark.parametrize("type_", [sa.Date(), sqlite.DATE(), Transaction.__table__.c.txn_date.type])
def test_dates_are_stored_as_sqlalchemy_stores_them(type_: sa.types.TypeEngine[t.Any]) -> None:
    fast, standard = sqlitebind.bind_processor(type_, SQLITE), _standard(type_)
    assert fast is not None and fast.__module__ == sqlitebind.__name__  # the faster one is in use
    values = [None, *DATES, *TIMES]  # a datetime in a date column keeps its date, as SQLAlchemy's does
    assert [fast(v) for v in values] == [standard(v) for v in values]
    with pytest.raises(TypeError):
        fast("2024-01-01")  # what SQLAlchemy refuses is refused the same way


def test_utc_times_are_stored_as_sqlalchemy_stores_them() -> None:
    type_ = Transaction.__table__.c.qbo_updated_at.type
    assert isinstance(type_, UTCDateTime)
    fast, standard = sqlitebind.bind_processor(type_, SQLITE), _standard(type_)
    assert fast is not None and fast.__module__ == sqlitebind.__name__
    assert [fast(v) for v in [None, *TIMES]] == [standard(v) for v in [None, *TIMES]]


def test_a_column_with_its_own_storage_format_keeps_sqlalchemys_processor() -> None:
    for type_ in (
        sqlite.DATE(storage_format="%(day)02d/%(month)02d/%(year)04d"),
        UTCDateTime().with_variant(sqlite.DATETIME(storage_format="%(year)04d%(month)02d%(day)02d"), "sqlite"),
    ):
        processor = sqlitebind.bind_processor(type_, SQLITE)
        assert processor is not None
        assert processor(dt.date(2024, 5, 6)) == _standard(type_)(dt.date(2024, 5, 6))
        assert processor.__module__ != sqlitebind.__name__, processor


def test_other_databases_keep_sqlalchemys_processors() -> None:
    dialect = postgresql.dialect()
    for type_ in (sa.Date(), UTCDateTime()):
        processor = sqlitebind.bind_processor(type_, dialect)
        assert processor is None or processor.__module__ != sqlitebind.__name__
