"""Flask extensions, created once and bound to the app in ``create_app``; and the unit-of-work helper."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session

# Alembic needs deterministic constraint names to alter or drop them later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
# Only the sign-in endpoints are limited (see views); counters live in RATELIMIT_STORAGE_URI.
limiter = Limiter(key_func=get_remote_address)


# The INSERT constructs with ON CONFLICT clauses, by dialect name (SQLite's for any other, as before).
INSERT_BY_DIALECT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def holds_changes_to(session: Session, classes: tuple[type[Base], ...]) -> bool:
    """Whether ``session`` holds new, changed or deleted objects of ``classes`` (before a flush): for the
    caches that a write to their rows makes stale."""
    return any(isinstance(row, classes) for row in (*session.new, *session.dirty, *session.deleted))


def bulk_writes_to(execution: ORMExecuteState, tables: frozenset[Table]) -> bool:
    """Whether ``execution`` is an INSERT, UPDATE or DELETE statement on one of ``tables`` (the writes that
    bypass the unit of work, and so ``holds_changes_to``)."""
    return ((execution.is_insert or execution.is_update or execution.is_delete)
            and getattr(execution.statement, "table", None) in tables)


def dialect_insert(target: type[Base] | Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into ``target`` in the session's dialect, which has the ON CONFLICT clauses."""
    return INSERT_BY_DIALECT.get(db.session.get_bind().dialect.name, sqlite.insert)(target)


def insert_or_nothing(entity: type[Base], *conflict_columns: str) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into ``entity``'s table that does nothing where a row with the same ``conflict_columns``
    (a unique key) exists, in the session's dialect: a concurrent transaction inserting the same key waits
    for ours, then does nothing, instead of failing on the constraint. Rather than a savepoint around a
    plain INSERT: with the sqlite3 driver, a savepoint opened before the transaction's first write commits
    at once when released."""
    return dialect_insert(entity).on_conflict_do_nothing(index_elements=list(conflict_columns))


@contextmanager
def transactional() -> Iterator[Session]:
    """One unit of work: commit when the block succeeds, roll back on any error.

    Services flush but never commit; views, CLI commands and jobs wrap their service calls in this.
    """
    session = db.session
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
