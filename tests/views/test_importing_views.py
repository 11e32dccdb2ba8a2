"""Import admin pages: admin-only, tenant-scoped, CSRF on POST, htmx progress answering 286."""

from __future__ import annotations

import re

from flask_qbo.models import Customer
from flask_qbo.models import ImportMatch
from flask_qbo.models import ImportRun
from flask_qbo.views.csrf import SESSION_KEY
from tests.conftest import login
from tests.hostapp import ACME_ADMIN
from tests.hostapp import ACME_USER
from tests.hostapp import GLOBEX_ADMIN
from tests.hostapp import Contact
from tests.hostapp import db
from tests.sync.pull.pull_support import add_customer
from tests.sync.pull.pull_support import make_contact


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
    assert '<option value="">All history</option>' in page and '<option value="12">The last 12 months</option>' in page
    assert "the last all history" not in page.lower(), "the label and the first choice read as one phrase"
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
    assert f'data-qbo-preview-id="{cust["Id"]}"' in preview and "Contact · First name" in preview
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


# -- the review's contact picker ---------------------------------------------------


def review_run(app, client, emulator):
    """An import in review with one unmatched customer (nobody shares its e-mail, phone or name)."""
    cust = add_customer(
        emulator,
        GivenName="Marcus",
        FamilyName="Montgomery",
        CompanyName="Montgomery Yoga",
        PrimaryEmailAddr={"Address": "marcus@yoga.test"},
    )
    login(client, ACME_ADMIN)
    start_run(client)
    run = latest(app)
    finish_fetching(client, run.id)
    return run.id, cust["Id"]


def options(html):
    """``{value: text}`` of the selectable (not disabled) options with a value."""
    found = re.findall(r'<option value="([^"]+)"(?: selected)?>\s*([^<]*)</option>', html)
    return {value: text.strip() for value, text in found}


def decide(client, run_id, qbo_id, decision="link", **form):
    csrf = token(client, f"/qbo/import/{run_id}/review")
    data = {"csrf_token": csrf, "qbo_id": qbo_id, "decision": decision, **form}
    return client.post(f"/qbo/import/{run_id}/review", data=data, follow_redirects=True)


def match_of(app, run_id, qbo_id):
    with app.app_context():
        match = db.session.query(ImportMatch).filter_by(run_id=run_id, qbo_id=qbo_id).one()
        return match.match_kind, match.decision, match.contact_key


def match_id(app, run_id, qbo_id):
    with app.app_context():
        return db.session.query(ImportMatch).filter_by(run_id=run_id, qbo_id=qbo_id).one().id


def test_search_lists_only_this_tenants_contacts_escaped(app, client, emulator, connected):
    ours = make_contact(app, first_name="Marc", last_name="Montgomery", email="mm@elsewhere.test")
    hostile = make_contact(
        app, first_name='<script>alert("x")</script>', last_name="Montgomery", company="<b>Bold & Co</b>"
    )
    theirs = make_contact(app, tenant="globex", first_name="Marc", last_name="Montgomery")
    for n in range(25):
        make_contact(app, first_name=f"Bulk{n}", last_name="Montgomery")
    run_id, qbo_id = review_run(app, client, emulator)
    html = client.get(f"/qbo/import/{run_id}/contacts", query_string={"q": "marc montgomery", "qbo_id": qbo_id})
    found = options(html.get_data(as_text=True))
    assert set(found) == {str(ours)} and "mm@elsewhere.test" in found[str(ours)]
    assert f'value="{ours}" selected' in html.get_data(as_text=True)  # what Link will link
    body = client.get(f"/qbo/import/{run_id}/contacts", query_string={"q": "MONTGOMERY"}).get_data(as_text=True)
    assert str(theirs) not in options(body) and len(options(body)) == 20
    body = client.get(f"/qbo/import/{run_id}/contacts", query_string={"q": "bold &"}).get_data(as_text=True)
    assert set(options(body)) == {str(hostile)}
    assert "<script>" not in body and "<b>" not in body
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body and "&lt;b&gt;Bold &amp; Co&lt;/b&gt;" in body
    wildcard = client.get(f"/qbo/import/{run_id}/contacts", query_string={"q": "%%"}).get_data(as_text=True)
    assert options(wildcard) == {} and "No contact matches" in wildcard
    by_key = client.get(f"/qbo/import/{run_id}/contacts", query_string={"q": str(ours)}).get_data(as_text=True)
    assert str(ours) in options(by_key)
    foreign_key = client.get(f"/qbo/import/{run_id}/contacts", query_string={"q": str(theirs)})
    assert str(theirs) not in options(foreign_key.get_data(as_text=True))


