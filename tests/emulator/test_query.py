"""The query language: grammar, filters, paging, errors and shapes (facts §5)."""

from __future__ import annotations

import pytest


@pytest.fixture
def people(api):
    names = ["Amy's Bird Sanctuary", "Bill's Windsurf Shop", "Cool Cars", "Diego Rodriguez", "O'Brien Ltd"]
    created = [
        api.create_customer(DisplayName=n, PrimaryEmailAddr={"Address": f"c{i}@example.com"})
        for i, n in enumerate(names)
    ]
    gone = api.create_customer(DisplayName="Zed Gone")
    api.post("customer", {"Id": gone["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    return created


def rows(resp, entity="Customer"):
    assert resp.status_code == 200, resp.text
    return resp.json()["QueryResponse"].get(entity, [])


def test_select_star_returns_active_only_with_paging_fields(api, people):
    body = api.query("SELECT * FROM Customer").json()
    assert "time" in body
    qr = body["QueryResponse"]
    assert len(qr["Customer"]) == 5 and qr["startPosition"] == 1 and qr["maxResults"] == 5


def test_active_filter_overrides_default(api, people):
    assert [c["DisplayName"] for c in rows(api.query("select * from Customer where Active = false"))] == [
        "Zed Gone (deleted)"
    ]
    assert len(rows(api.query("select * from Customer where Active IN (true, false)"))) == 6


def test_count(api, people):
    assert api.query("SELECT COUNT(*) FROM Customer").json()["QueryResponse"] == {"totalCount": 5}


def test_empty_result_shape(api, people):
    body = api.query("select * from Customer where DisplayName = 'Nobody'").json()
    assert body["QueryResponse"] == {}


def test_escaped_quote_and_like(api, people):
    assert (
        rows(api.query("select * from Customer where DisplayName = 'O\\'Brien Ltd'"))[0]["DisplayName"] == "O'Brien Ltd"
    )
    assert [c["DisplayName"] for c in rows(api.query("select * from Customer where DisplayName LIKE 'B%'"))] == [
        "Bill's Windsurf Shop"
    ]
    assert len(rows(api.query("select * from Customer where DisplayName like '%s%'"))) == 3


def test_in_and_comparison_and_entity_case(api, people):
    ids = [people[0]["Id"], people[2]["Id"]]
    got = rows(api.query(f"select * from customer where Id in ('{ids[0]}', '{ids[1]}')"))
    assert sorted(c["Id"] for c in got) == sorted(ids)
    assert len(rows(api.query("select * from Customer where Id > '2'"))) == 3
    assert len(rows(api.query("select * from Customer where Id >= 2 AND Id <= 3"))) == 2


def test_in_takes_a_thousand_ids_posted_as_the_body(api, people):
    """A bulk read: 1000 ids, most of them missing, in one statement too long for a URL."""
    inactive = rows(api.query("select * from Customer where Active = false"))[0]["Id"]
    wanted = [p["Id"] for p in people] + [inactive] + [str(900000 + i) for i in range(994)]
    statement = f"SELECT * FROM Customer WHERE Id IN ({', '.join(repr(i) for i in wanted)})"
    assert len(wanted) == 1000 and len(statement) > 8000

    def post(stmt):
        return api.session.post(
            api.url("query"), data=stmt.encode(), headers=api.headers({"Content-Type": "application/text"})
        )

    got = rows(post(statement + " AND Active IN (true, false) MAXRESULTS 1000"))
    assert sorted(c["Id"] for c in got) == sorted(wanted[:6], key=int)
    assert inactive not in {c["Id"] for c in rows(post(statement))}  # name lists hide inactive unless asked


def test_equality_sets_compare_like_single_comparisons(api, people):
    """``=``/``IN`` over plain literals: numbers as numbers, text without case, booleans never as text."""
    first = people[0]["Id"]
    assert [c["Id"] for c in rows(api.query(f"select * from Customer where Id IN ('{first}.0', 'x')"))] == [first]
    assert [c["Id"] for c in rows(api.query(f"select * from Customer where Id = {first}"))] == [first]
    got = rows(api.query("select * from Customer where DisplayName IN ('cool cars', 'DIEGO RODRIGUEZ')"))
    assert sorted(c["DisplayName"] for c in got) == ["Cool Cars", "Diego Rodriguez"]
    assert rows(api.query("select * from Customer where Active IN ('true')")) == []


def test_orderby_and_pagination(api, people):
    names = [c["DisplayName"] for c in rows(api.query("select * from Customer ORDERBY DisplayName DESC"))]
    assert names == sorted(names, reverse=True)
    page = api.query("select * from Customer ORDERBY DisplayName STARTPOSITION 2 MAXRESULTS 2").json()["QueryResponse"]
    assert [c["DisplayName"] for c in page["Customer"]] == ["Bill's Windsurf Shop", "Cool Cars"]
    assert page["startPosition"] == 2 and page["maxResults"] == 2


def test_metadata_filters(api, people, emulator):
    emulator.clock.advance(600)
    later = api.create_customer(DisplayName="Later")
    stamp = later["MetaData"]["CreateTime"]
    got = rows(api.query(f"select * from Customer where MetaData.LastUpdatedTime >= '{stamp}'"))
    assert [c["Id"] for c in got] == [later["Id"]]
    day = stamp[:10]
    assert len(rows(api.query(f"select * from Customer Where Metadata.CreateTime > '{day}'"))) >= 1


def test_customer_ref_filter_on_transactions(api, people):
    cust = people[0]
    api.create("Invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [api.line(10)], "TxnDate": "2026-01-01"})
    api.create("Invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [api.line(20)], "TxnDate": "2026-02-01"})
    api.create("Invoice", {"CustomerRef": {"value": people[1]["Id"]}, "Line": [api.line(30)]})
    got = rows(api.query(f"SELECT * FROM Invoice WHERE CustomerRef = '{cust['Id']}' ORDERBY TxnDate DESC"), "Invoice")
    assert [i["TotalAmt"] for i in got] == [20, 10]
    assert len(rows(api.query("select * from Invoice where TotalAmt > '15.00'"), "Invoice")) == 2
    assert len(rows(api.query("select * from Invoice where Balance > 15"), "Invoice")) == 2


def test_projection(api, people):
    got = rows(api.query("select Id, DisplayName from Customer maxresults 1"))
    assert set(got[0]) == {"Id", "DisplayName"}
    resp = api.query("select BillAddr from Customer")
    assert api.error(resp)["code"] == "4001"


@pytest.mark.parametrize(
    "statement,fragment",
    [
        ("select * from Customer where DisplayName = 'a' OR DisplayName = 'b'", 'Encountered " <KEYWORD> "OR'),
        ("select * from Customer where", "Encountered"),
        ("select from Customer", "Encountered"),
        ("select * from Customer where DisplayName == 'x'", "Encountered"),
        ("select * from Customer where DisplayName = 'unterminated", "Encountered"),
    ],
)
def test_parser_errors_are_4000(api, statement, fragment):
    resp = api.query(statement)
    assert resp.status_code == 400
    err = api.error(resp)
    assert err["code"] == "4000" and err["Detail"].startswith("QueryParserError: Encountered")
    assert fragment in err["Detail"]


def test_validation_errors_are_4001(api, people):
    err = api.error(api.query("select * from Customer where NoSuchField = 'x'"))
    assert err["code"] == "4001"
    assert err["Detail"] == "QueryValidationError: Property NoSuchField not found for Entity Customer"
    err = api.error(api.query("select * from Customer startposition 0"))
    assert err["code"] == "4001" and "Min allowed value is 1" in err["Detail"]
    err = api.error(api.query("select * from Customer maxresults 1001"))
    assert err["code"] == "4001"
    assert api.error(api.query("select * from Invoice where Notes = 'x'"))["code"] == "4001"


def test_default_maxresults_is_100(api, emulator, realm):
    for i in range(120):
        emulator.store.create(realm, "Customer", {"DisplayName": f"Bulk {i:03d}"})
    qr = api.query("select * from Customer").json()["QueryResponse"]
    assert qr["maxResults"] == 100
    assert api.query("select count(*) from Customer").json()["QueryResponse"]["totalCount"] == 120


def test_query_by_post_with_text_body(api, people):
    for content_type in ("application/text", "text/plain"):
        resp = api.session.post(
            api.url("query"),
            data="select * from Customer maxresults 2",
            headers=api.headers({"Content-Type": content_type}),
        )
        assert len(rows(resp)) == 2


def test_term_payment_method_and_company_info(api):
    terms = rows(api.query("select * from Term"), "Term")
    assert [t["Name"] for t in terms] == ["Due on receipt", "Net 15", "Net 30", "Net 60"]
    assert terms[3]["DueDays"] == 60 and terms[3]["Type"] == "STANDARD"
    methods = rows(api.query("select * from PaymentMethod"), "PaymentMethod")
    assert {m["Name"]: m["Type"] for m in methods}["Visa"] == "CREDIT_CARD"
    assert len(methods) == 7
    info = api.get(f"companyinfo/{api.realm}").json()["CompanyInfo"]
    assert info["Id"] == api.realm and info["CompanyName"] == "Sandbox Company US"
    assert rows(api.query("select * from CompanyInfo"), "CompanyInfo")[0]["Id"] == api.realm
    term = api.create("Term", {"Name": "Net 45", "DueDays": 45})
    assert term["Type"] == "STANDARD" and api.get(f"term/{term['Id']}").json()["Term"]["DueDays"] == 45
    method = api.create("PaymentMethod", {"Name": "Wire", "Type": "NON_CREDIT_CARD"})
    assert api.get(f"paymentmethod/{method['Id']}").json()["PaymentMethod"]["Name"] == "Wire"
    assert api.error(api.post("term", {"Name": "net 45"}))["code"] == "6240"


def test_store_query_python_api(emulator, realm, api, people):
    result = emulator.store.query(realm, "select count(*) from Customer")
    assert result == {"QueryResponse": {"totalCount": 5}}


def test_email_in_finds_customers_by_address_case_blind(api, people):
    """The batched create's lookup: ``PrimaryEmailAddr IN`` with inactive customers included."""
    statement = (
        "select * from Customer where PrimaryEmailAddr IN ('C1@example.com', 'c3@example.com', 'nobody@x.io') "
        "AND Active IN (true, false)"
    )
    assert sorted(c["DisplayName"] for c in rows(api.query(statement))) == ["Bill's Windsurf Shop", "Diego Rodriguez"]


def test_a_company_that_refuses_email_in_answers_4001_on_the_endpoint_and_in_batches(api, emulator, people):
    emulator.config.refused_in = ("PrimaryEmailAddr",)
    resp = api.query("select * from Customer where PrimaryEmailAddr IN ('c1@example.com')")
    assert resp.status_code == 400 and api.error(resp)["code"] == "4001"
    assert "PrimaryEmailAddr" in api.error(resp)["Detail"]
    # ``=`` still works, and so does IN on other properties; a batch query item is refused the same way.
    assert len(rows(api.query("select * from Customer where PrimaryEmailAddr = 'c1@example.com'"))) == 1
    assert len(rows(api.query("select * from Customer where DisplayName IN ('Cool Cars')"))) == 1
    batch = api.post(
        "batch",
        {
            "BatchItemRequest": [
                {"bId": "1", "Query": "select * from Customer where PrimaryEmailAddr IN ('c1@example.com')"},
                {"bId": "2", "Query": "select * from Customer where PrimaryEmailAddr = 'c1@example.com'"},
            ]
        },
    ).json()["BatchItemResponse"]
    assert batch[0]["Fault"]["Error"][0]["code"] == "4001"
    assert batch[1]["QueryResponse"]["Customer"][0]["DisplayName"] == "Bill's Windsurf Shop"


def test_a_page_presents_only_its_own_rows(api, emulator, realm, monkeypatch):
    """Paging a big table filters, sorts and slices stored rows; only the page is presented."""
    from flask_qbo.emulator import store as store_module

    for i in range(30):
        emulator.store.create(realm, "Customer", {"DisplayName": f"Paged {i:02d}"})
    presented = []
    real = store_module.present

    def counting(company, entity, obj, sums=None):
        presented.append(obj["Id"])
        return real(company, entity, obj, sums)

    monkeypatch.setattr(store_module, "present", counting)
    page = rows(api.query("select * from Customer ORDERBY DisplayName DESC STARTPOSITION 4 MAXRESULTS 3"))
    assert [c["DisplayName"] for c in page] == ["Paged 26", "Paged 25", "Paged 24"]
    assert sorted(presented) == sorted(c["Id"] for c in page)
    presented.clear()
    assert api.query("select count(*) from Customer").json()["QueryResponse"] == {"totalCount": 30}
    assert presented == []


def test_filters_see_stored_rows_as_the_client_does(api, people, emulator, realm):
    """A cleared property is absent for filters as in answers; derived balances filter, sort and page."""
    cleared = api.create_customer(DisplayName="Cleared Co", CompanyName="Was Here")
    api.post("customer", {"Id": cleared["Id"], "SyncToken": cleared["SyncToken"], "sparse": True, "CompanyName": ""})
    named = {c["DisplayName"] for c in rows(api.query("select * from Customer where CompanyName LIKE '%'"))}
    assert "Cleared Co" not in named
    blank = rows(api.query("select * from Customer where CompanyName = ' ' AND DisplayName = 'Cleared Co'"))
    assert [c["Id"] for c in blank] == [cleared["Id"]] and "CompanyName" not in blank[0]
    for amount, who in ((30, people[1]), (10, people[3]), (20, people[0])):
        api.create("Invoice", {"CustomerRef": {"value": who["Id"]}, "Line": [api.line(amount)]})
    page = rows(
        api.query("select * from Customer where Balance > '5' ORDERBY Balance DESC STARTPOSITION 2 MAXRESULTS 2")
    )
    assert [(c["Id"], c["Balance"]) for c in page] == [(people[0]["Id"], 20), (people[3]["Id"], 10)]
    assert [c["Id"] for c in rows(api.query("select * from Customer where BalanceWithJobs = '30'"))] == [
        people[1]["Id"]
    ]
