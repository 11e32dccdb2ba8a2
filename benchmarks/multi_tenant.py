"""Many connected companies on one thread runner: what an idle company costs per CDC cycle.

N companies (``--companies``, default 10,000; ``--quick`` 500) live in one
in-process emulator, each connected to its own tenant (connection rows are
bulk-inserted with tokens issued by the emulator and encrypted as the connect
flow stores them).  One simulated hour runs at a 5-minute ``QBO_CDC_INTERVAL``
and the runner's default 5-second tick: 720 calls of the thread runner's
``run_once`` (push turn, inbox turn, ``pull.poll_due``, upkeep every minute),
with the clock moved 5 s per tick instead of sleeping (the extension's
``utcnow`` and the emulator's clock both read the start plus 5 s per tick, so
every access token, valid for an hour, is refreshed once by the upkeep, as in
a deployment).  At the start of each cycle a
trickle of edits arrives on both sides: 1 % of the companies get a new
customer in QBO, 1 % get a new contact in the CRM.

Figures (one JSON line, ``{"benchmark": "multi_tenant", ...}``):

* ``cpu_ms_per_company_cycle``: CPU of the ticks (all threads) minus the
  emulator's own CPU, per company and 5-minute cycle;
* ``db_cpu_ms_per_company_cycle`` (Celery side): what the same ticks cost the
  PostgreSQL server, read from its processes (:mod:`benchmarks.pgcpu`;
  ``null`` on SQLite, whose work is counted above, or when the server is not
  on this machine): against the figure above, how many workers one
  PostgreSQL core keeps polling;
* ``p95_pull_latency_ms``: wall time from the start of the tick that found a
  company due until its poll committed (how long a company waits behind the
  others), 95th percentile over all polls;
* ``requests_per_company_hour``: QBO API requests per company in the hour;
* ``token_refreshes_per_company_hour``: calls of the OAuth token endpoint per
  company in the hour (an access token lives an hour: one each);
* ``machine_python_ms``: how fast this machine runs Python (:mod:`benchmarks.machine`),
  to compare CPU figures taken on different machines.

Two sides run one after the other on the same simulated hour:

* ``thread_sqlite``: the thread runner's ``run_once`` on SQLite (the file in
  WAL mode, as the installation guide asks; in the default rollback journal
  every poll's commit syncs the disk twice, which read about 0.5 ms of system
  CPU per company-cycle on a 2-core machine), CDC polls on its pool of 4;
* ``celery_postgres``: the Celery tasks on PostgreSQL (a throwaway schema of
  ``QBO_TEST_POSTGRES_URL``).  Each tick applies the beat entries that fall
  due (push and pull sweeps and the CDC entry every
  ``QBO_CELERY_SWEEP_INTERVAL``, upkeep every minute, the billing reference
  sweep) and the push task a CRM commit wakes, as workers would run them; the
  CDC sweep's shares (``cdc_poll`` tasks) are run as they are sent, in this
  process, instead of through a broker.  That measures what workers spend per company; the broker
  adds one message per share of 25 companies, not per company.  Its
  ``p95_pull_latency_ms`` is that of one worker polling every share in turn.

``python -m benchmarks.multi_tenant [--quick] [--companies N] [--ticks N] [--side thread|celery|both]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import tempfile
import threading
import time
import typing as t

from sqlalchemy import insert

from benchmarks.machine import python_ms
from benchmarks.pgcpu import ServerCPU
from flask_qbo.emulator import WSGIAdapter
from flask_qbo.intuit.oauth import token_values
from flask_qbo.models import CompanyPrefs
from flask_qbo.models import Connection
from flask_qbo.models import ConnectionStatus
from flask_qbo.models import utcnow
from flask_qbo.runners import thread as runner
from flask_qbo.state import get_qbo
from flask_qbo.sync.pull import pull
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import make_emulator

TICK_S = 5.0
CYCLE_S = 300
FIRST_REALM = 9_130_350_000_000_000


class EmulatorMeter:
    """Wraps the emulator's WSGI app: counts API requests and the CPU spent inside the emulator."""

    def __init__(self, wsgi: t.Callable[..., t.Any]) -> None:
        self.wsgi = wsgi
        self.cpu = 0.0
        self.requests = 0
        self.token_calls = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> t.Any:
        started = time.thread_time()
        try:
            return list(self.wsgi(environ, start_response))
        finally:
            spent = time.thread_time() - started
            with self._lock:
                self.cpu += spent
                path = environ.get("PATH_INFO", "")
                self.requests += "/v3/company/" in path
                self.token_calls += path.endswith("/tokens/bearer")


