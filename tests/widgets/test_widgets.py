"""The QB icon and summary card: states, permissions, htmx contract, live updates."""

from __future__ import annotations

import datetime as dt
import typing as t
from decimal import Decimal
from urllib.parse import quote

import pytest
from flask import render_template_string
from jinja2 import ChoiceLoader
from jinja2 import DictLoader

from flask_qbo.models import Connection
from flask_qbo.models import Customer
from flask_qbo.models import Outbox
from flask_qbo.state import get_qbo
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from tests.conftest import login
from tests.hostapp import ACME_USER
from tests.hostapp import GLOBEX_ADMIN
from tests.hostapp import Contact
from tests.hostapp import db
from tests.widgets.widget_factories import HX
from tests.widgets.widget_factories import add_contact
from tests.widgets.widget_factories import add_outbox
from tests.widgets.widget_factories import add_txn
from tests.widgets.widget_factories import days_ago
from tests.widgets.widget_factories import link_customer
from tests.widgets.widget_factories import update

WIDGETS = ("icon", "summary", "transactions", "statement")


def _get(client: t.Any, contact_id: int, widget: str, **headers: str) -> t.Any:
    return client.get(f"/qbo/w/{contact_id}/{widget}", headers={**HX, **headers})


# -- macros --------------------------------------------------------------------------


def test_macros_render_lazy_placeholders_with_csrf_header(app: t.Any) -> None:
    contact_id = add_contact(app)
    source = (
        '{% from "qbo/_macros.html" import qbo_assets, qbo_icon, qbo_summary, qbo_transactions %}'
        "{{ qbo_assets() }}{{ qbo_icon(c) }}{{ qbo_summary(c) }}{{ qbo_transactions(c) }}"
    )
    with app.test_request_context("/"):
        contact = db.session.get(Contact, contact_id)
        html = render_template_string(source, c=contact)
        token = app.jinja_env.globals["qbo_csrf_token"]()
    for widget in ("icon", "summary", "transactions"):
        assert f'hx-get="/qbo/w/{contact_id}/{widget}"' in html
    assert html.count('hx-trigger="load"') == 3
    assert f'"X-CSRFToken": "{token}"' in html
    assert "/qbo/w/static/qbo.css" in html and "/qbo/w/static/htmx.min.js" in html


def test_assets_use_the_hosts_htmx_when_given(app: t.Any) -> None:
    with app.test_request_context("/"):
        own = render_template_string(
            '{% from "qbo/_macros.html" import qbo_assets %}{{ qbo_assets(htmx_src="/static/host-htmx.js") }}'
        )
        none = render_template_string(
            '{% from "qbo/_macros.html" import qbo_assets %}{{ qbo_assets(include_htmx=false) }}'
        )
    assert "/static/host-htmx.js" in own and "htmx.min.js" not in own
    assert "htmx" not in none.replace("qbo.js", "") and "qbo.css" in none


def test_static_assets_are_served(client: t.Any) -> None:
    htmx = client.get("/qbo/w/static/htmx.min.js")
    assert htmx.status_code == 200 and b"Zero-Clause BSD" in htmx.data[:400]
    assert client.get("/qbo/w/static/qbo.css").status_code == 200
    assert b"<svg" in client.get("/qbo/w/static/qb-icon.svg").data


# -- QB icon states --------------------------------------------------------------------


def test_icon_not_connected(app: t.Any, client: t.Any) -> None:
    contact_id = add_contact(app)
    login(client, ACME_USER)
    html = _get(client, contact_id, "icon").get_data(as_text=True)
    assert 'data-qbo-state="not_connected"' in html
    assert "href=" not in html
    assert 'aria-describedby="qbo-icon-tip-' in html and 'role="tooltip"' in html


def test_icon_linked_opens_customer_in_qbo(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app)
    link_customer(app, contact_id, qbo_id="58")
    login(client, ACME_USER)
    html = _get(client, contact_id, "icon").get_data(as_text=True)
    assert 'data-qbo-state="linked"' in html
    url = f"http://qbo.emulator.test/app/customerdetail?nameId=58&amp;companyId={TEST_REALM}"
    assert f'href="{url}"' in html
    assert 'target="_blank" rel="noopener"' in html


def test_icon_deep_link_host_follows_environment(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app)
    link_customer(app, contact_id, qbo_id="58")
    app.config["QBO_APP_BASE_URL"] = "https://app.sandbox.qbo.intuit.com"
    login(client, ACME_USER)
    html = _get(client, contact_id, "icon").get_data(as_text=True)
    assert 'href="https://app.sandbox.qbo.intuit.com/app/customerdetail?nameId=58' in html


