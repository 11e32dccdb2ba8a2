"""Import admin pages: admin-only, tenant-scoped, CSRF on POST, htmx progress answering 286."""

from __future__ import annotations

import re

from flask_qbo.models import Customer
from flask_qbo.models import ImportMatch
from flask_qbo.models import ImportRun

from ..conftest import login
from ..hostapp import ACME_ADMIN
from ..hostapp import ACME_USER
from ..hostapp import GLOBEX_ADMIN
from ..hostapp import db
from .pull_support import add_customer
from .pull_support import make_contact


def token(client, url="/qbo/import/"):
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def start_run(client, **form):
    resp = client.post("/qbo/import/", data={"csrf_token": token(client), **form})
    assert resp.status_code == 302


def latest(app):
    with app.app_context():
        run = db.session.query(ImportRun).order_by(ImportRun.id.desc()).first()
        db.session.expunge(run)
        return run


def finish_fetching(client, run_id):
    for _ in range(20):
        resp = client.get(f"/qbo/import/{run_id}/progress")
        if resp.status_code == 286:
            return resp
        assert resp.status_code == 200 and 'hx-trigger="every 1s"' in resp.get_data(as_text=True)
    raise AssertionError("import never finished fetching")


def test_non_admin_gets_403(client, connected):
    login(client, ACME_USER)
    assert client.get("/qbo/import/").status_code == 403
    assert client.post("/qbo/import/1/apply").status_code in (400, 403)


def test_post_without_csrf_is_refused(client, connected):
    login(client, ACME_ADMIN)
    assert client.post("/qbo/import/", data={"months": "3"}).status_code == 400


def test_full_flow_through_the_pages(app, client, emulator, connected):
    cust = add_customer(emulator, GivenName="Web", FamilyName="Flow", PrimaryEmailAddr={"Address": "web@x.test"})
    add_customer(emulator, GivenName="<script>x</script>", FamilyName="Evil")
    cid = make_contact(app, first_name="W", last_name="F", email="web@x.test")
    login(client, ACME_ADMIN)
    page = client.get("/qbo/import/").get_data(as_text=True)
    assert "Start import" in page
    start_run(client, months="12")
    run = latest(app)
    assert run.months == 12 and run.started_by == "admin@acme.test"
    done = finish_fetching(client, run.id).get_data(as_text=True)
    assert "Review the matches" in done
    review = client.get(f"/qbo/import/{run.id}/review").get_data(as_text=True)
    assert "Exact e-mail" in review and "&lt;script&gt;" in review and "<script>x" not in review
    csrf = token(client, f"/qbo/import/{run.id}/review")
    client.post(f"/qbo/import/{run.id}/review", data={"csrf_token": csrf, "action": "accept_exact"})
    preview = client.get(f"/qbo/import/{run.id}/review?preview=1").get_data(as_text=True)
    assert "data-qbo-preview-id=\"%s\"" % cust["Id"] in preview and "CRM first_name" in preview
    with app.app_context():
        evil = db.session.query(Customer).filter(Customer.family_name == "Evil").one().qbo_id
    client.post(f"/qbo/import/{run.id}/review", data={"csrf_token": csrf, "qbo_id": evil, "decision": "skip"})
    resp = client.post(f"/qbo/import/{run.id}/apply", data={"csrf_token": csrf})
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.query(Customer).filter_by(qbo_id=cust["Id"]).one().contact_key == str(cid)
        assert db.session.query(ImportMatch).filter_by(qbo_id=evil).one().decision == "skip"
        assert db.session.get(ImportRun, run.id).status == "done"


def test_other_tenant_cannot_see_the_run(app, client, emulator, connected):
    login(client, ACME_ADMIN)
    start_run(client)
    run = latest(app)
    login(client, GLOBEX_ADMIN)
    assert client.get(f"/qbo/import/{run.id}/progress").status_code == 404
    assert client.get(f"/qbo/import/{run.id}/review").status_code == 404


def test_on_change_mode_hides_the_import(app, client, connected):
    app.config["QBO_INITIAL_SYNC"] = "on_change"
    login(client, ACME_ADMIN)
    assert "turned off" in client.get("/qbo/import/").get_data(as_text=True)
