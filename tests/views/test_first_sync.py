"""The first sync (issue 18 §1, §3): connecting starts it, the connected page words what it found.

The callback lands on the connected page; its progress card fetches while it
polls, then reads "N contacts match exactly, M need review, K customers are
new" with one button (Link exact matches: admin-only, CSRF, tenant-scoped)
that links the exact matches only and leaves the rest in review.  With
``QBO_INITIAL_SYNC = "on_change"`` nothing is started and the page says how
contacts sync instead.  A fetched run never reads "Import in progress".
"""

from __future__ import annotations

import re
import typing as t

import pytest

from flask_qbo.importing import fetch
from flask_qbo.models import Customer
from flask_qbo.models import ImportMatch
from flask_qbo.models import ImportRun
from flask_qbo.models import SyncStatus
from tests.conftest import login
from tests.connection.test_connect_support import callback
from tests.connection.test_connect_support import connect_via_ui
from tests.connection.test_connect_support import csrf
from tests.connection.test_connect_support import intuit_sign_in
from tests.hostapp import ACME_ADMIN
from tests.hostapp import ACME_USER
from tests.hostapp import GLOBEX_ADMIN
from tests.hostapp import db
from tests.sync.pull.pull_support import add_customer
from tests.sync.pull.pull_support import add_invoice
from tests.sync.pull.pull_support import make_contact

CONNECTED = "/qbo/admin/connected"


@pytest.fixture
def books(app: t.Any, emulator: t.Any) -> dict[str, t.Any]:
    """Two exact e-mail matches, a phone match, a customer two contacts could be, and two new customers."""
    made = {
        "ann": add_customer(emulator, GivenName="Ann", FamilyName="Exact", PrimaryEmailAddr={"Address": "ann@x.test"}),
        "bob": add_customer(emulator, GivenName="Bob", FamilyName="Exact", PrimaryEmailAddr={"Address": "BOB@x.test"}),
        "pat": add_customer(
            emulator, GivenName="Pat", FamilyName="Ring", PrimaryPhone={"FreeFormNumber": "415-444-6538"}
        ),
        "twin": add_customer(emulator, GivenName="Sam", FamilyName="Twin"),
        "new1": add_customer(emulator, GivenName="Nora", FamilyName="New"),
        "new2": add_customer(emulator, GivenName="Ned", FamilyName="New", PrimaryEmailAddr={"Address": "ned@x.test"}),
    }
    for customer in made.values():
        add_invoice(emulator, customer["Id"], 40)
    made["contacts"] = {
        "ann": make_contact(app, first_name="Annie", last_name="E", email="ann@x.test"),
        "bob": make_contact(app, first_name="Robert", last_name="E", email="bob@x.test"),
        "pat": make_contact(app, first_name="Patricia", last_name="R", phone="(415) 444 6538"),
        "twin1": make_contact(app, first_name="Sam", last_name="Twin"),
        "twin2": make_contact(app, first_name="sam", last_name="twin"),
        # Another tenant's contact with Ned's address is never a match for acme.
        "globex": make_contact(app, tenant="globex", first_name="Ned", last_name="New", email="ned@x.test"),
    }
    return made


def text(response: t.Any) -> str:
    return str(response.get_data(as_text=True))


def the_run(app: t.Any, tenant: str = "acme") -> ImportRun | None:
    with app.app_context():
        run = db.session.query(ImportRun).filter_by(tenant_key=tenant).order_by(ImportRun.id.desc()).first()
        if run is not None:
            db.session.expunge(run)
        return run


def poll_until_fetched(client: t.Any, run_id: int) -> str:
    """Poll the progress card the way htmx does until it answers 286 (stop polling)."""
    for _ in range(30):
        response = client.get(f"/qbo/import/{run_id}/progress?back=connected")
        if response.status_code == 286:
            return text(response)
        assert response.status_code == 200 and 'hx-trigger="every 1s"' in text(response)
    raise AssertionError("the first sync never finished fetching")


def counts(page: str) -> dict[str, int]:
    return {kind: int(n) for kind, n in re.findall(r'data-qbo-count="(\w+)">(\d+)<', page)}


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def first_sync(app: t.Any, client: t.Any, emulator: t.Any) -> tuple[int, str]:
    """The admin connects through the sign-in; returns the run and the connected page once fetched."""
    login(client, ACME_ADMIN)
    response = connect_via_ui(client, emulator)
    assert response.status_code == 302 and response.headers["Location"].endswith(CONNECTED)
    run = the_run(app)
    assert run is not None and run.status == "fetching", "connecting starts the first sync, fetching nothing yet"
    page = text(client.get(CONNECTED))
    assert f'hx-get="/qbo/import/{run.id}/progress?back=connected"' in page
    poll_until_fetched(client, run.id)
    return run.id, text(client.get(CONNECTED))


