"""A database session on the host app (SQLite), inside an app context."""

from __future__ import annotations

import typing as t

import pytest
from sqlalchemy.orm import Session

from tests.hostapp import db


@pytest.fixture
def session(app: t.Any) -> t.Iterator[Session]:
    with app.app_context():
        yield db.session()
        db.session.remove()
