"""CDC polls with many companies: only due connections are loaded, one commit per poll,
and one company is never polled twice at once (issue 16, item 4)."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import typing as t
from unittest import mock

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from flask_qbo.models import Connection
from flask_qbo.models import Customer
from flask_qbo.models import Inbox
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.sync.locks import ConnectionGone
from flask_qbo.sync.pull import polling
from flask_qbo.sync.pull import pull
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator
from tests.hostapp import db
from tests.hostapp import make_app
from tests.sync.pull.pull_support import add_customer
from tests.sync.pull.pull_support import pending_event

OTHER_REALMS = ("9130350000000001", "9130350000000002")


def _companies(app: t.Any, emulator: t.Any) -> dict[str, int]:
    """Tenants acme, bravo and carol, each connected to its own company; tenant → connection id."""
    ids = {"acme": connect_tenant(app, emulator, "acme", TEST_REALM).id}
    for tenant, realm in zip(("bravo", "carol"), OTHER_REALMS):
        emulator.add_company(realm, tenant.title())
        ids[tenant] = connect_tenant(app, emulator, tenant, realm).id
    return ids


def _polled_at(app: t.Any, **when: dt.datetime | None) -> None:
    with app.app_context():
        for conn in db.session.query(Connection):
            if conn.tenant_key in when:
                conn.last_cdc_at = when[conn.tenant_key]
        db.session.commit()


def test_due_only_query_never_loads_idle_connections(app: t.Any, emulator: t.Any) -> None:
    ids = _companies(app, emulator)
    app.config["QBO_CDC_INTERVAL"] = 300
    now = utcnow()
    _polled_at(app, acme=now - dt.timedelta(seconds=301), bravo=now - dt.timedelta(seconds=10), carol=now)
    loaded: list[int] = []

    def on_load(target: Connection, context: t.Any) -> None:
        loaded.append(target.id)

    event.listen(Connection, "load", on_load)
    try:
        with app.app_context():
            pull.poll_due(get_qbo(app))
    finally:
        event.remove(Connection, "load", on_load)
    assert loaded == [ids["acme"]]  # bravo and carol are idle: never loaded as objects
    with app.app_context():
        polled = {c.tenant_key: c.last_cdc_at for c in db.session.query(Connection)}
    assert polled["acme"] is not None and polled["acme"] > now
    assert polled["bravo"] == now - dt.timedelta(seconds=10)


def test_a_poll_commits_once(app: t.Any, emulator: t.Any) -> None:
    """The poll's metered read is counted by the poll's own commit, not by a transaction of its own."""
    _companies(app, emulator)
    _polled_at(app, carol=utcnow())
    add_customer(emulator, GivenName="One", FamilyName="Commit")
    add_customer(emulator, realm=OTHER_REALMS[0], GivenName="Two", FamilyName="Commit")
    with app.app_context():
        engine = get_qbo(app).state(app).db.engine
        commits: list[object] = []

        def on_commit(connection: object) -> None:
            commits.append(connection)

        event.listen(engine, "commit", on_commit)
        try:
            assert pull.poll_due(get_qbo(app)) == 2
        finally:
            event.remove(engine, "commit", on_commit)
        db.session.remove()
        month = utcnow().strftime("%Y-%m")
        counted = {c.tenant_key: (c.reads_count, c.reads_month) for c in db.session.query(Connection)}
    assert counted["acme"] == counted["bravo"] == (1, month)
    # One for the tick's due-id query, then one per poll (acme's and bravo's; carol is not due).
    assert len(commits) == 1 + 2


def test_a_company_is_never_polled_twice_at_once(app: t.Any, emulator: t.Any, connected: t.Any) -> None:
    """A second poll_due (another thread, a CLI run) skips the company whose poll is in flight."""
    inside = threading.Event()
    release = threading.Event()
    calls: list[str] = []
    real_poll = pull.poll_cdc

    def blocking_poll(qbo: t.Any, connection: Connection) -> int:
        calls.append(connection.tenant_key)
        inside.set()
        assert release.wait(10)
        return real_poll(qbo, connection)

    def first() -> None:
        with app.app_context():
            pull.poll_due(get_qbo(app))
            db.session.remove()

    pull.poll_cdc = blocking_poll  # type: ignore[assignment]
    try:
        worker = threading.Thread(target=first)
        worker.start()
        assert inside.wait(10)
        with app.app_context():
            assert pull.poll_due(get_qbo(app)) == 0  # acme's poll is running: skipped, not repeated
            db.session.remove()
        release.set()
        worker.join(10)
    finally:
        release.set()
        pull.poll_cdc = real_poll  # type: ignore[assignment]
    assert calls == ["acme"]


@pytest.mark.postgres
def test_a_company_polled_by_another_process_is_skipped(pg: tuple[str, str]) -> None:
    """Another worker process holds the company's poll lock (PostgreSQL advisory lock): this one skips it."""
    emu = make_emulator()
    app = make_app(pg[0])
    attach_emulator(app, emu)
    conn_id = connect_tenant(app, emu, "acme", TEST_REALM).id
    other = sa.create_engine(pg[0])
    try:
        with other.connect() as worker:
            worker.execute(sa.select(sa.func.pg_advisory_xact_lock(polling.ADVISORY_KEY, conn_id)))
            with app.app_context():
                pull.poll_due(get_qbo(app))
                assert db.session.get(Connection, conn_id).last_cdc_at is None  # skipped, not polled twice
                db.session.commit()
            worker.rollback()  # the other worker's poll ends
        with app.app_context():
            pull.poll_due(get_qbo(app))
            assert db.session.get(Connection, conn_id).last_cdc_at is not None
            db.session.remove()
    finally:
        other.dispose()
        with app.app_context():
            db.engine.dispose()


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextlib.contextmanager
def _company(database: str, request: pytest.FixtureRequest, tmp_path: t.Any) -> t.Iterator[tuple[t.Any, t.Any, int]]:
    """The host app on ``database`` with acme connected; yields ``(app, emulator, connection id)``."""
    url = request.getfixturevalue("pg")[0] if database == "postgres" else f"sqlite:///{tmp_path / 'crm.sqlite'}"
    emu = make_emulator()
    app = make_app(url)
    attach_emulator(app, emu)
    try:
        yield app, emu, connect_tenant(app, emu, "acme", TEST_REALM).id
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("changes", [True, False], ids=["a change to apply", "nothing to apply"])
@pytest.mark.parametrize("database", DATABASES)
def test_a_poll_overtaken_by_another_workers_poll_writes_nothing(
    database: str, changes: bool, request: pytest.FixtureRequest, tmp_path: t.Any
) -> None:
    """Another worker's poll of the company commits after this poll loaded the row (on PostgreSQL the
    statement that takes the poll lock reads the row as it was when it began): this poll is dropped.
    With nothing to apply, the check is the cursor's own update (issue 16: one statement fewer)."""
    with _company(database, request, tmp_path) as (app, emu, conn_id):
        if changes:
            add_customer(emu, GivenName="Overtaken")
        with app.app_context():  # an event inside the poll's window: the poll's cover would settle it
            pending_event()
        other = sa.create_engine(_url(app))
        theirs = utcnow().replace(microsecond=0)
        connections = t.cast(sa.Table, Connection.__table__)

        def overtaken(qbo: t.Any, connection: Connection) -> int:
            with other.begin() as worker:  # the other worker's poll, finished while this one reads QBO
                worker.execute(
                    sa.update(connections)
                    .where(connections.c.id == conn_id)
                    .values(last_cdc_at=theirs, cdc_cursor=theirs)
                )
            return pull.poll_cdc(qbo, connection)

        try:
            with app.app_context():
                assert polling.poll_one(get_qbo(app), conn_id, overtaken) == 0
                conn = db.session.get(Connection, conn_id)
                assert (conn.last_cdc_at, conn.cdc_cursor) == (theirs, theirs)  # the other poll's advance stands
                assert db.session.query(Customer).count() == 0  # and what this one read was not written
                assert db.session.query(Inbox.status).scalar() == "pending"
                db.session.remove()
        finally:
            other.dispose()


