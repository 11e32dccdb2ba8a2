"""The convergence soak: random edits on both sides under faults, then proof that both sides agree.

A run creates people on both sides (CRM contacts through the ORM, QBO customers
through the emulator's store), edits random mapped fields on both sides,
deletes some (a CRM delete, a QBO inactivation), and meanwhile injects what
production throws at a sync engine: 429, 500 and 503 answers, timeouts before
and after QBO executed a write, dropped, duplicated and reordered webhooks,
access tokens expiring, a worker that dies holding a claim, and the database
connection dropping under a running push.  Work runs in the same process the
way the thread runner runs it (``push.process``, webhook delivery,
``pull.process``, ``pull.poll_due``), one job at a time, so the seed decides
the operations and faults (the timing still varies: backoffs are real seconds).

Then the faults stop and the engine is drained until a whole round changes
nothing.  "Time passes" by moving due dates and claim times back instead of
sleeping, exactly what the minutes of backoff and lease would do.  The
checks, each a list of concrete discrepancies (empty when all is well):

* **duplicates**: no two contacts and no two QBO customers for one person;
* **mismatches**: every synced field equal on both sides of each live pair;
* **lost edits**: each field ends with exactly the value newest-wins
  requires: the last value written to it, unless a true conflict (both sides
  changed it before the engine synced either) was settled later, in which case
  the newer side's value (see ``checks.expected_value``);
* **conflicts**: every conflict the engine reports was won by the newer side.
  Newest is decided per record, from the times the engine itself sees (the
  outbox row's edit time in the CRM, ``LastUpdatedTime`` in whole seconds in
  QBO), so the soak knows the one right answer and accepts no other; a few
  conflicts per run are staged so that QBO's edit is certainly the newer one,
  so a policy that always prefers one side cannot pass;
* **deletes**: a contact deleted in the CRM leaves its customer inactive; a
  customer made inactive in QBO leaves the contact archived;
* **failed rows**: nothing parked as failed (every value written is valid);
* **requests**: bounded per operation, and a converged round costs no more
  than its CDC polls (no sync loop);
* **drain**: the drain settled (two quiet rounds) before its round limit;
* **documents**: estimates and invoices made, sent, voided, deleted and
  converted meanwhile are each in QBO exactly once, none lost, and mirrored
  as QBO has them (see :mod:`tests.soak.documents`).

A create whose answer is lost (timeout, killed worker) and is then edited
or deleted on either side before its retry is among the cases exercised; the
retry recognises its own customer (``push_ops.own_lost_create``).

:func:`run` returns the figures; ``python -m benchmarks.soak`` prints them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import tempfile
import time
import typing as t
from pathlib import Path

import requests
import sqlalchemy as sa

from flask_qbo import signals
from flask_qbo.emulator import WSGIAdapter
from flask_qbo.intuit.throttle import build_throttle
from flask_qbo.intuit.throttle import install
from flask_qbo.models import CUSTOMER_OPS
from flask_qbo.models import Connection
from flask_qbo.models import Inbox
from flask_qbo.models import Outbox
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.sync.payload import get_path
from flask_qbo.sync.payload import set_path
from flask_qbo.sync.pull import pull
from flask_qbo.sync.pull.parsing import last_updated
from flask_qbo.sync.push import push
from flask_qbo.sync.queue import LEASE
from flask_qbo.sync.queue import OUTBOX
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator

from ..hostapp import Contact
from ..hostapp import db
from ..hostapp import make_app
from .documents import DOC_FAULTS
from .documents import DOC_MIX
from .documents import Documents

log = logging.getLogger("flask_qbo.soak")

TENANT = "acme"
#: The emulator's clock speed for throttle windows and webhook delays.
TIME_SCALE = 60.0
CRM_URL = "http://crm.soak.test"
#: Fields edited on both sides, with the value a write number ``k`` puts there.
EDITS: dict[str, t.Callable[[int], str]] = {
    "phone": lambda k: f"555-{k:07d}",
    "mobile": lambda k: f"556-{k:07d}",
    "company": lambda k: f"Company {k}",
    "notes": lambda k: f"note {k}",
    "billing_city": lambda k: f"City {k}",
    "website": lambda k: f"https://w{k}.example.com",
    "middle_name": lambda k: f"M{k}",
}
#: Operation mix: (kind, weight).
MIX = (
    ("crm_edit", 40),
    ("qbo_edit", 30),
    ("crm_create", 10),
    ("qbo_create", 6),
    ("crm_delete", 2),
    ("qbo_inactivate", 2),
    *DOC_MIX,
)
#: Fault kinds and their chance per tick.
FAULTS = (
    ("http_429", 0.12),
    ("http_500", 0.10),
    ("http_503", 0.08),
    ("timeout_before", 0.06),
    ("timeout_after", 0.06),
    ("token_expired", 0.02),
    ("abandoned_claim", 0.04),
    ("db_dropped", 0.04),
    *DOC_FAULTS,
)
#: Requests allowed per operation before the run counts as looping.
REQUESTS_PER_OP = 12


@dataclasses.dataclass
class Options:
    """What a run does; the quick mode is CI's, the long one the issue's figures."""

    customers: int = 200
    edits: int = 1200
    ops_per_tick: int = 12
    seed: int = 20240611
    database_url: str | None = None
    max_drain_rounds: int = 40
    #: Every this many ticks, conflicts whose newer side is certain are staged (see :meth:`Soak.stage_conflicts`).
    conflict_every: int = 8
    #: People per staging and direction: QBO's edit newer for this many, the CRM's for as many more.
    staged: int = 3
    #: Extra app configuration, e.g. ``{"QBO_CONFLICT_POLICY": "crm"}`` to prove the checks catch it.
    config: dict[str, t.Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def quick(cls) -> Options:
        return cls()

    @classmethod
    def long(cls) -> Options:
        return cls(customers=1000, edits=6000, ops_per_tick=20)


@dataclasses.dataclass
class Write:
    """One change of a person's record on one side; ``attr`` is None for a create, a delete or an inactivation."""

    seq: int
    side: str
    attr: str | None
    value: t.Any
    #: When the engine considers it made: the outbox row's edit time (CRM), ``LastUpdatedTime`` (QBO).
    stamp: dt.datetime


