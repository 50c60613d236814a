"""The embedded SQLite database that holds the outbox, the job states and the results.

One process owns the file (an exclusive lock next to it says so): the relay's single event loop is
then the only writer, and every statement runs inline on it. A statement on local disk in WAL mode
takes well under a millisecond, less than handing it to a thread would cost.
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal

__all__ = ["Database", "DatabaseBusy"]


class DatabaseBusy(RuntimeError):
    """Another relay process already owns the database file."""


class Database:
    """A SQLite connection in WAL mode, owned by this process until closed."""

    def __init__(self, path: Path, *, synchronous: Literal["normal", "full"] = "normal") -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock: IO[bytes] | None = open(path.with_name(path.name + ".lock"), "wb")  # noqa: SIM115 -- held until close()
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock.close()
            raise DatabaseBusy(
                f"another relay process is using {path}; stop it or point store.database elsewhere"
            ) from exc
        # Autocommit; multi-statement writes use transaction(). The loop thread is the only user.
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self.conn.execute("PRAGMA busy_timeout=5000")
        self.conn.execute("PRAGMA foreign_keys=ON")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()
        if self._lock is not None:
            self._lock.close()  # closing releases the flock
            self._lock = None
