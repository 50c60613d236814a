"""How fast the sweep gets through a big queue without ever going over GitHub's write limits.

    python benchmarks/sweep.py                 # 1,000 issues, 150 ms per GitHub call, 2 s per model turn
    python benchmarks/sweep.py --issues 200    # a quicker look

The sandbox holds invented issues (one in ten already classified by a human, so Phase 1 marks it);
every GitHub call waits `--latency` seconds inside the sandbox, and a scripted engine spends
`--model-seconds` per issue the way a model turn would. Writes are counted where they reach the
sandbox, so the peak per minute is measured, not taken from the pacer's own bookkeeping.

The baseline is a sequential sweep (concurrency 1) over a `--sample` of the same kind of issues in a
separate sandbox, measured in this run and extrapolated linearly to the full queue.

The sweep's own default limits apply: at most 80 writes a minute of any kind, and at most 500
content-creating writes (comments) an hour. Label edits create no content, so they are held to the
minute's pace only; both peaks are measured at the sandbox and checked against the limits.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from mcp import Client
from mcp.types import CallToolResult

from agent.engine import Proposal
from agent.guarded_session import WRITE_TOOLS
from agent.models import IssueSnapshot, Plan
from agent.retry import RetryingCaller
from agent.sandbox import Faults, IssueSeed, SandboxStore, build_server
from agent.skillpack import SkillPack
from agent.sweep.pacer import PacedCaller, PaceLimits, WriteKind, WritePacer, write_kind
from agent.sweep.report import SweepSummary, summarize
from agent.sweep.runner import Sweep, SweepSettings
from agent.sweep.state import RunStore

if TYPE_CHECKING:
    from agent.github import ToolCaller
    from agent.guarded_session import GuardedSession

REPO = "pytorch/pytorch"
QUEUE = "oncall: distributed"
START = datetime(2025, 1, 1, tzinfo=UTC)


def _seeds(count: int) -> list[IssueSeed]:
    seeds = []
    for number in range(1, count + 1):
        labels: tuple[str, ...] = (QUEUE,)
        if number % 10 == 0:
            labels = (QUEUE, "module: fsdp", "oncall: distributed parallelisms")
        elif number % 4 == 0:
            labels = (QUEUE, "bot-triaged")
        seeds.append(
            IssueSeed(
                repo=REPO,
                number=number,
                title=f"Invented issue {number}: collective hangs after {number % 7 + 2} steps",
                body="Invented for the sweep benchmark.",
                labels=labels,
                created_at=START + timedelta(minutes=number),
            )
        )
    return seeds


class _TurnEngine:
    """A model stand-in: a fixed think time, then a plan. One issue in thirteen asks for a reproduction."""

    name = "scripted"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def propose(self, snapshot: IssueSnapshot, pack: SkillPack, github: GuardedSession) -> Proposal:
        await anyio.sleep(self.seconds)
        if snapshot.ref.number % 13 == 0:
            plan = Plan(
                decision="needs_reproduction",
                labels=["oncall: distributed parallelisms", "module: fsdp"],
                templates=["needs_distributed_reproduction"],
                confidence="MEDIUM",
                reasoning="No script.",
            )
        else:
            plan = Plan(
                decision="route", labels=["oncall: distributed infra"], confidence="HIGH", reasoning="c10d store."
            )
        return Proposal(plan=plan, engine=self.name)


class _WriteClock:
    """Counts writes as they reach the sandbox, for the measured peak per minute."""

    def __init__(self, inner: ToolCaller) -> None:
        self.inner = inner
        self.stamps: list[tuple[float, WriteKind]] = []

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
        if name in WRITE_TOOLS:
            self.stamps.append((time.monotonic(), write_kind(name, arguments)))
        return await self.inner.call_tool(name, arguments)

    def peak(self, seconds: float, kinds: frozenset[WriteKind] = frozenset({"content", "edit"})) -> int:
        """The most writes of `kinds` inside any sliding window of `seconds`."""
        window: deque[float] = deque()
        peak = 0
        for stamp, kind in self.stamps:
            if kind not in kinds:
                continue
            window.append(stamp)
            while window[0] <= stamp - seconds:
                window.popleft()
            peak = max(peak, len(window))
        return peak


async def _sweep(
    issues: int, concurrency: int, args: argparse.Namespace, folder: Path
) -> tuple[SweepSummary, _WriteClock, float]:
    store = SandboxStore(":memory:")
    store.put_many(_seeds(issues))
    faults = Faults(latency_seconds=args.latency)
    limits = PaceLimits(per_minute=args.per_minute, per_hour=args.per_hour)
    settings = SweepSettings(repo=REPO, apply=True, concurrency=concurrency, pace=limits)
    pacer = WritePacer(limits)
    runs = RunStore(folder / f"sweep-{concurrency}.sqlite3")
    started = time.monotonic()
    async with Client(build_server(store, faults)) as client:
        counter = _WriteClock(client)
        sweep = Sweep(
            settings,
            caller=RetryingCaller(PacedCaller(counter, pacer)),
            engine=_TurnEngine(args.model_seconds),
            pack=SkillPack.load(),
            store=runs,
            pacer=pacer,
        )
        run_id = await sweep.run()
    wall = time.monotonic() - started
    return summarize(runs.run(run_id), runs.events(run_id)), counter, wall


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min ({seconds:.0f} s)"


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(
            f"sweep benchmark: {args.issues} issues, {args.latency * 1000:.0f} ms per GitHub call, "
            f"{args.model_seconds:g} s per model turn, concurrency {args.concurrency}, "
            f"limits {args.per_minute}/min and {args.per_hour}/h",
            flush=True,
        )
        _, base_writes, base_wall = await _sweep(args.sample, 1, args, folder)
        per_issue = base_wall / args.sample
        print(
            f"baseline: {args.sample} issues sequentially in {base_wall:.1f} s ({per_issue:.2f} s per issue)",
            flush=True,
        )
        full, writes, wall = await _sweep(args.issues, args.concurrency, args, folder)

    worked = sum(count for status, count in full.statuses.items() if status != "skipped")
    worked += sum(count for status, count in full.phase1.items() if status != "skipped")
    sequential = per_issue * args.issues
    limit = args.per_minute
    content = frozenset[WriteKind]({"content"})
    peak, peak_content = writes.peak(60.0), writes.peak(3600.0, content)
    exceeded = [
        counter
        for counter in (writes, base_writes)
        if counter.peak(60.0) > limit or counter.peak(3600.0, content) > args.per_hour
    ]
    print()
    print(f"wall time:           {_minutes(wall)}  (target: <= 15 min)")
    print(f"issues per minute:   {worked / (wall / 60):.1f}  ({worked} triaged, {len(full.failures)} failed)")
    print(f"writes:              {full.writes}, peak {peak} per minute at the sandbox (limit {limit})")
    print(f"content writes:      {peak_content} comments in the busiest hour (limit {args.per_hour})")
    print(f"time writes waited:  {full.paced_seconds:.0f} s")
    print(
        f"sequential estimate: {_minutes(sequential)}  ({args.sample} issues measured, x{args.issues / args.sample:g})"
    )
    print(f"ratio:               {sequential / wall:.1f}x faster than sequential")
    # In a sliding minute the first `limit` writes go at once, then each further `limit` a minute later.
    floor = (math.ceil(full.writes / limit) - 1) * (60 + PaceLimits().margin_seconds)
    print(f"write floor:         {_minutes(floor)}  ({full.writes} writes at {limit} a minute)")
    print("limits:              " + ("EXCEEDED" if exceeded else "never exceeded"))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--issues", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.150, help="seconds per GitHub call")
    parser.add_argument("--model-seconds", type=float, default=2.0, help="seconds per model turn")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--per-minute", type=int, default=80)
    parser.add_argument("--per-hour", type=int, default=500, help="content-creating writes an hour")
    parser.add_argument("--sample", type=int, default=20, help="issues in the sequential baseline")
    return parser.parse_args()


if __name__ == "__main__":
    anyio.run(main, _arguments())
