"""Sweep state in SQLite: the runs, their append-only event record, and per-issue claims.

Several sweeps may share one file. Each event is its own INSERT transaction (WAL, busy timeout),
so concurrent runs lose no rows. A claim is a lease taken inside `BEGIN IMMEDIATE`: one process at
a time decides, so two sweeps never work on the same issue at once. A finished claim stays behind
as `done`; it turns away any run that listed the queue before it was finished (that run's view
of the issue is stale), while a run that lists later sees the new labels and decides afresh.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from agent.models import UsageError
from agent.sweep.record import Event, IssueRecord, Phase
from agent.sweep.selection import Recorded

__all__ = ["ClaimResult", "RunInfo", "RunStore", "this_process"]

ClaimResult = Literal["claimed", "busy", "done_elsewhere"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sweep_runs (
    id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    apply INTEGER NOT NULL,
    engine TEXT NOT NULL,
    started_at TEXT NOT NULL,
    settings_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sweep_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES sweep_runs (id),
    kind TEXT NOT NULL,
    issue INTEGER,
    event_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sweep_events_run ON sweep_events (run_id);
CREATE INDEX IF NOT EXISTS sweep_events_issue ON sweep_events (issue);
CREATE TRIGGER IF NOT EXISTS sweep_events_append_only_u BEFORE UPDATE ON sweep_events
BEGIN SELECT RAISE(ABORT, 'the sweep record is append-only'); END;
CREATE TRIGGER IF NOT EXISTS sweep_events_append_only_d BEFORE DELETE ON sweep_events
BEGIN SELECT RAISE(ABORT, 'the sweep record is append-only'); END;
CREATE TABLE IF NOT EXISTS sweep_claims (
    repo TEXT NOT NULL,
    issue INTEGER NOT NULL,
    apply INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    holder TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'done')),
    expires_at REAL NOT NULL,
    done_at REAL,
    PRIMARY KEY (repo, issue, apply)
);
"""


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class RunInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    repo: str
    apply: bool
    engine: str
    started_at: datetime
    settings_json: str


