"""Every kind of POST Flask-QBO serves to a browser, with and without the page's CSRF token (no tests here).

Shared by the CSRF setups (tests/hosts/test_csrf_setups.py) and the two host
shapes (tests/hosts/test_both_hosts.py): whichever way the host protects its
own forms, a token the page rendered is accepted and a missing or forged one
refused, by the widgets and by the admin pages alike.
"""

from __future__ import annotations

import re
import typing as t

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def page_token(client: t.Any, contact_id: int) -> str:
    """The token the contact's summary card renders (``qbo_csrf_token()``), as a browser would read it."""
    card = client.get(f"/qbo/w/{contact_id}/summary")
    assert card.status_code == 200, card.status_code
    found = TOKEN.search(card.get_data(as_text=True))
    assert found, "the summary card carries no CSRF token"
    return found.group(1)


def assert_posts_need_the_token(client: t.Any, contact_id: int) -> None:
    """The widget's "Sync now" and the admin's "Retry all": refused without the token, done with it."""
    token = page_token(client, contact_id)
    sync = f"/qbo/w/{contact_id}/sync"
    retry_all = "/qbo/admin/health/retry-all"
    for path in (sync, retry_all, "/qbo/admin/connect"):
        assert client.post(path).status_code == 400, path
        assert client.post(path, data={"csrf_token": "forged"}).status_code == 400, path
        assert client.post(path, headers={"X-CSRFToken": token + "x"}).status_code == 400, path
    assert client.post(sync, data={"csrf_token": token}).status_code == 303  # a plain form post
    htmx = client.post(sync, headers={"X-CSRFToken": token, "HX-Request": "true"})  # the button, through htmx
    assert htmx.status_code == 200 and "Sync requested." in htmx.get_data(as_text=True)
    assert client.post(retry_all, data={"csrf_token": token}).status_code == 302
