"""The estimate/invoice form: who sees it, what it offers, live totals, refusals, saving (issue 17, items 2-3)."""

from __future__ import annotations

import typing as t
from decimal import Decimal

import pytest

from flask_qbo.models import CompanyPrefs
from flask_qbo.models import Document
from flask_qbo.models import DocumentState
from flask_qbo.models import Outbox
from flask_qbo.models import OutboxOp
from flask_qbo.models import OutboxStatus
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import push_now
from flask_qbo.views.csrf import SESSION_KEY
from tests.conftest import login
from tests.hostapp import ACME_ADMIN
from tests.hostapp import ACME_USER
from tests.hostapp import GLOBEX_ADMIN
from tests.hostapp import db
from tests.views.billing_factories import add_item
from tests.views.billing_factories import add_prefs
from tests.views.billing_factories import add_tax_code
from tests.views.billing_factories import add_term
from tests.views.billing_factories import allow_billing
from tests.views.billing_factories import invoice_form
from tests.views.billing_factories import token
from tests.widgets.widget_factories import HX
from tests.widgets.widget_factories import add_contact
from tests.widgets.widget_factories import link_customer


@pytest.fixture
def contact_id(app: t.Any, connected: t.Any) -> int:
    """An Acme contact linked to customer 58; item 1 "Garden design" at 75.00; ACME_ADMIN may bill."""
    contact = add_contact(app, email="ada@example.com")
    link_customer(app, contact, email="ada@example.com", terms_id="3")
    add_item(app, "1", "Garden design", "75.00")
    allow_billing(app, ACME_ADMIN)
    return contact


def _html(response: t.Any) -> str:
    return str(response.get_data(as_text=True))


# -- who may bill -------------------------------------------------------------------------


def test_buttons_show_only_for_users_the_hook_allows(client: t.Any, contact_id: int) -> None:
    login(client, ACME_ADMIN)
    folder = _html(client.get(f"/qbo/w/{contact_id}/transactions", headers=HX))
    assert 'data-qbo-new="invoice"' in folder and 'data-qbo-new="estimate"' in folder
    login(client, ACME_USER)
    folder = _html(client.get(f"/qbo/w/{contact_id}/transactions", headers=HX))
    assert "data-qbo-new" not in folder and "New invoice" not in folder
    card = _html(client.get(f"/qbo/w/{contact_id}/summary", headers=HX))
    assert "data-qbo-card-new" not in card
    login(client, ACME_ADMIN)
    card = _html(client.get(f"/qbo/w/{contact_id}/summary", headers=HX))
    assert f'href="/qbo/billing/{contact_id}/new/invoice" hx-boost="false" data-qbo-card-new>New invoice<' in card


def test_without_a_hook_nobody_sees_the_buttons_or_reaches_the_form(app: t.Any, connected: t.Any) -> None:
    contact = add_contact(app)
    link_customer(app, contact)
    client = app.test_client()
    login(client, ACME_ADMIN)
    assert "data-qbo-new" not in _html(client.get(f"/qbo/w/{contact}/transactions", headers=HX))
    assert client.get(f"/qbo/billing/{contact}/new/invoice").status_code == 403


def test_estimates_hidden_when_the_company_turned_them_off(app: t.Any, client: t.Any, contact_id: int) -> None:
    add_prefs(app, allow_estimates=False)
    login(client, ACME_ADMIN)
    folder = _html(client.get(f"/qbo/w/{contact_id}/transactions", headers=HX))
    assert 'data-qbo-new="invoice"' in folder and 'data-qbo-new="estimate"' not in folder
    assert client.get(f"/qbo/billing/{contact_id}/new/estimate").status_code == 404


def test_every_endpoint_refuses_a_user_the_hook_does_not_allow(client: t.Any, contact_id: int) -> None:
    login(client, ACME_USER)
    tok = token(client, contact_id)
    headers = {"X-CSRFToken": tok}
    base = f"/qbo/billing/{contact_id}"
    assert client.get(f"{base}/new/invoice").status_code == 403
    assert client.post(f"{base}/new/invoice", data=invoice_form(), headers=headers).status_code == 403
    assert client.post(f"{base}/totals", data=invoice_form(), headers=headers).status_code == 403
    assert client.get(f"{base}/items?line=0&q=garden").status_code == 403
    with client.application.app_context():
        assert db.session.query(Document).count() == 0


