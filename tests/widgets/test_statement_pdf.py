"""The statement PDF: the small PDF writer, the statement's layout, and the download route."""

from __future__ import annotations

import datetime as dt
import re
import typing as t
from decimal import Decimal

from flask_qbo.models import Connection
from flask_qbo.state import get_qbo
from flask_qbo.widgets.data import TYPE_LABELS
from flask_qbo.widgets.pdfdoc import Run
from flask_qbo.widgets.pdfdoc import render
from flask_qbo.widgets.pdfdoc import text_width
from flask_qbo.widgets.statement import OpenItem
from flask_qbo.widgets.statement import build_statement
from flask_qbo.widgets.statement_pdf import statement_pdf
from tests.conftest import login
from tests.hostapp import ACME_USER
from tests.hostapp import GLOBEX_ADMIN
from tests.hostapp import db
from tests.widgets.widget_factories import HX
from tests.widgets.widget_factories import add_contact
from tests.widgets.widget_factories import add_txn
from tests.widgets.widget_factories import days_ago
from tests.widgets.widget_factories import link_customer

TODAY = dt.date(2026, 3, 31)


def check_structure(pdf: bytes) -> int:
    """Assert the file is well formed (header, every xref offset, startxref, EOF); return its page count."""
    assert pdf.startswith(b"%PDF-1.4\n") and pdf.endswith(b"%%EOF\n")
    startxref = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", pdf).group(1))  # type: ignore[union-attr]
    assert pdf[startxref:].startswith(b"xref\n0 ")
    size = int(re.search(rb"xref\n0 (\d+)\n", pdf).group(1))  # type: ignore[union-attr]
    entries = re.findall(rb"(\d{10}) 00000 n \n", pdf[startxref:])
    assert len(entries) == size - 1
    for number, offset in enumerate(entries, start=1):
        assert pdf[int(offset) :].startswith(f"{number} 0 obj\n".encode()), number
    for length, stream in re.findall(rb"<< /Length (\d+) >>\nstream\n(.*?)\nendstream", pdf, re.S):
        assert int(length) == len(stream)
    count = int(re.search(rb"/Type /Pages /Kids \[[^\]]*\] /Count (\d+)", pdf).group(1))  # type: ignore[union-attr]
    assert count == pdf.count(b"/Type /Page ")
    return count


# -- the writer ------------------------------------------------------------------------------------


def test_writer_builds_a_valid_file_with_escaped_winansi_text() -> None:
    pdf = render(
        [[Run(56, 700, "Total (net): 1\\2"), Run(56, 680, "€12 – 3 → x", font="bold")], [Run(56, 700, "two")]],
        title="A (title)",
    )
    assert check_structure(pdf) == 2
    assert rb"(Total \(net\): 1\\2) Tj" in pdf
    # WinAnsi has the euro sign (0x80) and the en dash (0x96); an arrow is not in it and prints as "?".
    assert b"(\x8012 \x96 3 ? x) Tj" in pdf and b"/F2 10 Tf" in pdf
    assert rb"/Title (A \(title\))" in pdf


def test_writer_makes_one_empty_page_of_nothing() -> None:
    assert check_structure(render([], title="empty")) == 1


def test_text_width_is_exact_for_digits() -> None:
    assert text_width("1,234.50", 10) == (6 * 556 + 2 * 278) / 100


# -- the statement's layout -----------------------------------------------------------------------


def _item(txn_type: str, qbo_id: str, amount: str, days: int) -> OpenItem:
    date = TODAY - dt.timedelta(days=days)
    return OpenItem(txn_type, qbo_id, f"DOC-{qbo_id}", date, date, Decimal(amount))


def test_statement_pdf_has_heading_aging_lines_and_balance_due() -> None:
    stmt = build_statement([_item("Invoice", "1", "100", 95), _item("CreditMemo", "2", "40", 3)], TODAY)
    pdf = statement_pdf(stmt, company="Acme Books", customer="Ada (Lovelace)", currency="USD", type_labels=TYPE_LABELS)
    assert check_structure(pdf) == 1
    for text in (b"(Acme Books)", b"(Statement)", rb"(To: Ada \(Lovelace\))", b"(Statement date: Mar 31, 2026)"):
        assert text in pdf, text
    assert b"(DOC-1)" in pdf and b"(Credit memo)" in pdf and b"(-$40.00)" in pdf
    assert b"(Over 90 days)" in pdf and b"($100.00)" in pdf
    assert b"(Balance due: $60.00)" in pdf


