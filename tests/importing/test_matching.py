"""Match keys and the tenant-scoped contact listing behind the import and its search."""

from __future__ import annotations

from flask_qbo import Field
from flask_qbo.fieldmap import FieldMap
from flask_qbo.importing import matching
from flask_qbo.state import get_qbo
from flask_qbo.sync.capture import suppress_capture
from tests.hostapp import Contact
from tests.hostapp import db


def _contacts(app, tenant, count, **values):
    with app.app_context():
        with suppress_capture():
            db.session.add_all(Contact(tenant=tenant, first_name=f"P{i}", **values) for i in range(count))
        db.session.commit()


def test_tenant_contacts_reads_past_the_first_chunk(app):
    """More contacts than one chunk: every one of the tenant's is listed, none of another's."""
    _contacts(app, "acme", 7, last_name="Many")
    _contacts(app, "globex", 3, last_name="Many")
    with app.app_context():
        qbo = get_qbo(app)
        listed = list(matching.tenant_contacts(qbo, "acme", chunk=3))
        assert len(listed) == 7 and {c.tenant for c in listed} == {"acme"}
        capped = list(matching.tenant_contacts(qbo, "acme", chunk=3, scan=5))
        assert 0 < len(capped) <= 5


def test_search_contacts_scans_several_chunks(app):
    """Another tenant's matches fill the first chunk; this tenant's come after it."""
    _contacts(app, "globex", matching.SEARCH_CHUNK + 1, last_name="Needle")
    _contacts(app, "acme", 3, last_name="Needle")
    with app.app_context():
        found = matching.search_contacts(get_qbo(app), "acme", "needle")
        assert len(found) == 3 and {c.tenant for c in found} == {"acme"}


def test_match_keys_normalise_phone_email_and_company():
    keys = matching.keys_of(
        {
            "PrimaryEmailAddr.Address": " Eve@X.test ",
            "PrimaryPhone.FreeFormNumber": "+1 (415) 444-6538",
            "CompanyName": "Acme, Inc.",
        }
    )
    assert keys == {"email": {"eve@x.test"}, "phone": {"4154446538"}, "name": {"acme"}}


def test_names_compare_without_case_accents_punctuation_or_legal_form():
    """An accented name and its plain ASCII spelling make the same key, whichever side has the accents."""
    assert matching.norm_name("Zoë Ångström, LLC") == matching.norm_name("ZOE ANGSTROM") == "zoe angstrom"
    assert matching.norm_name("Straße") == matching.norm_name("STRASSE") == "strasse"
    assert matching.norm_name("Inc.") is None


def test_match_fields_keep_every_field_that_fills_a_key_path():
    """Only fields that fill a path a key is made from are kept, a split-name field whole."""
    split = Field("name", ("GivenName", "FamilyName"), to_qbo=lambda v: (v, v), from_qbo=lambda v: v[0])
    fields = FieldMap(split, Field("mobile", "Mobile.FreeFormNumber"), Field("city", "BillAddr.City"))
    kept = matching.match_fields(fields)
    assert [f.paths for f in kept] == [("GivenName", "FamilyName"), ("Mobile.FreeFormNumber",)]
    default = FieldMap.default()
    assert matching.MATCH_PATHS & set(default.paths) <= set(matching.match_fields(default).paths)
