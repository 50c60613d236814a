"""One sweep over the queue: list, select, triage in two phases with bounded concurrency, verify, record.

Every issue goes through `agent.pipeline.triage` (by way of `IssueWorker`), the same path as
`agent triage`. The sweep adds what only a batch needs: Phase 1 before Phase 2, a claim per issue
(so concurrent sweeps never work on the same issue), K workers, the budget, batch planning, and the
run record every process appends to.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime

import anyio
from pydantic import BaseModel, ConfigDict, Field

from agent.audit import AuditLog
from agent.claude import PrecomputedEngine
from agent.engine import Engine, EngineFailure, Proposal
from agent.github import GitHubError, ToolCaller, read_snapshot
from agent.models import DEFAULT_REPO, IssueSnapshot, UsageError
from agent.skillpack import SkillPack
from agent.sweep.budget import Budget
from agent.sweep.classified import HumanClassifiedEngine
from agent.sweep.pacer import PaceLimits, WritePacer
from agent.sweep.progress import Progress
from agent.sweep.queue import list_queue
from agent.sweep.record import Event, IssueRecord, Listing, Phase, ProcessStats, SkipReason
from agent.sweep.selection import PARENT_MARKER, QueueIssue, select
from agent.sweep.state import RunInfo, RunStore, this_process
from agent.sweep.worker import IssueWorker

__all__ = ["BatchPlanner", "Sweep", "SweepSettings", "open_run"]

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
        self.worker = IssueWorker(
            caller=caller,
            pack=pack,
            repo=settings.repo,
            apply=settings.apply,
            audit=audit,
            parent_marker=settings.parent_marker,
            stale_retries=settings.stale_retries,
        )
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
        records = self.store.records(settings.repo)
        self.worker.records = records
        selection = select(issues, self.policy, parent_marker=settings.parent_marker, records=records)
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
                    snapshot = await read_snapshot(self.caller, self.worker.ref(issue.number))
                except GitHubError as error:
                    self._finish(issue)
                    self.budget.release()
                    self._record(IssueRecord(issue=issue.number, phase=2, status="failed", failure=f"GitHub: {error}"))
                    continue
                if self.worker.owes(snapshot, 2):
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
                    record = await self.worker.triage(issue.number, 2, engine, snapshot=snapshot, retries=0)
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
            return await self.worker.triage(issue.number, phase, engine)
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
