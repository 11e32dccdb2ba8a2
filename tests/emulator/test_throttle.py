"""Per-realm throttling with windows shrunk by time_scale (facts §8)."""

from __future__ import annotations

import threading

import pytest

from flask_qbo.emulator import Emulator
from flask_qbo.emulator import EmulatorConfig


def make(time_scale: float = 60.0, **limits):
    emu = Emulator(EmulatorConfig(time_scale=time_scale, **limits))
    emu.add_company("1", "Throttled Co")
    emu.add_company("2", "Other Co")
    return emu


def session_for(emu, realm):
    session = emu.http_session()
    session.headers["Authorization"] = "Bearer " + emu.issue_tokens(realm)["access_token"]
    return session, f"http://qbo.emulator.test/v3/company/{realm}/companyinfo/{realm}"


def test_rate_limit_per_realm_with_retry_after():
    emu = make(rate_per_minute=5)
    session, url = session_for(emu, "1")
    assert [session.get(url).status_code for _ in range(5)] == [200] * 5
    resp = session.get(url)
    assert resp.status_code == 429
    fault = resp.json()["Fault"]
    assert fault["type"] == "SERVICE" and fault["Error"][0]["code"] == "3001"
    assert fault["Error"][0]["Detail"] == "The request limit was reached.  Try again later"
    assert int(resp.headers["Retry-After"]) >= 1
    other, other_url = session_for(emu, "2")
    assert other.get(other_url).status_code == 200  # another realm is unaffected
    assert emu.counters["1"]["throttled"] == 1
    emu.clock.advance(1.0)  # 60 s window / time_scale 60
    assert session.get(url).status_code == 200


def test_default_limits_allow_500_per_minute():
    emu = make(time_scale=1.0)  # a real 60 s window: 501 calls always fit inside it
    session, url = session_for(emu, "1")
    codes = [session.get(url).status_code for _ in range(501)]
    assert codes.count(200) == 500 and codes[-1] == 429


def test_batch_limit():
    emu = make(batch_per_minute=2)
    session, _ = session_for(emu, "1")
    url = "http://qbo.emulator.test/v3/company/1/batch"
    body = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Term"}]}
    assert [session.post(url, json=body).status_code for _ in range(3)] == [200, 200, 429]
    assert session.get("http://qbo.emulator.test/v3/company/1/companyinfo/1").status_code == 200
    assert emu.counters["1"]["batch"] == 2


@pytest.mark.timeout(10)
def test_concurrency_limit():
    emu = make(max_concurrent=2)
    emu.faults.add_latency(0.3, n=None, path_contains="/companyinfo/")
    session, url = session_for(emu, "1")
    results: list[int] = []

    def call() -> None:
        results.append(emu.http_session().get(url, headers=session.headers).status_code)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 200, 429, 429]
