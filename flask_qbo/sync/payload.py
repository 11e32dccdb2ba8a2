"""Contact values ↔ QBO Customer payloads: cleaning, hashes, payloads, DisplayName, pre-flight.

:mod:`flask_qbo.fieldmap` says *what* maps where; this module owns *how* values
travel along that map, the same way in both directions so a round trip never
reads as a change:

* path helpers for QBO's nested entity dicts (:func:`get_path`, :func:`set_path`);
* text cleaning (:mod:`flask_qbo.sync.text`, re-exported here), which the pull
  side's parsing uses for mirror columns too;
* ``{path: value}`` sets of a contact and of a customer, their hashes and
  differences, and writing pulled values back into a contact;
* create and sparse-update payloads;
* DisplayName rules (derivation, collision suffixes, QBO's ``(deleted)`` suffix,
  whether an update renames the customer);
* sync points: what ``Customer.synced_values`` keeps of each side, and which
  paths the CRM changed since (:func:`pushed_paths`).

Pre-flight validation of these values lives in :mod:`flask_qbo.sync.preflight`.
"""

from __future__ import annotations

import hashlib
import json
import re
import typing as t

from ..errors import QBOConfigError
from ..fieldmap import CUSTOMER_PATHS
from ..fieldmap import Field
from ..fieldmap import FieldMap
from .text import MULTILINE_PATHS as MULTILINE_PATHS
from .text import normalize as normalize
from .text import normalize_field as normalize_field
from .text import strip_invisible as strip_invisible

#: Name parts QBO refuses a colon, tab or newline in.
NAME_PATHS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix", "DisplayName", "PrintOnCheckName")

#: Characters QBO refuses in name fields; a derived DisplayName replaces them.
NAME_FORBIDDEN = ":\t\n\r"

#: Suffix QBO appends to the DisplayName of an inactive ("deleted") customer.
DELETED_SUFFIX = " (deleted)"

#: Longest DisplayName sent: QBO's 500, less room for " (deleted)" and a uniqueness suffix.
NAME_LIMIT = (CUSTOMER_PATHS["DisplayName"] or 500) - len(DELETED_SUFFIX) - 8
#: DisplayName suffixes tried after a 6240 (duplicate name) before the row is parked.
MAX_NAME_TRIES = 50


# -- paths ----------------------------------------------------------------------------


def get_path(obj: t.Mapping[str, t.Any], path: str) -> t.Any:
    """Read a dotted path from a QBO entity dict (``None`` when absent)."""
    current: t.Any = obj
    for part in path.split("."):
        if not isinstance(current, (dict, t.Mapping)):  # dict first: parsed JSON is one, the ABC check is slow
            return None
        current = current.get(part)
    return current


def set_path(obj: dict[str, t.Any], path: str, value: t.Any) -> None:
    """Write a dotted path into a QBO entity dict, creating nested objects."""
    parts = path.split(".")
    current = obj
    for part in parts[:-1]:
        current = current.setdefault(part, {})
    current[parts[-1]] = value


def _group(path: str) -> str:
    """The top-level object of a nested path (``BillAddr`` of ``BillAddr.City``).

    QBO replaces a nested object whole on a sparse update, so a change to one part
    must resend its siblings.
    """
    return path.split(".", 1)[0]


# -- values ---------------------------------------------------------------------------


def _clean_name(value: t.Any) -> t.Any:
    """A DisplayName as QBO stores it: the characters it refuses in names as spaces, runs of spaces as one."""
    if not isinstance(value, str):
        return value
    for char in NAME_FORBIDDEN:
        value = value.replace(char, " ")
    return normalize(" ".join(value.split()))


def field_values(field: Field, contact: object) -> dict[str, t.Any]:
    """One field's values of the contact as QBO would hold them: ``{path: value}`` for each of its paths.

    The value is ``get(contact)`` or the attribute, through ``to_qbo``; a field
    with several paths gets one value per path from its ``to_qbo``.
    """
    if field.get is not None:
        value = field.get(contact)
    else:
        value = getattr(contact, field.attr or "", None)
    if field.to_qbo is not None:
        value = field.to_qbo(value)
    if not isinstance(field.path, tuple):
        return {field.path: _contact_side(field.path, value)}
    if value is None:  # nothing to split: every path is empty
        value = (None,) * len(field.paths)
    if not isinstance(value, (tuple, list)) or len(value) != len(field.paths):
        raise QBOConfigError(
            f"Field {field.name!r}: to_qbo must return {len(field.paths)} values (one per path), got {value!r}."
        )
    return {path: _contact_side(path, part) for path, part in zip(field.paths, value)}