def test_another_tenants_contact_is_not_found(client: t.Any, contact_id: int) -> None:
    login(client, GLOBEX_ADMIN)
    base = f"/qbo/billing/{contact_id}"
    assert client.get(f"{base}/new/invoice").status_code == 404
    assert client.get(f"{base}/items?line=0&q=garden").status_code == 404
    tok = token_for_globex(client)
    assert client.post(f"{base}/new/invoice", data=invoice_form(), headers={"X-CSRFToken": tok}).status_code == 404


def token_for_globex(client: t.Any) -> str:
    """A valid token for the Globex admin's session (Globex is not connected, so no card renders one)."""
    with client.session_transaction() as session:
        session[SESSION_KEY] = "globex-token"
    return "globex-token"


def test_posts_are_refused_without_the_csrf_token(app: t.Any, client: t.Any, contact_id: int) -> None:
    login(client, ACME_ADMIN)
    tok = token(client, contact_id)
    base = f"/qbo/billing/{contact_id}"
    for path in (f"{base}/new/invoice", f"{base}/totals"):
        assert client.post(path, data=invoice_form()).status_code == 400, path
        assert client.post(path, data=invoice_form(csrf_token="forged")).status_code == 400, path
    with app.app_context():
        assert db.session.query(Document).count() == 0
    assert client.post(f"{base}/new/invoice", data=invoice_form(csrf_token=tok)).status_code == 303


# -- the form ---------------------------------------------------------------------------


def test_form_offers_the_mirrors_items_terms_and_the_customers_email(
    app: t.Any, client: t.Any, contact_id: int
) -> None:
    add_item(app, "2", "Old service", active=False)
    add_item(app, "3", "Plants", type="Category")
    add_term(app, "3", "Net 30")
    add_term(app, "4", "Due on receipt")
    login(client, ACME_ADMIN)
    page = _html(client.get(f"/qbo/billing/{contact_id}/new/invoice", headers=HX))
    assert '<option value="1">Garden design</option>' in page
    assert "Old service" not in page and "Plants" not in page  # inactive items and categories are not sold
    assert '<option value="3" selected>Net 30</option>' in page  # the customer's terms
    assert 'name="bill_email" maxlength="100" value="ada@example.com"' in page
    assert "data-qbo-currency>USD<" in page and 'name="exchange_rate"' not in page
    assert 'name="line-0-tax_code"' not in page  # a company without sales tax shows no tax column
    assert 'name="send" value="1"' in page


def test_per_line_company_lists_its_tax_codes(app: t.Any, client: t.Any, contact_id: int) -> None:
    add_prefs(app, country="CA", home_currency="CAD", tax_model="per_line")
    add_tax_code(app, "5", "GST", "5")
    add_tax_code(app, "6", "Exempt")
    login(client, ACME_ADMIN)
    page = _html(client.get(f"/qbo/billing/{contact_id}/new/invoice", headers=HX))
    assert '<option value="5">GST</option>' in page and '<option value="6">Exempt</option>' in page


def test_us_company_asks_taxable_or_not_and_says_quickbooks_computes_tax(
    app: t.Any, client: t.Any, contact_id: int
) -> None:
    add_prefs(app, tax_model="us_ast")
    login(client, ACME_ADMIN)
    page = _html(client.get(f"/qbo/billing/{contact_id}/new/invoice", headers=HX))
    assert '<option value="TAX">Taxable</option>' in page
    assert "Sales tax is calculated by QuickBooks" in page


def test_foreign_customer_shows_its_currency_and_asks_the_exchange_rate(app: t.Any, connected: t.Any) -> None:
    add_prefs(app, multi_currency=True)
    contact = add_contact(app)
    link_customer(app, contact, currency="EUR")
    allow_billing(app, ACME_ADMIN)
    client = app.test_client()
    login(client, ACME_ADMIN)
    page = _html(client.get(f"/qbo/billing/{contact}/new/invoice", headers=HX))
    assert "data-qbo-currency>EUR<" in page and 'name="exchange_rate"' in page


def test_form_without_htmx_is_a_whole_page(client: t.Any, contact_id: int) -> None:
    login(client, ACME_ADMIN)
    response = client.get(f"/qbo/billing/{contact_id}/new/estimate")
    assert response.status_code == 200
    page = _html(response)
    assert "<html" in page.lower() and "New estimate" in page and 'name="expiration_date"' in page


