"""Jobs (sub-customers): created under the parent's customer, after it; waits, failures, depth, moves.

:mod:`tests.sync.push.fxhost` declares ``parent="parent"``.  Orderings are
forced by which rows exist when :func:`push.process` runs and by making a
waiting row due again (``available_at``), never by sleeping.
"""

from __future__ import annotations

import typing as t

import pytest
from sqlalchemy import Column
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import relationship

from flask_qbo import QBOConfigError
from flask_qbo import get_qbo
from flask_qbo.models import Customer
from flask_qbo.models import Outbox
from flask_qbo.models import SyncLog
from flask_qbo.models import utcnow
from flask_qbo.sync.observable import check_parent
from flask_qbo.sync.push import push
from flask_qbo.sync.push.jobs import PARENT_WAIT
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from tests.sync.push.fxhost import Client
from tests.sync.push.fxhost import add
from tests.sync.push.fxhost import db
from tests.sync.push.fxhost import make_app


@pytest.fixture
def host(tmp_path: t.Any, emulator: t.Any) -> t.Iterator[t.Any]:
    app = make_app(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    attach_emulator(app, emulator)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    with app.app_context():
        yield app


def process() -> int:
    return push.process(get_qbo())


def drain() -> None:
    while process() > 0:
        pass


def customers(emulator: t.Any) -> dict[str, dict[str, t.Any]]:
    return {c["DisplayName"]: c for c in emulator.store.list(TEST_REALM, "Customer", include_inactive=True)}


def row_of(client: Client) -> Outbox:
    return db.session.query(Outbox).filter_by(contact_key=str(client.id)).order_by(Outbox.id.desc()).first()


def make_due(row: Outbox) -> None:
    row.available_at = utcnow()
    db.session.commit()


def test_a_job_is_created_under_its_parent_with_job_and_parentref(host: t.Any, emulator: t.Any) -> None:
    acme = add("Acme Corp", email="ap@acme.example")
    add("Acme Phase 1", email="ap@acme.example", parent=acme, bill_with_parent=True)  # jobs share the email
    drain()
    made = customers(emulator)
    parent, job = made["Acme Corp"], made["Acme Phase 1"]
    assert parent["Job"] is False
    assert job["Job"] is True and job["ParentRef"]["value"] == parent["Id"] and job["BillWithParent"] is True
    assert job["FullyQualifiedName"] == "Acme Corp:Acme Phase 1"
    link = db.session.query(Customer).filter_by(qbo_id=job["Id"]).one()
    assert (link.is_job, link.parent_qbo_id) == (True, parent["Id"])


def test_the_job_waits_while_its_parent_is_unlinked_then_follows_it(host: t.Any, emulator: t.Any) -> None:
    """The job's row runs first (the parent had none yet): it waits, spends no attempt, and queues the parent."""
    with get_qbo().suppress_capture():
        acme = add("Acme Corp")  # no row of its own
    job = add("Acme Phase 1", parent=acme)
    assert process() == 1
    waiting = row_of(job)
    assert waiting.status == "pending" and waiting.attempts == 0
    assert "Waiting for the parent 'Acme Corp'" in (waiting.last_error or "")
    assert (waiting.available_at - utcnow()).total_seconds() > PARENT_WAIT - 2
    assert row_of(acme).status == "pending" and customers(emulator) == {}

    assert process() == 1  # the parent's row; the job's is not due yet
    assert set(customers(emulator)) == {"Acme Corp"} and row_of(job).status == "pending"
    make_due(row_of(job))
    assert process() == 1
    made = customers(emulator)
    assert made["Acme Phase 1"]["ParentRef"]["value"] == made["Acme Corp"]["Id"]
    assert row_of(job).status == "done"


def test_an_older_job_row_is_put_back_behind_its_parents_in_the_same_round(host: t.Any, emulator: t.Any) -> None:
    with get_qbo().suppress_capture():
        acme = add("Acme Corp")
    job = add("Acme Phase 1", parent=acme)  # the older row
    push.request_sync(acme)
    assert row_of(job).id < row_of(acme).id
    assert process() == 2  # job put back, then the parent created, in one round
    assert set(customers(emulator)) == {"Acme Corp"} and row_of(job).attempts == 0
    make_due(row_of(job))
    drain()
    made = customers(emulator)
    assert made["Acme Phase 1"]["Job"] is True and made["Acme Phase 1"]["ParentRef"]["value"] == made["Acme Corp"]["Id"]


def test_a_job_fails_naming_its_parent_when_the_parents_push_failed(host: t.Any, emulator: t.Any) -> None:
    acme = add("Acme Corp", email="not an address")
    job = add("Acme Phase 1", parent=acme)
    drain()
    assert row_of(acme).status == "failed"
    failed = row_of(job)
    assert failed.status == "failed" and failed.error_code == "parent"
    assert "The parent 'Acme Corp' is not in QuickBooks" in (failed.last_error or "")
    assert customers(emulator) == {}

    acme.email = "ap@acme.example"  # fixed: the parent goes, then the job is retried
    db.session.commit()
    drain()
    assert push.retry(row_of(job).id, "acme")
    drain()
    assert customers(emulator)["Acme Phase 1"]["Job"] is True


def test_nesting_deeper_than_four_sub_levels_is_refused_before_sending(host: t.Any, emulator: t.Any) -> None:
    top = add("Level 0")
    drain()
    chain = [top]
    for level in range(1, 6):
        chain.append(add(f"Level {level}", parent=chain[-1]))
        drain()
    assert {f"Level {n}" for n in range(5)} == set(customers(emulator))
    assert customers(emulator)["Level 4"]["Level"] == 4
    deep = row_of(chain[5])
    assert (deep.status, deep.error_code) == ("failed", "preflight")
    assert "5 levels under its top-level customer; QuickBooks allows at most 4" in (deep.last_error or "")


def test_a_parent_chain_that_loops_is_refused(host: t.Any, emulator: t.Any) -> None:
    a, b = add("Alpha"), add("Beta")
    drain()
    a.parent_id, b.parent_id = b.id, a.id
    db.session.commit()
    drain()
    assert "lead back to itself" in (row_of(a).last_error or "")
    assert all(not c["Job"] for c in customers(emulator).values())


def test_moving_a_job_to_another_parent_is_a_sparse_update_of_parentref(host: t.Any, emulator: t.Any) -> None:
    first, second = add("First Parent"), add("Second Parent")
    job = add("Roaming Job", parent=first)
    drain()
    job.parent_id = second.id  # a form's populate_obj sets the key column only
    db.session.commit()
    assert row_of(job).status == "pending"  # capture watches the parent's key column
    drain()
    made = customers(emulator)
    assert made["Roaming Job"]["ParentRef"]["value"] == made["Second Parent"]["Id"]
    assert made["Roaming Job"]["FullyQualifiedName"] == "Second Parent:Roaming Job"
    link = db.session.query(Customer).filter_by(contact_key=str(job.id)).one()
    assert link.parent_qbo_id == made["Second Parent"]["Id"]
    moved = db.session.query(SyncLog).filter_by(contact_key=str(job.id), action="moved").one()
    assert moved.message == "Now a job of Second Parent."


def test_same_job_names_under_two_parents_are_kept_apart_by_the_suffix(host: t.Any, emulator: t.Any) -> None:
    one, two = add("North Office"), add("South Office")
    drain()
    add("Phase 1", parent=one)
    drain()
    add("Phase 1", parent=two)
    drain()
    made = customers(emulator)
    assert made["Phase 1"]["ParentRef"]["value"] == made["North Office"]["Id"]
    assert made["Phase 1 (2)"]["ParentRef"]["value"] == made["South Office"]["Id"]


def test_a_job_is_matched_only_to_a_job_of_the_same_parent(host: t.Any, emulator: t.Any) -> None:
    """Jobs share the parent's email: the parent's customer, or a top-level twin, is never the job's match."""
    acme = add("Acme Corp", email="j@x.io")
    drain()
    emulator.store.create(TEST_REALM, "Customer", {"DisplayName": "Loose", "PrimaryEmailAddr": {"Address": "j@x.io"}})
    add("Acme Job", email="j@x.io", parent=acme)
    drain()
    made = customers(emulator)
    assert made["Acme Job"]["Job"] is True and made["Loose"]["Job"] is False
    assert made["Acme Job"]["ParentRef"]["value"] == made["Acme Corp"]["Id"]


def test_a_backlog_leaves_jobs_to_the_single_path_after_their_parents(host: t.Any, emulator: t.Any) -> None:
    host.config["QBO_BATCH_THRESHOLD"] = 1
    parents = [add(f"Parent {n}") for n in range(3)]
    for n, parent in enumerate(parents):
        add(f"Job {n}", parent=parent)
    drain()
    for row in db.session.query(Outbox).filter_by(status="pending"):
        make_due(row)
    drain()
    made = customers(emulator)
    assert all(made[f"Job {n}"]["ParentRef"]["value"] == made[f"Parent {n}"]["Id"] for n in range(3))
    assert db.session.query(Outbox).filter(Outbox.status != "done").count() == 0


def test_a_callable_parent_with_its_watched_columns(tmp_path: t.Any, emulator: t.Any) -> None:
    """``parent=(contact) -> contact`` and ``parent_watches``: a change of the watched column moves the job."""

    def owner(client: Client) -> Client | None:
        return db.session.get(Client, client.parent_id) if client.parent_id else None

    app = make_app(f"sqlite:///{tmp_path / 'callable.sqlite'}", parent=owner, parent_watches=("parent_id",))
    attach_emulator(app, emulator)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    with app.app_context():
        first, second = add("First Parent"), add("Second Parent")
        job = add("Callable Job", parent_id=first.id)
        drain()
        assert customers(emulator)["Callable Job"]["ParentRef"]["value"] == customers(emulator)["First Parent"]["Id"]
        job.parent_id = second.id
        db.session.commit()
        assert row_of(job).status == "pending"
        drain()
        made = customers(emulator)
        assert made["Callable Job"]["ParentRef"]["value"] == made["Second Parent"]["Id"]


class _Base(DeclarativeBase):
    pass


class _Person(_Base):
    __tablename__ = "persons"
    id = Column(Integer, primary_key=True)
    name = Column(String(100))
    account_id = Column(Integer)
    owner_id = Column(Integer, ForeignKey("accounts.id"))
    owner = relationship("_Account")


class _Account(_Base):
    __tablename__ = "accounts"
    id = Column(Integer, primary_key=True)


def test_registration_refuses_a_parent_link_capture_cannot_see() -> None:
    check_parent(_Person, lambda p: None, ("account_id",))  # a callable naming its columns is fine
    with pytest.raises(QBOConfigError, match="parent_watches"):
        check_parent(_Person, lambda p: None, ())
    with pytest.raises(QBOConfigError, match="leads to _Account, not to a contact"):
        check_parent(_Person, "owner", ())
    with pytest.raises(QBOConfigError, match="no attribute 'boss'"):
        check_parent(_Person, "boss", ())
    with pytest.raises(QBOConfigError, match="not columns"):
        check_parent(_Person, lambda p: None, ("nope",))