def test_connected_page_says_what_the_first_sync_found(
    app: t.Any, client: t.Any, emulator: t.Any, books: t.Any
) -> None:
    run_id, page = first_sync(app, client, emulator)
    assert "Connected to <strong>Test Company</strong>" in page
    assert counts(page) == {"exact": 2, "review": 2, "new": 2}
    assert "2 contacts match a QuickBooks customer exactly" in re.sub(r"<[^>]+>|\s+", " ", page).replace("  ", " ")
    assert "Link exact matches" in page and f'href="/qbo/import/{run_id}/review"' in page
    assert "Import in progress" not in page and "Fetch finished" in page


def test_link_exact_matches_links_only_those_and_they_sync(
    app: t.Any, client: t.Any, emulator: t.Any, books: t.Any
) -> None:
    run_id, page = first_sync(app, client, emulator)
    response = client.post(f"/qbo/import/{run_id}/link-exact", data={"csrf_token": csrf_of(page), "back": "connected"})
    assert response.status_code == 302 and response.headers["Location"].endswith(CONNECTED)
    ids = {name: books[name]["Id"] for name in ("ann", "bob", "pat", "twin", "new1", "new2")}
    with app.app_context():
        links = {c.qbo_id: c.contact_key for c in db.session.query(Customer).filter(Customer.tenant_key == "acme")}
        assert links[ids["ann"]] == str(books["contacts"]["ann"])
        assert links[ids["bob"]] == str(books["contacts"]["bob"])
        assert all(links[ids[name]] is None for name in ("pat", "twin", "new1", "new2"))
        linked = db.session.query(Customer).filter(Customer.qbo_id.in_((ids["ann"], ids["bob"])))
        assert {c.sync_status for c in linked} <= {SyncStatus.SYNCED, SyncStatus.PENDING}
        pending = db.session.query(ImportMatch).filter_by(run_id=run_id, applied=False).count()
        assert pending == 4 and db.session.get(ImportRun, run_id).status == "review"
    after = text(client.get(CONNECTED))
    assert "Linked 2 contacts" in after
    assert "for example <strong>Ann Exact</strong>, <strong>Bob Exact</strong>." in after, (
        "whose page to open next (named as QuickBooks has them: linking merges its values in)"
    )
    assert counts(after) == {"linked": 2, "review": 2, "new": 2}
    assert "Review the matches" in after and "Link exact matches</button>" not in after, "nothing exact is left"


def test_the_review_rest_then_apply_finishes_the_import(
    app: t.Any, client: t.Any, emulator: t.Any, books: t.Any
) -> None:
    run_id, page = first_sync(app, client, emulator)
    client.post(f"/qbo/import/{run_id}/link-exact", data={"csrf_token": csrf_of(page)})
    client.post(f"/qbo/import/{run_id}/apply", data={"csrf_token": csrf_of(page)})
    assert the_run(app).status == "done"
    start = text(client.get("/qbo/import/"))
    assert "Import in progress" not in start and "The last import finished" in start


def test_fetched_run_reads_finished_after_a_reload(
    app: t.Any, client: t.Any, emulator: t.Any, connected: t.Any, books: t.Any
) -> None:
    """Item 3: an import started from the import page; once fetched, its heading says so, also after a reload."""
    login(client, ACME_ADMIN)
    client.post("/qbo/import/", data={"csrf_token": csrf_of(text(client.get("/qbo/import/")))})
    run = the_run(app)
    assert run is not None and "Import in progress" in text(client.get("/qbo/import/"))
    fetched = poll_until_fetched(client, run.id)
    assert "Fetch finished" in fetched and "Import in progress" not in fetched
    page = text(client.get("/qbo/import/"))
    assert 'data-qbo-import-status="review"' in page
    assert "Import in progress" not in page and "Fetch finished" in page
    assert '<progress class="qbo-progress" max="100" value="100"' in page
    assert "hx-trigger" not in page, "a fetched run is not polled"


def test_non_admin_cannot_see_or_link(app: t.Any, client: t.Any, emulator: t.Any, books: t.Any) -> None:
    run_id, page = first_sync(app, client, emulator)
    token = csrf_of(page)
    login(client, ACME_USER)
    assert client.get(CONNECTED).status_code == 403
    assert client.post(f"/qbo/import/{run_id}/link-exact", data={"csrf_token": token}).status_code == 403
    assert client.get(f"/qbo/import/{run_id}/progress").status_code == 403
    with app.app_context():
        assert db.session.query(Customer).filter(Customer.contact_key.isnot(None)).count() == 0


