"""Configuration from the environment, one class per mode chosen by ``APP_ENV``."""

from __future__ import annotations

import os
import secrets
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

#: Secrets that must never run a production server (examples from docs and tests).
KNOWN_DEFAULT_SECRETS = frozenset({"", "dev", "change-me", "changeme", "secret", "test-secret"})
MIN_SECRET_LENGTH = 32

MODES = ("development", "test", "production")
#: The name of the replica's engine among Flask-SQLAlchemy's binds (``db.engines``).
REPLICA_BIND = "replica"
#: Seconds a connection to the replica may take before it counts as down.
REPLICA_CONNECT_TIMEOUT = 2


class ConfigError(RuntimeError):
    """Raised when the environment cannot run the application safely."""


class BaseConfig:
    """Settings shared by every mode; each can be overridden from the environment."""

    APP_ENV = "development"
    SECRET_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    #: Milliseconds SQLite waits for a lock before answering ``database is locked``.
    SQLITE_BUSY_TIMEOUT_MS = 5000
    #: FULL survives power loss with every acknowledged transaction; NORMAL is faster.
    SQLITE_SYNCHRONOUS = "FULL"
    #: A streaming replica of the PostgreSQL database (a hot standby): the views marked
    #: ``@reads_replica`` (boards, honour rolls, reports, dashboards) read there. Unset (the
    #: default): every read goes to ``DATABASE_URL``.
    DATABASE_REPLICA_URL: str | None = None
    #: Seconds the replica may trail the primary; further behind (or not answering), its reads
    #: go to the primary until it catches up.
    DATABASE_REPLICA_MAX_LAG_SECONDS = 5.0
    #: How often each worker measures the replica's lag (at most once per this many seconds).
    DATABASE_REPLICA_CHECK_SECONDS = 1.0
    #: The database URLs lead to a pooler that lends a server connection per transaction
    #: (PgBouncer's ``pool_mode = transaction``): then psycopg prepares no statements, as they
    #: would stay behind on a server connection the next transaction may not get.
    DATABASE_TRANSACTION_POOLING = False

    # JSON bodies up to 1 MB (photo and file uploads raise it per endpoint).
    MAX_CONTENT_LENGTH = 1024 * 1024
    MAX_FORM_MEMORY_SIZE = 1024 * 1024

    API_TITLE = "Ping'an Points"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    API_SPEC_OPTIONS = {
        "info": {"description": "Points for community safety work, spent at safety supermarkets."},
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}
        },
        "security": [{"bearerAuth": []}],
    }

    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh", "en")

    #: How long an API token lives before the member must sign in again.
    TOKEN_TTL_DAYS = 30
    #: Days a reserved voucher stays open before its points and stock are released.
    VOUCHER_TTL_DAYS = 7
    #: Months after which points not spent expire (``flask points expire``); None: they never do.
    POINTS_EXPIRE_MONTHS: int | None = None
    #: Points of a budget leased to one grid at a time (at most 1/64 of what is still free): its
    #: awards then use them up without touching the budget's own row.
    BUDGET_LEASE_POINTS = 500
    #: Days the activation code of a member imported in bulk stays valid.
    ACTIVATION_CODE_TTL_DAYS = 30
    #: A font with Chinese glyphs for posters and printouts (default: Debian's usual places).
    CJK_FONT_PATH: str | None = None
    #: The address residents reach the service at, for the URLs inside QR codes. Required in
    #: production; elsewhere, when unset, the request's own host (checked against TRUSTED_HOSTS).
    PUBLIC_BASE_URL: str | None = None
    #: Host names requests may name (Flask refuses others with 400); a name starting with "."
    #: also allows its subdomains. Development and tests: this machine and PUBLIC_BASE_URL's
    #: host; production: unset (every Host is served, the reverse proxy filters them).
    TRUSTED_HOSTS: list[str] | None = ["localhost", "127.0.0.1"]
    #: Reverse proxies in front of the app whose X-Forwarded-For may be trusted (0: none).
    TRUSTED_PROXIES = 0
    #: Failed sign-ins allowed per phone number; signed-in calls allowed per member.
    LOGIN_FAILURE_LIMIT = "5 per 15 minutes"
    #: Wrong PINs allowed per member card at the counter before it is locked for PIN use as long.
    PIN_FAILURE_LIMIT = "5 per 15 minutes"
    RATELIMIT_DEFAULT = "300 per minute"
    RATELIMIT_STORAGE_URI = "memory://"

    #: Public holidays and the weekend days made working days (调休), for counting working days
    #: (a public notice stays open for NOTICE_WORKING_DAYS of them): dates, or in the environment
    #: ISO dates separated by commas ("2026-10-01,2026-10-02"). Set them each year.
    PUBLIC_HOLIDAYS: frozenset[date] = frozenset()
    WORKING_WEEKENDS: frozenset[date] = frozenset()
    #: Working days a month's public notice (公示) stays open for objections.
    NOTICE_WORKING_DAYS = 5
    #: Objections one member may lodge within 24 hours.
    OBJECTIONS_PER_DAY = 5
    #: Days in-app notifications are kept before ``flask notifications prune`` removes them.
    NOTIFICATION_KEEP_DAYS = 180

    #: One JSON line per request on stderr (request id, route, status, latency, member).
    ACCESS_LOG = True
    #: The bearer token a Prometheus scraper sends to ``/metrics`` (unset: no metrics page).
    METRICS_TOKEN: str | None = None

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    TESTING = False


