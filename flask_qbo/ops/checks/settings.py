"""Configuration checks: every required ``QBO_*`` key present and well formed, and the URLs Intuit must know.

Intuit calls the app back at two URLs registered in its developer portal: the
OAuth redirect URI (this app's ``qbo.callback`` route) and the webhook endpoint
(the ``qbo_webhooks.receive`` route).  Both must match the app's routes exactly
and use https outside the emulator (and, for the redirect URI, localhost), or
connecting fails at Intuit's sign-in and webhooks never arrive.  The routes are
read from the app's URL map, so a host that mounts the blueprints under its own
prefix is checked against what it really serves.
"""

from __future__ import annotations

import re
import typing as t
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from flask import has_request_context
from flask import request

from ...config import INTUIT_URLS
from ...config import get_config
from ...intuit.crypto import fingerprint
from .finding import Finding
from .finding import error
from .finding import ok
from .finding import warn

if t.TYPE_CHECKING:
    from flask import Flask

CHECK = "config"
ROUTES = "routes"
#: Endpoints Intuit calls: the OAuth callback and the webhook receiver.
CALLBACK_ENDPOINT = "qbo.callback"
WEBHOOK_ENDPOINT = "qbo_webhooks.receive"
#: Hosts Intuit accepts an http redirect URI for (development keys only).
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
#: What an OAuth client id or secret from Intuit's portal looks like; whitespace or quotes mean a paste went wrong.
_CREDENTIAL = re.compile(r"[A-Za-z0-9_\-]{8,200}")
_GENERATE_KEY = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'


def check(app: Flask) -> list[Finding]:
    """Every configuration finding, in the order an operator fixes them."""
    environment = str(get_config("QBO_ENVIRONMENT", app))
    findings = [credential(app, "QBO_CLIENT_ID"), credential(app, "QBO_CLIENT_SECRET"), environment_key(environment)]
    findings.append(encryption_key(app))
    findings.append(verifier_token(app))
    findings.extend(callback_urls(app, environment))
    return findings


def credential(app: Flask, key: str) -> Finding:
    """An OAuth credential: set, and shaped like one (its value is never shown)."""
    value = get_config(key, app)
    where = "the Keys & credentials page of your app at developer.intuit.com"
    if not value:
        return error(CHECK, f"{key} is missing.", f"Set {key} from {where}.")
    if not isinstance(value, str) or not _CREDENTIAL.fullmatch(value):
        return error(
            CHECK,
            f"{key} is set but malformed (not 8-200 letters, digits, '-' or '_': a stray space, quote or newline?).",
            f"Copy {key} again from {where}, without quotes or whitespace.",
        )
    return ok(CHECK, f"{key} is set.")


def environment_key(environment: str) -> Finding:
    """``QBO_ENVIRONMENT`` names an environment the extension knows."""
    known = (*INTUIT_URLS, "emulator")
    if environment not in known:
        return error(
            CHECK,
            f"QBO_ENVIRONMENT is {environment!r}, not one of {', '.join(known)}.",
            "Set QBO_ENVIRONMENT to 'production' (live companies), 'sandbox' or 'emulator'.",
        )
    return ok(CHECK, f"QBO_ENVIRONMENT is {environment!r}.")


def encryption_key(app: Flask) -> Finding:
    """``QBO_TOKEN_ENCRYPTION_KEY``: set, and every comma-separated key a valid Fernet key."""
    raw = app.config.get("QBO_TOKEN_ENCRYPTION_KEY")
    if not raw:
        fix = f"Generate a key with `{_GENERATE_KEY}` and set QBO_TOKEN_ENCRYPTION_KEY in every process."
        if app.debug or app.testing:
            return warn(CHECK, "QBO_TOKEN_ENCRYPTION_KEY is missing: a temporary key is used (debug/testing).", fix)
        return error(CHECK, "QBO_TOKEN_ENCRYPTION_KEY is missing.", fix)
    keys = [k.strip() for k in raw.split(",") if k.strip()] if isinstance(raw, str) else [raw]
    for position, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            return error(
                CHECK,
                f"QBO_TOKEN_ENCRYPTION_KEY is set but key {position} of {len(keys)} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes).",
                f"Replace it with a key made by `{_GENERATE_KEY}`; keep the old key after it, comma-separated, "
                "if stored tokens were encrypted with it.",
            )
    prints = ", ".join(fingerprint(k) for k in keys)
    return ok(CHECK, f"QBO_TOKEN_ENCRYPTION_KEY is set: {len(keys)} valid key(s), fingerprints {prints}.")


def verifier_token(app: Flask) -> Finding:
    """``QBO_WEBHOOK_VERIFIER_TOKEN``: without it every webhook is refused and only CDC brings changes in."""
    if get_config("QBO_WEBHOOK_VERIFIER_TOKEN", app):
        return ok(CHECK, "QBO_WEBHOOK_VERIFIER_TOKEN is set.")
    return warn(
        CHECK,
        "QBO_WEBHOOK_VERIFIER_TOKEN is missing: every webhook is refused (401), so QuickBooks changes arrive "
        "only by the CDC poll (every 60 s).",
        "Copy the verifier token from your app's Webhooks page at developer.intuit.com into "
        "QBO_WEBHOOK_VERIFIER_TOKEN.",
    )