@pytest.mark.parametrize("database", DATABASES)
def test_a_poll_with_nothing_to_apply_holds_the_connection_with_its_cursors_update(
    database: str, request: pytest.FixtureRequest, tmp_path: t.Any
) -> None:
    """Issue 16, item 4: most polls of an idle company find nothing; such a poll loads the connection, moves
    its cursor (the first write, checked against an overtaking poll) and settles the window's events: three
    statements and one commit, where a separate hold of the connection row made four."""
    with _company(database, request, tmp_path) as (app, _, conn_id), app.app_context():
        engine = db.engine
        sent: list[str] = []

        def on_execute(*args: t.Any) -> None:
            sent.append(" ".join(str(args[2]).split()[:2]))

        event.listen(engine, "before_cursor_execute", on_execute)
        try:
            assert polling.poll_one(get_qbo(app), conn_id, pull.poll_cdc) == 0
        finally:
            event.remove(engine, "before_cursor_execute", on_execute)
        assert sent == ["SELECT qbo_connection.id,", "UPDATE qbo_connection", "UPDATE qbo_inbox"]
        assert db.session.get(Connection, conn_id).last_cdc_at is not None


@pytest.mark.parametrize("database", DATABASES)
def test_a_connection_deleted_while_a_poll_with_nothing_to_apply_reads_qbo_is_gone(
    database: str, request: pytest.FixtureRequest, tmp_path: t.Any
) -> None:
    with _company(database, request, tmp_path) as (app, _, conn_id), app.app_context():
        other = sa.create_engine(_url(app))
        qbo = get_qbo(app)
        connection = db.session.get(Connection, conn_id)
        client = qbo.client(connection)
        real_cdc = type(client).cdc

        def cdc_then_disconnect(self: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
            with other.begin() as worker:  # a disconnect purges the connection meanwhile
                worker.execute(sa.delete(Connection.__table__).where(Connection.__table__.c.id == conn_id))
            return real_cdc(self, *args, **kwargs)

        try:
            with mock.patch.object(type(client), "cdc", cdc_then_disconnect):
                with pytest.raises(ConnectionGone):
                    pull.poll_cdc(qbo, connection)
        finally:
            other.dispose()


def _url(app: t.Any) -> str:
    with app.app_context():
        return db.engine.url.render_as_string(hide_password=False)
