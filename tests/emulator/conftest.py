"""Fixtures for the emulator's own tests.

``emulator`` is an empty emulator (no companies) exactly as the public API
creates it; ``realm`` adds one company; ``api`` is an authorised client bound
to that company, talking in-process through ``emulator.http_session()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from flask_qbo.emulator import Emulator
from flask_qbo.emulator import EmulatorConfig

BASE_URL = "http://qbo.emulator.test"
REALM = "9130350000000001"
OTHER_REALM = "9130350000000002"
CALLBACK = "http://crm.test/qbo/callback"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator(EmulatorConfig(base_url=BASE_URL, redirect_uris=(CALLBACK,)))
    yield emu
    emu.webhooks.stop()


@pytest.fixture
def realm(emulator: Emulator) -> str:
    emulator.add_company(REALM, "Sandbox Company US")
    return REALM


class Api:
    """Thin helper so tests read like QBO calls: ``api.post("customer", {...})``."""

    def __init__(self, emulator: Emulator, realm: str, token: str | None = None) -> None:
        self.emulator = emulator
        self.realm = realm
        self.session: requests.Session = emulator.http_session()
        self.token = token or emulator.issue_tokens(realm)["access_token"]

    def url(self, path: str) -> str:
        return f"{BASE_URL}/v3/company/{self.realm}/{path.lstrip('/')}"

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **(extra or {})}

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.url(path), params=params, headers=self.headers())

    def post(
        self,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        return self.session.post(self.url(path), json=body, params=params, headers=self.headers(headers), **kwargs)

    def query(self, statement: str) -> requests.Response:
        return self.get("query", query=statement)

    def create_customer(self, **fields: Any) -> dict[str, Any]:
        response = self.post("customer", fields)
        assert response.status_code == 200, response.text
        return response.json()["Customer"]

    def create(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post(entity.lower(), body)
        assert response.status_code == 200, response.text
        return response.json()[entity]

    @staticmethod
    def error(response: requests.Response) -> dict[str, Any]:
        """The first Error of an upper-case Fault body (asserting the envelope)."""
        body = response.json()
        assert "time" in body and body["Fault"]["type"]
        return body["Fault"]["Error"][0]

    @staticmethod
    def line(amount: float, **detail: Any) -> dict[str, Any]:
        return {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail}


@pytest.fixture
def api(emulator: Emulator, realm: str) -> Api:
    return Api(emulator, realm)
