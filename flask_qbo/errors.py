"""The exception hierarchy of Flask-QBO.

Sync code decides what to do from the class alone: retry (:class:`QBOTransientError`,
:class:`QBORateLimitError`), merge (:class:`QBOStaleObjectError`), rename
(:class:`QBODuplicateNameError`), park for a person (:class:`QBOValidationError`,
and :class:`QBOInactiveReferenceError` when a referenced record is inactive),
pause the connection (:class:`QBOAuthError`) or wait for the configuration to be
fixed (:class:`QBOTokenDecryptError`).  Every API error keeps Intuit's code,
message, detail, element and the ``intuit_tid`` a support ticket needs.
"""

from __future__ import annotations

import typing as t


class QBOError(Exception):
    """Base class of every error raised by Flask-QBO."""


class QBOConfigError(QBOError):
    """The extension or the host's registration is misconfigured."""


class QBOTokenDecryptError(QBOConfigError):
    """``QBO_TOKEN_ENCRYPTION_KEY`` cannot decrypt a stored token: the key changed, not the grant.

    Deliberately not a :class:`QBOAuthError`: the grant at Intuit may be alive,
    so sync must not ask for a reconnect, clear tokens or fail queued work.
    Work waits, and resumes once the app runs with the key the tokens were
    encrypted with (alone, or as an old key after a new one).
    """

    #: Stored as the ``error_code`` of outbox rows that wait for the key.
    code = "encryption_key"


class QBOAPIError(QBOError):
    """QBO answered with a fault (or did not answer at all)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
        element: str | None = None,
        intuit_tid: str | None = None,
        fault_type: str | None = None,
        errors: list[dict[str, t.Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.detail = detail
        self.element = element
        self.intuit_tid = intuit_tid
        self.fault_type = fault_type
        #: Every error of the Fault, as Intuit sent them (a Fault can carry several).
        self.errors = errors or []

    def __str__(self) -> str:
        parts = [self.message]
        if self.detail and self.detail != self.message:
            parts.append(self.detail)
        text = ": ".join(parts)
        if self.code:
            text = f"[{self.code}] {text}"
        if self.element:
            text += f" (field {self.element})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, intuit_tid={self.intuit_tid!r})"
        )


class QBOValidationError(QBOAPIError):
    """QBO rejected the data (HTTP 400 validation or business rule): a person must fix it."""


class QBODuplicateNameError(QBOValidationError):
    """Error 6240: the DisplayName is already used by a customer, vendor or employee."""


class QBOStaleObjectError(QBOAPIError):
    """Error 5010: the SyncToken we sent is older than QBO's; re-read and merge."""


class QBOInactiveReferenceError(QBOValidationError):
    """Error 610 (or 2500) saying something the request refers to "has been made inactive".

    Not a :class:`QBONotFoundError`: the object written exists, but a record it
    refers to (a payment term, payment method, parent customer, item,
    account...) is inactive in QuickBooks.  A person has to reactivate that
    record or choose another; relinking or recreating the object would not help.
    """


class QBONotFoundError(QBOAPIError):
    """Error 610 "Object Not Found" or HTTP 404: the object does not exist (or was deleted).

    A 610 whose detail says a record "has been made inactive" is a
    :class:`QBOInactiveReferenceError` instead.
    """


class QBOAuthError(QBOAPIError):
    """The tokens are expired, revoked or lack permission; refresh cannot cure it."""


class QBOTransientError(QBOAPIError):
    """5xx, a timeout or a connection error: the same request may succeed later."""


class QBORateLimitError(QBOTransientError):
    """HTTP 429, code 3001, or any fault saying the request was throttled: QBO is throttling this realm."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: t.Any) -> None:
        super().__init__(message, **kwargs)
        #: Seconds QBO asked us to wait, when it said so.
        self.retry_after = retry_after


class QBOOAuthError(QBOAuthError):
    """The OAuth server refused a grant (``invalid_grant``, ``invalid_client`` ...)."""

    def __init__(self, error: str, description: str | None = None, *, status: int | None = None) -> None:
        super().__init__(description or error, status=status, code=error)
        #: The OAuth ``error`` value, e.g. ``invalid_grant``.
        self.error = error
