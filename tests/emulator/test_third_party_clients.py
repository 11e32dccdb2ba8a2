"""Issue 4: a QBO client library whose base URL can be set works against the emulator unchanged.

Two public clients from PyPI are driven through a whole integration, each
configured only through what it exposes for choosing hosts:

- Intuit's ``intuit-oauth`` (``intuitlib``) takes a discovery-document URL as
  its ``environment`` and reads every OAuth endpoint from it;
- ``python-quickbooks`` builds every API URL from ``api_url_v3``.

``intuitlib`` also validates every ``id_token`` it receives (signature against the
discovery document's ``jwks_uri`` with PyJWT, ``iss``, ``aud``, ``exp``) and keeps it
only when valid, so its ``id_token`` attribute tells whether the emulator's OpenID
tokens pass a real relying party; PyJWT's own ``PyJWKClient`` checks them too.

``intuitlib`` fetches the discovery document in its constructor with a fresh
``requests.Session``, so there is no transport to mount before that call: the
emulator runs as a real HTTP server on a free loopback port, as it would for
any program written against these libraries.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from intuitlib.utils import validate_id_token
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine
from quickbooks.objects.detailline import SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from werkzeug.serving import make_server

from flask_qbo.emulator import Emulator
from flask_qbo.emulator import EmulatorConfig

REALM = "9130350000000077"
CALLBACK = "http://crm.test/qbo/callback"
SCOPES = [Scopes.ACCOUNTING, Scopes.OPENID, Scopes.EMAIL]
INTUIT_ISSUER = "https://oauth.platform.intuit.com/op/v1"


class LiveEmulator:
    """An emulator served over real HTTP, plus what a client needs to reach it."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.base_url = emulator.config.base_url

    @property
    def discovery_url(self) -> str:
        return f"{self.base_url}/.well-known/openid_configuration/"


