"""The estimate/invoice form as one immutable value, read from the posted form and kept as JSON.

A :class:`Draft` is what the salesperson typed, parsed but not yet judged: the
validator (:mod:`.validate`), the totals (:mod:`.totals`) and the QBO body
(:mod:`.body`) all read the same value, so what was checked is what is sent.
It is stored on :attr:`~flask_qbo.models.Document.draft` so a refused document
can be reopened in the form exactly as it was, with every ``Decimal`` as a
string (JSON floats would change the amounts).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import typing as t
from decimal import Decimal

from .money import ZERO
from .money import parse_decimal
from .money import to_cents
from .problems import DraftError
from .problems import Problem

#: The kinds of document billing makes.
KINDS = ("Invoice", "Estimate")
_LINE_FIELD = re.compile(r"^line-(\d{1,4})-([a-z_]+)$")
_LINE_PARTS = ("item", "description", "qty", "unit_price", "amount")


@dataclasses.dataclass(frozen=True)
class DraftLine:
    """One sales line: an item, what it says, and its arithmetic."""

    item_id: str | None
    description: str
    qty: Decimal | None
    unit_price: Decimal | None
    #: Typed, or ``Qty × UnitPrice`` rounded half-up when both were given and this was left blank.
    amount: Decimal
    tax_code_id: str | None


@dataclasses.dataclass(frozen=True)
class Draft:
    """An estimate or invoice as the form describes it (the customer is the contact's, not here)."""

    kind: str
    lines: tuple[DraftLine, ...]
    discount_percent: Decimal | None = None
    discount_amount: Decimal | None = None
    terms_id: str | None = None
    txn_date: dt.date | None = None
    due_date: dt.date | None = None
    #: Estimates only.
    expiration_date: dt.date | None = None
    customer_memo: str = ""
    bill_email: str = ""
    currency: str | None = None
    exchange_rate: Decimal | None = None
    doc_number: str | None = None
    #: E-mail the document through QBO once it is made.
    send_after: bool = False
    #: For an invoice converted from an estimate: the estimate's QBO id (sent as ``LinkedTxn``).
    estimate_qbo_id: str | None = None


class _Reader:
    """Reads form fields, collecting every unreadable one instead of stopping at the first."""

    def __init__(self, form: t.Mapping[str, str]) -> None:
        self.form = form
        self.problems: list[Problem] = []

    def text(self, field: str) -> str:
        value = self.form.get(field)
        return value.strip() if isinstance(value, str) else ""

    def optional(self, field: str) -> str | None:
        return self.text(field) or None

    def number(self, field: str) -> Decimal | None:
        text = self.text(field)
        if not text:
            return None
        try:
            return parse_decimal(text, field)
        except DraftError as exc:
            self.problems.append(exc.problem)
            return None

    def date(self, field: str) -> dt.date | None:
        text = self.text(field)
        if not text:
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            self.problems.append(Problem(field, "Enter a date as YYYY-MM-DD."))
            return None


def line_numbers(form: t.Mapping[str, str]) -> list[int]:
    """The line numbers the form posted (``line-3-item`` → 3), in order."""
    found = {int(match.group(1)) for key in form if (match := _LINE_FIELD.match(key))}
    return sorted(found)


def _line(read: _Reader, n: int) -> DraftLine | None:
    prefix = f"line-{n}-"
    if not any(read.text(prefix + part) for part in _LINE_PARTS):
        return None  # a blank row of the form
    mark = len(read.problems)
    qty = read.number(prefix + "qty")
    unit_price = read.number(prefix + "unit_price")
    typed = read.number(prefix + "amount")
    if typed is not None:
        amount = typed
    elif qty is not None and unit_price is not None:
        amount = to_cents(qty * unit_price)
    else:
        if len(read.problems) == mark:  # nothing unreadable: something is missing
            read.problems.append(Problem(prefix + "amount", "Enter an amount, or a quantity and a unit price."))
        amount = ZERO
    return DraftLine(
        item_id=read.optional(prefix + "item"),
        description=read.text(prefix + "description"),
        qty=qty,
        unit_price=unit_price,
        amount=amount,
        tax_code_id=read.optional(prefix + "tax_code"),
    )


def draft_from_form(form: t.Mapping[str, str]) -> tuple[Draft, list[Problem]]:
    """The draft a posted form describes, and what could not be read (blank lines are skipped).

    ``form`` may be a werkzeug ``MultiDict`` (its first value per key is read).
    Line problems name the line by its place among the non-blank lines (``line-0-…``
    first), as :func:`draft_to_form` renders the draft back.  Only reading problems are returned; :func:`flask_qbo.billing.validate.validate`
    judges the draft itself.
    """
    read = _Reader(form)
    kind = read.text("kind") or "Invoice"
    if kind not in KINDS:
        read.problems.append(Problem("kind", "Choose an invoice or an estimate."))
        kind = "Invoice"
    lines: list[DraftLine] = []
    for n in line_numbers(form):
        mark = len(read.problems)
        line = _line(read, n)
        if line is None:
            continue
        # Problems name the line by its place among the non-blank lines, as draft_to_form renders it.
        here, there = f"line-{n}-", f"line-{len(lines)}-"
        read.problems[mark:] = [Problem(p.field.replace(here, there, 1), p.message) for p in read.problems[mark:]]
        lines.append(line)
    currency = read.text("currency").upper() or None
    draft = Draft(
        kind=kind,
        lines=tuple(lines),
        discount_percent=read.number("discount_percent"),
        discount_amount=read.number("discount_amount"),
        terms_id=read.optional("terms"),
        txn_date=read.date("txn_date"),
        due_date=read.date("due_date"),
        expiration_date=read.date("expiration_date"),
        customer_memo=read.text("customer_memo"),
        bill_email=read.text("bill_email"),
        currency=currency,
        exchange_rate=read.number("exchange_rate"),
        doc_number=read.optional("doc_number"),
        send_after=read.text("send") == "1",
        estimate_qbo_id=read.optional("estimate"),
    )
    return draft, read.problems


# -- JSON (Document.draft) ------------------------------------------------------------


def _num(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _day(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def draft_to_json(draft: Draft) -> dict[str, t.Any]:
    """The draft as JSON-safe values: Decimals and dates as strings, so nothing is rounded on the way."""
    return {
        "kind": draft.kind,
        "lines": [
            {
                "item_id": line.item_id,
                "description": line.description,
                "qty": _num(line.qty),
                "unit_price": _num(line.unit_price),
                "amount": str(line.amount),
                "tax_code_id": line.tax_code_id,
            }
            for line in draft.lines
        ],
        "discount_percent": _num(draft.discount_percent),
        "discount_amount": _num(draft.discount_amount),
        "terms_id": draft.terms_id,
        "txn_date": _day(draft.txn_date),
        "due_date": _day(draft.due_date),
        "expiration_date": _day(draft.expiration_date),
        "customer_memo": draft.customer_memo,
        "bill_email": draft.bill_email,
        "currency": draft.currency,
        "exchange_rate": _num(draft.exchange_rate),
        "doc_number": draft.doc_number,
        "send_after": draft.send_after,
        "estimate_qbo_id": draft.estimate_qbo_id,
    }


def decimal_or_none(value: object) -> Decimal | None:
    """A stored or QBO number as a Decimal (through its text, so a float keeps its shortest digits)."""
    return None if value is None else Decimal(str(value))


def _date(value: object) -> dt.date | None:
    return None if not value else dt.date.fromisoformat(str(value))


def draft_from_json(data: t.Mapping[str, t.Any]) -> Draft:
    """The draft :func:`draft_to_json` stored."""
    lines = tuple(
        DraftLine(
            item_id=line.get("item_id"),
            description=line.get("description") or "",
            qty=decimal_or_none(line.get("qty")),
            unit_price=decimal_or_none(line.get("unit_price")),
            amount=decimal_or_none(line.get("amount")) or ZERO,
            tax_code_id=line.get("tax_code_id"),
        )
        for line in data.get("lines") or ()
    )
    return Draft(
        kind=data.get("kind") or "Invoice",
        lines=lines,
        discount_percent=decimal_or_none(data.get("discount_percent")),
        discount_amount=decimal_or_none(data.get("discount_amount")),
        terms_id=data.get("terms_id"),
        txn_date=_date(data.get("txn_date")),
        due_date=_date(data.get("due_date")),
        expiration_date=_date(data.get("expiration_date")),
        customer_memo=data.get("customer_memo") or "",
        bill_email=data.get("bill_email") or "",
        currency=data.get("currency"),
        exchange_rate=decimal_or_none(data.get("exchange_rate")),
        doc_number=data.get("doc_number"),
        send_after=bool(data.get("send_after")),
        estimate_qbo_id=data.get("estimate_qbo_id"),
    )


def draft_to_form(draft: Draft) -> dict[str, str]:
    """The form fields that reproduce ``draft`` (to reopen a refused document for editing)."""
    form: dict[str, str] = {"kind": draft.kind}
    for n, line in enumerate(draft.lines):
        prefix = f"line-{n}-"
        form[prefix + "item"] = line.item_id or ""
        form[prefix + "description"] = line.description
        form[prefix + "qty"] = _num(line.qty) or ""
        form[prefix + "unit_price"] = _num(line.unit_price) or ""
        form[prefix + "amount"] = str(line.amount)
        form[prefix + "tax_code"] = line.tax_code_id or ""
    singles = {
        "discount_percent": _num(draft.discount_percent),
        "discount_amount": _num(draft.discount_amount),
        "terms": draft.terms_id,
        "txn_date": _day(draft.txn_date),
        "due_date": _day(draft.due_date),
        "expiration_date": _day(draft.expiration_date),
        "customer_memo": draft.customer_memo,
        "bill_email": draft.bill_email,
        "currency": draft.currency,
        "exchange_rate": _num(draft.exchange_rate),
        "doc_number": draft.doc_number,
        "estimate": draft.estimate_qbo_id,
    }
    form.update({key: value or "" for key, value in singles.items()})
    if draft.send_after:
        form["send"] = "1"
    return form
