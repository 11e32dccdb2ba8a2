"""Service checks: Redis reachable wherever the configuration relies on it.

Two things use Redis: the cross-process throttle (``QBO_RATE_LIMIT_STORAGE_URL``)
and, usually, the Celery runner's broker.  An unreachable Redis stalls every
QBO call (throttle) or every wake-up (broker), so each is pinged with a short
timeout.  URLs may carry a password: findings name scheme, host, port and
database only.
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from ...config import get_config
from .finding import Finding
from .finding import error
from .finding import ok
from .finding import warn

if t.TYPE_CHECKING:
    from flask import Flask

CHECK = "redis"
#: Seconds a ping may take before Redis counts as unreachable.
PING_TIMEOUT = 2.0


def safe_url(url: str) -> str:
    """``url`` without its user and password: what a finding may show."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def ping(url: str) -> str | None:
    """Why Redis at ``url`` does not answer, or ``None`` when it does (the reason names no secret)."""
    try:
        import redis  # the optional extra "celery" installs it; only needed when a Redis URL is configured
    except ImportError:
        return "the redis package is not installed"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=PING_TIMEOUT, socket_timeout=PING_TIMEOUT)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure means "not usable"; its text may hold the URL, so only the type is shown
        return type(exc).__name__
    return None


def broker_url(app: Flask) -> str | None:
    """The Celery broker this app sends wake-ups to: its registered Celery app's, else ``CELERY["broker_url"]``."""
    celery_app = app.extensions.get("celery")
    url = getattr(getattr(celery_app, "conf", None), "broker_url", None)
    if url:
        return str(url)
    configured = (app.config.get("CELERY") or {}).get("broker_url")
    return str(configured) if configured else None


def check(app: Flask) -> list[Finding]:
    """Ping each Redis the configuration uses; say so when none is used."""
    findings: list[Finding] = []
    throttle = get_config("QBO_RATE_LIMIT_STORAGE_URL", app)
    celery = get_config("QBO_RUNNER", app) == "celery"
    targets: list[tuple[str, str]] = []
    if throttle:
        targets.append(("throttle (QBO_RATE_LIMIT_STORAGE_URL)", str(throttle)))
    elif celery:
        findings.append(
            warn(
                CHECK,
                "QBO_RUNNER is 'celery' but QBO_RATE_LIMIT_STORAGE_URL is not set: each worker process throttles "
                "alone, so several workers together can exceed QuickBooks' per-company limits (429s).",
                "Set QBO_RATE_LIMIT_STORAGE_URL to a Redis URL shared by every worker.",
            )
        )
    if celery:
        broker = broker_url(app)
        if broker is None:
            findings.append(
                warn(
                    CHECK,
                    "QBO_RUNNER is 'celery' but this process knows no Celery broker (CELERY['broker_url']).",
                    "Call flask_qbo.runners.celery.celery_init_app(app) with the broker configured.",
                )
            )
        elif urlsplit(broker).scheme in ("redis", "rediss"):
            targets.append(("Celery broker", broker))
        else:
            findings.append(ok(CHECK, f"Celery broker {safe_url(broker)} is not Redis; not checked here."))
    for label, url in targets:
        problem = ping(url)
        if problem:
            findings.append(
                error(
                    CHECK,
                    f"Redis for the {label} at {safe_url(url)} is unreachable ({problem}).",
                    "Start Redis or fix the URL (host, port, password, TLS) so every process can reach it.",
                )
            )
        else:
            findings.append(ok(CHECK, f"Redis for the {label} at {safe_url(url)} answers."))
    if not throttle and not celery:
        findings.append(ok(CHECK, "Redis is not used (no QBO_RATE_LIMIT_STORAGE_URL, runner is not Celery)."))
    return findings
