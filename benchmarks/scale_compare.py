"""Thread runner on SQLite vs two Celery workers on PostgreSQL, side by side in one run.

Both setups talk to the same kind of emulator, served over real HTTP on
loopback from a process of its own (:class:`benchmarks.served.ServedEmulator`:
QuickBooks' work never takes the CRM's CPU or interpreter lock) with a fixed
latency per API call (``--latency``, a stand-in for the round trip to
Intuit).  Its webhooks reach the host app over HTTP too, served from a thread
of the benchmark's process as a CRM's web server would receive them
(:class:`benchmarks.served.CRMServer`).  Both setups run the same two workloads:

* **push burst**: N contacts created, one commit each (as N web requests
  would), until every one is linked to its QBO customer;
* **webhook ingest**: every one of those customers edited in QBO, until the
  webhooks have brought each edit to its contact;
* **backlog**: N more contacts committed with the runner held back, then
  pushed after one wake-up.

The emulator's throttle is raised out of the way so the figures show the
engine, not QBO's 500 requests a minute per company (which bounds any setup
for one company; several workers pay off across companies and against
latency).  Both setups run ``--runs`` times (3; ``--quick`` once), each time
from scratch: one run's figures swing by a third on a 2-core machine where
the workers, PostgreSQL, the emulator and the benchmark's own commits share
the cores.  Prints a summary per setup and run, and one JSON line
``{"benchmark": "scale_compare", ...}`` whose figures are the medians over
the runs (each run's beside them, ``<figure>_each``, and every run's
figures under ``runs``).  Without PostgreSQL or Redis the Celery side is
reported as skipped.

The figures issue 16 sets targets for, at the top level of that line:

* ``push_ratio`` and ``ingest_ratio``: the thread runner's seconds over the
  Celery workers' for each workload (above 1: Celery is faster).  A
  workload's seconds end at its last sync-log entry (written in the
  transaction that settled the row), not at the benchmark's next look, which
  comes every 50 ms;
* ``drain_ratio``: the same for the push burst's time after its last commit
  (``drain_seconds``): the commits themselves are the benchmark's;
* ``backlog_ratio``: the same for N more contacts committed while the
  runner's wake-ups are held back, then pushed after one wake-up
  (``backlog_seconds``, webhooks off): the runners alone on the same work.
  The thread runner's own timer may start on the backlog early, which only
  makes it faster.  ``backlog_commit_seconds`` (per setup) is how long those
  N commits took with the runner held back: against the burst's
  ``commit_seconds`` it shows how much the workers, QBO's webhooks and the
  emulator slowed the benchmark's own commits during the burst;
* ``sql_per_change``: SQL statements the workers' pull tasks executed (claims,
  reads, writes, bookkeeping; an ``executemany`` counts once) per change they
  applied during the ingest;
* ``empty_task_pct``: push and pull tasks that claimed no row (no outbox row,
  no inbox event), in percent of all the tasks the workers ran (both
  workloads).  A pull task also gives the outbox turns, so one woken by the
  burst's own webhooks may push rows and change nothing: it is not empty.

The workers count these themselves (:func:`tests.integration.celery_app.record_task_stats`).

``python -m benchmarks.scale_compare [--quick] [--contacts N] [--runs N] [--latency S]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import typing as t
from pathlib import Path
from unittest import mock

from sqlalchemy import func
from sqlalchemy import select

from benchmarks.served import CRMServer
from benchmarks.served import ServedEmulator
from flask_qbo.models import Customer
from flask_qbo.models import Outbox
from flask_qbo.models import SyncLog
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import connect_tenant

#: Limits high enough that the emulator never throttles either setup.
OPEN_LIMIT = 100_000
#: The figures of the final line: the median over the runs, each run's beside it.
FIGURES = ("push_ratio", "ingest_ratio", "drain_ratio", "backlog_ratio", "sql_per_change", "empty_task_pct")


def _start_webhooks(emu: t.Any, url: str) -> None:
    emu.webhooks.configure(url=url)
    emu.webhooks.start()
    emu.reset_counters()


def _stop_webhooks(emu: t.Any) -> None:
    emu.webhooks.stop()


def edit_in_quickbooks(emu: t.Any, pairs: list[tuple[int, str]], prefix: str = "ingest") -> None:
    """Each customer's Notes edited "in QuickBooks" to ``"<prefix> <contact id>"``: what the webhook ingest brings back.

    Run on the emulator's process (:meth:`ServedEmulator.call`); :mod:`benchmarks.worker_cpu` edits with it too.
    """
    for contact_id, qbo_id in pairs:
        current = emu.store.read(TEST_REALM, "Customer", qbo_id)
        emu.store.update(
            TEST_REALM,
            "Customer",
            {"Id": qbo_id, "SyncToken": current["SyncToken"], "sparse": True, "Notes": f"{prefix} {contact_id}"},
        )


def _names_and_counters(emu: t.Any) -> tuple[list[str], dict[str, int]]:
    """Every customer's DisplayName, and the company's request counters."""
    customers = emu.store.list(TEST_REALM, "Customer", include_inactive=True)
    return [str(c["DisplayName"]) for c in customers], dict(emu.counters[TEST_REALM])


def _wait(check: t.Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _last_settled(app: t.Any, direction: str, since: dt.datetime, waited: float) -> float:
    """Seconds from ``since`` to the last ``direction`` sync-log entry after it (``waited`` if there is none).

    The wait polls every 50 ms, a tenth of a webhook ingest: the log's entries,
    written in the transaction that settles each row, say when the last one
    really settled, on either setup.
    """
    from tests.hostapp import db

    with app.app_context():
        last = db.session.scalar(
            select(func.max(SyncLog.created_at)).where(SyncLog.direction == direction, SyncLog.created_at >= since)
        )
        db.session.commit()
    return waited if last is None else min(waited, (last - since).total_seconds())


def workloads(
    app: t.Any, server: ServedEmulator, contacts: int, timeout: float, stats: t.Callable[[], dict[str, int]] = dict
) -> dict[str, t.Any]:
    """Run the push burst, then the webhook ingest, against ``app``; return the figures.

    ``stats()`` reads the workers' task counters; they are taken after each workload.
    """
    with CRMServer(app) as crm:
        return _workloads(app, server, crm, contacts, timeout, stats)


def _workloads(
    app: t.Any,
    server: ServedEmulator,
    crm: CRMServer,
    contacts: int,
    timeout: float,
    stats: t.Callable[[], dict[str, int]],
) -> dict[str, t.Any]:
    from tests.hostapp import Contact
    from tests.hostapp import db

    before = stats()
    server.call(_start_webhooks, f"{crm.url}/qbo/webhooks")

    def linked() -> int:
        with app.app_context():
            count = db.session.query(Customer).filter(Customer.contact_key.isnot(None)).count()
            busy = db.session.query(Outbox).filter(Outbox.status.in_(("pending", "in_progress"))).count()
            db.session.commit()
            return count if not busy else -1

    started, since = time.monotonic(), utcnow()
    with app.app_context():
        for i in range(contacts):
            db.session.add(Contact(tenant="acme", first_name=f"Bench{i}", last_name="Scale", email=f"b{i}@bench.test"))
            db.session.commit()
    commit_seconds = time.monotonic() - started
    pushed = _wait(lambda: linked() == contacts, timeout)
    push_seconds = _last_settled(app, "push", since, time.monotonic() - started)
    after_push = stats()

    with app.app_context():
        pairs = [
            (int(c.contact_key), c.qbo_id) for c in db.session.query(Customer).filter(Customer.contact_key.isnot(None))
        ]
        db.session.commit()
    started, since = time.monotonic(), utcnow()
    server.call(edit_in_quickbooks, pairs)

    def ingested() -> int:
        with app.app_context():
            expected = "ingest " + db.cast(Contact.id, db.String)
            count = db.session.query(Contact).filter(Contact.notes == expected).count()
            db.session.commit()
            return count

    pulled = _wait(lambda: ingested() == len(pairs), timeout)
    ingest_seconds = _last_settled(app, "pull", since, time.monotonic() - started)
    server.call(_stop_webhooks)

    after_ingest = stats()
    names, counters = server.call(_names_and_counters)
    lost = contacts - ingested()

    runner = get_qbo(app).state(app).runner
    assert runner is not None, "both setups attach a runner"
    backlog_started = time.monotonic()
    with mock.patch.object(runner, "wake"):  # the backlog is committed before any worker looks
        with app.app_context():
            for i in range(contacts):
                db.session.add(
                    Contact(tenant="acme", first_name=f"Backlog{i}", last_name="Scale", email=f"k{i}@bench.test")
                )
                db.session.commit()
    backlog_commit_seconds = time.monotonic() - backlog_started
    started, since = time.monotonic(), utcnow()
    runner.wake()
    backlog_done = _wait(lambda: linked() == 2 * contacts, timeout)
    backlog_seconds = _last_settled(app, "push", since, time.monotonic() - started)
    return {
        "commit_seconds": round(commit_seconds, 2),
        "push_seconds": round(push_seconds, 2),
        "pushes_per_second": round(contacts / push_seconds, 1),
        "push_complete": pushed,
        "drain_seconds": round(push_seconds - commit_seconds, 2),
        "ingest_seconds": round(ingest_seconds, 2),
        "ingests_per_second": round(len(pairs) / ingest_seconds, 1),
        "ingest_complete": pulled,
        "requests": counters["requests"],
        "http_429": counters["throttled"],
        "duplicates": len(names) - len(set(names)) + max(len(names) - contacts, 0),
        "lost": lost,
        "backlog_seconds": round(backlog_seconds, 2),
        "backlog_commit_seconds": round(backlog_commit_seconds, 2),
        "backlog_complete": backlog_done,
        **_task_figures(before, after_push, after_ingest),
    }


def _task_figures(before: dict[str, int], after_push: dict[str, int], after_ingest: dict[str, int]) -> dict[str, t.Any]:
    """Tasks run and found empty, and the ingest's statements per change, from the workers' counters."""
    if not after_ingest:
        return {}

    def during_ingest(name: str) -> int:
        return after_ingest.get(name, 0) - after_push.get(name, 0)

    def during_both(name: str) -> int:
        return after_ingest.get(name, 0) - before.get(name, 0)

    tasks = during_both("push_tasks") + during_both("pull_tasks")
    empty = during_both("push_empty") + during_both("pull_empty")
    return {
        "tasks": {kind: during_both(f"{kind}_tasks") for kind in ("push", "pull")},
        "empty_tasks": {kind: during_both(f"{kind}_empty") for kind in ("push", "pull")},
        "empty_task_pct": round(100.0 * empty / max(tasks, 1), 1),
        "ingest_statements": during_ingest("pull_sql"),
        "ingest_changes": during_ingest("pull_done"),
        "sql_per_change": round(during_ingest("pull_sql") / max(during_ingest("pull_done"), 1), 2),
    }


def thread_sqlite(contacts: int, latency: float, timeout: float) -> dict[str, t.Any]:
    from flask_qbo.runners import thread as runner
    from tests.hostapp import make_app

    folder = tempfile.mkdtemp(prefix="qbo-scale-")
    server = ServedEmulator(rate_per_minute=OPEN_LIMIT, max_concurrent=OPEN_LIMIT)
    server.emu.faults.add_latency(latency, path_contains="/v3/")
    app = make_app(
        f"sqlite:///{Path(folder) / 'crm.sqlite'}",
        QBO_RUNNER="thread",
        QBO_EMULATOR_URL=server.url,
        QBO_WEBHOOK_VERIFIER_TOKEN=server.emu.config.webhook_verifier_token,
        QBO_RATE_LIMIT_PER_MINUTE=OPEN_LIMIT,
        QBO_MAX_CONCURRENT=OPEN_LIMIT,
    )
    connect_tenant(app, server.emu, "acme", TEST_REALM)
    _dispose(app)
    server.serve()
    try:
        return workloads(app, server, contacts, timeout)
    finally:
        runner.stop(app)
        server.stop()


def _dispose(app: t.Any) -> None:
    """Close the app's database connections: the emulator's child is about to get a copy of every open socket."""
    from tests.hostapp import db

    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


def celery_postgres(contacts: int, latency: float, timeout: float, postgres: str, redis_url: str) -> dict[str, t.Any]:
    import uuid

    import redis

    from flask_qbo.runners.celery import PULL_TASK
    from flask_qbo.runners.celery import PUSH_TASK
    from flask_qbo.runners.celery import wake_slots
    from flask_qbo.runners.debounce import RedisSlots
    from tests.integration.services import celery_stack

    stats_key = f"qbo-bench:stats:{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(redis_url)

    def counters(app: t.Any) -> t.Callable[[], dict[str, int]]:
        slots = wake_slots(app)
        assert isinstance(slots, RedisSlots), slots

        def stats() -> dict[str, int]:
            """The workers' counters once no task is queued or running (a task counts when it ends)."""
            _wait(lambda: not client.exists(slots.key(PUSH_TASK), slots.key(PULL_TASK)), 30.0)
            time.sleep(0.2)  # the last task's counters follow its slot's release
            return {k.decode(): int(v) for k, v in client.hgetall(stats_key).items()}

        return stats

    server = ServedEmulator(rate_per_minute=OPEN_LIMIT, max_concurrent=OPEN_LIMIT)
    try:
        with celery_stack(
            postgres_url=postgres,
            redis_url=redis_url,
            log_dir=Path(tempfile.mkdtemp(prefix="qbo-scale-celery-")),
            prefix="qbo-bench",
            client_per_window=OPEN_LIMIT,
            client_concurrent=OPEN_LIMIT,
            latency=latency,
            stats_key=stats_key,
            server=server,
        ) as (app, _server, _workers):
            _dispose(app)
            server.serve()
            return workloads(app, server, contacts, timeout, counters(app))
    finally:
        server.stop()
        client.delete(stats_key)
        client.close()


