import os
import socket
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.models import UsageError
from agent.sweep.record import Event, IssueRecord
from agent.sweep.state import RunStore

REPO = "pytorch/pytorch"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _store(tmp_path: Path, clock: Clock | None = None) -> RunStore:
    return RunStore(tmp_path / "sweep.sqlite3", clock=clock or Clock())


def _record(issue: int, **fields: object) -> Event:
    return Event(
        kind="issue", at=datetime.now(UTC), issue=IssueRecord.model_validate({"issue": issue, "phase": 2, **fields})
    )


def _claim(store: RunStore, run: str, holder: str, listed: datetime, *, apply: bool = True, lease: float = 60.0) -> str:
    return store.claim(repo=REPO, issue=7, apply=apply, run_id=run, holder=holder, listed_at=listed, lease=lease)


def test_events_are_kept_in_order_and_cannot_be_changed(tmp_path: Path) -> None:
    store = _store(tmp_path)
    run = store.start_run(repo=REPO, apply=True, engine="rules", settings_json="{}")
    store.append(run.id, _record(5, status="applied", verified=True))
    assert [e.kind for e in store.events(run.id)] == ["started", "issue"]
    with sqlite3.connect(store.path) as db, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM sweep_events")


def test_a_second_run_cannot_claim_an_issue_another_run_holds(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    listed = datetime.fromtimestamp(clock.now, UTC)
    a = store.start_run(repo=REPO, apply=True, engine="rules", settings_json="{}")
    b = store.start_run(repo=REPO, apply=True, engine="rules", settings_json="{}")
    assert _claim(store, a.id, "a", listed) == "claimed"
    assert _claim(store, b.id, "b", listed) == "busy"


def test_a_claim_finished_after_another_run_listed_the_queue_turns_that_run_away(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    a = store.start_run(repo=REPO, apply=True, engine="rules", settings_json="{}")
    b = store.start_run(repo=REPO, apply=True, engine="rules", settings_json="{}")
    b_listed = datetime.fromtimestamp(clock.now, UTC)
    assert (
        store.claim(repo=REPO, issue=7, apply=True, run_id=a.id, holder="a", listed_at=b_listed, lease=60) == "claimed"
    )
    clock.now += 5
    store.finish_claim(repo=REPO, issue=7, apply=True, holder="a")
    assert _claim(store, b.id, "b", b_listed) == "done_elsewhere"
    # A run that listed the queue after the issue was finished saw the new labels and may decide again.
    later = b_listed + timedelta(seconds=10)
    assert _claim(store, b.id, "b", later) == "claimed"


def test_an_expired_lease_can_be_taken_over(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    listed = datetime.fromtimestamp(clock.now, UTC)
    assert _claim(store, "a", "a", listed) == "claimed"
    clock.now += 61
    assert _claim(store, "b", "b", listed) == "claimed"


def test_dry_run_claims_do_not_block_applying_runs(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    listed = datetime.fromtimestamp(clock.now, UTC)
    assert _claim(store, "a", "a", listed, apply=False) == "claimed"
    assert _claim(store, "b", "b", listed, apply=True) == "claimed"


def test_a_resumed_run_takes_over_its_own_claims_at_once(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    listed = datetime.fromtimestamp(clock.now, UTC)
    run = store.start_run(repo=REPO, apply=True, engine="rules", settings_json="{}")
    assert _claim(store, run.id, "killed", listed, lease=600) == "claimed"
    assert _claim(store, run.id, "resumed", listed, lease=600) == "claimed"


def test_done_in_lists_only_issues_the_run_took_to_the_end(tmp_path: Path) -> None:
    store = _store(tmp_path)
    run = store.start_run(repo=REPO, apply=True, engine="rules", settings_json="{}")
    store.append(run.id, _record(1, status="applied", verified=True))
    store.append(run.id, _record(2, status="failed", failure="GitHub: 502"))
    store.append(run.id, _record(3, status="skipped", reason="budget"))
    store.append(run.id, _record(4, status="failed", failure="GitHub: 502"))
    store.append(run.id, _record(4, status="applied", verified=True))
    assert store.done_in(run.id) == {1: 2, 4: 2}


def test_records_come_only_from_verified_applied_runs_of_the_repo(tmp_path: Path) -> None:
    store = _store(tmp_path)
    applied = store.start_run(repo=REPO, apply=True, engine="rules", settings_json="{}")
    dry = store.start_run(repo=REPO, apply=False, engine="rules", settings_json="{}")
    other = store.start_run(repo="someone/else", apply=True, engine="rules", settings_json="{}")
    store.append(applied.id, _record(1, status="applied", verified=True, decision="classify"))
    store.append(applied.id, _record(2, status="applied", verified=True, decision="high_priority"))
    store.append(applied.id, _record(3, status="failed", decision="classify"))
    store.append(dry.id, _record(4, status="planned", decision="classify"))
    store.append(other.id, _record(5, status="applied", verified=True, decision="classify"))
    assert store.records(REPO) == {1: "finished", 2: "left_for_humans"}


def test_resuming_an_unknown_run_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--resume"):
        _store(tmp_path).resume_run("nope")


def test_a_run_still_alive_on_this_host_cannot_be_resumed(tmp_path: Path) -> None:
    store = _store(tmp_path)
    run = store.start_run(repo=REPO, apply=True, engine="rules", settings_json="{}")
    parent = f"{socket.gethostname()}:{os.getppid()}"
    store.resume_run(run.id, process=parent)
    with pytest.raises(UsageError, match="still running"):
        store.resume_run(run.id)


def test_a_run_whose_process_is_gone_can_be_resumed(tmp_path: Path) -> None:
    store = _store(tmp_path)
    run = store.start_run(repo=REPO, apply=True, engine="rules", settings_json="{}")
    store.resume_run(run.id)
    assert [e.kind for e in store.events(run.id)] == ["started", "resumed"]


def test_a_heartbeat_keeps_a_live_holders_claims_from_lapsing(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    listed = datetime.fromtimestamp(clock.now, UTC)
    assert _claim(store, "a", "a", listed) == "claimed"
    clock.now += 50
    assert store.renew(holder="a", lease=60) == 1
    clock.now += 50
    assert _claim(store, "b", "b", listed) == "busy"
    clock.now += 11
    assert _claim(store, "b", "b", listed) == "claimed"
