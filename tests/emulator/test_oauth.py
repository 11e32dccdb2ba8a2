"""OAuth 2.0 and OpenID endpoints: authorize pages, code exchange, rotation, revoke, ID tokens (facts §1)."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import jwt
import pytest

from flask_qbo.emulator import Emulator
from flask_qbo.emulator import EmulatorConfig

BASE_URL = "http://qbo.emulator.test"
CALLBACK = "http://crm.test/qbo/callback"
REALM, OTHER_REALM = "9130350000000001", "9130350000000002"

SCOPE = "com.intuit.quickbooks.accounting openid email"
BASIC = {"Authorization": "Basic " + base64.b64encode(b"emulator-client-id:emulator-client-secret").decode()}


def authorize_params(**extra):
    return {
        "client_id": "emulator-client-id",
        "response_type": "code",
        "scope": SCOPE,
        "redirect_uri": CALLBACK,
        "state": "st-123",
        **extra,
    }


def callback_args(response):
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(CALLBACK)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def txn_of(page: str) -> str:
    return re.search(r'name="txn" value="([^"]+)"', page).group(1)


def sign_in(session, email="admin@example.com", password="password", scope=SCOPE):
    page = session.get(f"{BASE_URL}/connect/oauth2", params=authorize_params(scope=scope))
    assert page.status_code == 200 and 'type="password"' in page.text
    return session.post(
        f"{BASE_URL}/connect/oauth2",
        allow_redirects=False,
        data={"txn": txn_of(page.text), "action": "signin", "email": email, "password": password},
    )


def exchange(session, code, redirect_uri=CALLBACK, headers=None):
    return session.post(
        f"{BASE_URL}/oauth2/v1/tokens/bearer",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        headers={**BASIC, "Accept": "application/json", **(headers or {})},
    )


def refresh(session, token, headers=None):
    return session.post(
        f"{BASE_URL}/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": token},
        headers={**BASIC, **(headers or {})},
    )


@pytest.mark.parametrize("path", ["/.well-known/openid_configuration/", "/.well-known/openid_sandbox_configuration/"])
def test_discovery_points_at_emulator(emulator, path):
    doc = emulator.http_session().get(BASE_URL + path).json()
    assert doc["authorization_endpoint"] == f"{BASE_URL}/connect/oauth2"
    assert doc["token_endpoint"] == f"{BASE_URL}/oauth2/v1/tokens/bearer"
    assert doc["revocation_endpoint"] == f"{BASE_URL}/v2/oauth2/tokens/revoke"
    assert doc["userinfo_endpoint"] == f"{BASE_URL}/v1/openid_connect/userinfo"
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"client_secret_post", "client_secret_basic"}


def test_authorize_rejects_unknown_client_and_redirect(emulator):
    session = emulator.http_session()
    bad_client = session.get(f"{BASE_URL}/connect/oauth2", params=authorize_params(client_id="nope"))
    assert bad_client.status_code == 400 and "not registered" in bad_client.text
    bad_uri = session.get(f"{BASE_URL}/connect/oauth2", params=authorize_params(redirect_uri="http://evil.test/cb"))
    assert bad_uri.status_code == 400 and "redirect_uri" in bad_uri.text


def test_sign_in_single_company_redirects_with_code(emulator, realm):
    session = emulator.http_session()
    wrong = sign_in(session, password="wrong")
    assert wrong.status_code == 200 and "not recognised" in wrong.text
    args = callback_args(sign_in(session))
    assert args["state"] == "st-123" and args["realmId"] == realm and args["code"]
    tokens = exchange(session, args["code"])
    assert tokens.status_code == 200
    body = tokens.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["x_refresh_token_expires_in"] == 8726400
    assert "x_refresh_token_hard_expires_in" not in body
    header = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[0] + "=="))
    assert header == {"enc": "A128CBC-HS256", "alg": "dir"}
    # codes are single use
    assert exchange(session, args["code"]).json()["error"] == "invalid_grant"


def test_company_picker_for_users_with_several_companies(emulator, realm):
    emulator.add_company(OTHER_REALM, "Second Co")
    session = emulator.http_session()
    page = sign_in(session)
    assert page.status_code == 200 and "Second Co" in page.text and "<select" in page.text
    chosen = session.post(
        f"{BASE_URL}/connect/oauth2",
        allow_redirects=False,
        data={"txn": txn_of(page.text), "action": "choose", "realm": OTHER_REALM},
    )
    assert callback_args(chosen)["realmId"] == OTHER_REALM


def _choose(session, page, **data):
    return session.post(
        f"{BASE_URL}/connect/oauth2", allow_redirects=False, data={"txn": txn_of(page.text), "action": "choose", **data}
    )


def test_company_step_also_takes_the_typed_name(emulator, realm):
    """Step 5 of the help article: type the company's name, or choose it from the list."""
    emulator.add_company(OTHER_REALM, "Second Co")
    session = emulator.http_session()
    page = sign_in(session)
    assert 'name="company_name"' in page.text
    # The typed name wins over the list's (preselected) first company, whatever its case and spacing.
    chosen = _choose(session, page, realm=realm, company_name="  second   CO ")
    assert callback_args(chosen)["realmId"] == OTHER_REALM