def test_other_tenant_cannot_see_or_link(app: t.Any, client: t.Any, emulator: t.Any, books: t.Any) -> None:
    run_id, page = first_sync(app, client, emulator)
    login(client, GLOBEX_ADMIN)
    globex = client.get(CONNECTED)
    assert globex.status_code == 302, "globex is not connected: its admin is sent to the Add-ons page"
    token = csrf_of(text(client.get("/qbo/admin/")))
    assert client.post(f"/qbo/import/{run_id}/link-exact", data={"csrf_token": token}).status_code == 404
    assert client.get(f"/qbo/import/{run_id}/progress").status_code == 404
    with app.app_context():
        assert db.session.query(Customer).filter(Customer.contact_key.isnot(None)).count() == 0


def test_link_exact_without_csrf_is_refused(app: t.Any, client: t.Any, emulator: t.Any, books: t.Any) -> None:
    run_id, _ = first_sync(app, client, emulator)
    assert client.post(f"/qbo/import/{run_id}/link-exact", data={}).status_code == 400
    assert client.post(f"/qbo/import/{run_id}/link-exact", data={"csrf_token": "forged"}).status_code == 400
    with app.app_context():
        assert db.session.query(Customer).filter(Customer.contact_key.isnot(None)).count() == 0


def test_on_change_starts_nothing_and_says_how_contacts_sync(
    app: t.Any, client: t.Any, emulator: t.Any, books: t.Any
) -> None:
    app.config["QBO_INITIAL_SYNC"] = "on_change"
    login(client, ACME_ADMIN)
    response = connect_via_ui(client, emulator)
    assert response.headers["Location"].endswith(CONNECTED)
    assert the_run(app) is None
    page = text(client.get(CONNECTED))
    assert "Contacts sync as they change" in page and "Link exact matches" not in page
    assert "hx-get" not in page


def test_reconnecting_does_not_start_another_first_sync(
    app: t.Any, client: t.Any, emulator: t.Any, books: t.Any
) -> None:
    run_id, _ = first_sync(app, client, emulator)
    connect_via_ui(client, emulator)
    assert the_run(app).id == run_id


def test_connected_page_leads_back_to_the_page_connect_started_from(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    """A host's own Add-ons page (sent as ``next`` by the panel) is where "Add-ons & API" returns, never elsewhere."""
    login(client, ACME_ADMIN)
    for sent, expected in (("/crm/admin/addons", "/crm/admin/addons"), ("//evil.example/x", "/qbo/admin/")):
        started = client.post("/qbo/admin/connect", data={"csrf_token": csrf(client), "next": sent})
        callback(client, intuit_sign_in(emulator, started.headers["Location"]))
        page = text(client.get(CONNECTED))
        assert f'href="{expected}">Add-ons &amp; API</a>' in page, sent


def plain(page: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def test_wording_counts_inactive_customers_and_plurals(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    add_customer(emulator, GivenName="Ann", FamilyName="Exact", PrimaryEmailAddr={"Address": "ann@x.test"})
    add_customer(emulator, GivenName="Nora", FamilyName="New")
    add_customer(emulator, GivenName="Old", FamilyName="Gone", Active=False)
    make_contact(app, first_name="Annie", last_name="E", email="ann@x.test")
    run_id, page = first_sync(app, client, emulator)
    words = plain(page)
    # 3 customers read, 2 proposed: the card says where the third went.
    assert "3 of 3 customers" in words and "1 inactive customer left out." in words
    assert counts(page) == {"exact": 1, "review": 0, "new": 1}
    client.post(f"/qbo/import/{run_id}/link-exact", data={"csrf_token": csrf_of(page), "back": "connected"})
    after = plain(text(client.get(CONNECTED)))
    assert "Linked 1 contact to their QuickBooks customers" in after and "1 contacts" not in after
    assert "Review the remaining matches" in after and "Fetch finished" not in after


def test_accepting_one_exact_match_says_so_in_the_singular(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    add_customer(emulator, GivenName="Ann", FamilyName="Exact", PrimaryEmailAddr={"Address": "ann@x.test"})
    add_customer(emulator, GivenName="Nora", FamilyName="New")
    make_contact(app, first_name="Annie", last_name="E", email="ann@x.test")
    run_id, page = first_sync(app, client, emulator)
    review = text(client.get(f"/qbo/import/{run_id}/review"))
    response = client.post(
        f"/qbo/import/{run_id}/review", data={"csrf_token": csrf_of(review), "action": "accept_exact"}
    )
    assert "Accepted 1 exact e-mail match." in plain(text(client.get(response.headers["Location"])))


def test_a_cancelled_first_sync_offers_to_start_again(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    add_customer(emulator, GivenName="Nora", FamilyName="New")
    run_id, _ = first_sync(app, client, emulator)
    with app.app_context():
        fetch.cancel(run_id)
    page = text(client.get(CONNECTED))
    assert "Import cancelled" in page
    assert re.search(r'<a class="[^"]*" href="/qbo/import/" data-qbo-start-again>Start the first sync again</a>', page)