# -- live totals, lines and items ---------------------------------------------------------


def test_totals_are_recomputed_in_decimal(app: t.Any, client: t.Any, contact_id: int) -> None:
    add_prefs(app, country="CA", home_currency="USD", tax_model="per_line")
    add_tax_code(app, "5", "GST", "5")
    login(client, ACME_ADMIN)
    tok = token(client, contact_id)
    form = invoice_form(
        **{
            "line-0-qty": "3",
            "line-0-unit_price": "0.335",  # 1.005 → 1.01 half-up
            "line-0-tax_code": "5",
            "line-1-item": "1",
            "line-1-qty": "1",
            "line-1-unit_price": "19.99",
            "line-1-tax_code": "5",
            "discount_percent": "10",
        }
    )
    page = _html(client.post(f"/qbo/billing/{contact_id}/totals", data=form, headers={**HX, "X-CSRFToken": tok}))
    # subtotal 1.01 + 19.99 = 21.00; discount 2.10; GST 5 % of the discounted 18.90 = 0.945, rounded once
    # per rate half-up = 0.95; total 19.85 (billing.totals is the rule; the page shows its figures)
    assert 'data-qbo-total="subtotal">$21.00<' in page
    assert 'data-qbo-total="discount">−$2.10<' in page
    assert 'data-qbo-total="tax">$0.95<' in page
    assert 'data-qbo-total="total">$19.85<' in page
    assert 'hx-swap-oob="true">$1.01<' in page  # the line's own amount, out of band
    assert 'hx-target="this"' in page  # not the form's inherited target, which would replace the whole form


def test_add_and_remove_lines_keep_what_was_typed(client: t.Any, contact_id: int) -> None:
    login(client, ACME_ADMIN)
    tok = token(client, contact_id)
    url = f"/qbo/billing/{contact_id}/new/invoice"
    added = _html(client.post(url, data=invoice_form(csrf_token=tok, add_line="1"), headers=HX))
    assert 'name="line-1-qty"' in added and 'value="Garden design"' not in added  # description is a textarea
    assert ">Garden design</textarea>" in added
    removed = _html(
        client.post(
            url, data=invoice_form(csrf_token=tok, remove_line="0", **{"line-1-description": "Keep me"}), headers=HX
        )
    )
    assert 'name="line-0-qty"' not in removed and ">Keep me</textarea>" in removed
    with client.application.app_context():
        assert db.session.query(Document).count() == 0  # editing the form saves nothing


def test_item_search_and_pick_fill_description_and_price(app: t.Any, client: t.Any, contact_id: int) -> None:
    add_item(app, "7", "Lawn mowing", "40.50", description="Weekly mowing")
    login(client, ACME_ADMIN)
    found = _html(client.get(f"/qbo/billing/{contact_id}/items?line=2&q=mow", headers=HX))
    assert 'name="pick" value="2:7"' in found and "Lawn mowing" in found and "Garden design" not in found
    tok = token(client, contact_id)
    form = {"csrf_token": tok, "kind": "Invoice", "line-2-item": "", "line-2-qty": "", "pick": "2:7"}
    page = _html(client.post(f"/qbo/billing/{contact_id}/new/invoice", data=form, headers=HX))
    assert '<option value="7" selected>Lawn mowing</option>' in page
    assert (
        ">Weekly mowing</textarea>" in page
        and 'name="line-2-unit_price" inputmode="decimal" size="8" value="40.50"' in page
    )
    assert 'name="line-2-qty" inputmode="decimal" size="5" value="1"' in page
    assert "$40.50" in page  # the line's amount and the totals follow


@pytest.mark.parametrize(("customer_taxable", "code"), [(True, "TAX"), (False, "NON"), (None, "TAX")])
def test_a_picked_item_is_not_taxed_for_a_customer_marked_not_taxable(
    app: t.Any, connected: t.Any, customer_taxable: bool | None, code: str
) -> None:
    add_prefs(app, tax_model="us_ast")
    contact = add_contact(app)
    link_customer(app, contact, taxable=customer_taxable)
    add_item(app, "7", "Lawn mowing", "40.50", taxable=True)
    allow_billing(app, ACME_ADMIN)
    client = app.test_client()
    login(client, ACME_ADMIN)
    form = {"csrf_token": token(client, contact), "kind": "Invoice", "line-0-item": "", "pick": "0:7"}
    page = _html(client.post(f"/qbo/billing/{contact}/new/invoice", data=form, headers=HX))
    assert f'<option value="{code}" selected>' in page


