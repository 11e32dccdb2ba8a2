"""flask_qbo.delete_warning(contact) and its partial: what a contact owes, from the mirror, for its own tenant."""

from __future__ import annotations

import typing as t
from decimal import Decimal

from flask import render_template_string

import flask_qbo
from flask_qbo import DeleteWarning
from flask_qbo import delete_warning
from tests.hostapp import Contact
from tests.hostapp import db
from tests.widgets.widget_factories import add_contact
from tests.widgets.widget_factories import add_txn
from tests.widgets.widget_factories import days_ago
from tests.widgets.widget_factories import link_customer

PARTIAL = '{% include "qbo/partials/_delete_warning.html" %}'


def _warning(app: t.Any, contact_id: int) -> DeleteWarning | None:
    with app.test_request_context("/"):
        return delete_warning(db.session.get(Contact, contact_id))


def _partial(app: t.Any, contact_id: int) -> str:
    with app.test_request_context("/"):
        return render_template_string(PARTIAL, contact=db.session.get(Contact, contact_id))


def test_it_is_public() -> None:
    assert {"delete_warning", "DeleteWarning"} <= set(flask_qbo.__all__)


def test_balance_and_overdue_come_from_the_mirror(app: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app, first_name="Dmitri", last_name="Castellano")
    link_customer(app, contact_id, balance=Decimal("1812.75"), currency="USD")
    add_txn(app, "Invoice", "1", total="1054.18", balance="1054.18", due_date=days_ago(12))
    add_txn(app, "Invoice", "2", total="758.57", balance="758.57", due_date=days_ago(-20))
    warning = _warning(app, contact_id)
    assert warning == DeleteWarning(
        name="Dmitri Castellano", balance=Decimal("1812.75"), overdue=Decimal("1054.18"), currency="USD"
    )
    assert warning.text == "Dmitri Castellano owes $1,812.75, $1,054.18 overdue"


def test_nothing_overdue_says_only_the_balance_in_the_customers_currency(app: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app, first_name="Lena", last_name="Kraus")
    link_customer(app, contact_id, balance=Decimal("99.5"), currency="EUR")
    warning = _warning(app, contact_id)
    assert warning is not None and warning.currency == "EUR"
    assert warning.text == "Lena Kraus owes €99.50"


def test_without_balance_in_qbo_the_open_invoices_count(app: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app, first_name="Omar", last_name="Haddad")
    link_customer(app, contact_id, balance=None)
    add_txn(app, "Invoice", "7", total="40", balance="40", due_date=days_ago(3))
    warning = _warning(app, contact_id)
    assert warning is not None and warning.text == "Omar Haddad owes $40.00, $40.00 overdue"


def test_an_unapplied_credit_is_named_and_the_figures_stay_the_cards(app: t.Any, connected: t.Any) -> None:
    # The demo's Dmitri Castellano: QuickBooks' balance is net of a $295.61 unapplied credit memo,
    # the overdue invoice is $1,054.18 -- the card shows both, so the warning does too.
    contact_id = add_contact(app, first_name="Dmitri", last_name="Castellano")
    link_customer(app, contact_id, balance=Decimal("758.57"))
    add_txn(app, "Invoice", "8", total="1054.18", balance="1054.18", due_date=days_ago(40))
    add_txn(app, "CreditMemo", "9", total="295.61", balance="295.61")
    warning = _warning(app, contact_id)
    assert warning is not None
    assert (warning.balance, warning.overdue, warning.credit) == (
        Decimal("758.57"),
        Decimal("1054.18"),
        Decimal("295.61"),
    )
    assert warning.text == "Dmitri Castellano owes $758.57 ($1,054.18 overdue, less $295.61 unapplied credit)"


def test_no_balance_no_warning(app: t.Any, connected: t.Any) -> None:
    paid = add_contact(app, first_name="Paid", last_name="Up")
    link_customer(app, paid, balance=Decimal("0"))
    in_credit = add_contact(app, first_name="In", last_name="Credit")
    link_customer(app, in_credit, qbo_id="59", balance=Decimal("-25"))
    unlinked = add_contact(app, first_name="Not", last_name="Synced")
    for contact_id in (paid, in_credit, unlinked):
        assert _warning(app, contact_id) is None
        assert _partial(app, contact_id).strip() == ""


def test_another_tenants_customer_is_never_read(app: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app, first_name="Ada")
    # globex's mirror holds a customer under the same contact key, owing money.
    link_customer(app, contact_id, tenant="globex", qbo_id="77", balance=Decimal("500"))
    assert _warning(app, contact_id) is None


def test_the_partial_escapes_the_name(app: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app, first_name="<script>alert(1)</script>", last_name="Doe")
    link_customer(app, contact_id, balance=Decimal("10"))
    html = _partial(app, contact_id)
    assert "data-qbo-delete-warning" in html and 'role="alert"' in html
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Doe owes $10.00" in html
