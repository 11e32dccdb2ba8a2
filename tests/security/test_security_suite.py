"""The extension's security rules (CSRF, tenant isolation, escaping), checked in one place against the URL map.

The endpoint checks enumerate ``app.url_map`` instead of naming views, so an
endpoint added later is covered the day it appears: every rule under the
extension's prefix must keep another tenant's data out (isolation), every POST
except the signature-authenticated webhook must demand a CSRF token, and every
admin blueprint view must refuse plain users and visitors.  The OAuth callback
must prove the company it is told about before storing anything (realm proof).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sqlite3
import typing as t
import uuid
from urllib.parse import quote

import pytest
from cryptography.fernet import Fernet
from werkzeug.routing import Rule

from flask_qbo.emulator.webhooks import Event
from flask_qbo.emulator.webhooks import sign
from flask_qbo.models import Connection
from flask_qbo.models import Customer
from flask_qbo.models import ImportMatch
from flask_qbo.models import ImportRun
from flask_qbo.models import Inbox
from flask_qbo.models import Outbox
from flask_qbo.models import SyncLog
from flask_qbo.state import get_qbo
from flask_qbo.sync.pull import pull
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.views.csrf import SESSION_KEY
from tests.connection.test_connect_support import callback
from tests.connection.test_connect_support import csrf
from tests.connection.test_connect_support import intuit_sign_in
from tests.connection.test_connect_support import start_connect

from ..conftest import login
from ..hostapp import ACME_ADMIN
from ..hostapp import ACME_USER
from ..hostapp import GLOBEX_ADMIN
from ..hostapp import Contact
from ..hostapp import db
from ..hostapp import make_app

OTHER_REALM = "9130000000000002"
#: Strings only Globex's data contains: none may ever reach an Acme page.
GLOBEX_MARKERS = ("Secretglobex", "gloria@globex.test", "Globex Books", "GLX-7731")
#: Endpoints that are not tenant pages: static files, the webhook (signature,
#: no session) and the OAuth callback (checked by the state tests below).
NOT_TENANT_PAGES = {"qbo_webhooks.receive", "qbo.callback"}
#: Blueprints whose every view is for administrators only.
ADMIN_BLUEPRINTS = ("qbo", "qbo_import")
CSRF_TOKEN = "security-suite-csrf-token"


# -- the world: two tenants, each with a contact, a customer, an invoice, a failed row and an import --


class Tenant(t.NamedTuple):
    contact_key: str
    qbo_id: str
    txn_id: str
    outbox_id: int
    run_id: int


@pytest.fixture
def world(app: t.Any, emulator: t.Any) -> dict[str, Tenant]:
    emulator.add_company(OTHER_REALM, "Globex Books")
    connect_tenant(app, emulator, "acme", TEST_REALM)
    connect_tenant(app, emulator, "globex", OTHER_REALM)
    people = {
        "acme": (TEST_REALM, dict(first_name="Alice", last_name="Acme", email="alice@acme.test")),
        "globex": (OTHER_REALM, dict(first_name="Gloria", last_name="Secretglobex", email="gloria@globex.test")),
    }
    found: dict[str, Tenant] = {}
    with app.app_context():
        qbo = get_qbo(app)
        contacts = {tenant: Contact(tenant=tenant, **values) for tenant, (_, values) in people.items()}
        db.session.add_all(contacts.values())
        db.session.commit()
        push.process(qbo)
        for tenant, (realm, _) in people.items():
            key = str(contacts[tenant].id)
            link = db.session.query(Customer).filter_by(tenant_key=tenant, contact_key=key).one()
            invoice = emulator.store.create(
                realm,
                "Invoice",
                {
                    "CustomerRef": {"value": link.qbo_id},
                    "DocNumber": "GLX-7731" if tenant == "globex" else "ACM-1",
                    "Line": [
                        {
                            "Amount": 120.0,
                            "DetailType": "SalesItemLineDetail",
                            "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                        }
                    ],
                },
            )
            pull.poll_cdc(qbo, qbo.connection(tenant))
            row = Outbox(
                uuid=str(uuid.uuid4()),
                tenant_key=tenant,
                contact_key=key,
                op="upsert",
                status="failed",
                attempts=1,
                error_code="6000",
                last_error="Rejected for the test",
            )
            run = ImportRun(tenant_key=tenant, realm_id=realm, status="review")
            db.session.add_all([row, run])
            db.session.flush()
            db.session.add(ImportMatch(run_id=run.id, qbo_id=link.qbo_id, contact_key=key, match_kind="email"))
            db.session.commit()
            found[tenant] = Tenant(key, link.qbo_id, str(invoice["Id"]), row.id, run.id)
    return found


def _snapshot(app: t.Any, tenant: str) -> tuple[t.Any, ...]:
    """Everything a request could change about a tenant's data."""
    with app.app_context():
        session = db.session
        conn = session.query(Connection).filter_by(tenant_key=tenant).one()
        state = (
            (conn.status, conn.realm_id, conn.access_token_enc, conn.refresh_token_enc),
            sorted((r.id, r.status, r.uuid, r.attempts) for r in session.query(Outbox).filter_by(tenant_key=tenant)),
            sorted((r.id, r.status, r.applied) for r in session.query(ImportRun).filter_by(tenant_key=tenant)),
            sorted(
                (m.id, m.decision, m.contact_key, m.applied)
                for m in session.query(ImportMatch)
                .join(ImportRun, ImportRun.id == ImportMatch.run_id)
                .filter(ImportRun.tenant_key == tenant)
            ),
            sorted(
                (c.id, c.first_name, c.last_name, c.email, c.archived)
                for c in session.query(Contact).filter_by(tenant=tenant)
            ),
            sorted(
                (c.qbo_id, c.contact_key, c.sync_status) for c in session.query(Customer).filter_by(tenant_key=tenant)
            ),
        )
        session.commit()
        return state


