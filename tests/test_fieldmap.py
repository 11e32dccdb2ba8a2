"""fieldmap.py: the public Field / FieldMap on its own (no sync, no database)."""

from __future__ import annotations

import pytest

from flask_qbo import BOTH
from flask_qbo import FROM_QBO
from flask_qbo import TO_QBO
from flask_qbo import Field
from flask_qbo import FieldMap
from flask_qbo import QBOConfigError
from flask_qbo import join_name
from flask_qbo import split_name
from flask_qbo.fieldmap import CUSTOMER_PATHS
from flask_qbo.fieldmap import PATH_LABELS
from flask_qbo.fieldmap import path_label


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
    assert fields.chart()[0] == {
        "label": "First name",
        "qbo": "First name",
        "attr": "first_name",
        "path": "GivenName",
        "direction": "CRM → QBO",
    }


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
        (Field("a", "GivenName"), Field("b", "GivenName")),
        (Field("a", ("GivenName", "FamilyName"), to_qbo=split_name, from_qbo=join_name), Field("b", "FamilyName")),
        (Field("a", ("GivenName", "FamilyName")),),  # several paths need to_qbo and from_qbo
        (Field("a", ("GivenName", "Planet"), to_qbo=split_name, from_qbo=join_name),),
        (Field(path="DisplayName"),),  # neither an attribute nor a getter
        (Field(path="DisplayName", get=str, direction=BOTH),),  # pulls without a setter
        (Field("a", "DisplayName", set=lambda c, v: None),),  # a setter without a getter
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


def test_one_attribute_feeds_several_fields() -> None:
    fields = FieldMap(
        Field("name", "DisplayName"),
        Field("name", ("GivenName", "FamilyName"), to_qbo=split_name, from_qbo=join_name),
    )
    assert fields.attrs == ("name",)
    assert fields.paths == ("DisplayName", "GivenName", "FamilyName")
    assert fields.by_path("FamilyName") is fields.fields[1]
    assert fields.chart()[1] == {
        "label": "Name",
        "qbo": "First name + Last name",
        "attr": "name",
        "path": "GivenName + FamilyName",
        "direction": "↔",
    }


def test_split_and_join_name_round_trip() -> None:
    assert split_name("Ann Marie  Lee") == ("Ann Marie", "Lee")
    assert split_name("Cher") == ("Cher", None)
    assert split_name("  ") == (None, None) and split_name(None) == (None, None)
    assert join_name(("Ann Marie", "Lee")) == "Ann Marie Lee"
    assert join_name(("Cher", None)) == "Cher" and join_name((None, " ")) is None


def test_a_getter_without_setter_is_to_qbo_only() -> None:
    def full(contact: object) -> str:
        return "x"

    computed = Field(path="DisplayName", get=full, watches=("first_name", "last_name"))
    assert computed.direction == TO_QBO and computed.attr is None
    assert computed.watched == ("first_name", "last_name")
    assert computed.name == "(computed DisplayName from first_name, last_name)"
    both = Field(path="DisplayName", get=full, set=lambda c, v: None, watches="first_name")
    assert both.direction == BOTH and both.watches == ("first_name",)
    FieldMap(computed)
    FieldMap(both)


def test_validate_model_names_missing_watched_attributes() -> None:
    class Contact:
        first_name = None

    fields = FieldMap(Field(path="DisplayName", get=str, watches=("first_name", "surname")))
    with pytest.raises(QBOConfigError, match="'surname'"):
        fields.validate_model(Contact)


def test_validate_model_refuses_pulling_into_a_read_only_property() -> None:
    class Contact:
        @property
        def street(self) -> str:
            return "1 Main St"

    with pytest.raises(QBOConfigError, match=r"Contact\.street is a read-only property.*'to_qbo'"):
        FieldMap(Field("street", "BillAddr.Line1")).validate_model(Contact)
    FieldMap(Field("street", "BillAddr.Line1", TO_QBO)).validate_model(Contact)


# -- labels: how the admin's pages name a field ---------------------------------------


def test_default_chart_has_a_human_label_for_every_field() -> None:
    fields = FieldMap.default()
    labels = {f.attr: f.label for f in fields}
    assert labels["billing_postal_code"] == "Billing postal code"
    assert labels["email"] == "Email" and labels["other_phone"] == "Other phone"
    assert labels["company"] == "Company" and labels["archived"] == "Archived"
    assert all(label and "_" not in label and "." not in label for label in labels.values())
    assert len(set(labels.values())) == len(labels)  # no two fields read the same
    row = next(r for r in fields.chart() if r["attr"] == "billing_postal_code")
    assert (row["label"], row["qbo"]) == ("Billing postal code", "Billing address · Postal code")


def test_an_explicit_label_wins_and_survives_the_map() -> None:
    field = Field("zip", "BillAddr.PostalCode", label="Postcode")
    assert field.label == "Postcode" and FieldMap(field).chart()[0]["label"] == "Postcode"
    assert Field("zip", "BillAddr.PostalCode", label="Postcode") == field


def test_automatic_labels_humanise_the_attribute_or_name_the_qbo_fields() -> None:
    assert Field("billing_postal_code", "BillAddr.PostalCode").label == "Billing postal code"
    assert Field("zipCode", "ShipAddr.PostalCode").label == "Zip code"
    assert Field("  weird__name ", "Notes").label == "Weird name"
    computed = Field(get=lambda c: c.zip, path="BillAddr.PostalCode", watches="zip")
    assert computed.label == "Billing address · Postal code"
    both = Field(
        get=lambda c: c.name,
        set=lambda c, v: None,
        path=("GivenName", "FamilyName"),
        to_qbo=split_name,
        from_qbo=join_name,
    )
    assert both.label == "First name + Last name"
    labelled = Field(get=lambda c: c.name, path=("GivenName", "FamilyName"), to_qbo=split_name, label="Full name")
    assert labelled.label == "Full name"


def test_every_customer_path_reads_as_words() -> None:
    assert set(PATH_LABELS) == set(CUSTOMER_PATHS)
    assert path_label("ShipAddr.Line2") == "Shipping address · Street, line 2"
    assert path_label("PrimaryEmailAddr.Address") == "Email"
    assert path_label("SalesTermRef") == "Sales term"  # outside the chart: split, never raw
