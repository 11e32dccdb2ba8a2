"""Prometheus metrics: each metric moves when its event happens, the endpoint's guard, labels, two processes."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess
import sys
import typing as t

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from flask_qbo import get_qbo
from flask_qbo.errors import QBOAuthError
from flask_qbo.errors import QBOConfigError
from flask_qbo.errors import QBOTransientError
from flask_qbo.intuit import auth
from flask_qbo.intuit.notifications import compute_signature
from flask_qbo.intuit.throttle import LocalBackend
from flask_qbo.intuit.throttle import Throttle
from flask_qbo.intuit.throttle import install as install_throttle
from flask_qbo.models import Connection
from flask_qbo.models import ConnectionStatus
from flask_qbo.models import Inbox
from flask_qbo.models import Outbox
from flask_qbo.models import OutboxStatus
from flask_qbo.models import utcnow
from flask_qbo.ops import metrics as qbo_metrics
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from tests.hostapp import Contact
from tests.hostapp import db
from tests.intuit.test_notifications import cloudevent
from tests.sync.pull.pull_support import add_customer
from tests.sync.pull.pull_support import poll

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def registry(app: t.Any) -> CollectorRegistry:
    """A registry of this test's own, with the app's metrics on it."""
    reg = CollectorRegistry()
    qbo_metrics.install(app, reg)
    return reg


def value(reg: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample's value, 0 when the series does not exist yet."""
    return reg.get_sample_value(name, labels) or 0.0


def text(reg: CollectorRegistry) -> str:
    from prometheus_client import generate_latest

    return generate_latest(reg).decode()


def new_contact(app: t.Any, **kw: t.Any) -> int:
    with app.app_context():
        contact = Contact(tenant="acme", first_name=kw.pop("first_name", "Ann"), last_name="Lee", **kw)
        db.session.add(contact)
        db.session.commit()
        return int(contact.id)


def drain(app: t.Any) -> int:
    with app.app_context():
        return push.process(get_qbo(app))


def webhook(client: t.Any, app: t.Any, body: bytes, signature: str | None = None) -> int:
    sig = signature if signature is not None else compute_signature(body, app.config["QBO_WEBHOOK_VERIFIER_TOKEN"])
    headers = {"intuit-signature": sig, "Content-Type": "application/cloudevents+json"}
    return int(client.post("/qbo/webhooks", data=body, headers=headers).status_code)


# -- each metric moves when its event happens ----------------------------------------------


def test_a_push_observes_its_latency_and_counts_the_requests(app, connected, registry) -> None:
    new_contact(app)
    assert drain(app) == 1
    assert value(registry, "qbo_push_latency_seconds_count", outcome="done") == 1
    assert value(registry, "qbo_requests_total", entity="customer", status="200", code="") == 1
    assert value(registry, "qbo_requests_total", entity="query", status="200", code="") >= 1


def test_a_refused_push_counts_the_fault_by_intuit_code(app, emulator, connected, registry) -> None:
    app.config["QBO_MAX_RETRIES"] = 0
    emulator.faults.fail_next(n=1, status=400, code="6000", path_contains="/customer")
    new_contact(app)
    drain(app)
    assert value(registry, "qbo_requests_total", entity="customer", status="400", code="6000") == 1
    assert value(registry, "qbo_push_latency_seconds_count", outcome="failed") == 1
    assert value(registry, "qbo_push_latency_seconds_count", outcome="done") == 0


def test_a_server_fault_and_a_throttled_answer_are_counted(app, emulator, connected, registry) -> None:
    app.config["QBO_MAX_RETRIES"] = 0
    emulator.faults.fail_next(n=1, status=500, path_contains="/companyinfo")
    emulator.faults.fail_next(n=1, status=429, code="3001", path_contains="/companyinfo")
    with app.app_context():
        client = get_qbo(app).client(get_qbo(app).connection("acme"))
        for _ in range(2):
            with pytest.raises(QBOTransientError):  # a 5xx, then a 429 (QBORateLimitError)
                client.company_info()
    assert value(registry, "qbo_requests_total", entity="companyinfo", status="500", code="10000") == 1
    assert value(registry, "qbo_requests_total", entity="companyinfo", status="429", code="3001") == 1


