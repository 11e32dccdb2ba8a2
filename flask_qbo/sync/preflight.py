"""Pre-flight validation of a contact's values against QBO's Customer rules.

Run before any request, so a user reads a message naming their own field
("first_name: QuickBooks does not allow a colon") instead of a QBO fault after a
round trip, and a row QBO would refuse never spends a request.
"""

from __future__ import annotations

import re
import typing as t

from ..errors import QBOValidationError
from ..fieldmap import CUSTOMER_PATHS
from ..fieldmap import FieldMap
from .payload import NAME_FORBIDDEN
from .payload import NAME_LIMIT
from .payload import NAME_PATHS
from .payload import normalize

#: Code recorded on rows rejected before any request was sent (Intuit's own codes are numeric).
PREFLIGHT_CODE = "preflight"

#: QBO accepts an address with an ``@`` and a dot in the domain; we also refuse spaces.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _fail(label: str, path: str, problem: str) -> QBOValidationError:
    return QBOValidationError(
        f"{label}: {problem}",
        status=None,
        code=PREFLIGHT_CODE,
        detail=f"QuickBooks field {path}",
        element=path,
    )


def validate_values(values: t.Mapping[str, t.Any], fieldmap: FieldMap | None = None) -> None:
    """Raise :class:`QBOValidationError` for the first value QBO would refuse.

    :param values: ``{path: value}`` as built by :func:`contact_values`
        (plus ``DisplayName`` when creating).
    :param fieldmap: used to name the host attribute in the message.
    """
    for path, raw in values.items():
        value = normalize(raw)
        field = fieldmap.by_path(path) if fieldmap is not None else None
        label = field.name if field is not None else path
        if value is None or not isinstance(value, str):
            continue
        limit = NAME_LIMIT if path == "DisplayName" else CUSTOMER_PATHS.get(path)
        if limit is not None and len(value) > limit:
            room = " (the rest of QuickBooks' 500 is kept for a suffix)" if path == "DisplayName" else ""
            raise _fail(label, path, f"is {len(value)} characters long; QuickBooks allows at most {limit}{room}.")
        if path in NAME_PATHS and any(ch in value for ch in NAME_FORBIDDEN):
            raise _fail(label, path, "QuickBooks does not allow a colon (:), tab or line break in names.")
        if path == "PrimaryEmailAddr.Address" and not _EMAIL.match(value):
            raise _fail(label, path, f"{value!r} is not a valid email address.")
