"""The import review as an office manager meets it: one labelled decision per row, no contact keys, labels.

The page is parsed (stdlib ``html.parser``) rather than searched as text, so
"one decision control per row" and "every control has a label" are checked on
the elements a browser and a screen reader see.
"""

from __future__ import annotations

import dataclasses
import typing as t
from html.parser import HTMLParser

from flask_qbo.models import ImportMatch
from flask_qbo.views.csrf import SESSION_KEY
from tests.conftest import login
from tests.hostapp import ACME_ADMIN
from tests.hostapp import ACME_USER
from tests.hostapp import GLOBEX_ADMIN
from tests.hostapp import Contact
from tests.hostapp import db
from tests.sync.pull.pull_support import add_customer
from tests.sync.pull.pull_support import make_contact
from tests.views.test_importing_views import finish_fetching
from tests.views.test_importing_views import latest
from tests.views.test_importing_views import start_run
from tests.views.test_importing_views import token

VOID = {"input", "br", "meta", "link", "img", "hr", "source", "wbr"}


@dataclasses.dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = dataclasses.field(default_factory=list)

    def text(self) -> str:
        return " ".join("".join(c if isinstance(c, str) else " " + c.text() + " " for c in self.children).split())

    def find(self, tag: str, **attrs: str) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if child.tag == tag and all(
                    child.attrs.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items()
                ):
                    found.append(child)
                found.extend(child.find(tag, **attrs))
        return found


class Tree(HTMLParser):
    """A page as nested :class:`Node` objects (enough for the extension's own, well-formed templates)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("root", {})
        self.stack = [self.root]
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v if v is not None else "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        while len(self.stack) > 1 and self.stack.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    return Tree(html).root


def rows(page: Node) -> dict[str, Node]:
    """The review table's rows by QBO customer id."""
    return {tr.attrs["data-qbo-match"]: tr for tr in page.find("tr") if "data-qbo-match" in tr.attrs}


def label_of(page: Node, control: Node) -> str:
    (label,) = page.find("label", for_=control.attrs["id"])
    return label.text()


def choices(page: Node, row: Node) -> dict[str, str]:
    """A row's options: ``{radio value: its label}``."""
    return {r.attrs["value"]: label_of(page, r) for r in row.find("input", type="radio")}


def checked(row: Node) -> list[str]:
    return [r.attrs["value"] for r in row.find("input", type="radio") if "checked" in r.attrs]


def review_page(client: t.Any, run_id: int, **query: str) -> tuple[str, Node]:
    resp = client.get(f"/qbo/import/{run_id}/review", query_string=query)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    return html, parse(html)


def save(client: t.Any, run_id: int, qbo_id: str, decision: str, **form: str) -> t.Any:
    data = {"csrf_token": token(client, f"/qbo/import/{run_id}/review"), "qbo_id": qbo_id, "decision": decision}
    return client.post(f"/qbo/import/{run_id}/review", data={**data, **form}, follow_redirects=True)


def decision_of(app: t.Any, run_id: int, qbo_id: str) -> tuple[str, str | None]:
    with app.app_context():
        match = db.session.query(ImportMatch).filter_by(run_id=run_id, qbo_id=qbo_id).one()
        return match.decision, match.contact_key


def in_review(app: t.Any, client: t.Any, emulator: t.Any) -> tuple[int, dict[str, str], dict[str, str]]:
    """An import in review with an exact, an ambiguous, an unmatched and a hostile customer."""
    keys = {
        "exact": str(make_contact(app, first_name="Eve", last_name="Exact", email="eve@x.test")),
        "twin1": str(make_contact(app, first_name="Tia", last_name="Twin", email="twin@x.test")),
        "twin2": str(make_contact(app, first_name="<i>Tom</i>", last_name="Twin & Co", email="twin@x.test")),
        "other": str(make_contact(app, first_name="Olga", last_name="Other", email="olga@x.test")),
    }
    ids = {
        "exact": add_customer(
            emulator, GivenName="Eve", FamilyName="Exact", PrimaryEmailAddr={"Address": "eve@x.test"}
        ),
        "twin": add_customer(emulator, GivenName="Tw", FamilyName="In", PrimaryEmailAddr={"Address": "twin@x.test"}),
        "none": add_customer(emulator, GivenName="Nora", FamilyName="Nobody"),
        "evil": add_customer(
            emulator, DisplayName='<script>alert("x")</script> & Sons', GivenName="Ev", FamilyName="Il"
        ),
    }
    login(client, ACME_ADMIN)
    start_run(client)
    run = latest(app)
    finish_fetching(client, run.id)
    return run.id, keys, {name: c["Id"] for name, c in ids.items()}


