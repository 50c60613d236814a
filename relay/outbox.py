"""The durable outbox: every verified delivery and one row per (delivery, target repo).

Recording goes through the intake (relay/intake.py): durable in its journal before the webhook is
answered, and a few milliseconds later a row in `deliveries` that carries its targets. The rows per
(delivery, repo) are made from those targets in the transaction that first claims the delivery for
dispatch (or first reads it), in the order deliveries came; the primary keys make a redelivery, a
replay or a second expansion add nothing. Dispatch workers claim due rows, and each row ends
`dispatched` or `failed`. A row also remembers which workflow run redeemed its callback token.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import anyio
import lz4.frame
from pydantic import BaseModel, ConfigDict

from relay import dispatch_rows
from relay.allowlist import Level
from relay.database import Database
from relay.delivery import Delivery, Target, UpstreamEvent
from relay.intake import Intake, OutboxBusy

__all__ = [
    "Delivery",
    "DispatchRecord",
    "DispatchStatus",
    "DispatchTask",
    "Outbox",
    "OutboxBusy",
    "SqliteOutbox",
    "Target",
    "UpstreamEvent",
]

DispatchStatus = Literal["pending", "dispatched", "failed"]


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


def _record(row: Any) -> DispatchRecord:
    return DispatchRecord.model_validate(dict(row))


class _Changes:
    """An event set at each change and then replaced: take it before reading, then wait on it."""

    def __init__(self) -> None:
        self.event = anyio.Event()

    def touch(self) -> None:
        self.event.set()
        self.event = anyio.Event()


class SqliteOutbox:
    """The outbox in the embedded database; make one with `open()` and `close()` it before the database."""

    def __init__(self, db: Database, intake: Intake, changes: _Changes) -> None:
        self._db = db
        self.intake = intake
        self._changes = changes
        self._last_pack: tuple[int | None, bytes] = (None, b"")
        """The pack last decompressed: its id and its bodies."""

    @classmethod
    async def open(
        cls, db: Database, *, journal: Path | None = None, journal_bytes: int = 64 << 20, sync_each: bool = False
    ) -> SqliteOutbox:
        """The outbox with its intake journal (next to the database unless given), replayed if need be."""
        db.create(dispatch_rows.SCHEMA)  # before the intake, whose replay fills these tables too
        changes = _Changes()
        intake = await Intake.open(
            db,
            journal or db.path.with_name(db.path.name + ".journal"),
            capacity=journal_bytes,
            sync_each=sync_each,
            on_stored=changes.touch,
        )
        return cls(db, intake, changes)

    async def close(self) -> None:
        await self.intake.close()

    def watch(self) -> anyio.Event:
        return self._changes.event

    async def _change(self, sql: str, params: Sequence[object]) -> int:
        count = await self._db.write(lambda conn: conn.execute(sql, params).rowcount)
        self._changes.touch()
        return count

    async def record(self, delivery: Delivery, targets: Sequence[Target]) -> bool:
        return await self.intake.record(delivery, targets)

    async def settle(self) -> None:
        """Wait until every delivery recorded so far is stored (its dispatch rows come when claimed or read)."""
        await self.intake.settle()

    async def _settled(self, delivery_id: str) -> None:
        """Wait until the delivery is stored and has its dispatch rows (the readers below expect them)."""
        if self.intake.holds(delivery_id):
            await self.intake.settle()
        sql = "SELECT 1 FROM deliveries WHERE delivery_id = ? AND fanout IS NOT NULL"
        if self._db.conn.execute(sql, (delivery_id,)).fetchone() is not None:
            await self._db.write(lambda conn: dispatch_rows.expand(conn, [delivery_id]))

    async def claim_due(self, now: float, *, limit: int, lease_seconds: float) -> list[DispatchTask]:
        keys = await self._db.write(
            lambda conn: dispatch_rows.claim(conn, now, limit=limit, lease_seconds=lease_seconds)
        )
        tasks: list[DispatchTask] = []
        deliveries: dict[str, Delivery] = {}
        for delivery_id, repo in keys:
            record = self._read(delivery_id, repo)
            if record is None:  # purged since the claim
                continue
            if record.delivery_id not in deliveries:
                deliveries[record.delivery_id] = self._delivery(record.delivery_id)
            tasks.append(DispatchTask(record=record, delivery=deliveries[record.delivery_id]))
        return tasks

    def _delivery(self, delivery_id: str) -> Delivery:
        row = dict(self._db.conn.execute("SELECT * FROM deliveries WHERE delivery_id = ?", (delivery_id,)).fetchone())
        pack_id, offset, length = row.pop("body_pack"), row.pop("body_offset"), row.pop("body_length")
        del row["fanout"]
        row["body"] = self._pack(pack_id)[offset : offset + length]
        return Delivery.model_validate(row)

    def _pack(self, pack_id: int) -> bytes:
        # Claims go in the order deliveries came, so one pack (a batch of up to a few hundred bodies)
        # serves many claims in a row; decompressing it for each claim of a few rows cost milliseconds.
        if self._last_pack[0] != pack_id:
            (blob,) = self._db.conn.execute("SELECT lz4 FROM bodies WHERE pack_id = ?", (pack_id,)).fetchone()
            self._last_pack = (pack_id, lz4.frame.decompress(blob))
        return self._last_pack[1]

    async def next_due(self) -> float | None:
        row = self._db.conn.execute(
            "SELECT MIN(due) FROM (SELECT MIN(MAX(next_attempt_at, COALESCE(lease_until, 0))) AS due FROM dispatches"
            " WHERE status = 'pending' UNION ALL SELECT MIN(received_at) FROM deliveries WHERE fanout IS NOT NULL)"
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
        await self._settled(delivery_id)
        return self._read(delivery_id, repo)

    def _read(self, delivery_id: str, repo: str) -> DispatchRecord | None:
        row = self._db.conn.execute(
            dispatch_rows.RECORD_SQL + " WHERE d.delivery_id = ? AND d.repo = ?", (delivery_id, repo)
        ).fetchone()
        return None if row is None else _record(row)

    async def for_delivery(self, delivery_id: str) -> list[DispatchRecord]:
        await self._settled(delivery_id)
        rows = self._db.conn.execute(
            dispatch_rows.RECORD_SQL + " WHERE d.delivery_id = ? ORDER BY d.repo", (delivery_id,)
        )
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

        await self._settled(delivery_id)
        return await self._db.write(bind)

    async def purge(self, before: float) -> int:
        def delete(conn: sqlite3.Connection) -> list[str]:
            sql = "DELETE FROM deliveries WHERE received_at < ? RETURNING delivery_id"
            gone = [row[0] for row in conn.execute(sql, (before,))]
            # Packs are made in order: those older than the oldest one in use are unused.
            conn.execute(
                "DELETE FROM bodies WHERE pack_id < COALESCE((SELECT MIN(body_pack) FROM deliveries), 1 << 62)"
            )
            return gone

        gone = await self._db.write(delete)
        self._last_pack = (None, b"")  # a deleted pack's id can be given to the next one
        self.intake.forget(gone)
        return len(gone)
