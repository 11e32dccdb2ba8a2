"""A customer's currency: sent in the create only, refused before sending when QBO would refuse it.

Runs :mod:`tests.sync.push.fxhost` (a client with a ``currency`` mapped
``on_create``) against the in-process emulator; the bodies the client sends
are recorded so "not sent" is asserted on the request, not on QBO's answer.
"""

from __future__ import annotations

import typing as t

import pytest

from flask_qbo import BOTH
from flask_qbo import ON_CREATE
from flask_qbo import Field
from flask_qbo import FieldMap
from flask_qbo import QBOConfigError
from flask_qbo import get_qbo
from flask_qbo.intuit.client import QBOClient
from flask_qbo.models import Customer
from flask_qbo.models import Outbox
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from tests.sync.push.fxhost import add
from tests.sync.push.fxhost import db
from tests.sync.push.fxhost import make_app
from tests.sync.push.fxhost import set_prefs

Sent = list[tuple[str, dict[str, t.Any]]]


@pytest.fixture
def host(tmp_path: t.Any, emulator: t.Any) -> t.Iterator[t.Any]:
    app = make_app(f"sqlite:///{tmp_path / 'fx.sqlite'}")
    attach_emulator(app, emulator)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    with app.app_context():
        yield app


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    """Every Customer body the client sends: ``("create" | "update" | "batch", body)``."""
    bodies: Sent = []
    create, sparse, batch = QBOClient.create, QBOClient.sparse_update, QBOClient.batch

    def record_create(self: QBOClient, entity: str, obj: dict[str, t.Any], request_id: str | None = None) -> t.Any:
        bodies.append(("create", dict(obj)))
        return create(self, entity, obj, request_id)

    def record_sparse(self: QBOClient, entity: str, obj: dict[str, t.Any], request_id: str | None = None) -> t.Any:
        bodies.append(("update", dict(obj)))
        return sparse(self, entity, obj, request_id)

    def record_batch(self: QBOClient, items: t.Any, request_id: str | None = None) -> t.Any:
        bodies.extend(("batch", dict(item.get("Customer") or {})) for item in items)
        return batch(self, items, request_id)

    monkeypatch.setattr(QBOClient, "create", record_create)
    monkeypatch.setattr(QBOClient, "sparse_update", record_sparse)
    monkeypatch.setattr(QBOClient, "batch", record_batch)
    return bodies


def drain() -> None:
    while push.process(get_qbo()) > 0:
        pass


def customer(emulator: t.Any, name: str) -> dict[str, t.Any]:
    found = [c for c in emulator.store.list(TEST_REALM, "Customer", include_inactive=True) if c["DisplayName"] == name]
    assert len(found) == 1, found
    return found[0]


def test_the_contacts_currency_goes_into_the_create(host: t.Any, emulator: t.Any, sent: Sent) -> None:
    set_prefs(TEST_REALM, home="USD", multi_currency=True)
    add("Ernst GmbH", email="e@ernst.example", currency="eur")
    drain()
    [(kind, body)] = sent
    assert kind == "create" and body["CurrencyRef"] == {"value": "EUR"}
    assert customer(emulator, "Ernst GmbH")["CurrencyRef"]["value"] == "EUR"
    assert db.session.query(Customer).one().currency == "EUR"  # the mirror keeps it


def test_a_later_currency_change_is_never_sent_and_the_card_says_why(host: t.Any, emulator: t.Any, sent: Sent) -> None:
    set_prefs(TEST_REALM, home="USD", multi_currency=True)
    client = add("Ernst GmbH", email="e@ernst.example", currency="EUR")
    drain()
    sent.clear()
    client.currency = "GBP"
    client.email = "office@ernst.example"
    db.session.commit()
    drain()
    [(kind, body)] = sent
    assert kind == "update" and "CurrencyRef" not in body
    assert body["PrimaryEmailAddr"]["Address"] == "office@ernst.example"
    assert customer(emulator, "Ernst GmbH")["CurrencyRef"]["value"] == "EUR"

    html = host.test_client().get(f"/qbo/w/{client.id}/summary").get_data(as_text=True)
    assert "Currency is fixed in QuickBooks once the customer exists (EUR)" in html
    assert "this contact now says GBP" in html


def test_a_currency_change_alone_queues_nothing(host: t.Any, emulator: t.Any, sent: Sent) -> None:
    set_prefs(TEST_REALM, home="USD", multi_currency=True)
    client = add("Ernst GmbH", currency="EUR")
    drain()
    sent.clear()
    client.currency = "GBP"
    db.session.commit()
    assert db.session.query(Outbox).filter(Outbox.status == "pending").count() == 0
    drain()
    assert sent == []


