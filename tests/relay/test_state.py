from __future__ import annotations

from pathlib import Path

import pytest

from relay.database import Database
from relay.state import (
    Applied,
    Duplicate,
    JobKey,
    JobRecord,
    JobReport,
    Rejected,
    SqliteJobStore,
    plan_timeout,
    plan_transition,
)

KEY = JobKey(delivery_id="d", repo="org/repo", run_id=1, run_attempt=1, job_name="test")


def _report(status: str, conclusion: str | None = None, digest: str = "") -> JobReport:
    return JobReport(
        status=status,
        conclusion=conclusion,
        workflow_name="ci",
        check_run_id="c1",
        digest=digest or f"{status}-{conclusion}",
    )


def _after(*reports: JobReport) -> JobRecord | None:
    record: JobRecord | None = None
    for index, report in enumerate(reports):
        transition = plan_transition(record, KEY, report, now=100.0 + index)
        assert isinstance(transition, Applied), transition
        record = transition.record
    return record


def test_a_first_in_progress_report_starts_the_job_on_the_relays_clock() -> None:
    transition = plan_transition(None, KEY, _report("in_progress"), now=50.0)
    assert isinstance(transition, Applied) and transition.expected is None
    assert (transition.record.state, transition.record.in_progress_at) == ("in_progress", 50.0)


def test_completed_follows_in_progress_and_records_the_conclusion() -> None:
    started = _after(_report("in_progress"))
    transition = plan_transition(started, KEY, _report("completed", "failure"), now=70.0)
    assert isinstance(transition, Applied) and transition.expected == "in_progress"
    assert (transition.record.state, transition.record.conclusion, transition.record.completed_at) == (
        "completed",
        "failure",
        70.0,
    )


@pytest.mark.parametrize(
    ("history", "report", "outcome"),
    [
        ((), _report("completed", "success"), "completed without an in_progress report"),
        ((_report("in_progress"),), _report("in_progress", digest="other"), "second, different in_progress"),
        (
            (_report("in_progress"), _report("completed", "success")),
            _report("completed", "failure"),
            "already completed",
        ),
        (
            (_report("in_progress"), _report("completed", "success")),
            _report("in_progress", digest="other"),
            "already completed",
        ),
    ],
)
def test_invalid_transitions_are_rejected_with_a_reason(
    history: tuple[JobReport, ...], report: JobReport, outcome: str
) -> None:
    transition = plan_transition(_after(*history), KEY, report, now=200.0)
    assert isinstance(transition, Rejected)
    assert outcome in transition.message


@pytest.mark.parametrize("repeat", [_report("in_progress"), _report("completed", "success")])
def test_an_exact_repeat_of_an_applied_report_is_a_duplicate(repeat: JobReport) -> None:
    record = _after(_report("in_progress"), _report("completed", "success"))
    assert plan_transition(record, KEY, repeat, now=300.0) == Duplicate(record)  # type: ignore[arg-type]


def test_the_sweeper_times_out_only_jobs_still_in_progress_and_late_reports_are_refused() -> None:
    started = _after(_report("in_progress"))
    assert started is not None
    timed_out = plan_timeout(started, now=999.0)
    assert timed_out is not None and timed_out.record.state == "timed_out"
    assert timed_out.record.conclusion == "timed_out"
    assert plan_timeout(timed_out.record, now=1000.0) is None
    late = plan_transition(timed_out.record, KEY, _report("completed", "success"), now=1001.0)
    assert isinstance(late, Rejected) and "timed_out" in late.message
    assert plan_transition(timed_out.record, KEY, _report("in_progress"), now=1001.0) == Duplicate(timed_out.record)


@pytest.mark.anyio
async def test_a_stored_transition_applies_only_from_the_state_it_was_planned_from(tmp_path: Path) -> None:
    db = Database(tmp_path / "s.db")
    try:
        store = SqliteJobStore(db)
        started = _after(_report("in_progress"))
        assert started is not None
        assert await store.put_if(started, None)
        assert not await store.put_if(started, None)  # a racing first report loses
        done = plan_transition(started, KEY, _report("completed", "success"), now=150.0)
        failed = plan_transition(started, KEY, _report("completed", "failure"), now=151.0)
        assert isinstance(done, Applied) and isinstance(failed, Applied)
        assert await store.put_if(done.record, done.expected)
        assert not await store.put_if(failed.record, failed.expected)  # planned from in_progress, now completed
        assert await store.get(KEY) == done.record
    finally:
        db.close()
