"""Sales tax on a sales document, computed the way the company's tax model does it.

Three models, picked by ``CompanyInfo.Country`` and ``Preferences.TaxPrefs``:

* A US company whose sales tax is not set up (the default): no tax; a
  ``TxnTaxDetail`` a client sends is dropped and ``TotalTax`` is 0.
* A US company on automated sales tax (AST): lines are ``TAX`` or ``NON``;
  the tax engine picks the destination (``ShipAddr``, else ``BillAddr``, else
  the company's address) and taxes the ``TAX`` lines at that state's rate
  (:data:`~flask_qbo.emulator.tax_tables.US_STATE_RATES`), naming its own tax
  code in ``TxnTaxCodeRef`` whatever the client sent. With
  ``ApplyTaxAfterDiscount`` a discount line lowers the taxable amount first.
* A non-US company: every sales line names a TaxCode, and each rate in the
  code's ``SalesTaxRateList`` taxes it (in ``TaxOrder``; ``TaxOnAmountPlusTax``
  includes the tax of earlier rates). Only ``GlobalTaxCalculation``
  ``TaxExcluded`` is modelled; other values are refused.

One ``TaxLine`` per rate, rounded half-up to the cent. A ``TotalTax`` the
client sends overrides the computed total (spread over the rates in
proportion); one merely echoed back from a read is recomputed.
"""

from __future__ import annotations

import typing as t
from decimal import ROUND_HALF_UP
from decimal import Decimal

from .. import errors
from ..errors import EmulatorFault
from ..settings import COUNTRIES
from ..tax_tables import us_state_code
from .values import money

if t.TYPE_CHECKING:
    from ..company import Company

_CENT = Decimal("0.01")
_HUNDRED = Decimal("100")
#: Marks a stored document whose ``TotalTax`` a client set (kept private: never shown).
OVERRIDE_MARK = "_tax_override"
#: What the emulator puts in a line that named no tax code (transactions.py); a non-US line must name one.
UNNAMED_CODE = "NON"
#: (rate id, net amount taxable, tax before rounding), one per rate.
Taxed = dict[str, tuple[Decimal, Decimal]]


