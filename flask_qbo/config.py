"""Every ``QBO_*`` configuration key with its default.

:meth:`flask_qbo.QBO.init_app` copies these into ``app.config`` with
``setdefault``, so the host's values win.  Code reads them back through
:func:`get_config`, which fails loudly on a mistyped key instead of silently
returning ``None``.  Callables are never configuration: they are decorator hooks
on the extension object.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from urllib.parse import quote
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from flask import current_app

from .errors import QBOConfigError

if t.TYPE_CHECKING:
    from flask import Flask

#: Intuit URLs per environment.  ``emulator`` URLs are derived from
#: ``QBO_EMULATOR_URL`` at runtime.
INTUIT_URLS: dict[str, dict[str, str]] = {
    "production": {
        "api": "https://quickbooks.api.intuit.com",
        "app": "https://app.qbo.intuit.com",
        "authorize": "https://appcenter.intuit.com/connect/oauth2",
        "token": "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
        "revoke": "https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
        "userinfo": "https://accounts.platform.intuit.com/v1/openid_connect/userinfo",
    },
    "sandbox": {
        "api": "https://sandbox-quickbooks.api.intuit.com",
        "app": "https://app.sandbox.qbo.intuit.com",
        "authorize": "https://appcenter.intuit.com/connect/oauth2",
        "token": "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
        "revoke": "https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
        "userinfo": "https://sandbox-accounts.platform.intuit.com/v1/openid_connect/userinfo",
    },
}

#: Paths the emulator serves, relative to ``QBO_EMULATOR_URL``; they mirror
#: Intuit's own paths so a client only changes its host.
EMULATOR_PATHS: dict[str, str] = {
    "api": "",
    "app": "",
    "authorize": "/connect/oauth2",
    "token": "/oauth2/v1/tokens/bearer",
    "revoke": "/v2/oauth2/tokens/revoke",
    "userinfo": "/v1/openid_connect/userinfo",
}

DEFAULTS: dict[str, t.Any] = {
    # OAuth client credentials of the Intuit app (developer portal → Keys).
    "QBO_CLIENT_ID": None,
    # OAuth client secret; never logged, never shown.
    "QBO_CLIENT_SECRET": None,
    # "production", "sandbox" or "emulator": picks the API, OAuth and deep-link hosts.
    "QBO_ENVIRONMENT": "sandbox",
    # Base URL of a running emulator when QBO_ENVIRONMENT is "emulator".
    "QBO_EMULATOR_URL": "http://127.0.0.1:5055",
    # Callback registered with Intuit; None builds it from the request (url_for).
    "QBO_REDIRECT_URI": None,
    # OAuth scopes requested on connect (space separated).
    "QBO_SCOPES": "com.intuit.quickbooks.accounting openid email profile",
    # Verifier token shown by Intuit after saving the webhook endpoint.
    "QBO_WEBHOOK_VERIFIER_TOKEN": None,
    # Largest webhook body accepted, in bytes (Intuit sends at most about 1 MB).
    "QBO_WEBHOOK_MAX_BYTES": 2 * 1024 * 1024,
    # Fernet key encrypting tokens at rest; required outside debug/testing. Comma-separated keys
    # rotate: the first encrypts, all decrypt.
    "QBO_TOKEN_ENCRYPTION_KEY": None,
    # Overrides of the URLs chosen by QBO_ENVIRONMENT (None keeps the default).
    "QBO_API_BASE_URL": None,
    "QBO_OAUTH_AUTHORIZE_URL": None,
    "QBO_OAUTH_TOKEN_URL": None,
    "QBO_OAUTH_REVOKE_URL": None,
    "QBO_OAUTH_USERINFO_URL": None,
    # Host that QB icon and transaction deep links open.
    "QBO_APP_BASE_URL": None,
    # minorversion sent on every API call.
    "QBO_MINOR_VERSION": 75,
    # Seconds before access-token expiry at which it is refreshed proactively.
    "QBO_TOKEN_REFRESH_LEEWAY": 300,
    # HTTP timeout for calls to QBO, in seconds.
    "QBO_HTTP_TIMEOUT": 30.0,
    # Attempts for a transient failure (5xx, 429, timeout) before giving up.
    "QBO_MAX_RETRIES": 4,
    # Per-realm throttle: requests per minute, concurrent requests, batch calls per minute.
    "QBO_RATE_LIMIT_PER_MINUTE": 450,
    "QBO_MAX_CONCURRENT": 10,
    "QBO_BATCH_PER_MINUTE": 40,
    # Redis URL sharing the throttle across processes (None: per process).
    "QBO_RATE_LIMIT_STORAGE_URL": None,
    # Seconds a request stays counted past the one-minute window (covers send latency).
    "QBO_RATE_LIMIT_MARGIN": 0.25,
    # How work runs: "thread" (embedded), "celery" or "none" (you call the functions). Left unset, an app with
    # TESTING = True starts no thread: its tests run the work with flask_qbo.testing.push_now() / pull_now().
    "QBO_RUNNER": "thread",
    # Celery runner: seconds between beat sweeps of push, pull and the CDC due-check.
    "QBO_CELERY_SWEEP_INTERVAL": 30,
    # Celery runner: tasks of one kind (push, pull) working a backlog at once; each claims 1/N of what is due.
    "QBO_CELERY_CONCURRENCY": 2,
    # Seconds between CDC polls; None: 60 without a webhook verifier token, 900 with one.
    "QBO_CDC_INTERVAL": None,
    # Seconds of overlap when polling CDC so a change at the cursor edge is not missed.
    "QBO_CDC_OVERLAP": 120,
    # Who wins a true conflict: "newest", "crm" or "qbo".
    "QBO_CONFLICT_POLICY": "newest",
    # "import": connecting starts the first sync (an import whose exact matches link in one click);
    # "on_change": nothing is imported, a contact syncs once edited.
    "QBO_INITIAL_SYNC": "import",
    # Create CRM contacts for QBO customers that appear after connecting.
    "QBO_IMPORT_NEW_CUSTOMERS": False,
    # The customer's DisplayName on updates: "follow" (renamed after the contact, kept unique) or "create_only".
    "QBO_DISPLAY_NAME": "follow",
    # Whose transactions are copied into the mirror: "all" customers' or only "linked" customers'.
    "QBO_MIRROR": "all",
    # What a CRM delete does in QBO: "inactivate" or "ignore".
    "QBO_DELETE_POLICY": "inactivate",
    # Outbox rows pending at once above which push switches to the batch endpoint.
    "QBO_BATCH_THRESHOLD": 10,
    # Claims of an outbox row that raised a non-QBO error (a bug) before it is marked "dead".
    "QBO_OUTBOX_MAX_ATTEMPTS": 5,
    # Claims of an inbox event whose batch kept failing before it is marked "failed" (CDC still covers it).
    "QBO_INBOX_MAX_ATTEMPTS": 5,
    # Seconds (at most; jitter draws from half of it) before a failed inbox batch is retried; doubles per attempt up to 10 minutes.
    "QBO_INBOX_RETRY_WAIT": 30,
    # URL prefix of the extension's blueprints.
    "QBO_URL_PREFIX": "/qbo",
    # The host's contact page, "/contacts/{contact_key}": where a form saved without JavaScript returns; None: the folder.
    "QBO_CONTACT_URL": None,
    # Template the extension's full pages extend (must define block "content"; block "title" is filled too).
    "QBO_BASE_TEMPLATE": "qbo/base.html",
    # Register the admin, widget and webhook blueprints in init_app.
    "QBO_REGISTER_BLUEPRINTS": True,
    # Days before the refresh token's hard expiry at which admins are warned.
    "QBO_EXPIRY_WARNING_DAYS": (30, 7),
    # Locale for money and dates in widgets (e.g. "fr_FR"; needs Babel); None: Flask-Babel's, else neutral.
    "QBO_LOCALE": None,
    # IANA timezone times are shown in (e.g. "Europe/Berlin"); None: Flask-Babel's timezone, else UTC.
    "QBO_TIMEZONE": None,
    # Rows per page in the transactions folder.
    "QBO_TRANSACTIONS_PER_PAGE": 25,
    # Seconds between live-update polls of open widgets (0 disables polling).
    "QBO_WIDGET_POLL_SECONDS": 5,
    # Prometheus metrics on the default registry (needs the "metrics" extra: pip install flask-qbo[metrics]).
    "QBO_METRICS": False,
    # Add a realm label to the metrics (one series per QBO company: only for small fleets).
    "QBO_METRICS_REALM_LABEL": False,
    # Serve the metrics at <QBO_URL_PREFIX>/metrics (refused unless @qbo.metrics_access or QBO_METRICS_TOKEN).
    "QBO_METRICS_ENDPOINT": False,
    # Bearer token a scraper sends to the metrics endpoint (compared in constant time; never logged).
    "QBO_METRICS_TOKEN": None,
}

#: Settings that take one of a few words: checked when the extension is set up, not at the first sync.
CHOICES: dict[str, tuple[str, ...]] = {
    "QBO_DISPLAY_NAME": ("follow", "create_only"),
    "QBO_MIRROR": ("all", "linked"),
}


def check_choices(app: Flask) -> None:
    """Raise :class:`QBOConfigError` for a setting of :data:`CHOICES` set to another value."""
    for key, allowed in CHOICES.items():
        if app.config.get(key) not in allowed:
            raise QBOConfigError(f"{key} must be one of {', '.join(map(repr, allowed))}, not {app.config.get(key)!r}.")


def get_config(key: str, app: Flask | None = None) -> t.Any:
    """Return the value of a ``QBO_*`` key, failing on a name that does not exist.

    A typo such as ``QBO_CLIENTID`` would otherwise read as ``None`` and surface
    much later as a confusing OAuth error.
    """
    if key not in DEFAULTS:
        raise QBOConfigError(f"Unknown configuration key {key!r}; see flask_qbo.config.DEFAULTS.")
    app = app or current_app
    return app.config.get(key, DEFAULTS[key])


def contact_page_url(contact_key: str, app: Flask | None = None) -> str | None:
    """The host's page of the contact (``QBO_CONTACT_URL`` with the key filled in), or None when not set."""
    pattern = get_config("QBO_CONTACT_URL", app)
    return str(pattern).format(contact_key=quote(contact_key, safe="")) if pattern else None