def test_the_home_currency_is_left_to_qbo(host: t.Any, emulator: t.Any, sent: Sent) -> None:
    set_prefs(TEST_REALM, home="USD", multi_currency=False)
    add("Local Shop", currency="USD")
    add("No Currency")
    drain()
    assert [kind for kind, _ in sent] == ["create", "create"]
    assert all("CurrencyRef" not in body for _, body in sent)
    assert customer(emulator, "Local Shop")["CurrencyRef"]["value"] == "USD"


@pytest.mark.parametrize("prefs", ["off", "missing"])
def test_a_foreign_currency_is_refused_before_sending_without_multicurrency(
    host: t.Any, emulator: t.Any, sent: Sent, prefs: str
) -> None:
    if prefs == "off":
        set_prefs(TEST_REALM, home="USD", multi_currency=False)
    add("Ernst GmbH", currency="EUR")
    emulator.reset_counters()
    drain()
    assert sent == [] and emulator.counters[TEST_REALM]["writes"] == 0
    row = db.session.query(Outbox).one()
    assert (row.status, row.error_code) == ("failed", "preflight")
    assert "currency: asks for EUR, but " in row.last_error
    assert ("multi-currency is off" if prefs == "off" else "have not been read yet") in row.last_error


def test_a_code_that_is_not_a_currency_is_refused(host: t.Any, emulator: t.Any, sent: Sent) -> None:
    set_prefs(TEST_REALM, home="USD", multi_currency=True)
    add("Odd Ltd", currency="E1")
    drain()
    row = db.session.query(Outbox).one()
    assert row.status == "failed" and "'E1' is not a currency code" in row.last_error and sent == []


def test_a_backlog_creates_in_batches_with_each_currency(host: t.Any, emulator: t.Any, sent: Sent) -> None:
    host.config["QBO_BATCH_THRESHOLD"] = 1
    set_prefs(TEST_REALM, home="USD", multi_currency=True)
    add("Ernst GmbH", currency="EUR")
    add("Brown Ltd", currency="GBP")
    add("Home Inc", currency="USD")
    drain()
    assert [kind for kind, _ in sent] == ["batch", "batch", "batch"]
    assert {body["DisplayName"]: body.get("CurrencyRef") for _, body in sent} == {
        "Ernst GmbH": {"value": "EUR"},
        "Brown Ltd": {"value": "GBP"},
        "Home Inc": None,
    }
    assert customer(emulator, "Brown Ltd")["CurrencyRef"]["value"] == "GBP"


def test_a_refused_currency_in_a_backlog_fails_alone(host: t.Any, emulator: t.Any, sent: Sent) -> None:
    host.config["QBO_BATCH_THRESHOLD"] = 1
    set_prefs(TEST_REALM, home="USD", multi_currency=False)
    add("Ernst GmbH", currency="EUR")
    add("Home Inc", currency="USD")
    add("Plain Co")
    drain()
    assert sorted(body["DisplayName"] for _, body in sent) == ["Home Inc", "Plain Co"]
    failed = db.session.query(Outbox).filter_by(status="failed").one()
    assert "asks for EUR" in (failed.last_error or "")


def test_the_currency_path_must_be_mapped_on_create() -> None:
    with pytest.raises(QBOConfigError, match="fixes CurrencyRef.value when the customer is created"):
        FieldMap(Field("currency", "CurrencyRef.value", BOTH))
    chart = FieldMap(Field("currency", "CurrencyRef.value", ON_CREATE)).chart()
    assert chart == [
        {
            "label": "Currency",
            "qbo": "Currency",
            "attr": "currency",
            "path": "CurrencyRef.value",
            "direction": "CRM → QBO (on create)",
        }
    ]


def test_any_on_create_field_is_in_the_create_and_never_in_an_update(
    tmp_path: t.Any, emulator: t.Any, sent: Sent
) -> None:
    fields = FieldMap(
        Field("name", "DisplayName"), Field("email", "Notes", ON_CREATE), Field("currency", "CompanyName")
    )
    app = make_app(f"sqlite:///{tmp_path / 'notes.sqlite'}", fields=fields)
    attach_emulator(app, emulator)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    with app.app_context():
        client = add("First Notes", email="taken at create")
        drain()
        client.email, client.currency = "edited later", "ACM"
        db.session.commit()
        drain()
    [(create, first), (update, second)] = sent
    assert (create, first["Notes"]) == ("create", "taken at create")
    assert update == "update" and second["CompanyName"] == "ACM" and "Notes" not in second
    assert customer(emulator, "First Notes")["Notes"] == "taken at create"