def test_unmatched_row_links_to_a_searched_contact_and_applies_exactly(app, client, emulator, connected):
    key = str(
        make_contact(app, first_name="Marc", last_name="Montgomery", email="mm@elsewhere.test", phone="555-010-2000")
    )
    exact = add_customer(emulator, GivenName="Eve", FamilyName="Exact", PrimaryEmailAddr={"Address": "eve@x.test"})
    make_contact(app, first_name="Eve", last_name="Exact", email="eve@x.test")
    run_id, qbo_id = review_run(app, client, emulator)
    assert match_of(app, run_id, qbo_id) == ("none", "pending", None)
    page = client.get(f"/qbo/import/{run_id}/review").get_data(as_text=True)
    assert 'data-qbo-count="none">1<' in page and 'data-qbo-count="email">1<' in page
    assert 'data-qbo-count="decided">0 of 2<' in page
    assert f'hx-get="/qbo/import/{run_id}/contacts?qbo_id={qbo_id}"' in page
    assert 'hx-trigger="keyup changed delay:300ms, search"' in page
    attention = client.get(f"/qbo/import/{run_id}/review?show=attention").get_data(as_text=True)
    assert f'data-qbo-match="{qbo_id}"' in attention and f'data-qbo-match="{exact["Id"]}"' not in attention
    assert 'aria-current="page"' in attention and "Needs attention (1 of 1 undecided)" in attention

    found = client.get(f"/qbo/import/{run_id}/contacts", query_string={"q": "montgomery", "qbo_id": qbo_id})
    assert key in options(found.get_data(as_text=True))
    page = decide(client, run_id, qbo_id, "find", contact_key=key, q="montgomery").get_data(as_text=True)
    assert match_of(app, run_id, qbo_id) == ("none", "link", key)
    assert 'data-qbo-count="decided">1 of 2<' in page and "Saved: Link to Marc Montgomery" in page
    assert "Needs attention (0 of 1 undecided)" in page, "the tab counts what is left to decide"
    (item,) = [
        i
        for i in client.get(f"/qbo/import/{run_id}/review?preview=1")
        .get_data(as_text=True)
        .split("data-qbo-preview-id=")[1:]
    ]
    assert (
        "Contact · First name: Marc → Marcus" in item
        and "Contact · Email: mm@elsewhere.test → marcus@yoga.test" in item
    )
    assert "QuickBooks · Phone: (empty) → 555-010-2000" in item
    assert "first_name" not in item and "PrimaryPhone" not in item

    csrf = token(client, f"/qbo/import/{run_id}/review")
    assert client.post(f"/qbo/import/{run_id}/apply", data={"csrf_token": csrf}).status_code == 302
    with app.app_context():
        links = {c.qbo_id: c.contact_key for c in db.session.query(Customer)}
        assert links == {qbo_id: key, exact["Id"]: None}  # the pending exact row is untouched
        contact = db.session.get(Contact, int(key))
        assert (contact.first_name, contact.email, contact.company) == ("Marcus", "marcus@yoga.test", "Montgomery Yoga")
        assert contact.phone == "555-010-2000"


def test_without_javascript_the_typed_name_finds_the_contact(app, client, emulator, connected):
    key = str(make_contact(app, first_name="Marc", last_name="Mason", email="marc@mason.test"))
    make_contact(app, first_name="Marcia", last_name="Mason")
    run_id, qbo_id = review_run(app, client, emulator)
    page = decide(client, run_id, qbo_id, "find", q="mason").get_data(as_text=True)
    assert "2 contacts match “mason” (Marc Mason, Marcia Mason): choose one from the list" in page
    assert match_of(app, run_id, qbo_id) == ("none", "pending", None)
    page = decide(client, run_id, qbo_id, "find", q="").get_data(as_text=True)
    assert "Find the contact to link: type part of their name or email address." in page
    page = decide(client, run_id, qbo_id, "", q="").get_data(as_text=True)
    assert "Choose what to do with this customer, then save." in page
    assert match_of(app, run_id, qbo_id) == ("none", "pending", None)
    # Enter in the search box before choosing an option: the typed e-mail names one contact.
    resp = decide(client, run_id, qbo_id, "", q=" marc@mason.test ")
    assert match_of(app, run_id, qbo_id) == ("none", "link", key)
    assert resp.history[0].headers["Location"].endswith(f"#qbo-row-{match_id(app, run_id, qbo_id)}")