def test_company_step_names_a_typed_name_it_does_not_know(emulator, realm):
    emulator.add_company(OTHER_REALM, "Second Co")
    session = emulator.http_session()
    page = sign_in(session)
    unknown = _choose(session, page, realm=realm, company_name="<b>Third Co</b>")
    assert unknown.status_code == 200 and "None of your companies is called" in unknown.text
    assert "&lt;b&gt;Third Co&lt;/b&gt;" in unknown.text and "<b>Third" not in unknown.text
    # The same sign-in goes on: the list still works after the refusal.
    assert callback_args(_choose(session, unknown, realm=OTHER_REALM))["realmId"] == OTHER_REALM


def test_company_step_refuses_an_ambiguous_typed_name(emulator, realm):
    emulator.add_company(OTHER_REALM, emulator.store.companies()[0][1])
    session = emulator.http_session()
    page = sign_in(session)
    same = _choose(session, page, realm=realm, company_name=emulator.store.companies()[0][1])
    assert same.status_code == 200 and "Several of your companies have that name" in same.text


def test_primary_buttons_come_first(emulator, realm):
    """Enter in a field submits with the form's first button: that must be Sign in / Connect, not Cancel."""
    emulator.add_company(OTHER_REALM, "Second Co")
    session = emulator.http_session()
    first = session.get(f"{BASE_URL}/connect/oauth2", params=authorize_params())
    assert re.findall(r'<button[^>]*value="(\w+)"', first.text) == ["signin", "cancel"]
    page = sign_in(session)
    assert re.findall(r'<button[^>]*value="(\w+)"', page.text) == ["choose", "cancel"]
    # ... and shown in that order: no CSS ``order`` moves Cancel before them on screen.
    css = " ".join(re.findall(r"<style>(.*?)</style>", page.text, re.S))
    assert "button.secondary" in css and not re.search(r"\border\s*:", css)


def test_cancel_returns_access_denied(emulator, realm):
    session = emulator.http_session()
    page = session.get(f"{BASE_URL}/connect/oauth2", params=authorize_params())
    resp = session.post(
        f"{BASE_URL}/connect/oauth2", allow_redirects=False, data={"txn": txn_of(page.text), "action": "cancel"}
    )
    assert callback_args(resp) == {"error": "access_denied", "state": "st-123"}


def test_added_user_sees_only_their_companies(emulator, realm):
    emulator.add_company(OTHER_REALM, "Second Co")
    emulator.add_user("bookkeeper@example.com", "secret", [OTHER_REALM])
    args = callback_args(sign_in(emulator.http_session(), "bookkeeper@example.com", "secret"))
    assert args["realmId"] == OTHER_REALM


def test_auto_approve_redirects_immediately():
    emu = Emulator(EmulatorConfig(base_url=BASE_URL, auto_approve=True))
    emu.add_company(REALM, "One")
    emu.add_company(OTHER_REALM, "Two")
    session = emu.http_session()
    first = session.get(f"{BASE_URL}/connect/oauth2", params=authorize_params(), allow_redirects=False)
    assert callback_args(first)["realmId"] == REALM
    picked = session.get(
        f"{BASE_URL}/connect/oauth2",
        allow_redirects=False,
        params=authorize_params(emulator_user="admin@example.com", emulator_realm=OTHER_REALM),
    )
    assert callback_args(picked)["realmId"] == OTHER_REALM


