"""The estimate/invoice form as the page shows it: the typed text, which lines exist, and the buttons' edits.

The form must come back exactly as it was typed when it is refused, so the page
is rendered from the posted text, never from the parsed
:class:`~flask_qbo.billing.draft.Draft` (a quantity of ``"1,5"`` has no Decimal
to show).  Adding or removing a line and choosing an item are edits of that
text, made on the server so they work with and without JavaScript: htmx posts
the form and swaps the result in, a plain browser posts it and gets the page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import typing as t

from ..billing.catalog import PER_LINE
from ..billing.catalog import US_MODELS
from ..billing.catalog import Catalog
from ..billing.catalog import CatalogItem
from ..billing.draft import Draft
from ..billing.draft import draft_to_form
from ..billing.draft import line_numbers
from ..billing.problems import Problem

#: The fields of one line the page posts (``line-<n>-<part>``).
LINE_PARTS = ("item", "description", "qty", "unit_price", "tax_code")
#: Fields of the whole document the page posts.
DOC_FIELDS = (
    "kind",
    "discount_percent",
    "discount_amount",
    "terms",
    "txn_date",
    "due_date",
    "expiration_date",
    "customer_memo",
    "bill_email",
    "currency",
    "exchange_rate",
    "doc_number",
    "send",
    "estimate",
)
#: The most lines one form may hold (QBO's limit for a taxable document is 750).
MAX_LINES = 200
_LINE_FIELD = re.compile(r"^line-(\d+)-([a-z_]+)$")
_PICK = re.compile(r"^(\d{1,4}):(.{1,32})$")


@dataclasses.dataclass
class FormState:
    """What the form shows: the typed values by field name, and the line numbers in order."""

    values: dict[str, str]
    lines: list[int]

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def line(self, n: int, part: str) -> str:
        return self.values.get(f"line-{n}-{part}", "")

    @property
    def kind(self) -> str:
        return self.values.get("kind", "Invoice")

    def add_line(self) -> None:
        if len(self.lines) < MAX_LINES:
            self.lines.append(max(self.lines, default=-1) + 1)

    def remove_line(self, n: int) -> None:
        if n in self.lines:
            self.lines.remove(n)
            for part in (*LINE_PARTS, "amount"):
                self.values.pop(f"line-{n}-{part}", None)
        if not self.lines:
            self.add_line()

    def choose_item(self, n: int, item: CatalogItem, catalog: Catalog, *, customer_taxable: bool = True) -> None:
        """Put ``item`` on line ``n`` with its description, price and default tax code (quantity 1 if none)."""
        if n not in self.lines:
            return
        prefix = f"line-{n}-"
        self.values[prefix + "item"] = item.qbo_id
        self.values[prefix + "description"] = item.description or item.name
        self.values[prefix + "unit_price"] = "" if item.unit_price is None else _plain(item.unit_price)
        if not self.values.get(prefix + "qty"):
            self.values[prefix + "qty"] = "1"
        code = default_tax_code(item, catalog, customer_taxable=customer_taxable)
        if code:
            self.values[prefix + "tax_code"] = code

    def filled_lines(self) -> list[int]:
        """The lines the draft keeps (it skips a line with nothing typed), in order."""
        parts = ("item", "description", "qty", "unit_price", "amount")
        return [n for n in self.lines if any(self.line(n, part).strip() for part in parts)]

    def on_form_lines(self, problems: t.Iterable[Problem]) -> list[Problem]:
        """Problems the validator named by draft line (``line-0-qty``) renamed to the form's line numbers."""
        filled = self.filled_lines()
        renamed = []
        for problem in problems:
            match = _LINE_FIELD.match(problem.field)
            if match and int(match.group(1)) < len(filled):
                problem = Problem(f"line-{filled[int(match.group(1))]}-{match.group(2)}", problem.message)
            renamed.append(problem)
        return renamed

    def posted(self) -> dict[str, str]:
        """The values as :func:`~flask_qbo.billing.draft.draft_from_form` reads them (removed lines gone)."""
        keep = {f"line-{n}-{part}" for n in self.lines for part in (*LINE_PARTS, "amount")}
        return {key: value for key, value in self.values.items() if key in keep or not key.startswith("line-")}