def test_icon_pending_without_link_or_with_pending_outbox(app: t.Any, client: t.Any, connected: t.Any) -> None:
    unlinked = add_contact(app)
    linked = add_contact(app)
    link_customer(app, linked, qbo_id="7")
    add_outbox(app, linked, status="pending")
    login(client, ACME_USER)
    first = _get(client, unlinked, "icon").get_data(as_text=True)
    assert 'data-qbo-state="pending"' in first and "href=" not in first
    second = _get(client, linked, "icon").get_data(as_text=True)
    assert 'data-qbo-state="pending"' in second
    assert "customerdetail?nameId=7" in second  # still opens the customer while the change is queued


def test_icon_failed_shows_outbox_reason_for_unlinked_contact(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app)
    add_outbox(app, contact_id, status="failed", last_error="Duplicate Name Exists Error")
    login(client, ACME_USER)
    html = _get(client, contact_id, "icon").get_data(as_text=True)
    assert 'data-qbo-state="failed"' in html
    assert 'title="QuickBooks sync failed: Duplicate Name Exists Error"' in html
    assert "Sync failed: Duplicate Name Exists Error" in html
    assert 'tabindex="0"' in html  # the reason is reachable by keyboard


def test_icon_failed_uses_customer_sync_error_when_linked(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app)
    link_customer(app, contact_id, sync_status="failed", sync_error="Invalid email <b>x</b>")
    login(client, ACME_USER)
    html = _get(client, contact_id, "icon").get_data(as_text=True)
    assert 'data-qbo-state="failed"' in html
    assert "Invalid email &lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html


# -- summary card -----------------------------------------------------------------------


def test_summary_shows_every_card_field(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app)
    link_customer(
        app,
        contact_id,
        terms_name="Net 30",
        payment_method_name="Check",
        delivery_method="Email",
        balance=Decimal("1234.50"),
        currency="USD",
        taxable=False,
        resale_num="RS-77",
        qbo_created_at=dt.datetime(2024, 3, 5, 12, 0, tzinfo=dt.timezone.utc),
        is_job=True,
        parent_name="Lovelace Holdings",
        last_synced_at=dt.datetime(2026, 1, 2, 9, 30, tzinfo=dt.timezone.utc),
    )
    add_txn(app, "Invoice", "1", total="500", balance="400", due_date=days_ago(10), status="partially_paid")
    add_txn(app, "Invoice", "2", total="300", balance="300", due_date=days_ago(-5), status="open")
    add_txn(app, "Payment", "3", total="100", balance="0", txn_date=days_ago(3), status="applied")
    add_txn(app, "Payment", "4", total="999", balance="0", txn_date=days_ago(30), status="applied")
    login(client, ACME_USER)
    html = _get(client, contact_id, "summary").get_data(as_text=True)
    for text in (
        "Net 30",
        "Check",
        "Email",
        "$1,234.50",
        "$400.00",  # overdue: only the past-due invoice's open balance
        "USD",
        "Not taxable",
        "Resale no. RS-77",
        "Mar 5, 2024",
        "$100.00 on",
        "Lovelace Holdings",
        "Last synced Jan 2, 2026 09:30 UTC",
        ">Sync now<",
    ):
        assert text in html, text
    assert "$999.00" not in html


def test_summary_needs_reconnect_banner(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app)
    link_customer(app, contact_id)
    with app.app_context():
        db.session.query(Connection).update({"status": "needs_reconnect"})
        db.session.commit()
    login(client, ACME_USER)
    html = _get(client, contact_id, "summary").get_data(as_text=True)
    assert "needs to be reconnected" in html
    assert ">Sync now<" not in html


def test_summary_for_unlinked_contact(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app)
    login(client, ACME_USER)
    html = _get(client, contact_id, "summary").get_data(as_text=True)
    assert "not in QuickBooks yet" in html and ">Sync now<" in html


