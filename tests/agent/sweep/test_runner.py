import multiprocessing
import signal
from collections import Counter
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent.audit import AuditLog
from agent.engine import EngineFailure, Proposal
from agent.models import IssueSnapshot, Plan
from agent.sandbox import Faults, SandboxStore
from agent.skillpack import SkillPack
from agent.sweep.state import RunStore
from tests.agent.sweep.support import (
    BOT,
    FSDP,
    INFRA,
    OK,
    PACK,
    PAR,
    PTD,
    REPO,
    REPRO,
    REVIEW,
    FakeTime,
    Q,
    ScriptedEngine,
    child_sweep,
    needs_repro,
    route,
    seed,
    sweep_once,
)

DEDICATED = PACK.model_copy(update={"policy": PACK.policy.with_marker(PTD)})
REQUEUE = PACK.model_copy(update={"policy": PACK.policy.model_copy(update={"requeue_high_priority": True})})
LOW = Plan(decision="low_confidence", labels=[PAR], confidence="LOW", reasoning="Too vague to name a module.")
NOT_DISTRIBUTED = Plan(
    decision="not_distributed", labels=[], templates=["not_distributed"], confidence="HIGH", reasoning="One GPU."
)


def _labels(store: SandboxStore, number: int) -> tuple[str, ...]:
    return store.require(REPO, number).labels


def _queue(store: SandboxStore) -> None:
    seed(store, 1, Q)  # never touched
    seed(store, 2, Q, BOT)  # handed over by the first-level bot
    seed(store, 3, Q, FSDP, PAR)  # a human classified it
    seed(store, 4, Q, BOT, INFRA, OK)  # finished
    seed(store, 5, Q, REVIEW)  # left for humans by the high-priority flow
    seed(store, 6, INFRA)  # not in the queue
    seed(store, 7, Q, "not-triaged")  # a look-alike label
    seed(store, 8, Q, BOT, "module: ddp")  # the parent added a module, no sub-oncall yet


@pytest.mark.anyio
@pytest.mark.parametrize("pack", [PACK, DEDICATED], ids=["bot-triaged", "ptd-bot-triaged"])
async def test_phase_one_marks_human_classified_issues_and_phase_two_triages_the_pending_ones(
    tmp_path: Path, pack: SkillPack
) -> None:
    store = SandboxStore(":memory:")
    _queue(store)
    engine = ScriptedEngine({2: needs_repro(), 7: LOW, 8: NOT_DISTRIBUTED})
    out = await sweep_once(store, tmp_path / "sweep.sqlite3", engine, pack=pack, apply=True)

    marker = pack.policy.marker
    assert sorted(engine.calls) == [1, 2, 7, 8]
    assert {marker, OK} <= set(_labels(store, 3))
    assert {marker, INFRA, OK} <= set(_labels(store, 1))
    assert {marker, REPRO, PAR, FSDP} <= set(_labels(store, 2))
    assert {marker, REVIEW} <= set(_labels(store, 7))
    assert _labels(store, 4) == (Q, BOT, INFRA, OK)
    assert _labels(store, 5) == (Q, REVIEW)
    s = out.summary
    assert s.phase1 == {"applied": 1}
    assert s.statuses == {"applied": 4}
    assert s.decisions == {"route": 1, "needs_reproduction": 1, "low_confidence": 1, "not_distributed": 1}
    assert s.listing is not None
    assert (s.listing.queue, s.listing.finished, s.listing.left_for_humans) == (7, 1, 1)
    assert s.exit_code == 0


@pytest.mark.anyio
@pytest.mark.parametrize("pack", [PACK, DEDICATED], ids=["bot-triaged", "ptd-bot-triaged"])
async def test_a_second_sweep_picks_up_nothing_this_bot_finished(tmp_path: Path, pack: SkillPack) -> None:
    store = SandboxStore(":memory:")
    _queue(store)
    plans = {2: needs_repro(), 7: LOW, 8: NOT_DISTRIBUTED}
    await sweep_once(store, tmp_path / "sweep.sqlite3", ScriptedEngine(plans), pack=pack, apply=True)
    # A fresh state file: the labels alone must tell that the work is done.
    again = ScriptedEngine(plans)
    out = await sweep_once(store, tmp_path / "other.sqlite3", again, pack=pack, apply=True)
    assert again.calls == []
    assert out.summary.listing is not None
    assert (out.summary.listing.phase1, out.summary.listing.phase2) == (0, 0)


@pytest.mark.anyio
async def test_a_policy_that_requeues_high_priority_sends_those_issues_to_phase_two(tmp_path: Path) -> None:
    store = SandboxStore(":memory:")
    seed(store, 5, Q, REVIEW)
    engine = ScriptedEngine()
    await sweep_once(store, tmp_path / "sweep.sqlite3", engine, pack=REQUEUE, apply=True)
    assert engine.calls == [5]


