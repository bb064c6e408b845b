"""Leader election for scheduler processes: of all the candidates on one database, one leads.

``leadership_for(url)`` gives a :class:`Leadership` for the database at ``url``:

* ``try_acquire()`` — take the lead if nobody holds it; never blocks. True while this candidate leads.
* ``still_held()`` — whether this candidate still leads (check before each job run: a lost database
  connection loses the lead, and another process may have taken over).
* ``release()`` — give the lead up (also done by the operating system or the database when the process
  dies, which is how a dead leader is replaced: the others retry every few seconds).

PostgreSQL: a session-level advisory lock held on a dedicated connection for the leader's life; the
server drops it with the connection. SQLite (the quick start, one machine): an exclusive ``flock`` on a
lock file next to the database file; the kernel drops it with the process.
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

# pg_try_advisory_lock key: "caseflow" in ASCII. Constant, so every caseflow process contends for it.
ADVISORY_LOCK_KEY = int.from_bytes(b"caseflow", "big")


class Leadership(Protocol):
    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


class PostgresLeadership:
    """The lead is a session advisory lock on a connection of our own (not from the app's pool)."""

    def __init__(self, url: URL | str):
        self._engine = sa.create_engine(url, poolclass=NullPool)
        self._conn: sa.Connection | None = None
        # Job threads check the lead while the election thread renews it: one connection, used in turn.
        self._mutex = threading.Lock()

    def try_acquire(self) -> bool:
        with self._mutex:
            if self._conn is not None:
                return self._held()
            try:
                # Autocommit: the connection must not sit idle in a transaction for the leader's whole life.
                conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            except sa.exc.OperationalError as error:
                log.warning("leader election: cannot reach the database: %s", error.orig)
                return False
            try:
                got = conn.scalar(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            except sa.exc.DBAPIError:
                conn.close()
                return False
            if got:
                self._conn = conn
            else:
                conn.close()
            return bool(got)

    def _held(self) -> bool:
        assert self._conn is not None
        try:
            held = self._conn.scalar(
                sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = :key"),
                {"key": ADVISORY_LOCK_KEY})
        except sa.exc.DBAPIError:
            held = 0
        if not held:  # the connection died (and the lock with it): start over as a follower
            self._drop()
        return bool(held)

    def still_held(self) -> bool:
        with self._mutex:
            return self._conn is not None and self._held()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sa.exc.DBAPIError:
                pass
            self._conn = None

    def release(self) -> None:
        with self._mutex:
            if self._conn is not None:
                try:
                    self._conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
                except sa.exc.DBAPIError:
                    pass
            self._drop()
        self._engine.dispose()


class FileLeadership:
    """The lead is an exclusive ``flock`` on ``path``; each candidate opens the file itself."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None
        self._mutex = threading.Lock()

    def try_acquire(self) -> bool:
        with self._mutex:
            if self._fd is not None:
                return True
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._fd = fd
            return True

    def still_held(self) -> bool:
        # A flock lives as long as our open file: nothing but release() or our death ends it.
        with self._mutex:
            return self._fd is not None

    def release(self) -> None:
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)  # closing the only descriptor drops the lock
                self._fd = None


def leadership_for(url: URL | str) -> Leadership:
    """The leader election that fits the database at ``url``."""
    url = make_url(url)
    backend = url.get_backend_name()
    if backend == "postgresql":
        return PostgresLeadership(url)
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("leader election needs an SQLite database file, not an in-memory database")
        return FileLeadership(Path(url.database + ".scheduler-lock"))
    raise ValueError(f"no leader election for {backend} databases")