def test_a_typed_search_with_several_matches_links_none_even_if_one_is_free(app, client, emulator, connected):
    # Three Smiths, two already linked elsewhere: "Smith" does not single out the third.
    linked = [str(make_contact(app, first_name=name, last_name="Smith")) for name in ("Ann", "Bob")]
    free = str(make_contact(app, first_name="Cal", last_name="Smith"))
    run_id, qbo_id = review_run(app, client, emulator)
    with app.app_context():
        for n, key in enumerate(linked):
            db.session.add(
                Customer(tenant_key="acme", realm_id="elsewhere", qbo_id=f"90{n}", display_name="X", contact_key=key)
            )
        db.session.commit()
    page = decide(client, run_id, qbo_id, "find", q="smith").get_data(as_text=True)
    assert "3 contacts match “smith” (Ann Smith, Bob Smith, Cal Smith): choose one from the list" in page
    assert match_of(app, run_id, qbo_id) == ("none", "pending", None)
    decide(client, run_id, qbo_id, "find", q="cal smith")  # one match: that contact
    assert match_of(app, run_id, qbo_id) == ("none", "link", free)


def test_link_refuses_foreign_unknown_and_taken_contacts(app, client, emulator, connected):
    foreign = str(make_contact(app, tenant="globex", first_name="Marcus", last_name="Montgomery"))
    linked = str(make_contact(app, first_name="Lina", last_name="Linked"))
    chosen = str(make_contact(app, first_name="Cora", last_name="Chosen"))
    other = add_customer(emulator, GivenName="Other", FamilyName="Row")
    run_id, qbo_id = review_run(app, client, emulator)
    with app.app_context():
        db.session.add(
            Customer(
                tenant_key="acme", realm_id="elsewhere", qbo_id="777", display_name="Old <Link>", contact_key=linked
            )
        )
        db.session.commit()

    page = decide(client, run_id, qbo_id, contact_key=foreign).get_data(as_text=True)
    assert f"No contact with key &#39;{foreign}&#39; in this account" in page
    page = decide(client, run_id, qbo_id, "find", q="Marcus Montgomery").get_data(as_text=True)
    assert "No contact matches “Marcus Montgomery”" in page  # the other account's contact is not found
    page = decide(client, run_id, qbo_id, contact_key=linked).get_data(as_text=True)
    assert f"Lina Linked (contact {linked}) is already linked to QuickBooks customer Old &lt;Link&gt;" in page
    assert match_of(app, run_id, qbo_id) == ("none", "pending", None)

    decide(client, run_id, other["Id"], contact_key=chosen)
    page = decide(client, run_id, qbo_id, contact_key=chosen).get_data(as_text=True)
    assert "already chosen for QuickBooks customer Other Row in this import" in page
    assert match_of(app, run_id, qbo_id) == ("none", "pending", None)
    found = client.get(f"/qbo/import/{run_id}/contacts", query_string={"q": "linked", "qbo_id": qbo_id})
    assert f'<option value="{linked}" disabled>' in found.get_data(as_text=True)


def test_picker_is_admin_only_tenant_scoped_and_csrf_protected(app, client, emulator, connected):
    key = str(make_contact(app, first_name="Marc", last_name="Montgomery"))
    run_id, qbo_id = review_run(app, client, emulator)
    resp = client.post(f"/qbo/import/{run_id}/review", data={"qbo_id": qbo_id, "decision": "link", "contact_key": key})
    assert resp.status_code == 400
    assert match_of(app, run_id, qbo_id) == ("none", "pending", None)
    login(client, ACME_USER)
    assert client.get(f"/qbo/import/{run_id}/contacts", query_string={"q": "marc"}).status_code == 403
    assert client.get(f"/qbo/import/{run_id}/review").status_code == 403
    login(client, GLOBEX_ADMIN)
    assert client.get(f"/qbo/import/{run_id}/contacts", query_string={"q": "marc"}).status_code == 404


