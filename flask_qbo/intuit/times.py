"""Intuit's timestamps: the spellings QBO and its webhooks use, read as aware UTC datetimes.

QBO answers, CDC pages and webhook notifications (legacy and CloudEvents) write
times with company-local offsets in several forms (``-07:00``, ``-0700``,
``Z``) and up to nine fractional digits, where Python reads at most six.  The
webhook parser and the mirror both read them through :func:`parse_time`.
"""

from __future__ import annotations

import datetime as dt
import re

_FRACTION = re.compile(r"\.(\d+)")
_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def parse_time(value: object) -> dt.datetime | None:
    """Parse a QBO timestamp into an aware UTC datetime (``None`` when unusable).

    QBO and its webhooks use several spellings: ``-07:00``, ``-0700``, ``Z`` and
    up to nine fractional digits; Python accepts at most six.
    """
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    text = _COMPACT_OFFSET.sub(r"\1:\2", text)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)
