"""Scoring: the verdicts on one replayed case, and the summary of a run. Pure functions only.

What each score is computed on (a field is scored only where its gold is defined):

- decision: cases with an expected decision (see `evals.scenarios`); a failed run counts as `failed`.
- sub-oncall: `routing` and `module_only` cases with a gold sub-oncall; the sub-oncall the issue ends
  with (none counts as wrong).
- modules: `routing` cases with gold modules whose gold sub-oncall continues to module classification
  (parallelisms): the skill stops after routing to infra or checkpointing, so module labels are not
  owed there. Predicted = primary module labels the effects add.
- applied-label precision: every label the effects add that the gold can judge (sub-oncall, module,
  type, `needs reproduction`, and `triage review` where the gold says not distributed or high
  priority); markers and `triaged` are bookkeeping, other labels count as unjudged.
- abstention: share of `routing` and `module_only` cases whose effects add `triage review`.
- not distributed: the decision `not_distributed` against the gold `distributed = false`, all cases.
- high priority: `routing` and `module_only` cases where that gold is defined (Step 0 and Step 1
  rightly stop before it).
- type, needs reproduction: the same, except cases whose gold sub-oncall is infra or checkpointing:
  the skill stops after routing there, before Steps 4 and 6.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from agent.models import Decision
from agent.policy import Policy
from agent.result import TriageResult
from evals.gold import IssueType
from evals.metrics import (
    PRF,
    ClassScore,
    Confusion,
    Ratio,
    SetScores,
    confusion,
    per_class,
    percentile,
    prf,
    ratio,
    set_scores,
)
from evals.scenarios import FAMILIES, Case, Family

__all__ = ["AppliedLabel", "CaseScore", "RunScores", "Summary", "Verdict", "judge", "score_run", "summarize"]

Verdict = Literal["correct", "wrong", "unscored"]
FAILED = "failed"
NONE = "(none)"
_OWED: frozenset[Family] = frozenset({"routing", "module_only"})
_DECISION_ORDER: tuple[str, ...] = (*get_args(Decision), FAILED)


class AppliedLabel(BaseModel):
    model_config = ConfigDict(frozen=True)

    label: str
    verdict: Verdict


class CaseScore(BaseModel):
    """Everything the summary needs about one case: expectations, predictions and verdicts."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    family: Family
    number: int
    attempt: int = 1
    bot_touched: bool
    failed: bool
    decision_expected: str | None
    decision_predicted: str
    decision: Verdict
    sub_oncall_expected: str | None
    sub_oncall_predicted: str | None
    sub_oncall: Verdict
    modules_scored: bool
    modules_expected: tuple[str, ...] = ()
    modules_predicted: tuple[str, ...] = ()
    type_expected: IssueType | None
    type_predicted: IssueType
    type: Verdict
    repro_expected: bool | None
    repro_predicted: bool
    hp_expected: bool | None
    hp_predicted: bool
    distributed_expected: bool
    flagged_not_distributed: bool
    abstained: bool
    applied: tuple[AppliedLabel, ...] = ()
    notes: tuple[str, ...] = ()
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0

    @property
    def modules_missing(self) -> tuple[str, ...]:
        return tuple(m for m in self.modules_expected if m not in self.modules_predicted)

    @property
    def modules_extra(self) -> tuple[str, ...]:
        return tuple(m for m in self.modules_predicted if m not in self.modules_expected)