def _contact_side(path: str, value: t.Any) -> t.Any:
    """:func:`normalize_field`, and a mapped DisplayName cleaned as :func:`display_name` sends it."""
    value = normalize_field(path, value)
    return _clean_name(value) if path == "DisplayName" else value


def pulled_value(field: Field, values: t.Mapping[str, t.Any]) -> t.Any:
    """The value QBO's ``{path: value}`` gives this field's attribute (through ``from_qbo``)."""
    if isinstance(field.path, tuple):
        raw: t.Any = tuple(values.get(path) for path in field.paths)
    else:
        raw = values.get(field.path)
    return field.from_qbo(raw) if field.from_qbo is not None else raw


def contact_values(contact: object, fieldmap: FieldMap, *, pushing_only: bool = False) -> dict[str, t.Any]:
    """The contact's mapped values as QBO would hold them: ``{path: value}``.

    ``get`` and ``to_qbo`` are applied (:func:`field_values`), then
    :func:`normalize_field`, so the result compares directly with
    :func:`qbo_values` of the customer and is what every payload is built from.
    """
    values: dict[str, t.Any] = {}
    for field in fieldmap:
        if pushing_only and not field.pushes:
            continue
        values.update(field_values(field, contact))
    return values


def qbo_values(data: t.Mapping[str, t.Any], fieldmap: FieldMap) -> dict[str, t.Any]:
    """A QBO Customer dict's mapped values: ``{path: value}``, normalised.

    Cleaned by :func:`normalize_field` like the contact's values: QBO data is
    untrusted, and this is what pulled values are written to contacts from.
    ``Active`` absent means active (QBO's default), so a response that omits it
    does not read as a change.
    """
    values: dict[str, t.Any] = {}
    for path in fieldmap.paths:
        value = get_path(data, path)
        if path == "Active" and value is None:
            value = True
        if path == "DisplayName" and isinstance(value, str):
            value = strip_deleted(value)  # QBO's own mark of an inactive customer, never part of its name
        values[path] = normalize_field(path, value)
    return values


def customer_hash(values: t.Mapping[str, t.Any]) -> str:
    """A stable SHA-256 of a ``{path: value}`` set (``None`` entries are left out).

    Both sides hash the same way, so "what we pushed" and "what we pulled" can be
    compared with "what the contact holds now" without keeping full copies.
    """
    canonical = {path: normalize(value) for path, value in values.items()}
    canonical = {path: value for path, value in canonical.items() if value is not None}
    body = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def changed_paths(new: t.Mapping[str, t.Any], base: t.Mapping[str, t.Any] | None) -> list[str]:
    """Paths whose normalised value differs between ``new`` and ``base`` (order of ``new``)."""
    base = base or {}
    return [p for p, v in new.items() if normalize(v) != normalize(base.get(p))]


def _wire(path: str, value: t.Any) -> t.Any:
    """The value to send: a cleared string field is sent as ``""`` (QBO ignores ``null``)."""
    if value is None and CUSTOMER_PATHS.get(path) is not None:
        return ""
    return value


def build_create_payload(values: t.Mapping[str, t.Any], fieldmap: FieldMap, display_name: str) -> dict[str, t.Any]:
    """Body of a Customer create: every pushed field that has a value, and the DisplayName."""
    payload: dict[str, t.Any] = {}
    for path, field in fieldmap.path_fields():
        value = values.get(path)
        if field.creates and value is not None and path != "DisplayName":
            set_path(payload, path, value)
    payload["DisplayName"] = display_name
    return payload


def build_update_payload(
    values: t.Mapping[str, t.Any],
    fieldmap: FieldMap,
    *,
    qbo_id: str,
    sync_token: str | None,
    base: t.Mapping[str, t.Any] | None,
    current: t.Mapping[str, t.Any] | None = None,
    paths: t.Iterable[str] | None = None,
) -> dict[str, t.Any] | None:
    """Body of a sparse update holding only what changed, or ``None`` when nothing did.

    :param values: the contact's values (:func:`contact_values`).
    :param base: the last synced state (``Customer.synced_values``): QBO's values as far as
        we know, and the contact's at that point (see :func:`pushed_paths`).
    :param current: the last QBO Customer dict seen; nested objects (addresses,
        phones) are copied from it so parts we do not map survive QBO replacing
        the whole object.
    :param paths: restrict the update to these paths (used after a merge).
    """
    wanted = set(paths) if paths is not None else None
    changed = [
        p for p in pushed_paths(values, base, fieldmap) if (wanted is None or p in wanted) and p != "DisplayName"
    ]
    if not changed:
        return None
    payload: dict[str, t.Any] = {"Id": qbo_id, "SyncToken": sync_token, "sparse": True}
    for group in {_group(p) for p in changed if "." in p}:
        existing = (current or {}).get(group)
        payload[group] = (
            {k: v for k, v in existing.items() if k not in ("Id", "Lat", "Long")}
            if isinstance(existing, t.Mapping)
            else {}
        )
        for path, field in fieldmap.path_fields():
            if not (field.pushes and _group(path) == group and "." in path):
                continue
            value = values.get(path)
            if (
                value is None
                and normalize(get_path(payload, path)) is None
                and normalize((base or {}).get(path)) is None
            ):
                continue
            set_path(payload, path, _wire(path, value))
    for path in changed:
        if "." not in path:
            set_path(payload, path, _wire(path, values.get(path)))
    return payload