class RunStore:
    """One SQLite file; every method opens its own connection, so any process or thread may call it."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time, busy_seconds: float = 60.0) -> None:
        self.path = path
        self._clock = clock
        self._busy = busy_seconds
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode with explicit BEGIN, so a claim's read and write share one write lock.
        db = sqlite3.connect(self.path, timeout=self._busy, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA busy_timeout={int(self._busy * 1000)}")
        return db

    @contextmanager
    def _db(self, *, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # Runs and their record.

    def start_run(self, *, repo: str, apply: bool, engine: str, settings_json: str) -> RunInfo:
        started = self._now()
        run = RunInfo(
            id=f"{started:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}",
            repo=repo,
            apply=apply,
            engine=engine,
            started_at=started,
            settings_json=settings_json,
        )
        with self._db(immediate=True) as db:
            db.execute(
                "INSERT INTO sweep_runs (id, repo, apply, engine, started_at, settings_json) VALUES (?,?,?,?,?,?)",
                (run.id, run.repo, int(run.apply), run.engine, run.started_at.isoformat(), run.settings_json),
            )
        self.append(run.id, Event(kind="started", at=started, process=this_process()))
        return run

    def run(self, run_id: str) -> RunInfo:
        with self._db() as db:
            row = db.execute(
                "SELECT id, repo, apply, engine, started_at, settings_json FROM sweep_runs WHERE id = ?", (run_id,)
            ).fetchone()
        if row is None:
            raise UsageError(f"no sweep run {run_id!r} in {self.path}; `--resume` takes an id a sweep printed")
        names = ("id", "repo", "apply", "engine", "started_at", "settings_json")
        return RunInfo.model_validate(dict(zip(names, row, strict=True)))

    def resume_run(self, run_id: str, *, process: str | None = None) -> RunInfo:
        """Take over a run whose process has stopped; refuse one still running on this host."""
        run = self.run(run_id)
        events = self.events(run_id)
        owners = [e.process for e in events if e.kind in ("started", "resumed") and e.process]
        if owners and _alive(owners[-1]):
            raise UsageError(f"sweep run {run_id} is still running ({owners[-1]}); wait for it or stop it first")
        self.append(run_id, Event(kind="resumed", at=self._now(), process=process or this_process()))
        return run

    def append(self, run_id: str, event: Event) -> int:
        issue = event.issue.issue if event.issue else None
        with self._db() as db:
            cursor = db.execute(
                "INSERT INTO sweep_events (run_id, kind, issue, event_json) VALUES (?,?,?,?)",
                (run_id, event.kind, issue, event.model_dump_json()),
            )
            return int(cursor.lastrowid or 0)

    def events(self, run_id: str) -> list[Event]:
        with self._db() as db:
            rows = db.execute("SELECT event_json FROM sweep_events WHERE run_id = ? ORDER BY id", (run_id,))
            return [Event.model_validate_json(json) for (json,) in rows]

    def runs(self) -> list[RunInfo]:
        with self._db() as db:
            ids = [row[0] for row in db.execute("SELECT id FROM sweep_runs ORDER BY started_at, id")]
        return [self.run(run_id) for run_id in ids]

    def done_in(self, run_id: str) -> dict[int, Phase]:
        """Issues this run already triaged to the end, with their phase; a resume skips them."""
        latest: dict[int, IssueRecord] = {}
        for event in self.events(run_id):
            if event.kind == "issue" and event.issue is not None:
                latest[event.issue.issue] = event.issue
        return {n: record.phase for n, record in latest.items() if record.status in ("applied", "planned")}

    def records(self, repo: str) -> dict[int, Recorded]:
        """What applied runs proved about each issue: finished, or left for humans by the high-priority flow."""
        query = (
            "SELECT e.event_json FROM sweep_events e JOIN sweep_runs r ON r.id = e.run_id "
            "WHERE r.repo = ? AND r.apply = 1 AND e.kind = 'issue' ORDER BY e.id"
        )
        found: dict[int, Recorded] = {}
        with self._db() as db:
            for (json,) in db.execute(query, (repo,)):
                record = Event.model_validate_json(json).issue
                if record is None or record.status != "applied" or not record.verified:
                    continue
                found[record.issue] = "left_for_humans" if record.decision == "high_priority" else "finished"
        return found

    # Claims.

    def claim(
        self, *, repo: str, issue: int, apply: bool, run_id: str, holder: str, listed_at: datetime, lease: float
    ) -> ClaimResult:
        now = self._clock()
        key = (repo, issue, int(apply))
        with self._db(immediate=True) as db:
            row = db.execute(
                "SELECT run_id, holder, state, expires_at, done_at FROM sweep_claims "
                "WHERE repo = ? AND issue = ? AND apply = ?",
                key,
            ).fetchone()
            if row is not None:
                other_run, other_holder, state, expires_at, done_at = row
                if state == "active" and expires_at > now and other_holder != holder and other_run != run_id:
                    return "busy"
                if state == "done" and other_run != run_id and done_at >= listed_at.timestamp():
                    return "done_elsewhere"
            db.execute(
                "INSERT INTO sweep_claims (repo, issue, apply, run_id, holder, state, expires_at, done_at) "
                "VALUES (?,?,?,?,?,'active',?,NULL) ON CONFLICT (repo, issue, apply) DO UPDATE SET "
                "run_id = excluded.run_id, holder = excluded.holder, state = 'active', "
                "expires_at = excluded.expires_at, done_at = NULL",
                (*key, run_id, holder, now + lease),
            )
        return "claimed"

    def renew(self, *, holder: str, lease: float) -> int:
        """Extend every active claim of `holder` (its heartbeat); returns how many it holds."""
        with self._db(immediate=True) as db:
            cursor = db.execute(
                "UPDATE sweep_claims SET expires_at = ? WHERE holder = ? AND state = 'active'",
                (self._clock() + lease, holder),
            )
            return cursor.rowcount

    def finish_claim(self, *, repo: str, issue: int, apply: bool, holder: str) -> None:
        with self._db(immediate=True) as db:
            db.execute(
                "UPDATE sweep_claims SET state = 'done', done_at = ? "
                "WHERE repo = ? AND issue = ? AND apply = ? AND holder = ?",
                (self._clock(), repo, issue, int(apply), holder),
            )


def _alive(process: str) -> bool:
    host, _, pid = process.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        # Another machine: its process cannot be checked from here, so trust the operator.
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return int(pid) != os.getpid()
