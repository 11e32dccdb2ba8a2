"""fieldmap.py: the public Field / FieldMap on its own (no sync, no database)."""

from __future__ import annotations

import pytest

from flask_qbo import BOTH
from flask_qbo import FROM_QBO
from flask_qbo import TO_QBO
from flask_qbo import Field
from flask_qbo import FieldMap
from flask_qbo import QBOConfigError


def test_directions_decide_what_pushes_and_pulls() -> None:
    assert Field("a", "Notes").pushes and Field("a", "Notes").pulls
    assert Field("a", "Notes", TO_QBO).pushes and not Field("a", "Notes", TO_QBO).pulls
    assert Field("a", "Notes", FROM_QBO).pulls and not Field("a", "Notes", FROM_QBO).pushes


def test_lookups_and_chart() -> None:
    fields = FieldMap.from_dict({"first_name": "GivenName", "email": "PrimaryEmailAddr.Address"}, TO_QBO)
    assert len(fields) == 2 and fields.attrs == ("first_name", "email")
    assert fields.by_attr("email") == Field("email", "PrimaryEmailAddr.Address", TO_QBO)
    assert fields.by_path("GivenName") == Field("first_name", "GivenName", TO_QBO)
    assert fields.by_attr("nope") is None and fields.by_path("Notes") is None
    assert fields.chart()[0] == {"attr": "first_name", "path": "GivenName", "direction": "CRM → QBO"}


def test_default_chart_inverts_archived_into_active() -> None:
    archived = FieldMap.default().by_attr("archived")
    assert archived is not None and archived.path == "Active" and archived.direction == BOTH
    assert archived.to_qbo is not None and archived.from_qbo is not None
    assert archived.to_qbo(True) is False and archived.from_qbo(False) is True and archived.to_qbo(None) is None


@pytest.mark.parametrize(
    "fields",
    [
        (Field("a", "GivenName", "sideways"),),
        (Field("a", "Planet"),),
        (Field("a", "GivenName"), Field("a", "FamilyName")),
        (Field("a", "GivenName"), Field("b", "GivenName")),
    ],
)
def test_a_bad_map_fails_when_built(fields: tuple[Field, ...]) -> None:
    with pytest.raises(QBOConfigError):
        FieldMap(*fields)


def test_validate_model_names_missing_attributes() -> None:
    class Contact:
        first_name = None

    FieldMap(Field("first_name", "GivenName")).validate_model(Contact)
    with pytest.raises(QBOConfigError, match="'email'"):
        FieldMap(Field("email", "PrimaryEmailAddr.Address")).validate_model(Contact)
