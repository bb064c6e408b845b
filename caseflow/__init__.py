"""caseflow — case management for a township population and family-services office."""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from flask import Flask, request, session
from flask_login import current_user

from caseflow import config as settings
from caseflow.config import load_settings
from caseflow.extensions import babel, csrf, db, limiter, login_manager, migrate
from caseflow.paths import MIGRATIONS_DIR


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the WSGI app. ``config`` overrides the environment-derived settings (tests use it)."""
    app = Flask(__name__, instance_relative_config=True)
    configure_settings(app, config)
    configure_proxy(app)
    configure_database(app)
    configure_auth(app)
    configure_i18n(app)
    configure_views(app)
    configure_templates(app)
    configure_commands(app)
    return app


def configure_settings(app: Flask, config: dict[str, Any] | None) -> None:
    app.config.update(load_settings(app.instance_path))
    app.config.update(config or {})


def configure_proxy(app: Flask) -> None:
    """Behind CASEFLOW_PROXY_HOPS reverse proxies, take the client's address, scheme and host from the
    X-Forwarded-* headers they add: the sign-in and progress limits count per client address, and a
    proxy's own address would put every client in one bucket."""
    hops = app.config["CASEFLOW_PROXY_HOPS"]
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def configure_database(app: Flask) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Explicit SQLALCHEMY_ENGINE_OPTIONS (tests, benchmarks) win over the CASEFLOW_DB_POOL_* settings.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "pool_size": app.config["CASEFLOW_DB_POOL_SIZE"],
            "max_overflow": app.config["CASEFLOW_DB_MAX_OVERFLOW"],
            "pool_timeout": app.config["CASEFLOW_DB_POOL_TIMEOUT"],
            "pool_recycle": app.config["CASEFLOW_DB_POOL_RECYCLE"],
            "pool_pre_ping": app.config["CASEFLOW_DB_POOL_PRE_PING"] == "always",
        } | app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            sa.event.listen(db.engine, "connect", _sqlite_pragmas)
    elif app.config["CASEFLOW_DB_POOL_PRE_PING"] == "idle" and not app.config["SQLALCHEMY_ENGINE_OPTIONS"].get(
            "pool_pre_ping"):
        with app.app_context():
            _ping_idle_connections(db.engine)


def _ping_idle_connections(engine: sa.Engine) -> None:
    """Test a connection that sat unused in the pool for POOL_IDLE_PING_SECONDS (a database restart may
    have ended it) before handing it out; one in steady use is not tested, which saves a round trip per
    request. A dead one is replaced: the pool retries the checkout with a new connection."""

    def note_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["caseflow.checked_in"] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.get("caseflow.checked_in")
        if checked_in is None or time.monotonic() - checked_in < settings.POOL_IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise sa.exc.DisconnectionError(f"pooled connection failed its idle test: {exc}") from exc

    sa.event.listen(engine, "checkin", note_checkin)
    sa.event.listen(engine, "checkout", ping_if_idle)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Durable, concurrent-enough SQLite: WAL, full sync, enforced foreign keys, wait on locks."""
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=10000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def configure_auth(app: Flask) -> None:
    from caseflow.models import User
    from caseflow.services.users import signed_in_user

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    limiter.init_app(app)
    app.after_request(_security_headers)

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        """The signed-in user, unless the account was disabled or its password changed since sign-in."""
        user_id, _, stamp = session_id.partition(".")
        user = signed_in_user(int(user_id)) if user_id.isdigit() else None
        if user is None or not user.active or stamp != user.session_stamp:
            return None
        return user


# Everything the UI loads is served from this site (no CDN, no inline script or style).
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def select_locale() -> str:
    """zh by default; English when the user or their session asks for it, or, for API callers (who have
    no session), the Accept-Language header."""
    locales = ("zh", "en")
    if request.path.startswith("/api/"):
        return request.accept_languages.best_match(locales) or "zh"
    if session.get("lang") in locales:
        return session["lang"]
    if current_user and current_user.is_authenticated:
        return current_user.locale
    return "zh"


def configure_i18n(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)


def configure_views(app: Flask) -> None:
    from caseflow.views import (
        admin, api, auth, case_files, cases, dashboard, fees, follow_ups, profile, progress, reminders, reports,
        subsidies, team, workflow_pages, workload,
    )
    from caseflow.views.ids import IdConverter

    app.url_map.converters["int"] = IdConverter  # ids in URLs that no row can have are a 404
    # progress is public: applicants look up their case and rate it without signing in.
    for module in (auth, cases, case_files, team, workload, dashboard, reminders, follow_ups, reports, subsidies,
                   fees, workflow_pages, profile, admin, api, progress):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)  # the API authenticates with bearer tokens, not cookies


def configure_templates(app: Flask) -> None:
    from caseflow.views import template_helpers

    template_helpers.register(app)


def configure_commands(app: Flask) -> None:
    from caseflow import commands

    commands.register(app)
