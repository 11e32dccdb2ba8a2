"""Batched creates: a backlog of new contacts costs three requests per 30, and never a duplicate.

Requests are counted where they leave the client: at the transport (the
in-process emulator's adapter), retries and refused requests included.
"""

from __future__ import annotations

import threading
import typing as t
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from sqlalchemy import event

from flask_qbo import get_qbo
from flask_qbo.emulator.errors import EmulatorFault
from flask_qbo.emulator.transport import WSGIAdapter
from flask_qbo.models import Connection
from flask_qbo.models import Customer
from flask_qbo.models import Outbox
from flask_qbo.models import SyncLog
from flask_qbo.models import SyncStatus
from flask_qbo.models import utcnow
from flask_qbo.sync.push import lookup
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from tests.hostapp import Contact
from tests.hostapp import db
from tests.hostapp import make_app


@pytest.fixture
def ctx(app: t.Any, connected: t.Any, monkeypatch: pytest.MonkeyPatch) -> t.Iterator[t.Any]:
    app.config["QBO_MAX_RETRIES"] = 0
    monkeypatch.setattr(lookup, "_REFUSED", set())  # the refusal memory is per process: start each test clean
    with app.app_context():
        yield app


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every request sent to QBO: ``(endpoint, statement or "")``, e.g. ``("query", "SELECT ...")``."""
    sent: list[tuple[str, str]] = []
    real = WSGIAdapter.send

    def send(self: WSGIAdapter, request: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
        parts = urlsplit(request.url)
        if "/v3/company/" in parts.path:
            endpoint = parts.path.rsplit("/", 1)[-1]
            statement = parse_qs(parts.query).get("query", [""])[0]
            if endpoint == "query" and not statement:
                statement = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
            sent.append((endpoint, statement))
        return real(self, request, *args, **kwargs)

    monkeypatch.setattr(WSGIAdapter, "send", send)
    return sent


def add_contacts(n: int, start: int = 0, *, emails: bool = True) -> list[Contact]:
    contacts = [
        Contact(tenant="acme", first_name=f"New{i}", last_name="Lee", email=f"new{i}@example.com" if emails else None)
        for i in range(start, start + n)
    ]
    db.session.add_all(contacts)
    db.session.commit()
    return contacts


def drain() -> int:
    total = 0
    while (n := push.process(get_qbo())) > 0:
        total += n
    return total


def customers(emulator: t.Any) -> list[dict[str, t.Any]]:
    return t.cast(list, emulator.store.list(TEST_REALM, "Customer", include_inactive=True))


def linked_id(contact: Contact) -> str:
    return str(db.session.query(Customer).filter_by(contact_key=str(contact.id)).one().qbo_id)


def looked_up(sent: list[tuple[str, str]]) -> list[str]:
    """The properties the sent queries look customers up by (``... WHERE <property> IN (...``), sorted."""
    return sorted(statement.split(" WHERE ", 1)[1].split(" ", 1)[0] for _, statement in sent)


def retry_now() -> None:
    db.session.query(Outbox).filter(Outbox.status == "pending").update({"available_at": utcnow()})
    db.session.commit()


def test_a_backlog_of_new_contacts_costs_three_requests_per_30(ctx: t.Any, emulator: t.Any, wire: t.Any) -> None:
    contacts = add_contacts(60)
    assert drain() == 60
    # Per batch of 30: one email query and one name query (sent at once, in either order), one batch of 30 creates.
    assert [endpoint for endpoint, _ in wire] == ["query", "query", "batch"] * 2
    assert looked_up(wire[:2]) == looked_up(wire[3:5]) == ["DisplayName", "PrimaryEmailAddr"]
    made = customers(emulator)
    assert len(made) == 60 and len({c["DisplayName"] for c in made}) == 60
    by_id = {c["Id"]: c for c in made}
    for contact in contacts:
        customer = by_id[linked_id(contact)]
        assert customer["PrimaryEmailAddr"]["Address"] == contact.email
        assert customer["DisplayName"] == f"{contact.first_name} Lee"
    assert {o.status for o in db.session.query(Outbox)} == {"done"}
    link = db.session.query(Customer).filter_by(contact_key=str(contacts[0].id)).one()
    assert link.sync_status == "synced" and link.synced_values["PrimaryEmailAddr.Address"] == contacts[0].email
    contacts[0].phone = "555-0101"  # the link's synced values are right: an edit sends just the change
    db.session.commit()
    drain()
    assert by_id[link.qbo_id]["Id"] == linked_id(contacts[0])
    assert emulator.store.read(TEST_REALM, "Customer", link.qbo_id)["PrimaryPhone"]["FreeFormNumber"] == "555-0101"


@pytest.fixture(params=["sqlite", "postgresql"])
def either(request: pytest.FixtureRequest, emulator: t.Any, monkeypatch: pytest.MonkeyPatch) -> t.Iterator[t.Any]:
    """The host app with tenant "acme" connected, on SQLite, then on a fresh PostgreSQL schema."""
    monkeypatch.setattr(lookup, "_REFUSED", set())
    if request.param == "sqlite":
        app = request.getfixturevalue("app")
    else:
        app = make_app(request.getfixturevalue("pg")[0])
        attach_emulator(app, emulator)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    with app.app_context():
        yield app
        db.session.remove()
        if request.param != "sqlite":
            for engine in db.engines.values():
                engine.dispose()


def test_a_batch_of_creates_is_recorded_with_one_read_of_mirror_rows(either: t.Any, emulator: t.Any) -> None:
    """Issue 16: recording a batch read each new customer's mirror row, and inserted it, one statement each.

    Now one read, on PostgreSQL one lock, and one executemany for the new rows and one for their
    log entries, without RETURNING: the ORM's multi-row ``INSERT … RETURNING`` of a whole batch was
    a new statement text for the driver to parse every time (a fifth of recording a batch).
    """
    add_contacts(30)
    seen: list[tuple[str, bool]] = []

    def listen(conn: object, cursor: object, statement: str, params: object, context: object, many: bool) -> None:
        seen.append((" ".join(statement.split()), many))

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        assert drain() == 30
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    customers = [s for s, _ in seen if s.startswith("SELECT") and "FROM qbo_customer WHERE" in s and ".qbo_id " in s]
    reads = [s for s in customers if "FOR UPDATE" not in s]
    assert len(reads) == 1
    postgres = db.engine.dialect.name == "postgresql"
    assert len(customers) - len(reads) == postgres  # the lock, in the order pull takes them: one statement
    for table in ("qbo_customer", "qbo_sync_log"):
        inserts = [(s, many) for s, many in seen if s.startswith(f"INSERT INTO {table} ")]
        assert len(inserts) == 1, inserts
        assert inserts[0][1] and "RETURNING" not in inserts[0][0]
    linked = db.session.query(Customer).filter(Customer.contact_key.isnot(None)).all()
    assert len(linked) == 30
    assert {c.sync_status for c in linked} == {SyncStatus.SYNCED} and all(c.synced_values for c in linked)
    assert all(c.last_pushed_hash and c.last_synced_at and c.display_name and c.updated_at for c in linked)
    logged = db.session.query(SyncLog).filter_by(direction="push", action="created").all()
    assert sorted(e.contact_key for e in logged) == sorted(c.contact_key for c in linked)
    assert all(e.created_at and e.fields for e in logged)


def test_a_burst_arriving_while_rows_go_alone_is_left_for_a_batch(
    ctx: t.Any, emulator: t.Any, wire: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: a burst's first rows took the single path, and so did every row read with them."""
    add_contacts(3)  # no more than QBO_BATCH_THRESHOLD: each goes alone
    burst: list[Contact] = []
    real = push.handle

    def handle(qbo: t.Any, row_id: int) -> bool:
        if not burst:
            burst.extend(add_contacts(20, start=3))  # committed while the first row is pushed
        return bool(real(qbo, row_id))

    monkeypatch.setattr(push, "handle", handle)
    assert push.process(get_qbo()) == 1  # stopped after the first row: 22 are due now
    assert drain() == 22
    assert [endpoint for endpoint, _ in wire] == ["query", "query", "customer", "query", "query", "batch"]
    assert db.session.query(Customer).filter(Customer.contact_key.isnot(None)).count() == 23


def test_a_backlog_that_outgrew_its_batches_is_left_to_the_next_call_not_pushed_alone(
    ctx: t.Any, emulator: t.Any, wire: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: the rows a burst added while its batches were sent went alone, three requests each.

    Twelve rows are counted, so the call allows one batch of 30; forty more
    are committed before it is claimed.  The 22 the batch could not take are
    the next call's batch, not 22 rows pushed alone after it.
    """
    add_contacts(12)
    real = push.process_batch

    def process_batch(qbo: t.Any, tenant_key: str, limit: int) -> int:
        add_contacts(40, start=12)  # the burst goes on after the count
        monkeypatch.setattr(push, "process_batch", real)
        return real(qbo, tenant_key, limit)

    monkeypatch.setattr(push, "process_batch", process_batch)
    assert push.process(get_qbo()) == 30
    assert db.session.query(Outbox).filter_by(status="pending").count() == 22
    assert drain() == 22
    assert [endpoint for endpoint, _ in wire] == ["query", "query", "batch"] * 2
    assert db.session.query(Customer).filter(Customer.contact_key.isnot(None)).count() == 52


def test_rows_no_batch_could_take_do_not_stop_another_tenants_rows_going_alone(
    ctx: t.Any, emulator: t.Any, wire: t.Any
) -> None:
    """Only a tenant that crossed the threshold since the call began stops the single path.

    Acme's eleven due rows each wait behind an older row of their contact in
    flight, so its batch takes none of them; counting them as a burst stopped
    Globex's new contacts after one row a call.
    """
    emulator.add_company("9130000000000009", "Globex Books")
    connect_tenant(ctx, emulator, "globex", "9130000000000009")
    now = utcnow()
    for key in range(11):
        db.session.add(Outbox(tenant_key="acme", contact_key=f"busy{key}", status="in_progress", claimed_at=now))
        db.session.add(Outbox(tenant_key="acme", contact_key=f"busy{key}"))
    db.session.add_all(
        Contact(tenant="globex", first_name=f"Glo{i}", last_name="Bex", email=f"g{i}@example.com") for i in range(3)
    )
    db.session.commit()
    assert push.process(get_qbo()) == 3
    assert [endpoint for endpoint, _ in wire] == ["query", "query", "customer"] * 3


def test_existing_customers_are_linked_by_email_not_created(ctx: t.Any, emulator: t.Any, wire: t.Any) -> None:
    contacts = add_contacts(30)
    existing = {}
    for contact in contacts[:4]:  # the same person, already in QuickBooks under another name
        existing[contact.id] = emulator.store.create(
            TEST_REALM,
            "Customer",
            {
                "DisplayName": f"Old {contact.id}",
                "GivenName": contact.first_name,
                "FamilyName": "Lee",
                "PrimaryEmailAddr": {"Address": contact.email.upper()},
            },
        )["Id"]
    gone = contacts[4]  # an inactive customer with the contact's email is reactivated, not duplicated
    made = emulator.store.create(
        TEST_REALM, "Customer", {"DisplayName": "New4 Lee", "PrimaryEmailAddr": {"Address": gone.email}}
    )
    emulator.store.update(TEST_REALM, "Customer", {"Id": made["Id"], "SyncToken": "0", "Active": False}, sparse=True)
    existing[gone.id] = made["Id"]
    assert drain() == 30
    assert len(customers(emulator)) == 30  # 25 created, 5 linked
    for contact_id, qbo_id in existing.items():
        assert linked_id(db.session.get(Contact, contact_id)) == qbo_id
    assert emulator.store.read(TEST_REALM, "Customer", existing[gone.id])["Active"] is True
    # Two lookups, one batch of the 25 creates, then one update per matched customer whose values differ.
    assert [endpoint for endpoint, _ in wire[:3]] == ["query", "query", "batch"]
    assert len(wire) == 3 + 5 and {endpoint for endpoint, _ in wire[3:]} == {"customer"}
    assert {o.status for o in db.session.query(Outbox)} == {"done"}


@pytest.mark.parametrize("contacts", [30, 1], ids=["a batch", "a lone contact"])
def test_the_name_lookup_is_in_flight_while_the_email_lookup_waits_for_its_answer(
    ctx: t.Any, monkeypatch: pytest.MonkeyPatch, contacts: int
) -> None:
    # QBO holds the email query's answer until the name query has arrived: sent one after the other, it never would.
    name_sent = threading.Event()
    overlapped: list[bool] = []
    real = WSGIAdapter.send

    def send(self: WSGIAdapter, request: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
        statement = parse_qs(urlsplit(request.url).query).get("query", [""])[0]
        if "WHERE DisplayName IN" in statement:
            name_sent.set()
        elif "WHERE PrimaryEmailAddr" in statement:
            overlapped.append(name_sent.wait(5))
        return real(self, request, *args, **kwargs)

    monkeypatch.setattr(WSGIAdapter, "send", send)
    add_contacts(contacts)
    assert drain() == contacts
    assert overlapped == [True]
    conn = db.session.query(Connection).filter_by(tenant_key="acme").one()
    assert conn.reads_count == 2  # both lookups are metered, the helper's too


def test_a_name_taken_in_quickbooks_gets_a_suffix(ctx: t.Any, emulator: t.Any, wire: t.Any) -> None:
    emulator.store.create(
        TEST_REALM, "Customer", {"DisplayName": "New0 Lee", "PrimaryEmailAddr": {"Address": "o@x.io"}}
    )
    emulator.store.create(TEST_REALM, "Customer", {"DisplayName": "New1 Lee"})  # no email: may be our contact
    contacts = add_contacts(30)
    twins = add_contacts(2, start=40)  # two contacts of one batch with one name
    for twin in twins:
        twin.first_name = "Twin"
    db.session.commit()
    assert drain() == 32
    names = {c["DisplayName"] for c in customers(emulator)}
    assert {"New0 Lee", "New0 Lee (2)", "New1 Lee", "Twin Lee", "Twin Lee (2)"} <= names
    assert len(customers(emulator)) == 33  # 32 contacts, one of them matched by name, plus "o@x.io"
    assert linked_id(contacts[1]) == next(c["Id"] for c in customers(emulator) if c["DisplayName"] == "New1 Lee")
    assert wire.count(("customer", "")) <= 1  # the name-matched contact's update; no create is sent alone
    assert {o.status for o in db.session.query(Outbox)} == {"done"}


def test_a_duplicate_name_fault_on_one_item_leaves_the_others_created(ctx: t.Any, emulator: t.Any, wire: t.Any) -> None:
    # The lookup sees "New3 Lee" taken and picks "New3 Lee (2)", which is taken too: QBO answers that item 6240.
    emulator.store.create(
        TEST_REALM, "Customer", {"DisplayName": "New3 Lee", "PrimaryEmailAddr": {"Address": "a@x.io"}}
    )
    emulator.store.create(
        TEST_REALM, "Customer", {"DisplayName": "New3 Lee (2)", "PrimaryEmailAddr": {"Address": "b@x.io"}}
    )
    contacts = add_contacts(30)
    assert drain() == 30
    assert [endpoint for endpoint, _ in wire[:3]] == ["query", "query", "batch"]
    # Only that row went the single path: its two lookups, then "New3 Lee" (6240), "(2)" (6240), "(3)".
    assert [endpoint for endpoint, _ in wire[3:]] == ["query", "query", "customer", "customer", "customer"]
    assert emulator.store.read(TEST_REALM, "Customer", linked_id(contacts[3]))["DisplayName"] == "New3 Lee (3)"
    assert len(customers(emulator)) == 32
    assert {o.status for o in db.session.query(Outbox)} == {"done"}


def test_a_validation_fault_on_one_item_parks_only_its_row(
    ctx: t.Any, emulator: t.Any, wire: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = emulator.store.create

    def create(realm: str, entity: str, obj: dict[str, t.Any], *args: t.Any, **kwargs: t.Any) -> dict[str, t.Any]:
        if obj.get("DisplayName") == "New7 Lee":
            raise EmulatorFault(400, "6000", "A business validation error has occurred", "Refused for the test")
        return t.cast(dict, real(realm, entity, obj, *args, **kwargs))

    monkeypatch.setattr(emulator.store, "create", create)
    contacts = add_contacts(30)
    assert drain() == 30
    assert [endpoint for endpoint, _ in wire] == ["query", "query", "batch"]
    assert len(customers(emulator)) == 29
    statuses = {o.contact_key: (o.status, o.error_code) for o in db.session.query(Outbox)}
    assert statuses.pop(str(contacts[7].id)) == ("failed", "6000")
    assert set(statuses.values()) == {("done", None)}


@pytest.mark.parametrize("retries", [0, 1])
def test_a_lost_batch_answer_never_duplicates(ctx: t.Any, emulator: t.Any, wire: t.Any, retries: int) -> None:
    """QBO runs the batch, its answer is lost; a retry must not create the 30 customers again.

    With a client retry the same ``requestid`` replays QBO's first answer; without
    one the rows come back later and adopt the customers their note names.
    """
    ctx.config["QBO_MAX_RETRIES"] = retries
    emulator.faults.timeout_next(after_execute=True, path_contains="/batch")
    contacts = add_contacts(30, emails=False)  # no email: only the requestid or the noted name can save us
    drain()
    assert len(customers(emulator)) == 30
    if retries == 0:
        pending = db.session.query(Outbox).filter(Outbox.status == "pending").all()
        assert len(pending) == 30 and all(o.create_sent and o.create_sent["DisplayName"] for o in pending)
        retry_now()
        drain()
    else:
        assert [endpoint for endpoint, _ in wire] == ["query", "batch", "batch"]  # no email query; the retry replayed
    assert len(customers(emulator)) == 30
    assert len({linked_id(c) for c in contacts}) == 30
    assert {o.status for o in db.session.query(Outbox)} == {"done"}


def test_email_in_refused_falls_back_to_batch_queries(ctx: t.Any, emulator: t.Any, wire: t.Any) -> None:
    emulator.config.refused_in = ("PrimaryEmailAddr",)
    contacts = add_contacts(60)
    known = emulator.store.create(
        TEST_REALM, "Customer", {"DisplayName": "Known", "PrimaryEmailAddr": {"Address": contacts[45].email}}
    )
    assert drain() == 60
    first, second = wire[:4], wire[4:7]
    # The refused IN costs one request once; after it the company's emails are looked up in one batch of queries.
    # The name query goes out beside the email lookups, so it may come anywhere before the creates.
    emails = [(endpoint, statement) for endpoint, statement in first[:3] if "DisplayName" not in statement]
    assert emails[0][0] == "query" and "PrimaryEmailAddr IN" in emails[0][1] and emails[1:] == [("batch", "")]
    assert looked_up([sent for sent in first if "DisplayName" in sent[1]]) == ["DisplayName"]
    assert first[3] == ("batch", "")
    assert sorted(endpoint for endpoint, _ in second) == ["batch", "batch", "query"] and second[2] == ("batch", "")
    assert linked_id(contacts[45]) == known["Id"]
    assert len(customers(emulator)) == 60
    assert {o.status for o in db.session.query(Outbox)} == {"done"}
