"""Match keys and the tenant-scoped contact listing behind the import and its search."""

from __future__ import annotations

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
