"""The per-realm throttle: sliding minute window, concurrency cap, batch window, shared backends."""

from __future__ import annotations

import datetime as dt
import threading
import time
import typing as t
import uuid

import pytest

from flask_qbo.errors import QBORateLimitError
from flask_qbo.intuit.throttle import MARGIN
from flask_qbo.intuit.throttle import Limits
from flask_qbo.intuit.throttle import LocalBackend
from flask_qbo.intuit.throttle import RedisBackend
from flask_qbo.intuit.throttle import Throttle
from flask_qbo.intuit.throttle import build_throttle
from flask_qbo.intuit.throttle import install
from flask_qbo.intuit.throttle import throttle_for
from flask_qbo.models import Connection
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from tests.conftest import REDIS_URL
from tests.conftest import need_service


class FakeClock:
    """A clock that only moves when the throttle sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def fake_throttle(
    per_minute: int = 500, concurrent: int = 10, batch_per_minute: int = 40, margin: float = 0.0
) -> tuple[Throttle, FakeClock]:
    """A throttle on a fake clock; no margin unless asked, so window arithmetic reads plainly."""
    clock = FakeClock()
    backend = LocalBackend(clock, margin=margin)
    throttle = Throttle(per_minute, concurrent, batch_per_minute, backend=backend, sleep=clock.sleep)
    return throttle, clock


def test_sliding_window_waits_for_the_oldest_request() -> None:
    throttle, clock = fake_throttle(per_minute=3)
    start = clock.now
    times = []
    for _step in range(7):
        with throttle.slot("r1"):
            times.append(clock.now - start)
        clock.now += 1  # one second between calls
    # Calls 1-3 go at 0, 1, 2 s; call 4 waits for call 1 to leave the window (60 s), and so on.
    assert times[:3] == [0, 1, 2]
    assert times[3] == pytest.approx(60) and times[4] == pytest.approx(61)
    assert times[6] == pytest.approx(120)
    assert throttle.waited == pytest.approx(sum(clock.sleeps))


def test_a_slot_frees_only_a_margin_after_the_oldest_request_leaves_the_window() -> None:
    throttle, clock = fake_throttle(per_minute=2, margin=0.5)
    start = clock.now
    times = []
    for _ in range(4):
        with throttle.slot("r1"):
            times.append(clock.now - start)
    assert times == [0, 0, pytest.approx(60.5), pytest.approx(60.5)]
    assert LocalBackend().margin == MARGIN > 0  # on by default


def test_realms_are_independent() -> None:
    throttle, clock = fake_throttle(per_minute=1)
    throttle.release("a", throttle.acquire("a"))
    throttle.release("b", throttle.acquire("b"))
    assert clock.sleeps == []


def test_batch_window_applies_only_to_batch_calls() -> None:
    throttle, clock = fake_throttle(per_minute=100, batch_per_minute=2)
    for _ in range(2):
        throttle.release("r", throttle.acquire("r", batch=True))
    throttle.release("r", throttle.acquire("r"))  # a plain call still goes through
    assert clock.sleeps == []
    throttle.release("r", throttle.acquire("r", batch=True))
    assert sum(clock.sleeps) == pytest.approx(60)


def test_batch_calls_count_towards_the_request_window() -> None:
    throttle, clock = fake_throttle(per_minute=2, batch_per_minute=10)
    throttle.release("r", throttle.acquire("r", batch=True))
    throttle.release("r", throttle.acquire("r"))
    throttle.release("r", throttle.acquire("r"))
    assert sum(clock.sleeps) == pytest.approx(60)


def test_concurrency_cap_across_threads() -> None:
    throttle = Throttle(1000, 3, 40)
    active, peak, lock = [0], [0], threading.Lock()

    def work() -> None:
        with throttle.slot("r"):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.02)
            with lock:
                active[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert peak[0] == 3
    assert isinstance(throttle.backend, LocalBackend) and throttle.backend.in_flight("r") == 0


def test_slot_is_released_when_the_call_fails() -> None:
    throttle, _ = fake_throttle(concurrent=1)
    with pytest.raises(RuntimeError):
        with throttle.slot("r"):
            raise RuntimeError("boom")
    assert throttle.backend.in_flight("r") == 0  # type: ignore[attr-defined]


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Throttle(0, 1, 1)
    with pytest.raises(ValueError):
        LocalBackend(margin=-1)


def test_client_waits_instead_of_collecting_429s(app: t.Any, connected: Connection, emulator: t.Any) -> None:
    """With the client's throttle set to the emulator's limit, no call is ever refused."""
    emulator.config.rate_per_minute = 3
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        emulator.clock.advance(seconds)

    with app.app_context():
        client = get_qbo(app).client(connected)
        client.throttle = Throttle(3, 10, 40, backend=LocalBackend(clock), sleep=sleep)
        for _ in range(7):
            client.company_info()
    assert emulator.counters[TEST_REALM]["throttled"] == 0
    assert emulator.counters[TEST_REALM]["reads"] == 7
    assert sum(clock.sleeps) == pytest.approx(120 + 2 * MARGIN)


class LateArrivals:
    """Sends through ``session``, letting ``delays[n]`` seconds pass between the n-th call's slot and
    its arrival at QBO (a slow request build, a busy interpreter)."""

    def __init__(self, session: t.Any, clock: FakeClock, delays: list[float]) -> None:
        self.session, self.clock, self.delays = session, clock, delays

    def request(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        self.clock.now += self.delays.pop(0) if self.delays else 0.0
        return self.session.request(*args, **kwargs)


@pytest.mark.parametrize(("margin", "refused"), [(0.0, 1), (MARGIN, 0)])
def test_margin_absorbs_a_late_arrival_at_the_window_edge(
    app: t.Any, connected: Connection, emulator: t.Any, monkeypatch: t.Any, margin: float, refused: int
) -> None:
    """The first call reached QBO 0.2 s after its slot; the fourth slot opens one minute after that slot.

    Without a margin the fourth call arrives while QBO still counts the first and
    is refused (429); with the default margin it waits long enough.  Client and
    emulator share one fake clock, so the outcome does not depend on machine speed.
    """
    emulator.config.rate_per_minute = 3
    clock = FakeClock()
    clock.now = emulator.clock.timestamp()
    monkeypatch.setattr(emulator.clock, "now", lambda: dt.datetime.fromtimestamp(clock.now, emulator.clock.tz))
    with app.app_context():
        client = get_qbo(app).client(connected)
        client.max_retries = 0
        client.http = LateArrivals(client.http, clock, [0.2])
        client.throttle = Throttle(3, 10, 40, backend=LocalBackend(clock, margin=margin), sleep=clock.sleep)
        outcomes = []
        for _ in range(4):
            try:
                client.company_info()
                outcomes.append("ok")
            except QBORateLimitError:
                outcomes.append("429")
    assert emulator.counters[TEST_REALM]["throttled"] == refused
    assert outcomes == ["ok"] * 3 + (["429"] if refused else ["ok"])


def test_install_and_build_throttle_give_benchmarks_a_scaled_shared_throttle(app: t.Any, connected: Connection) -> None:
    app.config.update(
        QBO_RATE_LIMIT_PER_MINUTE=7, QBO_MAX_CONCURRENT=2, QBO_BATCH_PER_MINUTE=5, QBO_RATE_LIMIT_MARGIN=0.3
    )
    scaled = build_throttle(app, time_scale=60)
    assert scaled.limits == Limits(7, 2, 5)
    assert isinstance(scaled.backend, LocalBackend)
    assert scaled.backend.window == pytest.approx(1.0) and scaled.backend.margin == pytest.approx(0.005)
    assert install(app, scaled) is scaled
    with app.app_context():
        assert get_qbo(app).client(connected).throttle is scaled is throttle_for(app)
    with pytest.raises(ValueError):
        build_throttle(app, time_scale=0)


def test_every_client_of_an_app_shares_one_throttle(app: t.Any, connected: Connection) -> None:
    app.config.update(QBO_RATE_LIMIT_PER_MINUTE=7, QBO_MAX_CONCURRENT=2, QBO_BATCH_PER_MINUTE=5)
    with app.app_context():
        first = get_qbo(app).client(connected)
        second = get_qbo(app).client(connected)
    assert first.throttle is second.throttle is throttle_for(app)
    assert first.throttle.limits == Limits(7, 2, 5)


@pytest.fixture
def redis_backend() -> t.Iterator[RedisBackend]:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no Redis here"
        need_service("Redis", f"{REDIS_URL}: {type(exc).__name__}")
    backend = RedisBackend(REDIS_URL, prefix=f"qbo-test:{uuid.uuid4().hex}", slot_ttl=5)
    yield backend
    backend.reset("r")


@pytest.mark.redis
def test_redis_backend_shares_limits_between_processes(redis_backend: RedisBackend) -> None:
    other = RedisBackend(REDIS_URL, prefix=redis_backend.prefix)  # as another worker would build it
    limits = Limits(per_minute=3, concurrent=2, batch_per_minute=1)
    first, wait = redis_backend.try_acquire("r", batch=True, limits=limits)
    assert first and wait == 0
    second, _ = other.try_acquire("r", batch=False, limits=limits)
    assert second
    refused, wait = other.try_acquire("r", batch=False, limits=limits)
    assert refused is None and wait == pytest.approx(0.01)  # concurrency full: poll soon
    redis_backend.release("r", first)
    refused, wait = other.try_acquire("r", batch=True, limits=limits)
    assert refused is None and 55 < wait <= 60 + MARGIN  # the batch window is full for a minute
    third, _ = other.try_acquire("r", batch=False, limits=limits)
    assert third
    other.release("r", second)
    other.release("r", third)
    refused, wait = redis_backend.try_acquire("r", batch=False, limits=limits)
    assert refused is None and 55 < wait <= 60 + MARGIN  # three requests in the last minute
    assert "redis://" not in repr(redis_backend)


@pytest.mark.redis
def test_redis_window_entries_outlive_the_window_by_the_margin(redis_backend: RedisBackend) -> None:
    short = RedisBackend(REDIS_URL, prefix=redis_backend.prefix, window=0.2, margin=0.3)
    limits = Limits(per_minute=1, concurrent=5, batch_per_minute=5)
    first, _ = short.try_acquire("r", batch=False, limits=limits)
    assert first
    refused, wait = short.try_acquire("r", batch=False, limits=limits)
    assert refused is None and 0.4 < wait <= 0.5  # window + margin, not the window alone
    time.sleep(0.3)  # past the window, inside the margin
    assert short.try_acquire("r", batch=False, limits=limits)[0] is None
    time.sleep(0.25)
    assert short.try_acquire("r", batch=False, limits=limits)[0]


@pytest.mark.redis
def test_redis_slots_of_a_dead_worker_expire(redis_backend: RedisBackend) -> None:
    short = RedisBackend(REDIS_URL, prefix=redis_backend.prefix, slot_ttl=0.2)
    limits = Limits(per_minute=100, concurrent=1, batch_per_minute=10)
    assert short.try_acquire("r", batch=False, limits=limits)[0]  # never released
    assert short.try_acquire("r", batch=False, limits=limits)[0] is None
    time.sleep(0.3)
    assert short.try_acquire("r", batch=False, limits=limits)[0]


def test_storage_url_selects_the_redis_backend(app: t.Any) -> None:
    app.config["QBO_RATE_LIMIT_STORAGE_URL"] = "redis://127.0.0.1:1/0"  # never contacted here
    backend = throttle_for(app).backend
    assert isinstance(backend, RedisBackend)
    assert (backend.window, backend.margin) == (60.0, MARGIN)
    scaled = build_throttle(app, time_scale=4).backend
    assert isinstance(scaled, RedisBackend) and (scaled.window, scaled.margin) == (15.0, MARGIN / 4)
