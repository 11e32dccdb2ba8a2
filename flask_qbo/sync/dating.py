"""When QBO's side of a conflict changed: its ``LastUpdatedTime``, unless that version is our own write.

Newest-wins (:func:`flask_qbo.sync.merge.winner_for`) compares the CRM's
latest unpushed edit (:func:`flask_qbo.sync.capture.latest_unpushed_edit`) with
the latest change *a QBO user* made.  QBO stamps ``LastUpdatedTime`` on every
write, ours included, so a version we wrote ourselves would look as new as our
write.  Our recorded writes never reach a merge (the mirror holds them and the
merge base is their values), but a write QBO executed whose answer we lost (a
timeout, a dropped database connection before the commit) does: the retry gets
5010 against it, or the pull brings it back, and its time is ours.

So every update an attempt sends is noted (:func:`sent_update`) and, when the
attempt fails without QBO's answer recorded, kept on the outbox row
(``Outbox.create_sent["update"]``).  A version whose ``SyncToken`` is the one
that write applied to plus one, holding exactly the values it sent, is ours: QBO's
side is then dated by the version the write applied to (itself dated this way).
"""

from __future__ import annotations

import datetime as dt
import typing as t

from sqlalchemy import select

from ..intuit.times import parse_time
from ..models import Outbox
from .payload import customer_hash
from .payload import get_path
from .payload import qbo_values
from .queue import UNPUSHED

if t.TYPE_CHECKING:
    from ..fieldmap import FieldMap
    from .queue import DBSession

#: The key of ``Outbox.create_sent`` holding the last update an attempt sent without recording its answer.
SENT_KEY = "update"


def sent_update(
    token: object,
    applied_to_at: dt.datetime | None,
    values: t.Mapping[str, t.Any],
    changed: t.Iterable[str],
    fields: FieldMap,
) -> dict[str, t.Any]:
    """The note of one update: the SyncToken it applies to, that version's QBO-side time, and what it set.

    ``changed`` are the paths that differ from the base; those the update sends
    (pushed fields, never ``DisplayName``) are noted with a hash of their values.
    """
    paths = sorted(p for p in changed if (f := fields.by_path(p)) is not None and f.pushes and p != "DisplayName")
    return {
        "token": str(token),
        "at": applied_to_at.isoformat() if applied_to_at is not None else None,
        "paths": paths,
        "hash": customer_hash({p: values.get(p) for p in paths}),
    }


def qbo_changed_at(
    session: DBSession, tenant_key: str, contact_key: str, data: t.Mapping[str, t.Any], fields: FieldMap
) -> dt.datetime | None:
    """The time of the latest change QBO users made up to the version ``data`` (see the module docstring)."""
    at = parse_time(get_path(data, "MetaData.LastUpdatedTime"))
    token = _token(data.get("SyncToken"))
    if token is None:
        return at
    notes = session.scalars(
        select(Outbox.create_sent).where(
            Outbox.tenant_key == tenant_key, Outbox.contact_key == contact_key, Outbox.status.in_(UNPUSHED)
        )
    ).all()
    values: dict[str, t.Any] | None = None
    for note in notes:
        sent = (note or {}).get(SENT_KEY)
        if not sent or _token(sent.get("token")) != token - 1:
            continue
        values = values if values is not None else qbo_values(data, fields)
        if customer_hash({p: values.get(p) for p in sent["paths"]}) == sent["hash"]:
            return parse_time(sent.get("at"))
    return at


def _token(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None