def _url(rule: Rule, tenant: Tenant, **overrides: t.Any) -> str:
    """The rule's URL filled with ``tenant``'s objects (unknown arguments get a plausible id)."""
    values = {
        "contact_key": tenant.contact_key,
        "outbox_id": tenant.outbox_id,
        "run_id": tenant.run_id,
        "txn_type": "Invoice",
        "txn_id": tenant.txn_id,
        "qbo_id": tenant.qbo_id,
        "filename": "qbo.css",
        **overrides,
    }
    args = {name: values.get(name, 1) for name in rule.arguments}
    return rule.build(args, append_unknown=False)[1]


def _rules(app: t.Any) -> list[Rule]:
    """Every rule under the extension's prefix, disconnecting last (it changes the world)."""
    prefix = app.config["QBO_URL_PREFIX"].rstrip("/") + "/"
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith(prefix) and not r.endpoint.endswith(".static")]
    assert len(rules) >= 10, "the extension's views are not registered"
    return sorted(rules, key=lambda r: ("disconnect" in r.endpoint, r.rule))


def _with_csrf(client: t.Any) -> dict[str, str]:
    """Put a known CSRF token in the session; returns the header carrying it."""
    with client.session_transaction() as session:
        session[SESSION_KEY] = CSRF_TOKEN
    return {"X-CSRFToken": CSRF_TOKEN}


def _methods(rule: Rule) -> list[str]:
    return sorted(m for m in (rule.methods or ()) if m in ("GET", "POST"))


# -- tenant isolation --------------------------------------------------------------


def test_no_endpoint_serves_or_changes_another_tenants_data(
    app: t.Any, client: t.Any, world: dict[str, Tenant]
) -> None:
    """Acme's admin aims every endpoint at Globex's objects: refused, nothing leaks, nothing changes."""
    login(client, ACME_ADMIN)
    headers = _with_csrf(client)
    before = _snapshot(app, "globex")
    checked = 0
    for rule in _rules(app):
        if rule.endpoint in NOT_TENANT_PAGES:
            continue
        url = _url(rule, world["globex"])
        for method in _methods(rule):
            response = client.open(url, method=method, headers=headers)
            body = response.get_data(as_text=True)
            where = f"{method} {url} ({rule.endpoint}) -> {response.status_code}"
            leaked = [m for m in GLOBEX_MARKERS if m in body]
            assert not leaked, f"{where} shows Globex data: {leaked}"
            if rule.arguments and method == "GET":
                assert response.status_code in (403, 404), where
            assert _snapshot(app, "globex") == before, f"{where} changed Globex's data"
            checked += 1
    assert checked >= 12


def test_own_tenant_objects_are_served(app: t.Any, client: t.Any, world: dict[str, Tenant]) -> None:
    """The isolation test above is only meaningful if the same URLs work for the owner."""
    login(client, GLOBEX_ADMIN)
    pages = {}
    for endpoint in ("qbo_widgets.summary", "qbo_widgets.transactions", "qbo_import.review"):
        rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
        pages[endpoint] = client.get(_url(rule, world["globex"]))
        assert pages[endpoint].status_code == 200, endpoint
    assert "GLX-7731" in pages["qbo_widgets.transactions"].get_data(as_text=True)


# -- CSRF --------------------------------------------------------------------------


def test_every_post_needs_a_csrf_token(app: t.Any, client: t.Any, world: dict[str, Tenant]) -> None:
    login(client, ACME_ADMIN)
    _with_csrf(client)
    before = _snapshot(app, "acme")
    posts = [r for r in _rules(app) if "POST" in (r.methods or ()) and r.endpoint != "qbo_webhooks.receive"]
    assert len(posts) >= 6
    for rule in posts:
        url = _url(rule, world["acme"])
        for headers in ({}, {"X-CSRFToken": "forged-token"}):
            response = client.post(url, headers=headers)
            assert response.status_code == 400, f"POST {url} ({rule.endpoint}) {headers} -> {response.status_code}"
    assert _snapshot(app, "acme") == before


