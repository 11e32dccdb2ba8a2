"""``host_kind``: the integration scenarios run against every host shape (issue 20, item 8).

A module asks for ``host_kind`` and builds its apps with
:func:`tests.hosts.adapter.build`, so each scenario runs once on ``hostapp``
(the demo's shape) and once on ``crm2`` (one ``name``, addresses in a related
table, CSRFProtect, Flask-Migrate).
"""

from __future__ import annotations

import pytest

from tests.hosts.adapter import HOSTS


@pytest.fixture(params=HOSTS)
def host_kind(request: pytest.FixtureRequest) -> str:
    """``"hostapp"`` or ``"crm2"``."""
    return str(request.param)