def test_a_pull_observes_the_time_from_the_qbo_change(app, emulator, connected, registry) -> None:
    with app.app_context():
        conn = db.session.query(Connection).one()
        conn.cdc_cursor = utcnow() - dt.timedelta(minutes=5)
        db.session.commit()
    add_customer(emulator, GivenName="Bo", FamilyName="Ray")
    assert poll(app) >= 1
    assert value(registry, "qbo_pull_latency_seconds_count", entity="customer") == 1
    assert value(registry, "qbo_requests_total", entity="cdc", status="200", code="") == 1


def test_a_throttle_wait_counts_once_with_its_seconds(app, connected, registry) -> None:
    clock = [0.0]
    backend = LocalBackend(clock=lambda: clock[0], margin=0.0)
    install_throttle(app, Throttle(1, 10, 40, backend=backend, sleep=lambda s: clock.__setitem__(0, clock[0] + s)))
    with app.app_context():
        client = get_qbo(app).client(get_qbo(app).connection("acme"))
        client.company_info()
        assert value(registry, "qbo_throttle_waits_total") == 0
        client.company_info()  # the one-a-minute window is full: waits 60 s of the fake clock
    assert value(registry, "qbo_throttle_waits_total") == 1
    assert value(registry, "qbo_throttle_wait_seconds_total") == pytest.approx(60.0)


def age_access_token(app: t.Any) -> Connection:
    with app.app_context():
        conn = db.session.query(Connection).one()
        conn.access_expires_at = utcnow() - dt.timedelta(minutes=1)
        db.session.commit()
        db.session.refresh(conn)
        db.session.expunge(conn)
        return conn


def test_a_refresh_and_a_failed_refresh_are_counted(app, emulator, connected, registry) -> None:
    conn = age_access_token(app)
    with app.app_context():
        auth.access_token(get_qbo(app), conn)
    assert value(registry, "qbo_token_refreshes_total") == 1
    assert value(registry, "qbo_token_refresh_failures_total", reason="invalid_grant") == 0
    conn = age_access_token(app)
    emulator.revoke_tokens()
    with app.app_context(), pytest.raises(QBOAuthError):
        auth.access_token(get_qbo(app), conn)
    assert value(registry, "qbo_token_refresh_failures_total", reason="invalid_grant") == 1
    assert value(registry, "qbo_token_refreshes_total") == 1


def test_a_token_endpoint_outage_is_a_transient_refresh_failure(app, emulator, connected, registry) -> None:
    conn = age_access_token(app)
    emulator.faults.fail_next(n=1, status=503, path_contains="/oauth2/v1/tokens")
    with app.app_context(), pytest.raises(QBOTransientError):
        auth.access_token(get_qbo(app), conn)
    assert value(registry, "qbo_token_refresh_failures_total", reason="transient") == 1


def test_webhooks_are_counted_ok_forged_and_malformed(app, client, connected, registry) -> None:
    body = json.dumps([cloudevent("e-1")]).encode()
    assert webhook(client, app, body) == 200
    assert webhook(client, app, body, signature="Zm9yZ2Vk") == 401
    assert webhook(client, app, b"not json") == 400
    app.config["QBO_WEBHOOK_MAX_BYTES"] = 10
    assert webhook(client, app, body) == 413
    assert value(registry, "qbo_webhooks_total", outcome="ok") == 1
    assert value(registry, "qbo_webhooks_total", outcome="forged") == 1
    assert value(registry, "qbo_webhooks_total", outcome="malformed") == 2


