"""Configuration: modes, secrets and database URLs."""

from datetime import date
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from core.config import SETTINGS, ConfigError, load_config, normalise_database_url, with_settings_table

GOOD_SECRET = "k" * 48
PUBLIC_URL = "https://points.example.gov.cn"


def production(monkeypatch, **env):
    """Set a production environment with the given variables (others cleared)."""
    monkeypatch.setenv("APP_ENV", "production")
    for name in ("SECRET_KEY", "DATABASE_URL", "PUBLIC_BASE_URL", "TRUSTED_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("secret", ["", "dev", "change-me", "test-secret-key-that-is-long-enough-for-tests"])
def test_production_refuses_a_missing_or_default_secret(monkeypatch, secret):
    production(monkeypatch, SECRET_KEY=secret, DATABASE_URL="sqlite:///:memory:")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_refuses_a_short_secret(monkeypatch):
    production(monkeypatch, SECRET_KEY="x" * 20, DATABASE_URL="sqlite:///:memory:")
    with pytest.raises(ConfigError, match="at least"):
        create_app()


def test_production_requires_a_database_url(monkeypatch):
    production(monkeypatch, SECRET_KEY=GOOD_SECRET)
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_app()


def test_production_requires_the_public_address_that_goes_into_qr_codes(monkeypatch, tmp_path):
    production(monkeypatch, SECRET_KEY=GOOD_SECRET, DATABASE_URL=f"sqlite:///{tmp_path}/p.db")
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        create_app()


def test_production_starts_with_a_secret_a_database_and_its_public_address(monkeypatch, tmp_path):
    production(
        monkeypatch,
        SECRET_KEY=GOOD_SECRET,
        DATABASE_URL=f"sqlite:///{tmp_path}/p.db",
        PUBLIC_BASE_URL=PUBLIC_URL,
    )
    app = create_app()
    assert app.config["SECRET_KEY"] == GOOD_SECRET
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert not app.testing


def test_an_unknown_mode_is_refused(monkeypatch):
    monkeypatch.setenv("APP_ENV", "staging")
    with pytest.raises(ConfigError, match="APP_ENV"):
        create_app()


def test_development_generates_a_secret_once_and_keeps_it(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("APP_ENV", "development")
    first, second = Flask("one", instance_path=str(tmp_path)), Flask("two", instance_path=str(tmp_path))
    load_config(first)
    load_config(second)
    assert len(first.config["SECRET_KEY"]) >= 48
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert first.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/pingan.db"


@pytest.mark.parametrize(
    "given, expected",
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://u@h:5433/db", "postgresql+psycopg://u@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_urls_use_psycopg_3(given, expected):
    assert normalise_database_url(given) == expected


def test_behind_a_trusted_proxy_the_client_address_comes_from_x_forwarded_for(monkeypatch, tmp_path):
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/p.db"})

    @app.get("/probe-address")
    def probe_address():
        from flask import request

        return request.remote_addr

    response = app.test_client().get("/probe-address", headers={"X-Forwarded-For": "10.1.2.3"})
    assert response.get_data(as_text=True) == "10.1.2.3"


def test_the_readme_lists_every_setting_as_the_table_declares_it():
    """The README's settings table is the one made from SETTINGS: run `make settings-table`."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert with_settings_table(readme) == readme


def test_every_setting_is_read_from_the_environment_in_its_type(monkeypatch, tmp_path):
    """Each declared setting takes its environment variable's value, parsed to the declared type."""
    given = {
        "TRUSTED_PROXIES": ("2", 2),
        "ACCESS_LOG": ("off", False),
        "VOUCHER_TTL_DAYS": ("3", 3),
        "TRUSTED_HOSTS": ("a.example, b.example", ["a.example", "b.example"]),
        "GAMIFICATION_LEVELS": ('[["only", 0, "唯一", "Only"]]', [["only", 0, "唯一", "Only"]]),
        "LEADERBOARD_EXACT_COUNT": ("5", 5),
        "POINTS_EXPIRE_MONTHS": ("24", 24),
        "DATABASE_REPLICA_MAX_LAG_SECONDS": ("2.5", 2.5),
        "PUBLIC_HOLIDAYS": ("2026-10-01, 2026-10-02", frozenset({date(2026, 10, 1), date(2026, 10, 2)})),
    }
    monkeypatch.setenv("APP_ENV", "test")
    for name, (text, _value) in given.items():
        monkeypatch.setenv(name, text)
    app = Flask(__name__, instance_path=str(tmp_path))
    load_config(app, {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/c.db"})
    assert {name: app.config[name] for name in given} == {name: value for name, (_t, value) in given.items()}
    assert {setting.type for setting in SETTINGS} <= {
        "str",
        "int",
        "positive int",
        "float",
        "bool",
        "list",
        "dates",
        "json",
    }


@pytest.mark.parametrize(
    ("name", "text"),
    [("POINTS_EXPIRE_MONTHS", "0"), ("BUDGET_LEASE_POINTS", "-5"), ("PUBLIC_HOLIDAYS", "2026-13-01")],
)
def test_a_setting_of_the_wrong_shape_stops_the_start_and_says_which(monkeypatch, tmp_path, name, text):
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv(name, text)
    with pytest.raises(ConfigError, match=name):
        load_config(Flask(__name__, instance_path=str(tmp_path)), {"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_an_unset_or_empty_variable_keeps_the_declared_default(monkeypatch, tmp_path):
    """Nothing but the table gives a default: the app's config holds each setting at it."""
    monkeypatch.setenv("APP_ENV", "development")
    for setting in SETTINGS:
        monkeypatch.delenv(setting.variable, raising=False)
    monkeypatch.setenv("VOUCHER_TTL_DAYS", "")
    app = Flask(__name__, instance_path=str(tmp_path))
    load_config(app)
    for setting in SETTINGS:
        if setting.default is not None and setting.name != "TRUSTED_HOSTS":
            assert app.config[setting.name] == setting.default, setting.name
    assert app.config["VOUCHER_TTL_DAYS"] == 7
