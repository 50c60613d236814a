"""One eval run: dataset to cases, cases replayed (several sandboxes at once if asked), verdicts, scores."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import anyio
from pydantic import BaseModel, ConfigDict, Field

from agent.engine import Engine
from agent.result import TriageResult
from agent.skillpack import SkillPack
from evals.dataset import DatasetIssue, dataset_digest, load_dataset
from evals.gold import GoldRules
from evals.progress import Progress
from evals.replay import Replayer
from evals.runs import CaseInput, CaseRecord, Run, RunInfo, run_id_for
from evals.scenarios import FAMILIES, Case, Family, build_cases
from evals.scoring import judge, score_run

__all__ = ["RunOptions", "case_record", "run_eval"]


class RunOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: Path
    limit: int | None = Field(default=None, ge=1, description="Only the first N issues of the dataset.")
    repeat: int = Field(default=1, ge=1, description="Replay every case this many times.")
    families: tuple[Family, ...] = FAMILIES
    concurrency: int = Field(default=1, ge=1, le=64, description="Cases in flight at once, one sandbox each.")


async def run_eval(options: RunOptions, engine: Engine, pack: SkillPack, *, progress: TextIO) -> Run:
    """Replay every case of the dataset with `engine` and score it. Dataset errors raise `DatasetError`."""
    started, clock = datetime.now(UTC), time.monotonic()
    issues = load_dataset(options.dataset)[: options.limit]
    rules = GoldRules.from_pack(pack)
    scenarios = build_cases(issues, rules, options.families)
    by_number = {issue.number: issue for issue in issues}
    work = [(case, attempt) for case in scenarios.cases for attempt in range(1, options.repeat + 1)]
    records: list[CaseRecord | None] = [None] * len(work)
    bar = Progress(len(work), progress)
    # Workers share one iterator: each takes the next case when it is free.
    queue: Iterator[tuple[int, tuple[Case, int]]] = iter(enumerate(work))

    async def worker() -> None:
        async with Replayer(engine, pack, rules) as replayer:
            for slot, (case, attempt) in queue:
                issue = by_number[case.number]
                result = await _replay(replayer, issue, case)
                records[slot] = case_record(issue, case, attempt, result, pack)
                bar.advance(failed=not result.ok, note=case.case_id)

    try:
        async with anyio.create_task_group() as group:
            for _ in range(min(options.concurrency, max(len(work), 1))):
                group.start_soon(worker)
    finally:
        bar.close()
    done = tuple(record for record in records if record is not None)
    return Run(
        info=RunInfo(
            run_id=run_id_for(engine.name, started),
            engine=engine.name,
            dataset=str(options.dataset),
            dataset_digest=dataset_digest(options.dataset),
            issues=len(issues),
            limit=options.limit,
            repeat=options.repeat,
            families=options.families,
            sub_oncalls=pack.policy.sub_oncalls,
            skill=pack.meta.name,
            marker=pack.policy.marker,
            started_at=started,
            finished_at=datetime.now(UTC),
            seconds=time.monotonic() - clock,
        ),
        records=done,
        exclusions=scenarios.exclusions,
        scores=score_run([record.verdicts for record in done], pack.policy.sub_oncalls),
    )


async def _replay(replayer: Replayer, issue: DatasetIssue, case: Case) -> TriageResult:
    started = datetime.now(UTC)
    try:
        return await replayer.replay(issue, case)
    except Exception as error:  # noqa: BLE001 -- top level of one case: a crash is recorded, the run goes on
        return TriageResult(
            ref=issue.ref,
            engine=replayer.engine.name,
            status="failed",
            failure=f"crashed: {type(error).__name__}: {error}",
            started_at=started,
        )


def case_record(issue: DatasetIssue, case: Case, attempt: int, result: TriageResult, pack: SkillPack) -> CaseRecord:
    return CaseRecord(
        case_id=case.case_id,
        family=case.family,
        number=case.number,
        attempt=attempt,
        input=CaseInput(
            url=issue.url,
            title=issue.title,
            labels=case.labels,
            captured_labels=issue.labels,
            comments=len(issue.comments),
            body_chars=len(issue.body or ""),
            body_partial=issue.body_partial,
        ),
        status=result.status,
        failure=result.failure,
        plan=result.plan,
        effects=result.effects,
        usage=result.usage,
        seconds=result.seconds,
        tool_calls=len(result.tool_calls),
        gold=case.gold,
        expected_decisions=case.expected_decisions,
        verdicts=judge(case, result, pack.policy, attempt=attempt),
    )
