"""A host's own test suite works with Flask-QBO installed: no runner thread, its tables, sync on demand.

Issue 20, item 3: the host's ``db.create_all()`` did not create the ``qbo_*``
tables, every test app started a sync thread that kept logging errors, and
there was no public way to run the queued work inside a test.
"""

from __future__ import annotations

import logging
import os
import pathlib
import subprocess
import sys
import textwrap
import threading
import typing as t

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_qbo import QBO
from flask_qbo import Field
from flask_qbo import FieldMap
from flask_qbo.models import metadata
from flask_qbo.models import utcnow
from flask_qbo.ops.checks.runner import in_process
from flask_qbo.runners import thread as runner
from flask_qbo.state import wake
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import pull_now
from flask_qbo.testing import push_now
from tests.hostapp import Contact
from tests.hostapp import db as host_db

REPO = pathlib.Path(__file__).resolve().parents[2]
KEY = Fernet.generate_key().decode()


def runner_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("qbo-runner-")]


def bare_app(**config: t.Any) -> tuple[Flask, SQLAlchemy, QBO]:
    """A host app as its own tests build it: Flask-SQLAlchemy, Flask-QBO, nothing set for Flask-QBO's sake."""
    app = Flask(__name__)
    app.config.update(
        {"SECRET_KEY": "s", "SQLALCHEMY_DATABASE_URI": "sqlite://", "QBO_TOKEN_ENCRYPTION_KEY": KEY, **config}
    )
    db = SQLAlchemy(app)

    class Person(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "people"
        id = db.Column(db.Integer, primary_key=True)
        name = db.Column(db.String(100))

    qbo = QBO(app, db=db)
    qbo.register_contact(Person, fields=FieldMap(Field("name", "CompanyName")))
    return app, db, qbo


@pytest.mark.parametrize("when", ["before init_app", "after init_app"])
def test_an_app_under_test_starts_no_runner(when: str) -> None:
    """Both of Flask's testing patterns: TESTING in the factory's config, or set on the app it returned."""
    app, _db, qbo = bare_app(**({"TESTING": True} if when == "before init_app" else {}))
    app.config["TESTING"] = True
    the_runner = qbo.state(app).runner
    assert isinstance(the_runner, runner.ThreadRunner)
    wake(app, "a commit wrote outbox rows")
    assert app.test_client().get("/nothing-here").status_code == 404  # the first request starts it otherwise
    assert not the_runner.alive and runner_threads() == []


def test_the_runner_runs_under_test_when_asked_for_and_outside_tests() -> None:
    for config in ({"TESTING": True, "QBO_RUNNER": "thread"}, {}):
        app, _db, qbo = bare_app(**config)
        the_runner = qbo.state(app).runner
        assert isinstance(the_runner, runner.ThreadRunner)
        wake(app)
        try:
            assert the_runner.alive, config
        finally:
            runner.stop(app)
        assert not the_runner.alive


def test_runner_start_is_asking_for_it() -> None:
    app, _db, _qbo = bare_app(TESTING=True)
    started = runner.start(app)
    try:
        assert started.alive
    finally:
        runner.stop(app)


def test_the_hosts_create_all_and_drop_all_include_the_qbo_tables() -> None:
    app, db, _qbo = bare_app(TESTING=True)
    ours = {table.name for table in metadata.sorted_tables}
    with app.app_context():
        db.create_all()
        assert ours | {"people"} <= set(sa.inspect(db.engine).get_table_names())
        db.drop_all()
        assert set(sa.inspect(db.engine).get_table_names()) == set()
        db.create_all()  # again: a test suite does it once per test
        assert ours <= set(sa.inspect(db.engine).get_table_names())


def test_an_app_under_test_needs_no_token_key_and_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    app, _db, qbo = bare_app(TESTING=True, QBO_TOKEN_ENCRYPTION_KEY=None)
    assert qbo.state(app).cipher.decrypt(qbo.state(app).cipher.encrypt("token")) == "token"
    assert [r.getMessage() for r in caplog.records if r.name.startswith("flask_qbo")] == []


def test_push_now_and_pull_now_run_the_queued_work_in_the_test(app: t.Any, connected: t.Any, emulator: t.Any) -> None:
    with app.app_context():
        contact = Contact(tenant="acme", first_name="Ann", last_name="Lee")
        host_db.session.add(contact)
        host_db.session.commit()
        contact_id = contact.id
        assert emulator.store.list(TEST_REALM, "Customer") == []  # nothing runs by itself
        assert push_now() == 1  # inside the app context: the test's own session
        [customer] = emulator.store.list(TEST_REALM, "Customer")
        assert customer["DisplayName"] == "Ann Lee"
        assert push_now(app) == 0
    customer = emulator.store.update(
        TEST_REALM, "Customer", {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "FamilyName": "Leigh"}
    )
    assert pull_now(app) >= 1  # outside any app context: its own
    with app.app_context():
        assert host_db.session.get(Contact, contact_id).last_name == "Leigh"
        assert pull_now(app, "globex") == 0  # a tenant with no connection polls nothing


def test_push_now_needs_an_app() -> None:
    with pytest.raises(RuntimeError, match="need an app"):
        push_now()


HOST_TEST = '''
"""A host's test, written from the docs: only the plugin's fixture and the public helpers."""
import logging
import threading

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_qbo import QBO, Field, FieldMap
from flask_qbo.testing import TEST_REALM, attach_emulator, connect_tenant, pull_now, push_now

db = SQLAlchemy()


class Contact(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(100))
    email = db.Column(db.String(100))


def create_app():
    app = Flask(__name__)
    app.config.update(SECRET_KEY="s", SQLALCHEMY_DATABASE_URI="sqlite://", QBO_TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode())
    db.init_app(app)
    qbo = QBO()
    qbo.init_app(app, db=db)
    qbo.register_contact(Contact, fields=FieldMap(Field("name", "CompanyName"), Field("email", "PrimaryEmailAddr.Address")))
    return app


@pytest.fixture
def app():
    app = create_app()
    app.config.update(TESTING=True)
    with app.app_context():
        db.create_all()
        yield app
        db.drop_all()


@pytest.mark.parametrize("round", [1, 2])
def test_contact_reaches_quickbooks(app, qbo_emulator, caplog, round):
    caplog.set_level(logging.INFO)
    attach_emulator(app, qbo_emulator)
    connect_tenant(app, qbo_emulator)
    db.session.add(Contact(name="Acme Ltd", email="ap@acme.test"))
    db.session.commit()
    assert app.test_client().get("/qbo/admin/health").status_code == 403  # the first request
    assert push_now() == 1
    [customer] = qbo_emulator.store.list(TEST_REALM, "Customer")
    assert customer["CompanyName"] == "Acme Ltd"
    assert pull_now() == 0
    assert [t.name for t in threading.enumerate() if t.name.startswith("qbo-")] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
'''


def test_a_hosts_suite_gets_the_plugin_and_runs_clean(tmp_path: pathlib.Path) -> None:
    """The ``pytest11`` entry point hands a host's suite the fixture; nothing runs behind its back or logs errors."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_host.py").write_text(textwrap.dedent(HOST_TEST))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error::pytest.PytestUnhandledThreadExceptionWarning",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "2 passed" in output and "INTERNALERROR" not in output and "error" not in output.lower(), output


def test_an_app_under_test_says_once_why_its_runner_is_off(caplog: pytest.LogCaptureFixture) -> None:
    app, _db, qbo = bare_app(TESTING=True)
    with caplog.at_level(logging.INFO, logger="flask_qbo.runners.thread"):
        for _ in range(2):
            app.test_client().get("/nothing-here")
    assert [r.getMessage() for r in caplog.records].count(
        "QBO runner not started: app.testing is on. Tests run queued work with "
        "flask_qbo.testing.push_now() / pull_now(); set QBO_RUNNER to run the thread anyway."
    ) == 1
    with app.app_context():
        finding = in_process(qbo, app, utcnow())
    assert finding is not None and "Runner off (TESTING)" in finding.what


def test_qbo_runner_is_read_when_the_runner_would_start() -> None:
    app, _db, qbo = bare_app()
    app.config["QBO_RUNNER"] = "none"  # a fixture's setting after create_app()
    app.test_client().get("/nothing-here")
    the_runner = qbo.state(app).runner
    assert isinstance(the_runner, runner.ThreadRunner) and not the_runner.alive and runner_threads() == []
