"""What the sweep tests share: seeding the sandbox, a scripted engine, and one sweep over a real MCP client.

Kept importable (not a conftest) because the multi-process tests run `child_sweep` in fresh processes.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from mcp import Client

from agent.audit import AuditLog
from agent.engine import Engine, Proposal, Usage
from agent.github import ToolCaller
from agent.models import IssueSnapshot, Plan
from agent.retry import RetryingCaller
from agent.sandbox import Faults, IssueSeed, SandboxStore, build_server
from agent.skillpack import SkillPack
from agent.sweep.pacer import PacedCaller, WritePacer
from agent.sweep.progress import Progress
from agent.sweep.report import SweepSummary, summarize
from agent.sweep.runner import BatchPlanner, Sweep, SweepSettings
from agent.sweep.state import RunStore

if TYPE_CHECKING:
    from agent.guarded_session import GuardedSession

REPO = "pytorch/pytorch"
Q = "oncall: distributed"
PAR = "oncall: distributed parallelisms"
INFRA = "oncall: distributed infra"
FSDP = "module: fsdp"
BOT = "bot-triaged"
PTD = "ptd-bot-triaged"
OK = "triaged"
REVIEW = "triage review"
REPRO = "needs reproduction"

PACK = SkillPack.load()
BASE = datetime(2026, 1, 1, tzinfo=UTC)


def seed(store: SandboxStore, number: int, *labels: str, day: int | None = None) -> None:
    created = BASE + timedelta(days=number if day is None else day)
    store.put(IssueSeed(repo=REPO, number=number, title=f"issue {number}", labels=labels, created_at=created))


def route(sub: str = INFRA) -> Plan:
    return Plan(decision="route", labels=[sub], confidence="HIGH", reasoning="The trace is in the c10d store.")


def needs_repro() -> Plan:
    return Plan(
        decision="needs_reproduction",
        labels=[PAR, FSDP],
        templates=["needs_distributed_reproduction"],
        confidence="MEDIUM",
        reasoning="No script is given.",
    )


class ScriptedEngine:
    """Stands in for the model: a fixed plan per issue, a fixed cost, and hooks for the tests."""

    name = "scripted"

    def __init__(
        self,
        plans: dict[int, Plan] | None = None,
        *,
        cost: float = 0.0,
        before: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.plans = plans or {}
        self.cost = cost
        self.before = before
        self.calls: list[int] = []

    async def propose(self, snapshot: IssueSnapshot, pack: SkillPack, github: GuardedSession) -> Proposal:
        number = snapshot.ref.number
        self.calls.append(number)
        if self.before is not None:
            await self.before(number)
        usage = Usage(input_tokens=1000, output_tokens=100, turns=1, cost_usd=self.cost) if self.cost else Usage()
        return Proposal(plan=self.plans.get(number, route()), engine=self.name, usage=usage)


class FakeTime:
    """A clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Outcome:
    run_id: str
    summary: SweepSummary
    retry_sleeps: list[float] = field(default_factory=list)
    pacer: WritePacer | None = None


async def sweep_once(
    store: SandboxStore,
    state: Path,
    engine: Engine,
    *,
    faults: Faults | None = None,
    pack: SkillPack = PACK,
    resume: str | None = None,
    time: FakeTime | None = None,
    wrap: Callable[[ToolCaller], ToolCaller] | None = None,
    progress: Progress | None = None,
    batch: BatchPlanner | None = None,
    **settings: object,
) -> Outcome:
    """One sweep through the full caller stack (retries over pacing over a real in-memory MCP client)."""
    time = time or FakeTime()
    sweep_settings = SweepSettings.model_validate({"repo": REPO, **settings})
    pacer = WritePacer(sweep_settings.pace, clock=time.clock, sleep=time.sleep)
    retry_sleeps: list[float] = []

    async def retry_sleep(seconds: float) -> None:
        retry_sleeps.append(seconds)

    runs = RunStore(state)
    async with Client(build_server(store, faults)) as client:
        inner: ToolCaller = wrap(client) if wrap else client
        caller = RetryingCaller(PacedCaller(inner, pacer), sleep=retry_sleep)
        sweep = Sweep(
            sweep_settings,
            caller=caller,
            engine=engine,
            pack=pack,
            store=runs,
            pacer=pacer,
            audit=AuditLog(state.with_name("audit.sqlite3")),
            progress=progress,
            batch=batch,
        )
        run_id = await sweep.run(resume)
    return Outcome(run_id, summarize(runs.run(run_id), runs.events(run_id)), retry_sleeps, pacer)


def child_sweep(
    sandbox: str, state: str, barrier: Barrier | None, kill_at: int | None, concurrency: int, result: Queue[Any]
) -> None:
    """A sweep in its own process. With `barrier`, every process lists the queue before any plans;
    with `kill_at`, the process dies (SIGKILL) when it reaches that issue, as a killed CI job does."""

    met = anyio.Event()
    waiting = False

    async def before(number: int) -> None:
        nonlocal waiting
        if barrier is not None and not met.is_set():
            if not waiting:
                waiting = True
                await anyio.to_thread.run_sync(barrier.wait)
                met.set()
            await met.wait()
        if number == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    async def main() -> None:
        store = SandboxStore(sandbox)
        engine = ScriptedEngine({n: needs_repro() for n in range(1, 1000) if n % 3 == 0}, before=before)
        outcome = await sweep_once(store, Path(state), engine, apply=True, concurrency=concurrency)
        result.put((outcome.run_id, engine.calls))

    anyio.run(main)


__all__ = [
    "BOT",
    "FSDP",
    "INFRA",
    "OK",
    "PACK",
    "PAR",
    "PTD",
    "REPO",
    "REPRO",
    "REVIEW",
    "FakeTime",
    "Outcome",
    "Q",
    "ScriptedEngine",
    "child_sweep",
    "needs_repro",
    "route",
    "seed",
    "sweep_once",
]
