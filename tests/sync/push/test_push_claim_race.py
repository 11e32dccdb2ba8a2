"""Two workers that both picked the same outbox row: exactly one claim wins.

Below ``QBO_BATCH_THRESHOLD`` a worker pushes row by row: it reads the due
rows (:func:`push.candidates`), then takes each with :meth:`OUTBOX.claim`.  Two
workers can read the same row; the claim must be atomic so only one of them
pushes it.  The interleaving is forced, not hoped for: the second worker
reads only once the first has read and committed, and both claims meet at a
barrier just before their UPDATE reaches the database, so a claim that reads
first and writes after would let both through every time.

Each "worker" is its own app on the same database, as two processes would be,
of either host shape (tests/hosts/adapter.py).
The scenario is a function so the PostgreSQL test (tests/integration/test_push_pg.py)
runs it too, where the read is ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import threading
import typing as t

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from flask_qbo import get_qbo
from flask_qbo.models import Outbox
from flask_qbo.sync.push import push
from flask_qbo.sync.queue import OUTBOX
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from tests.hosts.adapter import HOSTS
from tests.hosts.adapter import Host
from tests.hosts.adapter import make_app

WAIT = 10  # seconds any step may take before the test calls the interleaving broken


def push_workers(database_uri: str, emulator: t.Any, kind: str = "hostapp") -> list[t.Any]:
    """Two worker apps of host ``kind`` on one database, wired to ``emulator``, with one connected tenant."""
    key = Fernet.generate_key().decode()
    apps = [make_app(kind, database_uri, QBO_TOKEN_ENCRYPTION_KEY=key, QBO_MAX_RETRIES=0) for _ in range(2)]
    for app in apps:
        attach_emulator(app, emulator)
    connect_tenant(apps[0], emulator, Host(kind, apps[0]).tenant, TEST_REALM)
    return apps


class Interleaving:
    """Forces two workers' single-row claims of one row to overlap.

    Worker 0 reads the due rows first; worker 1 reads only after worker 0 has
    committed its read and entered :meth:`OUTBOX.claim` (on PostgreSQL the read
    locks the rows it returns until that commit, and a later reader would skip
    them).  Then each claim's first UPDATE of ``qbo_outbox`` waits at a barrier
    until the other claim has reached its own.
    """

    def __init__(self) -> None:
        self.first_read = threading.Event()
        self.writes = threading.Barrier(2, timeout=WAIT)
        self.roles: dict[int, int] = {}
        self.claiming: set[int] = set()
        self.claims: list[tuple[int, int, bool]] = []
        self.lock = threading.Lock()

    def role(self) -> int:
        return self.roles[threading.get_ident()]

    def candidates(self, real: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
            if self.role() == 1 and not self.first_read.wait(WAIT):
                raise AssertionError("worker 0 never reached its claim")
            return real(*args, **kwargs)

        return wrapper

    def claim(self, real: t.Callable[..., bool]) -> t.Callable[..., bool]:
        def wrapper(session: t.Any, row_id: int, *args: t.Any, **kwargs: t.Any) -> bool:
            if self.role() == 0:
                self.first_read.set()
            with self.lock:
                self.claiming.add(threading.get_ident())
            won = real(session, row_id, *args, **kwargs)
            with self.lock:
                self.claims.append((self.role(), row_id, won))
            return won

        return wrapper

    def before_execute(self, conn: t.Any, cursor: t.Any, statement: str, *args: t.Any) -> None:
        """The moment a claim writes: wait until the other claim is about to write as well."""
        me = threading.get_ident()
        with self.lock:
            writing = me in self.claiming and statement.lstrip().upper().startswith("UPDATE QBO_OUTBOX")
            if writing:
                self.claiming.discard(me)  # one meeting per claim
        if writing:
            self.writes.wait()


def scenario_one_claim_wins(apps: list[t.Any], emulator: t.Any, monkeypatch: t.Any, kind: str = "hostapp") -> None:
    """Both workers (apps of host ``kind``) hold the same row as a candidate and claim it at once: one pushes it, once."""
    host = Host(kind, apps[0])
    db = host.db
    forced = Interleaving()
    monkeypatch.setattr(push, "candidates", forced.candidates(push.candidates))
    monkeypatch.setattr(OUTBOX, "claim", forced.claim(OUTBOX.claim))
    engines = []
    for app in apps:
        with app.app_context():
            engines.append(db.engine)
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", forced.before_execute)
    with apps[0].app_context():
        contact = host.contact("Race Claim", email="race@example.com")
        db.session.add(contact)
        db.session.commit()
        assert db.session.query(Outbox).count() < int(apps[0].config["QBO_BATCH_THRESHOLD"])  # row-by-row path
        db.session.remove()
    handled: dict[int, t.Any] = {}

    def work(n: int) -> None:
        forced.roles[threading.get_ident()] = n
        with apps[n].app_context():
            try:
                handled[n] = push.process(get_qbo(apps[n]), limit=10)
            except Exception as exc:  # reported by the assertions below
                handled[n] = exc
            finally:
                db.session.remove()

    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(3 * WAIT)
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", forced.before_execute)
    assert sorted(role for role, _, _ in forced.claims) == [0, 1], (forced.claims, handled)  # both tried...
    assert len({row for _, row, _ in forced.claims}) == 1  # ...the same row
    assert sorted(won for _, _, won in forced.claims) == [False, True], forced.claims
    assert not any(isinstance(v, BaseException) for v in handled.values()), handled
    assert sorted(handled.values()) == [0, 1]
    with apps[0].app_context():
        [row] = db.session.query(Outbox).all()
        assert (row.status, row.attempts) == ("done", 1)
        db.session.remove()
    [customer] = emulator.store.list(TEST_REALM, "Customer", include_inactive=True)
    assert customer["PrimaryEmailAddr"]["Address"] == "race@example.com"


@pytest.mark.parametrize("kind", HOSTS)
def test_one_claim_wins_sqlite(tmp_path: t.Any, emulator: t.Any, monkeypatch: t.Any, kind: str) -> None:
    apps = push_workers(f"sqlite:///{tmp_path / 'claim.sqlite'}", emulator, kind)
    scenario_one_claim_wins(apps, emulator, monkeypatch, kind)
