"""The harness over the first real issues of the dev dataset, read from ../shared/data (never copied here)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from agent.claude import choose_engine
from agent.skillpack import SkillPack
from evals.dataset import load_dataset
from evals.runner import RunOptions, run_eval

DATASET = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "issues-dev.jsonl"

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not DATASET.is_file(), reason=f"the dev dataset is not at {DATASET}"),
]


async def test_the_rules_engine_over_the_first_real_issues_scores_or_excludes_every_one() -> None:
    limit = 20
    run = await run_eval(
        RunOptions(dataset=DATASET, limit=limit), choose_engine("rules"), SkillPack.load(), progress=io.StringIO()
    )
    numbers = [issue.number for issue in load_dataset(DATASET)[:limit]]
    cased = {record.number for record in run.records}
    excluded = {exclusion.number: exclusion.reason for exclusion in run.exclusions}
    assert all(number in cased or excluded.get(number) for number in numbers)
    assert not cased & set(excluded)
    assert run.records, "the first issues should yield some cases"
    assert [r.case_id for r in run.records if r.status == "failed"] == []
    assert all(r.plan is not None and r.effects is not None for r in run.records)
    assert run.scores.all.cases == len(run.records)