class DevelopmentConfig(BaseConfig):
    """A developer's machine: SQLite under ``instance/``, a secret generated once."""

    APP_ENV = "development"


class TestConfig(BaseConfig):
    """The test suite: a fixed secret, no CSRF on API-style test posts unless a test asks."""

    APP_ENV = "test"
    TESTING = True
    PROPAGATE_EXCEPTIONS = False  # tests see the 500 a client would see
    SQLITE_SYNCHRONOUS = "NORMAL"  # test databases are thrown away: skip the fsync per commit
    ACCESS_LOG = False
    SECRET_KEY = "test-secret-key-that-is-long-enough-for-tests"  # nosec B105: production refuses it


class ProductionConfig(BaseConfig):
    """A real deployment: needs ``SECRET_KEY`` and ``DATABASE_URL`` from the environment."""

    APP_ENV = "production"
    SESSION_COOKIE_SECURE = True
    TRUSTED_HOSTS = None


_CLASSES = {"development": DevelopmentConfig, "test": TestConfig, "production": ProductionConfig}


def normalise_database_url(url: str) -> str:
    """Point ``postgres://`` and ``postgresql://`` URLs at the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def instance_secret(instance_path: str) -> str:
    """Return the secret kept in ``instance/secret_key``, creating it on first use."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: if two workers race at first start, exactly one writes the secret.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _positive_int(name: str, text: str) -> int:
    """Read a setting that must be a whole number above zero, or refuse to start."""
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigError(f"{name} must be a whole number above 0, not {text!r}")
    return int(text)


