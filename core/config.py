"""Configuration from the environment, one class per mode chosen by ``APP_ENV``."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
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


@dataclass(frozen=True)
class Setting:
    """One setting: its name in ``app.config``, type, default and meaning, read from the environment
    variable ``env`` (the name itself unless given). ``shown`` is the default as the README shows it."""

    name: str
    type: str
    default: Any
    meaning: str
    env: str | None = None
    shown: str | None = None

    @property
    def variable(self) -> str:
        """The environment variable this setting is read from."""
        return self.env or self.name

    def parse(self, text: str) -> Any:
        """Turn the environment's text into this setting's type."""
        if self.type == "int":
            return int(text)
        if self.type == "positive int":
            return _positive_int(self.variable, text)
        if self.type == "float":
            return float(text)
        if self.type == "dates":
            return parse_dates(self.variable, text)
        if self.type == "bool":
            return text.strip().lower() not in FALSE_WORDS
        if self.type == "list":
            return [item.strip() for item in text.split(",") if item.strip()]
        if self.type == "json":
            return json.loads(text)
        return text


FALSE_WORDS = ("0", "false", "no", "off")

#: Every setting an operator may change, each declared once: the defaults below (a mode may
#: differ, see the classes after it), the environment's values on top (unset or empty: the
#: default), what ``create_app(config)`` is given last. The README's table is made from it
#: (``make settings-table``).
SETTINGS: tuple[Setting, ...] = (
    Setting("APP_ENV", "str", "development", "`development`, `test` or `production`"),
    Setting(
        "SECRET_KEY",
        "str",
        None,
        "signs sessions; encrypts signing keys. Production refuses to "
        "start without a random one of at least 32 characters",
        shown="development: generated once into `instance/secret_key` and kept",
    ),
    Setting(
        "SQLALCHEMY_DATABASE_URI",
        "str",
        None,
        "`postgresql://user:pass@host/db` (psycopg 3) or `sqlite:///path`",
        env="DATABASE_URL",
        shown="`sqlite:///instance/pingan.db` (WAL mode, busy timeout)",
    ),
    Setting(
        "PUBLIC_BASE_URL",
        "str",
        None,
        "the address residents reach the service at, e.g. "
        "`https://points.example.gov.cn`; it goes into every QR code. Production refuses to start "
        "without it",
        shown="development: the request's own host, checked against `TRUSTED_HOSTS`",
    ),
    Setting(
        "TRUSTED_HOSTS",
        "list",
        ["localhost", "127.0.0.1"],
        "comma-separated host names requests "
        "may name (others get 400); `.example.org` also allows its subdomains",
        shown="development: `localhost`, `127.0.0.1` and `PUBLIC_BASE_URL`'s host; production: unset "
        "(nginx's `server_name` filters hosts)",
    ),
    Setting(
        "TRUSTED_PROXIES",
        "int",
        0,
        "how many reverse proxies stand in front (their `X-Forwarded-For` is believed)",
    ),
    Setting(
        "RATELIMIT_STORAGE_URI",
        "str",
        "memory://",
        "Redis for the rate limits and the failed "
        "sign-in counts when several app servers run, e.g. `redis://127.0.0.1:6379/0`",
        shown="memory for the per-member limits; the database for failed sign-ins",
    ),
    Setting("RATELIMIT_DEFAULT", "str", "300 per minute", "calls a signed-in member may make"),
    Setting("LOGIN_FAILURE_LIMIT", "str", "5 per 15 minutes", "failed sign-ins allowed per phone number"),
    Setting("TOKEN_TTL_DAYS", "int", 30, "days an API token lives before the member must sign in again"),
    Setting(
        "ACTIVATION_CODE_TTL_DAYS",
        "int",
        30,
        "days the activation code of a member imported in bulk stays valid",
    ),
    Setting(
        "VOUCHER_TTL_DAYS",
        "int",
        7,
        "days a reserved voucher stays open before its points and stock are released",
    ),
    Setting("CHECKIN_POINTS", "int", 1, "points of the daily check-in (报平安)"),
    Setting(
        "CHECKIN_STREAK_STEP",
        "int",
        7,
        "a daily check-in earns 1 more point for every full step of days in its streak",
    ),
    Setting("CHECKIN_BONUS_CAP", "int", 3, "the most extra points a streak adds to a daily check-in"),
    Setting(
        "GAMIFICATION_LEVELS",
        "json",
        [
            ["newcomer", 0, "平安新兵", "Newcomer"],
            ["guardian", 100, "平安卫士", "Guardian"],
            ["pacesetter", 500, "平安标兵", "Pacesetter"],
            ["pioneer", 2000, "平安先锋", "Pioneer"],
            ["exemplar", 5000, "平安楷模", "Exemplar"],
        ],
        "the levels, as JSON: `[[code, lifetime points from, Chinese name, English name], …]`, the first "
        "from 0 points",
        shown="平安新兵 0, 平安卫士 100, 平安标兵 500, 平安先锋 2000, 平安楷模 5000",
    ),
    Setting(
        "LEADERBOARD_EXACT_COUNT",
        "int",
        1000,
        "ranks below this many members are read from a score histogram instead of counted in the index",
    ),
    Setting("LEADERBOARD_HISTOGRAM_SECONDS", "int", 30, "how long a worker keeps a board's score histogram"),
    Setting(
        "PIN_FAILURE_LIMIT",
        "str",
        "5 per 15 minutes",
        "wrong PINs allowed per member card at the counter; that many lock the card for PIN use as long",
    ),
    Setting(
        "POINTS_EXPIRE_MONTHS",
        "positive int",
        None,
        "months after which unspent points expire, oldest first (`flask points expire`)",
        shown="unset (points never expire)",
    ),
    Setting(
        "BUDGET_LEASE_POINTS",
        "positive int",
        500,
        "points of a budget leased to one grid at a time (at "
        "most 1/64 of what is still free): its awards use them up without touching the budget's row",
    ),
    Setting(
        "PUBLIC_HOLIDAYS",
        "dates",
        frozenset(),
        "ISO dates separated by commas: the public holidays, for "
        "counting a public notice's working days; set them each year",
        shown="none",
    ),
    Setting(
        "WORKING_WEEKENDS",
        "dates",
        frozenset(),
        "ISO dates separated by commas: the weekend days made working days (调休)",
        shown="none",
    ),
    Setting(
        "NOTICE_WORKING_DAYS",
        "int",
        5,
        "working days a month's public notice (公示) stays open for objections",
    ),
    Setting("OBJECTIONS_PER_DAY", "int", 5, "objections one member may lodge within 24 hours"),
    Setting(
        "NOTIFICATION_KEEP_DAYS",
        "int",
        180,
        "days in-app notifications are kept before `flask notifications prune` removes them",
    ),
    Setting("FAIRNESS_WINDOW_DAYS", "int", 30, "days of awards the fairness watch reads each night"),
    Setting(
        "FAIRNESS_ODD_HOURS",
        "str",
        "01:00-05:00",
        "the hours (Asia/Shanghai, `HH:MM-HH:MM`, may cross "
        "midnight) at which the fairness watch finds awards odd",
    ),
    Setting(
        "FAIRNESS_NIGHT_CATEGORIES",
        "list",
        ["patrol"],
        "activity categories done at night (patrols by default), left out of the odd-hours rule",
    ),
    Setting(
        "FAIRNESS_BURST_AWARDS",
        "int",
        30,
        "awards one recorder records for others within "
        "`FAIRNESS_BURST_MINUTES` that the watch flags as a burst",
    ),
    Setting("FAIRNESS_BURST_MINUTES", "int", 10, "the minutes of a burst"),
    Setting(
        "FAIRNESS_QUICK_SECONDS",
        "int",
        10,
        "a claim approved within this many seconds of being sent is approved quickly",
    ),
    Setting("FAIRNESS_QUICK_TIMES", "int", 5, "quick approvals by one reviewer that the watch flags"),
    Setting("FAIRNESS_FAVOURED_FEW", "int", 3, "how few members a recorder favours"),
    Setting("FAIRNESS_FAVOURED_SHARE", "float", 0.5, "the share of a recorder's points those few hold"),
    Setting(
        "FAIRNESS_FAVOURED_RATIO",
        "float",
        5,
        "each of the few got this many times the median of the others the recorder recorded for",
    ),
    Setting("FAIRNESS_FAVOURED_MIN_AWARDS", "int", 20, "awards a recorder must have made to be judged"),
    Setting(
        "FAIRNESS_GRID_RATIO",
        "float",
        3,
        "a grid whose points per resident in a month pass this many times its sibling grids' is flagged",
    ),
    Setting(
        "FAIRNESS_MEMBER_FACTOR",
        "float",
        2,
        "a member whose month passes this many times the 99th percentile of their county is flagged",
    ),
    Setting(
        "FAIRNESS_MEMBER_MIN_RANKED", "int", 100, "ranked members a county needs before members are compared"
    ),
    Setting(
        "DATABASE_REPLICA_URL",
        "str",
        None,
        "a streaming replica (hot standby) of the PostgreSQL "
        "database: boards, honour rolls, monthly reports and the dashboard read there while it is fit "
        "([`docs/scale.md`](docs/scale.md))",
        shown="unset (every read on `DATABASE_URL`)",
    ),
    Setting(
        "DATABASE_REPLICA_MAX_LAG_SECONDS",
        "float",
        5.0,
        "how far the replica may trail before its reads go to the primary",
    ),
    Setting(
        "DATABASE_REPLICA_CHECK_SECONDS", "float", 1.0, "how often each worker measures the replica's lag"
    ),
    Setting(
        "DATABASE_TRANSACTION_POOLING",
        "bool",
        False,
        "`1` when `DATABASE_URL` leads to PgBouncer in transaction mode (no prepared statements)",
        shown="off",
    ),
    Setting(
        "CJK_FONT_PATH",
        "str",
        None,
        "a font with Chinese glyphs for posters and printouts",
        shown="Debian's usual places (`fonts-wqy-microhei`)",
    ),
    Setting(
        "SQLITE_BUSY_TIMEOUT_MS",
        "int",
        5000,
        "milliseconds SQLite waits for a lock before answering `database is locked`",
    ),
    Setting(
        "SQLITE_SYNCHRONOUS",
        "str",
        "FULL",
        "`FULL` survives power loss with every acknowledged transaction; `NORMAL` is faster",
        shown="`FULL` (`NORMAL` in tests)",
    ),
    Setting(
        "ACCESS_LOG",
        "bool",
        True,
        "one JSON line per request on stderr (request id, route, status, latency, member); `0` turns it off",
        shown="on (off in tests)",
    ),
    Setting(
        "METRICS_TOKEN",
        "str",
        None,
        "bearer token a Prometheus scraper sends to `/metrics`; unset, there is no metrics page",
    ),
    Setting(
        "PROMETHEUS_MULTIPROC_DIR",
        "str",
        None,
        "an empty directory where gunicorn's workers pool their metrics",
        shown="unset (per-process figures)",
    ),
)


def settings_table() -> str:
    """The README's table of settings, made from ``SETTINGS``."""
    lines = ["| variable | type | meaning | default |", "|---|---|---|---|"]
    for setting in SETTINGS:
        shown = setting.shown or ("unset" if setting.default is None else f"`{setting.default}`")
        lines.append(f"| `{setting.variable}` | {setting.type} | {setting.meaning} | {shown} |")
    return "\n".join(lines) + "\n"


