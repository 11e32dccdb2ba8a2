"""Contact commit → customer updated in the emulator, over real HTTP on loopback.

The emulator runs as a real server (werkzeug) on 127.0.0.1, the host app uses
the thread runner, and each edit is timed from ``session.commit()`` until the
emulator's store holds the new value.  Prints p50/p95/max and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import threading
import time

from werkzeug.serving import make_server

from flask_qbo.emulator import Emulator
from flask_qbo.emulator import EmulatorConfig
from flask_qbo.runners import thread as runner
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import connect_tenant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer edits (CI)")
    parser.add_argument("--edits", type=int, default=None)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    edits = args.edits or (200 if args.quick else 500)

    from tests.hostapp import Contact
    from tests.hostapp import db
    from tests.hostapp import make_app

    emu = Emulator(EmulatorConfig(base_url="http://127.0.0.1"))
    server = make_server("127.0.0.1", 0, emu.app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    emu.config.base_url = base
    emu.add_company(TEST_REALM, "Latency Co")
    threading.Thread(target=server.serve_forever, daemon=True).start()

    workdir = tempfile.mkdtemp(prefix="qbo-bench-")
    app = make_app(
        f"sqlite:///{workdir}/crm.sqlite",
        QBO_RUNNER="thread",
        QBO_EMULATOR_URL=base,
        QBO_CLIENT_ID=emu.config.client_id,
        QBO_CLIENT_SECRET=emu.config.client_secret,
    )
    connect_tenant(app, emu, "acme", TEST_REALM)
    with app.app_context():
        contact = Contact(tenant="acme", first_name="Lat", last_name="Ency", email="lat@example.com")
        db.session.add(contact)
        db.session.commit()
        contact_id = contact.id
    deadline = time.monotonic() + 10
    while not emu.store.list(TEST_REALM, "Customer") and time.monotonic() < deadline:
        time.sleep(0.01)
    customer_id = emu.store.list(TEST_REALM, "Customer")[0]["Id"]

    samples: list[float] = []
    with app.app_context():
        for i in range(edits):
            value = f"555-{i:05d}"
            contact = db.session.get(Contact, contact_id)
            contact.phone = value
            start = time.perf_counter()
            db.session.commit()
            while True:
                current = emu.store.read(TEST_REALM, "Customer", customer_id)
                if (current.get("PrimaryPhone") or {}).get("FreeFormNumber") == value:
                    break
                if time.perf_counter() - start > 10:
                    raise SystemExit(f"edit {i} did not arrive within 10 s")
                time.sleep(0.0005)
            samples.append((time.perf_counter() - start) * 1000)
    runner.stop(app)
    server.shutdown()
    samples.sort()
    result = {
        "benchmark": "push_latency",
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 2),
        "max_ms": round(samples[-1], 2),
        "edits": len(samples),
    }
    print(
        f"{len(samples)} edits over loopback HTTP: p50 {result['p50_ms']} ms, "
        f"p95 {result['p95_ms']} ms, max {result['max_ms']} ms (target p95 <= 300 ms)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
