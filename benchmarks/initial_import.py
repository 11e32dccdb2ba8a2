"""Initial import of a large company: wall time, client CPU per 1,000 rows, fetching vs importing, requests, RSS.

The emulator is filled with customers and invoices/payments and served from a
child process on a loopback port, as QuickBooks answers from other machines:
its work never takes the importing process's CPU or interpreter lock.  Then
``flask_qbo.importing.fetch`` pages everything into the mirror over HTTP and
computes match proposals against a set of CRM contacts.  Figures:

* ``client_ms_per_1k_rows``: CPU of the extension per 1,000 rows imported: the
  importing process's CPU during the import (the HTTP client included) minus
  proposing the matches (``proposals_cpu_s``, a separate phase that reads the
  stored customers once).  What is left is receiving and decoding the answers,
  storing them, and the run's bookkeeping.
* ``import_s / fetch_only_s``: the import's wall time over the time to fetch the
  same pages without storing them, in the same run and at the same concurrency
  (the throttle's limit), timed before and after the import (the mean is used).
* ``requests`` vs ``minimum_requests``: one query page per 1000 rows per entity
  type (an empty type still costs one page), plus one request of counts.
* ``driver`` and ``steps``: ``cli`` runs ``flask qbo import``'s steps (``--budget``
  pages each); ``--web`` runs them as the admin page's progress poll does, one
  :func:`~flask_qbo.importing.fetch.poll_step` per poll and a second between
  two polls, so its wall time (pauses included) is what an admin waits.
* ``machine_python_ms``: how fast this machine runs Python (:mod:`benchmarks.machine`),
  to compare CPU figures taken on different machines.
* Peak RSS from ``resource.getrusage``; the emulator's data was built in this
  process before the child was forked, so the import's share is reported as the
  growth during the import.

``--postgres URL`` runs the import against a scratch schema on that server
(created for the run and dropped after); SQLite in a temporary directory otherwise.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import resource
import time
import typing as t

from benchmarks.machine import python_ms
from benchmarks.served import ServedEmulator
from benchmarks.served import crm_app
from flask_qbo.cli import IMPORT_STEP_PAGES
from flask_qbo.importing import fetch
from flask_qbo.intuit.app_client import realm_client
from flask_qbo.intuit.auth import BorrowedToken
from flask_qbo.intuit.auth import access_token
from flask_qbo.models import Connection
from flask_qbo.models import ImportRun
from flask_qbo.models import ImportStatus
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import connect_tenant

PAGE = 1000


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(emu: object, customers: int, transactions: int) -> dict[str, int]:
    """Bulk-load the company the way a snapshot restore does (see ``emulator.seed.load``).

    One customer, invoice and payment are created through the store to get
    QBO-shaped objects; copies with fresh ids go straight into the company's
    tables, because ``store.create`` checks name uniqueness against every
    customer and seeding speed is not what is measured.
    """
    store = emu.store  # type: ignore[attr-defined]
    first = store.create(TEST_REALM, "Customer", {"DisplayName": "Template", "GivenName": "G"})
    line = [{"Amount": 40, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]
    templates = {
        "Invoice": store.create(TEST_REALM, "Invoice", {"CustomerRef": {"value": first["Id"]}, "Line": line}),
        "Payment": store.create(TEST_REALM, "Payment", {"CustomerRef": {"value": first["Id"]}, "TotalAmt": 5}),
    }
    invoices = transactions * 4 // 5
    with store.lock:
        company = store.company(TEST_REALM)
        table = company.table("Customer")
        for i in range(2, customers + 1):
            table[str(i)] = dict(
                first,
                Id=str(i),
                DisplayName=f"Customer {i}",
                GivenName=f"G{i}",
                FullyQualifiedName=f"Customer {i}",
                PrimaryEmailAddr={"Address": f"c{i}@bench.test"},
            )
        for entity, count in (("Invoice", invoices), ("Payment", transactions - invoices)):
            table = company.table(entity)
            for i in range(2, count + 1):
                ref = {"value": str(1 + i % customers)}
                table[str(i)] = dict(templates[entity], Id=str(i), DocNumber=str(1000 + i), CustomerRef=ref)
        for entity, size in (("Customer", customers), ("Invoice", invoices), ("Payment", transactions - invoices)):
            company.next_ids[entity] = size + 1
        return {entity: len(company.table(entity)) for entity in fetch.PHASES}


def page_statements(counts: dict[str, int]) -> list[str]:
    """The page queries the import sends: a full page is followed by another, as its cursor moves."""
    statements = []
    for entity in fetch.PHASES:
        where = " WHERE Active IN (true, false)" if entity in ("Term", "PaymentMethod", "Customer") else ""
        for n in range(counts[entity] // PAGE + 1):
            statements.append(f"SELECT * FROM {entity}{where} STARTPOSITION {1 + n * PAGE} MAXRESULTS {PAGE}")
    return statements


def fetch_only(app: t.Any, statements: list[str]) -> float:
    """Seconds to fetch ``statements`` through the extension's client at the throttle's concurrency, storing nothing."""
    from flask_qbo.intuit.throttle import throttle_for

    with app.app_context():
        qbo = get_qbo(app)
        conn = qbo.state(app).session.query(Connection).filter_by(tenant_key="acme").one()
        client = realm_client(qbo, str(conn.realm_id), BorrowedToken(access_token(qbo, conn, app=app)), app=app)
        window = throttle_for(app).limits.concurrent

    def one(statement: str) -> int:
        with app.app_context():
            return len(client.query_page(statement))

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=window) as pool:
        list(pool.map(one, statements))
    return time.perf_counter() - started


class ProposalClock:
    """CPU spent proposing matches (the last step's work after the pages), kept apart from fetching and storing."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.real = fetch._propose_matches

    def __call__(self, *args: t.Any) -> None:
        started = time.thread_time()
        try:
            self.real(*args)
        finally:
            self.cpu += time.thread_time() - started


#: Seconds between two progress polls of the admin page (its ``hx-trigger="every 1s"``).
POLL_PAUSE_S = 1.0


def run_import(app: t.Any, budget: int, web: bool = False) -> tuple[ImportRun, int]:
    """The finished run and the steps it took: ``flask qbo import``'s steps of ``budget`` pages,
    or with ``web`` the admin page's progress polls (:func:`fetch.poll_step`, a pause between two)."""
    from tests.hostapp import db

    steps = 0
    with app.app_context():
        qbo = get_qbo(app)
        run = fetch.start_import(qbo, "acme")
        while run.status == ImportStatus.FETCHING:
            if web and steps:
                time.sleep(POLL_PAUSE_S)
            run = fetch.poll_step(qbo, run.id) if web else fetch.run_import_step(qbo, run.id, budget=budget)
            steps += 1
            if run.error:
                raise SystemExit(f"import paused: {run.error}")
        run = db.session.get(ImportRun, run.id)
        db.session.expunge(run)
        return run, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 customers / 2,500 transactions")
    parser.add_argument(
        "--budget",
        type=int,
        default=IMPORT_STEP_PAGES,
        help=f"pages per import step (flask qbo import: {IMPORT_STEP_PAGES})",
    )
    parser.add_argument(
        "--web",
        action="store_true",
        help=f"steps as the admin page's progress poll runs them, {POLL_PAUSE_S:g} s apart (--budget is ignored)",
    )
    parser.add_argument("--postgres", metavar="URL", help="import into a scratch schema on this PostgreSQL server")
    args = parser.parse_args()
    customers, transactions = (500, 2500) if args.quick else (10_000, 50_000)

    from tests.hostapp import Contact
    from tests.hostapp import db

    served = ServedEmulator()
    emu = served.emu
    t0 = time.perf_counter()
    counts = fill(emu, customers, transactions)
    seeded = time.perf_counter() - t0
    with contextlib.ExitStack() as stack:
        stack.callback(served.stop)
        app = crm_app(stack, served, args.postgres)
        connect_tenant(app, emu, "acme", TEST_REALM)
        with app.app_context():
            db.session.add_all(
                Contact(tenant="acme", first_name=f"G{i}", email=f"c{i}@bench.test") for i in range(0, customers, 2)
            )
            db.session.commit()
            db.session.remove()
            db.engine.dispose()  # the child gets no database connection of ours
        served.serve()
        statements = page_statements(counts)
        fetch_before = fetch_only(app, statements)
        served.control("POST", "reset-counters")
        rss_before = rss_mb()
        proposals = ProposalClock()
        fetch._propose_matches = proposals  # type: ignore[assignment]  # timed, unchanged
        cpu_before = time.process_time()
        started = time.perf_counter()
        run, steps = run_import(app, args.budget, web=args.web)
        wall = time.perf_counter() - started
        client_cpu = (time.process_time() - cpu_before) - proposals.cpu
        fetch._propose_matches = proposals.real  # type: ignore[assignment]
        emulator_requests = served.control("GET", "counters")[TEST_REALM]["requests"]
        fetch_after = fetch_only(app, statements)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    rows = counts["Customer"] + sum(counts[e] for e in fetch.PHASES[3:])
    fetch_s = (fetch_before + fetch_after) / 2
    minimum = fetch.minimum_requests(counts) + 1  # + the request that counts rows for the progress bar
    result = {
        "benchmark": "initial_import",
        "database": "postgresql" if args.postgres else "sqlite",
        "driver": "web" if args.web else "cli",
        "steps": steps,
        "customers": counts["Customer"],
        "transactions": rows - counts["Customer"],
        "wall_s": round(wall, 2),
        "client_ms_per_1k_rows": round(client_cpu * 1000 / rows * 1000, 1),
        "proposals_cpu_s": round(proposals.cpu, 2),
        "machine_python_ms": python_ms(),
        "fetch_only_s": round(fetch_s, 2),
        "import_over_fetch_only": round(wall / fetch_s, 2),
        "emulator_seed_s": round(seeded, 2),
        "requests": run.requests_made,
        "emulator_requests": emulator_requests,
        "minimum_requests": minimum,
        "requests_ratio": round(run.requests_made / minimum, 3),
        "peak_rss_mb": round(rss_mb(), 1),
        "rss_growth_during_import_mb": round(rss_mb() - rss_before, 1),
        "targets": {
            "client_ms_per_1k_rows": 60,
            "import_over_fetch_only": 1.5,
            "requests_ratio": 1.1,
            "peak_rss_mb": 300,
        },
    }
    print(
        f"imported {result['customers']} customers / {result['transactions']} transactions in {wall:.1f} s "
        f"({result['database']}), {run.requests_made} requests (minimum {minimum}); "
        f"client {result['client_ms_per_1k_rows']} ms CPU per 1,000 rows; fetching alone {fetch_s:.1f} s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
