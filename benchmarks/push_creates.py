"""3,000 new contacts at once against the emulator enforcing QBO's throttle, time-scaled.

One commit adds every contact; the thread runner drains the outbox (a backlog:
new contacts are matched and created in batches, see
:mod:`flask_qbo.sync.push.creates`).  As in ``push_burst``, the emulator and the
client's throttle both run ``--scale`` times faster than real time, so a QBO
minute lasts ``60 / scale`` seconds and QBO's limits (500 requests a minute,
10 in flight, 40 batch calls a minute) hold over that shrunk window.

Each batch of 30 new contacts costs two queries and one batch call, so the
batch limit bounds the rate: 40 × 30 = 1,200 creates per minute.  Created one
at a time (three requests each) the 500 requests a minute bound it at about
166.  The headline ``creates_per_minute`` is the full-window rate (creates done
in the first ``k`` whole scaled minutes, divided by ``k``; see
``push_burst``), ``requests_per_create`` counts every request the emulator
received (429s included) per contact settled.  Lost contacts (settled, but
no customer linked, or one without the contact's email) and duplicate
customers must both be 0; ``unfinished`` counts contacts still queued when
``--max-seconds`` ran out.

``--webhooks`` delivers the emulator's webhooks to the CRM as QBO would, so
every create comes back as a Create event.  The run then also waits for the
inbox to drain, and ``requests_per_create`` includes whatever those events
cost (``reads`` counts queries: the push's matching queries, two per batch,
plus any read the pull made).
"""

from __future__ import annotations

import argparse
import json
import os
import time

from flask_sqlalchemy import SQLAlchemy

from benchmarks.burst import connected_crm
from benchmarks.burst import full_window_rate
from benchmarks.burst import watch_outbox
from flask_qbo import get_qbo
from flask_qbo.models import Customer
from flask_qbo.models import Inbox
from flask_qbo.models import InboxStatus
from flask_qbo.models import Outbox
from flask_qbo.runners import thread as runner
from flask_qbo.testing import TEST_REALM
from tests.sync.pull.pull_support import route_webhooks


def _wait_for_inbox(db: SQLAlchemy, deadline: float) -> None:
    """Until the runner has applied every webhook event received (or ``deadline``, a monotonic time)."""
    while time.monotonic() < deadline:
        pending = db.session.query(Inbox).filter(Inbox.status.in_((InboxStatus.PENDING, "in_progress"))).count()
        db.session.commit()
        if not pending:
            return
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="faster clock and 1,500 contacts (CI)")
    parser.add_argument("--contacts", type=int, default=None, help="new contacts (default 3,000)")
    parser.add_argument("--scale", type=float, default=None)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop waiting after this long (real)")
    parser.add_argument("--webhooks", action="store_true", help="deliver QBO's webhooks to the CRM, as in production")
    args = parser.parse_args()
    scale = args.scale or (4.0 if args.quick else 1.0)
    args.contacts = args.contacts or (1500 if args.quick else 3000)

    from tests.hostapp import Contact
    from tests.hostapp import db

    crm = connected_crm("qbo-creates-", scale)
    emu, app = crm.emu, crm.app
    if args.webhooks:
        route_webhooks(app, emu)
        emu.webhooks.start()
    with app.app_context():
        get_qbo()
        emu.reset_counters()
        contacts = [
            Contact(tenant="acme", first_name=f"Create{i}", last_name="Bench", email=f"create{i}@bench.test")
            for i in range(args.contacts)
        ]
        db.session.add_all(contacts)
        db.session.commit()
        emails = {str(c.id): c.email for c in contacts}

    loop = runner.ThreadRunner(app)
    loop.wake()
    with app.app_context():
        times, done = watch_outbox(db, args.contacts, args.max_seconds)
        elapsed = times[-1]
        if args.webhooks:
            emu.webhooks.flush()
            _wait_for_inbox(db, time.monotonic() + args.max_seconds)
            emu.webhooks.stop()
        failed = db.session.query(Outbox).filter(Outbox.status.in_(("failed", "dead"))).count()
        settled = {str(key) for (key,) in db.session.query(Outbox.contact_key).filter(Outbox.status == "done")}
        links = {
            str(key): str(qbo_id)
            for key, qbo_id in db.session.query(Customer.contact_key, Customer.qbo_id).filter(
                Customer.contact_key.isnot(None)
            )
        }
        db.session.commit()
    loop.stop()

    customers = emu.store.list(TEST_REALM, "Customer", include_inactive=True)
    by_id = {c["Id"]: c for c in customers}
    lost = sum(
        1
        for key, email in emails.items()
        if key in settled
        and ((by_id.get(links.get(key, "")) or {}).get("PrimaryEmailAddr") or {}).get("Address") != email
    )
    addresses = [(c.get("PrimaryEmailAddr") or {}).get("Address") for c in customers]
    duplicates = max(len(customers) - args.contacts, len(addresses) - len(set(addresses)), 0)
    counters = emu.counters[TEST_REALM]
    finished = done[-1]
    rate = full_window_rate(times, done, scale, finished)
    scaled_minutes, windows, overall, achieved = rate.scaled_minutes, rate.windows, rate.overall, rate.achieved
    maximum = crm.batch_per_minute * 30
    result = {
        "benchmark": "push_creates",
        "contacts": args.contacts,
        "finished": finished,
        "time_scale": scale,
        "scaled_minutes": round(scaled_minutes, 2),
        "full_windows": windows,
        "creates_per_minute": round(achieved, 1),
        "overall_per_minute": round(overall, 1),
        "max_per_minute": maximum,
        "requests": counters["requests"],
        "requests_per_create": round(counters["requests"] / max(finished, 1), 3),
        "batch_calls": counters["batch"],
        "webhooks": args.webhooks,
        "reads": counters["reads"],
        "http_429": counters["throttled"],
        "throttle_wait_s": round(crm.limiter.waited, 2),
        "failed": failed,
        "unfinished": args.contacts - finished,
        "lost": lost,
        "duplicates": duplicates,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(
        f"{finished}/{args.contacts} new contacts in {elapsed:.1f} s real = {scaled_minutes:.2f} scaled minutes: "
        f"{achieved:.0f} creates/min over {windows} full minute(s) (max {maximum}), "
        f"{result['requests_per_create']} requests per create, 429s {counters['throttled']}, "
        f"lost {lost}, duplicates {duplicates}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