@dataclasses.dataclass
class Settled:
    """A true conflict the engine reported, and how many writes the soak had made by then."""

    seq: int
    contact_key: str
    attr: str
    crm_value: t.Any
    qbo_value: t.Any
    winner: str
    #: The two times the engine's newest-wins compared (the signal's ``crm_changed_at``, ``qbo_changed_at``).
    engine_saw: dict[str, str | None] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Person:
    """One real-world customer, known on either side by a unique email."""

    n: int
    origin: str
    deleted: str | None = None
    qbo_id: str | None = None
    #: The CRM contact's key once known (it outlives a delete, for the sync log).
    contact_key: str | None = None
    #: Every write of the record, oldest first (creates, deletes and inactivations included: they date it too).
    history: list[Write] = dataclasses.field(default_factory=list)

    def writes(self, attr: str) -> list[Write]:
        return [w for w in self.history if w.attr == attr]

    @property
    def email(self) -> str:
        return f"p{self.n}@soak.test"


def _sqlite_url() -> str:
    """A fresh SQLite file, in memory-backed /dev/shm when there is one (the soak commits thousands of times)."""
    shm = Path("/dev/shm")
    folder = tempfile.mkdtemp(prefix="qbo-soak-", dir=shm if shm.is_dir() else None)
    return f"sqlite:///{Path(folder) / 'crm.sqlite'}"


