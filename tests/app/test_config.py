"""Configuration comes from DOORSTEP_* variables; production refuses unsafe settings."""

from __future__ import annotations

import base64
import os

import pytest

from app import config as config_module
from app import pii
from app.config import (
    DEV_BLIND_INDEX_KEY,
    DEV_PII_KEYS,
    DEV_SECRET_KEY,
    SETTINGS,
    Config,
    ConfigError,
    check_production,
)
from compose import create_app

# Nothing listens on port 1: if the app tried to connect at start, it would fail loudly.
UNREACHABLE_PG = "postgresql+psycopg://doorstep:pw@127.0.0.1:1/doorstep"


def _b64(n: int = 32) -> str:
    return base64.b64encode(os.urandom(n)).decode()


def production_env(**overrides) -> dict:
    env = {
        "DOORSTEP_ENV": "production",
        "DOORSTEP_DATABASE_URL": UNREACHABLE_PG,
        "DOORSTEP_SECRET_KEY": "s" * 48,
        "DOORSTEP_PII_KEYS": f"k2026:{_b64()}",
        "DOORSTEP_BLIND_INDEX_KEY": _b64(),
        "DOORSTEP_SMS_SENDER": "sns",
        "DOORSTEP_METRICS_TOKEN": "m" * 40,
        "DOORSTEP_PUBLIC_URL": "https://doorstep.example.gov.cn",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def test_settings_are_read_from_the_given_environ_and_cast():
    config = Config(
        {
            "DOORSTEP_ACCESS_TOKEN_TTL": "60",
            "DOORSTEP_JWT_ISSUER": "https://x.example",
            "DOORSTEP_DATABASE_URL": "sqlite:////tmp/x.sqlite3",
            "DOORSTEP_TRUSTED_PROXIES": "2",
        }
    )
    assert config.ACCESS_TOKEN_TTL == 60
    assert config.TRUSTED_PROXIES == 2
    assert config.JWT_ISSUER == "https://x.example"
    assert config.SQLALCHEMY_DATABASE_URI == "sqlite:////tmp/x.sqlite3"


def test_unset_and_empty_settings_take_the_defaults():
    config = Config({"DOORSTEP_ACCESS_TOKEN_TTL": "", "DOORSTEP_LOG_LEVEL": ""})
    for s in SETTINGS:
        assert getattr(config, s.attr) == s.default, s.env
    assert config.SECRET_KEY == DEV_SECRET_KEY


def test_a_given_environ_is_used_instead_of_the_process_environment(monkeypatch):
    monkeypatch.setenv("DOORSTEP_JWT_AUDIENCE", "from-process")
    assert Config({}).JWT_AUDIENCE == "doorstep-api"
    assert Config().JWT_AUDIENCE == "from-process"


def test_missing_secrets_are_listed_by_their_environment_names():
    config = Config({"DOORSTEP_SECRET_KEY": "x" * 40})
    assert config.MISSING_SECRETS == ["DOORSTEP_PII_KEYS", "DOORSTEP_BLIND_INDEX_KEY"]
    assert Config(production_env()).MISSING_SECRETS == []


def test_a_bad_number_is_an_error_naming_the_setting():
    with pytest.raises(ConfigError, match="DOORSTEP_ACCESS_TOKEN_TTL='fifteen minutes' is not a valid int"):
        Config({"DOORSTEP_ACCESS_TOKEN_TTL": "fifteen minutes"})


def test_test_config_is_never_production():
    assert config_module.TestConfig({"DOORSTEP_ENV": "production"}).ENV == "test"


def test_development_starts_on_development_defaults():
    check_production(Config({}))  # no error


@pytest.mark.parametrize("missing", ["DOORSTEP_SECRET_KEY", "DOORSTEP_PII_KEYS", "DOORSTEP_BLIND_INDEX_KEY"])
def test_production_refuses_a_missing_secret(missing):
    with pytest.raises(ConfigError, match=f"{missing} is not set"):
        create_app(Config(production_env(**{missing: None})))


def test_production_names_every_problem_at_once():
    with pytest.raises(ConfigError) as info:
        create_app(Config({"DOORSTEP_ENV": "production"}))
    message = str(info.value)
    for name in ("DOORSTEP_SECRET_KEY", "DOORSTEP_PII_KEYS", "DOORSTEP_BLIND_INDEX_KEY", "DOORSTEP_DATABASE_URL"):
        assert name in message


@pytest.mark.parametrize(
    "env, value",
    [
        ("DOORSTEP_SECRET_KEY", DEV_SECRET_KEY),
        ("DOORSTEP_PII_KEYS", DEV_PII_KEYS),
        ("DOORSTEP_BLIND_INDEX_KEY", DEV_BLIND_INDEX_KEY),
    ],
)
def test_production_refuses_a_development_key(env, value):
    with pytest.raises(ConfigError, match=f"{env} holds the development key"):
        create_app(Config(production_env(**{env: value})))


def test_production_refuses_the_development_pii_key_even_as_an_old_rotation_key():
    """Values once encrypted under a published key are not protected; re-encrypt, then drop it."""
    with pytest.raises(ConfigError, match="DOORSTEP_PII_KEYS holds the development key"):
        create_app(Config(production_env(DOORSTEP_PII_KEYS=f"k2026:{_b64()},{DEV_PII_KEYS}")))


@pytest.mark.parametrize("url", ["sqlite:////var/lib/doorstep/doorstep.sqlite3", "sqlite://"])
def test_production_refuses_sqlite(url):
    with pytest.raises(ConfigError, match="DOORSTEP_DATABASE_URL points at SQLite"):
        create_app(Config(production_env(DOORSTEP_DATABASE_URL=url)))


def test_production_refuses_a_short_secret_key():
    with pytest.raises(ConfigError, match="DOORSTEP_SECRET_KEY is shorter than 32"):
        create_app(Config(production_env(DOORSTEP_SECRET_KEY="too-short")))


@pytest.mark.parametrize(
    "keys",
    [
        _b64(),  # the kid: prefix forgotten
        f"k2026:{_b64(16)}",  # AES-128, not AES-256
        f"k2026:{_b64()},:{_b64()}",  # an entry without a kid
        "k2026:not base64 at all!",
    ],
    ids=["no-kid", "aes-128", "entry-without-kid", "not-base64"],
)
def test_production_refuses_malformed_pii_keys(keys):
    """Otherwise the service would start and then fail every request that touches a number."""
    with pytest.raises(ConfigError, match="DOORSTEP_PII_KEYS entries must be kid:base64"):
        create_app(Config(production_env(DOORSTEP_PII_KEYS=keys)))


def test_production_refuses_a_key_id_used_twice():
    with pytest.raises(ConfigError, match="DOORSTEP_PII_KEYS names a key id twice"):
        create_app(Config(production_env(DOORSTEP_PII_KEYS=f"k1:{_b64()},k1:{_b64()}")))


@pytest.mark.parametrize("key", [_b64(16), "@@@@"], ids=["16-bytes", "not-base64"])
def test_production_refuses_a_weak_or_malformed_blind_index_key(key):
    with pytest.raises(ConfigError, match="DOORSTEP_BLIND_INDEX_KEY must be base64 of at least 32 bytes"):
        create_app(Config(production_env(DOORSTEP_BLIND_INDEX_KEY=key)))


def test_production_accepts_a_rotation_list_writing_with_the_first_and_reading_with_any():
    old_key, new_key = _b64(), _b64()
    before = create_app(Config(production_env(DOORSTEP_PII_KEYS=f"k2026:{old_key}")))
    after = create_app(Config(production_env(DOORSTEP_PII_KEYS=f"k2027:{new_key}, k2026:{old_key}")))
    with before.app_context():
        written_before = pii.encrypt("identity", "110101199003077777")
    with after.app_context():
        written_after = pii.encrypt("identity", "110101199003077777")
        assert written_after.startswith("k2027:") and written_before.startswith("k2026:")
        assert pii.decrypt("identity", written_before) == pii.decrypt("identity", written_after) == "110101199003077777"


def test_production_starts_with_proper_settings_without_touching_the_database():
    """The database is not reached at start (it may come up later): /healthz answers, /readyz
    says the database is unreachable rather than failing the process."""
    app = create_app(Config(production_env()))
    assert app.config["ENV"] == "production"
    assert not app.testing
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.mimetype == "application/problem+json"
    assert r.json["detail"] == "the database is unreachable"


def test_production_refuses_the_console_sms_sender():
    with pytest.raises(ConfigError, match="DOORSTEP_SMS_SENDER is console"):
        create_app(Config(production_env(DOORSTEP_SMS_SENDER="console")))
    with pytest.raises(ConfigError, match="DOORSTEP_SMS_SENDER is console"):
        create_app(Config(production_env(DOORSTEP_SMS_SENDER=None)))  # the default


def test_production_refuses_open_metrics():
    with pytest.raises(ConfigError, match="DOORSTEP_METRICS_TOKEN or DOORSTEP_METRICS_ALLOW"):
        create_app(Config(production_env(DOORSTEP_METRICS_TOKEN=None)))
    with pytest.raises(ConfigError, match="DOORSTEP_METRICS_ALLOW"):
        create_app(Config(production_env(DOORSTEP_METRICS_TOKEN=None, DOORSTEP_METRICS_ALLOW="10.0.0.0/33")))
    check_production(Config(production_env(DOORSTEP_METRICS_TOKEN=None, DOORSTEP_METRICS_ALLOW="10.0.0.0/8")))
    check_production(Config(production_env()))


@pytest.mark.parametrize("url", [None, "http://doorstep.example.gov.cn"])
def test_production_refuses_sms_links_to_a_plain_http_address(url):
    with pytest.raises(ConfigError, match="DOORSTEP_PUBLIC_URL must be the service's https"):
        check_production(Config(production_env(DOORSTEP_PUBLIC_URL=url)))
