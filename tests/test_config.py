"""Configuration defaults, the mistyped-key guard, URL resolution and the generated docs list."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest
from flask import Flask

from flask_qbo import QBOConfigError
from flask_qbo.config import DEFAULTS
from flask_qbo.config import cdc_interval
from flask_qbo.config import get_config
from flask_qbo.config import resolve_urls

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_defaults_applied_without_overriding_host(app) -> None:
    assert app.config["QBO_MINOR_VERSION"] == 75
    assert app.config["QBO_URL_PREFIX"] == "/qbo"
    assert app.config["QBO_ENVIRONMENT"] == "emulator"  # the host's value wins


def test_mistyped_key_fails(app) -> None:
    with app.app_context():
        with pytest.raises(QBOConfigError, match="QBO_CLIENTID"):
            get_config("QBO_CLIENTID")


@pytest.mark.parametrize(
    ("env", "api", "app_host"),
    [
        ("production", "https://quickbooks.api.intuit.com", "https://app.qbo.intuit.com"),
        ("sandbox", "https://sandbox-quickbooks.api.intuit.com", "https://app.sandbox.qbo.intuit.com"),
    ],
)
def test_intuit_urls_per_environment(env: str, api: str, app_host: str) -> None:
    flask_app = Flask(__name__)
    flask_app.config.update(DEFAULTS, QBO_ENVIRONMENT=env)
    urls = resolve_urls(flask_app)
    assert urls["api"] == api
    assert urls["app"] == app_host
    assert urls["authorize"] == "https://appcenter.intuit.com/connect/oauth2"
    assert urls["token"] == "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"


def test_emulator_urls_use_intuit_paths_and_overrides_win() -> None:
    flask_app = Flask(__name__)
    flask_app.config.update(DEFAULTS, QBO_ENVIRONMENT="emulator", QBO_EMULATOR_URL="http://127.0.0.1:9/")
    urls = resolve_urls(flask_app)
    assert urls["authorize"] == "http://127.0.0.1:9/connect/oauth2"
    assert urls["token"] == "http://127.0.0.1:9/oauth2/v1/tokens/bearer"
    flask_app.config["QBO_APP_BASE_URL"] = "https://qbo.example/"
    assert resolve_urls(flask_app)["app"] == "https://qbo.example"


def test_bad_environment_is_refused() -> None:
    flask_app = Flask(__name__)
    flask_app.config.update(DEFAULTS, QBO_ENVIRONMENT="staging")
    with pytest.raises(QBOConfigError, match="staging"):
        resolve_urls(flask_app)


def test_cdc_interval_depends_on_webhooks() -> None:
    flask_app = Flask(__name__)
    flask_app.config.update(DEFAULTS)
    assert cdc_interval(flask_app) == 60
    flask_app.config["QBO_WEBHOOK_VERIFIER_TOKEN"] = "v"
    assert cdc_interval(flask_app) == 900
    flask_app.config["QBO_CDC_INTERVAL"] = 5
    assert cdc_interval(flask_app) == 5


def test_docs_list_every_key_with_its_comment() -> None:
    spec = importlib.util.spec_from_file_location("qbo_config_ext", ROOT / "docs" / "_ext" / "qbo_config.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    entries = module.config_entries((ROOT / "flask_qbo" / "config.py").read_text())
    assert [key for key, _, _ in entries] == list(DEFAULTS)
    assert all(comment for _, _, comment in entries), "every key needs a comment in config.py"
