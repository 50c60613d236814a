"""Recording deliveries: durable in the journal before the answer, stored in SQLite in batches after it.

The event loop does the least a durable answer needs: a lookup in the set of known delivery ids and
one write into the journal. Every `FLUSH_DELAY` the writer thread stores what arrived meanwhile in one
transaction: the bodies compressed together into one pack, one row per delivery (its targets with
it, as JSON), and the journal position replay would resume from. Every statement takes its rows as
one JSON parameter, so the writer thread hands the GIL to the loop and back a few times per batch
rather than once per row; those hand-overs, not the SQL, are what a busy loop feels.

The rows per (delivery, target repo) are made by the outbox when the dispatcher first claims the
delivery (relay/dispatch_rows.py): twenty rows and their index entries per webhook were most of what a
burst of webhooks cost, and dispatching goes at GitHub's pace, far below the webhooks' own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import lz4.frame
import orjson

from relay.database import Database
from relay.delivery import Delivery, Target
from relay.journal import Journal, JournalFull, JournalRecord

__all__ = ["FLUSH_DELAY", "Intake", "OutboxBusy"]

log = logging.getLogger(__name__)

FLUSH_DELAY = 0.05
"""Seconds a recorded delivery waits for others to share its batch (dispatch happens after it)."""
_RETRY_DELAY = 1.0
_FULL_WAIT = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bodies (
    pack_id INTEGER PRIMARY KEY,
    lz4     BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id   TEXT PRIMARY KEY,
    event         TEXT NOT NULL,
    action        TEXT,
    upstream_repo TEXT NOT NULL,
    pr_number     INTEGER,
    head_sha      TEXT NOT NULL,
    received_at   REAL NOT NULL,
    body_pack     INTEGER NOT NULL REFERENCES bodies(pack_id),
    body_offset   INTEGER NOT NULL,
    body_length   INTEGER NOT NULL,
    fanout        TEXT
    -- the targets, [[repo, level, check_run_wanted], ...], until the outbox makes their dispatch rows
);
CREATE INDEX IF NOT EXISTS deliveries_fanout ON deliveries (received_at) WHERE fanout IS NOT NULL;
CREATE TABLE IF NOT EXISTS journal (
    journal_id INTEGER NOT NULL,
    next_seq   INTEGER NOT NULL,
    position   INTEGER NOT NULL
);
"""

_INSERT = (
    "INSERT INTO deliveries SELECT r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4,"
    " r.value ->> 5, r.value ->> 6, :pack, r.value ->> 7, r.value ->> 8, r.value -> 9 FROM json_each(:rows) r"
    " WHERE true ON CONFLICT (delivery_id) DO NOTHING"
)


class OutboxBusy(RuntimeError):
    """The journal stayed full: the database is not keeping up (or failing)."""


@dataclass(frozen=True)
class _Entry:
    delivery_id: str
    seq: int
    end: int
    row: tuple[object, ...]
    """delivery_id, event, action, upstream_repo, pr_number, head_sha, received_at."""
    targets: bytes
    body: bytes


def _compress(bodies: Sequence[bytes]) -> bytes:
    # One call for the whole batch: lz4 lets go of the GIL for each call, and taking it back while the
    # event loop runs stalls the loop. One call per body cost ~60 us of the relay's CPU per webhook; the join, ~1.
    compressed: bytes = lz4.frame.compress(b"".join(bodies))
    return compressed


def _store(conn: sqlite3.Connection, batch: Sequence[_Entry], journal_id: int) -> None:
    """One transaction for the batch; a delivery already stored (a replay) is skipped."""
    unique = list({entry.delivery_id: entry for entry in reversed(batch)}.values())[::-1]  # the first copy counts
    pack = conn.execute("INSERT INTO bodies (lz4) VALUES (?) RETURNING pack_id", (_compress([e.body for e in unique]),))
    pack_id = pack.fetchone()[0]
    rows: list[tuple[object, ...]] = []
    offset = 0
    for entry in unique:
        rows.append((*entry.row, offset, len(entry.body), orjson.Fragment(entry.targets)))
        offset += len(entry.body)
    conn.execute(_INSERT, {"pack": pack_id, "rows": orjson.dumps(rows)})
    conn.execute(
        "UPDATE journal SET next_seq = ?, position = ? WHERE journal_id = ?",
        (batch[-1].seq + 1, batch[-1].end, journal_id),
    )


def _targets_json(targets: Sequence[Target]) -> bytes:
    return orjson.dumps([[t.repo, t.level, t.check_run_wanted] for t in targets])


def _entry(record: JournalRecord) -> _Entry:
    fields, _, targets = record.meta.partition(b"\n")
    row = tuple(orjson.loads(fields))
    return _Entry(str(row[0]), record.seq, record.end, row, targets, record.body)