# -- refusal and saving ----------------------------------------------------------------------


def test_refused_form_comes_back_with_values_and_the_fields_message(client: t.Any, contact_id: int) -> None:
    login(client, ACME_ADMIN)
    tok = token(client, contact_id)
    form = invoice_form(
        csrf_token=tok, **{"line-0-qty": "1,5", "customer_memo": "Thanks <b>a lot</b>", "bill_email": "not-an-email"}
    )
    response = client.post(f"/qbo/billing/{contact_id}/new/invoice", data=form)
    assert response.status_code == 422
    page = _html(response)
    assert 'value="1,5" aria-invalid="true" aria-describedby="line-0-qty-error"' in page
    assert 'id="line-0-qty-error"' in page and "without commas" in page
    assert 'id="bill_email-error"' in page
    assert "Thanks &lt;b&gt;a lot&lt;/b&gt;</textarea>" in page
    with client.application.app_context():
        assert db.session.query(Document).count() == 0 and db.session.query(Outbox).count() == 0


def test_validator_problems_land_on_the_forms_own_line(client: t.Any, contact_id: int) -> None:
    """After a removed line the draft's line 0 is the form's line 3: the message goes beside line 3."""
    login(client, ACME_ADMIN)
    tok = token(client, contact_id)
    form = {
        "csrf_token": tok,
        "kind": "Invoice",
        "line-3-description": "No item",
        "line-3-qty": "1",
        "line-3-unit_price": "5",
    }
    page = _html(client.post(f"/qbo/billing/{contact_id}/new/invoice", data=form, headers=HX))
    assert 'id="line-3-item-error"' in page and "Choose a product or service." in page


def test_save_queues_the_document_and_the_folder_shows_it_sending(app: t.Any, client: t.Any, contact_id: int) -> None:
    login(client, ACME_ADMIN)
    tok = token(client, contact_id)
    folder = _html(client.post(f"/qbo/billing/{contact_id}/new/invoice", data=invoice_form(csrf_token=tok), headers=HX))
    assert "Sending to QuickBooks…" in folder and "$150.00" in folder
    assert "Invoice saved; sending it to QuickBooks…" in folder and "sent to QuickBooks." not in folder
    assert 'hx-trigger="every 2s"' in folder  # it polls until QuickBooks answers
    with app.app_context():
        doc = db.session.query(Document).one()
        assert (doc.kind, doc.state, doc.total, doc.contact_key) == (
            "Invoice",
            DocumentState.SENDING,
            Decimal("150.00"),
            str(contact_id),
        )
        assert doc.created_by == "admin@acme.test"
        row = db.session.query(Outbox).one()
        assert (row.op, row.status, row.target) == (OutboxOp.CREATE_DOC, OutboxStatus.PENDING, {"document_id": doc.id})
    card = _html(client.get(f"/qbo/w/{contact_id}/summary", headers=HX))
    assert "Waiting to sync" not in card  # a document on its way is not the contact's sync state


def test_an_invoice_for_a_contact_not_in_quickbooks_yet_is_made_after_the_contacts_create(
    app: t.Any, client: t.Any, connected: t.Any, emulator: t.Any
) -> None:
    contact = add_contact(app, last_name="Crane", email="olivia@crane.example")  # never synced: nothing queued
    add_item(app, "1", "Garden design", "75.00")
    allow_billing(app, ACME_ADMIN)
    login(client, ACME_ADMIN)
    folder = _html(client.get(f"/qbo/w/{contact}/transactions", headers=HX))
    assert "New invoice" in folder
    tok = token(client, contact)
    client.post(f"/qbo/billing/{contact}/new/invoice", data=invoice_form(csrf_token=tok), headers=HX)
    push_now(app)
    folder = _html(client.get(f"/qbo/w/{contact}/transactions", headers=HX))
    assert "Refused by QuickBooks" not in folder and "Not sent" not in folder and "Sending to" not in folder
    [invoice] = emulator.store.list(TEST_REALM, "Invoice")
    [customer] = emulator.store.list(TEST_REALM, "Customer")
    assert invoice["CustomerRef"]["value"] == customer["Id"] and customer["DisplayName"] == "Ada Crane"
    with app.app_context():
        assert db.session.query(Document).one().state == DocumentState.CREATED