# -- hostile numbers, one key per contact, runs that never wedge ---------------------------

HOSTILE_PAGES = ["1" + "0" * 22, "-5", "0", "abc", "٣", "３", "+2", "2.0", "1e3", " 2", "9" * 5000]


def test_review_page_numbers_are_checked(app, client, emulator, connected):
    run_id, _ = review_run(app, client, emulator)
    for value in HOSTILE_PAGES:
        resp = client.get(f"/qbo/import/{run_id}/review", query_string={"page": value})
        assert resp.status_code == 400, value
        assert "page must be a whole number from 1 to 100000" in resp.get_data(as_text=True), value
    csrf = token(client, f"/qbo/import/{run_id}/review")
    resp = client.post(f"/qbo/import/{run_id}/review?page=-5", data={"csrf_token": csrf, "action": "accept_exact"})
    assert resp.status_code == 400
    # A well-formed page past the end shows the last page rather than an empty table.
    page = client.get(f"/qbo/import/{run_id}/review?page=99999").get_data(as_text=True)
    assert "Marcus Montgomery" in page


def test_run_ids_out_of_range_or_not_ascii_are_not_found(app, client, emulator, connected):
    run_id, _ = review_run(app, client, emulator)
    csrf = token(client, f"/qbo/import/{run_id}/review")
    assert client.get(f"/qbo/import/{run_id}/review").status_code == 200
    for spelled in (
        "1" + "0" * 22,
        str(run_id).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
        str(run_id).translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    ):
        for part in ("progress", "review", "contacts"):
            assert client.get(f"/qbo/import/{spelled}/{part}").status_code == 404, (spelled, part)
        for part in ("apply", "cancel", "review"):
            resp = client.post(f"/qbo/import/{spelled}/{part}", data={"csrf_token": csrf})
            assert resp.status_code == 404, (spelled, part)
    with app.app_context():
        assert db.session.get(ImportRun, run_id).status == "review"


def test_months_must_be_ascii_digits(app, client, connected):
    login(client, ACME_ADMIN)
    for value in ("٣", "1" + "0" * 22, "-3", "3.5"):
        page = client.post(
            "/qbo/import/", data={"csrf_token": token(client), "months": value}, follow_redirects=True
        ).get_data(as_text=True)
        assert "months must be a whole number from 1 to 1200" in page, value
    with app.app_context():
        assert db.session.query(ImportRun).count() == 0


def test_typed_key_in_another_spelling_is_refused_and_apply_succeeds(app, client, emulator, connected):
    """The issue's case: a key typed "0<key>" loaded the contact but skipped the "already chosen" check."""
    key = str(make_contact(app, first_name="Cora", last_name="Chosen"))
    other = add_customer(emulator, GivenName="Other", FamilyName="Row")
    run_id, qbo_id = review_run(app, client, emulator)
    decide(client, run_id, other["Id"], contact_key=key)
    for typed in ("0" + key, "+" + key, key.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))):
        page = decide(client, run_id, qbo_id, "find", contact_key="", q=typed).get_data(as_text=True)
        assert f"No contact matches “{typed}”" in page, typed
        assert match_of(app, run_id, qbo_id) == ("none", "pending", None)
    page = decide(client, run_id, qbo_id, contact_key="", q=f" {key} ").get_data(as_text=True)
    assert "already chosen for QuickBooks customer Other Row" in page  # surrounding blanks are not part of a key
    csrf = token(client, f"/qbo/import/{run_id}/review")
    assert client.post(f"/qbo/import/{run_id}/apply", data={"csrf_token": csrf}).status_code == 302
    with app.app_context():
        assert db.session.get(ImportRun, run_id).status == "done"


