"""WSGIAdapter: requests to any WSGI app without sockets."""

from __future__ import annotations

import io

import pytest
import requests
from flask import Flask
from flask import jsonify
from flask import make_response
from flask import redirect
from flask import request
from flask import session

from flask_qbo.emulator import WSGIAdapter


@pytest.fixture
def client() -> requests.Session:
    app = Flask("transport")
    app.secret_key = "test"

    @app.route("/echo/<path:rest>", methods=["GET", "POST", "PUT"])
    def echo(rest: str):
        return jsonify(
            path=rest,
            method=request.method,
            args=request.args.to_dict(),
            body=request.get_data(as_text=True),
            ctype=request.content_type,
            header=request.headers.get("X-Thing"),
            host=request.host,
            scheme=request.scheme,
        )

    @app.get("/login")
    def login():
        session["user"] = "ann"
        response = make_response(redirect("/whoami"))
        response.set_cookie("plain", "cookie-value")
        return response

    @app.get("/whoami")
    def whoami():
        return jsonify(user=session.get("user"), plain=request.cookies.get("plain"))

    @app.get("/binary")
    def binary():
        return make_response(bytes(range(256)), 201, {"Content-Type": "application/octet-stream"})

    @app.get("/boom")
    def boom():
        raise RuntimeError("kaput")

    s = requests.Session()
    s.mount("https://crm.test", WSGIAdapter(app))
    return s


def test_request_details_reach_the_app(client):
    resp = client.post(
        "https://crm.test/echo/a%20b/c", params={"q": "x y", "n": "1"}, json={"k": "v"}, headers={"X-Thing": "yes"}
    )
    data = resp.json()
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    assert data["path"] == "a b/c" and data["args"] == {"q": "x y", "n": "1"}
    assert data["body"] == '{"k": "v"}' and data["ctype"] == "application/json"
    assert data["header"] == "yes" and data["host"] == "crm.test" and data["scheme"] == "https"
    assert resp.url.startswith("https://crm.test/echo/")


def test_form_and_file_like_bodies(client):
    form = client.put("https://crm.test/echo/f", data={"a": "1"}).json()
    assert form["body"] == "a=1" and form["ctype"] == "application/x-www-form-urlencoded"
    stream = client.post(
        "https://crm.test/echo/s",
        data=io.BytesIO(b"raw bytes"),
        headers={"Content-Type": "text/plain", "Content-Length": "9"},
    ).json()
    assert stream["body"] == "raw bytes"


def test_cookies_and_redirects(client):
    resp = client.get("https://crm.test/login")
    assert resp.history and resp.history[0].status_code == 302
    assert resp.json() == {"user": "ann", "plain": "cookie-value"}


def test_binary_response(client):
    resp = client.get("https://crm.test/binary")
    assert resp.status_code == 201 and resp.content == bytes(range(256))


def test_app_errors(client):
    assert client.get("https://crm.test/boom").status_code == 500

    def broken_wsgi(environ, start_response):
        raise RuntimeError("the server process died")

    raw = requests.Session()
    raw.mount("http://broken.test", WSGIAdapter(broken_wsgi))
    with pytest.raises(requests.exceptions.ConnectionError):
        raw.get("http://broken.test/")


def test_emulator_http_session_is_mounted_on_base_url(emulator):
    session = emulator.http_session()
    assert isinstance(session.get_adapter("http://qbo.emulator.test/v3/x"), WSGIAdapter)
    assert session.get("http://qbo.emulator.test/.well-known/openid_configuration/").status_code == 200