def test_token_endpoint_client_auth_and_redirect_check(emulator, realm):
    session = emulator.http_session()
    code = callback_args(sign_in(session))["code"]
    assert exchange(session, code, redirect_uri="http://crm.test/other").json()["error"] == "invalid_grant"
    bad = session.post(
        f"{BASE_URL}/oauth2/v1/tokens/bearer",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": "emulator-client-id",
            "client_secret": "wrong",
        },
    )
    assert bad.status_code == 401 and bad.json() == {"error": "invalid_client"}
    code = callback_args(sign_in(session))["code"]
    post = session.post(
        f"{BASE_URL}/oauth2/v1/tokens/bearer",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": "emulator-client-id",
            "client_secret": "emulator-client-secret",
        },
    )
    assert post.status_code == 200 and post.json()["refresh_token"]
    unsupported = session.post(f"{BASE_URL}/oauth2/v1/tokens/bearer", data={"grant_type": "password"}, headers=BASIC)
    assert unsupported.json()["error"] == "unsupported_grant_type"


def test_hard_expiry_header(emulator, realm):
    session = emulator.http_session()
    code = callback_args(sign_in(session))["code"]
    body = exchange(session, code, headers={"x-include-refresh-token-hard-expires-in": "true"}).json()
    assert 0 < body["x_refresh_token_hard_expires_in"] <= 157_680_000
    again = refresh(session, body["refresh_token"], {"x-include-refresh-token-hard-expires-in": "true"}).json()
    assert again["x_refresh_token_hard_expires_in"] <= body["x_refresh_token_hard_expires_in"]


