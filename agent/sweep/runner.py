"""One sweep over the queue: list, select, triage in two phases with bounded concurrency, verify, record.

Every issue goes through `agent.pipeline.triage`, the same path as `agent triage`. The sweep adds
what only a batch needs: a claim per issue (so concurrent sweeps never work on the same issue), a
fresh read right before triage (the listing may be minutes old), the budget, a retry when a person
edited the issue between the bot's read and its write, and an independent check of every applied
outcome against the live issue.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime

import anyio
from pydantic import BaseModel, ConfigDict, Field

from agent.audit import AuditLog
from agent.claude import PrecomputedEngine
from agent.engine import Engine, EngineFailure, Proposal, Usage
from agent.github import GitHubError, ToolCaller, read_snapshot
from agent.guarded_session import GuardedSession
from agent.models import DEFAULT_REPO, Effects, IssueRef, IssueSnapshot, UsageError, split_repo
from agent.pipeline import triage, verify
from agent.result import TriageResult
from agent.skillpack import SkillPack
from agent.sweep.budget import Budget
from agent.sweep.classified import HumanClassifiedEngine
from agent.sweep.pacer import PaceLimits, WritePacer
from agent.sweep.progress import Progress
from agent.sweep.queue import list_queue
from agent.sweep.record import Event, IssueRecord, Listing, Phase, ProcessStats, SkipReason
from agent.sweep.selection import PARENT_MARKER, QueueIssue, Recorded, queue_status, select
from agent.sweep.state import RunInfo, RunStore, this_process

__all__ = ["BatchPlanner", "Sweep", "SweepSettings", "open_run"]

_log = logging.getLogger(__name__)

# Plans for many snapshots at once (the Message Batches API), one result per snapshot, in order.
BatchPlanner = Callable[[Sequence[IssueSnapshot]], Awaitable[list[Proposal | EngineFailure]]]


class SweepSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    repo: str = DEFAULT_REPO
    apply: bool = False
    limit: int | None = Field(default=None, ge=1, description="At most this many Phase 2 issues; None: all.")
    concurrency: int = Field(default=8, ge=1, le=64)
    pace: PaceLimits = PaceLimits()
    budget_usd: float | None = Field(default=None, ge=0)
    typical_cost_usd: float = Field(default=0.0, ge=0, description="The budget's estimate before any issue finished.")
    lease_seconds: float = Field(default=900.0, gt=0, description="How long a claim holds without its process.")
    parent_marker: str = PARENT_MARKER
    stale_retries: int = Field(default=1, ge=0, le=3, description="Re-plans after someone edited the issue.")


def open_run(store: RunStore, settings: SweepSettings, engine: str, *, resume: str | None = None) -> RunInfo:
    """Start a run, or take over a stopped one; a mismatch or a run still alive is a `UsageError`."""
    if resume is None:
        return store.start_run(
            repo=settings.repo, apply=settings.apply, engine=engine, settings_json=settings.model_dump_json()
        )
    run = store.run(resume)
    if (run.repo, run.apply) != (settings.repo, settings.apply):
        mode = "--apply" if run.apply else "a dry run (no --apply)"
        raise UsageError(f"run {resume} swept {run.repo} as {mode}; resume it with the same --repo and mode")
    return store.resume_run(resume)


class Sweep:
    """Runs (or resumes) one sweep; `run()` returns the run's id once everything is recorded."""

    def __init__(
        self,
        settings: SweepSettings,
        *,
        caller: ToolCaller,
        engine: Engine,
        pack: SkillPack,
        store: RunStore,
        pacer: WritePacer,
        audit: AuditLog | None = None,
        progress: Progress | None = None,
        batch: BatchPlanner | None = None,
    ) -> None:
        split_repo(settings.repo)
        self.settings = settings
        self.caller = caller
        self.engine = engine
        self.pack = pack
        self.policy = pack.policy
        self.store = store
        self.pacer = pacer
        self.audit = audit
        self.progress = progress
        self.batch = batch
        self.budget = Budget(limit_usd=settings.budget_usd, typical_usd=settings.typical_cost_usd)
        self._records: dict[int, Recorded] = {}
        self._holder = f"{this_process()}:{secrets.token_hex(4)}"
        self._run: RunInfo | None = None
        self._listed_at = datetime.now(UTC)
        self._stopped = False

    @property
    def run_id(self) -> str:
        if self._run is None:
            raise RuntimeError("the sweep has not started")
        return self._run.id

    async def run(self, run: RunInfo | str | None = None) -> str:
        """Sweep as run `run` (opened with `open_run`), resume the run with that id, or start a new one."""
        started = time.monotonic()
        if not isinstance(run, RunInfo):
            run = open_run(self.store, self.settings, self.engine.name, resume=run)
        self._run = run
        try:
            await self._sweep()
        except GitHubError as error:
            self._append(Event(kind="aborted", at=_now(), note=f"GitHub: {error}", stats=self._stats(started)))
            return self.run_id
        self._append(Event(kind="finished", at=_now(), stats=self._stats(started)))
        return self.run_id

    async def _sweep(self) -> None:
        settings = self.settings
        self._listed_at = _now()
        issues = await list_queue(self.caller, settings.repo, self.policy.queue_label)
        self._records = self.store.records(settings.repo)
        selection = select(issues, self.policy, parent_marker=settings.parent_marker, records=self._records)
        done = self.store.done_in(self.run_id)
        phase1 = [issue for issue in selection.phase1 if issue.number not in done]
        pending = [issue for issue in selection.phase2 if issue.number not in done]
        room = len(pending) if settings.limit is None else max(0, settings.limit - sum(p == 2 for p in done.values()))
        phase2, beyond = pending[:room], pending[room:]
        listing = Listing(
            queue=len(issues),
            phase1=len(phase1),
            phase2=len(phase2),
            beyond_limit=len(beyond),
            finished=selection.count("finished"),
            left_for_humans=selection.count("left_for_humans"),
            done_in_run=len(done),
        )
        self._append(Event(kind="listed", at=_now(), listing=listing))
        if self.progress:
            self.progress.start(len(phase1) + len(phase2))
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._heartbeat)
                await self._drain([(issue, 1) for issue in phase1], HumanClassifiedEngine())
                if self.batch is not None:
                    await self._batch_phase(phase2)
                else:
                    await self._drain([(issue, 2) for issue in phase2], self.engine)
                group.cancel_scope.cancel()
        finally:
            if self.progress:
                self.progress.close()

    async def _heartbeat(self) -> None:
        # Claims outlive a slow issue (a long model turn, an hour-limit wait, a batch) only while this
        # process lives; a killed sweep's claims lapse after one lease.
        while True:
            await anyio.sleep(self.settings.lease_seconds / 3)
            self.store.renew(holder=self._holder, lease=self.settings.lease_seconds)

    # -- scheduling ---------------------------------------------------------------------------------

    async def _drain(self, items: list[tuple[QueueIssue, Phase]], engine: Engine) -> None:
        """K workers take issues in order; a budget stop ends the intake and records what was left."""
        queue = iter(items)
        left: list[tuple[QueueIssue, Phase]] = []

        async def worker() -> None:
            for issue, phase in queue:
                if self._stopped or (phase == 2 and not self.budget.reserve()):
                    self._stopped = True
                    left.append((issue, phase))
                    return
                record = await self._claimed(issue, phase, engine)
                if phase == 2:
                    self._settle(record)
                self._record(record)

        async with anyio.create_task_group() as group:
            for _ in range(min(self.settings.concurrency, len(items)) or 1):
                group.start_soon(worker)
        self._left_by_budget([*left, *queue])

    async def _batch_phase(self, issues: list[QueueIssue]) -> None:
        """Claim and read the pending issues, plan them in one batch, then apply each as usual."""
        assert self.batch is not None
        chosen: list[tuple[QueueIssue, IssueSnapshot]] = []
        left: list[tuple[QueueIssue, Phase]] = []
        it: Iterator[QueueIssue] = iter(issues)
        for issue in it:
            if not self.budget.reserve():
                self._stopped = True
                left.append((issue, 2))
                break
            skip = self._claim(issue)
            if skip is None:
                try:
                    snapshot = await read_snapshot(self.caller, self._ref(issue))
                except GitHubError as error:
                    self._finish(issue)
                    self.budget.release()
                    self._record(IssueRecord(issue=issue.number, phase=2, status="failed", failure=f"GitHub: {error}"))
                    continue
                if self._owes(snapshot, 2):
                    chosen.append((issue, snapshot))
                    continue
                self._finish(issue)
                skip = "not_pending"
            self.budget.release()
            self._record(IssueRecord(issue=issue.number, phase=2, status="skipped", reason=skip))
        self._left_by_budget([*left, *((issue, 2) for issue in it)])
        if not chosen:
            return
        results = await self.batch([snapshot for _, snapshot in chosen])
        pairs = iter(zip(chosen, results, strict=True))

        async def worker() -> None:
            for (issue, snapshot), result in pairs:
                engine = PrecomputedEngine(result, name=f"{self.engine.name}-batch")
                try:
                    record = await self._triage(issue, 2, engine, snapshot=snapshot, retries=0)
                finally:
                    self._finish(issue)
                self._settle(record)
                self._record(record)

        async with anyio.create_task_group() as group:
            for _ in range(min(self.settings.concurrency, len(chosen))):
                group.start_soon(worker)

    def _settle(self, record: IssueRecord) -> None:
        # Only issues that reached the model say anything about what the next one will cost.
        if record.usage.turns or record.usage.cost_usd:
            self.budget.settle(record.usage.cost_usd)
        else:
            self.budget.release()

    def _left_by_budget(self, left: list[tuple[QueueIssue, Phase]]) -> None:
        if not left:
            return
        note = (
            f"budget ${self.settings.budget_usd:.2f}: ${self.budget.spent_usd:.4f} spent, the next issue was "
            f"estimated at ${self.budget.estimate_usd:.4f}; {len(left)} issues left for the next run"
        )
        self._append(Event(kind="budget_stop", at=_now(), note=note))
        for issue, phase in left:
            self._record(IssueRecord(issue=issue.number, phase=phase, status="skipped", reason="budget"))

    # -- one issue ----------------------------------------------------------------------------------

    async def _claimed(self, issue: QueueIssue, phase: Phase, engine: Engine) -> IssueRecord:
        skip = self._claim(issue)
        if skip is not None:
            return IssueRecord(issue=issue.number, phase=phase, status="skipped", reason=skip)
        try:
            return await self._triage(issue, phase, engine)
        finally:
            self._finish(issue)

    def _claim(self, issue: QueueIssue) -> SkipReason | None:
        claim = self.store.claim(
            repo=self.settings.repo,
            issue=issue.number,
            apply=self.settings.apply,
            run_id=self.run_id,
            holder=self._holder,
            listed_at=self._listed_at,
            lease=self.settings.lease_seconds,
        )
        return None if claim == "claimed" else claim

    def _finish(self, issue: QueueIssue) -> None:
        self.store.finish_claim(
            repo=self.settings.repo, issue=issue.number, apply=self.settings.apply, holder=self._holder
        )

    def _ref(self, issue: QueueIssue) -> IssueRef:
        owner, name = split_repo(self.settings.repo)
        return IssueRef(owner=owner, repo=name, number=issue.number)

    def _owes(self, snapshot: IssueSnapshot, phase: Phase) -> bool:
        status = queue_status(
            snapshot.labels,
            self.policy,
            parent_marker=self.settings.parent_marker,
            recorded=self._records.get(snapshot.ref.number),
        )
        return status == ("human_classified" if phase == 1 else "pending")

    async def _triage(
        self,
        issue: QueueIssue,
        phase: Phase,
        engine: Engine,
        *,
        snapshot: IssueSnapshot | None = None,
        retries: int | None = None,
    ) -> IssueRecord:
        ref = self._ref(issue)
        clock = time.monotonic()
        usage = Usage()
        attempts = 0
        retries = self.settings.stale_retries if retries is None else retries
        try:
            while True:
                attempts += 1
                fresh = snapshot if snapshot is not None else await read_snapshot(self.caller, ref)
                snapshot = None
                if not self._owes(fresh, phase):
                    return IssueRecord(
                        issue=issue.number, phase=phase, status="skipped", reason="not_pending", usage=usage
                    )
                result = await triage(
                    ref,
                    caller=self.caller,
                    engine=engine,
                    pack=self.pack,
                    apply=self.settings.apply,
                    audit=self.audit,
                    snapshot=fresh,
                )
                usage += result.usage
                if not (_stale(result) and attempts <= retries):
                    break
            record = _record_of(result, issue.number, phase, usage, attempts)
            if result.status == "applied" and result.effects is not None:
                record = await self._verify(ref, result.effects, record)
        except GitHubError as error:
            record = IssueRecord(
                issue=issue.number, phase=phase, status="failed", failure=f"GitHub: {error}", usage=usage
            )
        except Exception as error:  # noqa: BLE001  # the per-issue top level: one issue's bug must not end the night
            _log.exception("sweep: %s failed unexpectedly", ref)
            failure = f"unexpected {type(error).__name__}: {error}"
            record = IssueRecord(issue=issue.number, phase=phase, status="failed", failure=failure, usage=usage)
        return record.model_copy(update={"seconds": time.monotonic() - clock, "attempts": attempts})

    async def _verify(self, ref: IssueRef, planned: Effects, record: IssueRecord) -> IssueRecord:
        """Prove the outcome on the live issue: every promised label is there and nothing is owed any more."""
        policy = self.policy
        live = await read_snapshot(self.caller, ref)
        missing = verify(planned, live)
        reapplied = False
        if policy.marker in missing:
            # Upstream lost markers to transient errors; the marker is the bot's own bookkeeping, so put it back.
            session = GuardedSession(self.caller, ref, self.pack)
            live = await session.apply(Effects(add_labels=(policy.marker,)))
            reapplied = True
            missing = verify(planned, live)
        update: dict[str, object] = {"marker_reapplied": reapplied}
        # A left-for-humans outcome is a finished one here, whatever the policy does with it tomorrow.
        settled = policy.model_copy(update={"requeue_high_priority": False})
        status = queue_status(live.labels, settled, parent_marker=self.settings.parent_marker)
        if missing:
            update |= {"status": "failed", "failure": f"labels missing on the live issue: {', '.join(missing)}"}
        elif status in ("pending", "human_classified"):
            live_labels = ", ".join(live.labels)
            update |= {"status": "failed", "failure": f"the live issue still owes triage (labels: {live_labels})"}
        else:
            update["verified"] = True
        return record.model_copy(update=update)

    # -- the record ---------------------------------------------------------------------------------

    def _record(self, record: IssueRecord) -> None:
        self._append(Event(kind="issue", at=_now(), issue=record))
        if self.progress:
            self.progress.update(record)

    def _append(self, event: Event) -> None:
        self.store.append(self.run_id, event)

    def _stats(self, started: float) -> ProcessStats:
        return ProcessStats(
            seconds=time.monotonic() - started,
            writes=self.pacer.total,
            peak_writes_per_minute=self.pacer.peak_per_minute,
            paced_seconds=self.pacer.waited_seconds,
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _stale(result: TriageResult) -> bool:
    return result.status == "failed" and (result.failure or "").startswith("stale plan")


def _record_of(result: TriageResult, issue: int, phase: Phase, usage: Usage, attempts: int) -> IssueRecord:
    effects = result.effects
    return IssueRecord(
        issue=issue,
        phase=phase,
        status=result.status,
        decision=result.plan.decision if result.plan else None,
        outcome=effects.outcome if effects else None,
        added=effects.add_labels if effects else (),
        templates=effects.templates if effects else (),
        failure=result.failure,
        usage=usage,
        attempts=attempts,
    )
