"""Field map between a host's contact model and the QBO Customer entity.

A :class:`FieldMap` is a list of :class:`Field` entries: host attribute, QBO path
(dotted, e.g. ``PrimaryEmailAddr.Address``), a direction, and optional
converters.  It is validated when the host registers its contact model, so a
typo fails at start-up rather than in a worker at 3 a.m.

Real contact models rarely have QBO's shape, so a field may also compute its
value (``get``/``set``, with the columns it ``watches``), feed several paths
from one attribute (one ``name`` split into GivenName and FamilyName by
:func:`split_name`), and one attribute may feed several fields.

Each field also has a label, how people call it: the admin's pages (the import
review and its preview, the sync health chart) show labels, never attribute
names or QBO paths.

This module is the public, declarative part only: which attribute maps to which
QBO path, in which direction, under which label, and the default chart.  How values travel along
the map (cleaning, hashing, building payloads, DisplayName rules, pre-flight
checks) is the sync engine's business and lives in :mod:`flask_qbo.sync.payload`.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

from .errors import QBOConfigError

#: Directions a field can sync in.  ``on_create`` goes CRM → QBO in the create only: for what QBO
#: fixes once the customer exists (its currency), so a later edit never becomes an update QBO refuses.
BOTH = "both"
TO_QBO = "to_qbo"
FROM_QBO = "from_qbo"
ON_CREATE = "on_create"
DIRECTIONS = (BOTH, TO_QBO, FROM_QBO, ON_CREATE)

#: Paths QBO sets when the customer is created and never changes after: only ``on_create`` or ``from_qbo``.
CREATE_ONLY_PATHS = ("CurrencyRef.value",)

#: Writable Customer paths a field may map to, with QBO's maximum length (None: not a string).
CUSTOMER_PATHS: dict[str, int | None] = {
    "Title": 16,
    "GivenName": 100,
    "MiddleName": 100,
    "FamilyName": 100,
    "Suffix": 16,
    "CompanyName": 100,
    "DisplayName": 500,
    "PrintOnCheckName": 110,
    "PrimaryEmailAddr.Address": 100,
    "PrimaryPhone.FreeFormNumber": 30,
    "Mobile.FreeFormNumber": 30,
    "Fax.FreeFormNumber": 30,
    "AlternatePhone.FreeFormNumber": 30,
    "WebAddr.URI": 1000,
    "Notes": 2000,
    "Active": None,
    "ResaleNum": 16,
    "PreferredDeliveryMethod": None,
    "CurrencyRef.value": 3,
    "BillWithParent": None,
    **{
        f"{addr}.{part}": size
        for addr in ("BillAddr", "ShipAddr")
        for part, size in (
            ("Line1", 500),
            ("Line2", 500),
            ("City", 255),
            ("CountrySubDivisionCode", 255),
            ("PostalCode", 30),
            ("Country", 255),
        )
    },
}


#: How people name each part of a Customer address in QBO's screens.
_ADDRESS_PARTS = {
    "Line1": "Street",
    "Line2": "Street, line 2",
    "City": "City",
    "CountrySubDivisionCode": "State",
    "PostalCode": "Postal code",
    "Country": "Country",
}

#: How QBO's own screens name each path of :data:`CUSTOMER_PATHS`, for people rather than programs.
PATH_LABELS: dict[str, str] = {
    "Title": "Title",
    "GivenName": "First name",
    "MiddleName": "Middle name",
    "FamilyName": "Last name",
    "Suffix": "Suffix",
    "CompanyName": "Company name",
    "DisplayName": "Customer display name",
    "PrintOnCheckName": "Name to print on checks",
    "PrimaryEmailAddr.Address": "Email",
    "PrimaryPhone.FreeFormNumber": "Phone",
    "Mobile.FreeFormNumber": "Mobile",
    "Fax.FreeFormNumber": "Fax",
    "AlternatePhone.FreeFormNumber": "Other phone",
    "WebAddr.URI": "Website",
    "Notes": "Notes",
    "Active": "Active",
    "ResaleNum": "Resale number",
    "PreferredDeliveryMethod": "Preferred delivery method",
    "CurrencyRef.value": "Currency",
    "BillWithParent": "Bill with parent",
    **{
        f"{addr}.{part}": f"{side} address · {name}"
        for addr, side in (("BillAddr", "Billing"), ("ShipAddr", "Shipping"))
        for part, name in _ADDRESS_PARTS.items()
    },
}


def path_label(path: str) -> str:
    """A QBO path as people read it: ``BillAddr.PostalCode`` → ``"Billing address · Postal code"``.

    A path outside :data:`PATH_LABELS` (a card row's ``SalesTermRef``) is split
    at its capitals, so no screen ever shows a raw path.
    """
    if path in PATH_LABELS:
        return PATH_LABELS[path]
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", path.removesuffix("Ref")).replace(".", " · ")
    return words[:1].upper() + words[1:].lower()


def humanize(attr: str) -> str:
    """An attribute name as a label: ``billing_postal_code`` → ``"Billing postal code"``, ``zipCode`` → ``"Zip code"``."""
    words = " ".join(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", attr).replace("_", " ").split())
    return words[:1].upper() + words[1:].lower()


def _invert(value: object) -> bool | None:
    """``archived`` ↔ ``Active``: the same fact stated the other way round (``None`` stays unknown)."""
    return None if value is None else not bool(value)


def split_name(value: object) -> tuple[str | None, str | None]:
    """One ``name`` as QBO's ``(GivenName, FamilyName)``: the last word is the family name.

    ``"Ann Marie Lee"`` → ``("Ann Marie", "Lee")``; a single word is a given name
    (``("Cher", None)``); an empty name is ``(None, None)``.  Use it as the
    ``to_qbo`` of a field mapping one attribute to both paths (see :class:`Field`).
    """
    words = str(value or "").split()
    if not words:
        return None, None
    if len(words) == 1:
        return words[0], None
    return " ".join(words[:-1]), words[-1]


def join_name(parts: t.Sequence[object]) -> str | None:
    """QBO's ``(GivenName, FamilyName)`` as one ``name`` (the ``from_qbo`` matching :func:`split_name`)."""
    words = [str(part).strip() for part in parts if part is not None and str(part).strip()]
    return " ".join(words) or None


#: A QBO path, or a tuple of them fed by one attribute through its converters.
Path = str | tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Field:
    """One mapped field.

    :param attr: attribute name on the host's contact model (may be omitted when ``get`` is given).
    :param path: dotted QBO Customer path (see :data:`CUSTOMER_PATHS`), or a tuple of
        paths one attribute feeds: ``to_qbo(value)`` then returns a tuple of the same
        length and ``from_qbo(values)`` gets one and returns the attribute's value, e.g.
        ``Field("name", ("GivenName", "FamilyName"), to_qbo=split_name, from_qbo=join_name)``.
    :param direction: ``"both"``, ``"to_qbo"``, ``"from_qbo"`` or ``"on_create"`` (sent
        in the create only, never pulled: a customer's ``CurrencyRef.value``); the
        default is ``"both"``, or ``"to_qbo"`` for a ``get`` without a ``set``.
    :param to_qbo: converts the host value before it is sent.
    :param from_qbo: converts QBO's value before it is written to the contact.
    :param get: ``get(contact)`` computes the value sent to QBO instead of reading ``attr``.
    :param set: ``set(contact, value)`` writes QBO's value into the contact (needed to pull a ``get`` field).
    :param watches: contact columns whose change means the value changed, so capture
        queues a push; needed when ``attr`` is not a column or ``get`` computes the value.
    :param label: how people call the field on the admin's pages (the import review,
        its preview, the sync health chart), e.g. ``"Billing postal code"``.  Left
        out, it is the attribute humanised (``billing_postal_code`` → "Billing postal
        code"), or for a computed field the QBO field names (:func:`path_label`).
    """

    attr: str | None = None
    path: Path = ""
    direction: str = ""
    to_qbo: t.Callable[[t.Any], t.Any] | None = None
    from_qbo: t.Callable[[t.Any], t.Any] | None = None
    get: t.Callable[[t.Any], t.Any] | None = None
    set: t.Callable[[t.Any, t.Any], None] | None = None
    watches: tuple[str, ...] = ()
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            named = [path_label(p) for p in self.paths if isinstance(p, str)]  # a bad path is refused by the map
            auto = humanize(self.attr) if isinstance(self.attr, str) and self.attr else " + ".join(named)
            object.__setattr__(self, "label", auto)
        if not self.direction:
            default = TO_QBO if self.get is not None and self.set is None else BOTH
            object.__setattr__(self, "direction", default)
        watches: object = self.watches  # a lone string is one name, not its letters
        object.__setattr__(self, "watches", (watches,) if isinstance(watches, str) else tuple(self.watches))

    @property
    def pushes(self) -> bool:
        """True when CRM edits of this field go to QBO."""
        return self.direction in (BOTH, TO_QBO)

    @property
    def creates(self) -> bool:
        """True when this field's value goes into the create of a new customer."""
        return self.pushes or self.direction == ON_CREATE

    @property
    def pulls(self) -> bool:
        """True when QBO edits of this field come back to the contact."""
        return self.direction in (BOTH, FROM_QBO)

    @property
    def paths(self) -> tuple[str, ...]:
        """Every QBO path this field fills (one, unless ``path`` is a tuple)."""
        return self.path if isinstance(self.path, tuple) else (self.path,)

    @property
    def name(self) -> str:
        """How the CRM side is named in the chart, the sync log and messages.

        The attribute, else what the getter computes, named by its paths (which
        no other field maps, so two computed fields are never confused).
        """
        if self.attr:
            return self.attr
        watched = f" from {', '.join(self.watches)}" if self.watches else ""
        return f"(computed {' + '.join(self.paths)}{watched})"

    @property
    def watched(self) -> tuple[str, ...]:
        """Contact attributes whose change means this field's value changed."""
        own = (self.attr,) if self.attr and self.get is None else ()
        return own + self.watches


class FieldMap:
    """An ordered, validated set of :class:`Field` entries.

    Build it from fields, or from a plain ``{attr: path}`` dict for the common case::

        FieldMap(Field("email", "PrimaryEmailAddr.Address"), Field("notes", "Notes", TO_QBO))
        FieldMap.from_dict({"first_name": "GivenName", "last_name": "FamilyName"})
    """

    def __init__(self, *fields: Field) -> None:
        self.fields: tuple[Field, ...] = tuple(fields)
        self._check()
        # Every path's field, looked up per value of every contact a push plans (a scan was 4 % of a push).
        self._by_path = {path: field for field in self.fields for path in field.paths}
        self._paths = tuple(path for f in self.fields for path in f.paths)

    @classmethod
    def from_dict(cls, mapping: t.Mapping[str, str], direction: str = BOTH) -> FieldMap:
        """Map each host attribute to a QBO path, all in one direction."""
        return cls(*(Field(attr, path, direction) for attr, path in mapping.items()))

    @classmethod
    def default(cls) -> FieldMap:
        """The default map: the demo contact's attribute names, each on the QBO Customer field listed below."""
        simple = {
            "first_name": ("GivenName", "First name"),
            "middle_name": ("MiddleName", "Middle name"),
            "last_name": ("FamilyName", "Last name"),
            "title": ("Title", "Title"),
            "suffix": ("Suffix", "Suffix"),
            "company": ("CompanyName", "Company"),
            "email": ("PrimaryEmailAddr.Address", "Email"),
            "phone": ("PrimaryPhone.FreeFormNumber", "Phone"),
            "mobile": ("Mobile.FreeFormNumber", "Mobile"),
            "fax": ("Fax.FreeFormNumber", "Fax"),
            "other_phone": ("AlternatePhone.FreeFormNumber", "Other phone"),
            "website": ("WebAddr.URI", "Website"),
            "billing_street": ("BillAddr.Line1", "Billing street"),
            "billing_city": ("BillAddr.City", "Billing city"),
            "billing_state": ("BillAddr.CountrySubDivisionCode", "Billing state"),
            "billing_postal_code": ("BillAddr.PostalCode", "Billing postal code"),
            "billing_country": ("BillAddr.Country", "Billing country"),
            "shipping_street": ("ShipAddr.Line1", "Shipping street"),
            "shipping_city": ("ShipAddr.City", "Shipping city"),
            "shipping_state": ("ShipAddr.CountrySubDivisionCode", "Shipping state"),
            "shipping_postal_code": ("ShipAddr.PostalCode", "Shipping postal code"),
            "shipping_country": ("ShipAddr.Country", "Shipping country"),
            "notes": ("Notes", "Notes"),
        }
        fields = [Field(attr, path, label=label) for attr, (path, label) in simple.items()]
        fields.append(Field("archived", "Active", BOTH, to_qbo=_invert, from_qbo=_invert, label="Archived"))
        return cls(*fields)

    def _check(self) -> None:
        seen_paths: set[str] = set()
        for field in self.fields:
            _check_field(field)
            for path in field.paths:
                if path in seen_paths:
                    raise QBOConfigError(f"QBO path {path!r} is mapped twice.")
                seen_paths.add(path)

    def validate_model(self, model: type) -> None:
        """Raise :class:`QBOConfigError` naming any attribute (or watched attribute) the model lacks."""
        names = [name for f in self.fields for name in ((f.attr,) if f.attr else ()) + f.watches]
        missing = [name for name in dict.fromkeys(names) if not hasattr(model, name)]
        if missing:
            raise QBOConfigError(
                f"{model.__name__} has no attribute(s) {', '.join(map(repr, missing))} named in the field map."
            )
        for f in self.fields:
            prop = getattr(model, f.attr, None) if f.attr and f.set is None and f.pulls else None
            if isinstance(prop, property) and prop.fset is None:
                raise QBOConfigError(
                    f"{model.__name__}.{f.attr} is a read-only property, so QBO's value cannot be written to it: "
                    f"map it with direction={TO_QBO!r}, or as Field(get=..., set=...)."
                )

    def __iter__(self) -> t.Iterator[Field]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def by_attr(self, attr: str) -> Field | None:
        """The (first) field mapped from a host attribute, if any."""
        return next((f for f in self.fields if f.attr == attr), None)

    def by_path(self, path: str) -> Field | None:
        """The field that fills a QBO path (alone or as part of its tuple), if any."""
        return self._by_path.get(path)

    @property
    def attrs(self) -> tuple[str, ...]:
        """Every mapped host attribute, in order, once each (computed fields have none)."""
        return tuple(dict.fromkeys(f.attr for f in self.fields if f.attr))

    @property
    def paths(self) -> tuple[str, ...]:
        """Every mapped QBO path, in order (a tuple field's paths one by one); read once per pulled customer."""
        return self._paths

    @property
    def setter_paths(self) -> tuple[str, ...]:
        """Paths of the fields QBO's values reach through ``set=``: a new contact's factory gets no attribute for them."""
        return tuple(path for f in self.fields if f.set is not None for path in f.paths)

    def path_fields(self) -> t.Iterator[tuple[str, Field]]:
        """Each mapped path with the field that fills it, in order."""
        return ((path, f) for f in self.fields for path in f.paths)

    def max_lengths(self) -> dict[str, int]:
        """``{attribute: QBO's maximum length}`` for attributes mapped alone to one limited path.

        A field over several paths or computed by ``get`` has no limit of its own;
        an attribute feeding several fields gets the smallest of their limits.
        """
        limits: dict[str, int] = {}
        for f in self.fields:
            limit = CUSTOMER_PATHS.get(f.paths[0]) if f.attr and f.get is None and len(f.paths) == 1 else None
            if f.attr and limit is not None:
                limits[f.attr] = min(limit, limits.get(f.attr, limit))
        return limits

    def chart(self) -> list[dict[str, str]]:
        """Rows for the admin page's field chart, in people's words and in the program's.

        ``label`` (the field's :attr:`Field.label`) and ``qbo`` (its QBO fields
        by :func:`path_label`) are what the page shows; ``attr`` and ``path`` name
        the same field for developers (in logs, the doctor, a host's own page).
        """
        arrows = {BOTH: "↔", TO_QBO: "CRM → QBO", FROM_QBO: "QBO → CRM", ON_CREATE: "CRM → QBO (on create)"}
        return [
            {
                "label": f.label,
                "qbo": " + ".join(map(path_label, f.paths)),
                "attr": f.name,
                "path": " + ".join(f.paths),
                "direction": arrows[f.direction],
            }
            for f in self.fields
        ]


def _check_field(field: Field) -> None:
    """Refuse a field that could never sync as declared, naming it."""
    label = field.name
    if field.direction not in DIRECTIONS:
        raise QBOConfigError(f"Field {label!r}: direction must be one of {DIRECTIONS}, not {field.direction!r}.")
    if not field.attr and field.get is None:
        raise QBOConfigError(f"Field for {field.path!r} needs an attribute name or a get= callable.")
    if field.set is not None and field.get is None:
        raise QBOConfigError(f"Field {label!r}: set= needs a get= callable to compare with.")
    if field.get is not None and field.set is None and field.pulls:
        raise QBOConfigError(
            f"Field {label!r} has get= but no set=, so QBO's value cannot reach the contact: "
            f"give it set=, or direction={TO_QBO!r}."
        )
    if not field.paths or not all(isinstance(p, str) for p in field.paths):
        raise QBOConfigError(f"Field {label!r}: path must be a QBO path or a tuple of them, not {field.path!r}.")
    for path in field.paths:
        if path not in CUSTOMER_PATHS:
            raise QBOConfigError(f"Field {label!r} maps to unknown QBO Customer path {path!r}.")
        if path in CREATE_ONLY_PATHS and field.direction not in (ON_CREATE, FROM_QBO):
            raise QBOConfigError(
                f"Field {label!r}: QuickBooks fixes {path} when the customer is created, so it cannot be updated: "
                f"map it with direction={ON_CREATE!r} (or {FROM_QBO!r})."
            )
    if isinstance(field.path, tuple):
        if field.pushes and field.to_qbo is None:
            raise QBOConfigError(f"Field {label!r} maps to several paths: it needs to_qbo= returning one value each.")
        if field.pulls and field.from_qbo is None:
            raise QBOConfigError(f"Field {label!r} maps to several paths: it needs from_qbo= joining their values.")
