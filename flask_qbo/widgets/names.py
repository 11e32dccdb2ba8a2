"""The contact's name as QuickBooks sees it, and the lengths QuickBooks allows.

A host's form should refuse what QuickBooks would refuse, at the field, in the
user's words, instead of cutting it short or letting a push fail later; the
limits therefore come from the registered field map (each attribute's QBO path
and that path's maximum in :data:`~flask_qbo.fieldmap.CUSTOMER_PATHS`).  The
card compares the contact's name with the customer's DisplayName the same way
push derives it, so "In QuickBooks: Ann Lee (2)" appears exactly when the two
really differ.
"""

from __future__ import annotations

import typing as t

from ..fieldmap import FieldMap
from ..models import Customer
from ..state import get_qbo
from ..sync.payload import contact_values
from ..sync.payload import display_name


def _registered_map(fieldmap: FieldMap | None) -> FieldMap:
    return fieldmap if fieldmap is not None else get_qbo()._registration().fields


def field_limits(fieldmap: FieldMap | None = None) -> dict[str, int]:
    """``{attribute: maximum length}`` for every contact attribute QuickBooks limits.

    :param fieldmap: the map to read (default: the one given to ``register_contact``
        for the current app).  Only attributes mapped alone to one text path have a
        known limit; an attribute split over several paths or computed by ``get``
        has none, since its own length does not decide what is sent.  An attribute
        feeding several fields gets the smallest of their limits.
    """
    return _registered_map(fieldmap).max_lengths()


def max_length_for(attr: str, fieldmap: FieldMap | None = None) -> int | None:
    """QuickBooks' maximum length for one contact attribute, or ``None`` when it has none."""
    return field_limits(fieldmap).get(attr)


def crm_name(contact: t.Any) -> str:
    """The name push gives the contact's customer: the mapped DisplayName, else "First Last", company, email."""
    return display_name(contact_values(contact, _registered_map(None)))


def qbo_name_if_different(contact: t.Any, customer: Customer | None) -> str | None:
    """The customer's DisplayName when it is not the contact's own name (``"Ann Lee (2)"``), else ``None``.

    Runs of spaces count as one, as in the name push sends; any other
    difference (a uniqueness suffix, a name given in QuickBooks, ``(deleted)``)
    is shown.
    """
    if customer is None or not customer.display_name:
        return None
    theirs = " ".join(customer.display_name.split())
    return None if theirs == crm_name(contact) else customer.display_name


__all__ = ["crm_name", "field_limits", "max_length_for", "qbo_name_if_different"]
