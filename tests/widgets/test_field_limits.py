"""QuickBooks' length limits per contact attribute, from the registered field map."""

from __future__ import annotations

import typing as t

import pytest

import flask_qbo
from flask_qbo import Field
from flask_qbo import FieldMap
from flask_qbo import field_limits
from flask_qbo import join_name
from flask_qbo import max_length_for
from flask_qbo import split_name


def test_the_registered_maps_limits(app: t.Any) -> None:
    assert {"field_limits", "max_length_for"} <= set(flask_qbo.__all__)
    with app.app_context():
        limits = field_limits()
        assert limits["first_name"] == 100 and limits["last_name"] == 100 and limits["company"] == 100
        assert limits["title"] == 16 and limits["email"] == 100 and limits["phone"] == 30
        assert limits["notes"] == 2000 and limits["website"] == 1000 and limits["billing_street"] == 500
        assert "archived" not in limits  # Active is not text
        assert max_length_for("suffix") == 16
        assert max_length_for("lead_score") is None  # not mapped


def test_a_given_map_and_the_fields_without_a_limit_of_their_own() -> None:
    fields = FieldMap(
        Field("name", ("GivenName", "FamilyName"), to_qbo=split_name, from_qbo=join_name),
        Field("nickname", "DisplayName"),
        Field("code", "CompanyName"),
        Field("code", "Suffix", "to_qbo"),
        Field(get=lambda c: c.short, path="Title", watches="short"),
    )
    assert field_limits(fields) == {"nickname": 500, "code": 16}  # code: the smaller of 100 and 16
    assert max_length_for("name", fields) is None


def test_outside_an_app_a_map_must_be_given() -> None:
    with pytest.raises(RuntimeError):
        field_limits()