def resolve_urls(app: Flask | None = None) -> dict[str, str]:
    """Return the API, OAuth and deep-link URLs for the configured environment.

    Explicit ``QBO_*_URL`` keys override the environment's defaults, so a host
    can point at Intuit's sandbox, production, or an emulator without code.
    """
    app = app or current_app
    env = get_config("QBO_ENVIRONMENT", app)
    if env == "emulator":
        base = get_config("QBO_EMULATOR_URL", app).rstrip("/")
        urls = {name: base + path for name, path in EMULATOR_PATHS.items()}
    elif env in INTUIT_URLS:
        urls = dict(INTUIT_URLS[env])
    else:
        raise QBOConfigError(f"QBO_ENVIRONMENT must be 'production', 'sandbox' or 'emulator', not {env!r}.")
    overrides = {
        "api": "QBO_API_BASE_URL",
        "app": "QBO_APP_BASE_URL",
        "authorize": "QBO_OAUTH_AUTHORIZE_URL",
        "token": "QBO_OAUTH_TOKEN_URL",
        "revoke": "QBO_OAUTH_REVOKE_URL",
        "userinfo": "QBO_OAUTH_USERINFO_URL",
    }
    for name, key in overrides.items():
        value = get_config(key, app)
        if value:
            urls[name] = value.rstrip("/")
    return urls