def test_connections_by_state_and_token_expiry_are_read_at_scrape_time(app, connected, registry) -> None:
    assert value(registry, "qbo_connections", state="connected") == 1
    assert value(registry, "qbo_connections", state="needs_reconnect") == 0
    expiry = value(registry, "qbo_refresh_token_expiry_seconds")
    assert 0 < expiry <= 101 * 86400  # the rolling 100-day refresh token
    with app.app_context():
        conn = db.session.query(Connection).one()
        conn.refresh_hard_expires_at = utcnow() + dt.timedelta(days=3)
        conn.status = ConnectionStatus.NEEDS_RECONNECT
        db.session.commit()
    assert value(registry, "qbo_connections", state="connected") == 0
    assert value(registry, "qbo_connections", state="needs_reconnect") == 1
    assert registry.get_sample_value("qbo_refresh_token_expiry_seconds") is None  # only connected companies


def test_queue_depth_and_oldest_age_by_status(app, connected, registry) -> None:
    assert value(registry, "qbo_outbox_rows", status="dead") == 0
    assert value(registry, "qbo_inbox_rows", status="pending") == 0
    old, older = utcnow() - dt.timedelta(hours=2), utcnow() - dt.timedelta(hours=3)
    with app.app_context():
        db.session.add_all(
            [
                Outbox(tenant_key="acme", contact_key="1", status=OutboxStatus.PENDING, created_at=older),
                Outbox(tenant_key="acme", contact_key="2", status=OutboxStatus.PENDING),
                Outbox(tenant_key="globex", contact_key="9", status=OutboxStatus.PENDING, created_at=old),
                Outbox(tenant_key="acme", contact_key="3", status=OutboxStatus.DEAD),
                Inbox(
                    event_id="e1",
                    realm_id=TEST_REALM,
                    entity="Customer",
                    entity_id="1",
                    operation="Update",
                    received_at=old,
                ),
            ]
        )
        db.session.commit()
    assert value(registry, "qbo_outbox_rows", status="pending") == 3  # both tenants
    assert value(registry, "qbo_outbox_rows", status="dead") == 1
    assert value(registry, "qbo_outbox_oldest_age_seconds", status="pending") == pytest.approx(10800, abs=60)
    assert value(registry, "qbo_inbox_rows", status="pending") == 1
    assert value(registry, "qbo_inbox_oldest_age_seconds", status="pending") == pytest.approx(7200, abs=60)
    assert value(registry, "qbo_metrics_database_up") == 1


# -- labels ------------------------------------------------------------------------------------


def test_no_realm_label_unless_enabled(app, emulator, connected) -> None:
    reg = CollectorRegistry()
    qbo_metrics.install(app, reg)
    new_contact(app)
    drain(app)
    assert value(reg, "qbo_push_latency_seconds_count", outcome="done") == 1
    assert "realm=" not in text(reg)
    assert TEST_REALM not in text(reg)


def test_the_realm_label_when_enabled(tmp_path, emulator) -> None:
    from flask_qbo.testing import attach_emulator
    from flask_qbo.testing import connect_tenant
    from tests.hostapp import make_app

    app = make_app(f"sqlite:///{tmp_path / 'r.sqlite'}", QBO_METRICS_REALM_LABEL=True)
    attach_emulator(app, emulator)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    reg = CollectorRegistry()
    qbo_metrics.install(app, reg)
    new_contact(app)
    drain(app)
    assert value(reg, "qbo_push_latency_seconds_count", outcome="done", realm=TEST_REALM) == 1
    assert value(reg, "qbo_connections", state="connected", realm=TEST_REALM) == 1
    other = CollectorRegistry()
    qbo_metrics.install(make_app(f"sqlite:///{tmp_path / 'n.sqlite'}"), other)
    with pytest.raises(QBOConfigError, match="REALM_LABEL"):
        qbo_metrics.install(make_app(f"sqlite:///{tmp_path / 'o.sqlite'}", QBO_METRICS_REALM_LABEL=True), other)


