"""What a company sells and how it taxes, as plain values read once per form.

The validator, the totals and the body builder need the same facts (is item 7
active? which rates does tax code 3 carry? may this company send a DocNumber?)
and must not touch the database or QBO while they decide.  :meth:`Catalog.load`
reads the realm's mirror (``qbo_item``, ``qbo_tax_code``, ``qbo_tax_rate``,
``qbo_company_prefs``, terms from ``qbo_ref_item``) into frozen values, so a
draft is judged against one consistent picture and tests can build a catalog by
hand.  A realm whose preferences were never read gets QBO's own defaults: no
sales tax, one currency, QBO numbers documents.
"""

from __future__ import annotations

import dataclasses
import typing as t
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..models import CompanyPrefs
from ..models import Item
from ..models import RefItem
from ..models import TaxCode
from ..models import TaxRate

#: The company's tax models (:attr:`flask_qbo.models.CompanyPrefs.tax_model`).
US_AST = "us_ast"
#: A US company on sales tax without automated sales tax (set up before late 2017): lines
#: still say TAX/NON, and the document names the rate to apply (``TxnTaxDetail.TxnTaxCodeRef``).
US_MANUAL = "us_manual"
PER_LINE = "per_line"
NO_TAX = "none"
#: The only line tax codes a US company accepts.
US_CODES = ("TAX", "NON")
#: The US models: a line is TAX or NON, and QBO computes the tax.
US_MODELS = (US_AST, US_MANUAL)
#: Item types never offered on a line: a category is a folder of products; a Group (bundle)
#: needs QBO's ``GroupLineDetail`` line, which the document form does not build yet.
UNSOLD_TYPES = ("Category", "Group")


@dataclasses.dataclass(frozen=True)
class Prefs:
    """The sales preferences that decide what a form may contain (defaults: QBO's own)."""

    country: str | None = None
    home_currency: str | None = None
    multi_currency: bool = False
    custom_txn_numbers: bool = False
    allow_estimates: bool = True
    allow_discount: bool = True
    online_payments: bool = False
    tax_model: str = NO_TAX
    default_tax_code_id: str | None = None
    default_terms_id: str | None = None

    @classmethod
    def from_row(cls, row: CompanyPrefs | None) -> Prefs:
        """The preferences a ``qbo_company_prefs`` row holds (defaults when there is none)."""
        if row is None:
            return cls()
        return cls(
            country=row.country,
            home_currency=row.home_currency,
            multi_currency=bool(row.multi_currency),
            custom_txn_numbers=bool(row.custom_txn_numbers),
            allow_estimates=row.allow_estimates is not False,
            allow_discount=row.allow_discount is not False,
            online_payments=bool(row.online_payments),
            tax_model=row.tax_model or NO_TAX,
            default_tax_code_id=row.default_tax_code_id,
            default_terms_id=row.default_terms_id,
        )

    @classmethod
    def load(cls, session: Session, realm_id: str) -> Prefs:
        """The realm's preferences from the mirror."""
        return cls.from_row(session.query(CompanyPrefs).filter_by(realm_id=realm_id).one_or_none())


@dataclasses.dataclass(frozen=True)
class CatalogItem:
    """A product or service as a sales line needs it."""

    qbo_id: str
    name: str
    type: str | None = "Service"
    sku: str | None = None
    description: str | None = None
    unit_price: Decimal | None = None
    taxable: bool | None = None
    sales_tax_code_id: str | None = None
    active: bool = True

    @property
    def sellable(self) -> bool:
        """Active, and neither a category (a folder of products) nor a bundle (``Group``: not offered yet)."""
        return self.active and self.type not in UNSOLD_TYPES

    @classmethod
    def from_row(cls, row: Item) -> CatalogItem:
        return cls(
            qbo_id=row.qbo_id,
            name=row.name,
            type=row.type,
            sku=row.sku,
            description=row.description,
            unit_price=row.unit_price,
            taxable=row.taxable,
            sales_tax_code_id=row.sales_tax_code_id,
            active=bool(row.active),
        )


@dataclasses.dataclass(frozen=True)
class Rate:
    """One sales tax rate of a code: ``percent`` is ``8.25`` for 8.25 %.

    ``applies_to`` is how the code applies it: ``TaxOnAmount`` (the line amount),
    ``TaxOnAmountPlusTax`` (the amount plus the code's earlier rates) or
    ``TaxOnTax`` (the earlier rates' tax only).
    """

    qbo_id: str
    name: str
    percent: Decimal
    applies_to: str = "TaxOnAmount"


