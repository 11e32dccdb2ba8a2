"""Money as QBO checks it: ``Decimal`` everywhere, rounded half-up to the cent.

QBO refuses a line whose ``Amount`` is not ``Qty × UnitPrice`` rounded half-up
(error 6070); a float product such as ``1861.0749999`` rounds the wrong way, so
nothing in billing ever multiplies floats.  Form text is read strictly: a comma
could be a thousands separator or a decimal comma, so it is refused rather than
guessed, and ``NaN``/``Infinity`` (which :class:`~decimal.Decimal` would accept)
never become amounts.
"""

from __future__ import annotations

import re
from decimal import Decimal

from ..models.base import CENT
from ..models.base import to_cents
from .problems import DraftError

__all__ = ["CENT", "ZERO", "parse_decimal", "to_cents"]

ZERO = Decimal("0.00")
#: Plain decimal notation only: optional sign, digits, optional fraction (no exponent, no commas).
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")


def parse_decimal(text: str, field: str) -> Decimal:
    """The number typed in ``field``; :class:`DraftError` naming the field when it is not one."""
    cleaned = text.strip()
    if not cleaned:
        raise DraftError(field, "Enter a number.")
    if "," in cleaned:
        raise DraftError(field, "Enter the number without commas, with a point for decimals (1234.50).")
    if not _NUMBER.match(cleaned):
        raise DraftError(field, f"“{cleaned[:20]}” is not a number.")
    # The pattern admits only literals Decimal reads exactly: no NaN, no Infinity, no exponent.
    return Decimal(cleaned)
