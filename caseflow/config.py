"""Settings, read from ``CASEFLOW_*`` environment variables.

Every setting has a default that works for the quick start (embedded SQLite in the instance folder);
production sets at least ``CASEFLOW_DATABASE_URL`` and ``CASEFLOW_SECRET_KEY``.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"CASEFLOW_{name}", default)


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int, *, minimum: int) -> int:
    """An integer setting; a typo stops the app at start with the variable's name, not deep in a request."""
    value = _env(name)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError(f"CASEFLOW_{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ValueError(f"CASEFLOW_{name} must be at least {minimum}, not {number}")
    return number


def load_settings(instance_path: str) -> dict:
    """Return the Flask config mapping for this process."""
    instance = Path(instance_path)
    max_attachment = int(_env("MAX_ATTACHMENT_BYTES", str(10 * 1024 * 1024)))
    return {
        "SQLALCHEMY_DATABASE_URI": _env("DATABASE_URL") or f"sqlite:///{instance / 'caseflow.sqlite3'}",
        "SECRET_KEY": _env("SECRET_KEY") or _instance_secret_key(instance),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _env_bool("SECURE_COOKIES", False),
        "REMEMBER_COOKIE_SECURE": _env_bool("SECURE_COOKIES", False),
        "BABEL_DEFAULT_LOCALE": "zh",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "CASEFLOW_LOCALES": ("zh", "en"),
        "CASEFLOW_OFFICE_NAME": _env("OFFICE_NAME", "示例镇卫生健康办公室"),
        "CASEFLOW_COUNTY_GOVERNMENT": _env("COUNTY_GOVERNMENT", "示例县人民政府"),
        "CASEFLOW_COURT": _env("COURT", "示例县人民法院"),
        "CASEFLOW_SCHEDULER": _env_bool("SCHEDULER", False),
        "CASEFLOW_API_TOKEN_HOURS": int(_env("API_TOKEN_HOURS", "12")),
        "CASEFLOW_PAGE_SIZE": int(_env("PAGE_SIZE", "50")),
        # Seconds each process keeps a township's handlers and villages for the team queue's drop-downs
        # (0: read them on every page). A change made in the process itself shows at once; one made in
        # another worker or machine, within this many seconds (services/queues.py, team_directory).
        "CASEFLOW_DIRECTORY_CACHE_SECONDS": _env_int("DIRECTORY_CACHE_SECONDS", 60, minimum=0),
        "CASEFLOW_PASSWORD_HASH": _env("PASSWORD_HASH", "scrypt"),
        # Days after a procedure certificate case closes before its medical details are deleted.
        "CASEFLOW_PROCEDURE_RETENTION_DAYS": int(_env("PROCEDURE_RETENTION_DAYS", "180")),
        # Guessing passwords: attempts per client address on the login form and the API token endpoint.
        "CASEFLOW_SIGN_IN_RATE_LIMIT": _env("SIGN_IN_RATE_LIMIT", "10 per minute"),
        # Guessing receipt PINs on the public progress page (/progress): look-ups and ratings per client
        # address, and failed look-ups per receipt number from any address (a locked number opens again
        # when the window ends; the office can still tell the applicant the progress by phone).
        "CASEFLOW_PROGRESS_RATE_LIMIT": _env("PROGRESS_RATE_LIMIT", "10 per minute; 60 per hour"),
        "CASEFLOW_PROGRESS_NUMBER_LIMIT": _env("PROGRESS_NUMBER_LIMIT", "20 per day"),
        # memory:// counts per process; several workers or machines share e.g. redis://host:6379
        # (pip install 'caseflow[redis]').
        "RATELIMIT_STORAGE_URI": _env("RATELIMIT_STORAGE_URI", "memory://"),
        # Reverse proxies in front of caseflow that append to X-Forwarded-For/-Proto/-Host (nginx: 1).
        # 0 trusts no such header: the client address is the connecting one. More than there are lets
        # clients forge their address (and escape the per-address sign-in limits).
        "CASEFLOW_PROXY_HOPS": _env_int("PROXY_HOPS", 0, minimum=0),
        # The database connection pool of each process (PostgreSQL; SQLite keeps SQLAlchemy's defaults).
        # A sync gunicorn worker uses one connection at a time: see docs/deployment.md for max_connections.
        "CASEFLOW_DB_POOL_SIZE": _env_int("DB_POOL_SIZE", 5, minimum=1),
        "CASEFLOW_DB_MAX_OVERFLOW": _env_int("DB_MAX_OVERFLOW", 10, minimum=0),
        "CASEFLOW_DB_POOL_TIMEOUT": _env_int("DB_POOL_TIMEOUT", 30, minimum=1),
        # Seconds after which a pooled connection is replaced (-1: never); below any idle timeout of a
        # firewall or connection pooler between the app and PostgreSQL.
        "CASEFLOW_DB_POOL_RECYCLE": _env_int("DB_POOL_RECYCLE", 3600, minimum=-1),
        # Test a connection as it leaves the pool (one round trip), so that after a database restart or
        # failover a request gets a fresh connection instead of an error: "idle" tests only one that sat
        # unused for POOL_IDLE_PING_SECONDS (a busy worker's is known good, and the round trip was 13 % of
        # a transition), "always" every one, "never" none (docs/deployment.md).
        "CASEFLOW_DB_POOL_PRE_PING": _pre_ping(_env("DB_POOL_PRE_PING", "idle")),
        "RATELIMIT_HEADERS_ENABLED": True,
        # Files on cases: stored outside the web root (default: <instance>/attachments, resolved at use).
        "CASEFLOW_ATTACHMENT_DIR": _env("ATTACHMENT_DIR"),
        "CASEFLOW_MAX_ATTACHMENT_BYTES": max_attachment,
        # The whole request may carry the file plus the multipart envelope and form fields.
        "MAX_CONTENT_LENGTH": max_attachment + 1024 * 1024,
        # Email (services/outbox.py). No SMTP host: development, each message is written as an .eml file
        # under CASEFLOW_OUTBOX_DIR (default <instance>/outbox). Credentials come from the environment only.
        "CASEFLOW_SMTP_HOST": _env("SMTP_HOST") or None,
        "CASEFLOW_SMTP_PORT": int(_env("SMTP_PORT", "25")),
        "CASEFLOW_SMTP_TLS": _smtp_tls(_env("SMTP_TLS", "none")),
        "CASEFLOW_SMTP_USERNAME": _env("SMTP_USERNAME") or None,
        "CASEFLOW_SMTP_PASSWORD": _env("SMTP_PASSWORD") or None,
        "CASEFLOW_SMTP_TIMEOUT": float(_env("SMTP_TIMEOUT", "30")),
        "CASEFLOW_MAIL_FROM": _env("MAIL_FROM", "caseflow@localhost"),
        "CASEFLOW_OUTBOX_DIR": _env("OUTBOX_DIR"),
        # Links in emails point here (the address users open caseflow at).
        "CASEFLOW_BASE_URL": (_env("BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
        # The monthly meeting (每月例会) is on this working day of the month; the report on the month
        # before is generated and emailed to supervisors that morning.
        "CASEFLOW_MEETING_WORKING_DAY": int(_env("MEETING_WORKING_DAY", "1")),
    }


PRE_PING_MODES = ("idle", "always", "never")
# A pooled connection unused this long is tested before use in the "idle" pre-ping mode.
POOL_IDLE_PING_SECONDS = 10


def _pre_ping(value: str) -> str:
    """One of PRE_PING_MODES; the yes/no words other boolean settings take mean "always" and "never"."""
    mode = value.strip().lower()
    if mode in {"1", "true", "yes", "on"}:
        return "always"
    if mode in {"0", "false", "no", "off"}:
        return "never"
    if mode not in PRE_PING_MODES:
        raise ValueError(f"CASEFLOW_DB_POOL_PRE_PING must be one of {', '.join(PRE_PING_MODES)}, not {value!r}")
    return mode


SMTP_TLS_MODES = ("none", "starttls", "ssl")


def _smtp_tls(value: str) -> str:
    """A typo here would send mail in clear text or not at all: refuse to start instead."""
    mode = value.strip().lower()
    if mode not in SMTP_TLS_MODES:
        raise ValueError(f"CASEFLOW_SMTP_TLS must be one of {', '.join(SMTP_TLS_MODES)}, not {value!r}")
    return mode


def _instance_secret_key(instance: Path) -> str:
    """A per-installation random key kept in the instance folder, so no secret ever lives in the repo."""
    instance.mkdir(parents=True, exist_ok=True)
    key_file = instance / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()
