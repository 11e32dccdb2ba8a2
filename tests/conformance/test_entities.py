"""Documented entity JSON, with every optional field and with the minimum, lands in the mirror right.

Customers go through :func:`~flask_qbo.sync.pull.mirror.upsert_customer` (the
summary card's columns) and through the import's matching
(:func:`~flask_qbo.sync.payload.qbo_values` and
:func:`~flask_qbo.importing.matching.keys_of`); transactions through
:func:`~flask_qbo.sync.pull.mirror.upsert_transaction` and the badge the
widgets show (:func:`~flask_qbo.widgets.data.display_status`).  The expected
columns are each case's ``expect``.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from flask_qbo import FieldMap
from flask_qbo.importing.matching import keys_of
from flask_qbo.models import Connection
from flask_qbo.models import RefItem
from flask_qbo.models import metadata
from flask_qbo.sync.payload import qbo_values
from flask_qbo.sync.pull import mirror
from flask_qbo.widgets.data import display_status

from . import corpus

#: "Today" for statuses: after the full invoice's due date, before the minimal one's.
TODAY = dt.date(2015, 8, 1)
ENTITIES = corpus.cases("entities")
CUSTOMERS = [case for case in ENTITIES if case.name.startswith("customer.")]
TRANSACTIONS = [case for case in ENTITIES if not case.name.startswith("customer.")]


@pytest.fixture
def session() -> t.Iterator[Session]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with Session(engine) as s:
        s.add(Connection(tenant_key="acme", realm_id="9130350000000001", status="connected"))
        s.add(RefItem(realm_id="9130350000000001", kind="PaymentMethod", qbo_id="2", name="Check"))
        s.flush()
        yield s


def _column(value: object) -> object:
    """A mirror column as the corpus writes it: times and dates in ISO form, money as text."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, str)):
        return value
    return str(value)


@pytest.mark.parametrize("case", CUSTOMERS, ids=str)
def test_customer_fills_the_card_columns(session: Session, case: corpus.Case) -> None:
    name, data = corpus.entity(case.name)
    assert name == "Customer"
    row = mirror.upsert_customer(session, session.query(Connection).one(), data)
    session.flush()
    got = {column: _column(getattr(row, column)) for column in case.expect["customer"]}
    assert got == case.expect["customer"]


@pytest.mark.parametrize("case", CUSTOMERS, ids=str)
def test_customer_match_keys_for_the_import(case: corpus.Case) -> None:
    """The import pairs customers with contacts on these keys: every documented contact field counts."""
    _name, data = corpus.entity(case.name)
    values = qbo_values(data, FieldMap.default())
    values["DisplayName"] = data.get("DisplayName")
    keys = {kind: sorted(found) for kind, found in keys_of(values).items()}
    assert keys == {kind: sorted(found) for kind, found in case.expect["match_keys"].items()}


@pytest.mark.parametrize("case", CUSTOMERS, ids=str)
def test_customer_values_round_trip_the_field_map(case: corpus.Case) -> None:
    """Every mapped path the payload holds is read; an absent one reads as empty, never as an error."""
    _name, data = corpus.entity(case.name)
    values = qbo_values(data, FieldMap.default())
    for path, value in values.items():
        head, _, tail = path.partition(".")
        raw = data.get(head)
        if tail and isinstance(raw, dict):
            raw = raw.get(tail)
        if path == "Active":
            assert value == (raw is not False)
        elif raw in (None, ""):
            assert value in (None, ""), (path, value)
        else:
            assert value, (path, raw)


@pytest.mark.parametrize("case", TRANSACTIONS, ids=str)
def test_transaction_fills_the_folder_columns(session: Session, case: corpus.Case) -> None:
    name, data = corpus.entity(case.name)
    assert name in mirror.TRANSACTION_TYPES
    row = mirror.upsert_transaction(session, "9130350000000001", name, data, today=TODAY)
    session.flush()
    expected = dict(case.expect["transaction"])
    status = expected.pop("status")
    got = {column: _column(getattr(row, column)) for column in expected}
    assert got == expected
    assert (row.txn_type, row.qbo_id, row.deleted) == (name, data["Id"], False)
    assert display_status(row, TODAY) == status


def test_the_corpus_has_a_full_and_a_minimal_example_per_kind() -> None:
    names = {case.name for case in ENTITIES}
    for kind in ("customer", "invoice", "payment", "estimate", "creditmemo", "salesreceipt"):
        assert {f"{kind}.full", f"{kind}.minimal"} <= names, kind
        _entity, full = corpus.entity(f"{kind}.full")
        _entity, minimal = corpus.entity(f"{kind}.minimal")
        assert set(minimal) < set(full), kind
