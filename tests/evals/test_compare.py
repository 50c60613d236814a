from __future__ import annotations

from evals.compare import compare_runs, format_comparison
from evals.runs import Run


def test_compare_lists_regressions_and_improvements_case_by_case(run_a: Run, run_b: Run) -> None:
    comparison = compare_runs(run_a, run_b)
    improved = {d.key: d for d in comparison.improvements}
    regressed = {d.key: d for d in comparison.regressions}
    assert set(improved) == {"routing/102", "module_only/102"}
    assert {(c.field, c.before, c.after) for c in improved["routing/102"].changes} >= {
        ("sub-oncall", "oncall: distributed parallelisms", "oncall: distributed infra")
    }
    assert set(regressed) == {"routing/103"}
    decision = next(c for c in regressed["routing/103"].changes if c.field == "decision")
    assert (decision.before, decision.after, decision.direction) == ("route", "low_confidence", "regression")
    assert comparison.only_a == () and comparison.only_b == ()


def test_a_run_compared_with_itself_has_no_differences(run_a: Run) -> None:
    comparison = compare_runs(run_a, run_a)
    assert comparison.regressions == comparison.improvements == comparison.mixed == comparison.changed == ()
    assert all(m.delta in (0.0, None) for m in comparison.metrics)


def test_cases_in_only_one_run_are_listed(run_a: Run, run_b: Run) -> None:
    shorter = run_b.model_copy(update={"records": run_b.records[1:]})
    comparison = compare_runs(run_a, shorter)
    assert comparison.only_a == (run_a.records[0].key,)
    text = format_comparison(comparison)
    assert "not directly comparable" in text and f"A only: {run_a.records[0].key}" in text


def test_the_text_comparison_shows_figures_and_each_changed_case(run_a: Run, run_b: Run) -> None:
    text = format_comparison(compare_runs(run_a, run_b))
    assert "sub-oncall accuracy" in text
    assert "Regressions: 1" in text and "Improvements: 2" in text
    assert "routing/103" in text and "decision route -> low_confidence" in text
    assert "not directly comparable" not in text
