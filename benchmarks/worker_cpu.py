"""A worker's CPU per unit of sync work: a new contact pushed, a webhook event applied.

On a 2-core machine the workers, the database, QuickBooks' stand-in and the
CRM's own commits share the cores, so what one contact or one event costs a
worker in CPU decides how far more workers can go (``scale_compare``'s Celery
side is CPU-bound during its bursts).  This benchmark measures that cost on its
own, with nothing else running:

* QuickBooks answers from a process of its own (:class:`benchmarks.served.ServedEmulator`),
  without added latency: the process time measured here is the extension's
  (building requests and reading answers, its side of the database work,
  bookkeeping).  SQLite's work runs in this process and is counted;
  PostgreSQL's runs in its server and is not.
* ``push_cpu_ms_per_contact``: ``--contacts`` new contacts committed at once,
  then pushed by :func:`flask_qbo.sync.push.push.process` in the runners'
  chunks (a backlog goes in batches of 30: two lookups and one batch create).
* ``pull_cpu_ms_per_event``: each of those customers edited in QuickBooks and
  an inbox event queued for each (what its webhook would queue), then applied
  by :func:`flask_qbo.sync.pull.pull.process` as the runners call it.
* ``push_db_cpu_ms_per_contact`` and ``pull_db_cpu_ms_per_event`` (with
  ``--postgres``): what the same work cost the PostgreSQL server, read from
  its processes (:mod:`benchmarks.pgcpu`; ``null`` when the server is not on
  this machine).  Set against the worker's figures they say how many workers
  busy with that work one PostgreSQL core keeps up with
  (``push_workers_per_db_core``, ``pull_workers_per_db_core``).

Each is measured over ``--rounds`` rounds (the first pays for warming up);
the figures are the medians, each round's beside them (``<figure>_each``).

``python -m benchmarks.worker_cpu [--quick] [--contacts N] [--rounds N] [--postgres URL]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import statistics
import time
import typing as t
import uuid

from benchmarks.machine import python_ms
from benchmarks.pgcpu import ServerCPU
from benchmarks.scale_compare import edit_in_quickbooks
from benchmarks.served import ServedEmulator
from benchmarks.served import crm_app
from flask_qbo.models import Customer
from flask_qbo.models import Inbox
from flask_qbo.models import utcnow
from flask_qbo.runners.thread import PUSH_CHUNK
from flask_qbo.state import get_qbo
from flask_qbo.sync.pull import pull
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import connect_tenant

#: Limits high enough that the emulator never throttles: the figures are CPU, not QBO's allowance.
OPEN_LIMIT = 100_000


def push_round(app: t.Any, contacts: int, round_no: int, db_cpu: ServerCPU | None) -> tuple[float, float | None]:
    """CPU milliseconds per contact to push ``contacts`` new contacts committed at once: the worker's, the server's."""
    from tests.hostapp import Contact
    from tests.hostapp import db

    with app.app_context():
        db.session.add_all(
            Contact(
                tenant="acme", first_name=f"Cpu{round_no}-{i}", last_name="Bench", email=f"c{round_no}-{i}@cpu.test"
            )
            for i in range(contacts)
        )
        db.session.commit()
        server = _start(db_cpu)
        started = time.process_time()
        pushed = 0
        while done := push.process(get_qbo(app), limit=PUSH_CHUNK):
            pushed += done
        spent = time.process_time() - started
        db.session.remove()
    if pushed != contacts:
        raise SystemExit(f"round {round_no}: {pushed} of {contacts} contacts pushed")
    return 1000 * spent / contacts, _per(server, contacts)


def pull_round(
    app: t.Any, server: ServedEmulator, round_no: int, db_cpu: ServerCPU | None
) -> tuple[float, float | None]:
    """CPU milliseconds per event to apply one QuickBooks edit of every linked customer: the worker's, the server's."""
    from tests.hostapp import db

    with app.app_context():
        pairs = [
            (int(key), qbo_id)
            for key, qbo_id in db.session.query(Customer.contact_key, Customer.qbo_id).filter(
                Customer.contact_key.isnot(None)
            )
        ]
        server.call(edit_in_quickbooks, pairs, f"cpu {round_no}")
        db.session.add_all(
            Inbox(
                event_id=uuid.uuid4().hex,
                realm_id=TEST_REALM,
                entity="Customer",
                entity_id=qbo_id,
                operation="Update",
                event_time=utcnow(),
            )
            for _, qbo_id in pairs
        )
        db.session.commit()
        database = _start(db_cpu)
        started = time.process_time()
        while pull.pending_count(get_qbo(app)):
            pull.process(get_qbo(app))
        spent = time.process_time() - started
        db_ms = _per(database, len(pairs))
        left = db.session.query(Inbox).filter(Inbox.status != "done").count()
        db.session.remove()
    if left:
        raise SystemExit(f"round {round_no}: {left} events not applied")
    return 1000 * spent / len(pairs), db_ms


def _start(db_cpu: ServerCPU | None) -> ServerCPU | None:
    if db_cpu is not None:
        db_cpu.start()
    return db_cpu


def _per(db_cpu: ServerCPU | None, units: int) -> float | None:
    """The server's CPU milliseconds per unit since :func:`_start`; ``None`` without a readable server."""
    seconds = db_cpu.seconds() if db_cpu is not None else None
    return None if seconds is None else 1000 * seconds / units


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 3) if known else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 contacts and 3 rounds instead of 300 and 5")
    parser.add_argument("--contacts", type=int, default=None, help="new contacts per push round")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument(
        "--postgres", metavar="URL", help="a scratch schema on this PostgreSQL server; SQLite otherwise"
    )
    args = parser.parse_args(argv)
    logging.disable(logging.ERROR)
    contacts = args.contacts or (100 if args.quick else 300)
    rounds = max(1, args.rounds or (3 if args.quick else 5))

    from tests.hostapp import db

    server = ServedEmulator(rate_per_minute=OPEN_LIMIT, max_concurrent=OPEN_LIMIT)
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        app = crm_app(
            stack,
            server,
            args.postgres,
            QBO_RUNNER="none",
            QBO_RATE_LIMIT_PER_MINUTE=OPEN_LIMIT,
            QBO_MAX_CONCURRENT=OPEN_LIMIT,
        )
        connect_tenant(app, server.emu, "acme", TEST_REALM)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()  # the child gets no database connection of ours
        server.serve()
        db_cpu = ServerCPU() if args.postgres else None  # SQLite's work is in this process, counted already
        pushes = [push_round(app, contacts, n, db_cpu) for n in range(rounds)]
        pulls = [pull_round(app, server, n, db_cpu) for n in range(rounds)]
        with app.app_context():
            db.engine.dispose()
    result = {
        "benchmark": "worker_cpu",
        "database": "postgresql" if args.postgres else "sqlite",
        "contacts": contacts,
        "push_cpu_ms_per_contact": _median([own for own, _ in pushes]),
        "push_cpu_ms_per_contact_each": [round(own, 3) for own, _ in pushes],
        "pull_cpu_ms_per_event": _median([own for own, _ in pulls]),
        "pull_cpu_ms_per_event_each": [round(own, 3) for own, _ in pulls],
        "push_db_cpu_ms_per_contact": _median([db for _, db in pushes]),
        "pull_db_cpu_ms_per_event": _median([db for _, db in pulls]),
        "machine_python_ms": python_ms(),
    }
    for kind, unit in (("push", "contact"), ("pull", "event")):
        own_ms, db_ms = result[f"{kind}_cpu_ms_per_{unit}"], result[f"{kind}_db_cpu_ms_per_{unit}"]
        if own_ms is not None and db_ms:
            result[f"{kind}_workers_per_db_core"] = round(own_ms / db_ms, 1)
    print(
        f"{result['database']}: {result['push_cpu_ms_per_contact']} ms CPU per new contact pushed, "
        f"{result['pull_cpu_ms_per_event']} ms per webhook event applied (medians of {rounds} rounds)"
        + (
            f"; PostgreSQL {result['push_db_cpu_ms_per_contact']} ms and {result['pull_db_cpu_ms_per_event']} ms"
            if result["push_db_cpu_ms_per_contact"] is not None
            else ""
        )
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