def emulator_url(app: Flask | None = None) -> str | None:
    """The emulator's base URL (no trailing slash) when ``QBO_ENVIRONMENT`` is ``"emulator"``, else None.

    What the emulator hands out points at itself over plain HTTP (a payment
    link, say); only a host that chose the emulator trusts such addresses.
    """
    if get_config("QBO_ENVIRONMENT", app) != "emulator":
        return None
    return str(get_config("QBO_EMULATOR_URL", app)).rstrip("/")


def configured_timezone(app: Flask | None = None) -> dt.tzinfo | None:
    """The zone named by ``QBO_TIMEZONE`` (``None`` when unset), failing loudly on an unknown name.

    An unknown name would otherwise show every time in UTC without a word.
    """
    name = get_config("QBO_TIMEZONE", app)
    if not name:
        return None
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise QBOConfigError(
            f"QBO_TIMEZONE must be an IANA timezone name such as 'Europe/Berlin', not {name!r}."
        ) from exc


def cdc_interval(app: Flask | None = None) -> int:
    """Seconds between CDC polls: explicit, or 60 without webhooks and 900 with."""
    value = get_config("QBO_CDC_INTERVAL", app)
    if value is not None:
        return int(value)
    return 900 if get_config("QBO_WEBHOOK_VERIFIER_TOKEN", app) else 60
