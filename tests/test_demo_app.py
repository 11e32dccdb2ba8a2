"""The demo CRM without a browser: sign-in, contacts CRUD, tenant isolation, admin pages, widgets."""

from __future__ import annotations

import re
import typing as t

import pytest
from cryptography.fernet import Fernet

from demo_app import create_app
from demo_app.models import Account
from demo_app.models import Contact
from demo_app.models import User
from demo_app.models import db
from demo_app.seed import demo_customer_emails
from demo_app.seed import seed
from demo_app.settings import intuit_mode
from demo_app.settings import qbo_settings_from_env


def _make(tmp_path: t.Any, **extra: t.Any) -> t.Any:
    config = {
        "TESTING": True,
        "SECRET_KEY": "unit-test",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'demo.sqlite'}",
        "QBO_TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "QBO_RUNNER": "none",
        "WTF_CSRF_ENABLED": False,
    }
    config.update(extra)
    app = create_app(config)
    with app.app_context():
        seed()
    return app


@pytest.fixture
def demo(tmp_path: t.Any) -> t.Any:
    return _make(tmp_path)


def sign_in(client: t.Any, email: str, password: str = "demo") -> t.Any:
    return client.post("/login", data={"email": email, "password": password})


def contact_id(app: t.Any, account: str, **filters: t.Any) -> int:
    with app.app_context():
        acc = db.session.query(Account).filter_by(name=account).one()
        return db.session.query(Contact).filter_by(account_id=acc.id, **filters).order_by(Contact.id).first().id


def test_seed_creates_two_accounts_with_logins_and_contacts(demo: t.Any) -> None:
    with demo.app_context():
        assert {a.name for a in db.session.query(Account)} == {"Acme Landscaping", "Globex Supplies"}
        roles = {(u.email, u.role) for u in db.session.query(User)}
        assert ("admin@acme.test", "admin") in roles and ("user@globex.test", "user") in roles
        for account in db.session.query(Account):
            count = db.session.query(Contact).filter_by(account_id=account.id).count()
            assert 18 <= count <= 30
        acme_emails = {
            c.email for c in db.session.query(Contact).join(Account).filter(Account.name == "Acme Landscaping")
        }
        emails = demo_customer_emails()
        assert emails and set(emails) <= acme_emails
        assert seed() is False  # idempotent


def test_sign_in_rejects_a_wrong_password_and_accepts_the_demo_one(demo: t.Any) -> None:
    client = demo.test_client()
    assert client.get("/contacts/").headers["Location"].startswith("/login")
    bad = sign_in(client, "admin@acme.test", "nope")
    assert bad.status_code == 401 and b"Wrong email or password" in bad.data
    ok = sign_in(client, "ADMIN@acme.test")
    assert ok.status_code == 302 and ok.headers["Location"] == "/contacts/"
    page = client.get("/contacts/")
    assert page.status_code == 200 and b"Acme Landscaping" in page.data
    assert client.post("/logout").status_code == 302
    assert client.get("/contacts/").status_code == 302


def test_next_parameter_never_redirects_off_site(demo: t.Any) -> None:
    client = demo.test_client()
    resp = client.post("/login?next=//evil.example/x", data={"email": "user@acme.test", "password": "demo"})
    assert resp.headers["Location"] == "/contacts/"
    client.post("/logout")
    resp = client.post("/login?next=/admin/", data={"email": "user@acme.test", "password": "demo"})
    assert resp.headers["Location"] == "/admin/"


@pytest.mark.parametrize("target", ["/\\evil.example/x", "/\t/evil.example/x", "/\\\\evil.example", "\\\\evil.example"])
def test_next_parameter_refuses_backslash_and_control_tricks(demo: t.Any, target: str) -> None:
    """Browsers read ``/\\host`` and ``/<tab>/host`` as ``//host``: an open redirect."""
    from demo_app.auth import _safe_next

    with demo.test_request_context():
        assert _safe_next(target) == "/contacts/"