def _unavailable(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Placeholder app answering until the emulator (which must know its port) is built."""
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


@contextmanager
def _serve(issuer: str | None = None) -> Iterator[LiveEmulator]:
    """Bind first, then build the emulator with the bound port as its advertised base URL."""
    server = make_server("127.0.0.1", 0, _unavailable, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    emulator = Emulator(EmulatorConfig(base_url=base_url, auto_approve=True, redirect_uris=(CALLBACK,), issuer=issuer))
    emulator.add_company(REALM, "Third Party Test Co")
    server.app = emulator.app
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield LiveEmulator(emulator)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        emulator.webhooks.stop()


@pytest.fixture
def live() -> Iterator[LiveEmulator]:
    with _serve() as served:
        yield served


def _auth_client(live: LiveEmulator) -> AuthClient:
    config = live.emulator.config
    return AuthClient(config.client_id, config.client_secret, CALLBACK, live.discovery_url)


def _authorize(auth: AuthClient, state: str) -> dict[str, str]:
    """Follow the authorize URL like a browser would and return the callback's query."""
    response = requests.get(auth.get_authorization_url(SCOPES, state_token=state), allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


# --------------------------------------------------------------------------- intuit-oauth


def test_intuitlib_reads_every_endpoint_from_the_emulator_discovery_document(live: LiveEmulator) -> None:
    auth = _auth_client(live)
    assert auth.auth_endpoint == f"{live.base_url}/connect/oauth2"
    assert auth.token_endpoint == f"{live.base_url}/oauth2/v1/tokens/bearer"
    assert auth.revoke_endpoint == f"{live.base_url}/v2/oauth2/tokens/revoke"
    assert auth.user_info_url == f"{live.base_url}/v1/openid_connect/userinfo"

    url = auth.get_authorization_url(SCOPES, state_token="state-123")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{live.base_url}/connect/oauth2"
    query = parse_qs(parts.query)
    assert query["client_id"] == [live.emulator.config.client_id]
    assert query["redirect_uri"] == [CALLBACK]
    assert query["state"] == ["state-123"]
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["com.intuit.quickbooks.accounting openid email"]


def test_intuitlib_code_exchange_refresh_userinfo_and_revoke(live: LiveEmulator) -> None:
    auth = _auth_client(live)
    callback = _authorize(auth, "csrf-state-9")
    assert callback["state"] == "csrf-state-9"
    assert callback["realmId"] == REALM

    auth.get_bearer_token(callback["code"], realm_id=callback["realmId"])
    assert auth.realm_id == REALM
    assert auth.expires_in == 3600
    assert auth.x_refresh_token_expires_in > 0
    assert auth.access_token and auth.refresh_token
    assert live.emulator.tokens.check_access(auth.access_token).realm == REALM

    with pytest.raises(AuthClientError) as used:  # a code works once
        auth.get_bearer_token(callback["code"], realm_id=REALM)
    assert used.value.status_code == 400
    assert used.value.response.json()["error"] == "invalid_grant"

    user = auth.get_user_info().json()
    assert user["email"] == live.emulator.config.default_user[0]

    first_refresh, first_access = auth.refresh_token, auth.access_token
    auth.refresh()
    assert auth.refresh_token != first_refresh  # rotation
    assert auth.access_token != first_access
    assert live.emulator.tokens.check_access(auth.access_token).realm == REALM

    assert auth.revoke() is True
    with pytest.raises(AuthClientError) as revoked:
        auth.refresh()
    assert revoked.value.status_code == 400
    assert revoked.value.response.json()["error"] == "invalid_grant"


def _claims(id_token: str) -> dict[str, Any]:
    payload = id_token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _forged(id_token: str, **changes: Any) -> str:
    """The same token with its claims edited and the original signature kept."""
    header, _, signature = id_token.split(".")
    claims = json.dumps({**_claims(id_token), **changes}, separators=(",", ":")).encode()
    return ".".join([header, base64.urlsafe_b64encode(claims).rstrip(b"=").decode(), signature])


def test_intuitlib_validates_the_id_token_of_code_exchange_and_refresh(live: LiveEmulator) -> None:
    auth = _auth_client(live)
    assert auth.id_token is None
    callback = _authorize(auth, "oidc-state")
    auth.get_bearer_token(callback["code"], realm_id=callback["realmId"])
    first = auth.id_token
    assert first is not None  # intuitlib keeps an id_token only once it has validated it
    claims = _claims(first)
    assert claims["iss"] == auth.issuer_uri == f"{live.base_url}/op/v1"
    assert claims["realmid"] == REALM
    assert claims["sub"] == auth.get_user_info().json()["sub"]
    # the validation is real: an edited token fails it
    assert validate_id_token(_forged(first, realmid="1"), auth.client_id, auth.issuer_uri, auth.jwks_uri) is False

    auth.id_token = None
    auth.refresh()
    assert auth.id_token is not None  # validated again: refresh keeps OpenID working
    refreshed = _claims(auth.id_token)
    assert (refreshed["sub"], refreshed["auth_time"]) == (claims["sub"], claims["auth_time"])
    assert refreshed["iat"] >= claims["iat"]


def test_a_client_pinning_intuits_issuer_accepts_the_emulator_id_token() -> None:
    with _serve(issuer=INTUIT_ISSUER) as live:
        auth = _auth_client(live)
        assert auth.issuer_uri == INTUIT_ISSUER
        auth.get_bearer_token(_authorize(auth, "pinned")["code"], realm_id=REALM)
        assert auth.id_token is not None
        # PyJWT on its own: key fetched from jwks_uri by kid, every registered claim checked.
        signing_key = jwt.PyJWKClient(auth.jwks_uri).get_signing_key_from_jwt(auth.id_token)
        claims = jwt.decode(
            auth.id_token,
            signing_key.key,
            algorithms=["RS256"],
            audience=auth.client_id,
            issuer=INTUIT_ISSUER,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
        assert claims["realmid"] == REALM


# --------------------------------------------------------------------------- python-quickbooks


@pytest.fixture
def qb(live: LiveEmulator, monkeypatch: pytest.MonkeyPatch) -> QuickBooks:
    """A python-quickbooks client authorised through intuitlib, with only its API host changed.

    Its ``requests_oauthlib`` session refuses plain ``http://`` unless oauthlib's
    documented development switch is set; the loopback emulator has no TLS.
    """
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    auth = _auth_client(live)
    callback = _authorize(auth, "qb-state")
    auth.get_bearer_token(callback["code"], realm_id=callback["realmId"])
    client = QuickBooks(auth_client=auth, refresh_token=auth.refresh_token, company_id=REALM, minorversion=75)
    client.api_url_v3 = f"{live.base_url}/v3"
    return client


def _customer(display_name: str, **fields: Any) -> Customer:
    customer = Customer()
    customer.DisplayName = display_name
    for name, value in fields.items():
        setattr(customer, name, value)
    return customer


def _invoice_for(customer: Customer, amount: float) -> Invoice:
    detail = SalesItemLineDetail()
    detail.ItemRef = {"value": "1", "name": "Services"}
    line = SalesItemLine()
    line.Amount = amount
    line.Description = "Consulting"
    line.SalesItemLineDetail = detail
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    invoice.Line.append(line)
    return invoice


def test_customer_create_read_sparse_update_and_query(live: LiveEmulator, qb: QuickBooks) -> None:
    created = _customer("Siobhan O'Brien", GivenName="Siobhan", FamilyName="O'Brien").save(qb=qb)
    assert int(created.Id) > 0
    assert created.SyncToken == "0"
    assert created.DisplayName == "Siobhan O'Brien"
    assert created.MetaData["CreateTime"]

    fetched = Customer.get(created.Id, qb=qb)
    assert (fetched.Id, fetched.GivenName, fetched.FamilyName) == (created.Id, "Siobhan", "O'Brien")
    assert fetched.Active is True

    patch = Customer()
    patch.Id, patch.SyncToken, patch.sparse = fetched.Id, fetched.SyncToken, True
    patch.Notes = "Prefers email"
    # A fresh object carries the library's defaults; a sparse update sends only what we set.
    for name in list(vars(patch)):
        if name not in ("Id", "SyncToken", "sparse", "Notes"):
            setattr(patch, name, None)
    updated = patch.save(qb=qb)
    assert updated.SyncToken == "1"
    assert updated.Notes == "Prefers email"
    assert updated.GivenName == "Siobhan"  # untouched by the sparse update
    assert live.emulator.store.read(REALM, "Customer", created.Id)["Notes"] == "Prefers email"

    _customer("Acme Rentals").save(qb=qb)
    by_filter = Customer.filter(DisplayName="Siobhan O'Brien", qb=qb)
    assert [c.Id for c in by_filter] == [created.Id]
    by_where = Customer.where("FamilyName = 'O\\'Brien'", qb=qb)
    assert [c.DisplayName for c in by_where] == ["Siobhan O'Brien"]
    ordered = Customer.where("Active = true", order_by="DisplayName", qb=qb)
    assert [c.DisplayName for c in ordered] == ["Acme Rentals", "Siobhan O'Brien"]
    assert Customer.count(qb=qb) == 2
    assert Customer.count("DisplayName LIKE 'Acme%'", qb=qb) == 1


def test_list_helpers_sending_order_by_and_star_with_fields(qb: QuickBooks) -> None:
    """``all()`` writes ``ORDER BY`` (two words) and, for items, ``SELECT *, Sku``; QBO parses both."""
    for name in ("Beta Books", "Alpha Arts", "Gamma Goods"):
        _customer(name).save(qb=qb)
    descending = Customer.all(order_by="DisplayName DESC", qb=qb)
    assert [c.DisplayName for c in descending] == ["Gamma Goods", "Beta Books", "Alpha Arts"]
    page = Customer.all(order_by="DisplayName", start_position=2, max_results=1, qb=qb)
    assert [c.DisplayName for c in page] == ["Beta Books"]
    assert [(item.Id, item.Name) for item in Item.all(qb=qb)] == [("1", "Services")]


def test_invoice_create_get_and_pdf(qb: QuickBooks) -> None:
    customer = _customer("Invoice Customer").save(qb=qb)
    invoice = _invoice_for(customer, 150.0).save(qb=qb)
    assert int(invoice.Id) > 0
    assert invoice.CustomerRef.value == customer.Id
    assert float(invoice.TotalAmt) == 150.0
    assert float(invoice.Balance) == 150.0
    assert invoice.DocNumber

    fetched = Invoice.get(invoice.Id, qb=qb)
    assert fetched.Id == invoice.Id
    assert float(fetched.TotalAmt) == 150.0
    assert [float(line.Amount) for line in fetched.Line if line.DetailType == "SalesItemLineDetail"] == [150.0]
    assert float(Customer.get(customer.Id, qb=qb).Balance) == 150.0

    pdf = fetched.download_pdf(qb=qb)
    assert isinstance(pdf, bytes)
    assert pdf.startswith(b"%PDF")


def test_batch_create_and_change_data_capture(live: LiveEmulator, qb: QuickBooks) -> None:
    since = live.emulator.clock.now() - timedelta(minutes=1)
    result = batch_create([_customer("Batch One"), _customer("Batch Two"), _customer("Batch One")], qb=qb)
    assert sorted(c.DisplayName for c in result.successes) == ["Batch One", "Batch Two"]
    assert len(result.faults) == 1
    assert result.faults[0].Error[0].code == "6240"
    assert result.faults[0].original_object.DisplayName == "Batch One"

    invoice = _invoice_for(result.successes[0], 42.5).save(qb=qb)
    changes = change_data_capture([Customer, Invoice], since.isoformat(timespec="seconds"), qb=qb)
    assert sorted(c.DisplayName for c in changes.Customer) == ["Batch One", "Batch Two"]
    assert [i.Id for i in changes.Invoice] == [invoice.Id]
    assert float(changes.Invoice[0].TotalAmt) == 42.5


def test_change_data_capture_accepts_the_library_naive_datetime(live: LiveEmulator, qb: QuickBooks) -> None:
    """The library formats a ``datetime`` without an offset; QBO reads that in the company's zone."""
    local_now = live.emulator.clock.now().replace(tzinfo=None)
    _customer("Naive Since").save(qb=qb)
    changes = change_data_capture([Customer], datetime.combine(local_now.date(), datetime.min.time()), qb=qb)
    assert [c.DisplayName for c in changes.Customer] == ["Naive Since"]


def test_duplicate_name_and_stale_sync_token_raise_library_exceptions(qb: QuickBooks) -> None:
    original = _customer("Duplicate Dan").save(qb=qb)
    with pytest.raises(QuickbooksException) as duplicate:
        _customer("Duplicate Dan").save(qb=qb)
    assert duplicate.value.error_code == 6240
    assert "Duplicate Name Exists Error" in duplicate.value.message
    assert "already using this name" in duplicate.value.detail

    stale = Customer.get(original.Id, qb=qb)
    fresh = Customer.get(original.Id, qb=qb)
    fresh.Notes = "first writer"
    assert fresh.save(qb=qb).SyncToken == "1"
    stale.Notes = "second writer"
    with pytest.raises(QuickbooksException) as conflict:
        stale.save(qb=qb)
    assert conflict.value.error_code == 5010
    assert "Stale Object Error" in conflict.value.message
    assert Customer.get(original.Id, qb=qb).Notes == "first writer"