def test_a_failing_metric_never_fails_the_push(app, connected, registry, monkeypatch, caplog) -> None:
    metrics = app.extensions[qbo_metrics.EXTENSION_KEY][0]
    monkeypatch.setattr(metrics.requests, "labels", lambda *a: 1 / 0)
    new_contact(app)
    assert drain(app) == 1
    with app.app_context():
        assert [row.status for row in db.session.query(Outbox)] == ["done"]
    assert "could not be recorded" in caplog.text


def test_events_of_another_app_do_not_count(app, connected, registry, tmp_path, emulator) -> None:
    from tests.hostapp import make_app

    other = make_app(f"sqlite:///{tmp_path / 'other.sqlite'}")
    body = json.dumps([cloudevent("e-9")]).encode()
    webhook(other.test_client(), other, body, signature="Zm9yZ2Vk")
    assert value(registry, "qbo_webhooks_total", outcome="forged") == 0


def test_install_twice_is_harmless_but_not_on_another_registry(app, registry) -> None:
    assert qbo_metrics.install(app, registry) is qbo_metrics.install(app, registry)
    with pytest.raises(QBOConfigError, match="another registry"):
        qbo_metrics.install(app, CollectorRegistry())


# -- the endpoint ------------------------------------------------------------------------------


def endpoint_app(tmp_path: t.Any, name: str, **config: t.Any) -> t.Any:
    from tests.hostapp import make_app

    app = make_app(f"sqlite:///{tmp_path / name}", QBO_METRICS_ENDPOINT=True, **config)
    qbo_metrics.install(app, CollectorRegistry())
    return app


def test_endpoint_is_not_mounted_by_default(app, registry) -> None:
    assert app.test_client().get("/qbo/metrics").status_code == 404


def test_endpoint_refuses_without_hook_or_token(tmp_path) -> None:
    app = endpoint_app(tmp_path, "a.sqlite")
    resp = app.test_client().get("/qbo/metrics")
    assert resp.status_code == 403 and b"qbo_" not in resp.data


def test_endpoint_serves_with_the_hook(tmp_path) -> None:
    app = endpoint_app(tmp_path, "b.sqlite")
    allowed = {"yes": False}
    get_qbo(app).metrics_access(lambda: allowed["yes"])
    assert app.test_client().get("/qbo/metrics").status_code == 403
    allowed["yes"] = True
    resp = app.test_client().get("/qbo/metrics")
    assert resp.status_code == 200 and resp.content_type.startswith("text/plain")
    assert b"qbo_outbox_rows" in resp.data


