"""Signed webhook notifications accepted per second, and the p99 time to answer 200.

Each notification is a CloudEvents batch signed with the verifier token and
posted to ``/qbo/webhooks`` of the test host app (file SQLite, in-process
WSGI).  Every request verifies the signature, dedupes and stores the events;
no QBO call is made.  Prints a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid

from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator
from flask_qbo.testing import attach_emulator
from flask_qbo.views.webhooks import compute_signature


def _body(events: int) -> bytes:
    batch = [{"specversion": "1.0", "id": str(uuid.uuid4()), "source": "intuit.bench",
              "type": "qbo.customer.updated.v1", "time": "2025-09-10T21:31:25.179Z",
              "intuitentityid": str(i + 1), "intuitaccountid": TEST_REALM, "data": {}} for i in range(events)]
    return json.dumps(batch).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer notifications (CI)")
    parser.add_argument("--events", type=int, default=10, help="events per notification")
    args = parser.parse_args()
    count = 200 if args.quick else 2000

    from tests.hostapp import make_app

    emu = make_emulator()
    app = make_app(f"sqlite:///{tempfile.mkdtemp(prefix='qbo-bench-')}/crm.sqlite")
    attach_emulator(app, emu)
    connect_tenant(app, emu, "acme", TEST_REALM)
    token = app.config["QBO_WEBHOOK_VERIFIER_TOKEN"]
    bodies = [_body(args.events) for _ in range(count)]
    client = app.test_client()
    samples = []
    started = time.perf_counter()
    for body in bodies:
        t0 = time.perf_counter()
        resp = client.post("/qbo/webhooks", data=body, headers={
            "intuit-signature": compute_signature(body, token), "Content-Type": "application/cloudevents+json"})
        samples.append((time.perf_counter() - t0) * 1000)
        if resp.status_code != 200:
            raise SystemExit(f"notification refused: {resp.status_code} {resp.get_data(as_text=True)}")
    wall = time.perf_counter() - started
    samples.sort()
    result = {
        "benchmark": "webhook_ingest",
        "notifications": count,
        "events_per_notification": args.events,
        "notifications_per_s": round(count / wall, 1),
        "events_per_s": round(count * args.events / wall, 1),
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2),
        "max_ms": round(samples[-1], 2),
        "target_p99_ms": 3000,
    }
    print(f"{count} notifications in {wall:.2f} s; p99 {result['p99_ms']} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
