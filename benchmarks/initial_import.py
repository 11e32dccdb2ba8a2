"""Initial import of a large company: wall time, QBO requests vs the minimum, peak RSS.

The emulator (in-process) is filled with customers and invoices/payments, then
``flask_qbo.importing.fetch`` pages everything into the mirror and computes match proposals
against a set of CRM contacts.  The minimum request count is one query page
per 1000 rows per entity type (an empty type still costs one page).  Peak RSS
comes from ``resource.getrusage``; the emulator's own data lives in the same
process, so the import's share is reported as the growth during the import.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time

from flask_qbo.importing import fetch
from flask_qbo.models import ImportRun
from flask_qbo.models import ImportStatus
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator


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
    return {entity: len(store.list(TEST_REALM, entity, include_inactive=True)) for entity in fetch.PHASES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 customers / 2,500 transactions")
    args = parser.parse_args()
    customers, transactions = (500, 2500) if args.quick else (10_000, 50_000)

    from tests.hostapp import Contact
    from tests.hostapp import db
    from tests.hostapp import make_app

    emu = make_emulator()
    t0 = time.perf_counter()
    counts = fill(emu, customers, transactions)
    seeded = time.perf_counter() - t0
    app = make_app(f"sqlite:///{tempfile.mkdtemp(prefix='qbo-bench-')}/crm.sqlite")
    attach_emulator(app, emu)
    connect_tenant(app, emu, "acme", TEST_REALM)
    with app.app_context():
        db.session.add_all(
            Contact(tenant="acme", first_name=f"G{i}", email=f"c{i}@bench.test") for i in range(0, customers, 2)
        )
        db.session.commit()
    emu.reset_counters()
    rss_before = rss_mb()
    started = time.perf_counter()
    with app.app_context():
        qbo = get_qbo(app)
        run = fetch.start_import(qbo, "acme")
        while run.status == ImportStatus.FETCHING:
            run = fetch.run_import_step(qbo, run.id, budget=5)
            if run.error:
                raise SystemExit(f"import paused: {run.error}")
        run = db.session.get(ImportRun, run.id)
        made = run.requests_made
    wall = time.perf_counter() - started
    minimum = fetch.minimum_requests(counts) + 1  # + the COUNT for the progress bar
    result = {
        "benchmark": "initial_import",
        "customers": counts["Customer"],
        "transactions": sum(counts[e] for e in fetch.PHASES[3:]),
        "wall_s": round(wall, 2),
        "emulator_seed_s": round(seeded, 2),
        "requests": made,
        "emulator_requests": emu.counters[TEST_REALM]["requests"],
        "minimum_requests": minimum,
        "requests_ratio": round(made / minimum, 3),
        "peak_rss_mb": round(rss_mb(), 1),
        "rss_growth_during_import_mb": round(rss_mb() - rss_before, 1),
        "targets": {"requests_ratio": 1.1, "peak_rss_mb": 300},
    }
    print(
        f"imported {result['customers']} customers / {result['transactions']} transactions in {wall:.1f} s, "
        f"{made} requests (minimum {minimum})"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