def test_each_row_is_one_labelled_decision_and_no_contact_key_is_asked(app, client, emulator, connected):
    run_id, keys, ids = in_review(app, client, emulator)
    html, page = review_page(client, run_id)
    assert "key" not in html.lower().replace("keyup", "")  # no "contact key" anywhere
    table = rows(page)
    assert set(table) == set(ids.values())
    for row in table.values():
        (form,) = row.find("form")
        (fieldset,) = form.find("fieldset")
        (legend,) = fieldset.find("legend")
        assert legend.text().startswith("What to do with ")
        radios = form.find("input", type="radio")
        assert radios and {r.attrs["name"] for r in radios} == {"decision"}  # one group: one decision
        assert [b.text() for b in form.find("button")] == ["Save"]  # one button; Enter anywhere submits
        assert not [b for b in form.find("button") if b.attrs.get("type") != "submit"]
        for control in form.find("input") + form.find("select"):
            if control.attrs.get("type") != "hidden":
                assert label_of(page, control), control.attrs  # every control is labelled
        (search,) = form.find("input", type="search")
        assert label_of(page, search) == "Find a contact by name or email"
        assert "placeholder" not in search.attrs
        assert checked(row) == []  # nothing is decided until the admin says so
        assert row.find("span", data_qbo_status="")[0].text() == "Not decided yet"

    exact = choices(page, table[ids["exact"]])
    assert exact == {
        f"link:{keys['exact']}": "Link to Eve Exact (suggested)",
        "find": "Link to another contact…",
        "create": "Create a new contact",
        "skip": "Skip (leave it unlinked)",
    }
    twin = choices(page, table[ids["twin"]])
    assert twin[f"link:{keys['twin1']}"] == "Link to Tia Twin"
    assert twin[f"link:{keys['twin2']}"] == "Link to <i>Tom</i> Twin & Co"  # text, not markup
    assert list(choices(page, table[ids["none"]])) == ["find", "create", "skip"]
    assert choices(page, table[ids["none"]])["find"] == "Link to a contact…"


def test_qbo_and_crm_names_are_escaped_in_rows_and_labels(app, client, emulator, connected):
    run_id, keys, ids = in_review(app, client, emulator)
    html, page = review_page(client, run_id)
    assert "<script>alert" not in html and "<i>Tom</i>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Sons" in html
    assert "&lt;i&gt;Tom&lt;/i&gt; Twin &amp; Co" in html
    evil = rows(page)[ids["evil"]]
    (legend,) = evil.find("legend")
    assert legend.text() == 'What to do with <script>alert("x")</script> & Sons'
    assert not page.find("script", type="") and not page.find("i")


def test_decisions_save_through_the_review_post_and_show_as_chosen(app, client, emulator, connected):
    run_id, keys, ids = in_review(app, client, emulator)
    resp = save(client, run_id, ids["twin"], f"link:{keys['twin2']}")
    assert resp.status_code == 200 and resp.history[0].status_code == 302
    assert decision_of(app, run_id, ids["twin"]) == ("link", keys["twin2"])
    save(client, run_id, ids["none"], "create")
    save(client, run_id, ids["evil"], "skip")
    save(client, run_id, ids["exact"], "find", q="olga@x.test")
    assert decision_of(app, run_id, ids["exact"]) == ("link", keys["other"])
    assert decision_of(app, run_id, ids["none"]) == ("create", None)
    assert decision_of(app, run_id, ids["evil"]) == ("skip", None)

    _, page = review_page(client, run_id)
    table = rows(page)
    assert checked(table[ids["twin"]]) == [f"link:{keys['twin2']}"]
    assert checked(table[ids["none"]]) == ["create"] and checked(table[ids["evil"]]) == ["skip"]
    assert checked(table[ids["exact"]]) == [f"link:{keys['other']}"]
    assert choices(page, table[ids["exact"]])[f"link:{keys['other']}"] == "Link to Olga Other"
    status = table[ids["twin"]].find("span", data_qbo_status="")[0].text()
    assert status == "Saved: Link to <i>Tom</i> Twin & Co"

    # A second row cannot take a contact another row chose, whichever way it is picked.
    page_text = save(client, run_id, ids["none"], f"link:{keys['twin2']}").get_data(as_text=True)
    assert "already chosen for QuickBooks customer" in page_text
    assert decision_of(app, run_id, ids["none"]) == ("create", None)

    csrf = token(client, f"/qbo/import/{run_id}/review")
    assert client.post(f"/qbo/import/{run_id}/apply", data={"csrf_token": csrf}).status_code == 302
    with app.app_context():
        linked = {c.id: c.first_name for c in db.session.query(Contact).filter_by(tenant="acme")}
        assert linked[int(keys["other"])] == "Eve"  # QBO's value won on the linked contact
        assert "Nora" in linked.values()  # created


