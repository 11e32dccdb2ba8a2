"""Per-realm client-side throttle: stay under QBO's limits instead of collecting 429s.

QBO allows about 500 requests a minute, 10 in flight and 40 batch calls a minute
per company (realm).  Going over earns a 429 and, worse, wastes the retries of
every thread that shares the realm.  :class:`Throttle` makes each call take a
*slot* first: a slot is granted when the realm's sliding one-minute window has
room, fewer than ``max_concurrent`` calls are in flight, and (for batch calls)
the batch window has room too.

Where the counters live is a pluggable :class:`ThrottleBackend`:
:class:`LocalBackend` shares them between the threads of one process;
:class:`RedisBackend` shares them between processes (Celery workers) with one
atomic Lua script per attempt, using Redis' own clock so workers on different
hosts agree.  Concurrency slots in Redis expire, so a killed worker cannot hold
one forever.

Both backends count a request from the moment its slot is granted, but QBO
counts it from when the request *arrives*, a little later (building the body,
the network, a busy interpreter).  If the oldest request of a full window
arrived late, a slot freed exactly one minute after it was granted would reach
QBO a moment before QBO's window frees it, and earn a 429 whose ``Retry-After``
(at least a second) costs far more than waiting a little longer.  So a window
entry is kept for ``window + margin`` seconds: :data:`MARGIN` by default.

:func:`throttle_for` builds each app's shared throttle from its ``QBO_RATE_LIMIT_*``
settings; :func:`build_throttle` takes a ``time_scale`` for a time-scaled
emulator, and :func:`install` makes any throttle the app's.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
import typing as t
import uuid
import weakref

from .. import signals
from ..config import get_config

if t.TYPE_CHECKING:
    from flask import Flask

#: Length of the rate windows, in seconds.
WINDOW = 60.0
#: Seconds a window entry outlives :data:`WINDOW`: covers the time between a slot
#: being granted and the request reaching QBO (see the module docstring).
MARGIN = 0.25
#: How long to wait before asking again when only the concurrency cap is full.
POLL_INTERVAL = 0.01


class ThrottleBackend(t.Protocol):
    """Where slots are counted.  Implementations must be safe to share between threads."""

    def try_acquire(self, realm: str, *, batch: bool, limits: Limits) -> tuple[str | None, float]:
        """Take a slot: ``(slot id, 0.0)``, or ``(None, seconds to wait before trying again)``."""

    def release(self, realm: str, slot: str) -> None:
        """Give back the concurrency part of a slot (the rate windows keep their entry)."""


class Limits(t.NamedTuple):
    """The three per-realm limits."""

    per_minute: int
    concurrent: int
    batch_per_minute: int


class _RealmState:
    def __init__(self) -> None:
        self.requests: collections.deque[float] = collections.deque()
        self.batches: collections.deque[float] = collections.deque()
        self.active: set[str] = set()


class LocalBackend:
    """In-process counters guarded by one lock; ``clock`` is injectable for tests.

    :param window: length of the rate windows, in ``clock`` seconds.
    :param margin: extra seconds an entry stays in its window (:data:`MARGIN`).
    """

    def __init__(
        self, clock: t.Callable[[], float] = time.monotonic, *, window: float = WINDOW, margin: float = MARGIN
    ) -> None:
        if window <= 0 or margin < 0:
            raise ValueError("The throttle window must be positive and its margin not negative.")
        self.clock = clock
        self.window = window
        self.margin = margin
        self._lock = threading.Lock()
        self._realms: dict[str, _RealmState] = collections.defaultdict(_RealmState)

    def try_acquire(self, realm: str, *, batch: bool, limits: Limits) -> tuple[str | None, float]:
        with self._lock:
            now = self.clock()
            span = self.window + self.margin
            state = self._realms[realm]
            _trim(state.requests, now - span)
            _trim(state.batches, now - span)
            waits = []
            if len(state.requests) >= limits.per_minute:
                waits.append(state.requests[0] + span - now)
            if batch and len(state.batches) >= limits.batch_per_minute:
                waits.append(state.batches[0] + span - now)
            if waits:
                return None, max(max(waits), POLL_INTERVAL)
            if len(state.active) >= limits.concurrent:
                return None, POLL_INTERVAL
            slot = uuid.uuid4().hex
            state.active.add(slot)
            state.requests.append(now)
            if batch:
                state.batches.append(now)
            return slot, 0.0

    def release(self, realm: str, slot: str) -> None:
        with self._lock:
            self._realms[realm].active.discard(slot)

    def in_flight(self, realm: str) -> int:
        """Calls currently holding a slot (for tests and the health page)."""
        with self._lock:
            return len(self._realms[realm].active)


def _trim(window: collections.deque[float], expired: float) -> None:
    """Drop the entries granted at or before ``expired``."""
    while window and window[0] <= expired:
        window.popleft()


#: Atomic slot grant in Redis.  KEYS: requests zset, batches zset, active zset.
#: ARGV: slot id, is batch (0/1), per minute, concurrent, batch per minute, slot ttl,
#: window seconds, margin seconds (an entry counts for window + margin).
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[7]) + tonumber(ARGV[8])
local slot, is_batch = ARGV[1], ARGV[2] == '1'
local per_minute, concurrent = tonumber(ARGV[3]), tonumber(ARGV[4])
local batch_limit, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local wait = 0
if redis.call('ZCARD', KEYS[1]) >= per_minute then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + window - now)
end
if is_batch and redis.call('ZCARD', KEYS[2]) >= batch_limit then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + window - now)
end
if wait > 0 then return tostring(wait) end
if redis.call('ZCARD', KEYS[3]) >= concurrent then return '-1' end
redis.call('ZADD', KEYS[1], now, slot)
redis.call('EXPIRE', KEYS[1], math.ceil(window * 2))
if is_batch then
  redis.call('ZADD', KEYS[2], now, slot)
  redis.call('EXPIRE', KEYS[2], math.ceil(window * 2))
end
redis.call('ZADD', KEYS[3], now + ttl, slot)
redis.call('EXPIRE', KEYS[3], math.ceil(ttl * 2))
return '0'
"""


