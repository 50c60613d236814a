from __future__ import annotations

from pathlib import Path

import pytest

from agent.skillpack import SkillPack
from evals.runs import Run, RunError, load_run, save_run


def test_a_saved_run_loads_back_equal(run_a: Run, tmp_path: Path) -> None:
    saved, path = save_run(run_a, tmp_path / "runs")
    assert saved == run_a and path.name == f"{run_a.info.run_id}.json"
    loaded = load_run(path)
    assert loaded == run_a
    record = loaded.records[0]
    assert record.plan is not None and record.effects is not None and record.gold.distributed is True


def test_saving_never_overwrites_another_run_with_the_same_id(run_a: Run, tmp_path: Path) -> None:
    first, first_path = save_run(run_a, tmp_path)
    second, second_path = save_run(run_a, tmp_path)
    assert first_path != second_path and second.info.run_id == f"{run_a.info.run_id}-2"
    assert load_run(second_path) == second and load_run(first_path) == first


def test_each_record_carries_input_plan_effects_gold_and_verdicts(run_a: Run) -> None:
    record = next(r for r in run_a.records if r.case_id == "routing/102")
    assert record.input.labels == ("oncall: distributed",)
    assert "module: nccl" in record.input.captured_labels
    assert record.gold.sub_oncall == "oncall: distributed infra"
    assert record.expected_decisions == ("route",)
    assert record.verdicts.sub_oncall == "wrong"
    assert record.effects is not None and "oncall: distributed parallelisms" in record.effects.add_labels


def test_loading_with_a_policy_judges_every_case_again_and_recomputes_the_scores(run_a: Run, tmp_path: Path) -> None:
    # A run saved by an older version: stale verdicts and figures in the file.
    stale = run_a.records[0].verdicts.model_copy(update={"decision": "wrong", "sub_oncall": "wrong"})
    tampered = run_a.model_copy(
        update={"records": (run_a.records[0].model_copy(update={"verdicts": stale}), *run_a.records[1:])}
    )
    _, path = save_run(tampered, tmp_path)
    as_stored = load_run(path)
    assert as_stored.records[0].verdicts == stale
    assert as_stored.scores.all.decision.hits == run_a.scores.all.decision.hits - 1
    judged_again = load_run(path, SkillPack.load().policy)
    assert judged_again.records == run_a.records and judged_again.scores == run_a.scores


def test_loading_something_that_is_not_a_run_names_the_file_and_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "info": {}}', encoding="utf-8")
    with pytest.raises(RunError, match=r"bad\.json is not an eval run file .*first at"):
        load_run(bad)
    with pytest.raises(RunError, match="cannot read run"):
        load_run(tmp_path / "missing.json")