def load_config(app, overrides: dict | None = None) -> None:
    """Fill ``app.config`` for the mode in ``APP_ENV`` (or ``overrides``) and check it."""
    overrides = dict(overrides or {})
    mode = overrides.get("APP_ENV") or os.environ.get("APP_ENV") or "development"
    if mode not in _CLASSES:
        raise ConfigError(f"APP_ENV must be one of {', '.join(MODES)}, not {mode!r}")
    app.config.from_object(_CLASSES[mode])

    env = os.environ
    if env.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = env["SECRET_KEY"]
    if env.get("DATABASE_URL"):
        app.config["SQLALCHEMY_DATABASE_URI"] = env["DATABASE_URL"]
    if env.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = env["RATELIMIT_STORAGE_URI"]
    for name in ("CJK_FONT_PATH", "PUBLIC_BASE_URL", "METRICS_TOKEN"):
        if env.get(name):
            app.config[name] = env[name]
    for name in ("ACCESS_LOG", "DATABASE_TRANSACTION_POOLING"):
        if env.get(name):
            app.config[name] = env[name].lower() not in ("0", "false", "no", "off")
    if env.get("DATABASE_REPLICA_URL"):
        app.config["DATABASE_REPLICA_URL"] = env["DATABASE_REPLICA_URL"]
    for name in ("DATABASE_REPLICA_MAX_LAG_SECONDS", "DATABASE_REPLICA_CHECK_SECONDS"):
        if env.get(name):
            app.config[name] = float(env[name])
    if env.get("TRUSTED_PROXIES"):
        app.config["TRUSTED_PROXIES"] = int(env["TRUSTED_PROXIES"])
    for name in ("POINTS_EXPIRE_MONTHS", "BUDGET_LEASE_POINTS"):
        if env.get(name):
            app.config[name] = _positive_int(name, env[name])
    if env.get("TRUSTED_HOSTS"):
        app.config["TRUSTED_HOSTS"] = [host.strip() for host in env["TRUSTED_HOSTS"].split(",") if host.strip()]
    for name in ("PUBLIC_HOLIDAYS", "WORKING_WEEKENDS", "FAIRNESS_ODD_HOURS"):
        if env.get(name):
            app.config[name] = env[name]
    for name in ("NOTICE_WORKING_DAYS", "OBJECTIONS_PER_DAY", "NOTIFICATION_KEEP_DAYS"):
        if env.get(name):
            app.config[name] = int(env[name])
    app.config.update(overrides)
    for name in ("PUBLIC_HOLIDAYS", "WORKING_WEEKENDS"):
        app.config[name] = parse_dates(name, app.config[name])

    if mode == "production":
        _check_production(app.config)
    _check_public_base_url(app.config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret(app.instance_path)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = (
            "sqlite:///" + str(Path(app.instance_path) / "pingan.db")
        )
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    _configure_engines(app.config)


def _configure_engines(config) -> None:
    """Engine options from the settings: the pooler's needs, and the replica as a second bind."""
    options = dict(config["SQLALCHEMY_ENGINE_OPTIONS"])
    connect_args = dict(options.get("connect_args", {}))
    if config.get("DATABASE_TRANSACTION_POOLING"):
        connect_args["prepare_threshold"] = None
    if connect_args:
        options["connect_args"] = connect_args
    config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    replica = config.get("DATABASE_REPLICA_URL")
    if not replica:
        return
    if not config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        raise ConfigError("DATABASE_REPLICA_URL needs a PostgreSQL DATABASE_URL: the replica streams from it")
    # A replica that stops answering is noticed in seconds, not at the system's TCP timeout.
    config["SQLALCHEMY_BINDS"] = {**(config.get("SQLALCHEMY_BINDS") or {}), REPLICA_BIND: {
        "url": normalise_database_url(replica), **options,
        "connect_args": {**connect_args, "connect_timeout": REPLICA_CONNECT_TIMEOUT}}}


def parse_dates(name: str, value) -> frozenset[date]:
    """Read a setting that lists dates: dates, ISO strings, or one string of them separated by commas."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    days = set()
    for item in items:
        if isinstance(item, date):
            days.add(item)
        elif str(item).strip():
            try:
                days.add(date.fromisoformat(str(item).strip()))
            except ValueError:
                raise ConfigError(f"{name} lists dates as YYYY-MM-DD, not {item!r}") from None
    return frozenset(days)


def _check_production(config) -> None:
    """Refuse to run production with a missing or default secret or no database URL."""
    secret = config.get("SECRET_KEY") or ""
    if secret in KNOWN_DEFAULT_SECRETS or secret == TestConfig.SECRET_KEY:
        raise ConfigError("SECRET_KEY is missing or a known default: set a random one in production")
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(f"SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters in production")
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        raise ConfigError("DATABASE_URL is required in production")
    if not config.get("PUBLIC_BASE_URL"):
        raise ConfigError("PUBLIC_BASE_URL is required in production: the address residents reach the "
                          "service at, e.g. https://points.example.gov.cn (it goes into every QR code)")


def _check_public_base_url(config) -> None:
    """Refuse a PUBLIC_BASE_URL that is no http(s)://host[/prefix] and trust its host where hosts are
    checked; without one, refuse to run unless TRUSTED_HOSTS checks the hosts QR codes are built from."""
    url = config.get("PUBLIC_BASE_URL")
    if not url:
        if not config.get("TRUSTED_HOSTS"):
            raise ConfigError("set PUBLIC_BASE_URL or TRUSTED_HOSTS: QR codes are never built from an "
                              "unchecked Host header")
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"PUBLIC_BASE_URL must look like https://host[/prefix], not {url!r}")
    trusted = config.get("TRUSTED_HOSTS")
    if trusted is not None and parts.hostname not in trusted:
        config["TRUSTED_HOSTS"] = [*trusted, parts.hostname]


def public_base_url() -> str:
    """The address inside QR codes: ``PUBLIC_BASE_URL``, else (outside production) the request's
    own address, whose host Flask has checked against ``TRUSTED_HOSTS`` (400 otherwise)."""
    from flask import current_app, request

    return current_app.config.get("PUBLIC_BASE_URL") or request.host_url
