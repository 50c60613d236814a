"""The per-job state machine: (dispatched) -> in_progress -> completed, or timed_out by the sweeper.

The dispatch itself is the outbox row; this module tracks each downstream job that reports against
it, keyed by (delivery, repo, run id, run attempt, job name). Deciding a transition is a pure
function; applying it is a compare-and-set on the state the decision was made from, so two racing
callbacks for one job can never both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from relay.database import Database

__all__ = [
    "Applied",
    "Duplicate",
    "JobKey",
    "JobRecord",
    "JobReport",
    "JobState",
    "JobStore",
    "Rejected",
    "ReportStatus",
    "SqliteJobStore",
    "Transition",
    "plan_timeout",
    "plan_transition",
]

JobState = Literal["in_progress", "completed", "timed_out"]
ReportStatus = Literal["in_progress", "completed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    delivery_id        TEXT NOT NULL,
    repo               TEXT NOT NULL COLLATE NOCASE,
    run_id             INTEGER NOT NULL,
    run_attempt        INTEGER NOT NULL,
    job_name           TEXT NOT NULL,
    workflow_name      TEXT NOT NULL,
    check_run_id       TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('in_progress', 'completed', 'timed_out')),
    conclusion         TEXT,
    in_progress_at     REAL NOT NULL,
    completed_at       REAL,
    in_progress_digest TEXT NOT NULL,
    completed_digest   TEXT,
    PRIMARY KEY (delivery_id, repo, run_id, run_attempt, job_name)
);
CREATE INDEX IF NOT EXISTS jobs_in_progress ON jobs (in_progress_at) WHERE state = 'in_progress';
"""


class JobKey(BaseModel):
    model_config = ConfigDict(frozen=True)

    delivery_id: str
    repo: str
    run_id: int
    run_attempt: int
    job_name: str

    def __str__(self) -> str:
        return f"{self.repo} run {self.run_id} attempt {self.run_attempt} job {self.job_name!r}"


class JobReport(BaseModel):
    """What a callback asks of the state machine."""

    model_config = ConfigDict(frozen=True)

    status: ReportStatus
    conclusion: str | None
    workflow_name: str
    check_run_id: str
    digest: str
    """Hash of the canonical callback body: equal digests make an exact duplicate."""


class JobRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: JobKey
    workflow_name: str
    check_run_id: str
    state: JobState
    conclusion: str | None
    in_progress_at: float
    completed_at: float | None
    in_progress_digest: str
    completed_digest: str | None


@dataclass(frozen=True)
class Applied:
    """Write `record` if the stored state is still `expected` (None: no record yet)."""

    record: JobRecord
    expected: JobState | None


@dataclass(frozen=True)
class Duplicate:
    """The same report was already applied; nothing changes."""

    record: JobRecord


@dataclass(frozen=True)
class Rejected:
    """An invalid transition, with a message for the downstream job's log."""

    message: str


Transition = Applied | Duplicate | Rejected


def plan_transition(current: JobRecord | None, key: JobKey, report: JobReport, now: float) -> Transition:
    """Decide what a report does to a job, from the job's current record."""
    if current is None:
        if report.status == "completed":
            return Rejected(
                f"{key}: completed without an in_progress report; report in_progress when the job starts "
                "(the relay measures queue and execution time from it)"
            )
        record = JobRecord(
            key=key,
            workflow_name=report.workflow_name,
            check_run_id=report.check_run_id,
            state="in_progress",
            conclusion=None,
            in_progress_at=now,
            completed_at=None,
            in_progress_digest=report.digest,
            completed_digest=None,
        )
        return Applied(record, expected=None)
    if report.status == "in_progress" and report.digest == current.in_progress_digest:
        return Duplicate(current)
    if report.status == "completed" and report.digest == current.completed_digest and current.state == "completed":
        return Duplicate(current)
    if current.state == "in_progress":
        if report.status == "in_progress":
            return Rejected(f"{key}: already in_progress; a second, different in_progress report is refused")
        done = current.model_copy(
            update={
                "state": "completed",
                "conclusion": report.conclusion,
                "completed_at": now,
                "completed_digest": report.digest,
            }
        )
        return Applied(done, expected="in_progress")
    if current.state == "timed_out":
        return Rejected(
            f"{key}: the relay marked this job timed_out after it stayed in_progress without news; "
            f"the {report.status} report came too late"
        )
    return Rejected(f"{key}: already completed with conclusion {current.conclusion}; {report.status} is refused")


def plan_timeout(current: JobRecord, now: float) -> Applied | None:
    """The sweeper's transition: in_progress -> timed_out; None when the job moved on meanwhile."""
    if current.state != "in_progress":
        return None
    return Applied(
        current.model_copy(update={"state": "timed_out", "conclusion": "timed_out", "completed_at": now}),
        expected="in_progress",
    )


class JobStore(Protocol):
    async def get(self, key: JobKey) -> JobRecord | None: ...

    async def put_if(self, record: JobRecord, expected: JobState | None) -> bool:
        """Write `record` only if the stored state is `expected`; True when written."""
        ...

    async def stale(self, before: float, *, limit: int) -> list[JobRecord]:
        """In-progress jobs that started before `before`, oldest first."""
        ...

    async def purge(self, before: float) -> int: ...


def _record(row: Any) -> JobRecord:
    data = dict(row)
    key = JobKey(**{name: data.pop(name) for name in JobKey.model_fields})
    return JobRecord(key=key, **data)


class SqliteJobStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        db.create(_SCHEMA)

    async def get(self, key: JobKey) -> JobRecord | None:
        row = self._db.conn.execute(
            "SELECT * FROM jobs WHERE delivery_id = ? AND repo = ? AND run_id = ? AND run_attempt = ? AND job_name = ?",
            (key.delivery_id, key.repo, key.run_id, key.run_attempt, key.job_name),
        ).fetchone()
        return None if row is None else _record(row)

    async def put_if(self, record: JobRecord, expected: JobState | None) -> bool:
        k = record.key
        row: tuple[object, ...]
        if expected is None:
            row = (
                k.delivery_id,
                k.repo,
                k.run_id,
                k.run_attempt,
                k.job_name,
                record.workflow_name,
                record.check_run_id,
                record.state,
                record.conclusion,
                record.in_progress_at,
                record.completed_at,
                record.in_progress_digest,
                record.completed_digest,
            )
            sql = "INSERT OR IGNORE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        else:
            row = (
                record.state,
                record.conclusion,
                record.completed_at,
                record.completed_digest,
                k.delivery_id,
                k.repo,
                k.run_id,
                k.run_attempt,
                k.job_name,
                expected,
            )
            sql = (
                "UPDATE jobs SET state = ?, conclusion = ?, completed_at = ?, completed_digest = ?"
                " WHERE delivery_id = ? AND repo = ? AND run_id = ? AND run_attempt = ? AND job_name = ? AND state = ?"
            )
        return bool(await self._db.write(lambda conn: conn.execute(sql, row).rowcount))

    async def stale(self, before: float, *, limit: int) -> list[JobRecord]:
        rows = self._db.conn.execute(
            "SELECT * FROM jobs WHERE state = 'in_progress' AND in_progress_at < ? ORDER BY in_progress_at LIMIT ?",
            (before, limit),
        )
        return [_record(row) for row in rows]

    async def purge(self, before: float) -> int:
        return await self._db.write(
            lambda conn: (
                conn.execute(
                    "DELETE FROM jobs WHERE state != 'in_progress' AND COALESCE(completed_at, in_progress_at) < ?",
                    (before,),
                ).rowcount
            )
        )
