"""Issue 18 §9 in the demo CRM: one 403 page, a sidebar link to sync health, initials from letters,
and emails and phone numbers kept whole."""

from __future__ import annotations

import datetime as dt
import re
import typing as t

import pytest

from demo_app import __main__ as demo_main
from demo_app.models import Contact
from demo_app.models import db
from tests.test_demo_app import _make
from tests.test_demo_app import contact_id
from tests.test_demo_app import sign_in


@pytest.fixture
def demo(tmp_path: t.Any) -> t.Any:
    return _make(tmp_path)


FORBIDDEN = re.compile(
    r"<h1[^>]*>Administrators only</h1>\s*<p[^>]*>Only an administrator of this account can open this page\."
)


def test_every_admin_page_of_the_demo_refuses_with_the_same_page(demo: t.Any) -> None:
    client = demo.test_client()
    sign_in(client, "user@acme.test")
    for url in ("/admin/", "/admin/addons", "/admin/users", "/qbo/admin/", "/qbo/admin/health", "/qbo/import/"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert FORBIDDEN.search(response.get_data(as_text=True)), url


def test_sidebar_links_sync_health_for_admins_only(demo: t.Any) -> None:
    client = demo.test_client()
    sign_in(client, "admin@acme.test")
    page = client.get("/contacts/").get_data(as_text=True)
    assert '<a href="/qbo/admin/health" class="">Sync health</a>' in page
    health = client.get("/qbo/admin/health").get_data(as_text=True)
    assert '<a href="/qbo/admin/health" class="active">Sync health</a>' in health
    assert re.search(r'<a href="/admin/addons" class="">Add-ons &amp; API</a>', health)  # only one is current
    client.post("/logout")
    sign_in(client, "user@acme.test")
    assert "Sync health" not in client.get("/contacts/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("first", "last", "company", "initials"),
    [
        ("<Oscar>", "Wilde", None, "OW"),
        ("<script>", None, None, "S"),
        ("Ada", "Lovelace", None, "AL"),
        (None, None, "«Acme» Garden & Co", "AG"),
        ("-- ", "'Brien", None, "B"),
        (None, None, None, "C"),  # "Contact #<id>"
    ],
)
def test_avatar_initials_are_letters(first: str | None, last: str | None, company: str | None, initials: str) -> None:
    assert Contact(id=7, first_name=first, last_name=last, company=company).initials == initials


def test_avatar_of_a_name_with_markup_shows_letters(demo: t.Any) -> None:
    client = demo.test_client()
    sign_in(client, "admin@acme.test")
    cid = contact_id(demo, "Acme Landscaping")
    with demo.app_context():
        contact = db.session.get(Contact, cid)
        contact.first_name, contact.last_name = "<Oscar>", "Wilde"
        db.session.commit()
    page = client.get(f"/contacts/{cid}").get_data(as_text=True)
    assert '<div class="avatar" aria-hidden="true">OW</div>' in page


def test_emails_wrap_only_after_at_or_dot_and_phones_stay_whole(demo: t.Any) -> None:
    client = demo.test_client()
    sign_in(client, "admin@acme.test")
    cid = contact_id(demo, "Acme Landscaping")
    with demo.app_context():
        contact = db.session.get(Contact, cid)
        contact.email, contact.phone = "a.very.long.address.for.billing@landscaping-example.test", "+1 (555) 010-0199"
        db.session.commit()
    page = client.get(f"/contacts/{cid}").get_data(as_text=True)
    # The address wraps only after "@" or "." (never cut, never broken mid-word).
    assert (
        '<dd data-testid="contact-email"><a href="mailto:a.very.long.address.for.billing@landscaping-example.test">'
        "a.<wbr>very.<wbr>long.<wbr>address.<wbr>for.<wbr>billing@<wbr>landscaping-example.<wbr>test</a></dd>"
    ) in page
    assert 'class="one-line" data-testid="contact-phone" title="+1 (555) 010-0199"' in page
    css = client.get("/static/demo.css").get_data(as_text=True)
    rule = re.search(r"\.facts dd\.one-line \{([^}]*)\}", css)
    assert rule and "white-space: nowrap" in rule.group(1) and "text-overflow: ellipsis" in rule.group(1)
    assert "anywhere" not in rule.group(1)
    facts = re.search(r"\.facts dd \{([^}]*)\}", css)
    assert facts and "anywhere" not in facts.group(1) and "word-break: normal" in facts.group(1)


def test_the_added_date_is_the_apps_local_date(tmp_path: t.Any) -> None:
    # 02:30 UTC on March 5 is still March 4 in New York: the details say the local date, as the card does.
    demo = _make(tmp_path, QBO_TIMEZONE="America/New_York")
    client = demo.test_client()
    sign_in(client, "admin@acme.test")
    cid = contact_id(demo, "Acme Landscaping")
    with demo.app_context():
        db.session.get(Contact, cid).created_at = dt.datetime(2026, 3, 5, 2, 30, tzinfo=dt.timezone.utc)
        db.session.commit()
    page = client.get(f"/contacts/{cid}").get_data(as_text=True)
    assert "<dt>Added</dt><dd>Mar 4, 2026</dd>" in page


def test_help_explains_the_options_and_starts_nothing(monkeypatch: t.Any, capsys: t.Any) -> None:
    def no_server(host: str, port: int) -> t.NoReturn:
        raise AssertionError(f"--help bound {host}:{port}")

    monkeypatch.setattr(demo_main, "bind", no_server)
    with pytest.raises(SystemExit) as stopped:
        demo_main.main(["--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert "usage: python -m demo_app" in out and "--port" in out and "--emulator-port" in out


def test_port_options_win_over_the_environment(monkeypatch: t.Any) -> None:
    monkeypatch.setenv("DEMO_PORT", "6000")
    args = demo_main._arguments(["--port", "6100", "--emulator-port", "6155"])
    assert (args.port, args.emulator_port) == (6100, 6155)
    assert demo_main._arguments([]).port is None  # then DEMO_PORT, else 5000