def test_list_searches_and_pages(demo: t.Any) -> None:
    client = demo.test_client()
    sign_in(client, "user@acme.test")
    first = client.get("/contacts/").get_data(as_text=True)
    assert "Page 1 of 2" in first and "Next" in first
    second = client.get("/contacts/?page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second
    found = client.get("/contacts/?q=orchards").get_data(as_text=True)
    assert "Mia Hartley" in found and "Noah Brandt" not in found
    assert "No contacts match" in client.get("/contacts/?q=zzzz-nobody").get_data(as_text=True)
    full_name = client.get("/contacts/?q=mia+hartley").get_data(as_text=True)
    assert "Mia Hartley" in full_name and "Noah Brandt" not in full_name, "a full name finds its contact"
    assert "No contacts match" in client.get("/contacts/?q=mia+brandt").get_data(as_text=True)
    archived = client.get("/contacts/?archived=1").get_data(as_text=True)
    assert "Ivy Sato" in archived and "Mia Hartley" not in archived


def test_create_edit_archive_and_delete_a_contact(demo: t.Any) -> None:
    client = demo.test_client()
    sign_in(client, "user@acme.test")
    invalid = client.post("/contacts/new", data={"email": "not-an-email"})
    assert invalid.status_code == 200
    text = invalid.get_data(as_text=True)
    assert "Enter a first name, last name or company." in text and "Enter a valid email address." in text

    created = client.post(
        "/contacts/new",
        data={
            "first_name": "Rita",
            "last_name": "Moreno",
            "email": "rita@example.org",
            "phone": " (555) 010-0000 ",
            "company": "",
        },
    )
    assert created.status_code == 302
    new_id = int(created.headers["Location"].rsplit("/", 1)[1])
    with demo.app_context():
        contact = db.session.get(Contact, new_id)
        assert contact.phone == "(555) 010-0000" and contact.company is None and not contact.archived
        assert contact.account.name == "Acme Landscaping"

    client.post(
        f"/contacts/{new_id}/edit",
        data={"first_name": "Rita", "last_name": "Moreno-Smith", "email": "rita@example.org"},
    )
    page = client.get(f"/contacts/{new_id}").get_data(as_text=True)
    assert "Rita Moreno-Smith" in page

    client.post(f"/contacts/{new_id}/archive")
    with demo.app_context():
        assert db.session.get(Contact, new_id).archived is True
    client.post(f"/contacts/{new_id}/archive")
    with demo.app_context():
        assert db.session.get(Contact, new_id).archived is False

    assert client.post(f"/contacts/{new_id}/delete").status_code == 302
    with demo.app_context():
        assert db.session.get(Contact, new_id) is None
    assert client.get(f"/contacts/{new_id}").status_code == 404


def test_another_accounts_contacts_are_invisible(demo: t.Any) -> None:
    acme_id = contact_id(demo, "Acme Landscaping")
    client = demo.test_client()
    sign_in(client, "admin@globex.test")
    listing = client.get("/contacts/?q=").get_data(as_text=True)
    assert "Globex Supplies" in listing
    with demo.app_context():
        acme_name = db.session.get(Contact, acme_id).display_name
    assert acme_name not in listing
    assert client.get(f"/contacts/{acme_id}").status_code == 404
    assert client.get(f"/contacts/{acme_id}/details").status_code == 404
    assert client.post(f"/contacts/{acme_id}/edit", data={"first_name": "Hacked"}).status_code == 404
    assert client.post(f"/contacts/{acme_id}/archive").status_code == 404
    assert client.post(f"/contacts/{acme_id}/delete").status_code == 404
    with demo.app_context():
        assert db.session.get(Contact, acme_id).first_name != "Hacked"


def test_admin_pages_are_for_admins_only(demo: t.Any) -> None:
    client = demo.test_client()
    sign_in(client, "user@acme.test")
    page = client.get("/contacts/").get_data(as_text=True)
    assert "Add-ons &amp; API" not in page
    for url in ("/admin/", "/admin/addons", "/admin/users"):
        assert client.get(url).status_code == 403
    client.post("/logout")
    sign_in(client, "admin@acme.test")
    addons = client.get("/admin/addons")
    assert addons.status_code == 200
    assert "QuickBooks Online" in addons.get_data(as_text=True)
    users = client.get("/admin/users").get_data(as_text=True)
    assert "user@acme.test" in users and "globex" not in users


def test_contact_dashboard_has_the_three_quickbooks_widgets(demo: t.Any) -> None:
    cid = contact_id(demo, "Acme Landscaping")
    client = demo.test_client()
    sign_in(client, "user@acme.test")
    page = client.get(f"/contacts/{cid}").get_data(as_text=True)
    for widget in ("icon", "summary", "transactions"):
        assert re.search(rf'hx-get="/qbo/w/{cid}/{widget}"', page), widget
    assert "qbo.css" in page and "htmx.min.js" in page
    assert page.index("contact-name") < page.index(f"/qbo/w/{cid}/icon") < page.index(f"/qbo/w/{cid}/summary")


def test_details_panel_answers_204_until_the_contact_changes(demo: t.Any) -> None:
    cid = contact_id(demo, "Acme Landscaping")
    client = demo.test_client()
    sign_in(client, "user@acme.test")
    page = client.get(f"/contacts/{cid}").get_data(as_text=True)
    url = re.search(r'hx-get="(/contacts/\d+/details\?v=[^"]+)"', page).group(1)
    assert client.get(url).status_code == 204
    with demo.app_context():
        db.session.get(Contact, cid).phone = "(555) 999-0000"
        db.session.commit()
    changed = client.get(url)
    assert changed.status_code == 200 and "(555) 999-0000" in changed.get_data(as_text=True)


def test_posts_need_the_csrf_token(tmp_path: t.Any) -> None:
    app = _make(tmp_path, WTF_CSRF_ENABLED=True)
    cid = contact_id(app, "Acme Landscaping")
    client = app.test_client()
    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    assert client.post("/login", data={"email": "user@acme.test", "password": "demo"}).status_code == 400
    assert (
        client.post("/login", data={"email": "user@acme.test", "password": "demo", "csrf_token": token}).status_code
        == 302
    )
    assert client.post(f"/contacts/{cid}/delete").status_code == 400
    assert client.post(f"/contacts/{cid}/delete", data={"csrf_token": token}).status_code == 302


def test_environment_switches_to_intuit_only_with_real_credentials() -> None:
    assert not intuit_mode({})
    assert not intuit_mode({"QBO_ENVIRONMENT": "sandbox", "QBO_CLIENT_ID": "abc"})
    env = {"QBO_ENVIRONMENT": "production", "QBO_CLIENT_ID": "abc", "QBO_CLIENT_SECRET": "s3cret", "DEMO_PORT": "5000"}
    assert intuit_mode(env)
    assert qbo_settings_from_env(env) == {
        "QBO_ENVIRONMENT": "production",
        "QBO_CLIENT_ID": "abc",
        "QBO_CLIENT_SECRET": "s3cret",
    }


def test_half_set_intuit_environment_is_refused_with_a_clear_message() -> None:
    from demo_app.settings import environment_problem

    assert environment_problem({}) is None
    assert environment_problem({"QBO_ENVIRONMENT": "emulator"}) is None
    message = environment_problem({"QBO_ENVIRONMENT": "sandbox", "QBO_CLIENT_ID": "abc"})
    assert message and "QBO_CLIENT_SECRET" in message
    assert "not 'prod'" in (environment_problem({"QBO_ENVIRONMENT": "prod"}) or "")
    assert (
        environment_problem({"QBO_ENVIRONMENT": "production", "QBO_CLIENT_ID": "a", "QBO_CLIENT_SECRET": "b"}) is None
    )


def test_intuit_credentials_switch_the_app_away_from_the_emulator(tmp_path: t.Any, monkeypatch: t.Any) -> None:
    monkeypatch.setenv("QBO_ENVIRONMENT", "sandbox")
    monkeypatch.setenv("QBO_CLIENT_ID", "real-client")
    monkeypatch.setenv("QBO_CLIENT_SECRET", "real-secret")
    monkeypatch.setenv("QBO_REDIRECT_URI", "https://crm.example.com/qbo/callback")
    app = _make(tmp_path)
    assert app.config["QBO_ENVIRONMENT"] == "sandbox"
    assert app.config["QBO_CLIENT_ID"] == "real-client"
    assert app.config["QBO_REDIRECT_URI"] == "https://crm.example.com/qbo/callback"
    assert app.config["QBO_WEBHOOK_VERIFIER_TOKEN"] is None  # never the emulator's
    with app.app_context():
        assert app.extensions["qbo"].urls()["api"] == "https://sandbox-quickbooks.api.intuit.com"


def test_without_credentials_the_app_targets_the_emulator(tmp_path: t.Any, monkeypatch: t.Any) -> None:
    for key in ("QBO_ENVIRONMENT", "QBO_CLIENT_ID", "QBO_CLIENT_SECRET"):
        monkeypatch.delenv(key, raising=False)
    app = _make(tmp_path)
    assert app.config["QBO_ENVIRONMENT"] == "emulator"
    assert app.config["QBO_EMULATOR_URL"] == "http://127.0.0.1:5055"
    assert app.config["SESSION_COOKIE_NAME"] != "session"  # the emulator's cookie must not clobber ours


def test_secrets_are_generated_once_in_the_instance_folder(tmp_path: t.Any) -> None:
    from demo_app.settings import fill_secrets

    first: dict[str, t.Any] = {}
    fill_secrets(first, str(tmp_path))
    second: dict[str, t.Any] = {}
    fill_secrets(second, str(tmp_path))
    assert first == second and len(first["SECRET_KEY"]) == 64
    Fernet(first["QBO_TOKEN_ENCRYPTION_KEY"].encode())
    assert (tmp_path / "qbo_token_key").stat().st_mode & 0o077 == 0


def test_reattach_gives_earlier_emulator_connections_fresh_tokens(tmp_path: t.Any) -> None:
    from demo_app.runtime import reattach
    from flask_qbo.models import Connection
    from flask_qbo.testing import TEST_REALM
    from flask_qbo.testing import attach_emulator
    from flask_qbo.testing import connect_tenant
    from flask_qbo.testing import make_emulator

    other_realm = "9130000000000002"
    emu = make_emulator()
    emu.add_company(other_realm, "Other Company")
    app = _make(tmp_path)
    attach_emulator(app, emu)
    connect_tenant(app, emu, "1", TEST_REALM)
    connect_tenant(app, emu, "2", other_realm)  # a company syncs with one tenant at a time
    with app.app_context():
        qbo = app.extensions["qbo"]
        globex = qbo.connection("2")
        globex.status = "disconnected"
        db.session.commit()
        old = qbo.connection("1").refresh_token_enc

    restarted = make_emulator(base_url=emu.config.base_url)  # knows none of the old tokens
    restarted.add_company(other_realm, "Other Company")
    attach_emulator(app, restarted)
    assert reattach(app, restarted) == ["1"]
    with app.app_context():
        acme = qbo.connection("1")
        assert acme.status == "connected" and acme.refresh_token_enc != old
        assert qbo.client(acme).company_info()
        assert db.session.query(Connection).filter_by(tenant_key="2").one().status == "disconnected"


@pytest.mark.parametrize("value", ["1" + "0" * 22, "-5", "0", "abc", "٣", "２", "+2", "2.0", "9" * 5000])
def test_list_page_numbers_are_checked(demo: t.Any, value: str) -> None:
    client = demo.test_client()
    sign_in(client, "user@acme.test")
    page = client.get("/contacts/", query_string={"page": value})
    assert page.status_code == 400
    assert "page must be a whole number from 1 to 100000" in page.get_data(as_text=True)


def test_contact_ids_out_of_range_or_not_ascii_are_not_found(demo: t.Any) -> None:
    client = demo.test_client()
    sign_in(client, "user@acme.test")
    cid = contact_id(demo, "Acme Landscaping")
    assert client.get(f"/contacts/{cid}").status_code == 200
    for spelled in (
        "1" + "0" * 22,
        str(cid).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
        str(cid).translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    ):
        for path in (f"/contacts/{spelled}", f"/contacts/{spelled}/details", f"/contacts/{spelled}/edit"):
            assert client.get(path).status_code == 404, path
        for path in (f"/contacts/{spelled}/archive", f"/contacts/{spelled}/delete"):
            assert client.post(path).status_code == 404, path
    with demo.app_context():
        assert db.session.get(Contact, cid).archived is False
