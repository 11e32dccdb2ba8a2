"""Wake-up slots: how many Celery tasks of one kind may be queued or running at once.

Every CRM commit and every webhook wakes the runner.  Sending a task per
wake-up (as the Celery runner first did) made a push burst of 300 commits
300 tasks, 294 of which found nothing: the first task had drained the outbox
while the others waited in the broker.  A task is only a wake-up — the rows
are claimed in the database — so one queued or running task of a kind is
enough for any number of wake-ups, plus one per extra worker while a backlog
lasts (:func:`flask_qbo.runners.celery` fans out).

A *slot* is that permission.  :meth:`Slots.take` takes one if fewer than
``limit`` are held; a task gives its slot back when it ends, and then looks
for work once more: a wake-up that found every slot taken was only skipped
because a task still held one, and that task's last look comes after the
skipped wake-up's commit, so no row waits for the beat sweep.  A slot held by
a worker that died expires after :data:`SLOT_TTL` seconds (the holder renews
it while it works).

The slots must be shared by the web processes that wake and the workers that
give back, so they live in Redis (``QBO_RATE_LIMIT_STORAGE_URL``, which the
Celery runner wants anyway).  Without it every wake-up sends its task, as
before (:class:`Unlimited`); :class:`LocalSlots` serves one process that both
wakes and works (tests).
"""

from __future__ import annotations

import abc
import logging
import threading
import time
import typing as t
import weakref

from flask import Flask
from redis.exceptions import RedisError

from ..config import get_config

if t.TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

#: Seconds a slot outlives its last renewal (a killed worker's slot frees itself).
SLOT_TTL = 60.0

#: KEYS[1] the counter; ARGV: limit, ttl in ms.  1 when a slot was taken.
_TAKE = """
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
if held >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], held + 1, 'PX', ARGV[2])
return 1
"""
#: KEYS[1] the counter; ARGV: ttl in ms.  Never below zero (a slot that expired is not given back twice).
_GIVE_BACK = """
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
if held <= 1 then redis.call('DEL', KEYS[1]) return 0 end
redis.call('SET', KEYS[1], held - 1, 'PX', ARGV[1])
return held - 1
"""


class Slots(abc.ABC):
    """Counters of held slots, one per name (a task kind of one deployment)."""

    @abc.abstractmethod
    def take(self, name: str, limit: int) -> bool:
        """Take a slot of ``name`` if fewer than ``limit`` are held; True when taken."""

    @abc.abstractmethod
    def give_back(self, name: str) -> None:
        """Return one slot of ``name``."""

    @abc.abstractmethod
    def renew(self, name: str) -> None:
        """The holders still work: push the slots' expiry :data:`SLOT_TTL` seconds out."""

    @abc.abstractmethod
    def held(self, name: str) -> int:
        """Slots of ``name`` held now."""


class Unlimited(Slots):
    """No shared store: every wake-up sends its task (the runner's behaviour before slots).

    Nothing is counted, so nothing can say when a backlog has workers enough:
    only a wake-up's slot (``limit`` 1) is granted, never a fan-out's.
    """

    def take(self, name: str, limit: int) -> bool:
        return limit <= 1

    def give_back(self, name: str) -> None:
        return None

    def renew(self, name: str) -> None:
        return None

    def held(self, name: str) -> int:
        return 0


class RedisSlots(Slots):
    """Slots in Redis, each taken or given back by one atomic script.

    Redis out of reach never stops a wake-up or a task: a slot is then
    granted (the task is sent, as without slots) and a give-back or renewal
    is dropped (the slot expires).  A warning says so.
    """

    def __init__(self, client: Redis, prefix: str, ttl: float = SLOT_TTL) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_ms = int(ttl * 1000)
        self._take = client.register_script(_TAKE)
        self._give_back = client.register_script(_GIVE_BACK)

    def key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def take(self, name: str, limit: int) -> bool:
        try:
            return bool(self._take(keys=[self.key(name)], args=[limit, self.ttl_ms]))
        except RedisError as exc:
            log.warning("Wake-up slots unavailable (%s: %s); sending the task anyway.", type(exc).__name__, exc)
            return limit <= 1

    def give_back(self, name: str) -> None:
        try:
            self._give_back(keys=[self.key(name)], args=[self.ttl_ms])
        except RedisError as exc:
            log.warning("Could not give a wake-up slot back (%s: %s); it expires.", type(exc).__name__, exc)

    def renew(self, name: str) -> None:
        try:
            self.client.pexpire(self.key(name), self.ttl_ms)
        except RedisError as exc:
            log.warning("Could not renew a wake-up slot (%s: %s).", type(exc).__name__, exc)

    def held(self, name: str) -> int:
        try:
            return int(t.cast(bytes, self.client.get(self.key(name))) or 0)
        except RedisError:
            return 0


class LocalSlots(Slots):
    """Slots in this process only, for a process that both wakes and runs the tasks (tests, eager mode)."""

    def __init__(self, ttl: float = SLOT_TTL, clock: t.Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._held: dict[str, tuple[int, float]] = {}

    def held(self, name: str) -> int:
        """Slots of ``name`` held now (expired ones are free)."""
        count, until = self._held.get(name, (0, 0.0))
        return count if until > self.clock() else 0

    def take(self, name: str, limit: int) -> bool:
        with self._lock:
            count = self.held(name)
            if count >= limit:
                return False
            self._held[name] = (count + 1, self.clock() + self.ttl)
            return True

    def give_back(self, name: str) -> None:
        with self._lock:
            count = self.held(name)
            self._held[name] = (max(count - 1, 0), self.clock() + self.ttl)

    def renew(self, name: str) -> None:
        with self._lock:
            self._held[name] = (self.held(name), self.clock() + self.ttl)


_installed: weakref.WeakKeyDictionary[Flask, Slots] = weakref.WeakKeyDictionary()


def install(app: Flask, slots: Slots) -> Slots:
    """Use ``slots`` for ``app``'s wake-ups (tests; :func:`slots_for` builds the default)."""
    _installed[app] = slots
    return slots


def slots_for(app: Flask, scope: str) -> Slots:
    """``app``'s slots: Redis at ``QBO_RATE_LIMIT_STORAGE_URL`` under ``scope`` (one deployment), else unlimited."""
    found = _installed.get(app)
    if found is not None:
        return found
    url = get_config("QBO_RATE_LIMIT_STORAGE_URL", app)
    if not url:
        return install(app, Unlimited())
    from redis import Redis

    return install(app, RedisSlots(Redis.from_url(str(url)), f"flask-qbo:wake:{scope}"))
