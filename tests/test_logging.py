"""Logs an on-call engineer can use: one logger per module, fixed ``extra`` fields, a JSON recipe that works.

Every module logs on its dotted path, so a host configures a whole layer at
once (``flask_qbo.sync.push``, ``flask_qbo.intuit``).  Records about a row or
a connection carry ``qbo_realm``, ``qbo_tenant``, ``qbo_outbox_id`` /
``qbo_inbox_id`` and Intuit's ``intuit_tid``; the JSON formatter shown in
docs/operations.rst (docs/_ext/json_logs.py) is run here, so the page and the
code cannot drift.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import json
import logging
import pathlib
import pkgutil
import re
import types
import typing as t

import pytest

import flask_qbo
from flask_qbo import get_qbo
from flask_qbo.errors import QBONotFoundError
from flask_qbo.errors import QBOTransientError
from flask_qbo.models import Inbox
from flask_qbo.models import Outbox
from flask_qbo.models import utcnow
from flask_qbo.sync.pull import pull as pull_mod
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import connect_tenant
from tests.hostapp import Contact
from tests.hostapp import db
from tests.sync.pull.pull_support import add_customer
from tests.sync.pull.pull_support import missing_customer_events

ROOT = pathlib.Path(__file__).resolve().parents[1]
RECIPE = ROOT / "docs" / "_ext" / "json_logs.py"
FIELDS = ("qbo_realm", "qbo_tenant", "qbo_outbox_id", "qbo_inbox_id", "intuit_tid")


def _recipe() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("json_logs_recipe", RECIPE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _package_modules() -> list[str]:
    names = [
        info.name
        for info in pkgutil.walk_packages(flask_qbo.__path__, "flask_qbo.")
        if not info.name.startswith("flask_qbo.emulator")
    ]
    assert len(names) > 50
    return names


def _on(caplog: pytest.LogCaptureFixture, prefix: str, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(prefix) and text in r.getMessage()]


@pytest.fixture
def ctx(app: t.Any) -> t.Iterator[t.Any]:
    app.config["QBO_MAX_RETRIES"] = 0
    with app.app_context():
        yield app


# -- one logger per module ------------------------------------------------------------


def test_every_module_logs_on_its_dotted_path() -> None:
    """``flask_qbo.sync.push`` configures push; an ad-hoc name would escape its layer's settings."""
    checked = 0
    for name in _package_modules():
        module = importlib.import_module(name)
        log = getattr(module, "log", None)
        if isinstance(log, logging.Logger):
            assert log.name == name
            checked += 1
    assert checked >= 15
    literal = re.compile(r"getLogger\(\s*[\"']")
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "flask_qbo").rglob("*.py")
        if "emulator" not in path.parts and literal.search(path.read_text())
    ]
    assert offenders == []