class _Runner:
    """Records wake-ups instead of running a background thread (the test pushes by itself)."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def wake(self, reason: str = "") -> None:
        self.reasons.append(reason)


def _runner(app: t.Any) -> _Runner:
    runner = _Runner()
    get_qbo(app).state(app).runner = runner
    return runner


def _unfinished(app: t.Any) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.query(Outbox).filter(Outbox.status != "done")
        return [(o.tenant_key, o.contact_key, o.status) for o in rows]


def test_sync_now_requires_csrf_and_pushes_the_contact(
    app: t.Any, client: t.Any, connected: t.Any, emulator: t.Any
) -> None:
    contact_id = add_contact(app, last_name="Now")
    runner = _runner(app)
    login(client, ACME_USER)
    assert client.post(f"/qbo/w/{contact_id}/sync", headers=HX).status_code == 400
    assert _unfinished(app) == [] and runner.reasons == []
    with client.session_transaction() as sess:
        sess["_qbo_csrf"] = "tok"
    response = client.post(f"/qbo/w/{contact_id}/sync", headers={**HX, "X-CSRFToken": "tok"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Sync requested." in html and "Waiting to sync" in html
    assert _unfinished(app) == [("acme", str(contact_id), "pending")]
    assert "sync-now" in runner.reasons
    with app.app_context():  # what the woken runner does: the queued row creates the customer
        assert push.process(get_qbo(app)) == 1
        link = db.session.query(Customer).one()
        assert (link.tenant_key, link.contact_key) == ("acme", str(contact_id))
    assert [c["DisplayName"] for c in emulator.store.list(TEST_REALM, "Customer")] == ["Ada Now"]
    plain = client.post(f"/qbo/w/{contact_id}/sync", data={"csrf_token": "tok"})
    assert plain.status_code == 303 and plain.headers["Location"].endswith(f"/qbo/w/{contact_id}/summary")


def test_sync_now_for_another_tenant_is_404(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app)
    runner = _runner(app)
    login(client, GLOBEX_ADMIN)
    with client.session_transaction() as sess:
        sess["_qbo_csrf"] = "tok"
    assert client.post(f"/qbo/w/{contact_id}/sync", headers={**HX, "X-CSRFToken": "tok"}).status_code == 404
    assert _unfinished(app) == [] and runner.reasons == []


# -- permissions -------------------------------------------------------------------------


@pytest.mark.parametrize("widget", WIDGETS)
def test_other_tenant_and_anonymous_get_404(app: t.Any, client: t.Any, connected: t.Any, widget: str) -> None:
    contact_id = add_contact(app)
    link_customer(app, contact_id)
    assert _get(client, contact_id, widget).status_code == 404  # anonymous
    login(client, GLOBEX_ADMIN)
    assert _get(client, contact_id, widget).status_code == 404
    assert client.get(f"/qbo/w/{contact_id}/{widget}").status_code == 404
    login(client, ACME_USER)
    assert _get(client, contact_id, widget).status_code == 200
    assert _get(client, 999_999, widget).status_code == 404
    assert client.get(f"/qbo/w/not-a-number/{widget}", headers=HX).status_code == 404


def test_can_view_hook_false_is_404(app: t.Any, client: t.Any, connected: t.Any) -> None:
    allowed = add_contact(app)
    hidden = add_contact(app, lead_score=99)
    get_qbo(app).can_view(lambda contact: contact.lead_score != 99)
    login(client, ACME_USER)
    assert _get(client, allowed, "summary").status_code == 200
    for widget in WIDGETS:
        assert _get(client, hidden, widget).status_code == 404


# -- htmx contract: Vary, full page, ETag/304, polling ----------------------------------------


@pytest.mark.parametrize("widget", WIDGETS)
def test_partial_and_full_page_vary_on_hx_request(app: t.Any, client: t.Any, connected: t.Any, widget: str) -> None:
    contact_id = add_contact(app)
    link_customer(app, contact_id)
    login(client, ACME_USER)
    partial = _get(client, contact_id, widget)
    full = client.get(f"/qbo/w/{contact_id}/{widget}")
    assert "HX-Request" in partial.headers["Vary"] and "HX-Request" in full.headers["Vary"]
    assert "<!doctype html>" not in partial.get_data(as_text=True)
    page = full.get_data(as_text=True)
    assert page.startswith("<!doctype html>") and "qbo.css" in page and "htmx.min.js" in page
    assert partial.headers["ETag"] != full.headers["ETag"]


def test_etag_304_until_the_mirror_changes(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app)
    customer_id = link_customer(app, contact_id, terms_name="Net 15")
    login(client, ACME_USER)
    first = _get(client, contact_id, "summary")
    etag = first.headers["ETag"]
    html = first.get_data(as_text=True)
    assert 'hx-trigger="every 5s"' in html
    assert '"If-None-Match": "\\"' + etag.strip('"') + '\\""' in html  # the poller sends it back
    not_modified = _get(client, contact_id, "summary", **{"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.data == b""
    assert "HX-Request" in not_modified.headers["Vary"]

    update(app, Customer, customer_id, terms_name="Net 60")
    changed = _get(client, contact_id, "summary", **{"If-None-Match": etag})
    assert changed.status_code == 200 and "Net 60" in changed.get_data(as_text=True)

    tx_etag = _get(client, contact_id, "transactions").headers["ETag"]
    assert _get(client, contact_id, "transactions", **{"If-None-Match": tx_etag}).status_code == 304
    add_txn(app, "Invoice", "901", doc_number="INV-901")
    fresh = _get(client, contact_id, "transactions", **{"If-None-Match": tx_etag})
    assert fresh.status_code == 200 and "INV-901" in fresh.get_data(as_text=True)

    icon_etag = _get(client, contact_id, "icon").headers["ETag"]
    add_outbox(app, contact_id, status="failed", last_error="boom")
    assert _get(client, contact_id, "icon", **{"If-None-Match": icon_etag}).status_code == 200


def test_polling_can_be_disabled(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app)
    app.config["QBO_WIDGET_POLL_SECONDS"] = 0
    login(client, ACME_USER)
    assert "every" not in _get(client, contact_id, "icon").get_data(as_text=True)


def test_host_template_overrides_a_partial(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app)
    override = DictLoader({"qbo/partials/_icon.html": "<span class='host-icon'>{{ state }}</span>"})
    app.jinja_loader = ChoiceLoader([override])  # the host's own templates folder
    login(client, ACME_USER)
    html = _get(client, contact_id, "icon").get_data(as_text=True)
    assert html == "<span class='host-icon'>pending</span>"


# -- hostile data and no QBO traffic ----------------------------------------------------------


def test_hostile_qbo_data_renders_harmlessly(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app)
    link_customer(
        app,
        contact_id,
        qbo_id='58"><script>alert(1)</script>',
        display_name="<script>alert('name')</script>",
        terms_name="<img src=x onerror=alert(1)>",
        parent_name="</dd><script>p()</script>",
        is_job=True,
    )
    login(client, ACME_USER)
    for widget in ("icon", "summary"):
        html = _get(client, contact_id, widget).get_data(as_text=True)
        assert "<script>" not in html and "<img src=x" not in html, widget
        assert "customerdetail" not in html  # non-numeric customer id: no deep link
    summary = _get(client, contact_id, "summary").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in summary


def test_no_qbo_request_while_rendering(app: t.Any, client: t.Any, connected: t.Any, emulator: t.Any) -> None:
    contact_id = add_contact(app)
    link_customer(app, contact_id)
    add_txn(app, "Invoice", "1", balance="50", due_date=days_ago(40))
    add_txn(app, "CreditMemo", "2", balance="20", status="open")
    login(client, ACME_USER)
    before = emulator.counters
    for widget in WIDGETS:
        assert _get(client, contact_id, widget).status_code == 200
        assert client.get(f"/qbo/w/{contact_id}/{widget}").status_code == 200
    assert client.get(f"/qbo/w/{contact_id}/transactions?type=Invoice&page=2", headers=HX).status_code == 200
    assert emulator.counters == before


def test_summary_error_does_not_repeat_intuits_code(app: t.Any, client: t.Any, connected: t.Any) -> None:
    """The stored error is ``str(QBOAPIError)`` ("[6000] ..."); the card shows only the words."""
    contact_id = add_contact(app)
    link_customer(app, contact_id)
    message = "[6000] A business validation error has occurred: Notes are locked."
    with app.app_context():
        db.session.query(Customer).update({"sync_status": "failed", "sync_error": message})
        db.session.add(
            Outbox(
                tenant_key="acme", contact_key=str(contact_id), status="failed", error_code="6000", last_error=message
            )
        )
        db.session.commit()
    login(client, ACME_USER)
    html = _get(client, contact_id, "summary").get_data(as_text=True)
    assert "A business validation error has occurred: Notes are locked." in html
    assert "[6000]" not in html


def test_summary_follows_the_apps_locale(app: t.Any, client: t.Any, connected: t.Any) -> None:
    app.config["QBO_LOCALE"] = "de_DE"
    contact_id = add_contact(app)
    link_customer(
        app,
        contact_id,
        balance=Decimal("1234.50"),
        currency="EUR",
        qbo_created_at=dt.datetime(2024, 3, 5, 12, 0, tzinfo=dt.timezone.utc),
    )
    login(client, ACME_USER)
    html = _get(client, contact_id, "summary").get_data(as_text=True).replace("\xa0", " ")
    assert "1.234,50 €" in html
    assert "05.03.2024" in html


# -- one key per contact ---------------------------------------------------------------


def test_widgets_answer_only_the_canonical_contact_key(app: t.Any, client: t.Any, connected: t.Any) -> None:
    """``/qbo/w/01/...`` or Arabic-Indic digits never serve contact 1 under another name; huge ids are 404."""
    contact_id = add_contact(app)
    login(client, ACME_USER)
    key = str(contact_id)
    spellings = [
        "0" + key,
        "+" + key,
        " " + key,
        key + " ",
        key + ".0",
        key.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
        key.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        "1" + "0" * 22,
        "-" + "9" * 30,
        "%00",
    ]
    for widget in WIDGETS:
        assert _get(client, contact_id, widget).status_code == 200, widget
        for spelling in spellings:
            response = client.get(f"/qbo/w/{quote(spelling)}/{widget}", headers=HX)
            assert response.status_code == 404, (widget, spelling, response.status_code)