class RedisBackend:
    """Counters in Redis, shared by every process that uses the same URL and prefix.

    :param slot_ttl: seconds after which a concurrency slot is freed even if its
        holder never released it (a worker killed mid-request).
    :param window: length of the rate windows in seconds; only tests against a
        time-scaled emulator shorten it.
    :param margin: extra seconds an entry stays in its window (:data:`MARGIN`).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "qbo:throttle",
        slot_ttl: float = 120.0,
        window: float = WINDOW,
        margin: float = MARGIN,
    ) -> None:
        import redis

        if window <= 0 or margin < 0:
            raise ValueError("The throttle window must be positive and its margin not negative.")
        self._redis = redis.Redis.from_url(url)
        self._script = self._redis.register_script(_ACQUIRE_LUA)
        self.prefix = prefix
        self.slot_ttl = slot_ttl
        self.window = window
        self.margin = margin

    def _keys(self, realm: str) -> list[str]:
        base = f"{self.prefix}:{realm}"
        return [f"{base}:requests", f"{base}:batches", f"{base}:active"]

    def try_acquire(self, realm: str, *, batch: bool, limits: Limits) -> tuple[str | None, float]:
        slot = uuid.uuid4().hex
        args = [
            slot,
            "1" if batch else "0",
            limits.per_minute,
            limits.concurrent,
            limits.batch_per_minute,
            self.slot_ttl,
            self.window,
            self.margin,
        ]
        result = float(self._script(keys=self._keys(realm), args=args))
        if result == 0:
            return slot, 0.0
        return None, POLL_INTERVAL if result < 0 else max(result, POLL_INTERVAL)

    def release(self, realm: str, slot: str) -> None:
        self._redis.zrem(self._keys(realm)[2], slot)

    def reset(self, realm: str) -> None:
        """Forget a realm's counters (tests, or after changing limits)."""
        self._redis.delete(*self._keys(realm))

    def __repr__(self) -> str:
        # The URL may hold a Redis password: never show it.
        return f"<RedisBackend prefix={self.prefix!r}>"


