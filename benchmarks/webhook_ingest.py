"""Signed webhook notifications accepted per second, and the p99 time to answer 200.

Each notification is a CloudEvents batch signed with the verifier token and
posted to ``/qbo/webhooks`` of the test host app (file SQLite, or a scratch
schema with ``--postgres URL``; in-process WSGI, from ``--senders`` threads at
once, as several web workers would receive them).  Every request verifies the signature, dedupes and stores the events;
no QBO call is made.  Prints a final JSON line.

``--flood`` measures what a flood of events costs the sync instead: 20,000
signed events (``--quick``: 2,000) for customers that do not exist are posted
while the thread runner works, and a linked contact is edited over and over
until the inbox is drained.  It reports the QBO requests the events cost
(``flood_requests``: reads, queries and CDC calls, as the emulator counts them)
and the push latency measured during the flood (CRM commit until the
emulator's customer holds the new value).  The CDC poll is kept out of the
way (its first run is marked done), so every event goes through the inbox
path.  ``--scale`` runs the emulator and the client's throttle that many times
faster than real time (QBO's 500 requests a minute then last ``60 / scale``
seconds).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import threading
import time
import typing as t
import uuid

from flask_qbo.intuit import throttle
from flask_qbo.intuit.notifications import compute_signature
from flask_qbo.models import Connection
from flask_qbo.models import Inbox
from flask_qbo.models import utcnow
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator

#: Ids of the flood's customers start here: far above anything the emulator made.
MISSING_BASE = 10_000_000
#: Seconds the flood may take to drain before the run is called a failure.
DRAIN_TIMEOUT = 3600.0
#: Seconds one push may take before the run is called a failure.
PUSH_TIMEOUT = 600.0


def _body(events: int, *, first_id: int = 1, when: str = "2025-09-10T21:31:25.179Z") -> bytes:
    batch = [
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "intuit.bench",
            "type": "qbo.customer.updated.v1",
            "time": when,
            "intuitentityid": str(first_id + i),
            "intuitaccountid": TEST_REALM,
            "data": {},
        }
        for i in range(events)
    ]
    return json.dumps(batch).encode()


def _post(client: t.Any, body: bytes, token: str) -> None:
    resp = client.post(
        "/qbo/webhooks",
        data=body,
        headers={"intuit-signature": compute_signature(body, token), "Content-Type": "application/cloudevents+json"},
    )
    if resp.status_code != 200:
        raise SystemExit(f"notification refused: {resp.status_code} {resp.get_data(as_text=True)}")


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 1)


def ingest(args: argparse.Namespace) -> None:
    """Notifications per second and answer times of the webhook endpoint alone."""
    if args.postgres:
        from tests.integration.services import pg_schema

        with pg_schema(args.postgres, prefix="qbo_ingest") as url:
            _ingest(args, url)
    else:
        _ingest(args, f"sqlite:///{tempfile.mkdtemp(prefix='qbo-bench-')}/crm.sqlite")


def _ingest(args: argparse.Namespace, url: str) -> None:
    count = 200 if args.quick else 2000
    events = args.events or 10

    from tests.hostapp import db
    from tests.hostapp import make_app

    emu = make_emulator()
    app = make_app(url)
    attach_emulator(app, emu)
    connect_tenant(app, emu, "acme", TEST_REALM)
    token = app.config["QBO_WEBHOOK_VERIFIER_TOKEN"]
    bodies = [_body(events) for _ in range(count)]
    samples: list[float] = []

    def send(share: list[bytes]) -> None:
        client = app.test_client()
        for body in share:
            t0 = time.perf_counter()
            _post(client, body, token)
            samples.append((time.perf_counter() - t0) * 1000)

    senders = [threading.Thread(target=send, args=(bodies[i :: args.senders],)) for i in range(args.senders)]
    started = time.perf_counter()
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    wall = time.perf_counter() - started
    with app.app_context():
        stored = db.session.query(Inbox).count()
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
    if stored != count * events:
        raise SystemExit(f"{stored} events stored, not {count * events}")
    samples.sort()
    result = {
        "benchmark": "webhook_ingest",
        "database": url.split(":", 1)[0],
        "senders": args.senders,
        "notifications": count,
        "events_per_notification": events,
        "notifications_per_s": round(count / wall, 1),
        "events_per_s": round(count * events / wall, 1),
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2),
        "max_ms": round(samples[-1], 2),
        "target_p99_ms": 3000,
    }
    print(f"{count} notifications in {wall:.2f} s; p99 {result['p99_ms']} ms")
    print(json.dumps(result))


class Editor(threading.Thread):
    """Edits one linked contact again and again, timing each edit until QBO holds it.

    Runs until :attr:`done` is set, or for ``edits`` edits.
    """

    def __init__(
        self, app: t.Any, emu: t.Any, contact_id: int, customer_id: str, *, prefix: str, edits: int | None = None
    ) -> None:
        super().__init__(name=f"crm-edits-{prefix}", daemon=True)
        self.app, self.emu = app, emu
        self.contact_id, self.customer_id = contact_id, customer_id
        self.prefix, self.edits = prefix, edits
        self.samples: list[float] = []
        self.done = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        from tests.hostapp import Contact
        from tests.hostapp import db

        i = 0
        while not self.done.is_set() and (self.edits is None or i < self.edits):
            value = f"{self.prefix}-{i:05d}"
            with self.app.app_context():
                db.session.get(Contact, self.contact_id).phone = value
                start = time.perf_counter()
                db.session.commit()  # captured: an outbox row, and the runner is woken
            while (self.emu.store.read(TEST_REALM, "Customer", self.customer_id).get("PrimaryPhone") or {}).get(
                "FreeFormNumber"
            ) != value:
                if time.perf_counter() - start > PUSH_TIMEOUT:
                    self.error = f"edit {i} did not reach QBO within {PUSH_TIMEOUT:.0f} s"
                    return
                time.sleep(0.002)
            self.samples.append((time.perf_counter() - start) * 1000)
            i += 1
            time.sleep(0.05)


def _link_contact(app: t.Any, emu: t.Any) -> tuple[int, str]:
    """A contact linked to a QBO customer, as a finished sync leaves it, with the CDC poll held off."""
    from tests.hostapp import db
    from tests.sync.pull.pull_support import linked_contact

    linked = linked_contact(app, emu)
    with app.app_context():
        # The CDC poll would mark every pending event of its window done: keep it out of the measurement.
        db.session.query(Connection).update({"last_cdc_at": utcnow()})
        db.session.commit()
    return linked


def _backlog(app: t.Any) -> int:
    from tests.hostapp import db

    with app.app_context():
        count = db.session.query(Inbox).filter(Inbox.status.in_(("pending", "in_progress"))).count()
        db.session.remove()
        return count


def flood(args: argparse.Namespace) -> None:
    """Requests spent on a flood of events for missing customers, and push latency meanwhile."""
    total = args.flood_events or (2000 if args.quick else 20000)
    per_notification = args.events or 100
    scale = args.scale

    from flask_qbo.runners import thread as runner
    from tests.hostapp import make_app

    emu = make_emulator(time_scale=scale)
    app = make_app(
        f"sqlite:///{tempfile.mkdtemp(prefix='qbo-flood-')}/crm.sqlite", QBO_RUNNER="thread", QBO_CDC_INTERVAL=3600
    )
    attach_emulator(app, emu)
    if scale != 1.0:
        throttle.install(app, throttle.build_throttle(app, time_scale=scale))
    connect_tenant(app, emu, "acme", TEST_REALM)
    contact_id, customer_id = _link_contact(app, emu)
    token = app.config["QBO_WEBHOOK_VERIFIER_TOKEN"]
    when = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    bodies = [
        _body(min(per_notification, total - n), first_id=MISSING_BASE + n, when=when)
        for n in range(0, total, per_notification)
    ]
    idle = Editor(app, emu, contact_id, customer_id, prefix="555", edits=10)
    idle.run()  # the same edits with nothing else to do, for comparison
    emu.reset_counters()
    client = app.test_client()
    editor = Editor(app, emu, contact_id, customer_id, prefix="556")
    started = time.perf_counter()
    editor.start()
    for body in bodies:
        _post(client, body, token)
    posted = time.perf_counter() - started
    while _backlog(app):
        if time.perf_counter() - started > DRAIN_TIMEOUT or editor.error:
            break
        time.sleep(0.05)
    drained = time.perf_counter() - started
    editor.done.set()
    editor.join(PUSH_TIMEOUT)
    left = _backlog(app)
    runner.stop(app)
    counters = emu.counters.get(TEST_REALM, {})
    if idle.error or editor.error or left:
        raise SystemExit(idle.error or editor.error or f"{left} events still pending after {DRAIN_TIMEOUT:.0f} s")
    samples = editor.samples or [float("nan")]
    result = {
        "benchmark": "webhook_ingest",
        "mode": "flood",
        "flood_events": total,
        "flood_notifications": len(bodies),
        "flood_requests": counters.get("reads", 0),
        "flood_requests_total": counters.get("requests", 0),
        "flood_ingest_s": round(posted, 2),
        "flood_drain_s": round(drained, 2),
        "flood_push_samples": len(editor.samples),
        "flood_push_p50_ms": _pct(samples, 0.5),
        "flood_push_p95_ms": _pct(samples, 0.95),
        "flood_push_max_ms": round(max(samples), 1),
        "idle_push_p50_ms": _pct(idle.samples, 0.5),
        "time_scale": scale,
    }
    print(
        f"{total} events for missing customers: {result['flood_requests']} QBO reads, drained in "
        f"{result['flood_drain_s']} s; push during the flood p50 {result['flood_push_p50_ms']} ms, "
        f"p95 {result['flood_push_p95_ms']} ms ({len(editor.samples)} edits; "
        f"p50 {result['idle_push_p50_ms']} ms without the flood)"
    )
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer notifications (CI)")
    parser.add_argument(
        "--events", type=int, default=None, help="events per notification (default 10; 100 with --flood)"
    )
    parser.add_argument("--flood", action="store_true", help="events for missing customers vs. pushes")
    parser.add_argument("--senders", type=int, default=1, help="notifications posted at once, as by web workers")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL: a scratch schema there, not SQLite")
    parser.add_argument("--flood-events", type=int, default=None, help="events in the flood (default 20,000)")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="with --flood: emulator and throttle run this many times faster than real time",
    )
    args = parser.parse_args()
    if args.flood:
        flood(args)
    else:
        ingest(args)


if __name__ == "__main__":
    main()
