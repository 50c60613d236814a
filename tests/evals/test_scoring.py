from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from agent.engine import Usage
from agent.models import Decision, Effects, IssueRef, Note, Plan
from agent.result import TriageResult
from agent.skillpack import SkillPack
from evals.gold import GoldRules
from evals.scenarios import Case, build_cases
from evals.scoring import CaseScore, judge, score_run, summarize
from tests.evals.factories import issue

PACK = SkillPack.load()
POLICY = PACK.policy
RULES = GoldRules.from_pack(PACK)
Q = "oncall: distributed"
PAR, INFRA, CKPT = "oncall: distributed parallelisms", "oncall: distributed infra", "oncall: distributed checkpointing"


def case(family: str, *labels: str, number: int = 9, **fields: Any) -> Case:
    built = build_cases([issue(number, *labels, **fields)], RULES)
    return next(c for c in built.cases if c.family == family)


def result(
    decision: Decision | None,
    *added: str,
    notes: tuple[str, ...] = (),
    usage: Usage | None = None,
    seconds: float = 0.01,
) -> TriageResult:
    ref = IssueRef(owner="pytorch", repo="pytorch", number=9)
    if decision is None:
        return TriageResult(ref=ref, engine="t", status="failed", failure="boom", started_at=datetime.now(UTC))
    plan = Plan(decision=decision, labels=list(added), confidence="HIGH", reasoning="test")
    effects = Effects(add_labels=added, notes=tuple(Note(rule=n, detail="d") for n in notes))
    return TriageResult(
        ref=ref,
        engine="t",
        status="planned",
        plan=plan,
        effects=effects,
        usage=usage or Usage(),
        started_at=datetime.now(UTC),
        seconds=seconds,
    )


def scored(family: str, labels: tuple[str, ...], decision: Decision | None, *added: str, **kw: Any) -> CaseScore:
    return judge(case(family, *labels), result(decision, *added, **kw), POLICY)


@pytest.mark.parametrize(
    ("family", "labels", "decision", "added", "verdicts"),
    [
        ("routing", (Q, "module: c10d"), "route", (INFRA, "bot-triaged", "triaged"), ("correct", "correct")),
        ("routing", (Q, "module: c10d"), "route", (PAR, "bot-triaged", "triaged"), ("correct", "wrong")),
        ("routing", (Q, "module: c10d"), "low_confidence", ("triage review", "bot-triaged"), ("wrong", "wrong")),
        ("routing", (Q, "module: fsdp"), "classify", (PAR, "module: fsdp", "bot-triaged"), ("correct", "correct")),
        ("routing", (Q,), "classify", (PAR, "module: fsdp"), ("unscored", "unscored")),
        ("routing", (Q, CKPT), "not_distributed", ("triage review", "bot-triaged"), ("wrong", "wrong")),
        ("routing", (Q,), "not_distributed", ("triage review", "bot-triaged"), ("unscored", "unscored")),
        ("module_only", (Q, "module: fsdp"), "route", (PAR, "bot-triaged"), ("correct", "correct")),
        ("already_classified", (Q, "module: fsdp"), "already_classified", ("triaged",), ("correct", "unscored")),
        ("already_classified", (Q, "module: fsdp"), "classify", ("triaged",), ("wrong", "unscored")),
        ("mislabelled", ("module: cuda",), "not_distributed", ("triage review",), ("correct", "unscored")),
        ("routing", (Q, "module: c10d"), None, (), ("wrong", "wrong")),
    ],
)
def test_decision_and_sub_oncall_verdicts(
    family: str, labels: tuple[str, ...], decision: Decision | None, added: tuple[str, ...], verdicts: tuple[str, str]
) -> None:
    score = scored(family, labels, decision, *added)
    assert (score.decision, score.sub_oncall) == verdicts


def test_a_failed_run_predicts_the_failed_decision() -> None:
    score = scored("routing", (Q, "module: c10d"), None)
    assert (score.failed, score.decision_predicted, score.sub_oncall_predicted) == (True, "failed", None)


def test_modules_are_scored_only_on_parallelisms_routing_cases() -> None:
    assert scored("routing", (Q, "module: fsdp"), "classify", PAR, "module: ddp").modules_scored
    assert not scored("routing", (Q, "module: c10d"), "route", INFRA).modules_scored
    assert not scored("module_only", (Q, "module: fsdp"), "route", PAR).modules_scored
    score = scored("routing", (Q, "module: fsdp", "module: dtensor"), "classify", PAR, "module: fsdp", "module: ddp")
    assert (score.modules_missing, score.modules_extra) == (("module: dtensor",), ("module: ddp",))