class Soak:
    """One run: build the world, churn it under faults, drain, then check."""

    def __init__(self, options: Options) -> None:
        self.o = options
        self.rng = random.Random(options.seed)
        self.emu = make_emulator(time_scale=TIME_SCALE)
        # Transient failures go straight back to the outbox (no retry sleeps inside the client):
        # the row's backoff and the requestid replay are what the soak exercises.
        self.app = make_app(
            options.database_url or _sqlite_url(),
            QBO_RUNNER="none",
            QBO_IMPORT_NEW_CUSTOMERS=True,
            QBO_CDC_INTERVAL=2,
            QBO_MAX_RETRIES=0,
            SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
            **options.config,
        )
        # QBO's limits hold in the emulator's time, which runs 60 times faster.
        install(self.app, build_throttle(self.app, time_scale=TIME_SCALE))
        attach_emulator(self.app, self.emu)
        connect_tenant(self.app, self.emu, TENANT, TEST_REALM)
        hooks = requests.Session()
        hooks.mount(CRM_URL, WSGIAdapter(self.app))
        self.emu.webhooks.session = hooks
        self.emu.webhooks.configure(
            url=f"{CRM_URL}/qbo/webhooks", duplicate_rate=0.1, drop_rate=0.1, reorder=True, seed=options.seed
        )
        self.people: list[Person] = []
        self.docs = Documents(self)
        self.ops: dict[str, int] = dict.fromkeys((kind for kind, _ in MIX), 0)
        self.faults: dict[str, int] = dict.fromkeys((kind for kind, _ in FAULTS), 0)
        self.worker_errors = 0
        self.k = 0
        self.seq = 0
        self.tick = 0
        self.settled: list[Settled] = []
        self.staged_conflicts = 0
        self.drained = False
        #: Why the drain did not settle, when it did not (what was still queued, what still changed).
        self.unsettled: list[str] = []
        signals.conflict.connect(self._on_conflict, self.app)
        self._index_tick = -1
        self._ids_by_email: dict[str, str] = {}
        self._drop_in: int | None = None
        self._in_job = False
        self._install_db_dropper()

    # -- the database dropping under a running job ---------------------------------

    def _install_db_dropper(self) -> None:
        """When armed, a statement of a worker job finds its connection gone (the server restarted).

        The countdown picks which statement, so the drop lands anywhere in a
        job: between rows, in a claim, in the middle of a push's commit.
        """
        with self.app.app_context():
            engine = db.engine

        @sa.event.listens_for(engine, "before_cursor_execute")
        def drop(conn: t.Any, cursor: t.Any, statement: str, *args: t.Any) -> None:
            if not self._in_job or self._drop_in is None:
                return
            self._drop_in -= 1
            if self._drop_in <= 0:
                self._drop_in = None
                conn.invalidate()
                raise conn.dialect.loaded_dbapi.OperationalError("server closed the connection unexpectedly")

    def _on_conflict(self, sender: t.Any, **kw: t.Any) -> None:
        """Note each conflict the engine settles, with how far the churn had got (work runs between ticks)."""
        saw = {side: kw.get(f"{side}_changed_at") for side in ("crm", "qbo")}
        self.settled.append(
            Settled(
                self.seq,
                str(kw["contact_key"]),
                kw["field"],
                kw["crm_value"],
                kw["qbo_value"],
                kw["winner"],
                {side: when.isoformat() if when is not None else None for side, when in saw.items()},
            )
        )

    # -- operations ---------------------------------------------------------------

    def _record(self, person: Person, side: str, attr: str | None, value: t.Any, stamp: dt.datetime | None) -> None:
        if stamp is None:
            raise AssertionError(f"{person.email}: no {side} time for the write of {attr}")
        self.seq += 1
        person.history.append(Write(self.seq, side, attr, value, stamp))

    def _crm_stamp(self, contact_key: str) -> dt.datetime | None:
        """The edit time the engine dates the CRM side by: the contact's pending customer row's ``updated_at``."""
        return db.session.scalars(
            sa.select(Outbox.updated_at)
            .where(Outbox.tenant_key == TENANT, Outbox.contact_key == contact_key, Outbox.status == "pending")
            .where(Outbox.op.in_(CUSTOMER_OPS))  # a queued invoice is not an edit of the contact
            .order_by(Outbox.id.desc())
            .limit(1)
        ).first()

    def _contact(self, person: Person) -> Contact | None:
        return db.session.query(Contact).filter_by(email=person.email).order_by(Contact.id).first()

    def _customer(self, person: Person) -> dict[str, t.Any] | None:
        if person.qbo_id is None:
            if self._index_tick != self.tick:  # one scan of QBO per tick at most
                self._index_tick = self.tick
                self._ids_by_email = {
                    str(get_path(data, "PrimaryEmailAddr.Address")): str(data["Id"])
                    for data in self.emu.store.list(TEST_REALM, "Customer", include_inactive=True)
                }
            person.qbo_id = self._ids_by_email.get(person.email)
            if person.qbo_id is None:
                return None
        return self.emu.store.read(TEST_REALM, "Customer", person.qbo_id)

    def operate(self, kind: str) -> bool:
        """Do one operation of ``kind``; False when nothing fitted (e.g. no candidate yet)."""
        self.k += 1
        if kind.startswith("doc_"):
            return self.docs.operate(kind)
        if kind == "crm_create" or kind == "qbo_create":
            if len(self.people) >= self.o.customers:
                return False
            person = Person(len(self.people), kind.split("_")[0])
            self.people.append(person)
            name = f"Soak{person.n}" if self.rng.random() > 0.05 else "Soak Twin"  # some names collide
            if person.origin == "crm":
                contact = Contact(tenant=TENANT, first_name=name, last_name="Person", email=person.email)
                db.session.add(contact)
                db.session.commit()
                person.contact_key = str(contact.id)
                self._record(person, "crm", None, None, self._crm_stamp(person.contact_key))
            else:
                data = self.emu.store.create(
                    TEST_REALM,
                    "Customer",
                    {
                        "DisplayName": f"{name} Q{person.n}",
                        "GivenName": name,
                        "FamilyName": "Person",
                        "PrimaryEmailAddr": {"Address": person.email},
                    },
                )
                person.qbo_id = str(data["Id"])
                self._record(person, "qbo", None, None, last_updated(data))
            return True
        side = kind.split("_")[0]
        candidates = [p for p in self.people if p.deleted is None]
        if not candidates:
            return False
        person = self.rng.choice(candidates)
        if kind == "crm_delete":
            contact = self._contact(person)
            if contact is None:
                return False  # created in QBO and not imported yet
            person.contact_key = str(contact.id)
            db.session.delete(contact)
            db.session.commit()
            person.deleted = "crm"
            self._record(person, "crm", None, None, self._crm_stamp(person.contact_key))  # the delete's row dates it
            return True
        if kind == "qbo_inactivate":
            current = self._customer(person)
            if current is None or current.get("Active") is False:
                return False
            data = self.emu.store.update(
                TEST_REALM,
                "Customer",
                {"Id": current["Id"], "SyncToken": current["SyncToken"], "sparse": True, "Active": False},
            )
            person.deleted = "qbo"
            # An inactivation changes the record: it moves LastUpdatedTime, which newest-wins dates QBO's side by.
            self._record(person, "qbo", None, None, last_updated(data))
            return True
        attr = self.rng.choice(list(EDITS))
        return self.crm_edit(person, attr) if side == "crm" else self.qbo_edit(person, attr)

    def crm_edit(self, person: Person, attr: str) -> bool:
        """A user edits one field of the person's contact; False when the CRM has no contact for them yet."""
        contact = self._contact(person)
        if contact is None:
            return False  # created in QBO and not imported yet
        person.contact_key = str(contact.id)
        value = EDITS[attr](self.k)
        setattr(contact, attr, value)
        db.session.commit()
        self._record(person, "crm", attr, value, self._crm_stamp(person.contact_key))
        return True

    def qbo_edit(self, person: Person, attr: str) -> bool:
        """Someone edits one field of the person's customer in QBO; False when there is no active customer."""
        current = self._customer(person)
        if current is None or current.get("Active") is False:
            return False
        payload: dict[str, t.Any] = {"Id": current["Id"], "SyncToken": current["SyncToken"], "sparse": True}
        field = self.fields.by_attr(attr)
        value = EDITS[attr](self.k)
        if "." in field.path:  # an address or phone object is sent whole
            group = field.path.split(".")[0]
            payload[group] = dict(current.get(group) or {})
        set_path(payload, field.path, value)
        data = self.emu.store.update(TEST_REALM, "Customer", payload)
        self._record(person, "qbo", attr, value, last_updated(data))
        return True

    def stage_conflicts(self) -> None:
        """True conflicts whose newer side is certain, so a policy that ignores the times cannot pass.

        For some people the CRM edits a field, then (after the clock passed a
        whole second, the resolution of QBO's ``LastUpdatedTime``) QBO edits the
        same field: QBO's edit is the newer one.  For as many others QBO edits
        first and the CRM after it: the CRM's is.  The engine sees both before
        it syncs either (work runs after the tick).
        """
        live = [p for p in self.people if p.deleted is None]
        chosen = self.rng.sample(live, min(len(live), 2 * self.o.staged))
        qbo_newer, crm_newer = chosen[: self.o.staged], chosen[self.o.staged :]
        pending = []
        for person in qbo_newer:
            attr = self.rng.choice(list(EDITS))
            self.k += 1
            if self.crm_edit(person, attr):
                self.ops["crm_edit"] += 1
                pending.append((person, attr))
        time.sleep(1.01 - time.time() % 1.0)  # QBO's stamp is now a later whole second than any CRM edit above
        for person, attr in pending:
            self.k += 1
            if self.qbo_edit(person, attr):
                self.ops["qbo_edit"] += 1
                self.staged_conflicts += 1
        for person in crm_newer:
            attr = self.rng.choice(list(EDITS))
            self.k += 1
            if self.qbo_edit(person, attr):
                self.ops["qbo_edit"] += 1
                self.k += 1
                if self.crm_edit(person, attr):  # QBO's stamp is this second's start: the CRM's edit is newer
                    self.ops["crm_edit"] += 1
                    self.staged_conflicts += 1

    # -- faults -------------------------------------------------------------------

    def inject(self, kind: str) -> bool:
        """Inject one fault of ``kind``; False when it did not fit now (no row to abandon)."""
        faults = self.emu.faults
        n = self.rng.randint(1, 3)
        if kind.startswith("http_"):
            faults.fail_next(n, status=int(kind[5:]), path_contains="/v3/")
        elif kind == "timeout_before":
            faults.timeout_next(1, path_contains="/v3/")
        elif kind == "timeout_after":
            faults.timeout_next(1, after_execute=True, path_contains="/v3/", method="POST")
        elif kind == "token_expired":
            self.emu.expire_access_tokens()
        elif kind == "abandoned_claim":
            if not self._abandon_claim():
                return False
        elif kind == "db_dropped":
            self._drop_in = self.rng.randint(1, 60)
        else:
            self.docs.inject(kind)
        self.faults[kind] += 1
        return True

    def _abandon_claim(self) -> bool:
        """A worker claims a row and dies before answering: the row stays in_progress, leased."""
        row = db.session.query(Outbox).filter(Outbox.status == "pending").order_by(Outbox.id).first()
        row_id = row.id if row is not None else None
        db.session.commit()
        return row_id is not None and OUTBOX.claim(db.session, row_id, utcnow(), "soak-host:999999:1")

    # -- the worker ---------------------------------------------------------------

    def _job(self, func: t.Callable[[], t.Any]) -> t.Any:
        """Run one job like the thread runner: an exception is logged, counted, and survived."""
        with self.app.app_context():
            self._in_job = True
            try:
                return func()
            except Exception:
                self.worker_errors += 1
                log.debug("soak worker job failed", exc_info=True)
                return None
            finally:
                self._in_job = False
                db.session.remove()

    def work(self, cdc: bool) -> None:
        qbo = get_qbo(self.app)
        self._job(lambda: push.process(qbo, limit=40))
        self.emu.webhooks.deliver_due()
        self._job(lambda: pull.process(qbo))
        if cdc:
            self._job(lambda: pull.poll_due(qbo))

    # -- phases -------------------------------------------------------------------

    def churn(self) -> None:
        kinds, weights = zip(*MIX)
        owed = [kind for kind, _ in FAULTS]
        while self.people_left() or sum(self.ops[k] for k in ("crm_edit", "qbo_edit")) < self.o.edits:
            with self.app.app_context():
                for _ in range(self.o.ops_per_tick):
                    kind = self.rng.choices(kinds, weights)[0]
                    if kind in ("crm_create", "qbo_create") and not self.people_left():
                        kind = kind.replace("create", "edit")
                    if self.operate(kind):
                        self.ops[kind] += 1
                if self.tick % self.o.conflict_every == self.o.conflict_every - 1:
                    self.stage_conflicts()
                if owed and self.inject(owed[0]):  # every kind at least once, early, then at random
                    owed.pop(0)
                for fault, chance in FAULTS:
                    if self.rng.random() < chance:
                        self.inject(fault)
                db.session.remove()
            self.work(cdc=self.tick % 5 == 0)
            self.tick += 1

    def people_left(self) -> int:
        return self.o.customers - len(self.people)

    def time_passes(self) -> None:
        """Backoffs end and dead workers' claims run out (nobody else holds a claim now)."""
        lease = dt.timedelta(seconds=LEASE.total_seconds() + 60)
        stale = LEASE + dt.timedelta(seconds=60)
        with self.app.app_context():
            now = utcnow()
            db.session.execute(sa.update(Outbox).where(Outbox.status == "pending").values(available_at=now))
            db.session.execute(sa.update(Outbox).where(Outbox.status == "in_progress").values(claimed_at=now - lease))
            # An event batch whose worker died (the database dropped mid-batch) waits for its claim to go stale.
            db.session.execute(sa.update(Inbox).where(Inbox.status == "in_progress").values(claimed_at=now - stale))
            db.session.execute(sa.update(Connection).values(last_cdc_at=None))
            db.session.commit()

    def drain(self) -> int:
        """Run the engine until two rounds in a row change nothing; returns the rounds used."""
        self.emu.faults.clear()
        self.emu.webhooks.configure(url=f"{CRM_URL}/qbo/webhooks")
        self._drop_in = None
        quiet = 0
        for round_no in range(1, self.o.max_drain_rounds + 1):
            self.time_passes()
            before = self._state()
            requests_before = self.requests()
            self.work(cdc=True)
            self.last_round_requests = self.requests() - requests_before
            after = self._state()
            quiet = quiet + 1 if after == before and not self._busy() else 0
            if quiet >= 2:
                self.drained = True
                return round_no
        self.unsettled = self._unfinished() + _changes(before, after)
        return self.o.max_drain_rounds

    def _unfinished(self) -> list[str]:
        """Outbox and inbox rows still queued or in flight."""
        with self.app.app_context():
            found = [
                f"outbox {r.id} contact {r.contact_key} {r.op} {r.status} attempts={r.attempts}: {r.last_error}"
                for r in db.session.query(Outbox).filter(Outbox.status.in_(("pending", "in_progress")))
            ]
            found += [
                f"inbox {r.id} {r.entity} {r.entity_id} {r.operation} {r.status} attempts={r.attempts}: {r.last_error}"
                for r in db.session.query(Inbox).filter(Inbox.status.in_(("pending", "in_progress")))
            ]
            db.session.commit()
        return found

    def _busy(self) -> bool:
        with self.app.app_context():
            outbox = db.session.query(Outbox).filter(Outbox.status.in_(("pending", "in_progress"))).count()
            inbox = db.session.query(Inbox).filter(Inbox.status.in_(("pending", "in_progress"))).count()
            db.session.commit()
            return bool(outbox or inbox)

    def _state(self) -> tuple[t.Any, ...]:
        customers = self.emu.store.list(TEST_REALM, "Customer", include_inactive=True)
        with self.app.app_context():
            contacts = sorted((c.id, *(getattr(c, a) for a in EDITS), c.archived) for c in db.session.query(Contact))
            db.session.commit()
        return tuple(contacts), tuple(sorted((c["Id"], c["SyncToken"]) for c in customers)), self.docs.state()

    def requests(self) -> int:
        return int(self.emu.counters[TEST_REALM]["requests"])

    @property
    def fields(self) -> t.Any:
        return get_qbo(self.app)._registration().fields

    # -- checks -------------------------------------------------------------------

    def check(self) -> dict[str, list[str]]:
        from .checks import verify

        return {**verify(self), **self.docs.check()}

    def close(self) -> None:
        """Close the app's connections (so a PostgreSQL schema can be dropped) and stop delivery."""
        signals.conflict.disconnect(self._on_conflict, self.app)
        self.emu.webhooks.stop()
        with self.app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


