"""A read sent from a helper thread: its answer, its errors, its token and its metered reads."""

from __future__ import annotations

import threading
import typing as t

import pytest

from flask_qbo.errors import QBOValidationError
from flask_qbo.intuit.aside import Aside
from flask_qbo.intuit.client import QBOClient
from flask_qbo.models import Connection
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM


@pytest.fixture
def qbo_client(app: t.Any, connected: Connection) -> t.Iterator[QBOClient]:
    with app.app_context():
        yield get_qbo(app).client(connected)


def reads(app: t.Any, connected: Connection) -> int:
    session = get_qbo(app).state(app).db.session
    session.expire_all()
    return int(t.cast(Connection, session.get(Connection, connected.id)).reads_count or 0)


def names(client: QBOClient) -> list[str]:
    return sorted(str(c["DisplayName"]) for c in client.query("SELECT * FROM Customer WHERE Active IN (true, false)"))


def test_the_read_runs_on_another_thread_and_its_reads_are_metered_on_the_connection(
    app: t.Any, connected: Connection, qbo_client: QBOClient, emulator: t.Any
) -> None:
    emulator.store.create(TEST_REALM, "Customer", {"DisplayName": "Ann Lee"})
    threads: list[str] = []

    def read(client: QBOClient) -> list[str]:
        threads.append(threading.current_thread().name)
        return names(client)

    with Aside(get_qbo(app), qbo_client, read) as aside:
        assert aside.result() == ["Ann Lee"]
    assert threads and threads[0].startswith("qbo-aside")
    assert reads(app, connected) == 1


def test_leaving_the_block_waits_for_the_helper_and_meters_it_even_when_the_caller_failed(
    app: t.Any, connected: Connection, qbo_client: QBOClient
) -> None:
    started, go_on, finished = threading.Event(), threading.Event(), threading.Event()

    def read(client: QBOClient) -> list[str]:
        started.set()
        go_on.wait(5)
        found = names(client)
        finished.set()
        return found

    def release_later() -> None:
        started.wait(5)
        go_on.set()

    with pytest.raises(RuntimeError, match="the caller's own read failed"):
        with Aside(get_qbo(app), qbo_client, read):
            threading.Thread(target=release_later).start()
            raise RuntimeError("the caller's own read failed")
    assert finished.is_set()  # no request of the batch is still in flight
    assert reads(app, connected) == 1


def test_the_helpers_error_is_raised_by_result_as_the_callers_own(
    app: t.Any, connected: Connection, qbo_client: QBOClient
) -> None:
    with Aside(get_qbo(app), qbo_client, lambda client: list(client.query("SELECT * FROM Nothing"))) as aside:
        with pytest.raises(QBOValidationError):
            aside.result()
    assert reads(app, connected) == 0


def test_a_refused_borrowed_token_sends_the_read_again_on_the_callers_client_which_refreshes_it(
    app: t.Any, connected: Connection, qbo_client: QBOClient, emulator: t.Any
) -> None:
    emulator.store.create(TEST_REALM, "Customer", {"DisplayName": "Ann Lee"})
    emulator.expire_access_tokens(TEST_REALM)
    clients: list[QBOClient] = []

    def read(client: QBOClient) -> list[str]:
        clients.append(client)
        return names(client)

    with Aside(get_qbo(app), qbo_client, read) as aside:
        assert aside.result() == ["Ann Lee"]
    assert len(clients) == 2 and clients[1] is qbo_client  # the helper's try was refused
    session = get_qbo(app).state(app).db.session
    session.expire_all()
    conn = t.cast(Connection, session.get(Connection, connected.id))
    assert conn.status == "connected"  # refreshed, not flagged for a reconnect
    assert reads(app, connected) == 1


def test_the_callers_reads_in_the_block_are_recorded_with_the_helpers_in_one_write(
    app: t.Any, connected: Connection, qbo_client: QBOClient
) -> None:
    """Each record is a write transaction of its own: a batch's two lookups were two."""
    recorded: list[int] = []
    meter = t.cast("t.Callable[[int], None]", qbo_client.on_read)

    def record(count: int) -> None:
        recorded.append(count)
        meter(count)

    qbo_client.on_read = record
    with Aside(get_qbo(app), qbo_client, names) as aside:
        assert names(qbo_client) == aside.result()
        assert recorded == []  # nothing is written while the block lasts
    assert recorded == [2] and qbo_client.on_read is record
    assert reads(app, connected) == 2
    names(qbo_client)
    assert recorded == [2, 1]  # after the block, each read is recorded as it comes again