class Throttle:
    """Grants per-realm slots under the three limits, waiting with ``sleep`` when full.

    ``sleep`` is injectable so tests pair it with a fake clock and never wait.
    """

    def __init__(
        self,
        per_minute: int = 450,
        concurrent: int = 10,
        batch_per_minute: int = 40,
        *,
        backend: ThrottleBackend | None = None,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        if min(per_minute, concurrent, batch_per_minute) < 1:
            raise ValueError("Throttle limits must be at least 1.")
        self.limits = Limits(per_minute, concurrent, batch_per_minute)
        self.backend: ThrottleBackend = backend or LocalBackend()
        self.sleep = sleep
        #: Total seconds spent waiting for a slot (reported by benchmarks).
        self.waited = 0.0

    def acquire(self, realm: str, *, batch: bool = False) -> str:
        """Block until a slot is free and return its id (a wait is announced by :data:`~flask_qbo.signals.throttle_waited`)."""
        waited = 0.0
        while True:
            slot, wait = self.backend.try_acquire(realm, batch=batch, limits=self.limits)
            if slot is not None:
                if waited:
                    signals.throttle_waited.send(signals.current_sender(), realm_id=realm, seconds=waited, batch=batch)
                return slot
            waited += wait
            self.waited += wait
            self.sleep(wait)

    def release(self, realm: str, slot: str) -> None:
        """Free the concurrency part of a slot."""
        self.backend.release(realm, slot)

    @contextlib.contextmanager
    def slot(self, realm: str, *, batch: bool = False) -> t.Iterator[None]:
        """``with throttle.slot(realm):`` around one HTTP call."""
        slot = self.acquire(realm, batch=batch)
        try:
            yield
        finally:
            self.release(realm, slot)

    def __repr__(self) -> str:
        return f"<Throttle {self.limits} backend={self.backend!r}>"


_app_throttles: weakref.WeakKeyDictionary[Flask, Throttle] = weakref.WeakKeyDictionary()
_app_lock = threading.Lock()


def build_throttle(app: Flask, *, time_scale: float = 1.0) -> Throttle:
    """A new throttle from ``app``'s ``QBO_RATE_LIMIT_*`` settings.

    With ``QBO_RATE_LIMIT_STORAGE_URL`` set the counters live in Redis and are
    shared by every process using that Redis; otherwise by this process's threads.
    ``time_scale`` matches an emulator running that many times faster than real
    time: the window and margin shrink by it, so the limits stay QBO's while
    every wait is real seconds.
    """
    if time_scale <= 0:
        raise ValueError("time_scale must be positive.")
    window = WINDOW / time_scale
    margin = float(get_config("QBO_RATE_LIMIT_MARGIN", app)) / time_scale
    url = get_config("QBO_RATE_LIMIT_STORAGE_URL", app)
    backend: ThrottleBackend = (
        RedisBackend(url, window=window, margin=margin) if url else LocalBackend(window=window, margin=margin)
    )
    return Throttle(
        int(get_config("QBO_RATE_LIMIT_PER_MINUTE", app)),
        int(get_config("QBO_MAX_CONCURRENT", app)),
        int(get_config("QBO_BATCH_PER_MINUTE", app)),
        backend=backend,
    )


def install(app: Flask, throttle: Throttle) -> Throttle:
    """Make ``throttle`` the one every client of ``app`` shares from now on (returns it)."""
    with _app_lock:
        _app_throttles[app] = throttle
    return throttle


def throttle_for(app: Flask) -> Throttle:
    """The throttle every client of ``app`` shares: the installed one, else built once by :func:`build_throttle`."""
    with _app_lock:
        throttle = _app_throttles.get(app)
        if throttle is None:
            throttle = _app_throttles[app] = build_throttle(app)
        return throttle