def _changes(before: tuple[t.Any, ...], after: tuple[t.Any, ...]) -> list[str]:
    """What the last drain round changed: contacts (id and synced fields) and customers (Id, SyncToken)."""
    found = []
    for name, old, new in (("contact", before[0], after[0]), ("customer", before[1], after[1])):
        found += [f"{name} {row} was {dict((r[0], r) for r in old).get(row[0])}" for row in sorted(set(new) - set(old))]
    return found


def run(options: Options | None = None) -> dict[str, t.Any]:
    """One soak run; returns its figures and its discrepancies (all lists empty when converged)."""
    options = options or Options.quick()
    soak = Soak(options)
    try:
        started = time.monotonic()
        soak.churn()
        churned = time.monotonic()
        rounds = soak.drain()
        converged_in = time.monotonic() - churned
        problems = soak.check()
        documents = soak.docs.figures()
    finally:
        soak.close()
    operations = sum(soak.ops.values())
    counters = soak.emu.counters[TEST_REALM]
    return {
        "benchmark": "soak",
        "customers": len(soak.people),
        "operations": operations,
        "operations_by_kind": soak.ops,
        "faults_injected": sum(soak.faults.values()),
        "faults_by_kind": soak.faults,
        "webhooks": {
            "events": len(soak.emu.webhooks.events),
            "dropped": len(soak.emu.webhooks.dropped),
            "deliveries": len(soak.emu.webhooks.deliveries),
        },
        "worker_errors": soak.worker_errors,
        "requests": counters["requests"],
        "requests_per_operation": round(counters["requests"] / max(operations, 1), 2),
        "http_429_from_throttle": counters["throttled"],
        "drain_rounds": rounds,
        "conflicts_settled": len(soak.settled),
        "conflicts_staged": soak.staged_conflicts,
        "last_round_requests": soak.last_round_requests,
        "seconds_churning": round(churned - started, 1),
        "seconds_to_converge": round(converged_in, 1),
        "documents": documents,
        "converged": not any(problems.values()),
        "problems": {name: len(found) for name, found in problems.items()},
        "examples": {name: found[:5] for name, found in problems.items() if found},
    }
