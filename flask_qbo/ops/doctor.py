"""``flask qbo doctor``: every check an on-call engineer needs, one finding per line.

:func:`run` calls the check groups of :mod:`flask_qbo.ops.checks` in the order
an operator fixes things (configuration, services, schema, database,
runner, connections) and returns their findings; :func:`to_text` and :func:`to_json`
print them and :func:`summary` feeds the admin health page.  Nothing here
writes: the doctor is safe against production at any time.  A group that
cannot run (its table is missing, the database is down) becomes one ``error``
finding instead of a traceback, and the other groups still run.

Findings never carry a secret: keys and tokens are reported as set, missing,
valid or decrypting, never by value (see :mod:`flask_qbo.ops.checks.finding`).
"""

from __future__ import annotations

import json
import typing as t

from flask import Flask
from flask import current_app

from ..models import utcnow
from .checks import connections
from .checks import database
from .checks import runner
from .checks import schema
from .checks import services
from .checks import settings
from .checks.finding import Finding
from .checks.finding import Level
from .checks.finding import error

if t.TYPE_CHECKING:
    from ..extension import QBO


def run(qbo: QBO, app: Flask | None = None, *, tenant: str | None = None) -> list[Finding]:
    """Run every check; ``tenant`` limits the per-connection findings to that tenant (the health page).

    Call it inside an app context (the CLI and the views have one).
    """
    # The real app, not the proxy: the runner and the state are keyed by it.
    app = app or t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
    now = utcnow()
    findings = settings.check(app) + services.check(app)
    findings += schema.check(qbo) + database.check(qbo)
    groups: tuple[tuple[str, t.Callable[[], list[Finding]]], ...] = (
        ("runner", lambda: runner.check(qbo, app, now, tenant)),
        ("connection", lambda: connections.check(qbo, app, now, tenant)),
    )
    for name, group in groups:
        try:
            findings += group()
        except Exception as exc:  # a missing table or a database outage: report it, run the next group
            qbo.state(app).db.session.rollback()
            findings.append(
                error(
                    name,
                    f"The {name} checks could not run ({type(exc).__name__}).",
                    "Fix the schema and database findings above, then run `flask qbo doctor` again.",
                )
            )
    return findings


def failed(findings: t.Iterable[Finding]) -> bool:
    """True when any finding is an error: ``flask qbo doctor`` then exits 1."""
    return any(f.level == Level.ERROR for f in findings)


def counts(findings: t.Iterable[Finding]) -> dict[str, int]:
    """``{"ok": n, "warn": n, "error": n}``."""
    found = {level.value: 0 for level in Level}
    for finding in findings:
        found[finding.level.value] += 1
    return found


def tally(findings: t.Iterable[Finding], passed: str = "ok") -> str:
    """``"1 error, 2 warnings, 9 ok"``: the count line of the CLI (and, with ``passed="passed"``, the health page)."""
    total = counts(findings)

    def many(n: int, word: str) -> str:
        return f"{n} {word}" if n == 1 else f"{n} {word}s"

    return f"{many(total['error'], 'error')}, {many(total['warn'], 'warning')}, {total['ok']} {passed}"


def to_text(findings: list[Finding]) -> str:
    """One line per finding, then a count line."""
    return "\n".join([*(finding.line() for finding in findings), f"{tally(findings)}."])


def to_json(findings: list[Finding]) -> str:
    """The findings as a JSON document: ``{"ok": bool, "counts": {...}, "findings": [{level, check, what, fix}]}``."""
    return json.dumps(
        {"ok": not failed(findings), "counts": counts(findings), "findings": [f.as_dict() for f in findings]},
        indent=2,
    )


def summary(qbo: QBO, tenant: str) -> dict[str, t.Any]:
    """What the health page shows: the counts and the warnings and errors, for ``tenant``'s connection only."""
    findings = run(qbo, tenant=tenant)
    return {
        "counts": counts(findings),
        "tally": tally(findings, "passed"),
        "problems": [f for f in findings if f.level != Level.OK],
        "failed": failed(findings),
    }
