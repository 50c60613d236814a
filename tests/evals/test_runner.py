from __future__ import annotations

import io
from pathlib import Path

import pytest

from agent.skillpack import SkillPack
from evals.runner import RunOptions, run_eval
from tests.evals.engines import CrashingEngine, KeywordEngine
from tests.evals.factories import write_invented

pytestmark = pytest.mark.anyio
PACK = SkillPack.load()


async def test_every_case_of_the_invented_dataset_is_replayed_and_scored(tmp_path: Path) -> None:
    dataset = write_invented(tmp_path / "invented.jsonl")
    engine = KeywordEngine()
    run = await run_eval(RunOptions(dataset=dataset), engine, PACK, progress=io.StringIO())
    assert [(e.number, e.reason.split(" (")[0]) for e in run.exclusions] == [
        (105, "labels were not captured"),
        (106, "no label says who owns it"),
    ]
    ids = [r.case_id for r in run.records]
    assert ids == [
        "routing/101",
        "routing/102",
        "routing/103",
        "routing/107",
        "already_classified/101",
        "already_classified/102",
        "already_classified/107",
        "module_only/101",
        "module_only/102",
        "module_only/107",
        "mislabelled/104",
    ]
    assert all(r.status == "planned" and r.tool_calls >= 1 for r in run.records)
    by_id = {r.case_id: r for r in run.records}
    assert by_id["routing/102"].verdicts.sub_oncall == "correct"
    assert by_id["mislabelled/104"].verdicts.decision == "correct"
    assert by_id["mislabelled/104"].effects is not None and by_id["mislabelled/104"].effects.comment is not None
    assert run.scores.all.cases == 11 and run.scores.human_only.cases == 8
    assert run.info.issues == 7 and run.info.engine == "keywords"


async def test_the_engine_reads_each_issue_from_the_sandbox_as_it_stood_before_triage(tmp_path: Path) -> None:
    dataset = write_invented(tmp_path / "invented.jsonl")
    engine = KeywordEngine()
    await run_eval(
        RunOptions(dataset=dataset, families=("routing", "module_only")), engine, PACK, progress=io.StringIO()
    )
    seen = {(s.ref.number, s.labels) for s in engine.seen}
    assert (107, ("oncall: distributed",)) in seen
    assert (102, ("oncall: distributed", "module: c10d", "module: nccl")) in seen
    shown = next(s for s in engine.seen if s.ref.number == 107)
    assert shown.comments == () and shown.state == "open"


async def test_several_sandboxes_and_repeats_give_every_attempt_in_order(tmp_path: Path) -> None:
    dataset = write_invented(tmp_path / "invented.jsonl")
    options = RunOptions(dataset=dataset, limit=3, repeat=2, concurrency=3, families=("routing",))
    run = await run_eval(options, KeywordEngine(), PACK, progress=io.StringIO())
    assert [r.key for r in run.records] == [
        "routing/101",
        "routing/101#2",
        "routing/102",
        "routing/102#2",
        "routing/103",
        "routing/103#2",
    ]
    assert run.scores.all.consistency.value == 1.0


async def test_an_engine_crash_fails_that_case_and_the_run_goes_on(tmp_path: Path) -> None:
    dataset = write_invented(tmp_path / "invented.jsonl")
    run = await run_eval(
        RunOptions(dataset=dataset, families=("routing",)), CrashingEngine(), PACK, progress=io.StringIO()
    )
    failed = [r for r in run.records if r.status == "failed"]
    assert [r.case_id for r in failed] == ["routing/107"]
    assert failed[0].failure is not None and "engine bug" in failed[0].failure
    assert failed[0].verdicts.decision_predicted == "failed"
    assert run.scores.all.failed == 1 and len(run.records) == 4


async def test_progress_is_written_as_plain_lines_when_not_on_a_terminal(tmp_path: Path) -> None:
    dataset = write_invented(tmp_path / "invented.jsonl")
    stream = io.StringIO()
    await run_eval(RunOptions(dataset=dataset), KeywordEngine(), PACK, progress=stream)
    lines = stream.getvalue().splitlines()
    assert lines[-1].startswith("11/11 cases")
    assert "\r" not in stream.getvalue() and 2 <= len(lines) <= 11
