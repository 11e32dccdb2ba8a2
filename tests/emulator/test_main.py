"""``python -m flask_qbo.emulator``: argument handling, building, and a real server run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from flask_qbo.config import DEFAULTS
from flask_qbo.emulator import Emulator
from flask_qbo.emulator import EmulatorConfig
from flask_qbo.emulator.__main__ import banner
from flask_qbo.emulator.__main__ import build_emulator
from flask_qbo.emulator.__main__ import parse_args
from flask_qbo.emulator.seed import DEMO_REALM
from flask_qbo.emulator.seed import SECOND_REALM
from flask_qbo.emulator.seed import seed_company
from flask_qbo.emulator.snapshot import save


def test_defaults_and_validation() -> None:
    args = parse_args([])
    assert (args.host, args.port, args.webhook_format, args.time_scale, args.auto_approve) == (
        "127.0.0.1",
        5055,  # QBO_EMULATOR_URL's default port: a host pointed at "the emulator" finds it
        "cloudevents",
        1.0,
        False,
    )
    with pytest.raises(SystemExit):
        parse_args(["--time-scale", "0"])
    with pytest.raises(SystemExit):
        parse_args(["--webhook-format", "xml"])


def test_the_emulator_listens_where_hosts_look_for_it() -> None:
    """``QBO_EMULATOR_URL``'s default is the address ``python -m flask_qbo.emulator`` serves (issue 20, item 7)."""
    args = parse_args([])
    assert DEFAULTS["QBO_EMULATOR_URL"] == f"http://{args.host}:{args.port}"


def test_build_seeds_demo_companies_before_webhooks_are_on() -> None:
    args = parse_args(
        [
            "--port",
            "5123",
            "--webhook-url",
            "http://crm.test/qbo/webhook",
            "--webhook-format",
            "legacy",
            "--time-scale",
            "50",
            "--auto-approve",
        ]
    )
    emu = build_emulator(args)
    assert emu.config.base_url == "http://127.0.0.1:5123"
    assert (emu.config.time_scale, emu.config.auto_approve) == (50.0, True)
    assert [realm for realm, _ in emu.store.companies()] == [DEMO_REALM, SECOND_REALM]
    status = emu.webhooks.status()
    assert status["url"] == "http://crm.test/qbo/webhook"
    assert status["format"] == "legacy"
    assert status["events"] == 0
    text = banner(emu, args.webhook_url)
    for expected in (
        emu.config.client_id,
        emu.config.client_secret,
        emu.config.webhook_verifier_token,
        emu.config.default_user[0],
        emu.config.default_user[1],
        DEMO_REALM,
        "Ocean View Traders",
    ):
        assert expected in text


def test_build_loads_data_file_instead_of_seeding(tmp_path: Path) -> None:
    source = Emulator(EmulatorConfig())
    seed_company(source, "4620816365000000001", "Saved Co", customers=3, txns_per_customer=2)
    path = tmp_path / "snapshot.json"
    save(source, path)
    emu = build_emulator(parse_args(["--data", str(path)]))
    assert emu.store.companies() == [("4620816365000000001", "Saved Co")]
    assert len(emu.store.list("4620816365000000001", "Customer", include_inactive=True)) == 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(60)
def test_standalone_server_serves_ui_and_discovery(tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "emulator.json"
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "flask_qbo.emulator", "--port", str(port), "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = requests.get(f"{base}/app/customers", timeout=2)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stdout.read() if process.stdout else "no output") from None
                time.sleep(0.2)
        assert page.status_code == 200
        assert "Craig&#39;s Design and Landscaping Services" in page.text
        discovery = requests.get(f"{base}/.well-known/openid_configuration", timeout=5)
        assert discovery.status_code == 200
        assert discovery.json()["authorization_endpoint"].startswith(base)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    assert f"base URL         {base}" in output
    assert json.loads(data.read_text())["companies"][0]["realm"] == DEMO_REALM


def test_issuer_flag_sets_the_openid_issuer() -> None:
    assert parse_args([]).issuer is None
    emu = build_emulator(parse_args(["--issuer", "https://oauth.platform.intuit.com/op/v1"]))
    assert emu.config.issuer == "https://oauth.platform.intuit.com/op/v1"
    assert "OpenID issuer    https://oauth.platform.intuit.com/op/v1" in banner(emu, None)
