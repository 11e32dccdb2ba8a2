"""Issue 18 §9 on the admin pages: a cancelled sign-in lands where it started, one 403 page,
and error headings that say who refused."""

from __future__ import annotations

import re
import typing as t

import pytest
from flask import render_template_string

from flask_qbo.connection.connect import ConnectError
from flask_qbo.connection.connect import local_path
from tests.conftest import login
from tests.connection.test_connect_support import ADDONS
from tests.connection.test_connect_support import callback
from tests.connection.test_connect_support import connection_row
from tests.connection.test_connect_support import csrf
from tests.connection.test_connect_support import intuit_sign_in
from tests.connection.test_connect_support import query_of
from tests.connection.test_connect_support import start_connect
from tests.connection.test_connect_support import text
from tests.hostapp import ACME_ADMIN
from tests.hostapp import ACME_USER

HOST_ADDONS = "/crm/admin/addons"


def _host_addons_page(app: t.Any) -> None:
    """The host's own Add-ons & API page, embedding the extension's panel (as the demo does)."""
    app.add_url_rule(
        HOST_ADDONS,
        "host_addons",
        lambda: render_template_string('<h1>Add-ons &amp; API</h1>{% include "qbo/admin/_addons_panel.html" %}'),
    )


def _connect_from(client: t.Any, page: str, next_value: str | None) -> str:
    data = {"csrf_token": csrf(client, page)}
    if next_value is not None:
        data["next"] = next_value
    response = client.post("/qbo/admin/connect", data=data)
    assert response.status_code == 302
    return t.cast(str, response.headers["Location"])


def test_cancelled_sign_in_lands_back_on_the_hosts_page_with_a_message(
    app: t.Any, client: t.Any, emulator: t.Any
) -> None:
    _host_addons_page(app)
    login(client, ACME_ADMIN)
    page = text(client.get(HOST_ADDONS))
    assert f'name="next" value="{HOST_ADDONS}"' in page  # the panel's Connect form says where it is

    back = intuit_sign_in(emulator, _connect_from(client, HOST_ADDONS, HOST_ADDONS), cancel=True)
    assert query_of(back)["error"] == "access_denied"
    response = callback(client, back)
    assert response.status_code == 302 and response.headers["Location"] == HOST_ADDONS
    page = text(client.get(HOST_ADDONS))
    assert "Connection cancelled." in page and "Connect QuickBooks Account" in page
    assert "Connection cancelled." not in text(client.get(HOST_ADDONS))  # shown once
    assert connection_row(app, "acme") is None


def test_the_extensions_own_page_still_works_without_a_return_path(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    login(client, ACME_ADMIN)
    back = intuit_sign_in(emulator, _connect_from(client, ADDONS, None), cancel=True)
    assert callback(client, back).headers["Location"].endswith(ADDONS)
    page = text(client.get(ADDONS))
    assert page.count("Connection cancelled.") == 1  # the page's notice, not the panel's too


@pytest.mark.parametrize(
    "target",
    ["https://evil.test/x", "//evil.test/x", "/\\evil.test", "evil", "/ok\nLocation: x", "javascript:alert(1)", ""],
)
def test_a_return_path_off_this_site_is_ignored(app: t.Any, client: t.Any, emulator: t.Any, target: str) -> None:
    login(client, ACME_ADMIN)
    back = intuit_sign_in(emulator, _connect_from(client, ADDONS, target), cancel=True)
    location = callback(client, back).headers["Location"]
    assert location.endswith(ADDONS) and "evil" not in location


def test_local_path() -> None:
    assert local_path("/admin/addons?tab=qbo") == "/admin/addons?tab=qbo"
    for bad in (None, "", "admin", "//x.test", "/\\x.test", "http://x.test/", "/a\tb", "/" + "a" * 3000):
        assert local_path(bad) is None, bad


# -- one 403 page -----------------------------------------------------------------------------------------

FORBIDDEN = re.compile(
    r"<h1[^>]*>Administrators only</h1>\s*<p[^>]*>Only an administrator of this account can open this page\."
)


@pytest.mark.parametrize("path", [ADDONS, "/qbo/admin/health", "/qbo/import/"])
def test_every_admin_page_refuses_with_the_same_words(client: t.Any, connected: t.Any, path: str) -> None:
    login(client, ACME_USER)
    response = client.get(path)
    assert response.status_code == 403
    assert FORBIDDEN.search(text(response)), text(response)


# -- who refused ------------------------------------------------------------------------------------------


def test_the_crms_own_refusal_does_not_blame_quickbooks(client: t.Any) -> None:
    login(client, ACME_ADMIN)
    response = client.post("/qbo/admin/connect")  # no CSRF token
    assert response.status_code == 400
    page = text(response)
    assert "This CRM refused that request" in page and "QuickBooks could not complete that" not in page


def test_a_state_mismatch_is_the_crms_refusal(client: t.Any, emulator: t.Any) -> None:
    login(client, ACME_ADMIN)
    back = intuit_sign_in(emulator, start_connect(client))
    response = callback(client, back.replace(f"state={query_of(back)['state']}", "state=forged"))
    assert response.status_code == 400 and "This CRM refused that request" in text(response)


def test_intuits_refusal_is_quickbooks(client: t.Any, emulator: t.Any) -> None:
    login(client, ACME_ADMIN)
    back = intuit_sign_in(emulator, start_connect(client))
    response = callback(client, back.replace(f"code={query_of(back)['code']}", "code=not-a-code"))
    assert response.status_code == 502
    page = text(response)
    assert "QuickBooks could not complete that" in page and "This CRM refused" not in page


@pytest.mark.parametrize(("status", "who"), [(400, "crm"), (409, "crm"), (403, "quickbooks"), (502, "quickbooks")])
def test_connect_error_says_who_refused(status: int, who: str) -> None:
    assert ConnectError("x", status=status).refused_by == who