# -- DisplayName ----------------------------------------------------------------------


def display_name(values: t.Mapping[str, t.Any]) -> str:
    """The contact's DisplayName: the mapped one, else "First Last", else the company, else the email.

    Characters QBO refuses in names are replaced so a company such as
    ``"Acme: West"`` still produces a valid name.
    """
    return known_name(values) or "Unnamed contact"


def known_name(values: t.Mapping[str, t.Any]) -> str | None:
    """:func:`display_name`, or ``None`` when the values name nobody (the health page then says so its own way)."""
    person = " ".join(str(v) for v in (normalize(values.get("GivenName")), normalize(values.get("FamilyName"))) if v)
    name = (
        normalize(values.get("DisplayName"))
        or person
        or normalize(values.get("CompanyName"))
        or normalize(values.get("PrimaryEmailAddr.Address"))
    )
    name = name or normalize(values.get("MiddleName"))
    if not name:
        return None
    for char in NAME_FORBIDDEN:
        name = name.replace(char, " ")
    name = " ".join(name.split())
    return name[:NAME_LIMIT].strip()


_SUFFIX = re.compile(r"^(?P<base>.*) \((?P<n>\d+)\)$")


def next_display_name(name: str, base: str | None = None) -> str:
    """The next candidate after a collision: "Ann Lee" → "Ann Lee (2)" → "Ann Lee (3)".

    Given ``base`` (the name the contact gives), only a suffix added to it
    counts: the next after "Trust (2019)" is "Trust (2019) (2)", not "Trust (2020)".
    """
    match = _SUFFIX.match(name) if name != base else None
    if match and match["base"] == (match["base"] if base is None else base):
        return f"{match['base']} ({int(match['n']) + 1})"
    return f"{name if base is None else base} (2)"


def unique_display_name(base: str, taken: t.Callable[[str], bool]) -> str:
    """First of ``base``, ``base (2)``, ``base (3)`` ... for which ``taken(name)`` is false.

    ``taken`` is compared case-insensitively by the caller (QBO treats names so).
    """
    name = base
    for _ in range(1000):
        if not taken(name):
            return name
        name = next_display_name(name, base)
    raise QBOConfigError(f"No free DisplayName found for {base!r} after 1000 attempts.")


def strip_deleted(name: str | None) -> str:
    """A DisplayName without QBO's `` (deleted)`` suffix."""
    name = name or ""
    return name[: -len(DELETED_SUFFIX)] if name.endswith(DELETED_SUFFIX) else name


def is_our_name(qbo_name: t.Any, name: str, synced: t.Mapping[str, t.Any] | None) -> bool:
    """True when QBO's DisplayName is ``name``, or ``name`` with the suffix Flask-QBO added to keep it unique.

    Only when the last sync point shows it added: QBO held ``qbo_name`` while the
    contact was ``name`` (older links compared names without suffixes).  So the
    CRM's own "Smith Family Trust (2019)" is never cut; a case-only rename is one.
    """
    if not isinstance(qbo_name, str):
        return False
    qbo_name = _clean_name(strip_deleted(qbo_name))
    if qbo_name == name:
        return True
    match = _SUFFIX.match(qbo_name or "")
    if match is None or match["base"] != name or int(match["n"]) < 2 or synced is None:
        return False
    base = crm_base(synced) or {}
    return display_name(base) == name and (CRM_KEY not in synced or synced.get("DisplayName") == qbo_name)


def qbo_changes(values: t.Mapping[str, t.Any], synced: t.Mapping[str, t.Any] | None) -> list[str]:
    """Paths QBO changed since the last sync point (a DisplayName that is ours plus its suffix is none)."""
    name = display_name(crm_base(synced) or {})
    return [p for p in changed_paths(values, synced) if p != "DisplayName" or not is_our_name(values[p], name, synced)]


