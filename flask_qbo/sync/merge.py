"""Three-way merge of a contact with its QBO customer, and the conflict policy.

When QBO answers 5010 (our SyncToken is stale) someone changed the customer in
QBO since we last synced.  Overwriting it would lose their edit, and giving up
would lose ours.  So each mapped field is compared against the *base* — the
values both sides last agreed on (``Customer.synced_values``: QBO's values, and the
contact's at the same point, so each side is compared with its own):

* only the CRM changed it → push the CRM value;
* only QBO changed it → write QBO's value into the contact;
* both changed it to the same value → nothing to do;
* both changed it differently → a true conflict, settled by ``QBO_CONFLICT_POLICY``:
  ``"newest"`` (default: the side edited last wins), ``"crm"`` or ``"qbo"``.

A one-directional field never conflicts: its direction decides.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

from ..fieldmap import FieldMap
from .payload import crm_base
from .payload import normalize

CRM = "crm"
QBO = "qbo"
NEWEST = "newest"
POLICIES = (NEWEST, CRM, QBO)


@dataclasses.dataclass
class Conflict:
    """Both sides changed one field differently; ``winner`` is ``"crm"`` or ``"qbo"``."""

    path: str
    attr: str
    crm_value: t.Any
    qbo_value: t.Any
    winner: str


@dataclasses.dataclass
class MergeResult:
    """What to send to QBO, what to write into the contact, and the conflicts settled."""

    #: ``{path: value}`` the CRM side contributes (sent as a sparse update).
    push: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    #: ``{path: value}`` QBO contributes (written into the contact with capture suppressed).
    pull: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    conflicts: list[Conflict] = dataclasses.field(default_factory=list)

    def merged(self, crm: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """The contact's values after the pull side is applied."""
        values = dict(crm)
        values.update(self.pull)
        return values


def winner_for(policy: str, crm_changed_at: dt.datetime | None, qbo_changed_at: dt.datetime | None) -> str:
    """Which side wins a true conflict under ``policy``.

    ``newest`` compares the contact's edit time with QBO's ``LastUpdatedTime``;
    a tie or an unknown time favours the CRM, because the user who caused this
    push is waiting for their edit to stick.
    """
    if policy == CRM:
        return CRM
    if policy == QBO:
        return QBO
    if policy != NEWEST:
        raise ValueError(f"QBO_CONFLICT_POLICY must be one of {POLICIES}, not {policy!r}.")
    if crm_changed_at is None or qbo_changed_at is None:
        return CRM
    return QBO if qbo_changed_at > crm_changed_at else CRM


def conflict_entry(
    crm_value: t.Any, qbo_value: t.Any, winner: str, crm_at: dt.datetime | None, qbo_at: dt.datetime | None
) -> dict[str, t.Any]:
    """A conflict as the sync log stores it: both values, the winner, and the two times the policy compared.

    ``crm_at`` and ``qbo_at`` are what :func:`winner_for` saw (ISO text, or
    ``None`` when unknown), so a surprising winner explains itself.
    """
    return {
        "crm": crm_value,
        "qbo": qbo_value,
        "winner": winner,
        "crm_at": crm_at.isoformat() if crm_at is not None else None,
        "qbo_at": qbo_at.isoformat() if qbo_at is not None else None,
    }


def three_way(
    fieldmap: FieldMap,
    base: t.Mapping[str, t.Any] | None,
    crm: t.Mapping[str, t.Any],
    qbo: t.Mapping[str, t.Any],
    *,
    winner: str,
) -> MergeResult:
    """Merge field by field; ``winner`` settles true conflicts (see :func:`winner_for`).

    With no base (a contact linked to an existing customer for the first time)
    a value only one side has is taken from that side, and where both have a
    value the winner's is kept.
    """
    result = MergeResult()
    crm_was = crm_base(base)
    for path, field in fieldmap.path_fields():
        c, q = normalize(crm.get(path)), normalize(qbo.get(path))
        if c == q:
            continue
        if base is None or crm_was is None:
            crm_changed, qbo_changed = c is not None, q is not None
        else:
            crm_changed = c != normalize(crm_was.get(path))
            qbo_changed = q != normalize(base.get(path))
        if not (crm_changed or qbo_changed):
            continue  # each side holds what it held at the sync point (a name QBO says more of)
        if crm_changed and not qbo_changed:
            side = CRM
        elif qbo_changed and not crm_changed:
            side = QBO
        elif not field.pulls:
            side = CRM
        elif not field.pushes:
            side = QBO
        else:
            side = winner
            result.conflicts.append(Conflict(path, field.name, c, q, winner))
        if side == CRM and field.pushes:
            result.push[path] = c
        elif side == QBO and field.pulls:
            result.pull[path] = q
    return result
