"""The import's page upsert on a real PostgreSQL: the SQLite cases of ``tests/importing/test_bulk_upsert.py``.

PostgreSQL has its own ``INSERT … ON CONFLICT`` dialect and compares the
SyncTokens with a regular expression instead of ``GLOB``; the same cases prove
both.
"""

from __future__ import annotations

import typing as t

import pytest

from tests.hostapp import make_app
from tests.importing.test_bulk_upsert import test_a_deleted_item_in_a_page_tombstones_its_row  # noqa: F401
from tests.importing.test_bulk_upsert import test_a_page_is_one_statement_that_inserts_and_updates  # noqa: F401
from tests.importing.test_bulk_upsert import test_a_repeated_id_in_one_page_keeps_the_newest  # noqa: F401
from tests.importing.test_bulk_upsert import test_an_older_page_never_overwrites_a_newer_row  # noqa: F401
from tests.importing.test_bulk_upsert import test_customer_rules_match_the_single_row_path  # noqa: F401
from tests.importing.test_bulk_upsert import test_transactions_newer_wins_and_a_tombstone_holds  # noqa: F401
from tests.importing.test_bulk_upsert import test_without_comparable_tokens_the_later_time_wins  # noqa: F401
from tests.importing.test_bulk_upsert import with_connection


@pytest.fixture
def store_app(pg: tuple[str, str]) -> t.Iterator[t.Any]:
    """The host app on a fresh PostgreSQL schema with one connection row."""
    from tests.hostapp import db

    app = with_connection(make_app(pg[0]))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
