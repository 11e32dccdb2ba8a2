"""The convergence soak (issue 10): both sides agree after random edits under faults.

Quick mode (CI): 200 customers and about 1,500 operations.  Long mode:
``pytest tests/soak --soak-long`` or ``QBO_SOAK_LONG=1``.  The figures are
printed as one JSON line; ``python -m benchmarks.soak`` prints the same.
"""

from __future__ import annotations

import functools
import json
import os
import typing as t

import pytest

from ..conftest import POSTGRES_URL
from ..conftest import need_service
from .soak import FAULTS
from .soak import Options
from .soak import Soak
from .soak import run

pytestmark = [pytest.mark.soak, pytest.mark.timeout(1800)]


def _long(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--soak-long", default=False)) or os.environ.get("QBO_SOAK_LONG") == "1"


def _assert_converged(figures: dict[str, t.Any], customers: int) -> None:
    print(json.dumps(figures))
    assert figures["customers"] >= customers
    assert all(figures["faults_by_kind"][kind] >= 1 for kind, _ in FAULTS), figures["faults_by_kind"]
    assert figures["webhooks"]["dropped"] > 0
    docs = figures["documents"]
    assert docs["documents"] > 0 and docs["actions"] > 0 and docs["documents_for_unlinked_contacts"] > 0, docs
    assert docs["conversions"] > 0 and docs["lost_answers_on_documents"] > 0, docs
    assert figures["converged"], json.dumps(figures["examples"], indent=1)


def test_both_sides_converge_under_faults(request: pytest.FixtureRequest) -> None:
    options = Options.long() if _long(request) else Options.quick()
    _assert_converged(run(options), options.customers)


@pytest.mark.parametrize("policy", ["crm", "qbo"])
def test_a_policy_that_ignores_edit_times_fails_the_soak(policy: str) -> None:
    """The checks can fail: an engine that always prefers one side does not pass for newest-wins.

    The soak stages conflicts in both directions, so each of these policies
    settles some of them for the side that edited first.
    """
    figures = run(Options(customers=60, edits=300, config={"QBO_CONFLICT_POLICY": policy}))
    assert figures["conflicts_staged"] > 0
    assert figures["problems"]["conflicts"] > 0, json.dumps(figures["problems"])
    assert not figures["converged"]


def test_deletes_and_inactivations_date_the_record() -> None:
    """An inactivation moves QBO's LastUpdatedTime, so newest-wins dates QBO's side by it; the checker must too.

    The soak once reported "qbo won, but crm changed the record last" for a person
    whose customer had been made inactive in QBO after the CRM's last edit: the
    inactivation was missing from the person's history.
    """
    soak = Soak(Options(customers=2, edits=0))
    try:
        with soak.app.app_context():
            assert soak.operate("qbo_create") and soak.operate("crm_create")
            for kind in ("qbo_inactivate", "crm_delete"):
                side = kind.split("_")[0]
                pick = functools.partial(_first_of, side)
                soak.rng.choice = pick  # the person the operation acts on
                assert soak.operate(kind)
        writes = [(w.side, w.attr) for p in soak.people for w in p.history]
        assert writes == [("qbo", None), ("qbo", None), ("crm", None), ("crm", None)]
    finally:
        soak.close()


def _first_of(origin: str, people: t.Sequence[t.Any]) -> t.Any:
    return next(p for p in people if p.origin == origin)


def test_a_drain_that_hits_its_round_limit_is_a_problem() -> None:
    """Two quiet rounds are needed to call the drain settled: one round is never enough."""
    figures = run(Options(customers=20, edits=60, max_drain_rounds=1))
    assert figures["problems"]["drain"] > 0
    assert not figures["converged"]


@pytest.fixture
def pg_url() -> t.Iterator[str]:
    """A fresh PostgreSQL schema for the run (skipped, or failed in CI, without PostgreSQL)."""
    from ..integration.services import pg_schema

    schema = pg_schema(POSTGRES_URL, prefix="qbo_soak")
    try:
        url = schema.__enter__()
    except Exception as exc:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        need_service("PostgreSQL", f"{POSTGRES_URL.split('@')[-1]}: {type(exc).__name__}")
    yield url
    schema.__exit__(None, None, None)


@pytest.mark.postgres
def test_both_sides_converge_on_postgresql(request: pytest.FixtureRequest, pg_url: str) -> None:
    """The same churn on PostgreSQL (row locks, real transactions, a real driver's disconnect errors)."""
    options = Options.long() if _long(request) else Options(customers=200, edits=400)
    options.database_url = pg_url
    _assert_converged(run(options), options.customers)