# -- admin-only pages --------------------------------------------------------------


@pytest.mark.parametrize("user", [None, ACME_USER], ids=["anonymous", "plain-user"])
def test_admin_views_refuse_non_admins(app: t.Any, client: t.Any, world: dict[str, Tenant], user: int | None) -> None:
    if user is not None:
        login(client, user)
    headers = _with_csrf(client)
    before = _snapshot(app, "acme")
    admin_rules = [r for r in _rules(app) if r.endpoint.split(".")[0] in ADMIN_BLUEPRINTS]
    assert any(r.endpoint == "qbo.connect" for r in admin_rules)
    for rule in admin_rules:
        url = _url(rule, world["acme"])
        for method in _methods(rule):
            response = client.open(url, method=method, headers=headers)
            where = f"{method} {url} ({rule.endpoint})"
            assert response.status_code == 403 or (
                response.status_code in (301, 302, 303) and "login" in response.headers.get("Location", "")
            ), f"{where} -> {response.status_code}"
    assert _snapshot(app, "acme") == before


# -- hostile numbers and keys in URLs ----------------------------------------------

#: Numbers no view may choke on: too big for any column, signed, zero, not digits, other scripts.
HOSTILE_INTEGERS = ("1" + "0" * 22, "-5", "0", "abc", "٣", "３", "+2", "2.0", "1e3", " 2", "9" * 5000)
#: Query parameters a view could read as a number; each request carries all of them.
NUMERIC_PARAMS = ("page", "per_page", "limit", "offset", "months", "id", "run_id", "outbox_id", "v")
#: Endpoints that page: a hostile ``page`` is a 400 that says what a page number is.
PAGED = {"qbo_import.review", "qbo_widgets.transactions"}
#: Other spellings of a contact key: each must miss the contact, never reach it by another name.
KEY_SPELLINGS = (
    lambda key: "0" + key,
    lambda key: "+" + key,
    lambda key: key + ".0",
    lambda key: key + "\x00",
    lambda key: key.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
    lambda key: key.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    lambda key: "\u202e" + key,
)
_SENTINEL = 987654321


def _url_with(rule: Rule, tenant: Tenant, name: str, raw: str) -> str:
    """:func:`_url` with path argument ``name`` set to ``raw`` (built around a placeholder, since the
    rule's converter may refuse to build ``raw`` itself)."""
    return _url(rule, tenant, **{name: _SENTINEL}).replace(str(_SENTINEL), quote(raw, safe=""), 1)


def test_no_endpoint_fails_on_hostile_integers(app: t.Any, client: t.Any, world: dict[str, Tenant]) -> None:
    """Every endpoint, with hostile numbers in its query and in each path argument: never a 5xx.

    An ``int()`` of request input used to reach SQLite as ``10**22`` (``OverflowError``, a 500)
    or to accept ``"٣"`` as 3.  Paged views answer a hostile page with a 400 that says why.
    """
    login(client, ACME_ADMIN)
    headers = _with_csrf(client)
    before = _snapshot(app, "acme")
    seen_paged = set()
    checked = 0
    for rule in _rules(app):
        if rule.endpoint in NOT_TENANT_PAGES:
            continue
        for value in HOSTILE_INTEGERS:
            if "GET" in (rule.methods or ()):
                response = client.get(_url(rule, world["acme"]), query_string=dict.fromkeys(NUMERIC_PARAMS, value))
                where = f"GET {rule.rule} ({rule.endpoint}) with {value[:30]!r} -> {response.status_code}"
                assert response.status_code < 500, where
                if rule.endpoint in PAGED:
                    seen_paged.add(rule.endpoint)
                    assert response.status_code == 400, where
                    assert "page must be a whole number from 1 to 100000" in response.get_data(as_text=True), where
            for name in rule.arguments - {"filename"}:
                url = _url_with(rule, world["acme"], name, value)
                for method in _methods(rule):
                    response = client.open(url, method=method, headers=headers)
                    where = f"{method} {url[:80]} ({rule.endpoint}) -> {response.status_code}"
                    assert response.status_code < 500, where
                    checked += 1
    assert seen_paged == PAGED
    assert checked >= 100
    assert _snapshot(app, "acme") == before


