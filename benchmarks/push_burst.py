"""3,000 contact edits at once against the emulator enforcing QBO's throttle, time-scaled.

All contacts are linked to customers first; then one commit edits every one,
and the thread runner drains the outbox (the backlog goes through the batch
endpoint).  The emulator and the client's throttle both run ``--scale`` times
faster than real time, so a QBO minute lasts ``60 / scale`` seconds: the
client's throttle (:func:`flask_qbo.intuit.throttle.build_throttle` with
``time_scale``) keeps QBO's limits over a window shrunk to match, not a
real-minute window with scaled-up counts (which would let it burst far past
the emulator's window and collect 429s).

The maximum is the batch limit × 30 items per scaled minute (40 × 30 = 1,200).
Against a sliding one-minute window a client can send 40 batches at once, so
``edits / elapsed`` overstates a short run (the last partial minute costs only
its processing time).  The headline figure is therefore the *full-window*
rate: updates completed in the first ``k`` whole scaled minutes, divided by
``k``, which an ideal client cannot push above the maximum.  The emulator runs
in this process (its per-write cost grows with the number of customers and
competes for the same CPU), so the scale must leave it room, hence the modest
default scales.
Prints 429s received, seconds the client spent waiting for a throttle slot,
edits lost and duplicate customers, then a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os

from benchmarks.burst import connected_crm
from benchmarks.burst import full_window_rate
from benchmarks.burst import watch_outbox
from flask_qbo import get_qbo
from flask_qbo.models import Outbox
from flask_qbo.runners import thread as runner
from flask_qbo.sync.payload import customer_hash
from flask_qbo.sync.payload import qbo_values
from flask_qbo.sync.pull import mirror
from flask_qbo.testing import TEST_REALM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="faster clock (CI)")
    parser.add_argument("--edits", type=int, default=3000)
    parser.add_argument("--scale", type=float, default=None)
    args = parser.parse_args()
    scale = args.scale or (2.0 if args.quick else 1.0)

    from tests.hostapp import Contact
    from tests.hostapp import db

    crm = connected_crm("qbo-burst-", scale)
    emu, app = crm.emu, crm.app
    with app.app_context():
        qbo = get_qbo()
        fields = qbo._registration().fields
        with qbo.suppress_capture():
            contacts = [Contact(tenant="acme", first_name=f"Burst{i}", last_name="Test") for i in range(args.edits)]
            db.session.add_all(contacts)
        db.session.commit()
        connection = qbo.connection("acme")
        for contact in contacts:
            data = emu.store.create(
                TEST_REALM,
                "Customer",
                {"DisplayName": f"Burst{contact.id} Test", "GivenName": contact.first_name, "FamilyName": "Test"},
            )
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
    loop.wake()
    with app.app_context():
        times, done = watch_outbox(db, args.edits, 600.0)
        elapsed = times[-1]
        failed = db.session.query(Outbox).filter(Outbox.status.in_(("failed", "dead"))).count()
    loop.stop()

    customers = emu.store.list(TEST_REALM, "Customer", include_inactive=True)
    by_name: dict[str, int] = {}
    for cust in customers:
        by_name[cust["DisplayName"]] = by_name.get(cust["DisplayName"], 0) + 1
    phones = {
        c["DisplayName"].removeprefix("Burst").removesuffix(" Test"): (c.get("PrimaryPhone") or {}).get(
            "FreeFormNumber"
        )
        for c in customers
    }
    lost = sum(1 for key, phone in expected.items() if phones.get(key) != phone)
    duplicates = max(len(customers) - args.edits, len(customers) - len(by_name), 0)
    counters = emu.counters[TEST_REALM]
    rate = full_window_rate(times, done, scale, args.edits)
    scaled_minutes, windows, overall, achieved = rate.scaled_minutes, rate.windows, rate.overall, rate.achieved
    maximum = crm.batch_per_minute * 30
    result = {
        "benchmark": "push_burst",
        "edits": args.edits,
        "time_scale": scale,
        "scaled_minutes": round(scaled_minutes, 2),
        "full_windows": windows,
        "updates_per_scaled_minute": round(achieved, 1),
        "overall_per_scaled_minute": round(overall, 1),
        "max_per_scaled_minute": maximum,
        "pct_of_max": round(100 * achieved / maximum, 1),
        "requests": counters["requests"],
        "batch_calls": counters["batch"],
        "http_429": counters["throttled"],
        "throttle_wait_s": round(crm.limiter.waited, 2),
        "failed": failed,
        "lost": lost,
        "duplicates": duplicates,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(
        f"{args.edits} edits in {elapsed:.1f} s real = {scaled_minutes:.2f} scaled minutes: "
        f"{achieved:.0f} updates/min over {windows} full minute(s) vs max {maximum} ({result['pct_of_max']}%), "
        f"overall {overall:.0f}/min, 429s {counters['throttled']}, lost {lost}, duplicates {duplicates}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
