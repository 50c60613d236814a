"""The results store: one row per downstream job, written by the relay itself.

Rows are upserted on (downstream_repo, delivery_id, workflow_name, job_name, check_run_id), so the
completed report replaces the in_progress one, as ReplacingMergeTree does in production. Columns the
relay vouches for are kept apart from what the downstream job said: the `reported_*` columns
(`reported_body` holds the whole callback, keys sorted) are untrusted, and a later report never
blanks a value an earlier one gave (a completed report carries no `started_at`).

Mapping onto ClickHouse `default.crcr_workflow_job` (research §10.4), for the production backend:

| SQLite column                 | ClickHouse column                           | trust    |
|-------------------------------|---------------------------------------------|----------|
| downstream_repo               | downstream_repo (the OIDC `repository`)     | trusted  |
| downstream_repo_level         | downstream_repo_level                       | trusted  |
| delivery_id                   | delivery_id                                 | trusted  |
| upstream_repo                 | upstream_repo                               | trusted  |
| event_type                    | event_type                                  | trusted  |
| pr_number                     | pr_number (0 for push)                      | trusted  |
| head_sha                      | pytorch_head_sha                            | trusted  |
| status                        | status                                      | trusted  |
| queue_time, execution_time    | queue_time, execution_time                  | trusted  |
| updated_at                    | _inserted_at (the replacing version)        | trusted  |
| conclusion                    | conclusion (`timed_out` when swept)         | reported |
| workflow_name, job_name       | workflow_name, job_name                     | reported |
| check_run_id                  | check_run_id                                | reported |
| (the five key columns)        | dynamoKey `repo/delivery/workflow/job/check_run` | mixed |
| reported_run_id               | run_id                                      | reported |
| reported_run_attempt          | run_attempt                                 | reported |
| reported_run_url              | workflow_run_url                            | reported |
| reported_started_at           | started_at (DateTime64(9))                  | reported |
| reported_completed_at         | completed_at (DateTime64(9))                | reported |
| reported_total_tests          | total_tests                                 | reported |
| reported_passed_tests         | passed_tests                                | reported |
| reported_failed_tests         | failed_tests                                | reported |
| reported_skipped_tests        | skipped_tests                               | reported |
| reported_artifact_url         | artifact_url                                | reported |
| timed_out, dispatched_at, in_progress_at, completed_at, reported_body | no column: a side table, or dropped | — |

ClickHouse replaces whole rows, so its writer must send the merged row (carry reported values
forward from the in_progress report) where SQLite merges with COALESCE below.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from relay.allowlist import Level
from relay.callback_schema import WorkflowReport
from relay.database import Database
from relay.outbox import DispatchRecord
from relay.state import JobRecord

__all__ = ["ReportedFields", "ResultRow", "ResultsStore", "SqliteResultsStore", "build_row", "timings"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    downstream_repo       TEXT NOT NULL COLLATE NOCASE,
    delivery_id           TEXT NOT NULL,
    workflow_name         TEXT NOT NULL,
    job_name              TEXT NOT NULL,
    check_run_id          TEXT NOT NULL,
    -- trusted: verified, or measured by the relay, or from its own dispatch record
    downstream_repo_level TEXT NOT NULL,
    upstream_repo         TEXT NOT NULL,
    event_type            TEXT NOT NULL,
    pr_number             INTEGER NOT NULL,
    head_sha              TEXT NOT NULL,
    status                TEXT NOT NULL,
    conclusion            TEXT,
    timed_out             INTEGER NOT NULL,
    dispatched_at         REAL,
    in_progress_at        REAL,
    completed_at          REAL,
    queue_time            REAL,
    execution_time        REAL,
    updated_at            REAL NOT NULL,
    -- untrusted: as the downstream job reported it
    reported_run_id       INTEGER,
    reported_run_attempt  INTEGER,
    reported_run_url      TEXT,
    reported_started_at   TEXT,
    reported_completed_at TEXT,
    reported_total_tests  INTEGER,
    reported_passed_tests INTEGER,
    reported_failed_tests INTEGER,
    reported_skipped_tests INTEGER,
    reported_artifact_url TEXT,
    reported_body         TEXT,
    PRIMARY KEY (downstream_repo, delivery_id, workflow_name, job_name, check_run_id)
);
"""

_KEY = ("downstream_repo", "delivery_id", "workflow_name", "job_name", "check_run_id")
_REPLACED = (
    "downstream_repo_level",
    "upstream_repo",
    "event_type",
    "pr_number",
    "head_sha",
    "status",
    "conclusion",
    "timed_out",
    "dispatched_at",
    "in_progress_at",
    "completed_at",
    "queue_time",
    "execution_time",
    "updated_at",
)
_REPORTED = (
    "run_id",
    "run_attempt",
    "run_url",
    "started_at",
    "completed_at",
    "total_tests",
    "passed_tests",
    "failed_tests",
    "skipped_tests",
    "artifact_url",
    "body",
)
_COLUMNS = (*_KEY, *_REPLACED, *(f"reported_{name}" for name in _REPORTED))


