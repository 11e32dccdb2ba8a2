"""The ``host`` fixture: the same scenarios against every host shape in the suite.

:mod:`tests.hosts.adapter` says how each host is driven; here each one is built
on SQLite for one test and wired to the in-process emulator.
"""

from __future__ import annotations

import pathlib
import typing as t

import pytest

from flask_qbo.testing import attach_emulator
from tests.hosts.adapter import HOSTS
from tests.hosts.adapter import Host
from tests.hosts.adapter import build


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest, tmp_path: pathlib.Path, emulator: t.Any) -> t.Iterator[Host]:
    """Each host in turn, wired to the in-process emulator (not connected yet)."""
    built = build(request.param, f"sqlite:///{tmp_path / 'host.sqlite'}")
    attach_emulator(built.app, emulator)
    yield built
    built.dispose()
