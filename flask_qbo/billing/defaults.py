"""What a blank form field means for this customer, filled in before the draft is judged.

The form may leave the currency and the billing e-mail blank: the customer's
currency and the contact's address are meant.  Filling them into the draft
(rather than guessing later) keeps one rule for the validator, the totals and
the QBO body: the stored body then carries ``CurrencyRef`` and ``BillEmail``,
which QBO needs to bill a foreign customer and to e-mail the document.
"""

from __future__ import annotations

import dataclasses

from .catalog import Catalog
from .draft import Draft


def complete(draft: Draft, catalog: Catalog, customer_currency: str | None, contact_email: str | None) -> Draft:
    """``draft`` with a blank currency set to the customer's (else, with multi-currency on, the home
    currency) and a blank billing e-mail set to the contact's when the document is to be sent."""
    currency = draft.currency
    if currency is None and catalog.prefs.multi_currency:
        currency = customer_currency or catalog.prefs.home_currency
    bill_email = draft.bill_email
    if not bill_email and draft.send_after and contact_email:
        bill_email = contact_email.strip()
    return dataclasses.replace(draft, currency=currency, bill_email=bill_email)
