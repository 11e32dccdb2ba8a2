"""CSRF in both host setups: with Flask-WTF's CSRFProtect and without it (issue 20, item 5).

The donor CRM used Flask-WTF forms without the global ``CSRFProtect``, so
Flask-WTF's ``csrf_token()`` did not exist in its templates; ``qbo_csrf_token()``
is the helper that works in both, and Flask-QBO's POSTs check it in both.
"""

from __future__ import annotations

import pathlib
import re
import typing as t

import pytest
from flask import render_template_string
from flask_wtf.csrf import CSRFProtect
from jinja2 import UndefinedError

from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import push_now
from tests import hostapp
from tests.hosts.posts import assert_posts_need_the_token


@pytest.fixture(params=["CSRFProtect", "no CSRFProtect"])
def setup(request: pytest.FixtureRequest, tmp_path: pathlib.Path, emulator: t.Any) -> t.Any:
    app = hostapp.make_app(f"sqlite:///{tmp_path / 'csrf.sqlite'}")
    if request.param == "CSRFProtect":
        CSRFProtect(app)
    attach_emulator(app, emulator)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    with app.app_context():
        contact = hostapp.Contact(tenant="acme", first_name="Ann", last_name="Lee", email="ann@example.com")
        hostapp.db.session.add(contact)
        hostapp.db.session.commit()
        push_now()
        app.config["contact_id"] = contact.id
    return app


def test_posts_work_with_the_pages_token_and_are_refused_without(setup: t.Any) -> None:
    client = setup.test_client()
    hostapp_login(client)
    assert_posts_need_the_token(client, setup.config["contact_id"])


LAYOUT_LINE = """<body hx-headers='{"X-CSRFToken": {{ qbo_csrf_token()|tojson }}}'>"""


def test_the_documented_layout_line_works_in_both_setups(setup: t.Any) -> None:
    """The ``<body>`` line of docs/adding-to-your-crm.rst renders a token Flask-QBO's POSTs accept."""
    setup.add_url_rule("/layout", "layout", lambda: render_template_string(LAYOUT_LINE))
    client = setup.test_client()
    hostapp_login(client)
    found = re.search(r'"X-CSRFToken": "([^"]+)"', client.get("/layout").get_data(as_text=True))
    assert found is not None
    answer = client.post(f"/qbo/w/{setup.config['contact_id']}/sync", headers={"X-CSRFToken": found.group(1)})
    assert answer.status_code == 303


def test_flask_wtfs_helper_exists_only_under_csrfprotect(setup: t.Any) -> None:
    """Why the docs name ``qbo_csrf_token()``: ``csrf_token()`` is undefined without CSRFProtect."""
    with setup.test_request_context():
        if "csrf" in setup.extensions:
            assert render_template_string("{{ csrf_token() }}")
        else:
            with pytest.raises(UndefinedError):
                render_template_string("{{ csrf_token() }}")


def hostapp_login(client: t.Any) -> None:
    assert client.get(f"/_test/login/{hostapp.ACME_ADMIN}").status_code == 200
