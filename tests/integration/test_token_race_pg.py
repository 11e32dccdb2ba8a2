"""The refresh-token race on PostgreSQL: two workers, one database, the newest token kept.

Runs the same scenarios as tests/intuit/test_oauth_race.py in a schema of its
own (the ``pg`` fixture creates and drops it), so it never touches other tests' tables.
"""

from __future__ import annotations

import typing as t

import pytest

from flask_qbo.state import get_qbo
from tests.intuit.test_oauth_race import scenario_late_response_never_overwrites
from tests.intuit.test_oauth_race import scenario_simultaneous_refresh
from tests.intuit.test_oauth_race import scenario_threads_share_one_refresh
from tests.intuit.test_oauth_race import two_workers

pytestmark = pytest.mark.postgres


@pytest.fixture
def workers(pg: tuple[str, str], emulator: t.Any) -> t.Iterator[tuple[t.Any, t.Any, int]]:
    """Two worker apps on one fresh schema and their shared connection id; pools closed afterwards."""
    first, second, connection_id = two_workers(pg[0], emulator)
    yield first, second, connection_id
    for app in (first, second):  # the schema is dropped next: no pooled connection may hold it
        with app.app_context():
            get_qbo(app).state(app).db.engine.dispose()


def test_simultaneous_refresh_postgres(workers: tuple[t.Any, t.Any, int], emulator: t.Any) -> None:
    first, second, connection_id = workers
    scenario_simultaneous_refresh(first, second, connection_id, emulator)


def test_late_response_never_overwrites_postgres(workers: tuple[t.Any, t.Any, int], emulator: t.Any) -> None:
    first, second, connection_id = workers
    scenario_late_response_never_overwrites(first, second, connection_id, emulator)


def test_threads_share_one_refresh_postgres(
    workers: tuple[t.Any, t.Any, int], emulator: t.Any, monkeypatch: t.Any
) -> None:
    first, _second, connection_id = workers
    scenario_threads_share_one_refresh(first, connection_id, emulator, monkeypatch)
