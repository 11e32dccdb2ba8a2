"""How one emulated company is set up: its country and the switches on QBO's settings page.

A test that needs a company numbering its own documents, taking foreign
currencies or computing US sales tax says so in one :class:`CompanySettings`
(``emu.add_company(realm, name, settings=CompanySettings(custom_txn_numbers=True))``,
or :attr:`EmulatorConfig.company_settings <flask_qbo.emulator.config.EmulatorConfig.company_settings>`
for every company). The settings are written into the company's
``Preferences`` and ``CompanyInfo`` when it is created and read back from
there (:attr:`Company.prefs <flask_qbo.emulator.company.Company.prefs>`), so a
saved snapshot keeps them. :data:`COUNTRIES` holds what differs per country:
the home currency, the company's address and the word QBO uses for its tax.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    """What a company's country decides: currency, address and the tax's name in messages."""

    currency: tuple[str, str]
    address: dict[str, str]
    tax_word: str


COUNTRIES: dict[str, Country] = {
    "US": Country(
        ("USD", "United States Dollar"),
        {
            "Line1": "2600 Marine Way",
            "City": "Mountain View",
            "CountrySubDivisionCode": "CA",
            "PostalCode": "94043",
            "Country": "USA",
        },
        "sales tax",
    ),
    "CA": Country(
        ("CAD", "Canadian Dollar"),
        {
            "Line1": "200 Bay Street",
            "City": "Toronto",
            "CountrySubDivisionCode": "ON",
            "PostalCode": "M5J 2J2",
            "Country": "CAN",
        },
        "GST/HST",
    ),
    "GB": Country(
        ("GBP", "British Pound Sterling"),
        {"Line1": "10 Finsbury Square", "City": "London", "PostalCode": "EC2A 1AF", "Country": "GBR"},
        "VAT",
    ),
}
#: Names of the currencies a company may use as home or foreign currency.
CURRENCY_NAMES = {code: name for code, name in (c.currency for c in COUNTRIES.values())} | {
    "EUR": "Euro",
    "AUD": "Australian Dollar",
}


@dataclass(frozen=True)
class CompanySettings:
    """The settings of one company; the defaults are a new US QBO Plus company without sales tax set up.

    ``country`` is ``CompanyInfo.Country`` (a key of :data:`COUNTRIES`);
    ``home_currency`` ``None`` means the emulator's
    :attr:`~flask_qbo.emulator.config.EmulatorConfig.home_currency` for a US
    company and the country's own currency elsewhere. ``sales_tax`` turns on
    automated sales tax in a US company (``TaxPrefs.UsingSalesTax`` and
    ``PartnerTaxEnabled`` true); a non-US company always uses its tax codes.
    The other fields are the ``SalesFormsPrefs``, ``CurrencyPrefs`` and
    ``ProductAndServicesPrefs`` flags of the same names.
    """

    country: str = "US"
    home_currency: tuple[str, str] | None = None
    sales_tax: bool = False
    custom_txn_numbers: bool = False
    multicurrency: bool = False
    allow_estimates: bool = True
    allow_discount: bool = True
    allow_deposit: bool = False
    allow_shipping: bool = False
    online_payments: bool = False
    track_quantity_on_hand: bool = True

    def __post_init__(self) -> None:
        if self.country not in COUNTRIES:
            raise ValueError(f"unsupported country {self.country!r}; choose from {sorted(COUNTRIES)}")

    def currency(self, us_default: tuple[str, str]) -> dict[str, str]:
        """The home currency as a QBO reference (``{"value": "CAD", "name": "Canadian Dollar"}``)."""
        code, name = self.home_currency or (us_default if self.country == "US" else COUNTRIES[self.country].currency)
        return {"value": code, "name": name}
