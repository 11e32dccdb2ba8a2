"""QBO's per-realm throttles: requests per minute, concurrency, batch calls.

Windows are sliding and measured on the emulator clock, shrunk by
``time_scale`` so a test can hit and outwait a "minute" in milliseconds.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections import deque

from .clock import Clock
from .config import EmulatorConfig
from .errors import EmulatorFault
from .errors import throttled


class Throttled(EmulatorFault):
    """429 ThrottleExceeded with the seconds a client should wait.

    Intuit does not document a ``Retry-After`` header; the emulator sends one
    (the time until the oldest request leaves the window, at least 1 s) because
    well-behaved clients honour it and it makes retry tests deterministic.
    """

    def __init__(self, retry_after: int) -> None:
        base = throttled()
        super().__init__(base.status, base.code, base.message, base.detail, base.element, base.fault_type)
        self.retry_after = retry_after


class Throttle:
    def __init__(self, clock: Clock, config: EmulatorConfig) -> None:
        self.clock = clock
        self.config = config
        self.lock = threading.Lock()
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._batches: dict[str, deque[float]] = defaultdict(deque)
        self._active: dict[str, int] = defaultdict(int)

    def _check(self, window: deque[float], limit: int, now: float, span: float) -> int | None:
        while window and window[0] <= now - span:
            window.popleft()
        if len(window) >= limit:
            return max(1, math.ceil(window[0] + span - now))
        return None

    def acquire(self, realm: str, batch: bool = False) -> None:
        """Admit one request or raise :class:`Throttled`; pair with :meth:`release`."""
        span = self.config.scaled(60.0)
        with self.lock:
            now = self.clock.timestamp()
            if self._active[realm] >= self.config.max_concurrent:
                raise Throttled(1)
            wait = self._check(self._hits[realm], self.config.rate_per_minute, now, span)
            if wait is None and batch:
                wait = self._check(self._batches[realm], self.config.batch_per_minute, now, span)
            if wait is not None:
                raise Throttled(wait)
            self._hits[realm].append(now)
            if batch:
                self._batches[realm].append(now)
            self._active[realm] += 1

    def release(self, realm: str) -> None:
        with self.lock:
            self._active[realm] = max(0, self._active[realm] - 1)
