"""Sphinx directive ``.. qbo-config::`` listing every ``QBO_*`` key from ``flask_qbo/config.py``.

The page is generated from the source at build time, so a key added to the
code is documented (with its default and comment) without anyone remembering to.
"""

from __future__ import annotations

import pathlib
import re
import typing as t

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

CONFIG_PY = pathlib.Path(__file__).resolve().parents[2] / "flask_qbo" / "config.py"
KEY_LINE = re.compile(r'^\s*"(QBO_[A-Z0-9_]+)":\s*(.*?),?\s*$')


def config_entries(source: str) -> list[tuple[str, str, str]]:
    """(key, default expression, comment) for each entry of ``DEFAULTS``, in order.

    A comment block applies to every key that directly follows it.
    """
    body = source.split("DEFAULTS: dict[str, t.Any] = {", 1)[1].split("\n}\n", 1)[0]
    entries: list[tuple[str, str, str]] = []
    comment: list[str] = []
    last_was_key = False
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            if last_was_key:
                comment = []
            comment.append(stripped.lstrip("#").strip())
            last_was_key = False
            continue
        match = KEY_LINE.match(line)
        if match:
            entries.append((match.group(1), match.group(2), " ".join(comment)))
            last_was_key = True
    return entries


class QBOConfigDirective(SphinxDirective):
    """Render one ``.. data::`` entry per configuration key."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(CONFIG_PY))
        lines: list[str] = []
        for key, default, comment in config_entries(CONFIG_PY.read_text(encoding="utf-8")):
            lines += [f".. data:: {key}", "", f"   Default: ``{default}``", ""]
            if comment:
                lines += [f"   {comment}", ""]
        container = nodes.section()
        container.document = self.state.document
        self.state.nested_parse(StringList(lines, source=str(CONFIG_PY)), self.content_offset, container)
        return container.children


def setup(app: t.Any) -> dict[str, t.Any]:
    app.add_directive("qbo-config", QBOConfigDirective)
    return {"parallel_read_safe": True}
