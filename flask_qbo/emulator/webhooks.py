"""Webhook delivery the way Intuit does it: batched, signed, retried.

Store changes become events; due events are grouped (≤ 100 per notification)
and POSTed in CloudEvents or legacy format with an ``intuit-signature``
header. Failed notifications (non-2xx or slower than 3 s) are retried on
Intuit's schedule, measured on the emulator clock so tests can advance time
rather than wait. Knobs add delay, duplicates, drops and reordering.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
import typing as t
import uuid
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timezone

import requests

from .clock import Clock
from .config import EmulatorConfig

#: Seconds between attempts after each failure; the last value repeats forever.
RETRY_SCHEDULE = (10, 20, 30, 300, 1200, 7200, 14400, 21600)
MAX_EVENTS_PER_NOTIFICATION = 100
CLOUDEVENT_VERBS = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Merge": "merged",
    "Void": "void",
    "Emailed": "emailed",
}
#: Operations Intuit emits per entity (facts §9.5); others are not delivered.
SUPPORTED = {
    "Customer": {"Create", "Update", "Delete", "Merge"},
    "Invoice": {"Create", "Update", "Delete", "Emailed", "Void"},
    "Payment": {"Create", "Update", "Delete", "Emailed", "Void"},
    "Estimate": {"Create", "Update", "Delete", "Emailed"},
    "SalesReceipt": {"Create", "Update", "Delete", "Emailed", "Void"},
    "CreditMemo": {"Create", "Update", "Delete", "Emailed", "Void"},
    "RefundReceipt": {"Create", "Update", "Delete", "Emailed", "Void"},
    "Term": {"Create", "Update"},
    "PaymentMethod": {"Create", "Update", "Merge"},
    "Account": {"Create", "Update", "Delete", "Merge"},
    "Item": {"Create", "Update", "Delete", "Merge"},
}


def sign(body: bytes, token: str) -> str:
    """``intuit-signature``: base64 of HMAC-SHA256 over the raw body, keyed by the verifier token."""
    return base64.b64encode(hmac.new(token.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def _utc(when: datetime, digits: int = 3) -> str:
    stamp = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return stamp[: 20 + digits] + "Z"


@dataclass
class Event:
    realm: str
    entity: str
    entity_id: str
    operation: str
    when: datetime
    deleted_id: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def cloudevent(self, source: str) -> dict[str, t.Any]:
        return {
            "specversion": "1.0",
            "id": self.id,
            "source": source,
            "type": f"qbo.{self.entity.lower()}.{CLOUDEVENT_VERBS[self.operation]}.v1",
            "datacontenttype": "application/json",
            "time": _utc(self.when, 6),
            "intuitentityid": self.entity_id,
            "intuitaccountid": self.realm,
            "data": {"deletedId": self.deleted_id} if self.deleted_id else {},
        }

    def legacy(self) -> dict[str, t.Any]:
        entry = {"name": self.entity, "id": self.entity_id, "operation": self.operation, "lastUpdated": _utc(self.when)}
        if self.deleted_id:
            entry["deletedId"] = self.deleted_id
        return entry


@dataclass
class Notification:
    """One POST (and its retries): the body is fixed at first attempt."""

    events: list[Event]
    due: float
    attempts: int = 0
    body: bytes | None = None
    fmt: str = ""


class WebhookDispatcher:
    def __init__(self, clock: Clock, config: EmulatorConfig) -> None:
        self.clock = clock
        self.config = config
        self.url = config.webhook_url
        self.verifier_token = config.webhook_verifier_token
        self.format = config.webhook_format
        self.delay = 0.0
        self.duplicate_rate = 0.0
        self.drop_rate = 0.0
        self.reorder = False
        self.rng = random.Random(0)
        #: Replace with a session that mounts ``WSGIAdapter(crm_app)`` for in-process delivery.
        self.session = requests.Session()
        #: Every event the store produced, delivered or not.
        self.events: list[Event] = []
        #: Events removed by ``drop_rate``.
        self.dropped: list[Event] = []
        #: One entry per POST attempt: url, status, body, signature, headers, error, attempt, time.
        self.deliveries: list[dict[str, t.Any]] = []
        self._pending: list[tuple[float, Event]] = []
        self._retries: list[Notification] = []
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.source = "intuit." + base64.b64encode(hashlib.sha256(config.client_id.encode()).digest()).decode()

    sign = staticmethod(sign)

    def configure(
        self,
        url: str | None = None,
        verifier_token: str | None = None,
        format: str | None = None,
        delay: float = 0.0,
        duplicate_rate: float = 0.0,
        drop_rate: float = 0.0,
        reorder: bool = False,
        seed: int = 0,
    ) -> None:
        """Change delivery settings; ``None`` keeps url/token/format, ``url=""`` disables delivery."""
        if format is not None and format not in ("cloudevents", "legacy"):
            raise ValueError("format must be 'cloudevents' or 'legacy'")
        with self._lock:
            if url is not None:
                self.url = url or None
            if verifier_token is not None:
                self.verifier_token = verifier_token
            if format is not None:
                self.format = format
            self.delay, self.duplicate_rate, self.drop_rate = float(delay), float(duplicate_rate), float(drop_rate)
            self.reorder = bool(reorder)
            self.rng = random.Random(seed)

    def status(self) -> dict[str, t.Any]:
        with self._lock:
            return {
                "url": self.url,
                "format": self.format,
                "delay": self.delay,
                "duplicate_rate": self.duplicate_rate,
                "drop_rate": self.drop_rate,
                "reorder": self.reorder,
                "pending": len(self._pending) + sum(len(n.events) for n in self._retries),
                "events": len(self.events),
                "deliveries": len(self.deliveries),
                "recent": [{k: v for k, v in d.items() if k != "body"} for d in self.deliveries[-20:]],
            }

    def enqueue(
        self, realm: str, entity: str, entity_id: str, operation: str, when: datetime, deleted_id: str | None = None
    ) -> None:
        """Store listener: queue an event if Intuit would send one for it."""
        if operation not in SUPPORTED.get(entity, ()):
            return
        event = Event(realm, entity, entity_id, operation, when, deleted_id)
        with self._lock:
            self.events.append(event)
            if not self.url:
                return
            if self.rng.random() < self.drop_rate:
                self.dropped.append(event)
                return
            due = self.clock.timestamp() + self.config.scaled(self.delay)
            self._pending.append((due, event))
            if self.rng.random() < self.duplicate_rate:
                self._pending.append((due, event))

    # ------------------------------------------------------------------ delivery

    def _collect(self) -> list[Notification]:
        """Take every due event and retry; group fresh events into notifications."""
        now = self.clock.timestamp()
        with self._lock:
            ready = [e for due, e in self._pending if due <= now]
            self._pending = [(due, e) for due, e in self._pending if due > now]
            retries = [n for n in self._retries if n.due <= now]
            self._retries = [n for n in self._retries if n.due > now]
            if self.reorder:
                self.rng.shuffle(ready)
        batches = [
            Notification(ready[i : i + MAX_EVENTS_PER_NOTIFICATION], now)
            for i in range(0, len(ready), MAX_EVENTS_PER_NOTIFICATION)
        ]
        return retries + batches

    def _render(self, notification: Notification) -> None:
        if notification.body is not None:
            return
        notification.fmt = self.format
        if self.format == "legacy":
            by_realm: dict[str, list[dict[str, t.Any]]] = {}
            for event in notification.events:
                by_realm.setdefault(event.realm, []).append(event.legacy())
            payload: dict[str, t.Any] | list[dict[str, t.Any]] = {
                "eventNotifications": [
                    {"realmId": realm, "dataChangeEvent": {"entities": entities}}
                    for realm, entities in by_realm.items()
                ]
            }
        else:
            payload = [event.cloudevent(self.source) for event in notification.events]
        notification.body = json.dumps(payload, separators=(",", ":")).encode("utf-8")

    def _headers(self, notification: Notification, signature: str) -> dict[str, str]:
        content_type = (
            "application/json; charset=utf-8" if notification.fmt == "legacy" else "application/cloudevents+json"
        )
        return {
            "content-type": content_type,
            "intuit-signature": signature,
            "intuit-created-time": _utc(self.clock.now()),
            "intuit-t-id": str(uuid.uuid4()),
            "intuit-notification-schema-version": "0.1",
            "user-agent": "intuit_notification_server/0.1",
            "accept": "application/json",
        }

    def _deliver(self, notification: Notification) -> None:
        self._render(notification)
        body = notification.body or b""
        signature = sign(body, self.verifier_token)
        headers = self._headers(notification, signature)
        notification.attempts += 1
        record: dict[str, t.Any] = {
            "url": self.url,
            "status": None,
            "body": body,
            "signature": signature,
            "headers": headers,
            "error": None,
            "attempt": notification.attempts,
            "time": self.clock.iso_ms(),
            "events": [e.id for e in notification.events],
        }
        started = time.monotonic()
        try:
            response = self.session.post(
                self.url or "", data=body, headers=headers, timeout=self.config.webhook_timeout
            )
            record["status"] = response.status_code
            ok = 200 <= response.status_code < 300 and time.monotonic() - started <= self.config.webhook_timeout
            if not ok and record["status"] and 200 <= record["status"] < 300:
                record["error"] = "answered after the 3 s deadline"
        except requests.RequestException as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            ok = False
        with self._lock:
            self.deliveries.append(record)
            if not ok:
                wait = RETRY_SCHEDULE[min(notification.attempts, len(RETRY_SCHEDULE)) - 1]
                notification.due = self.clock.timestamp() + self.config.scaled(wait)
                self._retries.append(notification)

    def deliver_due(self) -> int:
        """Deliver everything due right now; returns the number of POST attempts."""
        if not self.url:
            return 0
        batch = self._collect()
        for notification in batch:
            self._deliver(notification)
        return len(batch)

    def flush(self, timeout: float = 5) -> int:
        """Synchronously deliver what is due, waiting (real time) for delayed first attempts."""
        deadline = time.monotonic() + timeout
        attempts = self.deliver_due()
        while time.monotonic() < deadline:
            with self._lock:
                upcoming = [due for due, _ in self._pending]
            if not upcoming or not self.url:
                break
            wait = min(upcoming) - self.clock.timestamp()
            if wait > deadline - time.monotonic():
                break
            time.sleep(max(0.0, min(wait, 0.05)))
            attempts += self.deliver_due()
        return attempts

    # ------------------------------------------------------------------ background thread

    def start(self, interval: float = 0.05) -> None:
        """Deliver in a daemon thread (standalone server and end-to-end tests)."""
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval):
                self.deliver_due()

        self._thread = threading.Thread(target=loop, name="qbo-emulator-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
            self._thread = None