class ReportedFields(BaseModel):
    """What the downstream job said about itself. Untrusted."""

    model_config = ConfigDict(frozen=True)

    run_id: int | None = None
    run_attempt: int | None = None
    run_url: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    total_tests: int | None = None
    passed_tests: int | None = None
    failed_tests: int | None = None
    skipped_tests: int | None = None
    artifact_url: str | None = None
    body: str | None = Field(default=None, repr=False)


class ResultRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    downstream_repo: str
    delivery_id: str
    workflow_name: str
    job_name: str
    check_run_id: str
    downstream_repo_level: Level
    upstream_repo: str
    event_type: str
    pr_number: int
    head_sha: str
    status: Literal["in_progress", "completed"]
    conclusion: str | None
    timed_out: bool = False
    dispatched_at: float | None
    in_progress_at: float | None
    completed_at: float | None
    queue_time: float | None
    execution_time: float | None
    updated_at: float
    reported: ReportedFields = ReportedFields()


def _seconds(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(max(end - start, 0.0), 3)


def timings(dispatch: DispatchRecord, job: JobRecord) -> tuple[float | None, float | None]:
    """Queue and execution time by the relay's clock.

    A re-run reports under the original delivery, so its queue time would count the whole first
    run; it is left empty instead.
    """
    queue = _seconds(dispatch.dispatched_at, job.in_progress_at) if job.key.run_attempt == 1 else None
    return queue, _seconds(job.in_progress_at, job.completed_at)


def build_row(
    *,
    level: Level,
    dispatch: DispatchRecord,
    job: JobRecord,
    report: WorkflowReport | None,
    raw_body: str | None,
) -> ResultRow:
    """The results row for a job's current state; `report` is None when the relay acts on its own (sweeper)."""
    queue, execution = timings(dispatch, job)
    reported = ReportedFields(run_id=job.key.run_id, run_attempt=job.key.run_attempt)
    if report is not None:
        tests = report.test_results
        reported = ReportedFields(
            run_id=report.run_id,
            run_attempt=report.run_attempt,
            run_url=report.url,
            started_at=report.started_at,
            completed_at=report.completed_at,
            total_tests=None if tests is None else tests.counted_total,
            passed_tests=None if tests is None else tests.passed,
            failed_tests=None if tests is None else tests.failed,
            skipped_tests=None if tests is None else tests.skipped,
            artifact_url=report.artifact_url,
            body=raw_body,
        )
    return ResultRow(
        downstream_repo=job.key.repo,
        delivery_id=job.key.delivery_id,
        workflow_name=job.workflow_name,
        job_name=job.key.job_name,
        check_run_id=job.check_run_id,
        downstream_repo_level=level,
        upstream_repo=dispatch.upstream_repo,
        event_type=dispatch.event,
        pr_number=dispatch.pr_number or 0,
        head_sha=dispatch.head_sha,
        status="in_progress" if job.state == "in_progress" else "completed",
        conclusion=job.conclusion,
        timed_out=job.state == "timed_out",
        dispatched_at=dispatch.dispatched_at,
        in_progress_at=job.in_progress_at,
        completed_at=job.completed_at,
        queue_time=queue,
        execution_time=execution,
        # The time of the transition the row shows, so writing the same state twice writes the same row.
        updated_at=job.completed_at if job.completed_at is not None else job.in_progress_at,
        reported=reported,
    )


class ResultsStore(Protocol):
    async def upsert(self, row: ResultRow) -> None: ...

    async def query(self, *, downstream_repo: str | None = None, delivery_id: str | None = None) -> list[ResultRow]: ...


def _values(row: ResultRow) -> tuple[Any, ...]:
    data = row.model_dump()
    reported = data.pop("reported")
    return (*(data[name] for name in (*_KEY, *_REPLACED)), *(reported[name] for name in _REPORTED))


def _row(raw: Any) -> ResultRow:
    data = dict(raw)
    reported = {name: data.pop(f"reported_{name}") for name in _REPORTED}
    return ResultRow(**data, reported=ReportedFields(**reported))


class SqliteResultsStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        db.create(_SCHEMA)
        updates = [f"{name} = excluded.{name}" for name in _REPLACED]
        updates += [f"reported_{name} = COALESCE(excluded.reported_{name}, reported_{name})" for name in _REPORTED]
        self._upsert = (
            f"INSERT INTO results ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
            f" ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {', '.join(updates)}"
        )

    async def upsert(self, row: ResultRow) -> None:
        values = _values(row)
        await self._db.write(lambda conn: conn.execute(self._upsert, values))

    async def query(self, *, downstream_repo: str | None = None, delivery_id: str | None = None) -> list[ResultRow]:
        clauses, params = [], []
        if downstream_repo is not None:
            clauses.append("downstream_repo = ?")
            params.append(downstream_repo)
        if delivery_id is not None:
            clauses.append("delivery_id = ?")
            params.append(delivery_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.conn.execute(
            f"SELECT * FROM results{where} ORDER BY downstream_repo, delivery_id, workflow_name, job_name", params
        )
        return [_row(raw) for raw in rows]
