"""``host_kind``: the integration scenarios run against every host shape (issue 20, item 8).

A module asks for ``host_kind`` and builds its apps with
:func:`tests.hosts.adapter.build`, so each scenario runs once on ``hostapp``
(the demo's shape) and once on ``crm2`` (one ``name``, addresses in a related
table, CSRFProtect, Flask-Migrate).

On both hosts: push (test_push_pg), pull (test_pull_pg, test_untrusted_text_pg),
import (test_import_apply_pg) and a contact's round trip (test_hosts_pg).
test_alembic parametrizes its Flask-Migrate scenarios itself (crm2 sets up
Flask-Migrate in its own factory).  Not parametrized: test_token_race_pg (OAuth
tokens live in ``qbo_connection`` only; no contact is involved) and
test_celery (its worker processes load celery_app.py, a hostapp build; the
outbox they drain is the one test_push_pg runs on both hosts).
"""

from __future__ import annotations

import pytest

from tests.hosts.adapter import HOSTS


@pytest.fixture(params=HOSTS)
def host_kind(request: pytest.FixtureRequest) -> str:
    """``"hostapp"`` or ``"crm2"``."""
    return str(request.param)