@pytest.mark.anyio
async def test_a_dry_run_writes_nothing_and_reports_what_it_would_do(tmp_path: Path) -> None:
    store = SandboxStore(":memory:")
    _queue(store)
    before = {issue.number: issue.labels for issue in store.issues()}
    out = await sweep_once(store, tmp_path / "sweep.sqlite3", ScriptedEngine())
    assert {issue.number: issue.labels for issue in store.issues()} == before
    assert out.summary.statuses == {"planned": 4}
    assert out.summary.phase1 == {"planned": 1}
    assert out.summary.writes == 0


@pytest.mark.anyio
async def test_the_limit_takes_the_oldest_pending_issues_first(tmp_path: Path) -> None:
    store = SandboxStore(":memory:")
    for number, day in ((1, 9), (2, 3), (3, 7), (4, 1), (5, 5)):
        seed(store, number, Q, day=day)
    engine = ScriptedEngine()
    out = await sweep_once(store, tmp_path / "sweep.sqlite3", engine, apply=True, limit=2, concurrency=1)
    assert engine.calls == [4, 2]
    assert out.summary.listing is not None
    assert out.summary.listing.beyond_limit == 3


@pytest.mark.anyio
async def test_writes_are_paced_under_the_per_minute_limit(tmp_path: Path) -> None:
    store = SandboxStore(":memory:")
    for number in range(1, 7):
        seed(store, number, Q)
    time = FakeTime()
    pace = {"per_minute": 2, "per_hour": 100}
    out = await sweep_once(store, tmp_path / "sweep.sqlite3", ScriptedEngine(), apply=True, pace=pace, time=time)
    assert out.summary.writes == 6
    assert out.summary.peak_writes_per_minute == 2
    # Two writes at once, two more a minute (plus the one-second margin) later, and so on.
    assert time.now == 122.0
    assert out.summary.statuses == {"applied": 6}


@pytest.mark.anyio
async def test_server_errors_and_secondary_limits_are_retried_honouring_retry_after(tmp_path: Path) -> None:
    store = SandboxStore(":memory:")
    seed(store, 1, Q)
    faults = Faults(fail_next=1, fail_tool="issue_write", rate_limit_next=1, rate_limit_tool="add_issue_comment")
    faults.retry_after_seconds = 7
    time = FakeTime()
    engine = ScriptedEngine({1: needs_repro()})
    out = await sweep_once(store, tmp_path / "sweep.sqlite3", engine, faults=faults, apply=True, time=time)
    assert faults.kinds() == ["rate_limited", "server_error"]
    assert 7.0 in out.retry_sleeps
    assert out.summary.statuses == {"applied": 1}
    assert {REPRO, BOT} <= set(_labels(store, 1))
    assert len(store.require(REPO, 1).comments) == 1
    # Every writer held off for the Retry-After, not only the one that was told.
    assert time.now >= 7.0


@pytest.mark.anyio
async def test_one_failing_issue_does_not_stop_the_run_and_the_run_exits_non_zero(tmp_path: Path) -> None:
    store = SandboxStore(":memory:")
    for number in range(1, 5):
        seed(store, number, Q)
    # Only issue 2 posts a comment; every comment attempt answers 502 and a comment is never re-sent blindly.
    faults = Faults(fail_next=10, fail_tool="add_issue_comment")
    engine = ScriptedEngine({2: needs_repro()})
    out = await sweep_once(store, tmp_path / "sweep.sqlite3", engine, faults=faults, apply=True)
    assert out.summary.statuses == {"applied": 3, "failed": 1}
    assert [f.issue for f in out.summary.failures] == [2]
    assert "502" in out.summary.failures[0].reason
    assert out.summary.exit_code == 1


@pytest.mark.anyio
async def test_the_budget_stops_the_run_before_it_is_exceeded_and_reports_what_was_left(tmp_path: Path) -> None:
    store = SandboxStore(":memory:")
    for number in range(1, 6):
        seed(store, number, Q)
    engine = ScriptedEngine(cost=0.4)
    out = await sweep_once(
        store, tmp_path / "sweep.sqlite3", engine, apply=True, concurrency=1, budget_usd=1.0, typical_cost_usd=0.3
    )
    assert engine.calls == [1, 2]
    s = out.summary
    assert s.usage.cost_usd == pytest.approx(0.8)
    assert s.skipped == {"budget": (3, 4, 5)}
    assert s.budget_note is not None and "3 issues left" in s.budget_note
    assert s.exit_code == 0
    assert _labels(store, 3) == (Q,)