def judge(case: Case, result: TriageResult, policy: Policy, *, attempt: int = 1) -> CaseScore:
    """Compare what the engine's plan would do on this case with the gold."""
    gold = case.gold
    failed = not result.ok or result.plan is None or result.effects is None
    added = result.effects.add_labels if result.effects and not failed else ()
    final = set(case.labels) | set(added)
    decision = FAILED if failed or result.plan is None else result.plan.decision
    expected = case.expected_decisions[0] if case.expected_decisions else None
    owed = case.family in _OWED
    # Routing to infra or checkpointing ends the triage before the type and reproduction steps.
    reaches_steps = owed and (gold.sub_oncall is None or gold.sub_oncall in policy.continue_after_routing)
    sub_predicted = next((s for s in policy.sub_oncalls if s in final), None)
    modules_scored = (
        case.family == "routing" and gold.modules is not None and gold.sub_oncall in policy.continue_after_routing
    )
    type_predicted: IssueType = "feature" if "feature" in added else "enhancement" if "enhancement" in added else "bug"
    return CaseScore(
        case_id=case.case_id,
        family=case.family,
        number=case.number,
        attempt=attempt,
        bot_touched=gold.bot_touched,
        failed=failed,
        decision_expected=expected,
        decision_predicted=decision,
        decision=_verdict(expected is not None, decision in case.expected_decisions),
        sub_oncall_expected=gold.sub_oncall if owed else None,
        sub_oncall_predicted=sub_predicted,
        sub_oncall=_verdict(owed and gold.sub_oncall is not None, sub_predicted == gold.sub_oncall),
        modules_scored=modules_scored,
        modules_expected=gold.modules or (),
        modules_predicted=tuple(label for label in added if policy.is_primary_module(label)),
        type_expected=gold.issue_type if reaches_steps else None,
        type_predicted=type_predicted,
        type=_verdict(reaches_steps and gold.issue_type is not None, type_predicted == gold.issue_type),
        repro_expected=gold.needs_reproduction if reaches_steps else None,
        repro_predicted=policy.reproduction_label in added,
        hp_expected=gold.high_priority if owed else None,
        hp_predicted=decision == "high_priority",
        distributed_expected=bool(gold.distributed),
        flagged_not_distributed=decision == "not_distributed",
        abstained=policy.review_label in added,
        applied=tuple(AppliedLabel(label=label, verdict=_applied(label, case, policy)) for label in added),
        notes=tuple(note.rule for note in result.effects.notes) if result.effects else (),
        input_tokens=result.usage.input_tokens
        + result.usage.cache_read_input_tokens
        + result.usage.cache_creation_input_tokens,
        output_tokens=result.usage.output_tokens,
        cost_usd=result.usage.cost_usd,
        seconds=result.seconds,
    )


def _verdict(scored: bool, right: bool) -> Verdict:
    if not scored:
        return "unscored"
    return "correct" if right else "wrong"


def _applied(label: str, case: Case, policy: Policy) -> Verdict:
    gold = case.gold
    if label in policy.sub_oncalls:
        if not gold.distributed:
            return "wrong"
        return _verdict(gold.sub_oncall is not None, label == gold.sub_oncall)
    if policy.is_primary_module(label):
        if not gold.distributed:
            return "wrong"
        return _verdict(gold.modules is not None, label in (gold.modules or ()))
    if label in ("feature", "enhancement"):
        return _verdict(gold.issue_type is not None, label == gold.issue_type)
    if label == policy.reproduction_label:
        return _verdict(gold.needs_reproduction is not None, bool(gold.needs_reproduction))
    if label == policy.review_label and (gold.distributed is False or gold.high_priority):
        return "correct"
    return "unscored"


class Summary(BaseModel):
    """The scores of a set of cases; every ratio carries its denominator."""

    model_config = ConfigDict(frozen=True)

    cases: int
    failed: int
    by_family: dict[str, int]
    decision: Ratio
    decision_by_family: dict[str, Ratio]
    decision_confusion: Confusion
    sub_oncall: Ratio
    sub_oncall_classes: tuple[ClassScore, ...]
    sub_oncall_confusion: Confusion
    modules: SetScores
    applied_precision: Ratio
    applied_unjudged: int
    abstention: Ratio
    not_distributed: PRF
    issue_type: Ratio
    needs_reproduction: PRF
    high_priority: PRF
    guard_notes: dict[str, int]
    cases_with_notes: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_p50: float | None
    latency_p95: float | None
    consistency: Ratio = Ratio()

    @property
    def note_count(self) -> int:
        return sum(self.guard_notes.values())