@pytest.mark.parametrize(
    ("family", "labels", "added", "expected"),
    [
        ("routing", (Q, "module: fsdp"), (PAR, "module: fsdp", "bot-triaged", "triaged"), ("correct", "correct")),
        ("routing", (Q, "module: fsdp"), (INFRA, "module: ddp"), ("wrong", "wrong")),
        ("routing", (Q,), (PAR, "module: ddp"), ("unscored", "unscored")),
        ("mislabelled", ("module: cuda",), (PAR, "module: ddp"), ("wrong", "wrong")),
        ("routing", (Q, "feature"), ("feature",), ("correct",)),
        ("routing", (Q, "feature"), ("enhancement",), ("wrong",)),
        ("routing", (Q, "triaged"), ("needs reproduction",), ("wrong",)),
        ("mislabelled", ("module: cuda",), ("triage review",), ("correct",)),
        ("routing", (Q, "high priority"), ("triage review",), ("correct",)),
        ("routing", (Q,), ("triage review",), ("unscored",)),
    ],
)
def test_each_applied_label_is_judged_where_the_gold_can_judge_it(
    family: str, labels: tuple[str, ...], added: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    score = scored(family, labels, "classify", *added)
    judged = tuple(a.verdict for a in score.applied if a.label not in ("bot-triaged", "triaged"))
    assert judged == expected
    assert all(a.verdict == "unscored" for a in score.applied if a.label in ("bot-triaged", "triaged"))


def test_summary_counts_each_figure_on_its_own_denominator() -> None:
    scores = [
        scored("routing", (Q, "module: fsdp"), "classify", PAR, "module: fsdp", "bot-triaged", "triaged"),
        scored("routing", (Q, "module: c10d"), "route", PAR, "bot-triaged", "triaged"),
        scored("routing", (Q,), "low_confidence", "triage review", "bot-triaged"),
        scored("mislabelled", ("module: cuda",), "not_distributed", "triage review", "bot-triaged"),
        scored("routing", (Q, CKPT), "not_distributed", "triage review", "bot-triaged", notes=("queue",)),
        scored("already_classified", (Q, "module: ddp"), "already_classified", "bot-triaged", "triaged"),
    ]
    summary = summarize(scores, POLICY.sub_oncalls)
    assert summary.cases == 6
    assert (summary.decision.hits, summary.decision.total) == (4, 5)
    by_family = {f: (r.hits, r.total) for f, r in summary.decision_by_family.items()}
    assert by_family == {"routing": (2, 3), "already_classified": (1, 1), "mislabelled": (1, 1)}
    assert (summary.sub_oncall.hits, summary.sub_oncall.total) == (1, 3)
    assert summary.modules.cases == 1 and summary.modules.micro.f1 == 1.0
    assert (summary.abstention.hits, summary.abstention.total) == (2, 4)
    nd = summary.not_distributed
    assert (nd.tp, nd.fp, nd.fn, nd.precision, nd.recall) == (1, 1, 0, 0.5, 1.0)
    assert summary.guard_notes == {"queue": 1} and summary.cases_with_notes == 1
    assert summary.decision_confusion.labels[:2] == ("already_classified", "not_distributed")
    classes = {c.label: c.scores for c in summary.sub_oncall_classes}
    assert classes[PAR].precision == 0.5 and classes[INFRA].recall == 0.0 and classes[CKPT].recall == 0.0


def test_usage_cost_and_latency_percentiles_are_summed_and_ranked() -> None:
    usage = Usage(input_tokens=100, cache_read_input_tokens=50, output_tokens=20, cost_usd=0.01)
    scores = [scored("routing", (Q,), "classify", PAR, usage=usage, seconds=float(s)) for s in (1, 2, 3, 4)]
    summary = summarize(scores, POLICY.sub_oncalls)
    assert (summary.input_tokens, summary.output_tokens) == (600, 80)
    assert summary.cost_usd == pytest.approx(0.04)
    assert (summary.latency_p50, summary.latency_p95) == (2.0, 4.0)


def test_human_only_scores_leave_out_cases_a_bot_touched() -> None:
    scores = [
        scored("routing", (Q, "module: c10d"), "route", INFRA),
        scored("routing", (Q, "module: c10d", "bot-triaged"), "route", PAR),
    ]
    run = score_run(scores, POLICY.sub_oncalls)
    assert (run.all.sub_oncall.hits, run.all.sub_oncall.total) == (1, 2)
    assert (run.human_only.sub_oncall.hits, run.human_only.sub_oncall.total) == (1, 1)


def test_repeated_attempts_measure_whether_the_decision_is_stable() -> None:
    first = judge(case("routing", Q, "module: c10d"), result("route", INFRA), POLICY, attempt=1)
    second = judge(case("routing", Q, "module: c10d"), result("classify", PAR), POLICY, attempt=2)
    other = judge(case("routing", Q, number=4), result("classify", PAR), POLICY, attempt=1)
    again = judge(case("routing", Q, number=4), result("classify", PAR), POLICY, attempt=2)
    consistency = summarize([first, second, other, again], POLICY.sub_oncalls).consistency
    assert (consistency.hits, consistency.total) == (1, 2)


def test_type_and_reproduction_are_not_owed_after_routing_to_infra_or_checkpointing() -> None:
    stopped = scored("routing", (Q, "module: c10d", "feature", "triaged"), "route", INFRA, "triaged")
    assert (stopped.type, stopped.type_expected, stopped.repro_expected) == ("unscored", None, None)
    going_on = scored("routing", (Q, "module: fsdp", "feature", "triaged"), "classify", PAR, "module: fsdp")
    assert (going_on.type, going_on.type_expected, going_on.repro_expected) == ("wrong", "feature", False)
    unknown_route = scored("routing", (Q, "feature"), "classify", PAR, "feature")
    assert unknown_route.type == "correct"