def _plain(value: object) -> str:
    """A Decimal as typed text without trailing zeros beyond the cents (``75.0000000`` → ``75.00``)."""
    text = format(value, "f")
    if "." in text:
        whole, frac = text.split(".", 1)
        frac = frac.rstrip("0").ljust(2, "0")
        text = f"{whole}.{frac}"
    return text


def default_tax_code(item: CatalogItem, catalog: Catalog, *, customer_taxable: bool = True) -> str | None:
    """The tax code a new line with ``item`` starts with, where the company needs one.

    On US sales tax a customer marked not taxable gets ``NON`` lines: QuickBooks charges it
    no tax, so the preview must not suggest any.
    """
    if catalog.prefs.tax_model in US_MODELS:
        return "TAX" if item.taxable and customer_taxable else "NON"
    if catalog.prefs.tax_model == PER_LINE:
        return item.sales_tax_code_id or catalog.prefs.default_tax_code_id
    return None


def from_post(form: t.Mapping[str, str]) -> FormState:
    """The form as posted: every known field's first value, and its lines (at least one)."""
    numbers = line_numbers(form)[:MAX_LINES]
    values = {name: str(form.get(name) or "") for name in DOC_FIELDS if form.get(name) is not None}
    for n in numbers:
        for part in (*LINE_PARTS, "amount"):
            key = f"line-{n}-{part}"
            if form.get(key) is not None:
                values[key] = str(form.get(key) or "")
    state = FormState(values, numbers)
    if not state.lines:
        state.add_line()
    return state


def from_draft(draft: Draft) -> FormState:
    """A stored draft reopened (Edit and retry): an amount-only line shows as 1 × that amount."""
    values = draft_to_form(draft)
    for n, line in enumerate(draft.lines):
        if line.qty is None and line.unit_price is None:
            values[f"line-{n}-qty"] = "1"
            values[f"line-{n}-unit_price"] = _plain(line.amount)
        values.pop(f"line-{n}-amount", None)
    return from_post(values)


def blank(
    kind: str, *, currency: str | None, bill_email: str | None, terms_id: str | None, today: dt.date
) -> FormState:
    """A new form: today's date, the customer's currency, terms and email, one empty line."""
    values = {"kind": kind, "txn_date": today.isoformat(), "currency": currency or "", "bill_email": bill_email or ""}
    if terms_id:
        values["terms"] = terms_id
    return FormState(values, [0])


def apply_buttons(
    state: FormState, form: t.Mapping[str, str], catalog: Catalog, *, customer_taxable: bool = True
) -> bool:
    """Apply "Add line", "Remove" or a chosen item; True when one was pressed (then nothing is saved)."""
    if form.get("add_line"):
        state.add_line()
        return True
    removed = form.get("remove_line")
    if removed:
        if removed.isdigit():
            state.remove_line(int(removed))
        return True
    pick = _PICK.match(form.get("pick") or "")
    if pick:
        item = catalog.items.get(pick.group(2))
        if item is not None and item.sellable:
            state.choose_item(int(pick.group(1)), item, catalog, customer_taxable=customer_taxable)
        return True
    filled = form.get("fill_line") or ""
    if filled.isdigit():
        n = int(filled)
        item = catalog.items.get(state.line(n, "item"))
        if item is not None and item.sellable:
            state.choose_item(n, item, catalog, customer_taxable=customer_taxable)
        return True
    return False


def problems_by_field(problems: t.Iterable[Problem]) -> dict[str, list[str]]:
    """Messages grouped by the field they belong to, so each shows beside its field."""
    grouped: dict[str, list[str]] = {}
    for problem in problems:
        grouped.setdefault(problem.field, []).append(problem.message)
    return grouped
