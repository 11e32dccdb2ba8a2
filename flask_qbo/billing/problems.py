"""What billing says back to a person: a :class:`Problem` names the form field at fault,
so the page can put the message beside that field, and the two exceptions carry one.

They live apart from the modules that raise them so the form parser, the validator and
the action rules share them without importing each other.
"""

from __future__ import annotations

import dataclasses

from ..errors import QBOError


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with a draft: ``field`` is the form field's name (``line-2-qty``)."""

    field: str
    message: str


class DraftError(QBOError, ValueError):
    """A form value that cannot be read (a number with commas, a date that is not a date)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    @property
    def problem(self) -> Problem:
        """The same complaint as a :class:`Problem` for the form."""
        return Problem(self.field, self.message)


class ActionRefused(QBOError):
    """An action QBO would refuse for this document now (already void, paid, pending ...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
