"""The "QuickBooks Transactions" folder: ordering, filters, pagination, badges, links,
the Statement tab and the PDF download."""

from __future__ import annotations

import re
import typing as t

from flask_qbo.models import Connection
from flask_qbo.models import Transaction
from flask_qbo.sync.pull.mirror import upsert_transaction
from flask_qbo.testing import TEST_REALM
from tests.conftest import login
from tests.hostapp import ACME_USER
from tests.hostapp import GLOBEX_USER
from tests.hostapp import db
from tests.widgets.widget_factories import HX
from tests.widgets.widget_factories import TODAY
from tests.widgets.widget_factories import add_contact
from tests.widgets.widget_factories import add_txn
from tests.widgets.widget_factories import days_ago
from tests.widgets.widget_factories import link_customer

ROW = re.compile(r'<tr class="qbo-row[^"]*">(.*?)</tr>', re.S)


def _rows(html: str) -> list[str]:
    return ROW.findall(html)


def _folder(client: t.Any, contact_id: int, query: str = "") -> str:
    response = client.get(f"/qbo/w/{contact_id}/transactions{query}", headers=HX)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _setup(app: t.Any, client: t.Any) -> int:
    contact_id = add_contact(app)
    link_customer(app, contact_id, qbo_id="58")
    login(client, ACME_USER)
    return contact_id