def _connect_all(app: t.Any, emu: t.Any, realms: list[str]) -> None:
    """Companies in the emulator and one connection row per tenant, in one bulk insert.

    Their reference data (items, tax codes, preferences) counts as read just
    now: the hour measured is an idle one, not the reads right after connecting.
    """
    qbo = get_qbo(app)
    now = utcnow()
    rows = []
    for i, realm in enumerate(realms):
        emu.add_company(realm, f"Company {i}")
        token = emu.issue_tokens(realm, client_id=app.config["QBO_CLIENT_ID"])
        values = token_values(token, qbo.state(app).cipher, now)
        rows.append(
            {
                "tenant_key": f"t{i}",
                "realm_id": realm,
                "company_name": f"Company {i}",
                "environment": app.config["QBO_ENVIRONMENT"],
                "status": ConnectionStatus.CONNECTED,
                "connected_at": now,
                "connected_by": "bench",
                "reads_count": 0,
                "warnings_sent": [],
                "created_at": now,
                "updated_at": now,
                **values,
            }
        )
    with app.app_context():
        session = qbo.state(app).db.session()
        session.execute(insert(Connection), rows)
        session.execute(
            insert(CompanyPrefs),
            [{"realm_id": realm, "fetched_at": now, "reference_read_at": now} for realm in realms],
        )
        session.commit()


class CeleryTicks:
    """One tick of a Celery deployment: the beat's entries that fall due, with every task they send run at once.

    The beat runs each entry of :func:`flask_qbo.runners.celery.beat_schedule`
    (and the billing entries with a period) on its own period, not on every
    tick; a CRM commit wakes a push task, as :class:`~flask_qbo.runners.celery.CeleryRunner`
    would.
    """

    def __init__(self, app: t.Any) -> None:
        from flask_qbo.runners import celery as qbo_celery

        self.app = app
        self.tasks = qbo_celery
        self.celery = qbo_celery.celery_init_app(app)
        self.errors = 0
        self.celery.send_task = self._run_now  # type: ignore[method-assign]
        with app.app_context():
            entries = {**qbo_celery.beat_schedule(app), **qbo_celery.billing_beat_schedule(app)}
        #: (task, period in seconds) of the entries that repeat on a period (the daily crontab is left out).
        self.periodic = [
            (e["task"], float(e["schedule"])) for e in entries.values() if isinstance(e["schedule"], float | int)
        ]

    def _run_now(self, name: str, args: t.Sequence[t.Any] = (), **_: t.Any) -> None:
        self._apply(name, args)

    def _apply(self, name: str, args: t.Sequence[t.Any] = ()) -> None:
        result = self.celery.tasks[name].apply(args=list(args))
        if result.failed():
            self.errors += 1

    def run_once(self, seconds: float, woken: bool) -> None:
        """The tick at ``seconds`` into the run; ``woken``: CRM commits were made since the last tick."""
        if woken:
            self._apply(self.tasks.PUSH_TASK)
        for task, period in self.periodic:
            if seconds % period == 0:
                self._apply(task)


