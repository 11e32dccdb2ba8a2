"""One line of the doctor's report: a level, what was found, and what to do about it.

Kept apart from the checks so every group module and :mod:`flask_qbo.ops.doctor`
share it without importing each other.  A finding's text never holds a secret:
checks say "set" or "missing" for keys and tokens, never their values.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum


class Level(str, enum.Enum):
    """How bad a finding is; any ``error`` makes ``flask qbo doctor`` exit 1."""

    OK = "ok"
    WARN = "warn"
    ERROR = "error"

    def __str__(self) -> str:
        return str(self.value)


@dataclasses.dataclass(frozen=True)
class Finding:
    """One finding: ``check`` names the group (``config``, ``schema``, ``runner``, ...)."""

    level: Level
    check: str
    what: str
    #: What to do; empty for an ``ok`` finding.
    fix: str = ""

    def line(self) -> str:
        """The finding as one line of text (the CLI's output)."""
        text = f"{self.level.value:<5}  {self.check:<10}  {self.what}"
        return f"{text}  Fix: {self.fix}" if self.fix else text

    def as_dict(self) -> dict[str, str]:
        """The finding as a JSON object (``flask qbo doctor --json``)."""
        return {"level": self.level.value, "check": self.check, "what": self.what, "fix": self.fix}


def ok(check: str, what: str) -> Finding:
    """A check that passed."""
    return Finding(Level.OK, check, what)


def warn(check: str, what: str, fix: str) -> Finding:
    """Something that works today but will bite, or that sync works around."""
    return Finding(Level.WARN, check, what, fix)


def error(check: str, what: str, fix: str) -> Finding:
    """Something that stops sync (or will, at the next step) until a person acts."""
    return Finding(Level.ERROR, check, what, fix)


def ago(when: dt.datetime | None, now: dt.datetime) -> str:
    """``"3 min ago"``, ``"2 h ago"``, ``"never"``: how old a timestamp is, for a finding's text."""
    if when is None:
        return "never"
    return f"{span(now - when)} ago"


def span(delta: dt.timedelta) -> str:
    """A duration in the largest unit that keeps it readable (s, min, h, days)."""
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
