"""QBO query-language text: the only string-literal escaper, and the statement rewrites paging needs.

Every value put into a QBO query (a display name, an e-mail address, an id in
an ``IN`` list) goes through :func:`quote`, here and nowhere else, so there is
one rule for escaping and one place to fix it.  QBO escapes with a backslash,
not by doubling the quote as SQL does.

The rewrites (:func:`has_paging`, :func:`paged`, :func:`count_statement`) look
past string literals, so a customer named ``"STARTPOSITION"`` is not mistaken
for a paging clause.
"""

from __future__ import annotations

import re

_STRING_LITERAL = re.compile(r"'(?:\\.|[^'\\])*'")
_PAGING = re.compile(r"\b(STARTPOSITION|MAXRESULTS)\b", re.IGNORECASE)
_SELECT_STAR = re.compile(r"^\s*SELECT\s+\*\s+FROM\b", re.IGNORECASE)


def quote(value: object) -> str:
    """A query-language string literal: ``O'Brien`` → ``'O\\'Brien'``.

    QBO escapes with a backslash, not by doubling the quote; backslashes are
    escaped too so a value can never end the literal early.
    """
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def has_paging(stmt: str) -> bool:
    """Whether the statement already asks for a page (``STARTPOSITION`` or ``MAXRESULTS``)."""
    return _PAGING.search(_STRING_LITERAL.sub("''", stmt)) is not None


def paged(stmt: str, start: int, size: int) -> str:
    """The statement limited to ``size`` rows from the 1-based position ``start``."""
    return f"{stmt.rstrip()} STARTPOSITION {start} MAXRESULTS {size}"


def count_statement(stmt: str) -> str:
    """``SELECT COUNT(*) FROM ...`` for a ``SELECT * FROM ...`` statement (others are kept)."""
    return _SELECT_STAR.sub("SELECT COUNT(*) FROM", stmt)
