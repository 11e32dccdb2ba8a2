"""Benchmark: render time of the contact widgets over a large mirror, and QBO calls per render.

Builds the test host CRM (``tests.hostapp``) on a temporary SQLite file with
10,000 linked contacts and 100,000 mirrored transactions, connected to an
in-process emulator, then requests the summary card and 50-row pages of the
transactions folder through the Flask test client.  It reports p50/p95 server
time and how many requests reached the emulator (the widgets must make none).

    python -m benchmarks.widget_render            # full size
    python -m benchmarks.widget_render --quick    # 1,000 contacts, 10,000 transactions

The last line printed is JSON, for CI and the docs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import time
import typing as t
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert

from flask_qbo.models import Customer
from flask_qbo.models import Transaction
from flask_qbo.models import utcnow
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator

TARGET_SUMMARY_MS = 15.0
TARGET_TRANSACTIONS_MS = 30.0
PAGE_SIZE = 50
#: A tenth of the rows belong to a few long-history customers, about this many rows each,
#: so the first pages of their folders are full 50-row pages.
ROWS_PER_BIG_CUSTOMER = 200
TYPES = ("Invoice", "Payment", "Estimate", "SalesReceipt", "CreditMemo", "RefundReceipt")
STATUSES = {
    "Invoice": ("open", "paid", "partially_paid", "overdue", "void"),
    "Payment": ("applied", "unapplied"),
    "Estimate": ("pending", "accepted", "closed", "rejected"),
    "SalesReceipt": ("paid",),
    "CreditMemo": ("open", "applied"),
    "RefundReceipt": ("refunded",),
}


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def big_customers(transactions: int) -> int:
    """How many long-history customers a data set of this size has."""
    return max(1, transactions // 10 // ROWS_PER_BIG_CUSTOMER)


def build(app: t.Any, contacts: int, transactions: int, rng: random.Random) -> None:
    """Bulk-insert contacts, linked mirror customers and transactions."""
    from tests.hostapp import Contact
    from tests.hostapp import db

    today = utcnow().date()
    with app.app_context():
        engine_session = db.session
        engine_session.execute(
            insert(Contact), [{"id": i, "tenant": "acme", "first_name": f"Contact {i}"} for i in range(1, contacts + 1)]
        )
        now = utcnow()
        engine_session.execute(
            insert(Customer),
            [
                {
                    "tenant_key": "acme",
                    "realm_id": TEST_REALM,
                    "qbo_id": str(i),
                    "contact_key": str(i),
                    "display_name": f"Customer {i}",
                    "active": True,
                    "terms_name": "Net 30",
                    "payment_method_name": "Check",
                    "delivery_method": "Email",
                    "balance": Decimal(rng.randint(0, 500000)) / 100,
                    "currency": "USD",
                    "taxable": True,
                    "qbo_created_at": now - dt.timedelta(days=rng.randint(30, 3000)),
                    "sync_status": "synced",
                    "last_synced_at": now,
                    "updated_at": now,
                }
                for i in range(1, contacts + 1)
            ],
        )
        big_share = transactions // 10
        big = big_customers(transactions)
        rows: list[dict[str, t.Any]] = []
        for n in range(1, transactions + 1):
            if n <= big_share:
                customer = 1 + n % big
            else:
                customer = rng.randint(1, contacts)
            txn_type = rng.choice(TYPES)
            total = Decimal(rng.randint(100, 500000)) / 100
            txn_date = today - dt.timedelta(days=rng.randint(0, 1500))
            rows.append(
                {
                    "realm_id": TEST_REALM,
                    "txn_type": txn_type,
                    "qbo_id": str(n),
                    "customer_qbo_id": str(customer),
                    "doc_number": str(1000 + n),
                    "txn_date": txn_date,
                    "due_date": txn_date + dt.timedelta(days=30) if txn_type == "Invoice" else None,
                    "total": total,
                    "balance": total if rng.random() < 0.3 else Decimal("0"),
                    "status": rng.choice(STATUSES[txn_type]),
                    "currency": "USD",
                    "deleted": rng.random() < 0.01,
                    "updated_at": now,
                }
            )
            if len(rows) == 10_000:
                engine_session.execute(insert(Transaction), rows)
                rows = []
        if rows:
            engine_session.execute(insert(Transaction), rows)
        engine_session.commit()


def run(quick: bool = False, samples: int | None = None, seed: int = 7) -> dict[str, t.Any]:
    """Build the data set, time the renders and return the figures."""
    from tests.hostapp import ACME_USER
    from tests.hostapp import make_app

    contacts, transactions = (1_000, 10_000) if quick else (10_000, 100_000)
    samples = samples or (100 if quick else 400)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(
            f"sqlite:///{Path(tmp) / 'bench.sqlite'}",
            QBO_TRANSACTIONS_PER_PAGE=PAGE_SIZE,
            TESTING=False,
        )
        emulator = make_emulator()
        attach_emulator(app, emulator)
        connect_tenant(app, emulator, "acme", TEST_REALM)
        started = time.perf_counter()
        build(app, contacts, transactions, rng)
        build_seconds = time.perf_counter() - started

        client = app.test_client()
        assert client.get(f"/_test/login/{ACME_USER}").status_code == 200
        headers = {"HX-Request": "true"}
        for warm in range(1, 21):  # templates compiled, connections pooled
            client.get(f"/qbo/w/{warm}/summary", headers=headers)
            client.get(f"/qbo/w/{warm}/transactions", headers=headers)
        emulator.reset_counters()
        before = sum(c["requests"] for c in emulator.counters.values())

        summary_ms: list[float] = []
        transactions_ms: list[float] = []
        # CPU time of this thread as well as wall time: on a busy machine the wall
        # clock's tail measures the scheduler, the CPU time measures our code.
        summary_cpu: list[float] = []
        transactions_cpu: list[float] = []
        rows_seen: list[int] = []
        for _ in range(samples):
            contact = rng.randint(1, contacts)
            t0, c0 = time.perf_counter(), time.thread_time()
            response = client.get(f"/qbo/w/{contact}/summary", headers=headers)
            summary_ms.append((time.perf_counter() - t0) * 1000)
            summary_cpu.append((time.thread_time() - c0) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"summary for contact {contact} answered {response.status_code}")

            big = rng.randint(1, big_customers(transactions))
            page = rng.randint(1, 3)
            t0, c0 = time.perf_counter(), time.thread_time()
            response = client.get(f"/qbo/w/{big}/transactions?page={page}", headers=headers)
            transactions_ms.append((time.perf_counter() - t0) * 1000)
            transactions_cpu.append((time.thread_time() - c0) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"transactions for contact {big} answered {response.status_code}")
            rows_seen.append(response.get_data(as_text=True).count('<tr class="qbo-row'))
        qbo_calls = sum(c["requests"] for c in emulator.counters.values()) - before

    result = {
        "benchmark": "widget_render",
        "summary_p95_ms": round(_percentile(summary_ms, 95), 2),
        "transactions_p95_ms": round(_percentile(transactions_ms, 95), 2),
        "qbo_calls": qbo_calls,
        "summary_p50_ms": round(statistics.median(summary_ms), 2),
        "transactions_p50_ms": round(statistics.median(transactions_ms), 2),
        "summary_cpu_p95_ms": round(_percentile(summary_cpu, 95), 2),
        "transactions_cpu_p95_ms": round(_percentile(transactions_cpu, 95), 2),
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "rows_per_page": min(rows_seen),
        "contacts": contacts,
        "transactions": transactions,
        "samples": samples,
        "build_seconds": round(build_seconds, 1),
        "targets": {"summary_p95_ms": TARGET_SUMMARY_MS, "transactions_p95_ms": TARGET_TRANSACTIONS_MS, "qbo_calls": 0},
        "quick": quick,
    }
    result["ok"] = (
        result["summary_p95_ms"] <= TARGET_SUMMARY_MS
        and result["transactions_p95_ms"] <= TARGET_TRANSACTIONS_MS
        and qbo_calls == 0
        and result["rows_per_page"] == PAGE_SIZE
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the data and fewer samples")
    parser.add_argument("--samples", type=int, default=None, help="renders timed per widget")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, samples=args.samples)
    print(
        f"summary card     p50 {result['summary_p50_ms']:.2f} ms  p95 {result['summary_p95_ms']:.2f} ms"
        f"  (target {TARGET_SUMMARY_MS:.0f} ms; CPU p95 {result['summary_cpu_p95_ms']:.2f} ms)"
    )
    print(
        f"transactions/50  p50 {result['transactions_p50_ms']:.2f} ms  p95 {result['transactions_p95_ms']:.2f} ms"
        f"  (target {TARGET_TRANSACTIONS_MS:.0f} ms; CPU p95 {result['transactions_cpu_p95_ms']:.2f} ms)"
    )
    print(f"QBO calls during {2 * result['samples']} renders: {result['qbo_calls']}")
    print(json.dumps(result))
    return 0 if result["qbo_calls"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
