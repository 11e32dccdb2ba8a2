"""The app's shared HTTP session: one per app, no cookies kept, the environment read once per host."""

from __future__ import annotations

import http.client
import typing as t

import requests
import requests.adapters
import requests.sessions
from requests.models import PreparedRequest
from requests.models import Response

from flask_qbo.state import get_qbo


class CookieAdapter(requests.adapters.BaseAdapter):
    """Answers every request with a Set-Cookie header and remembers the Cookie header it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent_cookies: list[str | None] = []

    def send(self, request: PreparedRequest, **kwargs: t.Any) -> Response:  # type: ignore[override]
        self.sent_cookies.append(request.headers.get("Cookie"))
        response = Response()
        response.status_code = 200
        response.headers["Set-Cookie"] = "affinity=tenant-a; Path=/"
        response._content = b"{}"
        response.url = str(request.url)
        response.request = request
        headers = http.client.HTTPMessage()
        headers["Set-Cookie"] = "affinity=tenant-a; Path=/"
        # What requests reads Set-Cookie from (urllib3's response keeps http.client's).
        original = type("Original", (), {"msg": headers})()
        response.raw = type("Raw", (), {"_original_response": original})()
        return response

    def close(self) -> None:
        """Nothing to release."""


def test_one_session_per_app_reused_by_every_client(app: t.Any, connected: t.Any) -> None:
    with app.app_context():
        qbo = get_qbo(app)
        first = qbo.client(connected).http
        second = qbo.client(connected).http
    assert first is second
    assert first is qbo.state(app).http_session()


def test_a_transport_mounted_after_the_session_exists_is_used(app: t.Any) -> None:
    with app.app_context():
        qbo = get_qbo(app)
        session = qbo.state(app).http_session()
        adapter = CookieAdapter()
        qbo.mount_transport("https://late.example", adapter, app)
        session.get("https://late.example/ping", timeout=1)
    assert adapter.sent_cookies == [None]


def test_cookies_set_by_one_call_never_travel_with_the_next(app: t.Any) -> None:
    with app.app_context():
        qbo = get_qbo(app)
        adapter = CookieAdapter()
        qbo.mount_transport("https://cookies.example", adapter, app)
        session = qbo.state(app).http_session()
        session.get("https://cookies.example/a", timeout=1)
        session.get("https://cookies.example/b", timeout=1)
    assert adapter.sent_cookies == [None, None]
    assert len(session.cookies) == 0


def test_environment_proxies_are_read_once_per_host(app: t.Any, monkeypatch: t.Any) -> None:
    looked_up: list[str] = []
    real = requests.sessions.get_environ_proxies

    def counting(url: str, no_proxy: t.Any = None) -> dict[str, str]:
        looked_up.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counting)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    with app.app_context():
        qbo = get_qbo(app)
        adapter = CookieAdapter()
        qbo.mount_transport("https://env.example", adapter, app)
        session = qbo.state(app).http_session()
        for path in ("a", "b", "c"):
            session.get(f"https://env.example/{path}", timeout=1)
        session.get("https://env.example/d", timeout=1, proxies={"https": "http://other.invalid:1"})
    # Three calls without settings of their own: one lookup; a call passing proxies merges as requests does.
    assert len(looked_up) == 2
    settings = session.merge_environment_settings("https://env.example/x", None, None, None, None)
    assert settings["proxies"].get("https") == "http://proxy.invalid:3128"
    settings["proxies"]["https"] = "changed"
    again = session.merge_environment_settings("https://env.example/y", None, None, None, None)
    assert again["proxies"]["https"] == "http://proxy.invalid:3128"