class Intake:
    """The recording half of the outbox; `open()` it, then `close()` it before the database."""

    def __init__(
        self, db: Database, journal: Journal, known: set[str], *, sync_each: bool, on_stored: Callable[[], None]
    ) -> None:
        self._db = db
        self._on_stored = on_stored
        self._journal = journal
        self._known = known
        self._sync_each = sync_each
        self._pending: dict[str, _Entry] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._stored = asyncio.Event()
        self._synced = journal.next_seq - 1
        self._syncing: asyncio.Task[None] | None = None
        self._targets: dict[int, tuple[Sequence[Target], bytes]] = {}

    @classmethod
    async def open(
        cls, db: Database, path: Path, *, capacity: int, sync_each: bool, on_stored: Callable[[], None]
    ) -> Intake:
        """Open the journal and store whatever it holds that the database does not."""
        db.create(_SCHEMA)
        row = db.conn.execute("SELECT journal_id, next_seq, position FROM journal").fetchone()
        if row is None:
            row = (secrets.randbits(63), 1, 0)
            await db.write(lambda conn: conn.execute("INSERT INTO journal VALUES (?, ?, ?)", row))
        journal = Journal(path, capacity=capacity, journal_id=row[0], next_seq=row[1], position=row[2])
        if journal.recovered:
            log.info("storing %d deliveries the journal held at start", len(journal.recovered))
            batch = [_entry(record) for record in journal.recovered]
            await db.write(lambda conn: _store(conn, batch, journal.journal_id))
            journal.release(batch[-1].seq)
        known = {r[0] for r in db.conn.execute("SELECT delivery_id FROM deliveries")}
        return cls(db, journal, known, sync_each=sync_each, on_stored=on_stored)

    def holds(self, delivery_id: str) -> bool:
        """Whether the delivery is recorded but not in the database yet."""
        return delivery_id in self._pending

    def forget(self, delivery_ids: Sequence[str]) -> None:
        self._known.difference_update(delivery_ids)

    async def record(self, delivery: Delivery, targets: Sequence[Target]) -> bool:
        """False when the delivery is known; True once it is durable (OutboxBusy if it cannot be)."""
        key = delivery.delivery_id
        if key in self._known:
            return False
        self._known.add(key)  # before any await, so a concurrent redelivery sees it
        d = delivery
        row = (key, d.event, d.action, d.upstream_repo, d.pr_number, d.head_sha, d.received_at)
        targets_json = self._target_json(targets)
        try:
            record = await self._append(orjson.dumps(row) + b"\n" + targets_json, delivery.body)
            if self._sync_each:
                await self._durable(record.seq)
        except BaseException:
            self._known.discard(key)
            raise
        self._pending[key] = _Entry(key, record.seq, record.end, row, targets_json, record.body)
        if self._timer is None and self._flushing is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_DELAY, self._flush)
        return True

    def _target_json(self, targets: Sequence[Target]) -> bytes:
        # The webhook passes the same tuple for every delivery with the same allowlist and labels.
        cached = self._targets.get(id(targets))
        if cached is not None and cached[0] is targets:
            return cached[1]
        if len(self._targets) >= 64:
            self._targets.clear()
        encoded = _targets_json(targets)
        self._targets[id(targets)] = (targets, encoded)  # holding it keeps its id from being reused
        return encoded

    async def _append(self, meta: bytes, body: bytes) -> JournalRecord:
        with contextlib.suppress(JournalFull):
            return self._journal.append(meta, body)
        with anyio.move_on_after(_FULL_WAIT):  # only now: a cancel scope per webhook costs more than the write
            while True:
                try:
                    return self._journal.append(meta, body)
                except JournalFull:
                    await self._wait_stored()
        raise OutboxBusy(f"the intake journal has been full for {_FULL_WAIT:g} s; the database is not keeping up")

    async def _durable(self, seq: int) -> None:
        while self._synced < seq:
            if self._syncing is None:
                self._syncing = asyncio.ensure_future(self._sync(self._journal.next_seq - 1))
            await asyncio.shield(self._syncing)

    async def _sync(self, seq: int) -> None:
        try:
            await anyio.to_thread.run_sync(self._journal.sync)
            self._synced = max(self._synced, seq)
        finally:
            self._syncing = None

    def _flush(self) -> None:
        self._timer = None
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._store_pending())

    async def _store_pending(self) -> None:
        try:
            batch = list(self._pending.values())
            try:
                await self._db.write(lambda conn: _store(conn, batch, self._journal.journal_id))
            except sqlite3.Error:
                log.exception("storing %d recorded deliveries failed; they stay in the journal", len(batch))
                await asyncio.sleep(_RETRY_DELAY)
                return
            for entry in batch:
                del self._pending[entry.delivery_id]
            self._journal.release(batch[-1].seq)
            self._stored.set()
            self._stored = asyncio.Event()
            self._on_stored()
        finally:
            self._flushing = None
            if self._pending and self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(FLUSH_DELAY, self._flush)

    async def _wait_stored(self) -> None:
        stored = self._stored
        if self._pending:
            if self._timer is not None:
                self._timer.cancel()
            self._flush()
        await stored.wait()

    async def settle(self) -> None:
        """Wait until everything recorded so far is in the database."""
        while self._pending:
            await self._wait_stored()

    async def close(self) -> None:
        """Store what is pending (for a few seconds at most; the journal keeps the rest) and close."""
        with anyio.move_on_after(_FULL_WAIT):
            await self.settle()
        if self._timer is not None:
            self._timer.cancel()
        if self._flushing is not None:
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing
        self._journal.close()
