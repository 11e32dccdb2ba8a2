"""Fixtures of the import's tests (``tests/integration/test_import_upsert_pg.py`` has PostgreSQL's own)."""

from __future__ import annotations

import typing as t

import pytest

from tests.hostapp import make_app
from tests.importing.test_bulk_upsert import with_connection


@pytest.fixture
def store_app(tmp_path: t.Any) -> t.Any:
    """An app on a file SQLite database with one connection row (no emulator needed)."""
    return with_connection(make_app(f"sqlite:///{tmp_path / 'crm.sqlite'}"))
