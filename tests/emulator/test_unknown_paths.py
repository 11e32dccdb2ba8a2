"""Nothing under ``/v3/`` answers with an HTML error page (issue 15, item 8).

QBO answers a path or method none of its resources serves with HTTP 400 and a
``ValidationFault`` code 500 "Unsupported Operation" whose Detail names the
relative and the full path, as JSON or, when the client asks for XML, as an
``IntuitResponse`` document (bodies quoted in minimul/qbo_api#81 and
IntuitDeveloper/SampleApp-CRUD-PHP#7).
"""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from werkzeug.exceptions import RequestEntityTooLarge

from .conftest import BASE_URL

XML = "{http://schema.intuit.com/finance/v3}"


def assert_unsupported(response, path: str) -> None:
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    error = body["Fault"]["Error"][0]
    assert body["Fault"]["type"] == "ValidationFault" and body["time"]
    assert (error["code"], error["Message"]) == ("500", "Unsupported Operation")
    assert error["Detail"].startswith(f"Operation Could not find resource for relative : {path} of full path: ")
    assert error["Detail"].endswith(" is not supported.")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v3/company/{realm}/customer/1/history/2"),
        ("GET", "/v3/company/customer"),
        ("GET", "/v3/nowhere"),
        ("POST", "/v3/company/{realm}/customer/1/close/now"),
    ],
)
def test_unknown_paths_answer_a_json_fault(api, method, path):
    path = path.format(realm=api.realm)
    response = api.session.request(method, BASE_URL + path, headers=api.headers())
    assert_unsupported(response, path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "customer"),  # the entity endpoint only takes POST
        ("DELETE", "customer/1"),
        ("PUT", "invoice/1"),
        ("PATCH", "preferences"),
        ("DELETE", "query"),
    ],
)
def test_wrong_methods_answer_a_json_fault(api, method, path):
    response = api.session.request(method, api.url(path), headers=api.headers())
    assert_unsupported(response, f"/v3/company/{api.realm}/{path}")


def test_xml_when_the_client_asks_for_xml(api):
    response = api.session.get(api.url("customer"), headers=api.headers({"Accept": "application/xml"}))
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/xml")
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"')
    root = ElementTree.fromstring(response.content)
    assert root.tag == f"{XML}IntuitResponse" and root.get("time")
    fault = root.find(f"{XML}Fault")
    assert fault is not None and fault.get("type") == "ValidationFault"
    error = fault.find(f"{XML}Error")
    assert error is not None and error.get("code") == "500" and error.get("element") is None
    assert error.findtext(f"{XML}Message") == "Unsupported Operation"
    assert "is not supported." in (error.findtext(f"{XML}Detail") or "")

    missing = api.session.get(api.url("invoice/404"), headers=api.headers({"Accept": "text/xml"}))
    assert missing.status_code == 400 and missing.headers["Content-Type"].startswith("application/xml")
    assert ElementTree.fromstring(missing.content).find(f"{XML}Fault/{XML}Error").get("code") == "610"

    long_id = api.session.post(
        api.url("customer"),
        params={"requestid": "x" * 51},
        json={"DisplayName": "Long"},
        headers=api.headers({"Accept": "application/xml"}),
    )
    assert ElementTree.fromstring(long_id.content).find(f"{XML}Fault/{XML}Error").get("element") == "requestid"


def test_json_stays_the_default(api):
    for accept in ("*/*", "application/json, application/xml", "application/json;q=0.9, application/xml;q=0.5"):
        response = api.session.get(api.url("customer"), headers=api.headers({"Accept": accept}))
        assert_unsupported(response, f"/v3/company/{api.realm}/customer")


def test_a_crash_is_a_system_fault_not_a_page(api, emulator, monkeypatch):
    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(emulator.store, "read", explode)
    response = api.get("customer/1")
    assert response.status_code == 500
    body = response.json()
    assert body["Fault"]["type"] == "SystemFault" and body["Fault"]["Error"][0]["code"] == "10000"
    assert "boom" not in response.text


def test_other_http_errors_keep_their_status_as_a_fault(api, emulator, monkeypatch):
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise RequestEntityTooLarge("The request is larger than the server accepts.")

    monkeypatch.setattr(emulator.store, "read", refuse)
    response = api.get("customer/1")
    assert response.status_code == 413
    error = api.error(response)
    assert error["code"] == "2010" and error["Detail"] == "The request is larger than the server accepts."


def test_pages_outside_the_api_keep_their_own_errors(api):
    response = api.session.get(f"{BASE_URL}/app/no-such-page")
    assert response.status_code == 404 and "Fault" not in response.text