def test_plain_form_post_redirects_to_the_folder(client: t.Any, contact_id: int) -> None:
    login(client, ACME_ADMIN)
    tok = token(client, contact_id)
    response = client.post(f"/qbo/billing/{contact_id}/new/invoice", data=invoice_form(csrf_token=tok))
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/qbo/w/{contact_id}/transactions")
    folder = _html(client.get(response.headers["Location"]))  # the standalone page says what happened
    assert "Invoice saved; sending it to QuickBooks…" in folder


def test_with_qbo_contact_url_a_plain_post_and_cancel_go_back_to_the_contact(
    app: t.Any, client: t.Any, contact_id: int
) -> None:
    app.config["QBO_CONTACT_URL"] = "/crm/contacts/{contact_key}"
    login(client, ACME_ADMIN)
    form = _html(client.get(f"/qbo/billing/{contact_id}/new/invoice"))
    assert f'href="/crm/contacts/{contact_id}"' in form  # Cancel without JavaScript
    assert f'hx-get="/qbo/w/{contact_id}/transactions"' in form  # Cancel with htmx still swaps the folder
    tok = token(client, contact_id)
    response = client.post(f"/qbo/billing/{contact_id}/new/invoice", data=invoice_form(csrf_token=tok))
    assert response.status_code == 303 and response.headers["Location"] == f"/crm/contacts/{contact_id}"
    with client.session_transaction() as session:
        assert ("message", "Invoice saved; sending it to QuickBooks…") in session["_flashes"]


def test_a_typed_estimate_id_never_links_a_new_invoice(app: t.Any, client: t.Any, contact_id: int) -> None:
    """Only "Convert to invoice" (which checks the estimate is this contact's) links one."""
    login(client, ACME_ADMIN)
    tok = token(client, contact_id)
    client.post(f"/qbo/billing/{contact_id}/new/invoice", data=invoice_form(csrf_token=tok, estimate="999"))
    with app.app_context():
        doc = db.session.query(Document).one()
        assert doc.estimate_qbo_id is None and "LinkedTxn" not in doc.body


# -- a form opened before the runners' first reference read ---------------------------------------


@pytest.fixture
def unread(app: t.Any, connected: t.Any, monkeypatch: pytest.MonkeyPatch) -> int:
    """A linked contact ACME_ADMIN may bill, in a company none of whose reference data is mirrored yet."""
    from flask_qbo.billing import reference

    monkeypatch.setattr(reference, "_failed", {})  # failures this process remembers, this test's own
    contact = add_contact(app, email="ada@example.com")
    link_customer(app, contact, email="ada@example.com")
    allow_billing(app, ACME_ADMIN)
    return contact


def test_a_form_opened_before_the_first_reference_read_reads_it(app: t.Any, client: t.Any, unread: int) -> None:
    """The first sync can end before the runners read the company's items: the form reads them itself,
    once, instead of offering no product."""
    login(client, ACME_ADMIN)
    page = _html(client.get(f"/qbo/billing/{unread}/new/invoice"))
    assert ">Services</option>" in page  # the emulator company's own item
    with app.app_context():
        assert db.session.query(CompanyPrefs).filter_by(realm_id=TEST_REALM).count() == 1


def test_a_failed_first_read_opens_the_form_and_is_not_retried_by_every_request(
    app: t.Any, client: t.Any, emulator: t.Any, unread: int
) -> None:
    app.config["QBO_MAX_RETRIES"] = 0  # QuickBooks is down: no retry to wait through here
    emulator.faults.fail_next(n=50, status=500, path_contains="query")
    login(client, ACME_ADMIN)
    before = emulator.counters[TEST_REALM]["requests"]
    assert client.get(f"/qbo/billing/{unread}/new/invoice").status_code == 200  # no items, but a form
    asked = emulator.counters[TEST_REALM]["requests"]
    assert asked > before
    assert client.get(f"/qbo/billing/{unread}/new/invoice").status_code == 200
    assert emulator.counters[TEST_REALM]["requests"] == asked  # the runners try again, not each request
