"""QBO customer edit → CRM contact updated: via webhook (delay 0) and via CDC only.

Everything runs in one process without sockets: the emulator's webhook
deliveries reach the host app through a WSGI transport, and the host's thread
runner (woken by each webhook, polling CDC on a timer) applies the change.
Each sample is timed from the emulator edit until the contact row holds the
new value.  Prints p50/p95 for both paths and a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import requests

from flask_qbo.emulator import WSGIAdapter
from flask_qbo.runners import thread as runner
from flask_qbo.state import get_qbo
from flask_qbo.sync.payload import customer_hash
from flask_qbo.sync.payload import qbo_values
from flask_qbo.sync.pull import mirror
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 1)


def _measure(app: object, emu: object, contact_id: int, customer_id: str, edits: int, tag: str) -> list[float]:
    from tests.hostapp import Contact
    from tests.hostapp import db

    samples = []
    for i in range(edits):
        value = f"{tag}{i}"
        current = emu.store.read(TEST_REALM, "Customer", customer_id)  # type: ignore[attr-defined]
        start = time.perf_counter()
        emu.store.update(
            TEST_REALM,
            "Customer",
            {
                "Id": customer_id,
                "SyncToken": current["SyncToken"],  # type: ignore[attr-defined]
                "FamilyName": value,
            },
            sparse=True,
        )
        while True:
            with app.app_context():  # type: ignore[attr-defined]
                if db.session.get(Contact, contact_id).last_name == value:
                    break
                db.session.remove()
            if time.perf_counter() - start > 60:
                raise SystemExit(f"{tag} edit {i} did not arrive within 60 s")
            time.sleep(0.002)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples (CI)")
    args = parser.parse_args()
    webhook_edits, cdc_edits, interval = (30, 3, 2) if args.quick else (200, 10, 5)

    from tests.hostapp import Contact
    from tests.hostapp import db
    from tests.hostapp import make_app

    emu = make_emulator()
    app = make_app(f"sqlite:///{tempfile.mkdtemp(prefix='qbo-bench-')}/crm.sqlite", QBO_RUNNER="none")
    attach_emulator(app, emu)
    app.config["QBO_CDC_INTERVAL"] = 3600  # webhook phase: CDC effectively off
    connect_tenant(app, emu, "acme", TEST_REALM)
    customer = emu.store.create(TEST_REALM, "Customer", {"GivenName": "Lat", "FamilyName": "Ency"})
    with app.app_context():
        qbo = get_qbo(app)
        contact = Contact(tenant="acme", first_name="Lat", last_name="Ency")
        db.session.add(contact)
        db.session.commit()
        row = mirror.upsert_customer(db.session, qbo.connection("acme"), customer, contact_key=str(contact.id))
        row.synced_values = qbo_values(customer, qbo._registration().fields)
        row.last_pulled_hash = customer_hash(row.synced_values)
        db.session.commit()
        contact_id = contact.id
    qbo.state(app).runner = runner.ThreadRunner(app, poll_interval=0.25)
    qbo.state(app).runner.ensure_started()

    session = requests.Session()
    session.mount("http://crm.test", WSGIAdapter(app))
    emu.webhooks.session = session
    emu.webhooks.configure(url="http://crm.test/qbo/webhooks", verifier_token=app.config["QBO_WEBHOOK_VERIFIER_TOKEN"])
    emu.webhooks.start(interval=0.005)
    webhook = _measure(app, emu, contact_id, customer["Id"], webhook_edits, "Hook")

    emu.webhooks.configure(url="")  # webhooks lost: only the CDC poll remains
    app.config["QBO_CDC_INTERVAL"] = interval
    cdc = _measure(app, emu, contact_id, customer["Id"], cdc_edits, "Cdc")
    emu.webhooks.stop()
    runner.stop(app)

    result = {
        "benchmark": "pull_latency",
        "webhook_samples": len(webhook),
        "webhook_p50_ms": _pct(webhook, 0.5),
        "webhook_p95_ms": _pct(webhook, 0.95),
        "cdc_interval_s": interval,
        "cdc_samples": len(cdc),
        "cdc_p50_ms": _pct(cdc, 0.5),
        "cdc_p95_ms": _pct(cdc, 0.95),
        "targets": {"webhook_p95_ms": 1000, "cdc_p95_ms": (interval + 2) * 1000},
    }
    print(
        f"webhook p50 {result['webhook_p50_ms']} ms p95 {result['webhook_p95_ms']} ms; "
        f"CDC-only p50 {result['cdc_p50_ms']} ms p95 {result['cdc_p95_ms']} ms (interval {interval} s)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
