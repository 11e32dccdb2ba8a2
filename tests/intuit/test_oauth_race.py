"""Two workers refreshing the same connection at once never lose the newest refresh token.

Each "worker" is its own Flask app on the same database (as two processes
would be), so the in-process lock cannot help: only the compare-and-set on
the stored refresh token keeps the newest one.  The scenarios are functions so
the PostgreSQL test (tests/integration/test_token_race_pg.py) runs them too.
"""

from __future__ import annotations

import datetime as dt
import threading
import typing as t

from cryptography.fernet import Fernet

from flask_qbo import signals
from flask_qbo.intuit import auth
from flask_qbo.intuit import oauth
from flask_qbo.models import Connection
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from tests.hostapp import make_app
from tests.intuit.test_client import record
from tests.intuit.test_oauth import TOKEN_PATH
from tests.intuit.test_oauth import current_refresh_token
from tests.intuit.test_oauth import stored


def two_workers(database_uri: str, emulator: t.Any) -> tuple[t.Any, t.Any, int]:
    """Two apps on one database, both wired to ``emulator``, and one connection."""
    key = Fernet.generate_key().decode()  # both workers must share the encryption key
    first = make_app(database_uri, QBO_TOKEN_ENCRYPTION_KEY=key)
    second = make_app(database_uri, QBO_TOKEN_ENCRYPTION_KEY=key)
    attach_emulator(first, emulator)
    attach_emulator(second, emulator)
    connection = connect_tenant(first, emulator, "acme", TEST_REALM)
    return first, second, connection.id


def load(app: t.Any, connection_id: int) -> Connection:
    with app.app_context():
        session = get_qbo(app).state(app).db.session
        connection = session.get(Connection, connection_id)
        session.expunge(connection)
        return connection


def expire_stored_access_token(app: t.Any, connection_id: int) -> None:
    with app.app_context():
        session = get_qbo(app).state(app).db.session
        session.get(Connection, connection_id).access_expires_at = utcnow() - dt.timedelta(seconds=1)
        session.commit()


def run(app: t.Any, action: t.Callable[[], t.Any], results: dict[str, t.Any], key: str) -> threading.Thread:
    def target() -> None:
        with app.app_context():
            try:
                results[key] = action()
            except Exception as exc:  # reported by the test's assertions
                results[key] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def scenario_simultaneous_refresh(first: t.Any, second: t.Any, connection_id: int, emulator: t.Any) -> None:
    """Both workers are inside the token endpoint at the same moment; one rotation is stored."""
    barrier = threading.Barrier(2, timeout=10)
    for app in (first, second):
        recorder = record(app, emulator)
        recorder.before = lambda req: barrier.wait() if TOKEN_PATH in (req.url or "") else None
    expire_stored_access_token(first, connection_id)
    connections = {"a": load(first, connection_id), "b": load(second, connection_id)}
    rotations: list[t.Any] = []

    def on_rotated(sender: t.Any, **kwargs: t.Any) -> None:
        rotations.append(sender)

    signals.token_rotated.connect(on_rotated)
    try:
        results: dict[str, t.Any] = {}
        threads = [
            run(app, lambda app=app, key=key: auth.access_token(get_qbo(app), connections[key]), results, key)
            for app, key in ((first, "a"), (second, "b"))
        ]
        for thread in threads:
            thread.join(20)
    finally:
        signals.token_rotated.disconnect(on_rotated)
    assert not any(isinstance(v, Exception) for v in results.values()), results
    row = stored(first, connection_id)
    assert row["status"] == "connected"
    assert row["refresh"] == current_refresh_token(emulator)
    assert len(rotations) == 1  # exactly one compare-and-set won
    cipher = get_qbo(first).state(first).cipher
    for key in ("a", "b"):
        assert cipher.decrypt(connections[key].refresh_token_enc) == row["refresh"]
        emulator.tokens.check_access(results[key])  # both tokens work