def test_a_push_writes_on_the_push_layer_with_its_row_realm_tenant_and_tid(
    ctx: t.Any, connected: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_qbo")
    db.session.add(Contact(tenant="acme", first_name="Ann", last_name="Log"))
    db.session.commit()
    row_id = db.session.query(Outbox.id).scalar()
    assert push.process(get_qbo()) == 1
    [pushed] = _on(caplog, "flask_qbo.sync.push.", "Pushed outbox row")
    assert pushed.name == "flask_qbo.sync.push.rows"
    assert (pushed.qbo_outbox_id, pushed.qbo_tenant, pushed.qbo_realm) == (row_id, "acme", TEST_REALM)
    answers = _on(caplog, "flask_qbo.intuit.client", "answered HTTP 200")
    assert answers and all(r.qbo_realm == TEST_REALM and r.intuit_tid for r in answers)
    assert pushed.intuit_tid == answers[-1].intuit_tid, "the push names the answer that completed it"


def test_a_refused_push_carries_intuits_tid_from_client_to_row_record(
    ctx: t.Any, connected: t.Any, emulator: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_qbo")
    emulator.faults.fail_next(
        status=400, code="2050", message="Invalid value", path_contains="/customer", method="POST"
    )
    db.session.add(Contact(tenant="acme", first_name="Ann", last_name="Refused"))
    db.session.commit()
    row_id = db.session.query(Outbox.id).scalar()
    push.process(get_qbo())
    [refused] = _on(caplog, "flask_qbo.intuit.client", "failed (QBOValidationError, HTTP 400, code 2050)")
    [parked] = _on(caplog, "flask_qbo.sync.push.rows", "is failed")
    assert parked.levelno == logging.WARNING
    assert (parked.qbo_outbox_id, parked.qbo_tenant, parked.qbo_realm) == (row_id, "acme", TEST_REALM)
    assert refused.intuit_tid and parked.intuit_tid == refused.intuit_tid


def test_qbo_api_error_and_its_record_carry_the_intuit_tid_header(
    ctx: t.Any, connected: t.Any, emulator: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_qbo.intuit")
    client = get_qbo().client(connected)
    with pytest.raises(QBONotFoundError) as info:
        client.read("Customer", "987654")
    tid = info.value.intuit_tid
    assert tid and tid == client.last_intuit_tid
    [record] = _on(caplog, "flask_qbo.intuit.client", "failed (QBONotFoundError")
    assert (record.intuit_tid, record.qbo_realm, record.levelno) == (tid, TEST_REALM, logging.INFO)


def test_retries_and_a_final_transient_failure_are_logged_with_each_answers_tid(
    ctx: t.Any, connected: t.Any, emulator: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_qbo.intuit.client")
    client = get_qbo().client(connected)
    client.sleep = lambda seconds: None
    client.max_retries = 1
    emulator.faults.fail_next(n=2, status=503, path_contains="/companyinfo")
    with pytest.raises(QBOTransientError) as info:
        client.company_info()
    [retry] = _on(caplog, "flask_qbo.intuit.client", "retry in")
    [final] = [
        r for r in _on(caplog, "flask_qbo.intuit.client", "failed (QBOTransientError, HTTP 503") if r is not retry
    ]
    assert final.levelno == logging.WARNING and final.intuit_tid == info.value.intuit_tid
    assert retry.intuit_tid and retry.intuit_tid != final.intuit_tid, "each answer has its own tid"


def test_pull_records_carry_realm_tenant_and_inbox_ids(
    ctx: t.Any, connected: t.Any, emulator: t.Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_qbo")
    customer = add_customer(emulator, GivenName="Pat", FamilyName="Pulled")
    db.session.add(
        Inbox(
            event_id="e-log",
            realm_id=TEST_REALM,
            entity="Customer",
            entity_id=str(customer["Id"]),
            operation="Create",
            event_time=utcnow(),
        )
    )
    db.session.commit()
    pull_mod.process(get_qbo())
    [pulled] = _on(caplog, "flask_qbo.sync.pull.apply", f"Pulled QBO Customer {customer['Id']}")
    assert (pulled.qbo_realm, pulled.qbo_tenant) == (TEST_REALM, "acme")

    def broken(*args: t.Any) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(pull_mod, "_apply_events", broken)
    missing_customer_events(ctx, 2)
    ids = sorted(i for (i,) in db.session.query(Inbox.id).filter(Inbox.event_id.like("flood-%")))
    pull_mod.process(get_qbo())
    [failed] = _on(caplog, "flask_qbo.sync.pull.pull", "failed")
    assert (failed.qbo_realm, sorted(failed.qbo_inbox_id)) == (TEST_REALM, ids)


def test_connect_and_refresh_records_name_the_tenant_and_realm(
    app: t.Any, emulator: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    from flask_qbo.connection import upkeep

    caplog.set_level(logging.DEBUG, logger="flask_qbo")
    connect_tenant(app, emulator, "acme", TEST_REALM)
    with app.app_context():
        conn = get_qbo(app).connection("acme")
        conn.access_expires_at = utcnow()
        db.session.commit()
        emulator.revoke_tokens()
        upkeep.upkeep(get_qbo(app))
    [reconnect] = _on(caplog, "flask_qbo.intuit.oauth", "needs a reconnect")
    [refresh] = _on(caplog, "flask_qbo.connection.upkeep", "Token refresh for tenant acme failed")
    for record in (reconnect, refresh):
        assert (record.qbo_tenant, record.qbo_realm) == ("acme", TEST_REALM)


# -- the JSON recipe of docs/operations.rst ------------------------------------------


def _json_lines(handler_stream: io.StringIO) -> list[dict[str, t.Any]]:
    return [json.loads(line) for line in handler_stream.getvalue().splitlines()]


def test_the_documented_json_formatter_renders_the_extra_fields(ctx: t.Any, connected: t.Any) -> None:
    recipe = _recipe()
    assert recipe.QBO_FIELDS == FIELDS
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(recipe.JSONFormatter())
    logger = logging.getLogger("flask_qbo")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.DEBUG
    try:
        db.session.add(Contact(tenant="acme", first_name="Jay", last_name="Son"))
        db.session.commit()
        row_id = db.session.query(Outbox.id).scalar()
        push.process(get_qbo())
        try:
            raise RuntimeError("traced")
        except RuntimeError:
            logging.getLogger("flask_qbo.sync.push.rows").exception("with a traceback", extra={"qbo_outbox_id": 7})
    finally:
        logger.removeHandler(handler)
        logger.level = level
    lines = _json_lines(stream)
    [pushed] = [line for line in lines if line["message"].startswith("Pushed outbox row")]
    assert pushed["logger"] == "flask_qbo.sync.push.rows" and pushed["level"] == "DEBUG"
    assert (pushed["qbo_outbox_id"], pushed["qbo_tenant"], pushed["qbo_realm"]) == (row_id, "acme", TEST_REALM)
    assert pushed["intuit_tid"] and "qbo_inbox_id" not in pushed
    assert "RuntimeError: traced" in lines[-1]["exception"] and lines[-1]["qbo_outbox_id"] == 7


def test_the_documented_structlog_formatter_renders_the_extra_fields() -> None:
    pytest.importorskip("structlog")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_recipe().structlog_formatter())
    record = logging.LogRecord("flask_qbo.sync.pull.pull", logging.WARNING, __file__, 1, "m %s", ("x",), None)
    record.__dict__.update(qbo_realm="9", qbo_inbox_id=[1, 2], unrelated="dropped")
    handler.emit(record)
    [line] = _json_lines(stream)
    assert (line["event"], line["qbo_realm"], line["qbo_inbox_id"]) == ("m x", "9", [1, 2])
    assert line["logger"] == "flask_qbo.sync.pull.pull" and "unrelated" not in line


def test_the_operations_page_shows_the_recipe_file_and_names_every_field() -> None:
    page = (ROOT / "docs" / "operations.rst").read_text()
    assert ".. literalinclude:: _ext/json_logs.py" in page
    for field in FIELDS:
        assert f"``{field}``" in page
