"""A minimal PDF writer: pages of Helvetica text lines, nothing else.

The statement PDF needs positioned text in two weights and nothing more, and
the project keeps no PDF library among its dependencies; PDF 1.4's text
operators and one cross-reference table are a few dozen lines.  Text is
encoded as WinAnsi (cp1252, the encoding the standard fonts come with), so
``€`` and ``–`` print; a character outside it prints as ``?``.  Only the
standard Type 1 fonts are used, so no font is embedded.
"""

from __future__ import annotations

import dataclasses

#: US Letter, in points.
PAGE_WIDTH = 612
PAGE_HEIGHT = 792
FONTS = {"regular": "F1", "bold": "F2"}
#: Helvetica advance widths (1/1000 em) of the characters amounts and dates are made of;
#: other characters count as 556, the width of a digit, which is close for text.
_WIDTHS = {" ": 278, ",": 278, ".": 278, "-": 333, "(": 333, ")": 333, "/": 278, ":": 278, "—": 1000}


@dataclasses.dataclass(frozen=True)
class Run:
    """One piece of text: its left edge ``x`` and baseline ``y`` in points from the bottom left."""

    x: float
    y: float
    text: str
    size: float = 10
    font: str = "regular"


def text_width(text: str, size: float) -> float:
    """Approximate width of ``text`` in Helvetica at ``size`` points (exact for digits and punctuation)."""
    return sum(_WIDTHS.get(char, 556) for char in text) * size / 1000


def _literal(text: str) -> bytes:
    """A PDF string literal in WinAnsi with ``\\``, ``(`` and ``)`` escaped; line breaks become spaces."""
    flat = " ".join(text.splitlines())
    raw = flat.encode("cp1252", "replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _content(runs: list[Run]) -> bytes:
    parts = [b"BT"]
    for run in runs:
        font = FONTS.get(run.font, "F1")
        parts.append(
            f"/{font} {run.size:g} Tf 1 0 0 1 {run.x:.2f} {run.y:.2f} Tm ".encode() + _literal(run.text) + b" Tj"
        )
    parts.append(b"ET")
    return b"\n".join(parts)


def render(pages: list[list[Run]], title: str) -> bytes:
    """A PDF 1.4 file with one page per list of runs, its cross-reference table and a title."""
    pages = pages or [[]]
    count = len(pages)
    # Objects: 1 catalog, 2 page tree, 3-4 fonts, 5 info, then a page and its content per page.
    kids = " ".join(f"{6 + 2 * i} 0 R" for i in range(count))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Title " + _literal(title) + b" /Producer (Flask-QBO) >>",
    ]
    for index, runs in enumerate(pages):
        content_ref = 7 + 2 * index
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
            f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {content_ref} 0 R >>".encode()
        )
        stream = _content(runs)
        objects.append(b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(out)


__all__ = ["PAGE_HEIGHT", "PAGE_WIDTH", "Run", "render", "text_width"]