def test_folder_lists_all_six_types_newest_first(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = _setup(app, client)
    add_txn(app, "Invoice", "10", doc_number="INV-OLD", txn_date=days_ago(20))
    add_txn(app, "Payment", "11", doc_number="PAY-1", txn_date=days_ago(5), status="applied")
    add_txn(app, "Estimate", "12", doc_number="EST-1", txn_date=days_ago(4), status="accepted")
    add_txn(app, "SalesReceipt", "13", doc_number="SR-1", txn_date=days_ago(3), status="paid")
    add_txn(app, "CreditMemo", "14", doc_number="CM-1", txn_date=days_ago(2), status="applied")
    add_txn(app, "RefundReceipt", "15", doc_number="RR-1", txn_date=days_ago(1), status="refunded")
    add_txn(app, "Invoice", "9", doc_number="INV-SAMEDAY", txn_date=days_ago(1))
    add_txn(app, "Invoice", "16", doc_number="INV-GONE", deleted=True)
    add_txn(app, "Invoice", "17", doc_number="INV-OTHER", customer_qbo_id="59")
    add_txn(app, "Invoice", "18", doc_number="INV-OTHER-REALM", realm_id="123")
    html = _folder(client, contact_id)
    assert "QuickBooks Transactions" in html
    numbers = [re.search(r'data-label="No.">([^<]*)<', row).group(1) for row in _rows(html)]  # type: ignore[union-attr]
    # Same date: the row mirrored later (higher id) comes first.
    assert numbers == ["INV-SAMEDAY", "RR-1", "CM-1", "SR-1", "EST-1", "PAY-1", "INV-OLD"]
    for label in ("Invoice", "Payment", "Estimate", "Sales receipt", "Credit memo", "Refund receipt"):
        assert f'data-label="Type">{label}<' in html
    for header in ("Type", "No.", "Date", "Due date", "Amount", "Balance", "Status"):
        assert '<th scope="col"' in html and f">{header}</th>" in html


def test_filter_by_type_and_tabs(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = _setup(app, client)
    add_txn(app, "Invoice", "1", doc_number="INV-1")
    add_txn(app, "Payment", "2", doc_number="PAY-2", status="applied")
    html = _folder(client, contact_id, "?type=Payment")
    assert "PAY-2" in html and "INV-1" not in html
    assert re.search(r'href="/qbo/w/\d+/transactions\?type=Payment"[^>]*aria-current="page"', html)
    everything = _folder(client, contact_id, "?type=<script>")
    assert "PAY-2" in everything and "INV-1" in everything and "<script>" not in everything


def test_pagination(app: t.Any, client: t.Any, connected: t.Any) -> None:
    app.config["QBO_TRANSACTIONS_PER_PAGE"] = 3
    contact_id = _setup(app, client)
    for n in range(1, 8):
        add_txn(app, "Invoice", str(n), doc_number=f"N{n}", txn_date=days_ago(n))
    first = _folder(client, contact_id)
    assert [r for r in ("N1", "N2", "N3", "N4") if r in first] == ["N1", "N2", "N3"]
    assert 'rel="next"' in first and 'rel="prev"' not in first
    assert f'hx-get="/qbo/w/{contact_id}/transactions?page=2"' in first
    second = _folder(client, contact_id, "?page=2")
    assert [r for r in ("N3", "N4", "N5", "N6", "N7") if r in second] == ["N4", "N5", "N6"]
    assert 'rel="next"' in second and 'rel="prev"' in second
    last = _folder(client, contact_id, "?page=3")
    assert "N7" in last and 'rel="next"' not in last
    assert "No more transactions." in _folder(client, contact_id, "?page=9")
    for value in ("abc", "0", "-5", "٣", "1" + "0" * 22):
        refused = client.get(f"/qbo/w/{contact_id}/transactions", query_string={"page": value}, headers=HX)
        assert refused.status_code == 400, value
        assert "page must be a whole number from 1 to 100000" in refused.get_data(as_text=True), value
    filtered = _folder(client, contact_id, "?type=Invoice&page=2")
    assert "type=Invoice&amp;page=3" in filtered and "type=Invoice&amp;page=1" in filtered


def test_status_badges_and_money(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app)
    link_customer(app, contact_id, qbo_id="58", currency="EUR")
    login(client, ACME_USER)
    # (type, the mirror's status, the badge in QBO's words: see test_qbo_words below)
    rows = [
        ("Invoice", "open", "Open"),
        ("Invoice", "partially_paid", "Partially paid"),
        ("Invoice", "paid", "Paid"),
        ("Invoice", "void", "Voided"),
        ("Estimate", "pending", "Pending"),
        ("Estimate", "accepted", "Accepted"),
        ("Estimate", "closed", "Closed"),
        ("Estimate", "rejected", "Rejected"),
        ("Payment", "unapplied", "Unapplied"),
        ("Payment", "applied", "Closed"),
        ("CreditMemo", "open", "Unapplied"),
        ("RefundReceipt", "refunded", "Paid"),
    ]
    for n, (txn_type, status, _label) in enumerate(rows, start=1):
        add_txn(app, txn_type, str(n), status=status, doc_number=f"D{n}", due_date=days_ago(-30))
    html = _folder(client, contact_id)
    seen = []
    for row in _rows(html):
        number = int(re.search(r'data-label="No.">D(\d+)<', row).group(1))  # type: ignore[union-attr]
        assert f">{rows[number - 1][2]}</span>" in row, rows[number - 1]
        seen.append(number)
    assert sorted(seen) == list(range(1, len(rows) + 1))
    add_txn(app, "Invoice", "50", status="open", balance="75.5", total="1234.5", due_date=days_ago(1))
    add_txn(app, "Invoice", "51", status="open", balance="10", due_date=TODAY, currency="JPY")
    html = _folder(client, contact_id)
    assert '<span class="qbo-badge qbo-badge--overdue">Overdue</span>' in html  # an open invoice ages
    assert "€1,234.50" in html and "€75.50" in html
    assert "10.00 JPY" in html


def test_each_row_links_into_qbo_and_to_its_pdf(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = _setup(app, client)
    paths = {
        "Invoice": "invoice",
        "Payment": "recvpayment",
        "Estimate": "estimate",
        "SalesReceipt": "salesreceipt",
        "CreditMemo": "creditmemo",
        "RefundReceipt": "refundreceipt",
    }
    for n, txn_type in enumerate(paths, start=100):
        add_txn(app, txn_type, str(n))
    html = _folder(client, contact_id)
    for n, (txn_type, path) in enumerate(paths.items(), start=100):
        url = f"http://qbo.emulator.test/app/{path}?txnId={n}&amp;companyId={TEST_REALM}"
        assert f'href="{url}" target="_blank" rel="noopener"' in html, txn_type
        assert f'href="/qbo/w/{contact_id}/pdf/{txn_type}/{n}"' in html


def test_hostile_transaction_data_is_escaped_and_unlinked(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = _setup(app, client)
    add_txn(app, "Invoice", "5", doc_number="<script>d()</script>", memo="<script>m()</script>")
    add_txn(app, "Invoice", "6 onclick=x()", doc_number="BAD-ID")
    add_txn(app, "Invoice", "javascript:alert(1)", doc_number="JS-ID")
    html = _folder(client, contact_id)
    assert "<script>" not in html and "&lt;script&gt;d()&lt;/script&gt;" in html
    rows = {re.search(r'data-label="No.">([^<]*)<', r).group(1): r for r in _rows(html)}  # type: ignore[union-attr]
    for bad in ("BAD-ID", "JS-ID"):
        assert "href=" not in rows[bad], bad  # no deep link and no PDF link for a non-numeric id
    assert "javascript:" not in html.replace("JS-ID", "")


# -- Statement tab --------------------------------------------------------------------------------


def test_statement_tab_shows_open_items_running_balance_and_aging(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = _setup(app, client)
    add_txn(
        app, "Invoice", "1", doc_number="A", total="100", balance="100", txn_date=days_ago(100), due_date=days_ago(95)
    )
    add_txn(
        app,
        "Invoice",
        "2",
        doc_number="B",
        total="200",
        balance="50",
        txn_date=days_ago(45),
        due_date=days_ago(40),
        status="partially_paid",
    )
    add_txn(app, "Invoice", "3", doc_number="C", total="30", balance="30", txn_date=days_ago(2), due_date=days_ago(-28))
    add_txn(app, "Invoice", "4", doc_number="PAID", total="30", balance="0", status="paid")
    add_txn(app, "CreditMemo", "5", doc_number="CM", total="40", balance="25", txn_date=days_ago(10))
    add_txn(app, "Payment", "6", total="60", balance="15", txn_date=days_ago(1), status="unapplied")
    add_txn(app, "Estimate", "7", doc_number="EST", total="500", balance="500", status="pending")
    response = client.get(f"/qbo/w/{contact_id}/statement", headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "PAID" not in html and "EST" not in html
    balances = re.findall(r'data-label="Balance" class="qbo-num">([^<]*)<', html)
    assert balances == ["$100.00", "$150.00", "$125.00", "$155.00", "$140.00"]
    assert 'qbo-bucket--current">-$10.00<' in html  # $30 not yet due, less $40 unapplied credit
    assert 'qbo-bucket--1_30">$0.00<' in html
    assert 'qbo-bucket--31_60">$50.00<' in html
    assert 'qbo-bucket--61_90">$0.00<' in html
    assert 'qbo-bucket--over_90">$100.00<' in html
    assert html.count("$140.00") >= 2  # balance due in the aging table and the footer
    assert re.search(r'href="/qbo/w/\d+/statement"[^>]*aria-current="page"', html)


# -- PDF download ----------------------------------------------------------------------------------


def _emulator_invoice(app: t.Any, emulator: t.Any, customer_name: str = "PDF Customer") -> tuple[str, str]:
    customer = emulator.store.create(TEST_REALM, "Customer", {"DisplayName": customer_name})
    invoice = emulator.store.create(
        TEST_REALM,
        "Invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [{"Amount": 42.0, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}],
        },
    )
    with app.app_context():
        upsert_transaction(db.session, TEST_REALM, "Invoice", invoice)
        db.session.commit()
    return str(customer["Id"]), str(invoice["Id"])


def test_pdf_download_streams_from_qbo(app: t.Any, client: t.Any, connected: t.Any, emulator: t.Any) -> None:
    customer_id, invoice_id = _emulator_invoice(app, emulator)
    contact_id = add_contact(app)
    link_customer(app, contact_id, qbo_id=customer_id)
    login(client, ACME_USER)
    html = _folder(client, contact_id)
    assert f"/qbo/w/{contact_id}/pdf/Invoice/{invoice_id}" in html
    response = client.get(f"/qbo/w/{contact_id}/pdf/Invoice/{invoice_id}")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert response.headers["Content-Disposition"].startswith('attachment; filename="Invoice-')


def test_pdf_download_is_permission_checked(app: t.Any, client: t.Any, connected: t.Any, emulator: t.Any) -> None:
    customer_id, invoice_id = _emulator_invoice(app, emulator)
    other_customer, other_invoice = _emulator_invoice(app, emulator, "Someone Else")
    contact_id = add_contact(app)
    link_customer(app, contact_id, qbo_id=customer_id)
    before = emulator.counters
    url = f"/qbo/w/{contact_id}/pdf/Invoice/{invoice_id}"
    assert client.get(url).status_code == 404  # anonymous
    login(client, GLOBEX_USER)
    assert client.get(url).status_code == 404  # another tenant
    login(client, ACME_USER)
    assert client.get(f"/qbo/w/{contact_id}/pdf/Invoice/{other_invoice}").status_code == 404  # not this customer's
    assert client.get(f"/qbo/w/{contact_id}/pdf/Payment/{invoice_id}").status_code == 404  # wrong type
    assert client.get(f"/qbo/w/{contact_id}/pdf/Bill/{invoice_id}").status_code == 404
    assert client.get(f"/qbo/w/{contact_id}/pdf/Invoice/1x").status_code == 404
    with app.app_context():
        db.session.query(Transaction).filter_by(qbo_id=invoice_id).update({"deleted": True})
        db.session.commit()
    assert client.get(url).status_code == 404  # deleted in QBO
    assert emulator.counters == before  # refused before any QBO call
    with app.app_context():
        db.session.query(Transaction).filter_by(qbo_id=invoice_id).update({"deleted": False})
        db.session.query(Connection).update({"status": "disconnected"})
        db.session.commit()
    assert client.get(url).status_code == 409


def test_a_document_quickbooks_emailed_says_sent(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app)
    link_customer(app, contact_id, qbo_id="58")
    login(client, ACME_USER)
    add_txn(app, "Invoice", "1", status="open", doc_number="S1", email_status="EmailSent")
    add_txn(app, "Invoice", "2", status="open", doc_number="S2", email_status="NotSet")
    rows = {re.search(r'data-label="No.">(S\d)<', row).group(1): row for row in _rows(_folder(client, contact_id))}  # type: ignore[union-attr]
    assert '<span class="qbo-badge qbo-badge--sent"' in rows["S1"] and ">Sent</span>" in rows["S1"]
    assert ">Sent</span>" not in rows["S2"]


def test_a_converted_estimate_reads_closed_and_names_the_invoice_it_became(
    app: t.Any, client: t.Any, connected: t.Any
) -> None:
    contact_id = _setup(app, client)
    converted = {"LinkedTxn": [{"TxnId": "31", "TxnType": "Invoice"}]}
    add_txn(app, "Estimate", "30", doc_number="EST-9", status="closed", raw=converted)
    add_txn(app, "Invoice", "31", doc_number="INV-<9>")
    add_txn(app, "Estimate", "32", doc_number="EST-10", status="closed", raw={"LinkedTxn": []})
    add_txn(
        app,
        "Estimate",
        "33",
        doc_number="EST-11",
        status="closed",
        raw={"LinkedTxn": [{"TxnId": "99", "TxnType": "Invoice"}]},
    )
    rows = {re.search(r'data-label="No.">([^<]*)<', row).group(1): row for row in _rows(_folder(client, contact_id))}  # type: ignore[union-attr]
    closed = '<span class="qbo-badge qbo-badge--closed">Closed</span>'  # QuickBooks' word, not "Converted"
    assert closed in rows["EST-9"] and "converted to</span> Invoice INV-&lt;9&gt;</span>" in rows["EST-9"]  # escaped
    assert closed in rows["EST-10"] and "qbo-converted-to" not in rows["EST-10"]
    assert closed in rows["EST-11"] and "converted to</span> Invoice</span>" in rows["EST-11"]  # invoice not mirrored
    assert "Converted" not in "".join(rows.values())
