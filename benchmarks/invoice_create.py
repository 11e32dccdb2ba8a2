"""Commit → invoice in QuickBooks: how soon a saved invoice exists in QBO, and that lost answers never duplicate it.

The CRM (the test suite's host app on SQLite, the thread runner) has a handful
of contacts linked to customers of an in-process emulator.  The benchmark then
saves invoices one after the other, as the New invoice form does
(:func:`flask_qbo.billing.documents.queue_document`, commit, wake the runner),
at a steady pace (``--pace``, one every 0.25 s: a busy sales team, not a
bulk import, which would queue behind itself on one runner thread).  A transport wrapper lets the emulator execute a share of the
invoice creates (``--timeouts``, 10 % by default) and then loses the answer,
as a timeout after QBO did the work would: the row's retry carries the same
``requestid``, so QBO (the emulator) answers with the invoice it already made.

Figures (one JSON line, ``{"benchmark": "invoice_create", ...}``):

* ``p50_ms`` / ``p95_ms``: from the commit of the saved invoice to the moment
  the emulator created it (the invoice exists in QuickBooks);
* ``p95_created_ms``: from the commit to the CRM's document showing QBO's
  number (``created``), which for a lost answer includes the retry's backoff;
* ``duplicates``: invoices in QBO beyond one per saved document (each document
  is recognised by its customer memo); ``lost``: saved documents with no
  invoice in QBO or not ``created`` in the CRM once the outbox is drained;
* ``timeouts_injected``.

``python -m benchmarks.invoice_create [--quick] [--invoices N] [--timeouts F]``
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import tempfile
import threading
import time
import typing as t
from decimal import Decimal
from urllib.parse import parse_qs

import requests

from flask_qbo import signals
from flask_qbo.billing.catalog import Catalog
from flask_qbo.billing.documents import queue_document
from flask_qbo.billing.draft import Draft
from flask_qbo.billing.draft import DraftLine
from flask_qbo.emulator import WSGIAdapter
from flask_qbo.models import Customer
from flask_qbo.models import Document
from flask_qbo.models import DocumentState
from flask_qbo.models import Item
from flask_qbo.models import Outbox
from flask_qbo.runners import thread as runner
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator

CONTACTS = 10


class LossyInvoices(WSGIAdapter):
    """The in-process transport: notes when each invoice create was executed, and loses some answers after it."""

    def __init__(self, wsgi_app: t.Any, share: float, seed: int) -> None:
        super().__init__(wsgi_app)
        self.share = share
        self.random = random.Random(seed)
        self.executed: dict[str, float] = {}
        self.lost = 0
        self._lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, *args: t.Any, **kwargs: t.Any) -> requests.Response:
        response = super().send(request, *args, **kwargs)
        url = str(request.url)
        if request.method != "POST" or "/invoice?" not in url or response.status_code != 200:
            return response
        request_id = parse_qs(url.split("?", 1)[1]).get("requestid", [""])[0]
        with self._lock:
            first = request_id not in self.executed
            if first:
                self.executed[request_id] = time.perf_counter()
            lose = first and self.random.random() < self.share
            self.lost += lose
        if lose:
            raise requests.Timeout("the benchmark lost QuickBooks' answer after the invoice was made")
        return response


def _setup(share: float, seed: int) -> tuple[t.Any, t.Any, LossyInvoices]:
    from tests.hostapp import Contact
    from tests.hostapp import db
    from tests.hostapp import make_app

    emu = make_emulator()
    app = make_app(f"sqlite:///{tempfile.mkdtemp(prefix='qbo-invoices-')}/crm.sqlite", QBO_RUNNER="none")
    attach_emulator(app, emu)
    transport = LossyInvoices(emu.app, share, seed)
    get_qbo(app).mount_transport(emu.config.base_url.rstrip("/"), transport, app)
    connect_tenant(app, emu, "acme", TEST_REALM)
    # The company's first service (every emulator company has one); its price is the form's to set.
    item = next(i for i in emu.store.list(TEST_REALM, "Item") if i.get("Type") == "Service")
    with app.app_context():
        db.session.add(
            Item(
                realm_id=TEST_REALM,
                qbo_id=str(item["Id"]),
                name="Consulting hour",
                type="Service",
                unit_price=Decimal(75),
            )
        )
        db.session.add_all(
            Contact(tenant="acme", first_name=f"Buyer{n}", last_name="Bench", email=f"buyer{n}@bench.test")
            for n in range(CONTACTS)
        )
        db.session.commit()
    return app, emu, transport


def _linked_contacts(app: t.Any) -> list[str]:
    """Push the contacts and wait until each is linked to its customer (before anything is timed)."""
    from tests.hostapp import db

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with app.app_context():
            keys = [k for (k,) in db.session.query(Customer.contact_key).filter(Customer.contact_key.isnot(None))]
            db.session.commit()
        if len(keys) >= CONTACTS:
            return sorted(keys)
        time.sleep(0.05)
    raise SystemExit("the contacts were not linked within 60 s")


def _draft(n: int, item_id: str) -> Draft:
    qty = Decimal(1 + n % 4)
    price = Decimal("75.00")
    return Draft(
        kind="Invoice",
        lines=(DraftLine(item_id, "Consulting", qty, price, qty * price, None),),
        customer_memo=f"bench-invoice-{n}",
    )


def run(invoices: int, share: float, pace_s: float, seed: int) -> dict[str, t.Any]:
    from tests.hostapp import db

    app, emu, transport = _setup(share, seed)
    loop = runner.ThreadRunner(app, poll_interval=0.5)
    announced: dict[str, float] = {}

    def note_created(sender: t.Any, qbo_id: str, **_: t.Any) -> None:
        announced[str(qbo_id)] = time.perf_counter()

    signals.document_created.connect(note_created, app)
    loop.wake()
    try:
        contacts = _linked_contacts(app)
        committed: dict[int, float] = {}
        with app.app_context():
            catalog = Catalog.load(db.session, TEST_REALM)
            item_id = next(iter(catalog.items))
            for n in range(invoices):
                doc = queue_document(
                    db.session,
                    tenant_key="acme",
                    realm_id=TEST_REALM,
                    contact_key=contacts[n % len(contacts)],
                    draft=_draft(n, item_id),
                    catalog=catalog,
                    created_by="bench",
                )
                db.session.commit()
                committed[doc.id] = time.perf_counter()
                loop.wake()
                time.sleep(pace_s)
            created = _wait_created(db, committed, announced, deadline=time.monotonic() + 120)
            uuids = {
                int((row.target or {})["document_id"]): row.uuid
                for row in db.session.query(Outbox).filter(Outbox.op == "create_doc")
            }
            states = dict(db.session.query(Document.id, Document.state))
            db.session.commit()
    finally:
        loop.stop()
        signals.document_created.disconnect(note_created, app)
    exists = sorted(
        (transport.executed[uuids[doc_id]] - committed[doc_id]) * 1000
        for doc_id in committed
        if uuids.get(doc_id) in transport.executed
    )
    made = sorted((created[doc_id] - committed[doc_id]) * 1000 for doc_id in created)
    memos = collections.Counter(
        (invoice.get("CustomerMemo") or {}).get("value") for invoice in emu.store.list(TEST_REALM, "Invoice")
    )
    wanted = {f"bench-invoice-{n}" for n in range(invoices)}
    return {
        "benchmark": "invoice_create",
        "invoices": invoices,
        "timeouts_injected": transport.lost,
        "p50_ms": _pct(exists, 0.50),
        "p95_ms": _pct(exists, 0.95),
        "p95_created_ms": _pct(made, 0.95),
        "duplicates": sum(count - 1 for memo, count in memos.items() if memo in wanted and count > 1),
        "lost": len(wanted - set(memos)) + sum(1 for state in states.values() if state != DocumentState.CREATED),
        "target_p95_ms": 300,
    }


def _wait_created(
    db: t.Any, committed: dict[int, float], announced: dict[str, float], deadline: float
) -> dict[int, float]:
    """Wait until every document is ``created`` (or time runs out); when each was announced as created.

    ``announced`` (QBO id → time) is filled by a ``document_created`` receiver, which
    runs right after the push's commit, so the time is the CRM's, not this loop's.
    """
    while time.monotonic() < deadline:
        pending = db.session.query(Document.id).filter(Document.state != DocumentState.CREATED).count()
        db.session.commit()
        if not pending:
            break
        time.sleep(0.05)
    made = dict(db.session.query(Document.id, Document.qbo_id).filter(Document.id.in_(list(committed))))
    db.session.commit()
    return {doc_id: announced[qbo_id] for doc_id, qbo_id in made.items() if qbo_id in announced}


def _pct(values: list[float], q: float) -> float | None:
    return round(values[min(len(values) - 1, int(len(values) * q))], 1) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 invoices instead of 500")
    parser.add_argument("--invoices", type=int, default=None)
    parser.add_argument("--timeouts", type=float, default=0.1, help="share of invoice creates whose answer is lost")
    parser.add_argument("--pace", type=float, default=0.25, help="seconds between two saved invoices")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    invoices = args.invoices or (100 if args.quick else 500)
    figures = run(invoices, args.timeouts, args.pace, args.seed)
    print(
        f"{figures['invoices']} invoices, {figures['timeouts_injected']} answers lost: commit → invoice in QBO "
        f"p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms (CRM shows it: p95 {figures['p95_created_ms']} ms); "
        f"{figures['duplicates']} duplicates, {figures['lost']} lost",
        file=sys.stderr,
    )
    print(json.dumps(figures))
    return 0 if figures["duplicates"] == 0 and figures["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
