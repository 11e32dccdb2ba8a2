"""The Statement tab as a PDF: the same open items, running balance and aging, laid out on paper.

QBO's API offers no statement PDF (it has no Statement entity), so the
document is built from the mirror's :class:`~flask_qbo.widgets.statement.Statement`
with :mod:`flask_qbo.widgets.pdfdoc`.  Money and dates are written by the
widgets' formatters, so the PDF reads like the tab (locale included).
"""

from __future__ import annotations

import typing as t

from .formatting import format_date
from .formatting import format_money
from .pdfdoc import PAGE_HEIGHT
from .pdfdoc import PAGE_WIDTH
from .pdfdoc import Run
from .pdfdoc import render
from .pdfdoc import text_width
from .statement import Statement
from .statement import StatementLine

MARGIN = 56
BOTTOM = 64
ROW = 15
#: (heading, x, right-aligned) of the open-items table.
COLUMNS: tuple[tuple[str, float, bool], ...] = (
    ("Date", MARGIN, False),
    ("Type", 136, False),
    ("No.", 228, False),
    ("Due date", 300, False),
    ("Days past due", 430, True),
    ("Amount", 494, True),
    ("Balance", PAGE_WIDTH - MARGIN, True),
)


def _cell(x: float, y: float, text: str, right: bool, size: float = 9, font: str = "regular") -> Run:
    return Run(x - text_width(text, size) if right else x, y, text, size, font)


def _line_cells(line: StatementLine, type_labels: t.Mapping[str, str], currency: str | None) -> list[str]:
    item = line.item
    invoice = item.txn_type == "Invoice"
    return [
        format_date(item.txn_date),
        type_labels.get(item.txn_type, item.txn_type),
        item.doc_number or "—",
        format_date(item.due_date) if invoice else "—",
        str(line.days_past_due) if invoice else "—",
        format_money(line.amount, currency),
        format_money(line.running_balance, currency),
    ]


class _Pages:
    """Runs placed top to bottom, starting a new page (with the table's headings) when one is full."""

    def __init__(self) -> None:
        self.pages: list[list[Run]] = [[]]
        self.y: float = PAGE_HEIGHT - MARGIN

    def add(self, run: Run) -> None:
        self.pages[-1].append(run)

    def down(self, points: float) -> None:
        self.y -= points

    def table_headings(self) -> None:
        for heading, x, right in COLUMNS:
            self.add(_cell(x, self.y, heading, right, font="bold"))
        self.down(ROW)

    def make_room(self, headings: bool = False) -> None:
        """Start a new page when this one is full (repeating the table's headings when asked)."""
        if self.y < BOTTOM:
            self.pages.append([])
            self.y = PAGE_HEIGHT - MARGIN
            if headings:
                self.table_headings()

    def row(self, cells: list[str]) -> None:
        self.make_room(headings=True)
        for text, (_heading, x, right) in zip(cells, COLUMNS):
            self.add(_cell(x, self.y, text, right))
        self.down(ROW)


def statement_pdf(
    statement: Statement,
    *,
    company: str | None,
    customer: str | None,
    currency: str | None,
    type_labels: t.Mapping[str, str],
) -> bytes:
    """The statement as a PDF file: heading, aging, the open items with their running balance, the balance due."""
    doc = _Pages()
    if company:
        doc.add(Run(MARGIN, doc.y, company, 16, "bold"))
        doc.down(24)
    doc.add(Run(MARGIN, doc.y, "Statement", 14, "bold"))
    doc.down(20)
    doc.add(Run(MARGIN, doc.y, f"To: {customer or '—'}", 10))
    doc.down(ROW)
    doc.add(Run(MARGIN, doc.y, f"Statement date: {format_date(statement.as_of)}", 10))
    doc.down(ROW * 2)

    doc.add(Run(MARGIN, doc.y, "Aging (days past due)", 11, "bold"))
    doc.down(ROW)
    aging = [(label, amount) for _key, label, amount in statement.bucket_rows()]
    aging.append(("Balance due", statement.balance_due))
    width = (PAGE_WIDTH - 2 * MARGIN) / len(aging)
    for index, (label, amount) in enumerate(aging):
        right = MARGIN + width * (index + 1)
        doc.add(_cell(right, doc.y, label, True, font="bold"))
        doc.add(_cell(right, doc.y - ROW, format_money(amount, currency), True))
    doc.down(ROW * 3)

    if not statement.lines:
        doc.add(Run(MARGIN, doc.y, "Nothing is open: no unpaid invoices or unapplied credits.", 10))
        doc.down(ROW)
    else:
        doc.add(Run(MARGIN, doc.y, "Open invoices and unapplied credits, oldest first", 11, "bold"))
        doc.down(ROW)
        doc.table_headings()
        for line in statement.lines:
            doc.row(_line_cells(line, type_labels, currency))
    doc.down(ROW / 2)
    doc.make_room()
    doc.add(
        _cell(
            PAGE_WIDTH - MARGIN,
            doc.y,
            f"Balance due: {format_money(statement.balance_due, currency)}",
            True,
            11,
            "bold",
        )
    )
    return render(doc.pages, title=f"Statement for {customer or 'customer'} as of {statement.as_of.isoformat()}")


__all__ = ["statement_pdf"]