def summarize(scores: Sequence[CaseScore], sub_oncalls: Sequence[str]) -> Summary:
    """Aggregate case verdicts into the run's figures."""
    decided = [s for s in scores if s.decision != "unscored"]
    routed = [s for s in scores if s.sub_oncall != "unscored"]
    route_pairs = [(s.sub_oncall_expected or NONE, s.sub_oncall_predicted or NONE) for s in routed]
    modules = set_scores(
        [(frozenset(s.modules_expected), frozenset(s.modules_predicted)) for s in scores if s.modules_scored]
    )
    applied = [a for s in scores for a in s.applied if a.verdict != "unscored"]
    owed = [s for s in scores if s.family in _OWED]
    notes = Counter(rule for s in scores for rule in s.notes)
    latencies = [s.seconds for s in scores if not s.failed]
    return Summary(
        cases=len(scores),
        failed=sum(s.failed for s in scores),
        by_family={f: n for f in FAMILIES if (n := sum(s.family == f for s in scores))},
        decision=ratio(s.decision == "correct" for s in decided),
        decision_by_family={
            f: ratio(s.decision == "correct" for s in decided if s.family == f)
            for f in FAMILIES
            if any(s.family == f for s in decided)
        },
        decision_confusion=confusion(
            [(s.decision_expected or NONE, s.decision_predicted) for s in decided], _DECISION_ORDER
        ),
        sub_oncall=ratio(s.sub_oncall == "correct" for s in routed),
        sub_oncall_classes=per_class(route_pairs, sub_oncalls),
        sub_oncall_confusion=confusion(route_pairs, (*sub_oncalls, NONE)),
        modules=modules,
        applied_precision=ratio(a.verdict == "correct" for a in applied),
        applied_unjudged=sum(1 for s in scores for a in s.applied if a.verdict == "unscored"),
        abstention=ratio(s.abstained for s in owed),
        not_distributed=_binary([(not s.distributed_expected, s.flagged_not_distributed) for s in scores]),
        issue_type=ratio(s.type == "correct" for s in scores if s.type != "unscored"),
        needs_reproduction=_binary([(s.repro_expected, s.repro_predicted) for s in scores]),
        high_priority=_binary([(s.hp_expected, s.hp_predicted) for s in scores]),
        guard_notes=dict(sorted(notes.items())),
        cases_with_notes=sum(1 for s in scores if s.notes),
        input_tokens=sum(s.input_tokens for s in scores),
        output_tokens=sum(s.output_tokens for s in scores),
        cost_usd=sum(s.cost_usd for s in scores),
        latency_p50=percentile(latencies, 50),
        latency_p95=percentile(latencies, 95),
        consistency=_consistency(scores),
    )


class RunScores(BaseModel):
    """The run's summary on all cases and on the cases no bot touched."""

    model_config = ConfigDict(frozen=True)

    all: Summary
    human_only: Summary


def score_run(scores: Sequence[CaseScore], sub_oncalls: Sequence[str]) -> RunScores:
    return RunScores(
        all=summarize(scores, sub_oncalls),
        human_only=summarize([s for s in scores if not s.bot_touched], sub_oncalls),
    )


def _consistency(scores: Sequence[CaseScore]) -> Ratio:
    """With repeated attempts: the share of cases whose attempts all reached the same decision."""
    decisions: dict[str, set[str]] = {}
    attempts: Counter[str] = Counter()
    for s in scores:
        decisions.setdefault(s.case_id, set()).add(s.decision_predicted)
        attempts[s.case_id] += 1
    repeated = [case_id for case_id, n in attempts.items() if n > 1]
    return ratio(len(decisions[case_id]) == 1 for case_id in repeated)


def _binary(pairs: Sequence[tuple[bool | None, bool]]) -> PRF:
    """Precision and recall of a yes/no prediction, over the pairs whose gold is defined."""
    defined = [(expected, predicted) for expected, predicted in pairs if expected is not None]
    return prf(
        sum(1 for e, p in defined if e and p),
        sum(1 for e, p in defined if not e and p),
        sum(1 for e, p in defined if e and not p),
    )
