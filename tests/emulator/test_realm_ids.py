"""Company (realm) ids are ASCII digits wherever they enter the emulator.

``str.isdigit`` accepts fullwidth and Arabic-Indic digits, so a check built on
it lets a second spelling of a company id reach the store, the counters and the
fault rules.  The emulator keeps its own small check (it imports nothing from
the extension it stands in for Intuit against).
"""

from __future__ import annotations

import pytest

from .conftest import BASE_URL
from .conftest import OTHER_REALM
from .conftest import REALM

CONTROL = f"{BASE_URL}/_emulator"
MALFORMED = ["９１３０３５００００００００００１", "٩١٣٠", "1" * 33, "", "9130 35", "+9130350000000001"]
MALFORMED_IDS = ["fullwidth", "arabic-indic", "too-long", "empty", "space", "plus"]


def test_a_token_is_good_for_its_own_company_only(api, emulator):
    """What the connect flow's realm proof relies on: CompanyInfo of another company answers 403 / 3100."""
    emulator.add_company(OTHER_REALM, "Other Books")
    own = api.get(f"companyinfo/{REALM}")
    assert own.status_code == 200 and own.json()["CompanyInfo"]["Id"] == REALM
    other = api.session.get(f"{BASE_URL}/v3/company/{OTHER_REALM}/companyinfo/{OTHER_REALM}", headers=api.headers())
    assert other.status_code == 403
    error = other.json()["fault"]["error"][0]
    assert error["code"] == "3100" and "different company" in error["detail"]


@pytest.mark.parametrize(
    "bad_realm",
    ["９１３０３５００００００００００１", "٩١٣٠", "1" * 33, "+9130350000000001"],
    ids=["fullwidth", "arabic-indic", "too-long", "plus"],
)
def test_a_malformed_realm_in_the_api_path_is_refused_and_not_counted(api, emulator, bad_realm):
    path = f"{BASE_URL}/v3/company/{bad_realm}"
    with_token = api.session.get(f"{path}/companyinfo/{bad_realm}", headers=api.headers())
    assert with_token.status_code == 403
    error = with_token.json()["fault"]["error"][0]
    assert error["code"] == "3100" and "is not a company id" in error["detail"]
    anonymous = api.session.get(f"{path}/customer/1")
    assert anonymous.status_code == 401
    assert set(emulator.counters) == {REALM}, "a malformed realm got its own counters"


@pytest.mark.parametrize("bad_realm", MALFORMED, ids=MALFORMED_IDS)
def test_add_company_refuses_a_malformed_realm(emulator, bad_realm):
    with pytest.raises(ValueError, match="not a company id"):
        emulator.add_company(bad_realm, "Lookalike Books")
    assert emulator.store.companies() == []


@pytest.mark.parametrize(
    "bad_realm",
    ["９１３０３５００００００００００１", 9130350000000001, ["9130350000000001"], ""],
    ids=["fullwidth", "number", "list", "empty"],
)
@pytest.mark.parametrize("path", ["/tokens/expire", "/tokens/revoke", "/faults"])
def test_control_api_refuses_a_malformed_realm(emulator, bad_realm, path, api):
    response = emulator.http_session().post(f"{CONTROL}{path}", json={"realm": bad_realm})
    assert response.status_code == 400
    assert "not a company id" in response.json()["error"]
    assert emulator.faults.describe() == []
    assert api.get(f"companyinfo/{REALM}").status_code == 200, "the token was expired or revoked anyway"


def test_control_api_accepts_a_realm_or_none(emulator, api):
    session = emulator.http_session()
    assert session.post(f"{CONTROL}/tokens/expire", json={"realm": REALM}).json() == {"expired": 1}
    assert session.post(f"{CONTROL}/tokens/revoke", json={}).json() == {"revoked": 1}


@pytest.mark.parametrize("body", [b"[1]", b"realm=9130350000000001", b"{"], ids=["list", "form", "broken"])
def test_control_api_refuses_a_body_it_cannot_read(emulator, api, body):
    """Read as "no realm", such a body would revoke every company's tokens."""
    response = emulator.http_session().post(f"{CONTROL}/tokens/revoke", data=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(("the body must be a JSON object", "the body is not JSON"))
    assert api.get(f"companyinfo/{REALM}").status_code == 200
