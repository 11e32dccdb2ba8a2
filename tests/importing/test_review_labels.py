"""The import preview names fields by their labels, for a host whose fields are computed or span several paths."""

from __future__ import annotations

import typing as t

import pytest

from flask_qbo import get_qbo
from flask_qbo.importing import fetch
from flask_qbo.importing import review
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from tests.sync.onename import Address
from tests.sync.onename import Person
from tests.sync.onename import db
from tests.sync.onename import make_app


@pytest.fixture
def host(tmp_path: t.Any, emulator: t.Any) -> t.Iterator[t.Any]:
    app = make_app(f"sqlite:///{tmp_path / 'onename.sqlite'}")
    attach_emulator(app, emulator)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    with app.app_context():
        yield app


def test_preview_labels_computed_and_several_path_fields(host: t.Any, emulator: t.Any) -> None:
    person = Person(name="Ann Marie Lee", email="ann@example.com")
    person.addresses.append(Address(kind="billing", city="Springfield"))
    db.session.add(person)
    db.session.commit()
    emulator.store.create(
        TEST_REALM,
        "Customer",
        {
            "DisplayName": "Ann Marie Lee",
            "PrimaryEmailAddr": {"Address": "ann@example.com"},
            "BillAddr": {"City": "Shelbyville"},
        },
    )
    qbo = get_qbo()
    run = fetch.start_import(qbo, "acme", months=None, user="admin")
    while run.status == "fetching":
        run = fetch.run_import_step(qbo, run.id, budget=1)
    assert review.accept_all_exact(run.id) == 1
    (item,) = review.preview(run.id)
    # The city comes from a get=/set= field with no attribute: named by its QBO field.
    assert [(c["label"], c["from"], c["to"]) for c in item["crm"]] == [
        ("Billing address · City", "Springfield", "Shelbyville")
    ]
    # QBO lacks both parts of the one name: each path of the tuple field by its own name.
    assert [(c["label"], c["to"]) for c in item["qbo"]] == [("First name", "Ann Marie"), ("Last name", "Lee")]
