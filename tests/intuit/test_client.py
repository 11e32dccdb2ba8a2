"""QBOClient against the in-process emulator: URLs, requestid, paging, CDC, batch, PDFs, read metering."""

from __future__ import annotations

import datetime as dt
import typing as t
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter

from flask_qbo.emulator import WSGIAdapter
from flask_qbo.errors import QBOConfigError
from flask_qbo.errors import QBODuplicateNameError
from flask_qbo.intuit.client import QBOClient
from flask_qbo.intuit.faults import batch_error
from flask_qbo.intuit.query import quote
from flask_qbo.models import Connection
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM


class RecordingAdapter(BaseAdapter):
    """Wraps the emulator's adapter and keeps every request; optional hooks run around each send."""

    def __init__(self, inner: BaseAdapter) -> None:
        super().__init__()
        self.inner = inner
        self.requests: list[requests.PreparedRequest] = []
        self.before: t.Callable[[requests.PreparedRequest], None] | None = None
        self.after: t.Callable[[requests.PreparedRequest, requests.Response], None] | None = None

    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        self.requests.append(request)
        if self.before is not None:
            self.before(request)
        response = self.inner.send(request, **kwargs)
        if self.after is not None:
            self.after(request, response)
        return response

    def close(self) -> None:
        self.inner.close()

    def matching(self, fragment: str) -> list[requests.PreparedRequest]:
        return [r for r in self.requests if fragment in (r.url or "")]


def record(app: t.Any, emulator: t.Any) -> RecordingAdapter:
    """Route the app's QBO traffic through a :class:`RecordingAdapter` (mount before building clients)."""
    adapter = RecordingAdapter(WSGIAdapter(emulator.app))
    get_qbo(app).mount_transport(emulator.config.base_url.rstrip("/"), adapter, app)
    return adapter


def params(request: requests.PreparedRequest) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url or "").query)


@pytest.fixture
def recorder(app: t.Any, emulator: t.Any) -> RecordingAdapter:
    return record(app, emulator)


@pytest.fixture
def qbo_client(app: t.Any, connected: Connection, recorder: RecordingAdapter) -> t.Iterator[QBOClient]:
    with app.app_context():
        client = get_qbo(app).client(connected)
        client.sleep = lambda seconds: None
        yield client


def api_calls(recorder: RecordingAdapter) -> list[requests.PreparedRequest]:
    return recorder.matching("/v3/company/")


def test_minorversion_on_every_call_and_requestid_only_on_writes(
    qbo_client: QBOClient, recorder: RecordingAdapter
) -> None:
    created = qbo_client.create("Customer", {"DisplayName": "Ada"})
    qbo_client.read("Customer", created["Id"])
    list(qbo_client.query("SELECT * FROM Customer"))
    qbo_client.company_info()
    calls = api_calls(recorder)
    assert len(calls) == 4
    assert all(params(r)["minorversion"] == ["75"] for r in calls)
    assert "requestid" in params(calls[0])
    assert all("requestid" not in params(r) for r in calls[1:])
    assert all(r.headers["Authorization"].startswith("Bearer ") for r in calls)


def test_minor_version_comes_from_config(app: t.Any, connected: Connection, recorder: RecordingAdapter) -> None:
    app.config["QBO_MINOR_VERSION"] = 80
    with app.app_context():
        get_qbo(app).client(connected).company_info()
    assert params(api_calls(recorder)[-1])["minorversion"] == ["80"]


def test_same_requestid_replays_instead_of_creating_twice(qbo_client: QBOClient, emulator: t.Any) -> None:
    first = qbo_client.create("Customer", {"DisplayName": "Once"}, request_id="req-1")
    second = qbo_client.create("Customer", {"DisplayName": "Once"}, request_id="req-1")
    assert first["Id"] == second["Id"]
    assert len(emulator.store.list(TEST_REALM, "Customer")) == 1


def test_read_update_sparse_update(qbo_client: QBOClient) -> None:
    created = qbo_client.create("Customer", {"DisplayName": "Grace", "GivenName": "Grace", "Notes": "x"})
    sparse = qbo_client.sparse_update(
        "Customer", {"Id": created["Id"], "SyncToken": created["SyncToken"], "FamilyName": "Hopper"}
    )
    assert sparse["FamilyName"] == "Hopper" and sparse["Notes"] == "x"
    full = qbo_client.update(
        "Customer", {"Id": created["Id"], "SyncToken": sparse["SyncToken"], "DisplayName": "Grace"}
    )
    assert "Notes" not in full and "FamilyName" not in full
    assert qbo_client.read("customer", created["Id"])["SyncToken"] == full["SyncToken"]
    with pytest.raises(ValueError):
        qbo_client.sparse_update("Customer", {"Id": created["Id"]})


