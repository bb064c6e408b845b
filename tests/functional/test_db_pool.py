"""The connection pool's pre-ping (CASEFLOW_DB_POOL_PRE_PING): a connection that sat unused is tested before
use and replaced when the database ended it; one in steady use is handed out without the round trip."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from caseflow import config, create_app
from caseflow.extensions import db
from tests.conftest import _test_settings


@pytest.mark.parametrize(("value", "mode"), [(None, "idle"), ("idle", "idle"), ("always", "always"), ("true", "always"),
                                             ("on", "always"), ("never", "never"), ("off", "never"), ("0", "never")])
def test_the_pre_ping_setting_names_a_mode(app, monkeypatch, value, mode):
    if value is None:
        monkeypatch.delenv("CASEFLOW_DB_POOL_PRE_PING", raising=False)
    else:
        monkeypatch.setenv("CASEFLOW_DB_POOL_PRE_PING", value)
    assert config.load_settings(app.instance_path)["CASEFLOW_DB_POOL_PRE_PING"] == mode


def test_a_misspelt_pre_ping_mode_stops_the_app_at_start(app, monkeypatch):
    monkeypatch.setenv("CASEFLOW_DB_POOL_PRE_PING", "sometimes")
    with pytest.raises(ValueError, match="CASEFLOW_DB_POOL_PRE_PING must be one of idle, always, never"):
        create_app(_test_settings(app.config["SQLALCHEMY_DATABASE_URI"]))


@pytest.fixture
def pooled(app, monkeypatch):
    """An app of its own on the test database, in the default (idle) mode, one pooled connection."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("SQLite keeps SQLAlchemy's own pool, without pre-ping")
    monkeypatch.delenv("CASEFLOW_DB_POOL_PRE_PING", raising=False)
    monkeypatch.setenv("CASEFLOW_DB_POOL_SIZE", "1")
    monkeypatch.setenv("CASEFLOW_DB_MAX_OVERFLOW", "0")
    own = create_app(_test_settings(app.config["SQLALCHEMY_DATABASE_URI"]))
    with own.app_context():
        yield db.engine
        db.engine.dispose()


def _backend(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.text("select pg_backend_pid()"))


def _end_backend(engine: sa.Engine, pid: int) -> None:
    """What a database restart does to one connection: the server ends it (from a connection of its own)."""
    other = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    with other.connect() as connection:
        connection.execute(sa.text("select pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()


def test_an_idle_connection_the_database_ended_is_replaced_before_use(pooled, monkeypatch):
    assert pooled.pool._pre_ping is False  # no round trip on every checkout
    first = _backend(pooled)
    _end_backend(pooled, first)
    monkeypatch.setattr(config, "POOL_IDLE_PING_SECONDS", 0)  # the connection has now sat long enough
    assert _backend(pooled) != first  # tested, found dead, replaced: the caller never saw the error


def test_a_connection_in_steady_use_is_not_tested(pooled, monkeypatch):
    first = _backend(pooled)
    assert _backend(pooled) == first
    _end_backend(pooled, first)
    monkeypatch.setattr(config, "POOL_IDLE_PING_SECONDS", 3600)
    # Not tested, so the first statement meets the ended connection; the pool then starts afresh.
    with pytest.raises(sa.exc.OperationalError):
        _backend(pooled)
    assert _backend(pooled) != first
