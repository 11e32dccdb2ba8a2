"""A customer's currency: asked for by the contact when its customer is created, fixed in QBO after.

QBO sets ``Customer.CurrencyRef`` once, in the create, and refuses to change it
later; a company that never turned multi-currency on refuses any currency but
its home one.  So the host maps its contact's currency with direction
``on_create`` (:data:`flask_qbo.fieldmap.ON_CREATE`): the value goes into the
create and never into an update, and this module decides, before any request,
whether QBO would take it:

* :func:`check_currency` refuses (pre-flight, naming the host's field) a value
  that is not an ISO code, or a foreign currency in a company whose
  preferences (``qbo_company_prefs``) do not say multi-currency is on;
* :func:`create_currency` is what the create body carries: ``CurrencyRef`` with
  the ISO code, or nothing when the contact asks for none or for the home
  currency (QBO then gives the customer its home currency).

A later change of the contact's currency is not an error: the contact card
explains that QBO keeps the currency it was created with
(:mod:`flask_qbo.widgets.currency`).
"""

from __future__ import annotations

import re
import typing as t

from sqlalchemy.orm import Session

from ..errors import QBOValidationError
from ..fieldmap import FieldMap
from ..models import CompanyPrefs
from .preflight import PREFLIGHT_CODE

#: The mapped path of a customer's currency (its ISO code, e.g. ``"EUR"``).
CURRENCY_PATH = "CurrencyRef.value"

_ISO = re.compile(r"^[A-Z]{3}$")


def company_prefs(session: Session, realm_id: object) -> CompanyPrefs | None:
    """The company's cached preferences (``None`` until they have been read)."""
    return session.query(CompanyPrefs).filter_by(realm_id=str(realm_id)).one_or_none()


def asked_currency(values: t.Mapping[str, t.Any]) -> str | None:
    """The ISO code the contact's values ask for (upper-cased), or ``None`` when they ask for none."""
    value = values.get(CURRENCY_PATH)
    text = str(value).strip().upper() if value is not None else ""
    return text or None


def is_home(code: str, prefs: CompanyPrefs | None) -> bool:
    """True when ``code`` is the company's home currency as far as its preferences say."""
    return prefs is not None and (prefs.home_currency or "").upper() == code


def check_currency(values: t.Mapping[str, t.Any], prefs: CompanyPrefs | None, fieldmap: FieldMap) -> None:
    """Raise a pre-flight :class:`QBOValidationError` when QBO would refuse the currency a create asks for.

    :param prefs: the company's preferences; ``None`` (not read yet) counts as
        multi-currency off, since a create in a foreign currency would be refused then.
    """
    code = asked_currency(values)
    if code is None:
        return
    field = fieldmap.by_path(CURRENCY_PATH)
    label = field.name if field is not None else CURRENCY_PATH
    if not _ISO.match(code):
        raise _refused(label, f"{code!r} is not a currency code; QuickBooks needs an ISO code such as EUR.")
    if is_home(code, prefs) or (prefs is not None and prefs.multi_currency):
        return
    if prefs is None:
        why = "this QuickBooks company's preferences have not been read yet, so multi-currency is not known to be on"
    else:
        why = f"multi-currency is off in this QuickBooks company (home currency {prefs.home_currency or 'unknown'})"
    raise _refused(
        label,
        f"asks for {code}, but {why}. Turn multi-currency on in QuickBooks (it cannot be turned off again), "
        "or leave the currency empty to use the home currency; then retry.",
    )


def create_currency(values: t.Mapping[str, t.Any], prefs: CompanyPrefs | None) -> dict[str, t.Any]:
    """What a create body says about the currency: ``{"CurrencyRef": {"value": "EUR"}}``, or ``None`` to omit it.

    The home currency is omitted too: QBO gives a new customer its home currency
    by default, and a company without multi-currency has no other.
    """
    code = asked_currency(values)
    if code is None or is_home(code, prefs):
        return {"CurrencyRef": None}
    return {"CurrencyRef": {"value": code}}


def _refused(label: str, problem: str) -> QBOValidationError:
    return QBOValidationError(
        f"{label}: {problem}",
        status=None,
        code=PREFLIGHT_CODE,
        detail=f"QuickBooks field {CURRENCY_PATH}",
        element=CURRENCY_PATH,
    )
