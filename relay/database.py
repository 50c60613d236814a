"""The embedded SQLite database that holds the outbox, the job states and the results.

One process owns the file (an exclusive lock next to it says so). Reads run inline on the event
loop through their own connection: in WAL mode they never wait for a writer. Writes go to a single
writer thread with group commit: whatever writes queue up while one transaction commits go into
the next one together (if one of them fails, each is redone alone, so only that one reports an
error). The loop never blocks on a commit, and under load a commit is shared by many requests.
Writes of one kind that share a commit can also share their statements (`write_batched`): fewer
statements mean less Python work in the writer thread and fewer hand-overs of the GIL between it
and the event loop, which is what limits a busy relay.

Durability: WAL with `synchronous=NORMAL` (the default) makes a transaction durable against a crash
of the process as soon as COMMIT returns, because the log is written (not synced) before it does;
only an OS crash or a power loss can lose the last commits. `synchronous=FULL` also syncs the log
on every commit. Checkpoints (copying the log back into the database) run in the writer thread,
between transactions: one running beside a busy writer never finds the whole log copied when a
transaction starts, so the log is never restarted, grows without bound, and every commit then
writes to new file pages (which the kernel zeroes first).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Literal, TypeVar, cast

import anyio

__all__ = ["SCHEMA_VERSION", "Database", "DatabaseBusy", "DatabaseOutdated"]

T = TypeVar("T")
Item = TypeVar("Item")


SCHEMA_VERSION = 1
"""The layout of the relay's tables, kept in the file's `user_version`; raise it when a table changes shape."""


class DatabaseBusy(RuntimeError):
    """Another relay process already owns the database file."""


class DatabaseOutdated(RuntimeError):
    """The database file was written by a relay whose tables have another layout."""


_BatchFn = Callable[[sqlite3.Connection, list[Any]], Sequence[object]]


class _Write:
    def __init__(self, fn: _BatchFn | None, item: object, loop: asyncio.AbstractEventLoop) -> None:
        self.fn = fn
        """None for a checkpoint."""
        self.item = item
        self.future: asyncio.Future[object] = loop.create_future()
        self.loop = loop


def _each(conn: sqlite3.Connection, fns: list[Callable[[sqlite3.Connection], T]]) -> list[T]:
    return [fn(conn) for fn in fns]


def _settle(outcomes: list[tuple[_Write, object, BaseException | None]]) -> None:
    """Hand a batch's outcomes to their callers (on the event loop)."""
    for entry, result, error in outcomes:
        if entry.future.cancelled():  # the caller went away; the write itself stands
            continue
        if error is None:
            entry.future.set_result(result)
        else:
            entry.future.set_exception(error)


class Database:
    """A SQLite database in WAL mode, owned by this process until closed."""

    def __init__(self, path: Path, *, synchronous: Literal["normal", "full"] = "normal") -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file: IO[bytes] | None = open(path.with_name(path.name + ".lock"), "wb")  # noqa: SIM115 -- held until close()
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_file.close()
            raise DatabaseBusy(
                f"another relay process is using {path}; stop it or point store.database elsewhere"
            ) from exc
        self._writer = self._connect(synchronous)
        try:
            self._check_layout()
        except DatabaseOutdated:
            self._writer.close()
            self._lock_file.close()
            raise
        self._writer.execute("PRAGMA journal_mode=WAL")
        self.conn = self._connect(synchronous)
        """For reads on the event loop; writes go through write()."""
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"sqlite-writer:{path.name}", daemon=True)
        self._thread.start()

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        # Autocommit: the writer opens the transactions. Each connection is used by one thread at a time.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # see checkpoints()
        return conn

    def _check_layout(self) -> None:
        (version,) = self._writer.execute("PRAGMA user_version").fetchone()
        if version == SCHEMA_VERSION:
            return
        if version == 0 and self._writer.execute("SELECT 1 FROM sqlite_schema LIMIT 1").fetchone() is None:
            self._writer.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")  # a new file
            return
        raise DatabaseOutdated(
            f"{self.path} holds relay tables of layout {version}, and this relay reads layout {SCHEMA_VERSION}; "
            "move the file (and its .journal) away, or point store.database elsewhere"
        )

    def create(self, schema: str) -> None:
        """Create tables and indexes if missing; at start-up, before any write()."""
        self._writer.executescript(schema)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on the writer connection inside a committed transaction; its result or its error.

        If the caller is cancelled meanwhile, the write may still be committed. (asyncio only, which
        is what uvicorn runs.)
        """
        return await self.write_batched(_each, fn)

    async def write_batched(self, fn: Callable[[sqlite3.Connection, list[Item]], Sequence[T]], item: Item) -> T:
        """Like write(), for writes that are cheaper many at a time: the items queued one after another
        for the same `fn` are passed to one call of it, which returns one result per item, in order."""
        return cast(T, await self._submit(fn, item))

    async def checkpoint(self) -> None:
        """Copy the write-ahead log into the database, between two transactions of the writer thread."""
        await self._submit(None, None)

    async def _submit(self, fn: _BatchFn | None, item: object) -> object:
        if not self._thread.is_alive():
            raise RuntimeError(f"the database {self.path} is closed")
        entry = _Write(fn, item, asyncio.get_running_loop())
        self._queue.put(entry)
        return await entry.future

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            if first.fn is None:
                self._checkpoint(first)
                continue
            batch = [first]
            while True:  # everything queued meanwhile shares the commit
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
                if entry is None or entry.fn is None:
                    self._queue.put(entry)  # a stop or a checkpoint: after this batch
                    break
                batch.append(entry)
            self._commit(batch)

    def _checkpoint(self, entry: _Write) -> None:
        outcome: tuple[_Write, object, BaseException | None] = (entry, None, None)
        try:
            self._writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            outcome = (entry, None, exc)
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting any more
            entry.loop.call_soon_threadsafe(_settle, [outcome])

    def _commit(self, batch: list[_Write]) -> None:
        outcomes = self._apply(batch)
        loops = {entry.loop for entry in batch}
        for loop in loops:  # one wake-up per loop and batch, not one per write
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, [o for o in outcomes if o[0].loop is loop])

    def _apply(self, batch: list[_Write]) -> list[tuple[_Write, object, BaseException | None]]:
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
            results: list[object] = []
            for fn, group in itertools.groupby(batch, key=lambda entry: entry.fn):
                items = [entry.item for entry in group]
                done = fn(conn, items)
                if len(done) != len(items):
                    name = getattr(fn, "__qualname__", repr(fn))
                    raise RuntimeError(f"{name} returned {len(done)} results for {len(items)} writes")
                results.extend(done)
            conn.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 -- one write failed: redo each alone so only that one reports it
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if len(batch) == 1:
                return [(batch[0], None, exc)]
            return [outcome for entry in batch for outcome in self._apply([entry])]
        return [(entry, result, None) for entry, result in zip(batch, results, strict=True)]

    async def checkpoints(self, interval: float = 1.0) -> None:
        """Checkpoint once per interval, until cancelled."""
        while True:
            await anyio.sleep(interval)
            await self.checkpoint()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self.conn.close()
        self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._writer.close()
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the flock
            self._lock_file = None
