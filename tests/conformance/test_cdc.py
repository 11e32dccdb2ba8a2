"""Documented CDC pages, Deleted stubs included, read by the client and applied to the mirror.

The page is served by a canned transport to :meth:`QBOClient.cdc
<flask_qbo.intuit.client.QBOClient.cdc>`, the pull's CDC reader; the objects it
returns go through the mirror as the CDC poll applies them: a ``Deleted`` stub
tombstones the transaction at its ``LastUpdatedTime``, a deactivated customer
stays a customer row with ``active`` false.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest
import requests
from requests.adapters import BaseAdapter
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from flask_qbo.intuit.client import QBOClient
from flask_qbo.models import Connection
from flask_qbo.models import metadata
from flask_qbo.sync.pull import mirror

from . import corpus

REALM = "9130350000000001"
BASE = "http://qbo.conformance.test"
CDC = corpus.cases("cdc")


class CannedAdapter(BaseAdapter):
    """Answers every request with one body, keeping the requests it saw."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body
        self.seen: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        self.seen.append(request)
        response = requests.Response()
        response.status_code = 200
        response._content = self.body
        response.headers["Content-Type"] = "application/json"
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        """Nothing to release."""


class FixedToken:
    """A token source that never needs refreshing (the canned transport checks nothing)."""

    def token(self) -> str:
        return "conformance"

    def refresh(self, rejected: str) -> str:
        return "conformance"

    def fail(self, reason: str) -> None:
        raise AssertionError(reason)


def _read(case: corpus.Case) -> tuple[dict[str, list[dict[str, t.Any]]], CannedAdapter]:
    adapter = CannedAdapter(case.body)
    http = requests.Session()
    http.mount(BASE, adapter)
    client = QBOClient(REALM, base_url=BASE, auth=FixedToken(), http=http, max_retries=0)
    since = dt.datetime(2015, 12, 22, tzinfo=dt.timezone.utc)
    return client.cdc(case.expect["entities"], since), adapter


@pytest.mark.parametrize("case", CDC, ids=str)
def test_cdc_page_reads_every_object_and_stub(case: corpus.Case) -> None:
    objects, adapter = _read(case)
    assert len(adapter.seen) == 1 and "/cdc?" in (adapter.seen[0].url or "")
    assert set(objects) == set(case.expect["entities"])
    for entity, wanted in case.expect["objects"].items():
        got = objects[entity]
        assert [str(o["Id"]) for o in got] == [w["Id"] for w in wanted], entity
        for obj, want in zip(got, wanted, strict=True):
            assert (obj.get("status") == "Deleted") is want["deleted"], (entity, obj)


@pytest.mark.parametrize("case", CDC, ids=str)
def test_cdc_objects_apply_to_the_mirror(case: corpus.Case) -> None:
    objects, _adapter = _read(case)
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with Session(engine) as session:
        connection = Connection(tenant_key="acme", realm_id=REALM, status="connected")
        session.add(connection)
        session.flush()
        for entity, wanted in case.expect["objects"].items():
            for data, want in zip(objects[entity], wanted, strict=True):
                if entity == "Customer":
                    row = mirror.upsert_customer(session, connection, data)
                    assert row.active is want["active"]
                    continue
                txn = mirror.upsert_transaction(session, REALM, entity, data, today=dt.date(2015, 12, 23))
                assert txn.deleted is want["deleted"]
                if want["deleted"]:
                    assert txn.qbo_updated_at is not None
                    assert txn.qbo_updated_at.isoformat() == want["last_updated"]
        session.flush()


def test_the_corpus_has_deleted_stubs_and_an_empty_page() -> None:
    stubs = [
        obj
        for case in CDC
        for block in case.payload["CDCResponse"]
        for group in block["QueryResponse"]
        for value in group.values()
        if isinstance(value, list)
        for obj in value
        if obj.get("status") == "Deleted"
    ]
    assert stubs and all(set(stub) == {"domain", "status", "Id", "MetaData"} for stub in stubs)
    assert any(case.payload["CDCResponse"] == [{"QueryResponse": [{}]}] for case in CDC)
