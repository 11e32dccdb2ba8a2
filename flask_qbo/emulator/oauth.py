"""Intuit's OAuth 2.0 / OpenID endpoints, served from the emulator's origin.

The authorize page is a real two-step form (sign in, then pick a company from
the list or type its name, when the user has several) so demos and browser tests exercise the same redirects a
CRM sees in production; ``auto_approve`` skips it for automated tests.
"""

from __future__ import annotations

import secrets
import typing as t
from urllib.parse import urlencode

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from werkzeug.wrappers import Response as WerkzeugResponse

from . import openid
from .bodies import BodyError
from .bodies import read_json
from .errors import EmulatorFault
from .tokens import Client
from .tokens import OAuthError
from .tokens import validate_scope

if t.TYPE_CHECKING:
    from .app import Emulator

bp = Blueprint("emulator_oauth", __name__)

#: What the authorize pages answer: a page, an error page with its status, or a redirect.
Page = str | tuple[str, int] | WerkzeugResponse


def _emu() -> Emulator:
    return t.cast("Emulator", current_app.extensions["qbo_emulator"])


def _error_page(message: str, status: int = 400) -> tuple[str, int]:
    return render_template("emulator/oauth_error.html", message=message), status


def _back_to_client(redirect_uri: str, **params: str) -> WerkzeugResponse:
    """Redirect to the client's callback, keeping any query it already has."""
    joiner = "&" if "?" in redirect_uri else "?"
    return redirect(redirect_uri + joiner + urlencode({k: v for k, v in params.items() if v is not None}))


def _finish(pending: dict[str, str], user: str, realm: str) -> WerkzeugResponse:
    emu = _emu()
    code = emu.tokens.issue_code(
        pending["client_id"], pending["redirect_uri"], realm, user, pending["scope"], subject=emu.users[user].sub
    )
    return _back_to_client(pending["redirect_uri"], code=code, state=pending.get("state", ""), realmId=realm)


def _realms_for(email: str) -> list[tuple[str, str]]:
    emu = _emu()
    names = dict(emu.store.companies())
    return [(realm, names[realm]) for realm in emu.users[email].realms if realm in names]


@bp.get("/connect/oauth2")
def authorize() -> Page:
    emu = _emu()
    args = request.args
    client = emu.tokens.clients.get(args.get("client_id", ""))
    if client is None:
        return _error_page("The client_id in this request is not registered with the emulator.")
    redirect_uri = args.get("redirect_uri", "")
    if not redirect_uri or not client.allows(redirect_uri):
        return _error_page(f"The redirect_uri {redirect_uri!r} is not registered for this app.")
    state = args.get("state", "")
    if args.get("response_type") != "code":
        return _back_to_client(redirect_uri, error="unsupported_response_type", state=state)
    scope = args.get("scope", "")
    if not validate_scope(scope):
        return _back_to_client(redirect_uri, error="invalid_scope", state=state)
    pending = {"client_id": client.client_id, "redirect_uri": redirect_uri, "scope": scope, "state": state}
    if emu.config.auto_approve:
        email = args.get("emulator_user") or emu.config.default_user[0]
        if email not in emu.users:
            return _error_page(f"Unknown emulator user {email!r}.")
        realms = [r for r, _ in _realms_for(email)]
        realm = args.get("emulator_realm") or (realms[0] if realms else "")
        if realm not in realms:
            return _error_page("That user has no access to the requested company.")
        return _finish(pending, email, realm)
    txn = secrets.token_urlsafe(16)
    emu.tokens.pending[txn] = pending
    return render_template("emulator/oauth_signin.html", txn=txn, error=None, email="")


@bp.post("/connect/oauth2")
def authorize_submit() -> Page:
    emu = _emu()
    form = request.form
    pending = emu.tokens.pending.get(form.get("txn", ""))
    if pending is None:
        return _error_page("This sign-in request has expired. Start again from your app.")
    if form.get("action") == "cancel":
        emu.tokens.pending.pop(form["txn"], None)
        return _back_to_client(pending["redirect_uri"], error="access_denied", state=pending.get("state", ""))
    if form.get("action") == "choose":
        email = pending.get("user", "")
        if not email:
            return _error_page("Choose one of your companies.")
        companies = _realms_for(email)
        realm, problem = _chosen_realm(companies, form.get("realm", ""), form.get("company_name", ""))
        if problem:
            return render_template(
                "emulator/oauth_company.html", txn=form["txn"], companies=companies, email=email, error=problem
            ), 200
        emu.tokens.pending.pop(form["txn"], None)
        return _finish(pending, email, realm)
    email = form.get("email", "").strip().lower()
    user = emu.users.get(email)
    if user is None or not secrets.compare_digest(user.password, form.get("password", "")):
        return render_template(
            "emulator/oauth_signin.html",
            txn=form["txn"],
            email=email,
            error="That email and password combination is not recognised.",
        ), 200
    companies = _realms_for(email)
    if not companies:
        return _error_page("This user has no QuickBooks companies.")
    if len(companies) == 1:
        emu.tokens.pending.pop(form["txn"], None)
        return _finish(pending, email, companies[0][0])
    pending["user"] = email
    return render_template("emulator/oauth_company.html", txn=form["txn"], companies=companies, email=email, error=None)


