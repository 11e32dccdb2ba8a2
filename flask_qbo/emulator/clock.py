"""A controllable clock shared by every part of the emulator.

Token expiry, CDC windows, ``MetaData`` times, throttle windows and webhook
retry schedules all read this clock, so a test can jump hours ahead with
:meth:`Clock.advance` instead of sleeping. The seed replays a company's past
with the clock :meth:`pinned <Clock.pinned>` to each moment in turn.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime
from datetime import timedelta
from datetime import timezone


def parse_offset(offset: str) -> timezone:
    """Turn ``"-07:00"`` into a :class:`~datetime.timezone`."""
    sign = -1 if offset.startswith("-") else 1
    hours, _, minutes = offset.lstrip("+-").partition(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes or 0)))


class Clock:
    """Wall-clock time in the company's offset, plus a test-controlled skew."""

    def __init__(self, utc_offset: str = "-07:00") -> None:
        self.tz = parse_offset(utc_offset)
        self._skew = timedelta(0)
        self._lock = threading.Lock()
        self._pinned = threading.local()

    def now(self) -> datetime:
        """Current emulator time as an aware datetime in the company offset."""
        pinned: datetime | None = getattr(self._pinned, "moment", None)
        if pinned is not None:
            return pinned
        with self._lock:
            skew = self._skew
        return datetime.now(self.tz) + skew

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward (tests use this instead of sleeping)."""
        with self._lock:
            self._skew += timedelta(seconds=seconds)
        return self.now()

    @contextlib.contextmanager
    def pinned(self, moment: datetime) -> Iterator[None]:
        """While the block runs, :meth:`now` answers ``moment`` in this thread only.

        The seed writes a company's past through the store's ordinary
        operations; with the clock pinned to each event's moment, everything a
        write stamps (``MetaData``, the change log CDC reads, tombstones) tells
        the same story as the documents' dates, while other threads (the HTTP
        server, the webhook worker) keep the real time.
        """
        previous = getattr(self._pinned, "moment", None)
        self._pinned.moment = moment.astimezone(self.tz)
        try:
            yield
        finally:
            self._pinned.moment = previous

    def timestamp(self) -> float:
        """Emulator time as POSIX seconds, for interval arithmetic."""
        return self.now().timestamp()

    def iso(self, when: datetime | None = None) -> str:
        """Second-precision ISO-8601 with offset, as in ``MetaData`` fields."""
        return (when or self.now()).astimezone(self.tz).isoformat(timespec="seconds")

    def iso_ms(self, when: datetime | None = None) -> str:
        """Millisecond ISO-8601 with offset, as in the top-level ``time`` field."""
        return (when or self.now()).astimezone(self.tz).isoformat(timespec="milliseconds")

    def today(self) -> str:
        """Company-local date, the default ``TxnDate``."""
        return self.now().date().isoformat()