def test_contact_keys_have_one_spelling(app: t.Any, client: t.Any, world: dict[str, Tenant]) -> None:
    """``01``, ``+1``, ``١``... never reach contact 1: not a widget, not Sync now, not an import link."""
    login(client, ACME_ADMIN)
    headers = _with_csrf(client)
    acme = world["acme"]
    spellings = [spell(acme.contact_key) for spell in KEY_SPELLINGS]
    before = _snapshot(app, "acme")
    rules = [r for r in _rules(app) if "contact_key" in r.arguments]
    assert len(rules) >= 6
    for rule in rules:
        if "GET" in (rule.methods or ()):
            assert client.get(_url(rule, acme)).status_code != 404, rule.endpoint  # the real key works
        for spelling in spellings:
            url = _url_with(rule, acme, "contact_key", spelling)
            for method in _methods(rule):
                response = client.open(url, method=method, headers=headers)
                assert response.status_code == 404, f"{method} {url} ({rule.endpoint}) -> {response.status_code}"
    for spelling in spellings:
        for field in ("contact_key", "q"):
            response = client.post(
                f"/qbo/import/{acme.run_id}/review",
                headers=headers,
                data={"qbo_id": acme.qbo_id, "decision": "link", field: spelling},
            )
            assert response.status_code == 302, spelling
    assert _snapshot(app, "acme") == before  # nothing linked, queued or decided under another spelling


# -- webhooks ----------------------------------------------------------------------


def _notification(realm: str, entity_id: str) -> bytes:
    event = Event(realm, "Customer", entity_id, "Update", dt.datetime.now(dt.timezone.utc))
    return json.dumps([event.cloudevent("intuit.test")]).encode()


def _inbox_count(app: t.Any) -> int:
    with app.app_context():
        count = db.session.query(Inbox).count()
        db.session.commit()
        return count


def test_forged_webhooks_are_refused_and_not_stored(app: t.Any, client: t.Any, world: dict[str, Tenant]) -> None:
    body = _notification(TEST_REALM, world["acme"].qbo_id)
    token = app.config["QBO_WEBHOOK_VERIFIER_TOKEN"]
    forged = [
        {},  # no signature
        {"intuit-signature": sign(body, "not-the-verifier-token")},
        {"intuit-signature": sign(body + b" ", token)},  # signed a different body
        {"intuit-signature": "A" * 44},
    ]
    for headers in forged:
        response = client.post("/qbo/webhooks", data=body, headers={"content-type": "application/json", **headers})
        assert response.status_code == 401, headers
    assert _inbox_count(app) == 0


