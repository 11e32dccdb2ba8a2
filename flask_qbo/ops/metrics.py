"""Prometheus metrics (the ``metrics`` extra): counters and histograms fed by signals, queue gauges at scrape time.

Nothing here runs unless the host turns metrics on (``QBO_METRICS = True``, or
:func:`install` with its own registry): the lower layers only send
:mod:`flask_qbo.signals`, and :class:`Metrics` subscribes to them.  What the
database knows (queue depth and age, connections by state, token expiry) is
read when Prometheus scrapes, by :class:`~flask_qbo.ops.queues.QueueCollector`,
so no process has to keep a gauge up to date.

Labels are bounded: statuses, outcomes, QBO entity names, HTTP statuses and
Intuit's error codes.  A ``realm`` label (one series per QBO company) is added
only with ``QBO_METRICS_REALM_LABEL``, for small fleets.  Under several worker
processes prometheus_client's multiprocess mode applies (``PROMETHEUS_MULTIPROC_DIR``):
:func:`exposition` then reads every process's files (see ``docs/operations.rst``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import typing as t
import weakref

from flask import Flask
from prometheus_client import REGISTRY
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from .. import signals
from ..config import get_config
from ..errors import QBOConfigError
from ..models import utcnow
from .queues import QueueCollector

if t.TYPE_CHECKING:
    from ..models import Connection

log = logging.getLogger(__name__)

#: Where ``app.extensions`` keeps the app's :class:`Metrics` and the registry it is on.
EXTENSION_KEY = "qbo.metrics"
#: Latency buckets in seconds: a push or pull is normally seconds, a backlog minutes, an outage hours.
LATENCY_BUCKETS = (0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600)
#: Intuit error codes are short tokens (``6240``, ``3001``, ``invalid_grant``); anything else is ``other``.
_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_ENTITY = re.compile(r"^[a-z]{1,40}$")
#: OAuth error codes a refresh may fail with (RFC 6749 §5.2), plus the package's own reasons.
_REFRESH_REASONS = frozenset(
    {
        "invalid_grant",
        "invalid_client",
        "invalid_request",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "transient",
        "no_token",
    }
)
_WEBHOOK_OUTCOMES = frozenset({"ok", "forged", "malformed"})

_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, Metrics] = weakref.WeakKeyDictionary()


class Metrics:
    """The counters and histograms of one registry, and the signal receivers that move them.

    Events count only for the apps :meth:`add_app` was called with, so two
    apps in one process can report to two registries.
    """

    def __init__(self, registry: CollectorRegistry, *, realm_label: bool) -> None:
        self.realm_label = realm_label
        self.apps: weakref.WeakSet[Flask] = weakref.WeakSet()
        self.queues = QueueCollector(self.apps, realm_label=realm_label)
        realm = ("realm",) if realm_label else ()

        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(name, doc, [*labels, *realm], registry=registry)

        self.requests = counter(
            "qbo_requests", "HTTP attempts to the QBO Accounting API.", ("entity", "status", "code")
        )
        self.throttle_waits = counter("qbo_throttle_waits", "Calls that waited for the client-side throttle.", ())
        self.throttle_seconds = counter(
            "qbo_throttle_wait_seconds", "Seconds calls waited for the client-side throttle.", ()
        )
        self.refreshes = counter("qbo_token_refreshes", "Access tokens refreshed (rotated and stored).", ())
        self.refresh_failures = counter("qbo_token_refresh_failures", "Token refreshes that failed.", ("reason",))
        # A notification may name several companies, so webhooks never carry a realm label.
        self.webhooks = Counter(
            "qbo_webhooks", "Webhook notifications by verification outcome.", ["outcome"], registry=registry
        )
        self.push_latency = Histogram(
            "qbo_push_latency_seconds",
            "Outbox row written → QBO answered and the row settled.",
            ["outcome", *realm],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.pull_latency = Histogram(
            "qbo_pull_latency_seconds",
            "QBO change time (LastUpdatedTime) → applied to the local mirror.",
            ["entity", *realm],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        registry.register(self.queues)
        # Kept here: blinker holds receivers weakly, so they live exactly as long as this object.
        self._guarded = [(signal, _guarded(receiver)) for signal, receiver in self._receivers()]
        for signal, receiver in self._guarded:
            signal.connect(receiver)

    def _receivers(self) -> list[tuple[t.Any, t.Callable[..., None]]]:
        return [
            (signals.qbo_request, self.on_request),
            (signals.throttle_waited, self.on_throttle_wait),
            (signals.token_rotated, self.on_refresh),
            (signals.token_refresh_failed, self.on_refresh_failed),
            (signals.webhook_verified, self.on_webhook),
            (signals.push_settled, self.on_push),
            (signals.pull_applied, self.on_pull),
        ]

    def add_app(self, app: Flask) -> None:
        """Count ``app``'s events here and read its database at scrape time."""
        self.apps.add(app)

    # -- receivers (sender: the app, or None outside an app context) ---------------------

    def _realm(self, realm_id: object) -> tuple[str, ...]:
        return (str(realm_id or ""),) if self.realm_label else ()

    def on_request(
        self, sender: object, *, realm_id: str, entity: str, status: int | None, code: str | None, **_: t.Any
    ) -> None:
        if sender in self.apps:
            labels = (_entity(entity), str(status) if status else "none", _code(code))
            self.requests.labels(*labels, *self._realm(realm_id)).inc()

    def on_throttle_wait(self, sender: object, *, realm_id: str, seconds: float, **_: t.Any) -> None:
        if sender in self.apps:
            _child(self.throttle_waits, self._realm(realm_id)).inc()
            _child(self.throttle_seconds, self._realm(realm_id)).inc(max(float(seconds), 0.0))

    def on_refresh(self, sender: object, *, connection: Connection, **_: t.Any) -> None:
        if sender in self.apps:
            _child(self.refreshes, self._realm(connection.realm_id)).inc()

    def on_refresh_failed(self, sender: object, *, connection: Connection, reason: str, **_: t.Any) -> None:
        if sender in self.apps:
            label = reason if reason in _REFRESH_REASONS else "other"
            self.refresh_failures.labels(label, *self._realm(connection.realm_id)).inc()

    def on_webhook(self, sender: object, *, outcome: str, **_: t.Any) -> None:
        if sender in self.apps:
            self.webhooks.labels(outcome if outcome in _WEBHOOK_OUTCOMES else "malformed").inc()

    def on_push(
        self, sender: object, *, outcome: str, created_at: dt.datetime | None, realm_id: str | None, **_: t.Any
    ) -> None:
        if sender in self.apps and created_at is not None:
            self.push_latency.labels(outcome, *self._realm(realm_id)).observe(_age(created_at))

    def on_pull(
        self, sender: object, *, realm_id: str, entity: str, changed_at: dt.datetime | None, **_: t.Any
    ) -> None:
        if sender in self.apps and changed_at is not None:
            self.pull_latency.labels(_entity(entity.lower()), *self._realm(realm_id)).observe(_age(changed_at))


