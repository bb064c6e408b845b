"""Test harness: one app per session on a real database (SQLite file by default, PostgreSQL when
CASEFLOW_TEST_DATABASE_URL is set), schema built by the real migrations, every table emptied after
each test (shipped configuration put back) so tests can commit like the application does."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from flask_migrate import upgrade

from caseflow import create_app
from caseflow.extensions import db as _db, limiter
from caseflow.services.queues import forget_team_directories
from tests import factories


def _database_url(tmp_dir: Path) -> str:
    return os.environ.get("CASEFLOW_TEST_DATABASE_URL") or f"sqlite:///{tmp_dir / 'test.sqlite3'}"


class IsolatedClient(FlaskClient):
    """A test client that gives every request a fresh app context, as production does.

    The autouse ``db`` fixture keeps an app context pushed for the whole test, and Flask reuses a pushed
    context for test requests. Requests would then share ``g`` (Flask-Login's cached user, Flask-Babel's
    cached locale) and the database session with the test and with each other.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


def _test_settings(database_url: str, **overrides) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-secret-key",
        "WTF_CSRF_ENABLED": False,
        # Tests sign in hundreds of times from one address; ``limited_app`` lowers the limit to test it.
        "CASEFLOW_SIGN_IN_RATE_LIMIT": "100000 per minute",
        # A cheap hash keeps hundreds of test users fast; production uses scrypt (the default).
        "CASEFLOW_PASSWORD_HASH": "pbkdf2:sha256:1000",
    } | overrides


# Configuration the migrations ship (subsidy schemes, fee types): put back as shipped after each test.
REFERENCE_TABLES = ("subsidy_scheme", "fee_type")


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory):
    instance = tmp_path_factory.mktemp("instance")
    app = create_app(_test_settings(_database_url(instance)))
    app.instance_path = str(instance)
    app.test_client_class = IsolatedClient
    with app.app_context():
        if _db.engine.dialect.name == "postgresql":
            with _db.engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        with _db.engine.connect() as conn:
            app.extensions["shipped_reference_rows"] = {
                name: [dict(row._mapping) for row in conn.execute(_db.metadata.tables[name].select())]
                for name in REFERENCE_TABLES
            }
    yield app


@pytest.fixture(autouse=True)
def db(app):
    """An app context for the test, and empty tables afterwards."""
    with app.app_context():
        yield _db
        _db.session.rollback()
        _db.session.remove()
        # The tables are emptied below the session: the team queue's cached handlers and villages would
        # outlive them.
        forget_team_directories(app)
        with _db.engine.begin() as conn:
            # DELETE, not TRUNCATE: a test leaves a few rows, and PostgreSQL's TRUNCATE replaces every
            # table's files, which made each test several times slower.
            for table in reversed(_db.metadata.sorted_tables):
                conn.execute(table.delete())
            if conn.dialect.name == "postgresql":  # ids start at 1 again, as on a fresh database
                conn.execute(sa.text("SELECT setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n "
                                     "ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND n.nspname = 'public'"))
            for name, rows in app.extensions["shipped_reference_rows"].items():
                conn.execute(_db.metadata.tables[name].insert(), rows)
            if conn.dialect.name == "postgresql":  # ids were given explicitly: move the sequences past them
                for name in REFERENCE_TABLES:
                    conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                         f"(SELECT coalesce(max(id), 0) + 1 FROM {name}), false)"))


@pytest.fixture
def csrf_app(app):
    """The app as deployed, CSRF protection on, on the same database as ``app``."""
    protected = create_app(_test_settings(app.config["SQLALCHEMY_DATABASE_URI"], WTF_CSRF_ENABLED=True))
    protected.test_client_class = IsolatedClient
    yield protected
    with protected.app_context():
        _db.engine.dispose()


@pytest.fixture
def limited_app(app, monkeypatch):
    """The test app with password checks (sign-in, API tokens, password change) throttled at 3 a minute;
    counters reset before and after."""
    monkeypatch.setitem(app.config, "CASEFLOW_SIGN_IN_RATE_LIMIT", "3 per minute")
    limiter.reset()
    yield app
    limiter.reset()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def office(db):
    """A township with two villages and one committed user per role (password: factories.PASSWORD)."""
    return factories.make_office()


def login(client, username: str, password: str = factories.PASSWORD):
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response
