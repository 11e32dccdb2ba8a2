"""sync/merge.py: the three-way merge of a contact with its customer, and the conflict policies."""

from __future__ import annotations

import pytest

from flask_qbo.fieldmap import FieldMap
from flask_qbo.sync.merge import three_way
from flask_qbo.sync.merge import winner_for

FIELDS = FieldMap.default()


def test_three_way_merge_and_policies() -> None:
    base = {"GivenName": "Ann", "FamilyName": "Lee", "Notes": "n"}
    crm = {"GivenName": "Anna", "FamilyName": "Lee", "Notes": "crm"}
    qbo = {"GivenName": "Ann", "FamilyName": "Li", "Notes": "qbo"}
    result = three_way(FIELDS, base, crm, qbo, winner="crm")
    assert result.push == {"GivenName": "Anna", "Notes": "crm"}
    assert result.pull == {"FamilyName": "Li"}
    assert [c.path for c in result.conflicts] == ["Notes"]
    result = three_way(FIELDS, base, crm, qbo, winner="qbo")
    assert result.pull == {"FamilyName": "Li", "Notes": "qbo"}
    import datetime as dt

    early, late = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)
    assert winner_for("newest", early, late) == "qbo"
    assert winner_for("newest", late, early) == "crm"
    assert winner_for("qbo", late, early) == "qbo"
    with pytest.raises(ValueError):
        winner_for("bogus", None, None)