def scenario_late_response_never_overwrites(first: t.Any, second: t.Any, connection_id: int, emulator: t.Any) -> None:
    """A slow worker's rotation lands after two newer ones: it must not overwrite them.

    Without the compare-and-set the slow worker writes its (older) refresh token
    last and the newest one is lost.
    """
    processed, release = threading.Event(), threading.Event()

    def hold_token_response(req: t.Any, resp: t.Any) -> None:
        if TOKEN_PATH in (req.url or ""):
            processed.set()
            release.wait(10)

    record(second, emulator).after = hold_token_response
    expire_stored_access_token(first, connection_id)
    slow = load(second, connection_id)
    fast = load(first, connection_id)
    results: dict[str, t.Any] = {}
    thread = run(second, lambda: auth.access_token(get_qbo(second), slow), results, "slow")
    assert processed.wait(10)  # the slow worker's rotation happened at Intuit; its answer is in flight
    with first.app_context():
        qbo = get_qbo(first)
        oauth.refresh(qbo, fast)
        oauth.refresh(qbo, fast)
    newest = current_refresh_token(emulator)
    assert stored(first, connection_id)["refresh"] == newest
    release.set()
    thread.join(20)
    assert not isinstance(results.get("slow"), Exception), results
    assert stored(first, connection_id)["refresh"] == newest
    cipher = get_qbo(second).state(second).cipher
    assert cipher.decrypt(slow.refresh_token_enc) == newest
    emulator.tokens.check_access(results["slow"])


class ReportedLock:
    """A connection's real refresh lock that reports each thread which finds it taken and has to wait."""

    def __init__(self, lock: threading.Lock, waiting: t.Callable[[], None]) -> None:
        self.lock = lock
        self.waiting = waiting

    def __enter__(self) -> ReportedLock:
        if not self.lock.acquire(blocking=False):
            self.waiting()
            self.lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


class Rendezvous:
    """Holds every token-endpoint call until all threads have caught up with the first one.

    A thread catches up by reaching the token endpoint itself (no lock kept it
    out) or by finding the connection's lock taken.  So, whatever the
    scheduler does, no rotation is answered before every thread is inside
    :func:`oauth.refresh`: without the lock each of them calls Intuit.
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.caught_up = 0
        self.timed_out = False
        self.condition = threading.Condition()

    def catch_up(self) -> None:
        with self.condition:
            self.caught_up += 1
            self.condition.notify_all()

    def token_call(self, request: t.Any) -> None:
        if TOKEN_PATH not in (request.url or ""):
            return
        self.catch_up()
        with self.condition:
            if not self.condition.wait_for(lambda: self.caught_up >= self.threads, timeout=10):
                self.timed_out = True


def scenario_threads_share_one_refresh(app: t.Any, connection_id: int, emulator: t.Any, monkeypatch: t.Any) -> None:
    """Many threads of one worker with an expired token cause one token-endpoint call.

    Token calls are held at the endpoint until the other threads are either
    waiting for the per-connection lock or at the endpoint too, so a missing
    (or per-call) lock fails this every time, not by luck.
    """
    threads_count = 6
    hold = Rendezvous(threads_count)
    lock_for = oauth._lock_for
    monkeypatch.setattr(oauth, "_lock_for", lambda *args: ReportedLock(lock_for(*args), hold.catch_up))
    recorder = record(app, emulator)
    recorder.before = hold.token_call
    expire_stored_access_token(app, connection_id)
    connections = [load(app, connection_id) for _ in range(threads_count)]
    results: dict[str, t.Any] = {}
    threads = [
        run(app, lambda c=c: auth.access_token(get_qbo(app), c), results, str(i)) for i, c in enumerate(connections)
    ]
    for thread in threads:
        thread.join(20)
    assert not hold.timed_out, f"only {hold.caught_up} of {threads_count} threads reached the refresh"
    assert len(recorder.matching(TOKEN_PATH)) == 1
    assert len(results) == threads_count and len(set(results.values())) == 1, results
    emulator.tokens.check_access(results["0"])
    assert stored(app, connection_id)["refresh"] == current_refresh_token(emulator)


def test_simultaneous_refresh_sqlite(tmp_path: t.Any, emulator: t.Any) -> None:
    first, second, connection_id = two_workers(f"sqlite:///{tmp_path / 'race.sqlite'}", emulator)
    scenario_simultaneous_refresh(first, second, connection_id, emulator)


def test_late_response_never_overwrites_sqlite(tmp_path: t.Any, emulator: t.Any) -> None:
    first, second, connection_id = two_workers(f"sqlite:///{tmp_path / 'race.sqlite'}", emulator)
    scenario_late_response_never_overwrites(first, second, connection_id, emulator)


def test_threads_share_one_refresh_sqlite(tmp_path: t.Any, emulator: t.Any, monkeypatch: t.Any) -> None:
    first, _, connection_id = two_workers(f"sqlite:///{tmp_path / 'race.sqlite'}", emulator)
    scenario_threads_share_one_refresh(first, connection_id, emulator, monkeypatch)