def route_path(app: Flask, endpoint: str) -> str | None:
    """The path the app serves ``endpoint`` at, or ``None`` when the route is not registered."""
    try:
        rules = list(app.url_map.iter_rules(endpoint))
    except KeyError:
        return None
    return rules[0].rule if rules else None


def _plain_http_ok(environment: str, host: str | None) -> bool:
    return environment == "emulator" or (host or "") in LOCAL_HOSTS


def _base_url(app: Flask, redirect_uri: str | None, callback: str) -> str | None:
    """Scheme, host and mount point the app is reached at: from QBO_REDIRECT_URI, SERVER_NAME or the request."""
    if redirect_uri:
        return redirect_uri[: -len(callback)] if redirect_uri.endswith(callback) else None
    if has_request_context():
        return request.host_url.rstrip("/") + request.script_root
    server = app.config.get("SERVER_NAME")
    if not server:
        return None
    scheme = app.config.get("PREFERRED_URL_SCHEME") or "http"
    root = str(app.config.get("APPLICATION_ROOT") or "").rstrip("/")
    return f"{scheme}://{server}{root}"


def callback_urls(app: Flask, environment: str) -> list[Finding]:
    """The redirect URI and the webhook URL: consistent with the app's routes, https where Intuit needs it."""
    callback = route_path(app, CALLBACK_ENDPOINT)
    webhook = route_path(app, WEBHOOK_ENDPOINT)
    if callback is None or webhook is None:
        missing = " and ".join(name for name, path in (("callback", callback), ("webhook", webhook)) if path is None)
        return [
            error(
                ROUTES,
                f"The {missing} route is not registered on this app.",
                "Leave QBO_REGISTER_BLUEPRINTS on, or call flask_qbo.views.register_views(app).",
            )
        ]
    findings = [redirect_finding(app, environment, callback)]
    base = _base_url(app, get_config("QBO_REDIRECT_URI", app), callback)
    findings.append(webhook_finding(environment, base, webhook))
    return findings


def redirect_finding(app: Flask, environment: str, callback: str) -> Finding:
    """``QBO_REDIRECT_URI`` (or the URL built per request) against the callback route."""
    configured = get_config("QBO_REDIRECT_URI", app)
    if not configured:
        base = _base_url(app, None, callback)
        built = f"{base}{callback}" if base else f"https://<your host>{callback}"
        return warn(
            ROUTES,
            f"QBO_REDIRECT_URI is not set: it is built from each request's host ({built}); behind a proxy that "
            "does not pass X-Forwarded-Proto/Host it comes out wrong and Intuit refuses the sign-in.",
            f"Set QBO_REDIRECT_URI to the exact URL registered at Intuit, e.g. https://crm.example.com{callback}.",
        )
    parts = urlsplit(str(configured))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return error(
            ROUTES,
            f"QBO_REDIRECT_URI {configured!r} is not an absolute http(s) URL.",
            f"Set it to https://<your host>{callback} and register the same URL at Intuit.",
        )
    if not parts.path.endswith(callback):
        return error(
            ROUTES,
            f"QBO_REDIRECT_URI {configured} does not end with this app's callback route {callback}: "
            "Intuit would send the admin back to a page that does not finish the connection.",
            f"Set it to https://{parts.netloc}{callback} and register the same URL at Intuit.",
        )
    if parts.scheme != "https" and not _plain_http_ok(environment, parts.hostname):
        return error(
            ROUTES,
            f"QBO_REDIRECT_URI {configured} uses http: Intuit accepts only https outside localhost.",
            f"Serve the app over https and set QBO_REDIRECT_URI to https://{parts.netloc}{parts.path}.",
        )
    return ok(ROUTES, f"Redirect URI {configured} matches the callback route; register it at Intuit.")


def webhook_finding(environment: str, base: str | None, webhook: str) -> Finding:
    """The webhook URL the host registers at Intuit, derived from the app's route; https outside the emulator."""
    if base is None:
        return warn(
            ROUTES,
            f"The webhook URL cannot be derived here (no QBO_REDIRECT_URI or SERVER_NAME); the route is {webhook}.",
            f"Register https://<your host>{webhook} as the webhook endpoint at Intuit; set QBO_REDIRECT_URI so "
            "the doctor can check it.",
        )
    url = f"{base}{webhook}"
    if urlsplit(url).scheme != "https" and environment != "emulator":
        return error(
            ROUTES,
            f"Webhook URL {url} uses http: Intuit delivers webhooks only to https endpoints.",
            f"Serve the app over https and register https://{urlsplit(url).netloc}{urlsplit(url).path} at Intuit.",
        )
    return ok(ROUTES, f"Webhook URL {url}: register it as the webhook endpoint at Intuit.")