def test_query_pages_with_startposition_and_maxresults(
    qbo_client: QBOClient, emulator: t.Any, recorder: RecordingAdapter
) -> None:
    for i in range(7):
        emulator.store.create(TEST_REALM, "Customer", {"DisplayName": f"P{i}"})
    rows = list(qbo_client.query("SELECT * FROM Customer ORDERBY DisplayName", page_size=3))
    assert [r["DisplayName"] for r in rows] == [f"P{i}" for i in range(7)]
    statements = [params(r)["query"][0] for r in recorder.matching("/query")]
    assert statements == [
        "SELECT * FROM Customer ORDERBY DisplayName STARTPOSITION 1 MAXRESULTS 3",
        "SELECT * FROM Customer ORDERBY DisplayName STARTPOSITION 4 MAXRESULTS 3",
        "SELECT * FROM Customer ORDERBY DisplayName STARTPOSITION 7 MAXRESULTS 3",
    ]


def test_query_default_page_is_1000(qbo_client: QBOClient, emulator: t.Any, recorder: RecordingAdapter) -> None:
    for i in range(1001):
        emulator.store.create(TEST_REALM, "Customer", {"DisplayName": f"C{i:04d}"})
    assert sum(1 for _ in qbo_client.query("SELECT * FROM Customer")) == 1001
    statements = [params(r)["query"][0] for r in recorder.matching("/query")]
    assert [s.split("FROM Customer ")[1] for s in statements] == [
        "STARTPOSITION 1 MAXRESULTS 1000",
        "STARTPOSITION 1001 MAXRESULTS 1000",
    ]


def test_query_with_own_paging_runs_one_page(
    qbo_client: QBOClient, emulator: t.Any, recorder: RecordingAdapter
) -> None:
    for i in range(3):
        emulator.store.create(TEST_REALM, "Customer", {"DisplayName": f"Q{i}"})
    rows = list(qbo_client.query("SELECT * FROM Customer MAXRESULTS 2"))
    assert len(rows) == 2 and len(recorder.matching("/query")) == 1
    # A paging keyword inside a string literal does not count.
    rows = list(qbo_client.query(f"SELECT * FROM Customer WHERE DisplayName = {quote('MAXRESULTS 5')}"))
    assert rows == [] and "STARTPOSITION 1" in params(recorder.matching("/query")[-1])["query"][0]


def test_a_long_statement_is_posted_and_a_short_one_stays_in_the_url(
    qbo_client: QBOClient, emulator: t.Any, recorder: RecordingAdapter
) -> None:
    from flask_qbo.intuit.client import MAX_GET_STATEMENT

    made = [emulator.store.create(TEST_REALM, "Customer", {"DisplayName": f"L{i}"})["Id"] for i in range(3)]
    ids = made + [str(500000 + i) for i in range(997)]
    statement = f"SELECT * FROM Customer WHERE Id IN ({', '.join(quote(i) for i in ids)}) MAXRESULTS 1000"
    assert len(statement) > MAX_GET_STATEMENT
    assert sorted(row["Id"] for row in qbo_client.query(statement)) == sorted(made)
    posted = recorder.matching("/query")[-1]
    assert posted.method == "POST" and posted.headers["Content-Type"] == "application/text"
    assert posted.body == statement.encode() and "query" not in params(posted)
    assert len(posted.url or "") < 200 and params(posted)["minorversion"]
    list(qbo_client.query(f"SELECT * FROM Customer WHERE Id IN ({quote(made[0])})"))
    assert recorder.matching("/query")[-1].method == "GET"
    assert qbo_client.stats["reads"] == 2  # one metered read each way


def test_quoted_names_query_exactly(qbo_client: QBOClient) -> None:
    for name in ("O'Brien", "Back\\slash", "Peet's 'Coffee'"):
        qbo_client.create("Customer", {"DisplayName": name})
    for name in ("O'Brien", "Back\\slash", "Peet's 'Coffee'"):
        rows = list(qbo_client.query(f"SELECT * FROM Customer WHERE DisplayName = {quote(name)}"))
        assert [r["DisplayName"] for r in rows] == [name]


def test_count(qbo_client: QBOClient, emulator: t.Any) -> None:
    for i in range(4):
        emulator.store.create(TEST_REALM, "Customer", {"DisplayName": f"N{i}", "Active": i != 0})
    assert qbo_client.count("SELECT COUNT(*) FROM Customer") == 3
    assert qbo_client.count("select * from Customer WHERE Active = false") == 1


def _invoice(client: QBOClient, customer_id: str, amount: float = 100) -> dict[str, t.Any]:
    return client.create("Invoice", {"CustomerRef": {"value": customer_id}, "Line": [{"Amount": amount}]})


def test_cdc_groups_by_entity_with_deleted_rows(qbo_client: QBOClient) -> None:
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    customer = qbo_client.create("Customer", {"DisplayName": "Changed"})
    kept = _invoice(qbo_client, customer["Id"])
    gone = _invoice(qbo_client, customer["Id"])
    qbo_client.delete("Invoice", gone["Id"], gone["SyncToken"])
    changes = qbo_client.cdc(["Customer", "Invoice", "Payment"], since)
    assert [c["Id"] for c in changes["Customer"]] == [customer["Id"]]
    assert {c["Id"]: c.get("status") for c in changes["Invoice"]} == {kept["Id"]: None, gone["Id"]: "Deleted"}
    assert changes["Payment"] == []