def test_the_review_post_is_admin_only_csrf_checked_and_tenant_scoped(app, client, emulator, connected):
    run_id, keys, ids = in_review(app, client, emulator)
    foreign = str(make_contact(app, tenant="globex", first_name="Gus", last_name="Globex", email="gus@x.test"))
    form = {"qbo_id": ids["none"], "decision": f"link:{keys['other']}"}
    assert client.post(f"/qbo/import/{run_id}/review", data=form).status_code == 400  # no CSRF token
    page_text = save(client, run_id, ids["none"], f"link:{foreign}").get_data(as_text=True)
    assert f"No contact with key &#39;{foreign}&#39; in this account" in page_text
    page_text = save(client, run_id, ids["none"], f"link:0{keys['other']}").get_data(as_text=True)
    assert f"&#39;0{keys['other']}&#39; is not a contact key" in page_text  # one spelling per contact
    page_text = save(client, run_id, ids["none"], "find", q="gus@x.test").get_data(as_text=True)
    assert "No contact matches “gus@x.test”" in page_text
    assert decision_of(app, run_id, ids["none"]) == ("pending", None)
    csrf = token(client, f"/qbo/import/{run_id}/review")
    login(client, ACME_USER)
    resp = client.post(f"/qbo/import/{run_id}/review", data={**form, "csrf_token": csrf})
    assert resp.status_code in (400, 403)
    login(client, GLOBEX_ADMIN)
    with client.session_transaction() as session:
        session[SESSION_KEY] = "globex-token"
    resp = client.post(f"/qbo/import/{run_id}/review", data={**form, "csrf_token": "globex-token"})
    assert resp.status_code == 404
    assert decision_of(app, run_id, ids["none"]) == ("pending", None)


def test_the_search_list_is_labelled_and_chooses_the_find_option(app, client, emulator, connected):
    run_id, keys, ids = in_review(app, client, emulator)
    with app.app_context():
        row = db.session.query(ImportMatch).filter_by(run_id=run_id, qbo_id=ids["none"]).one().id
    html = client.get(f"/qbo/import/{run_id}/contacts", query_string={"q": "olga", "qbo_id": ids["none"]})
    found = parse(html.get_data(as_text=True))
    (select,) = found.find("select")
    assert select.attrs["id"] == f"qbo-row-{row}-pick" and select.attrs["data-qbo-choose"] == f"qbo-row-{row}-find"
    assert label_of(found, select) == "Matching contacts"
    assert [o.attrs["value"] for o in select.find("option") if "selected" in o.attrs] == [keys["other"]]
    none = parse(client.get(f"/qbo/import/{run_id}/contacts", query_string={"q": "zzz"}).get_data(as_text=True))
    assert not none.find("select") and none.text() == "No contact matches “zzz”."


def test_the_preview_names_fields_by_their_labels(app, client, emulator, connected):
    run_id, keys, ids = in_review(app, client, emulator)
    with app.app_context():
        contact = db.session.get(Contact, int(keys["other"]))
        contact.billing_postal_code = "90210"
        db.session.commit()
    save(client, run_id, ids["none"], "find", q="olga")
    html, page = review_page(client, run_id, preview="1")
    (item,) = [d for d in page.find("div") if d.attrs.get("data-qbo-preview-id") == ids["none"]]
    changes = [li.text() for li in item.find("li")]
    assert "Contact · First name: Olga → Nora" in changes
    assert "QuickBooks · Billing postal code: (empty) → 90210" in changes
    assert not [c for c in changes if "_" in c or "BillAddr" in c or "GivenName" in c]


def test_accept_all_exact_shows_only_while_an_exact_row_is_left_and_emails_wrap_at_at_and_dots(
    app, client, emulator, connected
):
    run_id, keys, ids = in_review(app, client, emulator)
    html, _ = review_page(client, run_id)
    assert "Accept all exact matches" in html
    assert "<small>eve@<wbr>x.<wbr>test</small>" in html  # wraps after "@" or ".", never mid-word
    csrf = token(client, f"/qbo/import/{run_id}/review")
    client.post(f"/qbo/import/{run_id}/review", data={"csrf_token": csrf, "action": "accept_exact"})
    assert decision_of(app, run_id, ids["exact"]) == ("link", keys["exact"])
    html, _ = review_page(client, run_id)
    assert "Accept all exact matches" not in html  # nothing left for it to accept