@dataclasses.dataclass(frozen=True)
class CatalogTaxCode:
    """A tax code with its sales rates resolved, in QBO's order."""

    qbo_id: str
    name: str
    taxable: bool = True
    active: bool = True
    rates: tuple[Rate, ...] = ()


@dataclasses.dataclass(frozen=True)
class Term:
    """A payment term (``Net 30``) a form may pick."""

    qbo_id: str
    name: str


@dataclasses.dataclass(frozen=True)
class Catalog:
    """One realm's items, tax codes, preferences and terms, as read for one form."""

    realm_id: str
    items: t.Mapping[str, CatalogItem] = dataclasses.field(default_factory=dict)
    tax_codes: t.Mapping[str, CatalogTaxCode] = dataclasses.field(default_factory=dict)
    prefs: Prefs = dataclasses.field(default_factory=Prefs)
    terms: tuple[Term, ...] = ()

    @property
    def sellable_items(self) -> list[CatalogItem]:
        """Items a line may name, by name."""
        return sorted((item for item in self.items.values() if item.sellable), key=lambda item: item.name.casefold())

    @property
    def active_tax_codes(self) -> list[CatalogTaxCode]:
        """Tax codes a line may pick, by name (US AST companies: only TAX and NON)."""
        codes = [code for code in self.tax_codes.values() if code.active]
        if self.prefs.tax_model in US_MODELS:
            codes = [code for code in codes if code.qbo_id in US_CODES]
        return sorted(codes, key=lambda code: code.name.casefold())

    def term_name(self, qbo_id: str | None) -> str | None:
        """The name of term ``qbo_id``, or None."""
        return next((term.name for term in self.terms if term.qbo_id == qbo_id), None)

    @classmethod
    def load(cls, session: Session, realm_id: str) -> Catalog:
        """Read the realm's mirror into a catalog (items active or not: old lines may name either)."""
        items = {row.qbo_id: CatalogItem.from_row(row) for row in session.query(Item).filter_by(realm_id=realm_id)}
        rates = {
            row.qbo_id: Rate(row.qbo_id, row.name, row.rate_value if row.rate_value is not None else Decimal(0))
            for row in session.query(TaxRate).filter_by(realm_id=realm_id)
        }
        codes = {
            row.qbo_id: CatalogTaxCode(
                qbo_id=row.qbo_id,
                name=row.name,
                taxable=bool(row.taxable),
                active=bool(row.active) and not row.hidden,
                rates=_resolve(row.sales_rates, rates),
            )
            for row in session.query(TaxCode).filter_by(realm_id=realm_id)
        }
        terms = tuple(
            Term(row.qbo_id, row.name)
            for row in session.query(RefItem)
            .filter_by(realm_id=realm_id, kind="Term", active=True)
            .order_by(RefItem.name)
        )
        return cls(realm_id=realm_id, items=items, tax_codes=codes, prefs=Prefs.load(session, realm_id), terms=terms)


def _resolve(sales_rates: list[dict[str, t.Any]] | None, rates: t.Mapping[str, Rate]) -> tuple[Rate, ...]:
    """The code's rate list (``[{"rate_id", "order", ...}]``) as :class:`Rate` values in order."""
    entries = sorted(sales_rates or (), key=lambda entry: int(entry.get("order") or 0))
    return tuple(
        dataclasses.replace(rates[str(entry["rate_id"])], applies_to=str(entry.get("applies_to") or "TaxOnAmount"))
        for entry in entries
        if str(entry.get("rate_id")) in rates
    )


def _like(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere, with ``%``, ``_`` and ``\\`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_items(session: Session, realm_id: str, text: str, limit: int = 20) -> list[CatalogItem]:
    """Sellable items whose name, SKU or description contains ``text`` (any case), by name."""
    query = session.query(Item).filter(Item.realm_id == realm_id, Item.active.is_(True))
    query = query.filter(sa.or_(Item.type.is_(None), Item.type.notin_(UNSOLD_TYPES)))
    needle = text.strip()
    if needle:
        pattern = _like(needle)
        query = query.filter(
            sa.or_(
                Item.name.ilike(pattern, escape="\\"),
                Item.sku.ilike(pattern, escape="\\"),
                Item.description.ilike(pattern, escape="\\"),
            )
        )
    rows = query.order_by(sa.func.lower(Item.name), Item.id).limit(max(1, min(limit, 200)))
    return [CatalogItem.from_row(row) for row in rows]
