"""Contact values ↔ QBO Customer payloads: cleaning, hashes, payloads, DisplayName, pre-flight.

:mod:`flask_qbo.fieldmap` says *what* maps where; this module owns *how* values
travel along that map, the same way in both directions so a round trip never
reads as a change:

* path helpers for QBO's nested entity dicts (:func:`get_path`, :func:`set_path`);
* text cleaning (:func:`strip_invisible`, :func:`normalize`, :func:`normalize_field`),
  which the pull side's parsing uses for mirror columns too;
* ``{path: value}`` sets of a contact and of a customer, their hashes and
  differences, and writing pulled values back into a contact;
* create and sparse-update payloads;
* DisplayName rules (derivation, collision suffixes, QBO's ``(deleted)`` suffix,
  whether an update renames the customer).

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

#: Name parts QBO refuses a colon, tab or newline in.
NAME_PATHS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix", "DisplayName", "PrintOnCheckName")

#: Paths whose text may span lines (notes, street lines): tabs and line breaks are kept there.
MULTILINE_PATHS = ("Notes", "BillAddr.Line1", "BillAddr.Line2", "ShipAddr.Line1", "ShipAddr.Line2")

#: Characters QBO refuses in name fields; a derived DisplayName replaces them.
NAME_FORBIDDEN = ":\t\n\r"

#: Suffix QBO appends to the DisplayName of an inactive ("deleted") customer.
DELETED_SUFFIX = " (deleted)"

#: DisplayName suffixes tried after a 6240 (duplicate name) before the row is parked.
MAX_NAME_TRIES = 50


# -- paths ----------------------------------------------------------------------------


def get_path(obj: t.Mapping[str, t.Any], path: str) -> t.Any:
    """Read a dotted path from a QBO entity dict (``None`` when absent)."""
    current: t.Any = obj
    for part in path.split("."):
        if not isinstance(current, t.Mapping):
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


# -- text and values ------------------------------------------------------------------

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
    """
    return _INVISIBLE.sub("", text)


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


def _canonical(path: str, value: t.Any) -> t.Any:
    """:func:`normalize_field`, and a DisplayName without QBO's uniqueness suffixes (:func:`name_base`)."""
    value = normalize_field(path, value)
    return name_base(value) if path == "DisplayName" else value


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
        return {field.path: _canonical(field.path, value)}
    if value is None:  # nothing to split: every path is empty
        value = (None,) * len(field.paths)
    if not isinstance(value, (tuple, list)) or len(value) != len(field.paths):
        raise QBOConfigError(
            f"Field {field.name!r}: to_qbo must return {len(field.paths)} values (one per path), got {value!r}."
        )
    return {path: _canonical(path, part) for path, part in zip(field.paths, value)}


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
        values[path] = _canonical(path, value)
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
        if field.pushes and value is not None and path != "DisplayName":
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
    :param base: the values QBO holds as far as we know (the last synced values).
    :param current: the last QBO Customer dict seen; nested objects (addresses,
        phones) are copied from it so parts we do not map survive QBO replacing
        the whole object.
    :param paths: restrict the update to these paths (used after a merge).
    """
    wanted = set(paths) if paths is not None else None
    changed = [
        p
        for p in changed_paths(values, base)
        if (wanted is None or p in wanted)
        and (f := fieldmap.by_path(p)) is not None
        and f.pushes
        and p != "DisplayName"
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
    person = " ".join(str(v) for v in (normalize(values.get("GivenName")), normalize(values.get("FamilyName"))) if v)
    name = (
        normalize(values.get("DisplayName"))
        or person
        or normalize(values.get("CompanyName"))
        or normalize(values.get("PrimaryEmailAddr.Address"))
    )
    if not name:
        name = normalize(values.get("MiddleName")) or "Unnamed contact"
    for char in NAME_FORBIDDEN:
        name = name.replace(char, " ")
    name = " ".join(name.split())
    limit = CUSTOMER_PATHS["DisplayName"] or 500
    return name[: limit - len(DELETED_SUFFIX) - 8].strip()


_SUFFIX = re.compile(r"^(?P<base>.*) \((?P<n>\d+)\)$")


def next_display_name(name: str) -> str:
    """The next candidate after a collision: "Ann Lee" → "Ann Lee (2)" → "Ann Lee (3)"."""
    match = _SUFFIX.match(name)
    if match:
        return f"{match['base']} ({int(match['n']) + 1})"
    return f"{name} (2)"


def unique_display_name(base: str, taken: t.Callable[[str], bool]) -> str:
    """First of ``base``, ``base (2)``, ``base (3)`` ... for which ``taken(name)`` is false.

    ``taken`` is compared case-insensitively by the caller (QBO treats names so).
    """
    name = base
    for _ in range(1000):
        if not taken(name):
            return name
        name = next_display_name(name)
    raise QBOConfigError(f"No free DisplayName found for {base!r} after 1000 attempts.")


def strip_deleted(name: str | None) -> str:
    """A DisplayName without QBO's `` (deleted)`` suffix."""
    name = name or ""
    return name[: -len(DELETED_SUFFIX)] if name.endswith(DELETED_SUFFIX) else name


def name_base(name: t.Any) -> t.Any:
    """A DisplayName without the suffixes that keep it unique: `` (deleted)``, then `` (2)``, `` (3)`` ...

    Both sides compare DisplayNames so: the CRM's "Ann Lee" and QBO's "Ann Lee (2)"
    (made unique by :func:`unique_display_name`) are the same name, which is
    neither pushed again nor pulled back into the contact.  Runs of spaces count
    as one, as in the name :func:`display_name` sends.
    """
    if not isinstance(name, str):
        return name
    match = _SUFFIX.match(strip_deleted(name))
    base = match["base"] if match and int(match["n"]) >= 2 else strip_deleted(name)
    return normalize(" ".join(base.split()))


def renamed(
    values: t.Mapping[str, t.Any], base: t.Mapping[str, t.Any] | None, current: t.Mapping[str, t.Any] | None
) -> str | None:
    """The DisplayName an update should send so the customer's name follows the contact's, or ``None``.

    ``None`` when QBO's name already is the contact's (up to the uniqueness
    suffixes), and when the contact's name has not changed since both sides last
    agreed (``base``): a name given in QBO meanwhile is left alone.
    """
    wanted = display_name(values)
    theirs = name_base((current or {}).get("DisplayName"))
    if isinstance(theirs, str) and theirs.casefold() == wanted.casefold():
        return None
    if base is not None and display_name(base) == wanted:
        return None
    return wanted


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
