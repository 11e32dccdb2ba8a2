"""The tax codes and rates a new company starts with, per country.

QBO gives every company its tax list; no client may write it (TaxCode and
TaxRate are read-only and outside CDC). A US company has the two line codes
``TAX`` and ``NON`` and, for automated sales tax, one system code and rate per
state: :data:`US_STATE_RATES` is the emulator's small stand-in for Intuit's
tax engine (a single combined rate per state, no counties or cities; a state
not listed has no tax). A Canadian or British company has numbered codes whose
``SalesTaxRateList`` names the rates a line using them pays.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

#: Combined sales tax rate (percent) per destination state; other states are taxed at 0.
US_STATE_RATES: dict[str, tuple[str, str]] = {
    "AZ": ("Arizona", "5.6"),
    "CA": ("California", "8.25"),
    "CO": ("Colorado", "2.9"),
    "ID": ("Idaho", "6"),
    "NV": ("Nevada", "6.85"),
    "NY": ("New York", "8.875"),
    "TX": ("Texas", "6.25"),
    "VT": ("Vermont", "6"),
    "WA": ("Washington", "6.5"),
    "WI": ("Wisconsin", "5"),
}
#: The line tax codes of a US company (pseudo codes: their Ids are their names).
US_LINE_CODES = ("TAX", "NON")


@dataclass(frozen=True)
class Rate:
    rate_id: str
    name: str
    value: str
    agency: str


@dataclass(frozen=True)
class Code:
    """A non-US tax code; ``rates`` are (rate id, TaxTypeApplicable) in tax order."""

    code_id: str
    name: str
    rates: tuple[tuple[str, str], ...]


_ON = "TaxOnAmount"
NON_US: dict[str, tuple[tuple[Rate, ...], tuple[Code, ...], str]] = {
    # (rates, codes, the company's default code)
    "CA": (
        (
            Rate("1", "GST", "5", "1"),
            Rate("2", "HST ON", "13", "1"),
            Rate("3", "QST", "9.975", "2"),
            Rate("4", "Zero-rated", "0", "1"),
            Rate("5", "Exempt", "0", "1"),
        ),
        (
            Code("2", "Exempt", (("5", _ON),)),
            Code("3", "Zero-rated", (("4", _ON),)),
            Code("4", "GST", (("1", _ON),)),
            Code("5", "HST ON", (("2", _ON),)),
            Code("6", "GST/QST QC - 9.975", (("1", _ON), ("3", _ON))),
        ),
        "5",
    ),
    "GB": (
        (
            Rate("1", "20.0% S", "20", "1"),
            Rate("2", "5.0% R", "5", "1"),
            Rate("3", "0.0% Z", "0", "1"),
            Rate("4", "Exempt", "0", "1"),
        ),
        (
            Code("2", "20.0% S", (("1", _ON),)),
            Code("3", "5.0% R", (("2", _ON),)),
            Code("4", "0.0% Z", (("3", _ON),)),
            Code("5", "Exempt", (("4", _ON),)),
        ),
        "2",
    ),
}


def default_tax_code(country: str) -> str | None:
    """The Id of a non-US company's default sales tax code (``TaxPrefs.TaxGroupCodeRef``)."""
    return NON_US[country][2] if country in NON_US else None


def _row(obj_id: str, stamp: dict[str, str], **fields: object) -> dict[str, t.Any]:
    return {"Id": obj_id, "SyncToken": "0", **fields, "domain": "QBO", "sparse": False, "MetaData": dict(stamp)}


def _rate_row(rate: Rate, stamp: dict[str, str], start: str) -> dict[str, t.Any]:
    return _row(
        rate.rate_id,
        stamp,
        Name=rate.name,
        Description=rate.name,
        Active=True,
        RateValue=float(rate.value),
        AgencyRef={"value": rate.agency},
        SpecialTaxType="NONE" if float(rate.value) else "ZERO_RATE",
        DisplayType="ReadOnly",
        EffectiveTaxRate=[{"RateValue": float(rate.value), "EffectiveDate": f"{start}T00:00:00Z"}],
    )


def _code_row(code: Code, names: dict[str, str], stamp: dict[str, str]) -> dict[str, t.Any]:
    details = [
        {"TaxRateRef": {"value": rate_id, "name": names[rate_id]}, "TaxTypeApplicable": applies, "TaxOrder": order}
        for order, (rate_id, applies) in enumerate(code.rates)
    ]
    return _row(
        code.code_id,
        stamp,
        Name=code.name,
        Description=code.name,
        Active=True,
        Hidden=False,
        Taxable=True,
        TaxGroup=len(code.rates) > 1,
        SalesTaxRateList={"TaxRateDetail": details},
        PurchaseTaxRateList={"TaxRateDetail": []},
        TaxCodeConfigType="SYSTEM_GENERATED",
    )


def tax_lists(country: str, stamp: dict[str, str], start: str) -> tuple[list[dict[str, t.Any]], list[dict[str, t.Any]]]:
    """``(TaxCode rows, TaxRate rows)`` of a new company in ``country``, opened on ``start``."""
    if country in NON_US:
        rates, codes, _default = NON_US[country]
        names = {rate.rate_id: rate.name for rate in rates}
        return [_code_row(c, names, stamp) for c in codes], [_rate_row(r, stamp, start) for r in rates]
    pseudo = [
        _row(code, stamp, Name=code, Description=code, Active=True, Hidden=False, Taxable=code == "TAX", TaxGroup=False)
        for code in US_LINE_CODES
    ]
    state_rates = [
        Rate(str(index), name, value, str(index)) for index, (name, value) in enumerate(US_STATE_RATES.values(), 1)
    ]
    names = {rate.rate_id: rate.name for rate in state_rates}
    state_codes = [_code_row(Code(str(r.rate_id), r.name, ((r.rate_id, _ON),)), names, stamp) for r in state_rates]
    return pseudo + state_codes, [_rate_row(r, stamp, start) for r in state_rates]


def us_state_code(state: str) -> str | None:
    """The Id of AST's tax code (and rate) for a destination state, ``None`` for an untaxed state."""
    for index, abbreviation in enumerate(US_STATE_RATES, 1):
        if abbreviation == state.upper():
            return str(index)
    return None
