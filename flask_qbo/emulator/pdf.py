"""A hand-built, standards-valid PDF for transaction documents.

Clients only need something that opens in a viewer and carries the document's
number, customer, lines and total, so one page of Helvetica text is enough and
no PDF library is required.
"""

from __future__ import annotations

import typing as t

_TITLES = {
    "Invoice": "INVOICE",
    "Estimate": "ESTIMATE",
    "SalesReceipt": "SALES RECEIPT",
    "CreditMemo": "CREDIT MEMO",
    "RefundReceipt": "REFUND RECEIPT",
    "Payment": "PAYMENT",
}


def _escape(text: str) -> str:
    safe = text.encode("latin-1", "replace").decode("latin-1")
    return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _lines(company: str, entity: str, obj: dict[str, t.Any]) -> list[tuple[int, str]]:
    """(font size, text) rows top to bottom."""
    rows = [(18, company), (16, _TITLES.get(entity, entity.upper()))]
    number = obj.get("DocNumber") or obj.get("PaymentRefNum") or obj.get("Id")
    rows.append(
        (
            11,
            f"No. {number}    Date {obj.get('TxnDate', '')}"
            + (f"    Due {obj['DueDate']}" if obj.get("DueDate") else ""),
        )
    )
    rows.append((11, f"Customer: {(obj.get('CustomerRef') or {}).get('name', '')}"))
    rows.append((11, ""))
    for line in obj.get("Line") or []:
        if line.get("DetailType") == "SubTotalLineDetail":
            continue
        detail = line.get("SalesItemLineDetail") or {}
        label = line.get("Description") or (detail.get("ItemRef") or {}).get("name") or "Amount applied"
        qty = f"  x{detail['Qty']}" if "Qty" in detail else ""
        rows.append((10, f"{label}{qty}    {float(line.get('Amount', 0)):,.2f}"))
    rows.append((11, ""))
    rows.append((12, f"Total: {float(obj.get('TotalAmt', 0)):,.2f} {(obj.get('CurrencyRef') or {}).get('value', '')}"))
    if "Balance" in obj and entity == "Invoice":
        rows.append((12, f"Balance due: {float(obj['Balance']):,.2f}"))
    if obj.get("PrivateNote", "").startswith("Voided"):
        rows.append((12, "VOID"))
    return rows


def render(company: str, entity: str, obj: dict[str, t.Any]) -> bytes:
    """Build a one-page PDF 1.4 file with a correct cross-reference table."""
    text = ["BT"]
    y = 760
    for size, row in _lines(company, entity, obj):
        text.append(f"/F1 {size} Tf 1 0 0 1 56 {y} Tm ({_escape(row)}) Tj")
        y -= size + 8
        if y < 40:
            break
    text.append("ET")
    stream = "\n".join(text).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Title ("
        + _escape(f"{entity} {obj.get('DocNumber') or obj.get('Id')}").encode("latin-1")
        + b") /Producer (flask_qbo emulator) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref_at}\n%%EOF\n").encode()
    return bytes(out)