def test_a_long_statement_runs_onto_more_pages_with_the_headings_repeated() -> None:
    stmt = build_statement([_item("Invoice", str(n), "10", n) for n in range(1, 121)], TODAY)
    pdf = statement_pdf(stmt, company=None, customer=None, currency="USD", type_labels=TYPE_LABELS)
    pages = check_structure(pdf)
    assert pages >= 3
    assert pdf.count(b"(Days past due)") == pages  # the table's headings on every page
    assert all(f"(DOC-{n})".encode() in pdf for n in range(1, 121))
    assert b"(Balance due: $1,200.00)" in pdf and b"(To: \x97)" in pdf


def test_nothing_open_says_so() -> None:
    pdf = statement_pdf(build_statement([], TODAY), company="Acme", customer="Ada", currency="EUR", type_labels={})
    check_structure(pdf)
    assert b"Nothing is open" in pdf and b"(Balance due: \x800.00)" in pdf


# -- the download ----------------------------------------------------------------------------------


def _linked(app: t.Any, client: t.Any) -> int:
    contact_id = add_contact(app)
    link_customer(app, contact_id, qbo_id="58", display_name="Ada Lovelace")
    login(client, ACME_USER)
    return contact_id


def test_statement_tab_offers_the_pdf_which_is_built_from_the_mirror(
    app: t.Any, client: t.Any, connected: t.Any, emulator: t.Any
) -> None:
    contact_id = _linked(app, client)
    add_txn(
        app, "Invoice", "1", doc_number="INV-9", total="100", balance="75", txn_date=days_ago(40), due_date=days_ago(35)
    )
    add_txn(app, "Invoice", "2", doc_number="PAID-1", total="30", balance="0", status="paid")
    tab = client.get(f"/qbo/w/{contact_id}/statement", headers=HX).get_data(as_text=True)
    assert f'href="/qbo/w/{contact_id}/statement.pdf"' in tab and "Download PDF" in tab

    before = emulator.counters
    response = client.get(f"/qbo/w/{contact_id}/statement.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert re.fullmatch(
        r'attachment; filename="statement-Ada_Lovelace-\d{4}-\d\d-\d\d\.pdf"', response.headers["Content-Disposition"]
    )
    assert response.headers["Cache-Control"] == "private, no-store"
    pdf = response.get_data()
    check_structure(pdf)
    assert b"(Test Company)" in pdf and b"(To: Ada Lovelace)" in pdf
    assert b"(INV-9)" in pdf and b"PAID-1" not in pdf and b"(Balance due: $75.00)" in pdf
    assert emulator.counters == before  # built from the mirror: no QuickBooks request


def test_statement_pdf_keeps_to_the_viewers_contacts(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = _linked(app, client)
    unlinked = add_contact(app)
    assert client.get(f"/qbo/w/{unlinked}/statement.pdf").status_code == 404
    get_qbo(app).can_view(lambda contact: contact.id != contact_id)
    assert client.get(f"/qbo/w/{contact_id}/statement.pdf").status_code == 404
    get_qbo(app).can_view(lambda contact: True)
    login(client, GLOBEX_ADMIN)
    assert client.get(f"/qbo/w/{contact_id}/statement.pdf").status_code == 404


def test_statement_pdf_works_while_disconnected_with_data_kept(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = _linked(app, client)
    add_txn(app, "Invoice", "1", doc_number="INV-1", total="10", balance="10")
    with app.app_context():
        conn = db.session.query(Connection).filter_by(tenant_key="acme").one()
        conn.status = "disconnected"
        db.session.commit()
    response = client.get(f"/qbo/w/{contact_id}/statement.pdf")
    assert response.status_code == 200 and b"(INV-1)" in response.get_data()