def run(companies: int, ticks: int, database_uri: str | None = None) -> dict[str, t.Any]:
    """One simulated hour; the thread runner on SQLite, or the Celery tasks when ``database_uri`` is given."""
    from tests.hostapp import Contact
    from tests.hostapp import db
    from tests.hostapp import make_app

    emu = make_emulator()
    celery_side = database_uri is not None
    uri = database_uri or f"sqlite:///{tempfile.mkdtemp(prefix='qbo-tenants-')}/crm.sqlite"
    app = make_app(uri, QBO_RUNNER="none", CELERY={"broker_url": "memory://"})
    if not celery_side:  # as docs/installation.rst asks of a SQLite host (and `flask qbo doctor` checks)
        with app.app_context(), db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    attach_emulator(app, emu)
    meter = EmulatorMeter(emu.app)
    get_qbo(app).mount_transport(emu.config.base_url.rstrip("/"), WSGIAdapter(meter), app)
    app.config["QBO_CDC_INTERVAL"] = CYCLE_S
    realms = [str(FIRST_REALM + i) for i in range(companies)]
    _connect_all(app, emu, realms)

    skew = dt.timedelta(0)
    real_utcnow = utcnow
    start = utcnow()
    # One simulated clock for the extension and the emulator: the start plus 5 s per tick, however long the
    # ticks really take.  Every module of the extension that reads ``utcnow`` reads it (polls, upkeep, token
    # expiry); with wall time anywhere, a run of ten thousand companies (minutes long) saw its access tokens
    # expire in the emulator before the upkeep's clock reached the refresh, and a short run never refreshed.
    clocked = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("flask_qbo.") and getattr(module, "utcnow", None) is real_utcnow
    ]
    for module in clocked:
        setattr(module, "utcnow", lambda: start + skew)  # noqa: B010
    tick_started = 0.0
    latencies: list[float] = []
    real_poll = pull.poll_cdc

    def timed_poll(qbo: t.Any, connection: t.Any) -> int:
        applied = real_poll(qbo, connection)
        latencies.append((time.perf_counter() - tick_started) * 1000)
        return applied

    setattr(pull, "poll_cdc", timed_poll)  # noqa: B010
    loop = runner.ThreadRunner(app, poll_interval=TICK_S, upkeep_interval=60.0)
    beat = CeleryTicks(app) if celery_side else None
    trickle = max(1, companies // 100)
    cpu = 0.0
    db_cpu: float | None = 0.0 if celery_side else None  # SQLite's work is in this process, counted already
    server = ServerCPU()
    edits = 0
    try:
        for tick in range(ticks):
            woken = tick % int(CYCLE_S / TICK_S) == 0
            if woken:
                cycle = tick // int(CYCLE_S / TICK_S)
                for n in range(trickle):
                    i = (cycle * 37 + n * 101) % companies
                    emu.store.create(realms[i], "Customer", {"DisplayName": f"QBO {cycle}-{n}"})
                    j = (cycle * 53 + n * 97 + 1) % companies
                    with app.app_context():
                        db.session.add(
                            Contact(
                                tenant=f"t{j}", first_name=f"Crm{cycle}", last_name=str(n), email=f"c{cycle}.{n}@x.test"
                            )
                        )
                        db.session.commit()
                    edits += 2
            loop._next_poll = 0.0  # a poll step on every tick, as the runner's timer gives it
            if tick % int(60 / TICK_S):
                loop._next_upkeep = float("inf")
            else:
                loop._next_upkeep = 0.0
            if db_cpu is not None:
                server.start()
            emulator_before = meter.cpu
            started_cpu = time.process_time()
            tick_started = time.perf_counter()
            with app.app_context():
                if beat is not None:
                    beat.run_once(tick * TICK_S, woken)
                else:
                    loop.run_once()
            cpu += time.process_time() - started_cpu - (meter.cpu - emulator_before)
            if db_cpu is not None:
                on_server = server.seconds()
                db_cpu = None if on_server is None else db_cpu + on_server
            skew += dt.timedelta(seconds=TICK_S)
            emu.clock.advance((start + skew - emu.clock.now()).total_seconds())
    finally:
        for module in clocked:
            setattr(module, "utcnow", real_utcnow)  # noqa: B010
        setattr(pull, "poll_cdc", real_poll)  # noqa: B010
        loop.stop()
    cycles = ticks * TICK_S / CYCLE_S
    hours = ticks * TICK_S / 3600
    ordered = sorted(latencies)
    return {
        "companies": companies,
        "ticks": ticks,
        "edits": edits,
        "polls": len(latencies),
        "cpu_ms_per_company_cycle": round(cpu * 1000 / companies / cycles, 3),
        "db_cpu_ms_per_company_cycle": None if db_cpu is None else round(db_cpu * 1000 / companies / cycles, 3),
        "emulator_cpu_s": round(meter.cpu, 2),
        "p95_pull_latency_ms": round(ordered[int(len(ordered) * 0.95)] if ordered else 0.0, 1),
        "requests_per_company_hour": round(meter.requests / companies / hours, 2),
        "token_refreshes_per_company_hour": round(meter.token_calls / companies / hours, 2),
        "runner_errors": beat.errors if beat is not None else loop.errors,
    }


def run_celery(companies: int, ticks: int) -> dict[str, t.Any]:
    """The Celery side on a throwaway PostgreSQL schema; ``{"skipped": reason}`` without PostgreSQL."""
    from tests.conftest import POSTGRES_URL
    from tests.pg import postgres_schema

    try:
        schema = postgres_schema(POSTGRES_URL, prefix="qbo_bench")
        url, _ = schema.__enter__()
    except Exception as exc:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        return {"skipped": f"PostgreSQL unavailable ({type(exc).__name__})"}
    try:
        return run(companies, ticks, url)
    finally:
        schema.__exit__(None, None, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 companies instead of 10,000")
    parser.add_argument("--companies", type=int, default=None)
    parser.add_argument("--ticks", type=int, default=720, help="runner ticks of 5 s (720: one hour)")
    parser.add_argument("--side", choices=("thread", "celery", "both"), default="both")
    args = parser.parse_args(argv)
    logging.disable(logging.ERROR)
    companies = args.companies or (500 if args.quick else 10_000)
    result: dict[str, t.Any] = {"benchmark": "multi_tenant", "machine_python_ms": python_ms()}
    sides = {
        "thread_sqlite": lambda: run(companies, args.ticks),
        "celery_postgres": lambda: run_celery(companies, args.ticks),
    }
    for name, side in sides.items():
        if args.side not in ("both", name.split("_")[0]):
            continue
        started = time.monotonic()
        figures = result[name] = side()
        if "skipped" in figures:
            print(f"{name}: skipped, {figures['skipped']}", file=sys.stderr)
            continue
        on_db = figures["db_cpu_ms_per_company_cycle"]
        database = "" if on_db is None else f" (PostgreSQL: {on_db} ms)"
        print(
            f"{name}: {companies} companies, {figures['polls']} polls, "
            f"{figures['cpu_ms_per_company_cycle']} ms CPU per company per cycle"
            f"{database}, "
            f"p95 pull latency {figures['p95_pull_latency_ms']} ms, "
            f"{figures['requests_per_company_hour']} requests and "
            f"{figures['token_refreshes_per_company_hour']} token refreshes per company-hour "
            f"({time.monotonic() - started:.0f} s)",
            file=sys.stderr,
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