def install(app: Flask, registry: CollectorRegistry | None = None) -> Metrics:
    """Report ``app``'s metrics on ``registry`` (default: prometheus_client's default registry).

    ``flask_qbo.QBO.init_app`` calls it when ``QBO_METRICS`` is true; a host
    with its own registry calls it itself after ``init_app``.  Calling it again
    with the same registry is harmless.

    :raises QBOConfigError: the app already reports to another registry, or the
        registry was set up with the other ``QBO_METRICS_REALM_LABEL`` value.
    """
    registry = REGISTRY if registry is None else registry
    current = app.extensions.get(EXTENSION_KEY)
    if current is not None:
        if current[1] is not registry:
            raise QBOConfigError("Flask-QBO metrics are already installed on this app with another registry.")
        return t.cast(Metrics, current[0])
    realm_label = bool(get_config("QBO_METRICS_REALM_LABEL", app))
    metrics = _by_registry.get(registry)
    if metrics is None:
        metrics = _by_registry[registry] = Metrics(registry, realm_label=realm_label)
    elif metrics.realm_label != realm_label:
        raise QBOConfigError("Apps sharing a metrics registry must agree on QBO_METRICS_REALM_LABEL.")
    metrics.add_app(app)
    app.extensions[EXTENSION_KEY] = (metrics, registry)
    return metrics


def exposition(app: Flask) -> tuple[bytes, str]:
    """The metrics page for ``app``: (body, content type) in Prometheus' text format.

    In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set) the counters and
    histograms come from every process's files and the database gauges from
    this process; otherwise everything comes from the app's registry.

    :raises QBOConfigError: metrics are not installed on ``app``.
    """
    current = app.extensions.get(EXTENSION_KEY)
    if current is None:
        raise QBOConfigError("Flask-QBO metrics are not enabled: set QBO_METRICS = True or call install(app).")
    metrics, registry = t.cast("tuple[Metrics, CollectorRegistry]", current)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
        registry.register(QueueCollector(metrics.apps, realm_label=metrics.realm_label))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def _guarded(receiver: t.Callable[..., None]) -> t.Callable[..., None]:
    """``receiver``, except that a failure is logged instead of raised.

    Signals are sent from inside a push, a pull or a token refresh: a metrics
    bug must never fail the sync work it measures.
    """

    def receive(sender: object, **kwargs: t.Any) -> None:
        try:
            receiver(sender, **kwargs)
        except Exception:  # noqa: BLE001 - counted work goes on without its metric
            log.warning("A Flask-QBO metric could not be recorded.", exc_info=True)

    return receive


def _child(metric: Counter, labels: tuple[str, ...]) -> Counter:
    """The metric's child for ``labels``; a metric without labels is its own (only one) series."""
    return metric.labels(*labels) if labels else metric


def _age(since: dt.datetime) -> float:
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.timezone.utc)
    return max((utcnow() - since).total_seconds(), 0.0)


def _code(code: str | None) -> str:
    if not code:
        return ""
    return code if _CODE.match(code) else "other"


def _entity(entity: str) -> str:
    return entity if _ENTITY.match(entity) else "other"