def test_endpoint_serves_with_the_bearer_token_only(tmp_path, caplog) -> None:
    token = "scrape-token-0123456789"
    app = endpoint_app(tmp_path, "c.sqlite", QBO_METRICS_TOKEN=token)
    client = app.test_client()
    assert client.get("/qbo/metrics").status_code == 403
    assert client.get("/qbo/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/qbo/metrics", headers={"Authorization": f"Basic {token}"}).status_code == 403
    resp = client.get("/qbo/metrics", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and b"qbo_connections" in resp.data
    assert token not in resp.get_data(as_text=True)
    assert all(token not in r.getMessage() for r in caplog.records)


def test_endpoint_without_installed_metrics_says_so(tmp_path) -> None:
    from tests.hostapp import make_app

    app = make_app(f"sqlite:///{tmp_path / 'd.sqlite'}", QBO_METRICS_ENDPOINT=True, QBO_METRICS_TOKEN="t")
    resp = app.test_client().get("/qbo/metrics", headers={"Authorization": "Bearer t"})
    assert resp.status_code == 404 and b"QBO_METRICS" in resp.data


def test_no_secret_in_any_metric_output(app, emulator, client, connected, registry) -> None:
    app.config["QBO_METRICS_TOKEN"] = "metrics-bearer-secret"
    new_contact(app, email="ann@example.com")
    drain(app)
    age_access_token(app)
    with app.app_context():
        conn = db.session.query(Connection).one()
        auth.access_token(get_qbo(app), conn)
        secrets = [
            app.config["QBO_CLIENT_SECRET"],
            app.config["QBO_WEBHOOK_VERIFIER_TOKEN"],
            app.config["QBO_TOKEN_ENCRYPTION_KEY"],
            app.config["QBO_METRICS_TOKEN"],
            conn.access_token_enc,
            conn.refresh_token_enc,
        ]
        cipher = get_qbo(app).state(app).cipher
        secrets += [cipher.decrypt(conn.access_token_enc), cipher.decrypt(conn.refresh_token_enc)]
    webhook(client, app, json.dumps([cloudevent("e-2")]).encode(), signature="Zm9yZ2Vk")
    output = text(registry)
    assert "qbo_requests_total" in output
    assert not [s for s in secrets if s and s in output]
    assert "ann@example.com" not in output


def test_without_metrics_no_metric_code_runs() -> None:
    """The package imports and a host app works without touching prometheus_client."""
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "from tests.hostapp import make_app\n"
        "app = make_app()\n"
        "import flask_qbo\n"
        "assert 'flask_qbo.ops.metrics' not in sys.modules\n"
        "assert app.test_client().post('/qbo/webhooks', data=b'{}').status_code == 401\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


# -- several processes ---------------------------------------------------------------------------

WORKER = """
import json, sys
from flask_qbo.intuit.notifications import compute_signature
from tests.hostapp import make_app

app = make_app(sys.argv[1], QBO_METRICS=True, QBO_WEBHOOK_VERIFIER_TOKEN="verifier")
client = app.test_client()
for _ in range(int(sys.argv[2])):
    client.post("/qbo/webhooks", data=b"[]", headers={"intuit-signature": "Zm9yZ2Vk"})
"""


def test_two_processes_write_one_multiprocess_dir_and_one_collection_sees_both(tmp_path) -> None:
    mp_dir = tmp_path / "prom"
    mp_dir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(mp_dir)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, f"sqlite:///{tmp_path / f'w{n}.sqlite'}", str(n + 1)], cwd=ROOT, env=env
        )
        for n in range(2)
    ]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    assert len(list(mp_dir.glob("counter_*.db"))) == 2  # one file per process
    reg = CollectorRegistry()
    MultiProcessCollector(reg, path=str(mp_dir))
    assert reg.get_sample_value("qbo_webhooks_total", {"outcome": "forged"}) == 3  # 1 + 2


def test_the_endpoint_reads_the_multiprocess_dir(tmp_path, monkeypatch) -> None:
    mp_dir = tmp_path / "prom"
    mp_dir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(mp_dir)}
    subprocess.run(
        [sys.executable, "-c", WORKER, f"sqlite:///{tmp_path / 'w.sqlite'}", "2"], cwd=ROOT, env=env, check=True
    )
    app = endpoint_app(tmp_path, "e.sqlite", QBO_METRICS_TOKEN="t")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(mp_dir))
    resp = app.test_client().get("/qbo/metrics", headers={"Authorization": "Bearer t"})
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert 'qbo_webhooks_total{outcome="forged"} 2.0' in body
    assert "qbo_outbox_rows" in body  # the database gauges come from the serving process


def test_the_demo_serves_metrics_to_its_admins_only(tmp_path) -> None:
    from tests.test_demo_app import _make
    from tests.test_demo_app import sign_in

    demo = _make(tmp_path)
    client = demo.test_client()
    assert client.get("/qbo/metrics").status_code == 403
    sign_in(client, "user@acme.test")
    assert client.get("/qbo/metrics").status_code == 403
    assert "/qbo/metrics" not in client.get("/contacts/").get_data(as_text=True)
    client.post("/logout")
    sign_in(client, "admin@acme.test")
    assert 'href="/qbo/metrics"' in client.get("/contacts/").get_data(as_text=True)
    resp = client.get("/qbo/metrics")
    assert resp.status_code == 200 and "qbo_connections" in resp.get_data(as_text=True)