def test_failed_apply_returns_to_the_review_with_the_conflicting_rows(app, client, emulator, connected):
    key = str(make_contact(app, first_name="Cora", last_name="Chosen"))
    other = add_customer(emulator, GivenName="Other", FamilyName="Row")
    run_id, qbo_id = review_run(app, client, emulator)
    decide(client, run_id, other["Id"], contact_key=key)
    with app.app_context():  # the same contact chosen twice, as the decide check once let through
        match = db.session.query(ImportMatch).filter_by(run_id=run_id, qbo_id=qbo_id).one()
        match.decision, match.contact_key = "link", key
        db.session.get(ImportRun, run_id).status = "applying"  # where the old 500 left such a run
        db.session.commit()
    csrf = token(client, f"/qbo/import/{run_id}/review")
    resp = client.post(f"/qbo/import/{run_id}/apply", data={"csrf_token": csrf}, follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.request.path == f"/qbo/import/{run_id}/review"
    (error,) = re.findall(r"<p [^>]*data-qbo-run-error>([^<]*)</p>", page)
    assert f"Cora Chosen (contact {key}) is chosen for 2 customers" in error
    assert "Other Row" in error and "Marcus Montgomery" in error
    assert "Apply decisions" in page  # reviewable again
    assert client.get(f"/qbo/import/{run_id}/review").get_data(as_text=True).count(error) == 1  # stays shown
    decide(client, run_id, qbo_id, decision="skip")
    assert client.post(f"/qbo/import/{run_id}/apply", data={"csrf_token": csrf}).status_code == 302
    with app.app_context():
        assert db.session.get(ImportRun, run_id).status == "done"


def test_admin_cancels_a_stuck_run_and_starts_a_new_one(app, client, emulator, connected):
    run_id, _ = review_run(app, client, emulator)
    with app.app_context():
        db.session.get(ImportRun, run_id).status = "applying"  # left so by a crashed process
        db.session.commit()
    start = client.get("/qbo/import/").get_data(as_text=True)
    assert f'action="/qbo/import/{run_id}/cancel"' in start and f"/qbo/import/{run_id}/review" in start
    review = client.get(f"/qbo/import/{run_id}/review").get_data(as_text=True)
    assert "Resume applying" in review and f'action="/qbo/import/{run_id}/cancel"' in review

    assert client.post(f"/qbo/import/{run_id}/cancel").status_code == 400  # CSRF
    login(client, ACME_USER)
    assert client.post(f"/qbo/import/{run_id}/cancel").status_code in (400, 403)
    login(client, GLOBEX_ADMIN)
    with client.session_transaction() as session:
        session[SESSION_KEY] = "globex-token"
    assert client.post(f"/qbo/import/{run_id}/cancel", data={"csrf_token": "globex-token"}).status_code == 404
    with app.app_context():
        assert db.session.get(ImportRun, run_id).status == "applying"

    login(client, ACME_ADMIN)
    page = client.post(
        f"/qbo/import/{run_id}/cancel", data={"csrf_token": token(client)}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Import cancelled" in page and "Start import" in page
    start_run(client)
    assert latest(app).id != run_id and latest(app).status == "fetching"


def test_flask_login_names_who_started_the_import_without_a_hook(app, client, connected):
    from flask_qbo.state import get_qbo

    get_qbo(app)._user_name = None  # the host app without its @qbo.user_name hook
    login(client, ACME_ADMIN)
    start_run(client, months="6")
    assert latest(app).started_by == "admin@acme.test"  # Flask-Login's current_user.email


def test_user_name_hook_overrides_flask_login(app, client, connected):
    from flask_qbo.state import get_qbo

    get_qbo(app).user_name(lambda: "Ada (hook)")
    login(client, ACME_ADMIN)
    start_run(client, months="6")
    assert latest(app).started_by == "Ada (hook)"


def test_review_rows_are_listed_by_customer_name(app, client, emulator, connected):
    """In the order QuickBooks lists customers (by name, case aside), not the order they were fetched in."""
    for name in ("beta Gardens", "Zed Zinc", "alpha Acres", "Mid Motors"):
        add_customer(emulator, DisplayName=name, PrimaryEmailAddr={"Address": f"{name.split()[0].lower()}@x.test"})
    login(client, ACME_ADMIN)
    start_run(client)
    run = latest(app)
    finish_fetching(client, run.id)
    page = client.get(f"/qbo/import/{run.id}/review").get_data(as_text=True)
    names = ["alpha Acres", "beta Gardens", "Mid Motors", "Zed Zinc"]
    assert all(name in page for name in names)
    assert sorted(names, key=page.index) == names
