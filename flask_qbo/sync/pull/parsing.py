"""Parsing QBO values: times, dates, money, and which of two versions is newer.

QBO data is untrusted and arrives out of order: times come with company-local
offsets in several spellings, amounts as numbers or strings, and a webhook or
CDC page may carry an older version than the one already mirrored.  These pure
functions turn it into UTC datetimes, dates and two-place Decimals, and decide
staleness, for the mirror and the sync code alike.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from decimal import Decimal
from decimal import InvalidOperation

from ...intuit.times import parse_time
from ..payload import get_path
from ..payload import strip_invisible


def parse_date(value: object) -> dt.date | None:
    """Parse a QBO ``YYYY-MM-DD`` date (``None`` when absent or malformed)."""
    if not value or not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


#: A money value's precision: two places.
_CENT = Decimal("0.01")


def to_decimal(value: object) -> Decimal | None:
    """A money value as a two-place Decimal; ``None`` when absent or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value)).quantize(_CENT)
    except (InvalidOperation, ValueError):
        return None


def clip(value: object, size: int) -> str | None:
    """A string for a mirror column: invisible characters removed, clipped to the column's size.

    QBO limits are not always what it sends, and its text is untrusted: a NUL
    would make PostgreSQL refuse the whole pull, a bidi override would spoof
    what the widgets show (see :func:`flask_qbo.sync.payload.strip_invisible`).
    """
    if value is None:
        return None
    text = strip_invisible(str(value))
    return text[:size] if text else None


def to_bool(value: object) -> bool | None:
    """A QBO boolean, keeping "absent" (``None``) apart from ``False``."""
    return None if value is None else bool(value)


def _token(value: object) -> int | None:
    """A SyncToken as a number (``None`` when absent or not numeric)."""
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def last_updated(data: t.Mapping[str, t.Any]) -> dt.datetime | None:
    """``MetaData.LastUpdatedTime`` of a QBO object, in UTC."""
    return parse_time(get_path(data, "MetaData.LastUpdatedTime"))


def is_stale(current_token: str | None, current_updated: dt.datetime | None, data: t.Mapping[str, t.Any]) -> bool:
    """True when ``data`` is an older version than the mirrored one (it must not be applied).

    SyncToken increases on every change, so it decides when both are numbers;
    otherwise (deletes carry no token) the newer ``LastUpdatedTime`` wins.  An
    equal version is not stale: re-applying it is harmless.
    """
    new_token, old_token = _token(data.get("SyncToken")), _token(current_token)
    if new_token is not None and old_token is not None and new_token != old_token:
        return new_token < old_token
    new_time = last_updated(data)
    if new_time is None or current_updated is None:
        return False
    return new_time < current_updated