#: The lines around the settings table in the README.
TABLE_START, TABLE_END = "<!-- settings table: make settings-table -->\n", "<!-- end of settings table -->\n"


def with_settings_table(readme: str) -> str:
    """The README's text with its settings table made again from ``SETTINGS``."""
    head, rest = readme.split(TABLE_START, 1)
    return head + TABLE_START + settings_table() + TABLE_END + rest.split(TABLE_END, 1)[1]


class BaseConfig:
    """The framework's fixed settings, then every setting of ``SETTINGS`` at its default."""

    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}

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
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearerAuth": []}],
    }

    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh", "en")

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    TESTING = False


for _setting in SETTINGS:
    setattr(BaseConfig, _setting.name, _setting.default)


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
            return "postgresql+psycopg://" + url[len(prefix) :]
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

    for setting in SETTINGS:
        text = os.environ.get(setting.variable)
        if text:
            app.config[setting.name] = setting.parse(text)
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
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(Path(app.instance_path) / "pingan.db")
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(app.config["SQLALCHEMY_DATABASE_URI"])
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
    config["SQLALCHEMY_BINDS"] = {
        **(config.get("SQLALCHEMY_BINDS") or {}),
        REPLICA_BIND: {
            "url": normalise_database_url(replica),
            **options,
            "connect_args": {**connect_args, "connect_timeout": REPLICA_CONNECT_TIMEOUT},
        },
    }


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
        raise ConfigError(
            "PUBLIC_BASE_URL is required in production: the address residents reach the "
            "service at, e.g. https://points.example.gov.cn (it goes into every QR code)"
        )


def _check_public_base_url(config) -> None:
    """Refuse a PUBLIC_BASE_URL that is no http(s)://host[/prefix] and trust its host where hosts are
    checked; without one, refuse to run unless TRUSTED_HOSTS checks the hosts QR codes are built from."""
    url = config.get("PUBLIC_BASE_URL")
    if not url:
        if not config.get("TRUSTED_HOSTS"):
            raise ConfigError(
                "set PUBLIC_BASE_URL or TRUSTED_HOSTS: QR codes are never built from an unchecked Host header"
            )
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