@pytest.mark.anyio
async def test_concurrent_workers_together_stay_under_the_budget(tmp_path: Path) -> None:
    store = SandboxStore(":memory:")
    for number in range(1, 9):
        seed(store, number, Q)
    engine = ScriptedEngine(cost=0.3)
    out = await sweep_once(
        store, tmp_path / "sweep.sqlite3", engine, apply=True, concurrency=4, budget_usd=1.0, typical_cost_usd=0.3
    )
    assert len(engine.calls) == 3
    assert out.summary.usage.cost_usd <= 1.0


@pytest.mark.anyio
async def test_batch_results_are_applied_through_the_guard_one_by_one(tmp_path: Path) -> None:
    store = SandboxStore(":memory:")
    for number in range(1, 4):
        seed(store, number, Q)
    seen: list[int] = []

    async def planner(snapshots: Sequence[IssueSnapshot]) -> list[Proposal | EngineFailure]:
        seen.extend(s.ref.number for s in snapshots)
        asks_too_much = Plan(
            decision="route", labels=[INFRA, "high priority"], confidence="HIGH", reasoning="Batch plan."
        )
        return [
            Proposal(plan=asks_too_much, engine="claude-batch"),
            EngineFailure("the batch request was expired"),
            Proposal(plan=route(PAR), engine="claude-batch"),
        ]

    out = await sweep_once(store, tmp_path / "sweep.sqlite3", ScriptedEngine(), apply=True, batch=planner)
    assert seen == [1, 2, 3]
    assert "high priority" not in _labels(store, 1)
    assert {INFRA, REVIEW, BOT} <= set(_labels(store, 1))
    assert [f.issue for f in out.summary.failures] == [2]
    assert "expired" in out.summary.failures[0].reason
    assert {PAR, BOT} <= set(_labels(store, 3))


def _spawn(
    sandbox: Path, state: Path, *, barrier: Barrier | None = None, kill_at: int | None = None, concurrency: int = 3
) -> tuple[BaseProcess, Any]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(
        target=child_sweep, args=(str(sandbox), str(state), barrier, kill_at, concurrency, results)
    )
    process.start()
    return process, results


def test_two_sweeps_at_once_lose_no_rows_and_never_triage_an_issue_twice(tmp_path: Path) -> None:
    sandbox, state = tmp_path / "github.sqlite3", tmp_path / "sweep.sqlite3"
    with SandboxStore(sandbox) as store:
        for number in range(1, 31):
            seed(store, number, Q)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    started = [_spawn(sandbox, state, barrier=barrier) for _ in range(2)]
    outcomes = []
    for process, results in started:
        outcomes.append(results.get(timeout=120))
        process.join(timeout=60)
        assert process.exitcode == 0
    calls = [set(calls) for _, calls in outcomes]
    assert not calls[0] & calls[1], "an issue was planned by both sweeps"
    assert calls[0] and calls[1], "the two sweeps did not overlap"
    assert calls[0] | calls[1] == set(range(1, 31))

    runs = RunStore(state)
    applied: Counter[int] = Counter()
    for run_id, _ in outcomes:
        events = runs.events(run_id)
        issues = [e.issue for e in events if e.issue is not None]
        # Every listed issue has exactly one record in each run: triaged there, or skipped as taken.
        assert sorted(r.issue for r in issues) == list(range(1, 31))
        assert [e.kind for e in events if e.issue is None] == ["started", "listed", "finished"]
        applied.update(r.issue for r in issues if r.status == "applied")
    assert applied == Counter(range(1, 31))
    audit = list(AuditLog(tmp_path / "audit.sqlite3").rows())
    assert sorted(int(row.issue.rpartition("#")[2]) for row in audit) == list(range(1, 31))
    with SandboxStore(sandbox) as store:
        for issue in store.issues(REPO):
            assert issue.labels.count(BOT) == 1
            assert len(issue.comments) == (1 if issue.number % 3 == 0 else 0)


def test_a_killed_run_resumes_without_retriaging_what_it_finished(tmp_path: Path) -> None:
    sandbox, state = tmp_path / "github.sqlite3", tmp_path / "sweep.sqlite3"
    with SandboxStore(sandbox) as store:
        for number in range(1, 7):
            seed(store, number, Q)
    process, _ = _spawn(sandbox, state, kill_at=4, concurrency=1)
    process.join(timeout=120)
    assert process.exitcode == -signal.SIGKILL
    [run] = RunStore(state).runs()
    assert RunStore(state).done_in(run.id) == {1: 2, 2: 2, 3: 2}

    engine = ScriptedEngine()
    with SandboxStore(sandbox) as store:
        out = anyio.run(lambda: sweep_once(store, state, engine, apply=True, resume=run.id))
        assert all(BOT in issue.labels for issue in store.issues(REPO))
    assert engine.calls == [4, 5, 6]
    assert out.run_id == run.id
    assert out.summary.processes == 2
    assert out.summary.statuses == {"applied": 6}
    assert out.summary.listing is not None and out.summary.listing.done_in_run == 3
