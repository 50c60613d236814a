from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import relay.results
from relay.database import Database
from relay.results import ReportedFields, ResultRow, SqliteResultsStore

pytestmark = pytest.mark.anyio


def _row(**changes: object) -> ResultRow:
    base = ResultRow(
        downstream_repo="org/repo",
        delivery_id="d-1",
        workflow_name="ci",
        job_name="test",
        check_run_id="c-1",
        downstream_repo_level="L2",
        upstream_repo="pytorch/pytorch",
        event_type="pull_request",
        pr_number=5,
        head_sha="a" * 40,
        status="in_progress",
        conclusion=None,
        dispatched_at=100.0,
        in_progress_at=160.0,
        completed_at=None,
        queue_time=60.0,
        execution_time=None,
        updated_at=160.0,
        reported=ReportedFields(run_id=9, run_attempt=1, started_at="2026-01-01T00:00:00Z", body='{"a": 1}'),
    )
    return base.model_copy(update=changes)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteResultsStore]:
    db = Database(tmp_path / "r.db")
    yield SqliteResultsStore(db)
    db.close()


async def test_the_completed_row_replaces_the_in_progress_one_and_keeps_what_only_the_first_report_said(
    store: SqliteResultsStore,
) -> None:
    await store.upsert(_row())
    done = _row(
        status="completed",
        conclusion="success",
        completed_at=400.0,
        execution_time=240.0,
        updated_at=400.0,
        reported=ReportedFields(run_id=9, run_attempt=1, completed_at="2026-01-01T00:04:00Z", body='{"b": 2}'),
    )
    await store.upsert(done)
    (row,) = await store.query()
    assert (row.status, row.conclusion, row.queue_time, row.execution_time) == ("completed", "success", 60.0, 240.0)
    assert row.reported.started_at == "2026-01-01T00:00:00Z"
    assert row.reported.completed_at == "2026-01-01T00:04:00Z"
    assert row.reported.body == '{"b": 2}'


async def test_rows_are_keyed_by_repo_delivery_workflow_job_and_check_run(store: SqliteResultsStore) -> None:
    await store.upsert(_row())
    await store.upsert(_row(check_run_id="c-2"))
    await store.upsert(_row(downstream_repo="org/other"))
    await store.upsert(_row(job_name="lint"))
    await store.upsert(_row())
    assert len(await store.query()) == 4
    assert len(await store.query(downstream_repo="org/other")) == 1
    assert await store.query(delivery_id="d-unknown") == []


def test_every_stored_column_is_mapped_to_clickhouse_in_the_module_documentation(tmp_path: Path) -> None:
    db = Database(tmp_path / "r.db")
    try:
        SqliteResultsStore(db)
        columns = [row[1] for row in db.conn.execute("PRAGMA table_info(results)")]
    finally:
        db.close()
    table = [line for line in (relay.results.__doc__ or "").splitlines() if line.startswith("|")]
    first_cells = {name for line in table for name in re.findall(r"[a-z_]+", line.split("|")[1])}
    assert [c for c in columns if c not in first_cells] == []