def test_refresh_rotation_with_grace(emulator, realm):
    session = emulator.http_session()
    first = emulator.issue_tokens(realm)
    second = refresh(session, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["x_refresh_token_expires_in"] == 8726400
    # the superseded token still works during the 24 h grace and hands back the current one
    emulator.clock.advance(3600)
    grace = refresh(session, first["refresh_token"]).json()
    assert grace["refresh_token"] == second["refresh_token"] and grace["access_token"]
    emulator.clock.advance(86400)
    late = refresh(session, first["refresh_token"])
    assert late.status_code == 400
    assert late.json() == {"error": "invalid_grant", "error_description": "Incorrect or invalid refresh token"}
    assert refresh(session, second["refresh_token"]).status_code == 200


def test_refresh_token_rolls_and_expires_after_101_days(emulator, realm):
    session = emulator.http_session()
    tokens = emulator.issue_tokens(realm)
    emulator.clock.advance(8726400 + 1)
    assert refresh(session, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_access_token_expiry_and_gateway_bodies(api, emulator):
    assert api.get(f"companyinfo/{api.realm}").status_code == 200
    emulator.clock.advance(3601)
    resp = api.get(f"companyinfo/{api.realm}")
    assert resp.status_code == 401
    body = resp.json()
    assert body["fault"]["type"] == "AUTHENTICATION"
    error = body["fault"]["error"][0]
    assert (
        error["code"] == "3200" and error["message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    )
    assert error["detail"].startswith("Token expired: ") and error["element"] is None
    assert body["batchItemResponse"] == [] and body["cdcresponse"] == [] and isinstance(body["time"], int)


def test_malformed_missing_and_wrong_realm_tokens(api, emulator):
    session = api.session
    missing = session.get(api.url("customer/1"))
    assert missing.status_code == 401 and missing.json()["fault"]["error"][0]["code"] == "3200"
    short = session.get(api.url("customer/1"), headers={"Authorization": "Bearer abc"})
    assert short.json()["fault"]["error"][0]["detail"] == "Malformed bearer token: too short or too long"
    emulator.add_company(OTHER_REALM, "Other")
    other = emulator.issue_tokens(OTHER_REALM)["access_token"]
    forbidden = session.get(api.url("customer/1"), headers={"Authorization": f"Bearer {other}"})
    assert forbidden.status_code == 403
    fault = forbidden.json()["fault"]
    assert fault["type"] == "SERVICE" and fault["error"][0]["code"] == "3100"
    assert fault["error"][0]["message"] == "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403"


def test_python_expire_and_revoke(api, emulator):
    emulator.expire_access_tokens(api.realm)
    assert api.get("customer/1").status_code == 401
    tokens = emulator.issue_tokens(api.realm)
    fresh = type(api)(emulator, api.realm, tokens["access_token"])
    assert fresh.get(f"companyinfo/{api.realm}").status_code == 200
    emulator.revoke_tokens(api.realm)
    assert fresh.get(f"companyinfo/{api.realm}").status_code == 401
    assert refresh(emulator.http_session(), tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoke_endpoint_revokes_the_grant(emulator, realm):
    session = emulator.http_session()
    tokens = emulator.issue_tokens(realm)
    resp = session.post(
        f"{BASE_URL}/v2/oauth2/tokens/revoke",
        json={"token": tokens["refresh_token"]},
        headers={**BASIC, "Accept": "application/json"},
    )
    assert resp.status_code == 200
    assert refresh(session, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    api_call = session.get(
        f"{BASE_URL}/v3/company/{realm}/companyinfo/{realm}",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert api_call.status_code == 401
    unauth = session.post(f"{BASE_URL}/v2/oauth2/tokens/revoke", json={"token": "x"})
    assert unauth.status_code == 401


# --------------------------------------------------------------------------- OpenID


INTUIT_ISSUER = "https://oauth.platform.intuit.com/op/v1"
CLIENT_ID = "emulator-client-id"


def tokens_for(emulator, scope=SCOPE):
    """Sign in through the authorize pages with ``scope`` and exchange the code."""
    session = emulator.http_session()
    response = exchange(session, callback_args(sign_in(session, scope=scope))["code"])
    assert response.status_code == 200, response.text
    return response.json()


def verified_claims(emulator, id_token):
    """Validate ``id_token`` as a relying party would, with PyJWT, from the discovery document on.

    The signature is checked against the key set at ``jwks_uri``; ``iss`` against the
    advertised issuer; ``aud`` against our client id; ``iat``/``exp`` against the
    emulator's clock (tests move it, so the wall clock cannot be the judge).
    """
    session = emulator.http_session()
    discovery = session.get(f"{BASE_URL}/.well-known/openid_configuration/").json()
    header = jwt.get_unverified_header(id_token)
    assert header == {"kid": header["kid"], "alg": "RS256"}  # Intuit's header: no typ
    key = jwt.PyJWKSet.from_dict(session.get(discovery["jwks_uri"]).json())[header["kid"]]
    claims = jwt.decode(
        id_token,
        key.key,
        algorithms=discovery["id_token_signing_alg_values_supported"],
        audience=CLIENT_ID,
        issuer=discovery["issuer"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iat"] <= emulator.clock.timestamp() < claims["exp"]
    return claims


def test_id_token_only_with_the_openid_scope(emulator, realm):
    assert "id_token" not in tokens_for(emulator, "com.intuit.quickbooks.accounting")
    assert "id_token" in tokens_for(emulator, "com.intuit.quickbooks.accounting openid")


def test_an_openid_grant_needs_the_users_subject(emulator, realm):
    with pytest.raises(ValueError, match="subject"):
        emulator.tokens.issue_tokens(realm, scope="openid")
    assert "id_token" in emulator.tokens.issue_tokens(realm, scope="openid", subject="user-1")


def test_id_token_is_signed_with_the_published_key_and_carries_intuit_claims(emulator, realm):
    body = tokens_for(emulator)
    claims = verified_claims(emulator, body["id_token"])
    # The claims of Intuit's example ID token (intuit/oauth-jsclient test/mocks/openID-token.json), nothing else.
    assert set(claims) == {"sub", "aud", "realmid", "auth_time", "iss", "exp", "iat"}
    assert claims["iss"] == f"{BASE_URL}/op/v1"
    assert claims["aud"] == [CLIENT_ID]
    assert claims["sub"] == emulator.users["admin@example.com"].sub
    assert claims["realmid"] == realm
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["auth_time"] <= claims["iat"]
    session = emulator.http_session()
    info = session.get(
        f"{BASE_URL}/v1/openid_connect/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    ).json()
    assert info["sub"] == claims["sub"]
    jwks = session.get(f"{BASE_URL}/op/v1/jwks").json()
    assert [(k["kty"], k["alg"], k["use"]) for k in jwks["keys"]] == [("RSA", "RS256", "sig")]
    assert not {"d", "p", "q"} & set(jwks["keys"][0])  # the public half only
    other = Emulator(EmulatorConfig(base_url=BASE_URL))
    assert other.tokens.id_tokens.jwks()["keys"][0]["kid"] != jwks["keys"][0]["kid"]  # a key per emulator


def test_refresh_keeps_issuing_valid_id_tokens(emulator, realm):
    session = emulator.http_session()
    first = tokens_for(emulator)
    signed_in = verified_claims(emulator, first["id_token"])
    emulator.clock.advance(7200)
    assert signed_in["exp"] <= emulator.clock.timestamp()  # the first ID token has expired
    second = refresh(session, first["refresh_token"]).json()
    claims = verified_claims(emulator, second["id_token"])
    assert claims["iat"] >= signed_in["iat"] + 7200
    assert (claims["sub"], claims["auth_time"], claims["realmid"]) == (
        signed_in["sub"],
        signed_in["auth_time"],
        signed_in["realmid"],
    )
    grace = refresh(session, first["refresh_token"]).json()  # superseded token within the grace period
    assert verified_claims(emulator, grace["id_token"])["sub"] == signed_in["sub"]


def test_issuer_can_be_pinned_to_intuits():
    emu = Emulator(EmulatorConfig(base_url=BASE_URL, issuer=INTUIT_ISSUER, redirect_uris=(CALLBACK,)))
    emu.add_company(REALM, "Pinned Co")
    discovery = emu.http_session().get(f"{BASE_URL}/.well-known/openid_configuration/").json()
    assert discovery["issuer"] == INTUIT_ISSUER
    assert discovery["jwks_uri"] == f"{BASE_URL}/op/v1/jwks"  # the keys are still served here
    assert verified_claims(emu, tokens_for(emu)["id_token"])["iss"] == INTUIT_ISSUER


@pytest.mark.parametrize(
    ("scope", "claims"),
    [
        ("openid", {"sub"}),
        ("openid email", {"sub", "email", "emailVerified"}),
        ("openid profile", {"sub", "givenName", "familyName"}),
        ("openid phone", {"sub", "phoneNumber", "phoneNumberVerified"}),
        ("openid address", {"sub", "address"}),
        (
            "com.intuit.quickbooks.accounting openid profile email phone address",
            {
                "sub",
                "email",
                "emailVerified",
                "givenName",
                "familyName",
                "phoneNumber",
                "phoneNumberVerified",
                "address",
            },
        ),
    ],
)
def test_userinfo_returns_only_what_the_scopes_grant(emulator, realm, scope, claims):
    token = tokens_for(emulator, scope)["access_token"]
    info = (
        emulator.http_session()
        .get(f"{BASE_URL}/v1/openid_connect/userinfo", headers={"Authorization": f"Bearer {token}"})
        .json()
    )
    assert set(info) == claims
    user = emulator.users["admin@example.com"]
    expected = {
        "sub": user.sub,
        "email": user.email,
        "emailVerified": True,
        "givenName": user.given_name,
        "familyName": user.family_name,
        "phoneNumber": user.phone,
    }
    assert {k: v for k, v in info.items() if k in expected} == {k: v for k, v in expected.items() if k in claims}
    if "address" in claims:
        assert set(info["address"]) == {"streetAddress", "locality", "region", "postalCode", "country"}


def test_userinfo_without_openid_scope_is_forbidden(emulator, realm):
    token = emulator.issue_tokens(realm)["access_token"]  # accounting scope only
    response = emulator.http_session().get(
        f"{BASE_URL}/v1/openid_connect/userinfo", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_register_client_and_issue_tokens_for_it(emulator, realm):
    emulator.register_client("second-app", "s3cret", ("https://second.test/cb",))
    session = emulator.http_session()
    bad = session.get(f"{BASE_URL}/connect/oauth2", params=authorize_params(client_id="second-app"))
    assert bad.status_code == 400  # CALLBACK is not registered for this client
    ok = session.get(
        f"{BASE_URL}/connect/oauth2",
        params=authorize_params(client_id="second-app", redirect_uri="https://second.test/cb"),
    )
    assert ok.status_code == 200
    tokens = emulator.issue_tokens(realm, client_id="second-app")
    wrong_client = refresh(session, tokens["refresh_token"])  # authenticated as the default client
    assert wrong_client.json()["error"] == "invalid_grant"
    right = session.post(
        f"{BASE_URL}/oauth2/v1/tokens/bearer",
        auth=("second-app", "s3cret"),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert right.status_code == 200
    assert "admin@example.com" in emulator.users and realm in emulator.users["admin@example.com"].realms
