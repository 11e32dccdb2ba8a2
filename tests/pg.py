"""A throwaway PostgreSQL schema per test (or benchmark), so runs never see each other's rows."""

from __future__ import annotations

import contextlib
import typing as t
import uuid

import sqlalchemy as sa


@contextlib.contextmanager
def postgres_schema(base_url: str, prefix: str = "qbo_test") -> t.Iterator[tuple[str, str]]:
    """Yield ``(url, schema)``: a fresh schema and a URL that puts it first on ``search_path``.

    The schema is dropped on exit.  Raises SQLAlchemy's error when the server is
    unreachable; callers in pytest turn that into a skip or a failure.
    """
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base_url, pool_pre_ping=True)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception:
        admin.dispose()
        raise
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}", schema
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
