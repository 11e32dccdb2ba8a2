"""Flask-QBO: QuickBooks Online for any Flask CRM.

Public API only; everything else is reachable through these names.
"""

from __future__ import annotations

from . import signals
from .errors import QBOAPIError
from .errors import QBOAuthError
from .errors import QBOConfigError
from .errors import QBODuplicateNameError
from .errors import QBOError
from .errors import QBOInactiveReferenceError
from .errors import QBONotFoundError
from .errors import QBOOAuthError
from .errors import QBORateLimitError
from .errors import QBOStaleObjectError
from .errors import QBOTokenDecryptError
from .errors import QBOTransientError
from .errors import QBOValidationError
from .extension import QBO
from .fieldmap import BOTH
from .fieldmap import FROM_QBO
from .fieldmap import ON_CREATE
from .fieldmap import TO_QBO
from .fieldmap import Field
from .fieldmap import FieldMap
from .fieldmap import join_name
from .fieldmap import split_name
from .state import get_qbo
from .widgets.names import field_limits
from .widgets.names import max_length_for
from .widgets.owing import DeleteWarning
from .widgets.owing import delete_warning

__all__ = [
    "BOTH",
    "DeleteWarning",
    "FROM_QBO",
    "ON_CREATE",
    "QBO",
    "TO_QBO",
    "Field",
    "FieldMap",
    "QBOAPIError",
    "QBOAuthError",
    "QBOConfigError",
    "QBODuplicateNameError",
    "QBOError",
    "QBOInactiveReferenceError",
    "QBONotFoundError",
    "QBOOAuthError",
    "QBORateLimitError",
    "QBOStaleObjectError",
    "QBOTokenDecryptError",
    "QBOTransientError",
    "QBOValidationError",
    "delete_warning",
    "field_limits",
    "get_qbo",
    "join_name",
    "max_length_for",
    "signals",
    "split_name",
]
