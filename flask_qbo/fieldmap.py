"""Field map between a host's contact model and the QBO Customer entity.

A :class:`FieldMap` is a list of :class:`Field` entries: host attribute, QBO path
(dotted, e.g. ``PrimaryEmailAddr.Address``), a direction, and optional
converters.  It is validated when the host registers its contact model, so a
typo fails at start-up rather than in a worker at 3 a.m.

This module is the public, declarative part only: which attribute maps to which
QBO path, in which direction, and the default chart.  How values travel along
the map (cleaning, hashing, building payloads, DisplayName rules, pre-flight
checks) is the sync engine's business and lives in :mod:`flask_qbo.sync.payload`.
"""

from __future__ import annotations

import dataclasses
import typing as t

from .errors import QBOConfigError

#: Directions a field can sync in.
BOTH = "both"
TO_QBO = "to_qbo"
FROM_QBO = "from_qbo"
DIRECTIONS = (BOTH, TO_QBO, FROM_QBO)

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


def _invert(value: object) -> bool | None:
    """``archived`` ↔ ``Active``: the same fact stated the other way round (``None`` stays unknown)."""
    return None if value is None else not bool(value)


@dataclasses.dataclass(frozen=True)
class Field:
    """One mapped field.

    :param attr: attribute name on the host's contact model.
    :param path: dotted QBO Customer path (see :data:`CUSTOMER_PATHS`).
    :param direction: ``"both"``, ``"to_qbo"`` or ``"from_qbo"``.
    :param to_qbo: converts the host value before it is sent.
    :param from_qbo: converts QBO's value before it is written to the contact.
    """

    attr: str
    path: str
    direction: str = BOTH
    to_qbo: t.Callable[[t.Any], t.Any] | None = None
    from_qbo: t.Callable[[t.Any], t.Any] | None = None

    @property
    def pushes(self) -> bool:
        """True when CRM edits of this field go to QBO."""
        return self.direction in (BOTH, TO_QBO)

    @property
    def pulls(self) -> bool:
        """True when QBO edits of this field come back to the contact."""
        return self.direction in (BOTH, FROM_QBO)


class FieldMap:
    """An ordered, validated set of :class:`Field` entries.

    Build it from fields, or from a plain ``{attr: path}`` dict for the common case::

        FieldMap(Field("email", "PrimaryEmailAddr.Address"), Field("notes", "Notes", TO_QBO))
        FieldMap.from_dict({"first_name": "GivenName", "last_name": "FamilyName"})
    """

    def __init__(self, *fields: Field) -> None:
        self.fields: tuple[Field, ...] = tuple(fields)
        self._check()

    @classmethod
    def from_dict(cls, mapping: t.Mapping[str, str], direction: str = BOTH) -> FieldMap:
        """Map each host attribute to a QBO path, all in one direction."""
        return cls(*(Field(attr, path, direction) for attr, path in mapping.items()))

    @classmethod
    def default(cls) -> FieldMap:
        """The default map: the demo contact's attribute names, each on the QBO Customer field listed below."""
        simple = {
            "first_name": "GivenName",
            "middle_name": "MiddleName",
            "last_name": "FamilyName",
            "title": "Title",
            "suffix": "Suffix",
            "company": "CompanyName",
            "email": "PrimaryEmailAddr.Address",
            "phone": "PrimaryPhone.FreeFormNumber",
            "mobile": "Mobile.FreeFormNumber",
            "fax": "Fax.FreeFormNumber",
            "other_phone": "AlternatePhone.FreeFormNumber",
            "website": "WebAddr.URI",
            "billing_street": "BillAddr.Line1",
            "billing_city": "BillAddr.City",
            "billing_state": "BillAddr.CountrySubDivisionCode",
            "billing_postal_code": "BillAddr.PostalCode",
            "billing_country": "BillAddr.Country",
            "shipping_street": "ShipAddr.Line1",
            "shipping_city": "ShipAddr.City",
            "shipping_state": "ShipAddr.CountrySubDivisionCode",
            "shipping_postal_code": "ShipAddr.PostalCode",
            "shipping_country": "ShipAddr.Country",
            "notes": "Notes",
        }
        fields = [Field(attr, path) for attr, path in simple.items()]
        fields.append(Field("archived", "Active", BOTH, to_qbo=_invert, from_qbo=_invert))
        return cls(*fields)

    def _check(self) -> None:
        seen_attrs: set[str] = set()
        seen_paths: set[str] = set()
        for field in self.fields:
            if field.direction not in DIRECTIONS:
                raise QBOConfigError(
                    f"Field {field.attr!r}: direction must be one of {DIRECTIONS}, not {field.direction!r}."
                )
            if field.path not in CUSTOMER_PATHS:
                raise QBOConfigError(f"Field {field.attr!r} maps to unknown QBO Customer path {field.path!r}.")
            if field.attr in seen_attrs:
                raise QBOConfigError(f"Attribute {field.attr!r} is mapped twice.")
            if field.path in seen_paths:
                raise QBOConfigError(f"QBO path {field.path!r} is mapped twice.")
            seen_attrs.add(field.attr)
            seen_paths.add(field.path)

    def validate_model(self, model: type) -> None:
        """Raise :class:`QBOConfigError` naming any attribute the model lacks."""
        missing = [f.attr for f in self.fields if not hasattr(model, f.attr)]
        if missing:
            raise QBOConfigError(
                f"{model.__name__} has no attribute(s) {', '.join(map(repr, missing))} named in the field map."
            )

    def __iter__(self) -> t.Iterator[Field]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def by_attr(self, attr: str) -> Field | None:
        """The field mapped from a host attribute, if any."""
        return next((f for f in self.fields if f.attr == attr), None)

    def by_path(self, path: str) -> Field | None:
        """The field mapped to a QBO path, if any."""
        return next((f for f in self.fields if f.path == path), None)

    @property
    def attrs(self) -> tuple[str, ...]:
        """Every mapped host attribute, in order."""
        return tuple(f.attr for f in self.fields)

    def chart(self) -> list[dict[str, str]]:
        """Rows for the admin page's field chart: CRM attribute, QBO path, direction."""
        arrows = {BOTH: "↔", TO_QBO: "CRM → QBO", FROM_QBO: "QBO → CRM"}
        return [{"attr": f.attr, "path": f.path, "direction": arrows[f.direction]} for f in self.fields]