def test_batch_chunks_by_30_keeps_order_and_returns_faults(
    qbo_client: QBOClient, emulator: t.Any, recorder: RecordingAdapter
) -> None:
    items = [{"operation": "create", "Customer": {"DisplayName": f"B{i}"}} for i in range(31)]
    items.insert(5, {"operation": "create", "Customer": {"DisplayName": "B0"}})  # duplicate name
    items.append({"Query": "SELECT * FROM Customer WHERE DisplayName = 'B1'"})
    results = qbo_client.batch(items, request_id="batch-1")
    assert len(results) == len(items)
    assert [r["bId"] for r in results] == [str(i) for i in range(len(items))]
    assert results[0]["Customer"]["DisplayName"] == "B0"
    assert isinstance(batch_error(results[5]), QBODuplicateNameError)
    assert batch_error(results[0]) is None
    assert results[-1]["QueryResponse"]["Customer"][0]["DisplayName"] == "B1"
    calls = recorder.matching("/batch")
    assert len(calls) == 2 and emulator.counters[TEST_REALM]["batch"] == 2
    ids = [params(c)["requestid"][0] for c in calls]
    assert len(set(ids)) == 2 and all(len(i) <= 36 for i in ids)
    # Repeating the call with the same request_id replays both chunks: nothing is created twice.
    assert qbo_client.batch(items, request_id="batch-1") == results
    assert len(emulator.store.list(TEST_REALM, "Customer")) == 31


def test_company_info_pdf_send_void_delete(qbo_client: QBOClient) -> None:
    assert qbo_client.company_info()["CompanyName"] == "Test Company"
    customer = qbo_client.create("Customer", {"DisplayName": "Docs"})
    invoice = _invoice(qbo_client, customer["Id"])
    response = qbo_client.pdf("Invoice", invoice["Id"])
    try:
        assert response.headers["Content-Type"] == "application/pdf"
        assert b"".join(response.iter_content(1024)).startswith(b"%PDF")
    finally:
        response.close()
    assert qbo_client.send("Invoice", invoice["Id"], to="ap@example.com")["EmailStatus"] == "EmailSent"
    current = qbo_client.read("Invoice", invoice["Id"])
    assert qbo_client.void("Invoice", current["Id"], current["SyncToken"])["PrivateNote"].startswith("Voided")
    other = _invoice(qbo_client, customer["Id"], 5)
    assert qbo_client.delete("Invoice", other["Id"], other["SyncToken"])["status"] == "Deleted"


def test_bad_names_and_realms_are_refused(qbo_client: QBOClient) -> None:
    with pytest.raises(ValueError):
        qbo_client.read("Customer/../x", "1")
    with pytest.raises(ValueError):
        qbo_client.read("Customer", "")
    with pytest.raises(QBOConfigError):
        QBOClient("12ab", base_url="http://x", auth=qbo_client.auth, http=requests.Session())


@pytest.mark.parametrize(
    "realm",
    ["９１３０", "٩١٣٠", "1" * 33, "", " 9130", "9130\n"],
    ids=["fullwidth", "arabic-indic", "too-long", "empty", "space", "newline"],
)
def test_realm_ids_must_be_ascii_digits(qbo_client: QBOClient, realm: str) -> None:
    """``str.isdigit`` takes fullwidth and Arabic-Indic digits; a URL built from them names no company."""
    with pytest.raises(QBOConfigError, match="not a QuickBooks company"):
        QBOClient(realm, base_url="http://x", auth=qbo_client.auth, http=requests.Session())


def test_reads_are_counted_on_the_connection_outside_the_callers_transaction(
    app: t.Any, connected: Connection, qbo_client: QBOClient
) -> None:
    session = get_qbo(app).state(app).db.session
    conn = session.get(Connection, connected.id)
    conn.company_name = "uncommitted edit"
    qbo_client.company_info()
    list(qbo_client.query("SELECT * FROM Customer"))
    qbo_client.create("Customer", {"DisplayName": "Write, not a read"})
    session.rollback()
    conn = session.get(Connection, connected.id)
    assert conn.reads_count == 2
    assert conn.reads_month == dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    assert conn.company_name == "Test Company"
    assert qbo_client.stats["reads"] == 2 and qbo_client.stats["writes"] == 1


def test_read_counter_restarts_each_month(app: t.Any, connected: Connection, qbo_client: QBOClient) -> None:
    session = get_qbo(app).state(app).db.session
    conn = session.get(Connection, connected.id)
    conn.reads_month, conn.reads_count = "2000-01", 50
    session.commit()
    qbo_client.company_info()
    session.expire_all()
    conn = session.get(Connection, connected.id)
    assert (conn.reads_month, conn.reads_count) == (dt.datetime.now(dt.timezone.utc).strftime("%Y-%m"), 1)
