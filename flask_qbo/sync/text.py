"""Text cleaning shared by every synced value: invisible characters, surrounding spaces, line breaks.

Both directions and the mirror's columns clean text the same way, so a value
that differs only by what cleaning removes is never a change.  Split from
:mod:`flask_qbo.sync.payload`, which re-exports it.
"""

from __future__ import annotations

import re
import typing as t

#: Paths whose text may span lines (notes, street lines): tabs and line breaks are kept there.
MULTILINE_PATHS = ("Notes", "BillAddr.Line1", "BillAddr.Line2", "ShipAddr.Line1", "ShipAddr.Line2")


#: Characters removed from all synced text: C0 controls but tab, line feed and carriage
#: return (see :func:`normalize_field`), DEL, C1 controls, lone surrogates, and the invisible
#: format characters that reorder or hide text (bidi embeddings, overrides, isolates and
#: marks, zero-width space, word joiner and invisible operators, byte-order mark,
#: interlinear annotation).  The zero-width (non-)joiners stay: Persian, Indic scripts
#: and emoji sequences need them.
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e"
    r"\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
#: A line break in any of its spellings; QBO's own is a line feed.
_LINE_BREAK = re.compile(r"\r\n?")
#: Tabs and line breaks, which a single-line field gets as one space.
_BREAKS = re.compile(r"[\t\n\r]+")


def strip_invisible(text: str) -> str:
    """``text`` without control, bidi and other invisible characters (tab and line breaks kept).

    They spoof what a name says (``Lee``, a right-to-left override U+202E and
    ``gnp.exe`` shows as ``Leeexe.png``), make two equal emails differ, and
    PostgreSQL refuses a NUL in a text column.

    Every character removed is one Python counts as not printable (Unicode's
    "Other" categories), so text that :meth:`str.isprintable` passes, as
    nearly every name and email is, comes back as it is without the regex:
    the import cleans a dozen values per row of tens of thousands.
    """
    return text if text.isprintable() else _INVISIBLE.sub("", text)


def normalize(value: t.Any) -> t.Any:
    """Canonical form used for every comparison and hash.

    Strings lose invisible characters (:func:`strip_invisible`) and surrounding
    spaces, and an empty string is ``None``: QBO drops empty strings and a CRM
    form posts them, so without this every round trip would look like a change
    and sync could ping-pong.
    """
    if isinstance(value, str):
        value = strip_invisible(value).strip()
        return value or None
    return value


def normalize_field(path: str, value: t.Any) -> t.Any:
    """:func:`normalize`, then tabs and line breaks as QBO's field at ``path`` takes them.

    Multi-line fields (:data:`MULTILINE_PATHS`) keep tabs and line breaks, in
    QBO's one spelling (a line feed).  Every other field gets a run of them as one
    space: QBO refuses them in names, and in a phone, email or city they are
    paste debris.  Both directions map through this, so a value that differs
    only by what it removes hashes the same and is never pushed or pulled again.
    """
    value = normalize(value)
    if not isinstance(value, str):
        return value
    if path in MULTILINE_PATHS:
        return _LINE_BREAK.sub("\n", value)
    return _BREAKS.sub(" ", value)
