"""The import's storing alone: CPU per 1,000 rows to put pages already in memory into the mirror.

``initial_import``'s ``client_ms_per_1k_rows`` also counts receiving and
parsing the answers, and it moves by several milliseconds from run to run as
the page threads and the emulator's process share the machine.  Here the same
company's pages (10,000 customers, 50,000 invoices and payments; ``--quick``
a tenth) are read from the emulator once, as parsed JSON, and stored through
the import's own page path (``bulk.upsert_customers``,
``milestones.upsert_page_noticed``, a commit per page) into a fresh database,
``--runs`` times in one process.  The best run is the figure: storing is the
part of the import a change to the mirror code moves, and the best of several
runs is the least disturbed by the rest of the machine.

Prints one JSON line ``{"benchmark": "import_store", "store_ms_per_1k_rows": ...}``
with every run's figure and ``machine_python_ms`` (:mod:`benchmarks.machine`).

``python -m benchmarks.import_store [--quick] [--runs N] [--postgres URL]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
import typing as t

import orjson

from benchmarks.initial_import import fill
from benchmarks.machine import python_ms
from flask_qbo.models import Connection
from flask_qbo.models import qbo_today
from flask_qbo.sync.pull import bulk
from flask_qbo.sync.pull import milestones
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator

PAGE = 1000


def company_pages(customers: int, transactions: int) -> tuple[t.Any, dict[str, list[list[dict[str, t.Any]]]]]:
    """The emulator holding the company, and its entities as pages of parsed JSON, per entity type."""
    emu = make_emulator()
    fill(emu, customers, transactions)
    pages: dict[str, list[list[dict[str, t.Any]]]] = {}
    for entity in ("Customer", "Invoice", "Payment"):
        rows = orjson.loads(orjson.dumps(emu.store.list(TEST_REALM, entity)))  # as an answer parses
        pages[entity] = [rows[i : i + PAGE] for i in range(0, len(rows), PAGE)]
    return emu, pages


def store_once(url: str, emu: t.Any, pages: dict[str, list[list[dict[str, t.Any]]]]) -> tuple[float, int]:
    """CPU seconds to store every page into a fresh database at ``url``, and the rows stored."""
    from tests.hostapp import db
    from tests.hostapp import make_app

    app = make_app(url)
    connect_tenant(app, emu, "acme", TEST_REALM)
    with app.app_context():
        session = db.session
        conn = session.query(Connection).filter_by(tenant_key="acme").one()
        tenant, realm = conn.tenant_key, str(conn.realm_id)
        rows = 0
        started = time.process_time()
        for page in pages["Customer"]:
            bulk.upsert_customers(session, conn, page)
            session.commit()
            rows += len(page)
        for entity in ("Invoice", "Payment"):
            for page in pages[entity]:
                milestones.upsert_page_noticed(session, tenant, realm, entity, page, qbo_today())
                session.commit()
                rows += len(page)
        cpu = time.process_time() - started
        session.remove()
        db.engine.dispose()
    return cpu, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 customers / 5,000 transactions")
    parser.add_argument("--runs", type=int, default=3, help="fresh databases stored into; the best counts")
    parser.add_argument("--postgres", metavar="URL", help="store into scratch schemas on this PostgreSQL server")
    args = parser.parse_args()
    customers, transactions = (1_000, 5_000) if args.quick else (10_000, 50_000)

    from tests.pg import postgres_schema

    emu, pages = company_pages(customers, transactions)
    figures = []
    for _ in range(max(1, args.runs)):
        with contextlib.ExitStack() as stack:
            if args.postgres:
                url, _schema = stack.enter_context(postgres_schema(args.postgres, prefix="qbo_bench"))
            else:
                url = f"sqlite:///{stack.enter_context(tempfile.TemporaryDirectory())}/crm.sqlite"
            cpu, rows = store_once(url, emu, pages)
        figures.append(round(cpu * 1000 / rows * 1000, 1))
    result = {
        "benchmark": "import_store",
        "database": "postgresql" if args.postgres else "sqlite",
        "rows": rows,
        "store_ms_per_1k_rows": min(figures),
        "runs_ms_per_1k_rows": figures,
        "machine_python_ms": python_ms(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
