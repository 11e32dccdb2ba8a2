"""``GET /preferences`` and ``select * from Preferences`` (issue 15, item 8).

The fields an integrator reads first (qbo-quote-to-cash-facts §3.1 and §3.5;
Intuit's Preferences reference; ruckus/quickbooks-ruby
``spec/fixtures/preferences.xml``), with values that describe what the
emulator does.
"""

from __future__ import annotations

from flask_qbo.emulator import Emulator
from flask_qbo.emulator import EmulatorConfig

from .conftest import BASE_URL
from .conftest import REALM
from .conftest import Api


def test_preferences_endpoint(api, emulator):
    response = api.get("preferences")
    assert response.status_code == 200 and response.json()["time"]
    prefs = response.json()["Preferences"]
    assert (prefs["Id"], prefs["SyncToken"], prefs["domain"], prefs["sparse"]) == ("1", "0", "QBO", False)
    assert (
        prefs["MetaData"]["CreateTime"]
        == api.get(f"companyinfo/{api.realm}").json()["CompanyInfo"]["MetaData"]["CreateTime"]
    )
    assert prefs["CurrencyPrefs"] == {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}}
    forms = prefs["SalesFormsPrefs"]
    assert forms["CustomTxnNumbers"] is False  # the emulator numbers documents itself
    assert forms["AllowEstimates"] is True and forms["AllowDiscount"] is True
    assert forms["DefaultTerms"] == {"value": "3"}
    term = api.get("term/3").json()["Term"]
    assert term["Name"] == "Net 30"
    assert prefs["TaxPrefs"] == {"UsingSalesTax": False, "PartnerTaxEnabled": False}
    invoice_message = prefs["EmailMessagesPrefs"]["InvoiceMessage"]
    assert invoice_message["Subject"] == "Invoice from Sandbox Company US" and invoice_message["Message"]
    for name in ("EstimateMessage", "SalesReceiptMessage", "StatementMessage"):
        assert set(prefs["EmailMessagesPrefs"][name]) == {"Subject", "Message"}
    assert prefs["AccountingInfoPrefs"]["FirstMonthOfFiscalYear"] == "January"
    assert prefs["ProductAndServicesPrefs"]["ForSales"] is True
    assert {"Name": "SalesFormsPrefs.DefaultItem", "Value": "1"} in prefs["OtherPrefs"]["NameValue"]

    assert api.get("preferences/1").json()["Preferences"] == prefs
    queried = api.query("select * from Preferences").json()["QueryResponse"]
    assert queried["Preferences"] == [prefs] and queried["maxResults"] == 1


def test_preferences_follow_the_home_currency_and_need_a_token():
    emu = Emulator(EmulatorConfig(base_url=BASE_URL, home_currency=("CAD", "Canadian Dollar")))
    emu.add_company(REALM, "Maple Books")
    prefs = Api(emu, REALM).get("preferences").json()["Preferences"]
    assert prefs["CurrencyPrefs"]["HomeCurrency"] == {"value": "CAD"}
    anonymous = emu.http_session().get(f"{BASE_URL}/v3/company/{REALM}/preferences")
    assert anonymous.status_code == 401


def test_preferences_are_read_only_here(api):
    update = api.post("preferences", {"Id": "1", "SyncToken": "0", "SalesFormsPrefs": {"CustomTxnNumbers": True}})
    assert update.status_code == 400 and api.error(update)["code"] == "500"
    assert api.get("preferences").json()["Preferences"]["SalesFormsPrefs"]["CustomTxnNumbers"] is False
