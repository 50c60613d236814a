"""The audit log: one append-only SQLite row per triage run, whatever its outcome."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from agent.result import TriageResult

__all__ = ["AuditLog", "AuditRow"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS triage_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    issue TEXT NOT NULL,
    engine TEXT NOT NULL,
    status TEXT NOT NULL,
    applied INTEGER NOT NULL,
    decision TEXT,
    outcome TEXT,
    failure TEXT,
    input_tokens INTEGER NOT NULL,
    cache_creation_input_tokens INTEGER NOT NULL,
    cache_read_input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    turns INTEGER NOT NULL,
    tool_calls INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    seconds REAL NOT NULL,
    result_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS triage_runs_issue ON triage_runs (issue);
"""


class AuditRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    started_at: str
    issue: str
    engine: str
    status: str
    applied: bool
    decision: str | None
    outcome: str | None
    failure: str | None
    cost_usd: float
    result_json: str


class AuditLog:
    """Rows are only ever inserted; each insert is its own transaction, so concurrent runs lose nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def record(self, result: TriageResult) -> int:
        usage = result.usage
        row = (
            result.started_at.isoformat(),
            str(result.ref),
            result.engine,
            result.status,
            int(result.applied),
            result.plan.decision if result.plan else None,
            result.effects.outcome if result.effects else None,
            result.failure,
            usage.input_tokens,
            usage.cache_creation_input_tokens,
            usage.cache_read_input_tokens,
            usage.output_tokens,
            usage.turns,
            usage.tool_calls,
            usage.cost_usd,
            result.seconds,
            result.model_dump_json(),
        )
        with closing(self._connect()) as db, db:
            cursor = db.execute(
                "INSERT INTO triage_runs (started_at, issue, engine, status, applied, decision, outcome, failure,"
                " input_tokens, cache_creation_input_tokens, cache_read_input_tokens, output_tokens, turns,"
                " tool_calls, cost_usd, seconds, result_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )
            return int(cursor.lastrowid or 0)

    def rows(self, issue: str | None = None) -> Iterator[AuditRow]:
        query = "SELECT id, started_at, issue, engine, status, applied, decision, outcome, failure, cost_usd,"
        query += " result_json FROM triage_runs"
        params: tuple[str, ...] = ()
        if issue is not None:
            query, params = query + " WHERE issue = ?", (issue,)
        with closing(self._connect()) as db:
            names = list(AuditRow.model_fields)
            for values in db.execute(query + " ORDER BY id", params):
                yield AuditRow.model_validate(dict(zip(names, values, strict=True)))

    def result_of(self, row: AuditRow) -> TriageResult:
        return TriageResult.model_validate_json(row.result_json)
