"""The durable outbox: every verified delivery and one row per (delivery, target repo).

The webhook handler writes a delivery and all its targets in one transaction before answering;
the primary keys make a redelivery add nothing. Deliveries recorded together share their INSERT
statements (a busy relay records a few per commit). Dispatch workers then claim due rows, and each
row ends `dispatched` or `failed`. A row also remembers which workflow run redeemed its callback token.
"""

from __future__ import annotations

import functools
import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from typing import Any, Literal, Protocol, TypeVar

import anyio
from pydantic import BaseModel, ConfigDict, Field

from relay.allowlist import Level
from relay.database import Database

__all__ = [
    "Delivery",
    "DispatchRecord",
    "DispatchStatus",
    "DispatchTask",
    "Outbox",
    "SqliteOutbox",
    "Target",
    "UpstreamEvent",
]

_T = TypeVar("_T")

UpstreamEvent = Literal["pull_request", "push"]
DispatchStatus = Literal["pending", "dispatched", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id   TEXT PRIMARY KEY,
    event         TEXT NOT NULL,
    action        TEXT,
    upstream_repo TEXT NOT NULL,
    pr_number     INTEGER,
    head_sha      TEXT NOT NULL,
    received_at   REAL NOT NULL,
    body_zlib     BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS dispatches (
    delivery_id      TEXT NOT NULL REFERENCES deliveries(delivery_id) ON DELETE CASCADE,
    repo             TEXT NOT NULL COLLATE NOCASE,
    level            TEXT NOT NULL,
    check_run_wanted INTEGER NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'dispatched', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL NOT NULL,
    lease_until      REAL,
    dispatched_at    REAL,
    last_error       TEXT,
    redeemed_run_id  INTEGER,
    PRIMARY KEY (delivery_id, repo)
);
CREATE INDEX IF NOT EXISTS dispatches_due ON dispatches (next_attempt_at) WHERE status = 'pending';
"""


class Delivery(BaseModel):
    """One verified upstream webhook that fans out."""

    model_config = ConfigDict(frozen=True)

    delivery_id: str
    event: UpstreamEvent
    action: str | None
    upstream_repo: str
    pr_number: int | None
    head_sha: str
    received_at: float
    body: str = Field(repr=False)
    """The webhook body exactly as GitHub signed it; passed through as `client_payload.payload`."""


class Target(BaseModel):
    model_config = ConfigDict(frozen=True)

    repo: str
    level: Level
    check_run_wanted: bool


class DispatchRecord(BaseModel):
    """The outbox row of one (delivery, repo), with the delivery facts a callback is checked against."""

    model_config = ConfigDict(frozen=True)

    delivery_id: str
    repo: str
    level: Level
    check_run_wanted: bool
    status: DispatchStatus
    attempts: int
    next_attempt_at: float
    dispatched_at: float | None
    last_error: str | None
    redeemed_run_id: int | None
    event: UpstreamEvent
    upstream_repo: str
    pr_number: int | None
    head_sha: str
    received_at: float


class DispatchTask(BaseModel):
    """A claimed row and the delivery to send."""

    model_config = ConfigDict(frozen=True)

    record: DispatchRecord
    delivery: Delivery


class Outbox(Protocol):
    def watch(self) -> anyio.Event:
        """An event set at the next change of the outbox (take it before reading, then wait)."""
        ...

    async def record(self, delivery: Delivery, targets: Sequence[Target]) -> bool:
        """Store a delivery and its targets; False (and nothing stored) when the delivery is known."""
        ...

    async def claim_due(self, now: float, *, limit: int, lease_seconds: float) -> list[DispatchTask]:
        """Lease up to `limit` due pending rows and count an attempt on each."""
        ...

    async def next_due(self) -> float | None: ...

    async def mark_dispatched(self, delivery_id: str, repo: str, at: float) -> None: ...

    async def mark_retry(self, delivery_id: str, repo: str, at: float, error: str) -> None: ...

    async def mark_failed(self, delivery_id: str, repo: str, error: str) -> None: ...

    async def release_leases(self) -> int:
        """Free rows leased by a process that is gone; their send may or may not have happened."""
        ...

    async def get(self, delivery_id: str, repo: str) -> DispatchRecord | None: ...

    async def for_delivery(self, delivery_id: str) -> list[DispatchRecord]: ...

    async def redeem(self, delivery_id: str, repo: str, run_id: int) -> int | None:
        """Bind the callback token to `run_id` if unbound; the run that holds it afterwards."""
        ...

    async def purge(self, before: float) -> int:
        """Forget deliveries received before `before`."""
        ...


_RECORD_SQL = """
SELECT d.delivery_id, d.repo, d.level, d.check_run_wanted, d.status, d.attempts, d.next_attempt_at,
       d.dispatched_at, d.last_error, d.redeemed_run_id,
       v.event, v.upstream_repo, v.pr_number, v.head_sha, v.received_at
FROM dispatches d JOIN deliveries v USING (delivery_id)
"""


# Rows per multi-row INSERT (one statement costs less than executemany's one per row); the chunks
# stay well under SQLite's limit on bound variables.
_DELIVERY_CHUNK = 100
_DISPATCH_CHUNK = 500


@functools.lru_cache(maxsize=128)
def _insert_deliveries(count: int) -> str:
    rows = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * count)
    return f"INSERT INTO deliveries VALUES {rows} ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id"


@functools.lru_cache(maxsize=128)
def _insert_dispatches(count: int) -> str:
    rows = ", ".join(["(?, ?, ?, ?, 'pending', ?)"] * count)
    return (
        "INSERT OR IGNORE INTO dispatches (delivery_id, repo, level, check_run_wanted, status, next_attempt_at)"
        f" VALUES {rows}"
    )


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    return (items[start : start + size] for start in range(0, len(items), size))


def _insert(conn: sqlite3.Connection, items: list[tuple[Delivery, Sequence[Target]]]) -> list[bool]:
    """Store deliveries with their targets; for each, whether it was new (and its targets stored).

    Bodies are compressed here, in the writer thread and outside the GIL: a third of the bytes to log
    and to checkpoint, which is what lets checkpoints keep up under sustained load.
    """
    stored: set[str] = set()
    for chunk in _chunks(items, _DELIVERY_CHUNK):
        values = [
            value
            for d, _ in chunk
            for value in (
                d.delivery_id,
                d.event,
                d.action,
                d.upstream_repo,
                d.pr_number,
                d.head_sha,
                d.received_at,
                zlib.compress(d.body.encode(), 1),
            )
        ]
        stored.update(row[0] for row in conn.execute(_insert_deliveries(len(chunk)), values))
    fresh: list[bool] = []
    rows: list[tuple[object, ...]] = []
    for delivery, targets in items:
        new = delivery.delivery_id in stored
        stored.discard(delivery.delivery_id)  # the same id twice in one batch: the second is a redelivery
        fresh.append(new)
        if new:
            rows.extend(
                (delivery.delivery_id, t.repo, t.level, t.check_run_wanted, delivery.received_at) for t in targets
            )
    for part in _chunks(rows, _DISPATCH_CHUNK):
        conn.execute(_insert_dispatches(len(part)), [value for row in part for value in row])
    return fresh


def _record(row: Any) -> DispatchRecord:
    return DispatchRecord.model_validate(dict(row))


class SqliteOutbox:
    """The outbox in the embedded database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._changed = anyio.Event()
        db.create(_SCHEMA)

    def watch(self) -> anyio.Event:
        return self._changed

    def _touch(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def _change(self, sql: str, params: Sequence[object]) -> int:
        count = await self._db.write(lambda conn: conn.execute(sql, params).rowcount)
        self._touch()
        return count

    async def record(self, delivery: Delivery, targets: Sequence[Target]) -> bool:
        inserted = await self._db.write_batched(_insert, (delivery, targets))
        if inserted:
            self._touch()
        return inserted

    async def claim_due(self, now: float, *, limit: int, lease_seconds: float) -> list[DispatchTask]:
        keys = await self._db.write(
            lambda conn: conn.execute(
                "UPDATE dispatches SET lease_until = ?, attempts = attempts + 1 WHERE rowid IN ("
                " SELECT rowid FROM dispatches WHERE status = 'pending' AND next_attempt_at <= ?"
                " AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_attempt_at LIMIT ?)"
                " RETURNING delivery_id, repo",
                (now + lease_seconds, now, now, limit),
            ).fetchall()
        )
        tasks: list[DispatchTask] = []
        deliveries: dict[str, Delivery] = {}
        for key in keys:
            record = await self.get(key["delivery_id"], key["repo"])
            if record is None:  # purged between the two statements
                continue
            if record.delivery_id not in deliveries:
                row = self._db.conn.execute(
                    "SELECT * FROM deliveries WHERE delivery_id = ?", (record.delivery_id,)
                ).fetchone()
                data = dict(row)
                data["body"] = zlib.decompress(data.pop("body_zlib")).decode()
                deliveries[record.delivery_id] = Delivery.model_validate(data)
            tasks.append(DispatchTask(record=record, delivery=deliveries[record.delivery_id]))
        return tasks

    async def next_due(self) -> float | None:
        row = self._db.conn.execute(
            "SELECT MIN(MAX(next_attempt_at, COALESCE(lease_until, 0))) FROM dispatches WHERE status = 'pending'"
        ).fetchone()
        return None if row[0] is None else float(row[0])

    async def mark_dispatched(self, delivery_id: str, repo: str, at: float) -> None:
        await self._change(
            "UPDATE dispatches SET status = 'dispatched', dispatched_at = ?, lease_until = NULL, last_error = NULL"
            " WHERE delivery_id = ? AND repo = ?",
            (at, delivery_id, repo),
        )

    async def mark_retry(self, delivery_id: str, repo: str, at: float, error: str) -> None:
        await self._change(
            "UPDATE dispatches SET next_attempt_at = ?, lease_until = NULL, last_error = ?"
            " WHERE delivery_id = ? AND repo = ? AND status = 'pending'",
            (at, error, delivery_id, repo),
        )

    async def mark_failed(self, delivery_id: str, repo: str, error: str) -> None:
        await self._change(
            "UPDATE dispatches SET status = 'failed', lease_until = NULL, last_error = ?"
            " WHERE delivery_id = ? AND repo = ? AND status = 'pending'",
            (error, delivery_id, repo),
        )

    async def release_leases(self) -> int:
        return await self._change(
            "UPDATE dispatches SET lease_until = NULL WHERE status = 'pending' AND lease_until IS NOT NULL", ()
        )

    async def get(self, delivery_id: str, repo: str) -> DispatchRecord | None:
        row = self._db.conn.execute(
            _RECORD_SQL + " WHERE d.delivery_id = ? AND d.repo = ?", (delivery_id, repo)
        ).fetchone()
        return None if row is None else _record(row)

    async def for_delivery(self, delivery_id: str) -> list[DispatchRecord]:
        rows = self._db.conn.execute(_RECORD_SQL + " WHERE d.delivery_id = ? ORDER BY d.repo", (delivery_id,))
        return [_record(row) for row in rows]

    async def redeem(self, delivery_id: str, repo: str, run_id: int) -> int | None:
        def bind(conn: sqlite3.Connection) -> int | None:
            conn.execute(
                "UPDATE dispatches SET redeemed_run_id = ?"
                " WHERE delivery_id = ? AND repo = ? AND redeemed_run_id IS NULL",
                (run_id, delivery_id, repo),
            )
            row = conn.execute(
                "SELECT redeemed_run_id FROM dispatches WHERE delivery_id = ? AND repo = ?", (delivery_id, repo)
            ).fetchone()
            return None if row is None else int(row["redeemed_run_id"])

        return await self._db.write(bind)

    async def purge(self, before: float) -> int:
        return await self._db.write(
            lambda conn: conn.execute("DELETE FROM deliveries WHERE received_at < ?", (before,)).rowcount
        )