def renamed(
    values: t.Mapping[str, t.Any], synced: t.Mapping[str, t.Any] | None, current: t.Mapping[str, t.Any] | None
) -> str | None:
    """The DisplayName an update should send so the customer's name follows the contact's, or ``None``.

    ``None`` when QBO's name already is the contact's (up to the suffix that kept
    it unique), and when the contact's name has not changed since the last sync
    point (:func:`crm_base` of ``synced``): a name given in QBO meanwhile is left alone.
    """
    wanted = display_name(values)
    if is_our_name((current or {}).get("DisplayName"), wanted, synced):
        return None
    base = crm_base(synced)
    if base is not None and display_name(base) == wanted:
        return None
    return wanted


# -- sync points ----------------------------------------------------------------------

#: Key of ``Customer.synced_values`` holding the contact's own ``{path: value}`` at the same sync point.
CRM_KEY = "~crm"


def sync_state(qbo: t.Mapping[str, t.Any], crm: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """What ``Customer.synced_values`` keeps at a sync point: QBO's values, and the contact's (under :data:`CRM_KEY`).

    They differ where QBO says more than the contact can (a DisplayName unlike
    "Given Family"): each side's changes are judged against its own values.
    """
    return {**{p: v for p, v in qbo.items() if p != CRM_KEY}, CRM_KEY: {p: normalize(v) for p, v in crm.items()}}


def crm_base(synced: t.Mapping[str, t.Any] | None) -> t.Mapping[str, t.Any] | None:
    """The contact's values at the last sync point (QBO's, for a link synced before they were kept)."""
    if synced is None:
        return None
    own = synced.get(CRM_KEY)
    return own if isinstance(own, t.Mapping) else synced


def advanced(
    synced: t.Mapping[str, t.Any] | None,
    qbo: t.Mapping[str, t.Any],
    before: t.Mapping[str, t.Any],
    after: t.Mapping[str, t.Any],
) -> dict[str, t.Any]:
    """The sync state after QBO's values were written into a contact (a pull, a link, a reconcile).

    Paths whose contact value the write changed (``before`` → ``after``) are at
    the sync point; the others keep their old CRM base, so an edit not pushed
    yet still is one.  Without an old base, QBO's values are that base.
    """
    old = crm_base(synced) or qbo
    crm = {p: v if normalize(v) != normalize(before.get(p)) else old.get(p) for p, v in after.items()}
    return sync_state(qbo, crm)


def pushed_paths(values: t.Mapping[str, t.Any], synced: t.Mapping[str, t.Any] | None, fieldmap: FieldMap) -> list[str]:
    """Paths an update sends: those of each pushed field the CRM changed since the last sync point.

    Only a change on the contact's side counts (against :func:`crm_base`), so a
    QBO value the contact cannot express (GivenName "John" under a contact named
    "Acme Corp") is not overwritten by an unrelated edit.  A field feeding
    several paths sends all of them; paths QBO already holds are left out.
    """
    edited = set(changed_paths(values, crm_base(synced)))
    qbo = synced or {}
    return [
        p
        for f in fieldmap
        if f.pushes and edited.intersection(f.paths)
        for p in f.paths
        if p in values and normalize(values[p]) != normalize(qbo.get(p))
    ]


def apply_values(
    contact: object, values: t.Mapping[str, t.Any], fieldmap: FieldMap, paths: t.Iterable[str] | None = None
) -> list[str]:
    """Write QBO ``{path: value}`` into the contact's pulled fields; return the fields changed (by name).

    Only fields whose direction allows QBO → CRM are written, through their
    ``from_qbo`` converter (a field with several paths gets all of them; those
    missing from ``values`` keep the contact's own) and their ``set``.  When
    several fields feed one attribute, the first one written wins.  Call it
    under ``qbo.suppress_capture()`` so the write is not pushed back.
    """
    wanted = set(paths) if paths is not None else None
    changed: list[str] = []
    written: set[str] = set()
    for field in fieldmap:
        hit = [p for p in field.paths if p in values and (wanted is None or p in wanted)]
        if not field.pulls or not hit or (field.attr is not None and field.attr in written):
            continue
        ours = field_values(field, contact)
        if all(normalize(ours[p]) == normalize(values[p]) for p in hit):
            continue
        value = pulled_value(field, {**ours, **{p: values[p] for p in hit}})
        if field.set is not None:
            field.set(contact, value)
        elif normalize(getattr(contact, field.attr or "", None)) != normalize(value):
            setattr(contact, field.attr or "", value)
        else:
            continue
        written.add(field.attr or "")
        changed.append(field.name)
    return changed