def _cents(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _decimal(value: object) -> Decimal:
    return Decimal(str(value or 0))


def _sales_lines(obj: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    return [ln for ln in obj.get("Line") or [] if ln.get("DetailType") == "SalesItemLineDetail"]


def _discount_share(obj: dict[str, t.Any]) -> Decimal:
    """The part of each sales line left after the document's discount lines (1 when none)."""
    gross = sum((_decimal(ln.get("Amount")) for ln in _sales_lines(obj)), Decimal("0"))
    discount = sum(
        (_decimal(ln.get("Amount")) for ln in obj.get("Line") or [] if ln.get("DetailType") == "DiscountLineDetail"),
        Decimal("0"),
    )
    return (gross - discount) / gross if gross and discount else Decimal("1")


def _destination_state(company: Company, obj: dict[str, t.Any]) -> str:
    info = company.table("CompanyInfo").get(company.realm) or {}
    for address in (obj.get("ShipAddr"), obj.get("BillAddr"), info.get("CompanyAddr")):
        if isinstance(address, dict) and address.get("CountrySubDivisionCode"):
            return str(address["CountrySubDivisionCode"]).strip().upper()
    return ""


def _us_tax(company: Company, obj: dict[str, t.Any]) -> tuple[str | None, Taxed]:
    """AST: (the tax code it chose, the one rate of the destination state applied to the TAX lines)."""
    code = us_state_code(_destination_state(company, obj))
    if code is None:
        return None, {}
    if not _customer_taxable(company, obj):
        return code, {}
    taxable = sum(
        (_decimal(ln.get("Amount")) for ln in _sales_lines(obj) if _line_code(ln) == "TAX"),
        Decimal("0"),
    )
    if obj.get("ApplyTaxAfterDiscount") is True:
        taxable = _cents(taxable * _discount_share(obj))
    rate = _decimal(company.table("TaxRate")[code].get("RateValue"))
    return code, {code: (taxable, taxable * rate / _HUNDRED)}


def _customer_taxable(company: Company, obj: dict[str, t.Any]) -> bool:
    """False only when the document's customer says ``Taxable: false`` (AST then charges it nothing)."""
    customer_id = str((obj.get("CustomerRef") or {}).get("value") or "")
    return (company.table("Customer").get(customer_id) or {}).get("Taxable") is not False


def _line_code(line: dict[str, t.Any]) -> str:
    return str(((line.get("SalesItemLineDetail") or {}).get("TaxCodeRef") or {}).get("value") or "")


def _missing_rate(company: Company) -> EmulatorFault:
    word = COUNTRIES[company.country()].tax_word
    return EmulatorFault(
        400,
        "6000",
        "A business validation error has occurred while processing your request",
        f"Make sure all your transactions have a {word} rate before you save",
        "Line.SalesItemLineDetail.TaxCodeRef",
    )


def _non_us_tax(company: Company, obj: dict[str, t.Any]) -> Taxed:
    """Per-line codes: every rate of each line's code, discounts taken off first."""
    calculation = obj.get("GlobalTaxCalculation") or "TaxExcluded"
    if calculation != "TaxExcluded":
        raise errors.business(
            f"GlobalTaxCalculation {calculation} is not supported by the emulator; send TaxExcluded.",
            "GlobalTaxCalculation",
        )
    obj["GlobalTaxCalculation"] = calculation
    share = _discount_share(obj)
    taxed: Taxed = {}
    for line in _sales_lines(obj):
        code_id = _line_code(line)
        if code_id in ("", UNNAMED_CODE):
            raise _missing_rate(company)
        code = company.table("TaxCode").get(code_id)
        if code is None:
            raise errors.invalid_reference("Line.SalesItemLineDetail.TaxCodeRef", code_id)
        if code.get("Active") is False:
            raise errors.not_found()
        line["SalesItemLineDetail"]["TaxCodeRef"] = {"value": code_id, "name": code.get("Name", "")}
        amount = _decimal(line.get("Amount")) * share
        earlier = Decimal("0")
        details = (code.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []
        for detail in sorted(details, key=lambda d: int(d.get("TaxOrder", 0))):
            rate_id = str(detail["TaxRateRef"]["value"])
            base = {"TaxOnAmountPlusTax": amount + earlier, "TaxOnTax": earlier}.get(
                str(detail.get("TaxTypeApplicable")), amount
            )
            tax = base * _decimal(company.table("TaxRate")[rate_id].get("RateValue")) / _HUNDRED
            net, total = taxed.get(rate_id, (Decimal("0"), Decimal("0")))
            taxed[rate_id] = (net + base, total + tax)
            earlier += tax
    return taxed


def _override(obj: dict[str, t.Any], current: dict[str, t.Any] | None) -> Decimal | None:
    """The TotalTax the client set, or ``None`` when the tax is to be computed."""
    sent = (obj.get("TxnTaxDetail") or {}).get("TotalTax") if isinstance(obj.get("TxnTaxDetail"), dict) else None
    if sent is None:
        return None
    value = Decimal(str(money(sent, "TxnTaxDetail.TotalTax")))
    stored = ((current or {}).get("TxnTaxDetail") or {}).get("TotalTax")
    if current is not None and stored is not None and Decimal(str(stored)) == value:
        return value if current.get(OVERRIDE_MARK) else None
    return value


def _tax_lines(taxed: Taxed, company: Company, override: Decimal | None) -> tuple[list[dict[str, t.Any]], Decimal]:
    amounts = {rate_id: _cents(tax) for rate_id, (_net, tax) in taxed.items()}
    computed = sum(amounts.values(), Decimal("0"))
    if override is not None and taxed:
        ids = list(amounts)
        spread = {rid: _cents(override * amounts[rid] / computed) if computed else Decimal("0") for rid in ids}
        spread[ids[-1]] = override - sum((spread[rid] for rid in ids[:-1]), Decimal("0"))
        amounts = spread
    lines = [
        {
            "Amount": float(amounts[rate_id]),
            "DetailType": "TaxLineDetail",
            "TaxLineDetail": {
                "TaxRateRef": {"value": rate_id},
                "PercentBased": True,
                "TaxPercent": float(_decimal(company.table("TaxRate")[rate_id].get("RateValue"))),
                "NetAmountTaxable": float(_cents(net)),
            },
        }
        for rate_id, (net, _tax) in taxed.items()
    ]
    return lines, override if override is not None else computed


def settle_tax(company: Company, obj: dict[str, t.Any], current: dict[str, t.Any] | None, subtotal: float) -> float:
    """Fill ``TxnTaxDetail`` and ``TotalAmt`` (lines after discounts + tax) of a sales document; returns TotalAmt."""
    prefs = company.prefs
    code: str | None = None
    if company.country() != "US":
        taxed = _non_us_tax(company, obj)
    elif prefs.automated_sales_tax:
        code, taxed = _us_tax(company, obj)
    else:
        obj["TxnTaxDetail"] = {"TotalTax": 0}
        obj["TotalAmt"] = subtotal
        obj.pop(OVERRIDE_MARK, None)
        return subtotal
    override = _override(obj, current)
    lines, total_tax = _tax_lines(taxed, company, override)
    detail: dict[str, t.Any] = {"TxnTaxCodeRef": {"value": code}} if code else {}
    detail["TotalTax"] = float(total_tax)
    if lines:
        detail["TaxLine"] = lines
    obj["TxnTaxDetail"] = detail
    if override is not None:
        obj[OVERRIDE_MARK] = True
    else:
        obj.pop(OVERRIDE_MARK, None)
    obj["TotalAmt"] = money(Decimal(str(subtotal)) + total_tax)
    return float(obj["TotalAmt"])