def _chosen_realm(companies: list[tuple[str, str]], realm: str, typed: str) -> tuple[str, str | None]:
    """The company step's answer: a typed name wins over the list; ``(realm, None)`` or ``("", why not)``.

    Intuit's page lets the user pick the company from a list or type its name;
    a typed name matches a company's name whatever its case and spacing.
    """
    shown = " ".join(typed.split())
    if shown:
        found = [r for r, name in companies if " ".join(name.split()).casefold() == shown.casefold()]
        if len(found) == 1:
            return found[0], None
        if found:
            return "", "Several of your companies have that name: choose one from the list."
        return "", f"None of your companies is called “{shown[:100]}”. Check the name or choose from the list."
    if realm in [r for r, _ in companies]:
        return realm, None
    return "", "Choose one of your companies."


def _oauth_json(body: dict[str, t.Any], status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _client() -> Client:
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        return _emu().tokens.authenticate_client(auth.username, auth.password)
    return _emu().tokens.authenticate_client(request.form.get("client_id"), request.form.get("client_secret"))


@bp.post("/oauth2/v1/tokens/bearer")
def token() -> Response:
    tokens = _emu().tokens
    include_hard = request.headers.get("x-include-refresh-token-hard-expires-in", "").lower() == "true"
    try:
        client = _client()
        grant_type = request.form.get("grant_type")
        if grant_type == "authorization_code":
            if not request.form.get("code"):
                raise OAuthError(400, "invalid_request", "code is required")
            body = tokens.exchange_code(
                client, request.form.get("code"), request.form.get("redirect_uri"), include_hard
            )
        elif grant_type == "refresh_token":
            if not request.form.get("refresh_token"):
                raise OAuthError(400, "invalid_request", "refresh_token is required")
            body = tokens.refresh(client, request.form.get("refresh_token"), include_hard)
        else:
            raise OAuthError(400, "unsupported_grant_type")
    except OAuthError as exc:
        return _oauth_json(exc.body(), exc.status)
    return _oauth_json(body)


def _revoked_token() -> t.Any:
    """The ``token`` to revoke: Intuit's SDKs send it as a JSON object, a form field works too."""
    if not request.is_json:
        return request.form.get("token")
    try:
        payload = read_json(request.get_data(cache=True))
    except BodyError as exc:
        raise OAuthError(400, "invalid_request", str(exc)) from None
    if not isinstance(payload, dict):
        raise OAuthError(400, "invalid_request", "the body must be a JSON object")
    return payload.get("token")


@bp.post("/v2/oauth2/tokens/revoke")
def revoke() -> Response:
    try:
        client = _client()
        token_value = _revoked_token()
        if not token_value:
            raise OAuthError(400, "invalid_request", "token is required")
        _emu().tokens.revoke(client, token_value)
    except OAuthError as exc:
        return _oauth_json(exc.body(), exc.status)
    return _oauth_json({})


def _discovery() -> Response:
    config = _emu().config
    base = config.base_url.rstrip("/")
    return jsonify(
        {
            "issuer": openid.issuer(config),
            "authorization_endpoint": f"{base}/connect/oauth2",
            "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
            "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
            "revocation_endpoint": f"{base}/v2/oauth2/tokens/revoke",
            "jwks_uri": f"{base}/op/v1/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "address", "phone"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
        }
    )


bp.add_url_rule("/.well-known/openid_configuration/", "discovery", _discovery, strict_slashes=False)
bp.add_url_rule("/.well-known/openid_sandbox_configuration/", "discovery_sandbox", _discovery, strict_slashes=False)


@bp.get("/op/v1/jwks")
def jwks() -> Response:
    """The public key every ID token of this emulator is signed with."""
    return jsonify(_emu().tokens.id_tokens.jwks())


@bp.get("/v1/openid_connect/userinfo")
def userinfo() -> Response:
    emu = _emu()
    header = request.headers.get("Authorization", "")
    token_value = header[7:].strip() if header.lower().startswith("bearer ") else None
    try:
        info = emu.tokens.check_access(token_value)
    except EmulatorFault as exc:
        response = jsonify(exc.body())
        response.status_code = exc.status
        return response
    if "openid" not in openid.granted(info.scope):
        # RFC 6750 §3.1: a valid token without the scope the resource needs.
        response = _oauth_json(
            {"error": "insufficient_scope", "error_description": "the access token was not granted the openid scope"},
            403,
        )
        response.headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope", scope="openid"'
        return response
    return jsonify(openid.userinfo(emu.users[info.user], info.scope))
