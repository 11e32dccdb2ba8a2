"""Intuit's timestamps: the spellings QBO and its webhooks use, read as aware UTC datetimes.

QBO answers, CDC pages and webhook notifications (legacy and CloudEvents) write
times with company-local offsets in several forms (``-07:00``, ``-0700``,
``Z``) and up to nine fractional digits, where Python reads at most six.  Legacy
webhooks may also send ``lastUpdated`` as epoch milliseconds, as a JSON number
or as a string of digits (Intuit's 2025 webhooks webinar answers).  The webhook
parser and the mirror both read them through :func:`parse_time`, so every
documented form becomes the same instant.
"""

from __future__ import annotations

import datetime as dt
import math
import re

_FRACTION = re.compile(r"\.(\d+)")
_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")
_EPOCH_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
#: Epoch numbers at or above this are milliseconds: 10^11 ms is only 1973, while
#: 10^11 s is the year 5138, so a seconds value is never mistaken for one in ms.
_MILLIS_FROM = 10**11
#: No QBO event predates this: an epoch number that reads as earlier is something
#: else (``1``, a compact date ``20151005`` that would read as 1970-08-22), not a time.
EPOCH_FLOOR = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


def parse_time(value: object) -> dt.datetime | None:
    """Parse a QBO timestamp into an aware UTC datetime (``None`` when unusable).

    Accepts ISO 8601 with ``-07:00``, ``-0700`` or ``Z`` and up to nine
    fractional digits (Python accepts at most six), and epoch numbers: a JSON
    number or a string of ASCII digits, in milliseconds as Intuit sends them
    (seconds are recognised by their size).  Booleans, non-finite numbers,
    instants outside Python's calendar and epoch numbers before
    :data:`EPOCH_FLOOR` (``"20151005"`` is a compact date, not 1970) are unusable.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _from_epoch(value)
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if "T" in text:
        # Python 3.11+ reads every spelling QBO uses directly; 3.10 and odd forms take the path below.
        try:
            return _utc(dt.datetime.fromisoformat(text))
        except ValueError:
            pass
    if _EPOCH_TEXT.fullmatch(text):
        return _from_epoch(float(text) if "." in text else int(text))
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    text = _COMPACT_OFFSET.sub(r"\1:\2", text)
    try:
        return _utc(dt.datetime.fromisoformat(text))
    except ValueError:
        return None


def _utc(parsed: dt.datetime) -> dt.datetime:
    """``parsed`` in UTC; a time without an offset is taken as UTC."""
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def _from_epoch(number: int | float) -> dt.datetime | None:
    """An epoch number (milliseconds, or seconds when small enough to be those) as UTC, from 2000 on."""
    if isinstance(number, float) and not math.isfinite(number):
        return None
    try:
        since = dt.timedelta(milliseconds=number) if abs(number) >= _MILLIS_FROM else dt.timedelta(seconds=number)
        when = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + since
    except OverflowError:
        return None
    return when if when >= EPOCH_FLOOR else None
