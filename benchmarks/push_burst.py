"""3,000 contact edits at once against the emulator enforcing QBO's throttle, time-scaled.

All contacts are linked to customers first; then one commit edits every one,
and the thread runner drains the outbox (the backlog goes through the batch
endpoint).  The emulator and the client's throttle run ``--scale`` times faster
than real time, so a QBO minute lasts ``60 / scale`` seconds.  Prints customer
updates per scaled minute vs the throttle's maximum (batch calls per minute ×
30 items), 429s received, edits lost and duplicate customers, then a JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from flask_qbo import get_qbo
from flask_qbo import mirror
from flask_qbo import runner
from flask_qbo.mapping import customer_hash
from flask_qbo.mapping import qbo_values
from flask_qbo.models import Outbox
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="faster clock (CI)")
    parser.add_argument("--edits", type=int, default=3000)
    parser.add_argument("--scale", type=float, default=None)
    args = parser.parse_args()
    scale = args.scale or (60.0 if args.quick else 20.0)

    from tests.hostapp import Contact
    from tests.hostapp import db
    from tests.hostapp import make_app

    emu = make_emulator(time_scale=scale)
    app = make_app(f"sqlite:///{tempfile.mkdtemp(prefix='qbo-burst-')}/crm.sqlite", QBO_RUNNER="none")
    attach_emulator(app, emu)
    conn = connect_tenant(app, emu, "acme", TEST_REALM)
    # The client's throttle counts real minutes: scale its limits by the same factor.
    batch_per_minute = app.config["QBO_BATCH_PER_MINUTE"]
    app.config["QBO_BATCH_PER_MINUTE"] = int(batch_per_minute * scale)
    app.config["QBO_RATE_LIMIT_PER_MINUTE"] = int(app.config["QBO_RATE_LIMIT_PER_MINUTE"] * scale)
    with app.app_context():
        qbo = get_qbo()
        fields = qbo.registration().fields
        with qbo.suppress_capture():
            contacts = [Contact(tenant="acme", first_name=f"Burst{i}", last_name="Test") for i in range(args.edits)]
            db.session.add_all(contacts)
        db.session.commit()
        connection = qbo.connection("acme")
        for contact in contacts:
            data = emu.store.create(TEST_REALM, "Customer", {"DisplayName": f"Burst{contact.id} Test",
                                                             "GivenName": contact.first_name, "FamilyName": "Test"})
            link = mirror.upsert_customer(db.session, connection, data, contact_key=str(contact.id))
            link.synced_values = qbo_values(data, fields)
            link.last_pushed_hash = customer_hash(link.synced_values)
        db.session.commit()
        emu.reset_counters()
        for contact in contacts:
            contact.phone = f"555-{contact.id:05d}"
        db.session.commit()
        expected = {str(c.id): c.phone for c in contacts}

    loop = runner.ThreadRunner(app)
    started = time.monotonic()
    loop.wake()
    with app.app_context():
        while db.session.query(Outbox).filter(Outbox.status.in_(("pending", "in_progress"))).count():
            db.session.commit()
            time.sleep(0.05)
            if time.monotonic() - started > 600:
                break
        elapsed = time.monotonic() - started
        failed = db.session.query(Outbox).filter(Outbox.status == "failed").count()
    loop.stop()

    customers = emu.store.list(TEST_REALM, "Customer", include_inactive=True)
    by_name: dict[str, int] = {}
    for cust in customers:
        by_name[cust["DisplayName"]] = by_name.get(cust["DisplayName"], 0) + 1
    phones = {c["DisplayName"].removeprefix("Burst").removesuffix(" Test"): (c.get("PrimaryPhone") or {})
              .get("FreeFormNumber") for c in customers}
    lost = sum(1 for key, phone in expected.items() if phones.get(key) != phone)
    duplicates = len(customers) - len(by_name) + (len(customers) - args.edits if len(customers) > args.edits else 0)
    counters = emu.counters[TEST_REALM]
    scaled_minutes = elapsed * scale / 60.0
    achieved = args.edits / scaled_minutes
    maximum = batch_per_minute * 30
    result = {
        "benchmark": "push_burst",
        "edits": args.edits,
        "time_scale": scale,
        "scaled_minutes": round(scaled_minutes, 2),
        "updates_per_scaled_minute": round(achieved, 1),
        "max_per_scaled_minute": maximum,
        "pct_of_max": round(100 * achieved / maximum, 1),
        "requests": counters["requests"],
        "batch_calls": counters["batch"],
        "http_429": counters["throttled"],
        "failed": failed,
        "lost": lost,
        "duplicates": duplicates,
    }
    print(f"{args.edits} edits in {elapsed:.1f} s real = {scaled_minutes:.2f} scaled minutes: "
          f"{achieved:.0f} updates/min vs max {maximum} ({result['pct_of_max']}%), "
          f"429s {counters['throttled']}, lost {lost}, duplicates {duplicates}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