def _services(postgres: str, redis_url: str) -> str | None:
    """``None`` when PostgreSQL and Redis answer, else why not."""
    try:
        import redis
        import sqlalchemy as sa

        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
        engine = sa.create_engine(postgres)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"{type(exc).__name__}: {exc}"
    return None


def compare(contacts: int, latency: float, timeout: float, postgres: str, redis_url: str) -> dict[str, t.Any]:
    """One run of both setups; the figures of each and, with the Celery side there, the ratios."""
    result: dict[str, t.Any] = {"thread_sqlite": thread_sqlite(contacts, latency, timeout)}
    missing = _services(postgres, redis_url)
    if missing:
        result["celery_postgres"] = {"skipped": missing}
        return result
    result["celery_postgres"] = celery = celery_postgres(contacts, latency, timeout, postgres, redis_url)
    for workload in ("push", "ingest", "drain", "backlog"):
        key = f"{workload}_seconds"
        result[f"{workload}_ratio"] = round(result["thread_sqlite"][key] / max(celery[key], 1e-9), 2)
    result["sql_per_change"] = celery.get("sql_per_change")
    result["empty_task_pct"] = celery.get("empty_task_pct")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 contacts and one run instead of 300 and three")
    parser.add_argument("--contacts", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None, help="runs of both setups; the medians are the figures")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to each QBO API call")
    parser.add_argument("--timeout", type=float, default=300.0, help="longest wait per workload")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("QBO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--redis", default=os.environ.get("QBO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    args = parser.parse_args(argv)
    logging.disable(logging.ERROR)
    contacts = args.contacts or (100 if args.quick else 300)
    runs = []
    for _ in range(max(1, args.runs or (1 if args.quick else 3))):
        runs.append(compare(contacts, args.latency, args.timeout, args.postgres, args.redis))
        for name in ("thread_sqlite", "celery_postgres"):
            figures = runs[-1][name]
            if "skipped" in figures:
                print(f"{name}: skipped ({figures['skipped']})", file=sys.stderr)
                continue
            print(
                f"{name}: {contacts} pushes in {figures['push_seconds']} s ({figures['pushes_per_second']}/s), "
                f"{contacts} webhook edits in {figures['ingest_seconds']} s ({figures['ingests_per_second']}/s), "
                f"{figures['requests']} requests, {figures['http_429']} 429s, "
                f"{figures['duplicates']} duplicates, {figures['lost']} lost",
                file=sys.stderr,
            )
    result: dict[str, t.Any] = {"benchmark": "scale_compare", "contacts": contacts, "latency_s": args.latency}
    for key in FIGURES:
        values = [run[key] for run in runs if run.get(key) is not None]
        if values:
            result[key] = round(statistics.median(values), 2)
            result[f"{key}_each"] = values
    result["runs"] = runs
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
