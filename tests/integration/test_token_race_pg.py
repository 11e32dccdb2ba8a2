"""The refresh-token race on PostgreSQL: two workers, one database, the newest token kept.

Runs the same scenarios as tests/unit/test_tokens_race.py in a schema of its
own (created and dropped here), so it never touches other tests' tables.
"""

from __future__ import annotations

import typing as t

import pytest

from ..unit.test_tokens_race import scenario_late_response_never_overwrites
from ..unit.test_tokens_race import scenario_simultaneous_refresh
from ..unit.test_tokens_race import scenario_threads_share_one_refresh
from ..unit.test_tokens_race import two_workers

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(pg: tuple[str, str]) -> str:
    """A URL whose search_path is a fresh schema (see the ``pg`` fixture)."""
    return pg[0]


def _dispose(*apps: t.Any) -> None:
    """Close the apps' pools so the schema can be dropped."""
    from flask_qbo.extension import get_qbo

    for app in apps:
        with app.app_context():
            get_qbo(app).state(app).db.engine.dispose()


def test_simultaneous_refresh_postgres(pg_url: str, emulator: t.Any) -> None:
    first, second, connection_id = two_workers(pg_url, emulator)
    try:
        scenario_simultaneous_refresh(first, second, connection_id, emulator)
    finally:
        _dispose(first, second)


def test_late_response_never_overwrites_postgres(pg_url: str, emulator: t.Any) -> None:
    first, second, connection_id = two_workers(pg_url, emulator)
    try:
        scenario_late_response_never_overwrites(first, second, connection_id, emulator)
    finally:
        _dispose(first, second)


def test_threads_share_one_refresh_postgres(pg_url: str, emulator: t.Any) -> None:
    first, second, connection_id = two_workers(pg_url, emulator)
    try:
        scenario_threads_share_one_refresh(first, connection_id, emulator)
    finally:
        _dispose(first, second)