def test_replayed_webhook_is_stored_once(app: t.Any, client: t.Any, world: dict[str, Tenant]) -> None:
    body = _notification(TEST_REALM, world["acme"].qbo_id)
    headers = {
        "content-type": "application/cloudevents+json",
        "intuit-signature": sign(body, app.config["QBO_WEBHOOK_VERIFIER_TOKEN"]),
    }
    first = client.post("/qbo/webhooks", data=body, headers=headers)
    second = client.post("/qbo/webhooks", data=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.get_json()["stored"] == 1 and second.get_json()["stored"] == 0
    assert _inbox_count(app) == 1


def test_oversized_webhook_is_refused_before_parsing(app: t.Any, client: t.Any, world: dict[str, Tenant]) -> None:
    app.config["QBO_WEBHOOK_MAX_BYTES"] = 4096
    body = json.dumps([{"padding": "x" * 5000}]).encode()
    headers = {
        "content-type": "application/json",
        "intuit-signature": sign(body, app.config["QBO_WEBHOOK_VERIFIER_TOKEN"]),
    }
    assert client.post("/qbo/webhooks", data=body, headers=headers).status_code == 413

    assert _inbox_count(app) == 0


# -- partial notifications ----------------------------------------------------------


def _signed_post(app: t.Any, client: t.Any, body: bytes) -> t.Any:
    headers = {
        "content-type": "application/cloudevents+json",
        "intuit-signature": sign(body, app.config["QBO_WEBHOOK_VERIFIER_TOKEN"]),
    }
    return client.post("/qbo/webhooks", data=body, headers=headers)


def _event(realm: str, entity_id: str, **changes: t.Any) -> dict[str, t.Any]:
    event = Event(realm, "Customer", entity_id, "Update", dt.datetime.now(dt.timezone.utc)).cloudevent("intuit.test")
    event.update(changes)
    return {key: value for key, value in event.items() if value is not None}


def test_a_bad_event_costs_only_itself_and_is_shown_only_to_its_tenant(
    app: t.Any, client: t.Any, world: dict[str, Tenant]
) -> None:
    """One malformed event used to refuse the whole notification (400): Intuit resent it all, good events too."""
    body = json.dumps(
        [
            _event(TEST_REALM, world["acme"].qbo_id),
            _event(OTHER_REALM, world["globex"].qbo_id, intuitentityid=None, data={"note": "body-only-7d1f"}),
            _event(OTHER_REALM, world["globex"].qbo_id),
        ]
    ).encode()
    response = _signed_post(app, client, body)
    assert response.status_code == 200 and response.get_json()["malformed"] == 1
    assert _inbox_count(app) == 2
    login(client, GLOBEX_ADMIN)
    globex_page = client.get("/qbo/admin/health").get_data(as_text=True)
    assert "&#39;intuitentityid&#39; is missing" in globex_page
    assert "body-only-7d1f" not in globex_page, "the event's body is never kept or shown"
    login(client, ACME_ADMIN)
    assert "intuitentityid" not in client.get("/qbo/admin/health").get_data(as_text=True)


@pytest.mark.parametrize(
    "realm",
    ["９１３０００００００００００００２", "٩١٣٠٠٠٠٠٠٠٠٠٠٠٠٢", " " + OTHER_REALM, "+" + OTHER_REALM],
    ids=["fullwidth", "arabic-indic", "space", "sign"],
)
def test_another_spelling_of_a_realm_id_reaches_no_tenant(
    app: t.Any, client: t.Any, world: dict[str, Tenant], realm: str
) -> None:
    response = _signed_post(app, client, json.dumps([_event(realm, world["globex"].qbo_id)]).encode())
    assert response.status_code == 200 and response.get_json()["malformed"] == 1
    assert _inbox_count(app) == 0
    for admin in (ACME_ADMIN, GLOBEX_ADMIN):
        login(client, admin)
        assert "is not a QuickBooks company (realm) id" not in client.get("/qbo/admin/health").get_data(as_text=True)


# -- deep nesting --------------------------------------------------------------------

DEEP_JSON = b"[" * 100_000 + b"]" * 100_000


def test_a_signed_deeply_nested_webhook_is_a_clear_400(app: t.Any, client: t.Any, world: dict[str, Tenant]) -> None:
    response = _signed_post(app, client, DEEP_JSON)
    assert response.status_code == 400
    assert "nested more than" in response.get_json()["error"]
    assert _inbox_count(app) == 0


def test_no_post_endpoint_fails_on_a_deeply_nested_json_body(
    app: t.Any, client: t.Any, world: dict[str, Tenant]
) -> None:
    """Every POST under the prefix, as an admin with a valid CSRF token and signature: never a 500.

    (Under TESTING a RecursionError would propagate and fail the test too.)
    """
    login(client, ACME_ADMIN)
    headers = {
        **_with_csrf(client),
        "content-type": "application/json",
        "intuit-signature": sign(DEEP_JSON, app.config["QBO_WEBHOOK_VERIFIER_TOKEN"]),
    }
    posts = [r for r in _rules(app) if "POST" in (r.methods or ())]
    assert any(r.endpoint == "qbo_webhooks.receive" for r in posts)
    for rule in posts:
        url = _url(rule, world["acme"])
        response = client.post(url, data=DEEP_JSON, headers=headers)
        assert response.status_code < 500, f"POST {url} ({rule.endpoint}) -> {response.status_code}"


def test_no_emulator_post_endpoint_fails_on_a_deeply_nested_json_body(emulator: t.Any) -> None:
    """The emulator's API, OAuth and control endpoints answer their own 400, never a 500."""
    token = emulator.issue_tokens(TEST_REALM)["access_token"]
    session = emulator.http_session()
    values = {"realm": TEST_REALM, "segment": "customer", "entity_id": "1"}
    posts = [r for r in emulator.app.url_map.iter_rules() if "POST" in (r.methods or ())]
    assert len(posts) >= 8
    for rule in posts:
        path = rule.build({name: values.get(name, "1") for name in rule.arguments}, append_unknown=False)[1]
        response = session.post(
            emulator.config.base_url.rstrip("/") + path,
            data=DEEP_JSON,
            auth=None,
            headers={"content-type": "application/json", "Authorization": f"Bearer {token}"},
        )
        assert response.status_code < 500, f"POST {path} ({rule.endpoint}) -> {response.status_code}"


# -- OAuth state -------------------------------------------------------------------


def _connected_log_count(app: t.Any) -> int:
    with app.app_context():
        count = db.session.query(SyncLog).filter(SyncLog.action.in_(("connected", "reconnected"))).count()
        db.session.commit()
        return count


def test_oauth_state_is_single_use_and_bound_to_the_session(app: t.Any, emulator: t.Any) -> None:
    acme, globex = app.test_client(), app.test_client()
    login(acme, ACME_ADMIN)
    login(globex, GLOBEX_ADMIN)
    back = intuit_sign_in(emulator, start_connect(acme))
    # Another admin's browser cannot complete Acme's authorization.
    callback(globex, back)
    with app.app_context():
        assert get_qbo(app).connection("globex") is None
        db.session.commit()
    assert _connected_log_count(app) == 0
    # The owner can, once.
    assert callback(acme, back).status_code == 302
    assert _connected_log_count(app) == 1
    with app.app_context():
        stored = get_qbo(app).connection("acme").access_token_enc
        db.session.commit()
    callback(acme, back)  # replayed redirect: same state, same code
    assert _connected_log_count(app) == 1
    with app.app_context():
        assert get_qbo(app).connection("acme").access_token_enc == stored
        db.session.commit()


# -- realm proof -------------------------------------------------------------------

#: What an admin can put in the callback's ``realmId`` instead of the company they signed in to.
FORGED_REALMS = {
    "another tenant's company": (OTHER_REALM, 403),
    "a company nobody connected": ("9130000000000003", 403),
    "fullwidth digits": ("９１３００００００００００００１", 400),
    "arabic-indic digits": ("٩١٣٠٠٠٠٠٠٠٠٠٠٠٠١", 400),
    "overlong": (TEST_REALM * 3, 400),
}


def _live_grants(emulator: t.Any) -> list[str]:
    return sorted(g.grant_id for g in emulator.tokens.grants.values() if not g.revoked)


def _connect_log(app: t.Any) -> list[tuple[str, str]]:
    with app.app_context():
        rows = [(r.tenant_key, r.action) for r in db.session.query(SyncLog).filter_by(direction="connect")]
        db.session.commit()
        return rows


@pytest.mark.parametrize("forged", list(FORGED_REALMS), ids=list(FORGED_REALMS))
def test_the_callback_realm_is_proven_before_anything_is_stored(
    app: t.Any, client: t.Any, emulator: t.Any, world: dict[str, Tenant], forged: str
) -> None:
    """Acme's admin signs in to Acme's company and edits ``realmId``: refused, and the new grant revoked.

    The refusal must come from the proof (CompanyInfo read with the new token),
    not from the tenancy rules: a 409 "connected to another account" would
    both confirm another tenant's company and leave a fullwidth spelling free
    to slip past the unique index.
    """
    realm, status = FORGED_REALMS[forged]
    emulator.add_company("9130000000000003", "Initech")
    login(client, ACME_ADMIN)
    before = {tenant: _snapshot(app, tenant) for tenant in ("acme", "globex")}
    grants, log = _live_grants(emulator), _connect_log(app)
    back = intuit_sign_in(emulator, start_connect(client), realm=TEST_REALM)
    assert f"realmId={TEST_REALM}" in back

    response = callback(client, back.replace(f"realmId={TEST_REALM}", f"realmId={realm}"))

    body = response.get_data(as_text=True)
    assert response.status_code == status, body
    assert "Nothing was changed" in body
    assert not [m for m in GLOBEX_MARKERS if m in body]
    assert {tenant: _snapshot(app, tenant) for tenant in ("acme", "globex")} == before
    assert _live_grants(emulator) == grants, "the grant from the forged sign-in was not revoked"
    assert _connect_log(app) == log
    # The same sign-in, untouched, reconnects Acme: the refusal was about the realm, not the flow.
    honest = callback(client, intuit_sign_in(emulator, start_connect(client), realm=TEST_REALM))
    assert honest.status_code == 302
    assert _connect_log(app) == log + [("acme", "reconnected")]


# -- hostile strings ---------------------------------------------------------------

HOSTILE = {
    "first_name": "<script>alert('x')</script>",
    "last_name": "O'Brien",
    "company": "\\' OR 1=1 --",
    "middle_name": "Zoë 東京 🚀",
    "notes": '"><img src=x onerror=alert(1)>' + "n" * 1900,
    "billing_street": "'; DROP TABLE qbo_customer; --",
    "email": "o'brien+test@example.com",
}
RAW_MARKUP = ("<script>alert", "<img src=x", "<svg/onload", "<b>bold")


def test_hostile_strings_round_trip_and_render_escaped(
    app: t.Any, client: t.Any, emulator: t.Any, world: dict[str, Tenant]
) -> None:
    with app.app_context():
        qbo = get_qbo(app)
        contact = Contact(tenant="acme", **HOSTILE)
        twin = Contact(tenant="acme", first_name=HOSTILE["first_name"], last_name="O'Brien")  # same name, no email
        db.session.add_all([contact, twin])
        db.session.commit()
        push.process(qbo)
        rows = db.session.query(Outbox).filter(Outbox.contact_key.in_([str(contact.id), str(twin.id)])).all()
        assert [r.status for r in rows] == ["done", "done"], [(r.status, r.last_error) for r in rows]
        link = db.session.query(Customer).filter_by(tenant_key="acme", contact_key=str(contact.id)).one()
        key, qbo_id = str(contact.id), link.qbo_id
        db.session.commit()
    sent = emulator.store.read(TEST_REALM, "Customer", qbo_id)
    assert sent["GivenName"] == HOSTILE["first_name"] and sent["CompanyName"] == HOSTILE["company"]
    assert sent["MiddleName"] == HOSTILE["middle_name"] and sent["Notes"] == HOSTILE["notes"]
    # QBO's side is hostile too: markup in a transaction the folder shows.
    emulator.store.create(
        TEST_REALM,
        "Invoice",
        {
            "CustomerRef": {"value": qbo_id},
            "DocNumber": "<svg/onload=alert(1)>",
            "PrivateNote": "<b>bold</b>",
            "Line": [
                {"Amount": 5.0, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
            ],
        },
    )
    with app.app_context():
        qbo = get_qbo(app)
        pull.poll_cdc(qbo, qbo.connection("acme"))
        db.session.commit()

    login(client, ACME_ADMIN)
    pages = [client.get(f"/qbo/w/{key}/{part}") for part in ("icon", "summary", "transactions", "statement")]
    pages += [client.get("/qbo/admin/health"), client.get("/qbo/admin/")]
    for page in pages:
        assert page.status_code == 200, page.request.path
        html = page.get_data(as_text=True)
        assert not [m for m in RAW_MARKUP if m in html], page.request.path
        for link_id in re.findall(r"(?:nameId|txnId)=([^&\"'\s]+)", html):
            assert re.fullmatch(r"[0-9]+", link_id), f"deep link built from {link_id!r} on {page.request.path}"
    folder = pages[2].get_data(as_text=True)
    assert "&lt;svg/onload=alert(1)&gt;" in folder


def test_values_over_qbo_limits_fail_cleanly(app: t.Any, client: t.Any, world: dict[str, Tenant]) -> None:
    with app.app_context():
        contact = Contact(tenant="acme", first_name="<script>x</script>" + "L" * 300, last_name="Long")
        db.session.add(contact)
        db.session.commit()
        push.process(get_qbo(app))
        row = db.session.query(Outbox).filter_by(contact_key=str(contact.id)).one()
        assert row.status == "failed" and row.last_error
        db.session.commit()
    login(client, ACME_ADMIN)
    html = client.get("/qbo/admin/health").get_data(as_text=True)
    assert "<script>x" not in html


# -- secrets -----------------------------------------------------------------------


def _issued_secrets(app: t.Any, emulator: t.Any) -> list[str]:
    """Every token and code the emulator ever issued, and the app's own secrets."""
    found = list(emulator.tokens.access_tokens) + list(emulator.tokens.refresh_tokens) + list(emulator.tokens.codes)
    found += [
        app.config["QBO_CLIENT_SECRET"],
        app.config["QBO_TOKEN_ENCRYPTION_KEY"],
        app.config["QBO_WEBHOOK_VERIFIER_TOKEN"],
    ]
    assert len(found) >= 6
    return found


def _exercise(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    """Connect through the UI, push, force a token refresh, push again, and pull a webhook."""
    login(client, ACME_ADMIN)
    assert callback(client, intuit_sign_in(emulator, start_connect(client))).status_code == 302
    with app.app_context():
        qbo = get_qbo(app)
        contact = Contact(tenant="acme", first_name="Secret", last_name="Keeper", email="keeper@acme.test")
        db.session.add(contact)
        db.session.commit()
        assert push.process(qbo) == 1
        emulator.expire_access_tokens()
        contact.phone = "555-0100"
        db.session.commit()
        assert push.process(qbo) == 1
        qbo_id = db.session.query(Customer).filter_by(contact_key=str(contact.id)).one().qbo_id
        db.session.commit()
    body = _notification(TEST_REALM, qbo_id)
    headers = {
        "content-type": "application/cloudevents+json",
        "intuit-signature": sign(body, app.config["QBO_WEBHOOK_VERIFIER_TOKEN"]),
    }
    assert client.post("/qbo/webhooks", data=body, headers=headers).status_code == 200
    with app.app_context():
        pull.process(get_qbo(app))
        db.session.commit()


def test_tokens_are_encrypted_at_rest(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    _exercise(app, client, emulator)
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    with app.app_context():
        db.engine.dispose()
    with sqlite3.connect(path) as raw:
        dump = "\n".join(raw.iterdump())
    assert "qbo_connection" in dump
    for secret in _issued_secrets(app, emulator):
        assert secret not in dump


def test_no_secret_reaches_the_logs(
    app: t.Any, client: t.Any, emulator: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _exercise(app, client, emulator)
    assert caplog.records, "nothing was logged: the check would be vacuous"
    logged = caplog.text + "\n".join(repr(r.args) for r in caplog.records)
    with app.app_context():
        conn = get_qbo(app).connection("acme")
        logged += repr(conn)
        db.session.commit()
    for secret in _issued_secrets(app, emulator):
        assert secret not in logged


def _every_field(records: list[logging.LogRecord]) -> str:
    """Each record whole (message, args, ``extra`` fields, traceback) and as the JSON-logs recipe renders it."""
    from tests.test_logging import _recipe

    formatter = _recipe().JSONFormatter()
    return "\n".join(repr(vars(r)) + formatter.format(r) for r in records)


def test_no_secret_reaches_any_field_of_the_layer_records(
    app: t.Any, client: t.Any, emulator: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The per-layer records and their extra fields, on the intuit_tid capture, 401 and failed-refresh paths.

    Intuit's 401 detail can quote the token it refused ("Token expired: ..."):
    the emulator is made to do exactly that, once (refresh and retry) and then
    twice (a refused refreshed token: the connection needs a reconnect).
    Then a revoked grant fails the upkeep sweep's refresh.
    """
    from flask_qbo.connection import upkeep

    caplog.set_level(logging.DEBUG)
    _exercise(app, client, emulator)
    with app.app_context():
        qbo = get_qbo(app)
        contact = db.session.query(Contact).filter_by(tenant="acme").one()
        for n, phone in ((1, "555-0101"), (2, "555-0102")):
            token = qbo.state(app).cipher.decrypt(qbo.connection("acme").access_token_enc)
            emulator.faults.fail_next(
                n=n, status=401, code="3200", detail=f"Token expired: {token}", path_contains="/customer"
            )
            contact.phone = phone
            db.session.commit()
            push.process(qbo)
        assert qbo.connection("acme").status == "needs_reconnect"
        db.session.commit()
    connect_tenant(app, emulator, "acme", TEST_REALM)
    emulator.revoke_tokens()
    with app.app_context():
        qbo = get_qbo(app)
        qbo.connection("acme").access_expires_at = dt.datetime.now(dt.timezone.utc)
        db.session.commit()
        assert upkeep.upkeep(qbo)["failed"] == 1
    logged = _every_field(caplog.records)
    for text in ("refreshing it", "refused a refreshed token", "needs a reconnect", "Token refresh for tenant"):
        assert text in logged, f"the path that logs {text!r} did not run: the check would be vacuous"
    assert re.search(r"'intuit_tid': '1-", logged) and "'qbo_outbox_id': " in logged, "no extra field was checked"
    for secret in _issued_secrets(app, emulator):
        assert secret not in logged


# -- decrypt failure ---------------------------------------------------------------


def _restarted_with_a_wrong_key(app: t.Any, emulator: t.Any) -> t.Any:
    """The same CRM started again with a QBO_TOKEN_ENCRYPTION_KEY that did not encrypt its tokens."""
    wrong = make_app(app.config["SQLALCHEMY_DATABASE_URI"], QBO_TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode())
    attach_emulator(wrong, emulator)
    return wrong


def test_a_decrypt_failure_never_shows_a_key_or_a_token(
    app: t.Any, emulator: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Every surface that reports a wrong key (logs, pages, CLI, stored errors) names it by fingerprint only."""
    caplog.set_level(logging.DEBUG)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    wrong = _restarted_with_a_wrong_key(app, emulator)
    admin, user = wrong.test_client(), wrong.test_client()
    login(admin, ACME_ADMIN)
    login(user, ACME_USER)
    with wrong.app_context():
        qbo = get_qbo(wrong)
        db.session.add(Contact(tenant="acme", first_name="Kim", last_name="Key", email="kim@acme.test"))
        db.session.add(
            Inbox(
                event_id="e-key",
                realm_id=TEST_REALM,
                entity="Customer",
                entity_id="1",
                operation="Update",
                event_time=dt.datetime.now(dt.timezone.utc),
            )
        )
        qbo.connection("acme").access_expires_at = dt.datetime.now(dt.timezone.utc)
        db.session.commit()
        push.process(qbo)
        pull.process(qbo)
        pull.poll_due(qbo)
    shown = [
        wrong.test_cli_runner().invoke(args=["qbo", command]).output for command in ("status", "upkeep", "reconcile")
    ]
    shown += [admin.get(path).get_data(as_text=True) for path in ("/qbo/admin/health", "/qbo/admin/")]
    shown.append(user.get("/qbo/admin/").get_data(as_text=True))
    with wrong.app_context():
        conn = get_qbo(wrong).connection("acme")
        assert conn.status == "connected", "a wrong key was taken for a dead grant"
        shown += [conn.status_reason or ""] + [r.last_error or "" for r in db.session.query(Outbox)]
        shown += [r.last_error or "" for r in db.session.query(Inbox)]
        db.session.commit()
    token = csrf(admin, "/qbo/admin/disconnect")
    shown.append(
        admin.post("/qbo/admin/disconnect", data={"csrf_token": token, "data": "keep"}, follow_redirects=True).get_data(
            as_text=True
        )
    )
    with wrong.app_context():
        shown += [entry.message or "" for entry in db.session.query(SyncLog)]
        db.session.commit()
    shown.append(caplog.text + "\n".join(repr(r.args) for r in caplog.records))
    everything = "\n".join(shown)
    assert everything.count("QBO_TOKEN_ENCRYPTION_KEY does not decrypt") >= 5, "the checks would be vacuous"
    secrets = [
        *emulator.tokens.access_tokens,
        *emulator.tokens.refresh_tokens,
        app.config["QBO_CLIENT_SECRET"],
        app.config["QBO_TOKEN_ENCRYPTION_KEY"],
        wrong.config["QBO_TOKEN_ENCRYPTION_KEY"],
    ]
    assert len(secrets) >= 5
    for secret in secrets:
        assert secret not in everything
