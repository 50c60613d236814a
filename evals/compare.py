"""Two runs side by side: which cases got better, which got worse, and how the headline figures moved."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from evals.runs import CaseRecord, Run
from evals.scoring import CaseScore, Summary

__all__ = ["CaseDiff", "Comparison", "FieldChange", "MetricDelta", "compare_runs", "format_comparison", "headline"]

Direction = Literal["regression", "improvement", "change"]


class FieldChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str
    before: str
    after: str
    direction: Direction


class CaseDiff(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    family: str
    number: int
    changes: tuple[FieldChange, ...]

    @property
    def kind(self) -> Direction | Literal["mixed"]:
        directions = {c.direction for c in self.changes} - {"change"}
        if len(directions) == 2:
            return "mixed"
        return directions.pop() if directions else "change"


class MetricDelta(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


class Comparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_a: str
    run_b: str
    regressions: tuple[CaseDiff, ...]
    improvements: tuple[CaseDiff, ...]
    mixed: tuple[CaseDiff, ...]
    changed: tuple[CaseDiff, ...]
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]
    metrics: tuple[MetricDelta, ...]


def headline(summary: Summary) -> tuple[tuple[str, float | None], ...]:
    """The figures a reader compares first, in report order."""
    return (
        ("decision accuracy", summary.decision.value),
        ("sub-oncall accuracy", summary.sub_oncall.value),
        ("module micro F1", summary.modules.micro.f1),
        ("module macro F1", summary.modules.macro.f1),
        ("applied-label precision", summary.applied_precision.value),
        ("abstention rate", summary.abstention.value),
        ("not-distributed precision", summary.not_distributed.precision),
        ("not-distributed recall", summary.not_distributed.recall),
        ("failed cases", float(summary.failed)),
        ("cost (USD)", summary.cost_usd),
        ("latency p50 (s)", summary.latency_p50),
        ("latency p95 (s)", summary.latency_p95),
    )


def compare_runs(a: Run, b: Run) -> Comparison:
    """Case by case, matched by family, issue and attempt."""
    before = {r.key: r for r in a.records}
    after = {r.key: r for r in b.records}
    diffs = [diff for key in before if key in after if (diff := _diff(before[key], after[key])).changes]
    by_kind: dict[str, list[CaseDiff]] = {"regression": [], "improvement": [], "mixed": [], "change": []}
    for diff in diffs:
        by_kind[diff.kind].append(diff)
    metrics = tuple(
        MetricDelta(name=name, a=x, b=y)
        for (name, x), (_, y) in zip(headline(a.scores.all), headline(b.scores.all), strict=True)
    )
    return Comparison(
        run_a=a.info.run_id,
        run_b=b.info.run_id,
        regressions=tuple(by_kind["regression"]),
        improvements=tuple(by_kind["improvement"]),
        mixed=tuple(by_kind["mixed"]),
        changed=tuple(by_kind["change"]),
        only_a=tuple(key for key in before if key not in after),
        only_b=tuple(key for key in after if key not in before),
        metrics=metrics,
    )


def _diff(a: CaseRecord, b: CaseRecord) -> CaseDiff:
    va, vb = a.verdicts, b.verdicts
    changes: list[FieldChange] = []
    if va.failed != vb.failed:
        changes.append(
            FieldChange(
                field="status",
                before=a.failure or a.status,
                after=b.failure or b.status,
                direction="regression" if vb.failed else "improvement",
            )
        )
    _verdict_change(changes, "decision", va, vb, lambda s: s.decision, lambda s: s.decision_predicted)
    _verdict_change(changes, "sub-oncall", va, vb, lambda s: s.sub_oncall, lambda s: s.sub_oncall_predicted or "-")
    _verdict_change(changes, "type", va, vb, lambda s: s.type, lambda s: s.type_predicted)
    if va.modules_scored and set(va.modules_predicted) != set(vb.modules_predicted):
        errors_a = len(va.modules_missing) + len(va.modules_extra)
        errors_b = len(vb.modules_missing) + len(vb.modules_extra)
        changes.append(
            FieldChange(
                field="modules",
                before=", ".join(va.modules_predicted) or "-",
                after=", ".join(vb.modules_predicted) or "-",
                direction=_by_errors(errors_a, errors_b),
            )
        )
    wrong_a = {x.label for x in va.applied if x.verdict == "wrong"}
    wrong_b = {x.label for x in vb.applied if x.verdict == "wrong"}
    if wrong_a != wrong_b:
        changes.append(
            FieldChange(
                field="wrong labels applied",
                before=", ".join(sorted(wrong_a)) or "-",
                after=", ".join(sorted(wrong_b)) or "-",
                direction=_by_errors(len(wrong_a), len(wrong_b)),
            )
        )
    if va.abstained != vb.abstained and not any(c.field == "decision" for c in changes):
        changes.append(
            FieldChange(field="abstained", before=str(va.abstained), after=str(vb.abstained), direction="change")
        )
    return CaseDiff(key=b.key, family=b.family, number=b.number, changes=tuple(changes))


def _verdict_change(
    changes: list[FieldChange],
    field: str,
    a: CaseScore,
    b: CaseScore,
    verdict: Callable[[CaseScore], str],
    shown: Callable[[CaseScore], str],
) -> None:
    if shown(a) == shown(b) and verdict(a) == verdict(b):
        return
    pair = (verdict(a), verdict(b))
    direction: Direction = (
        "regression" if pair == ("correct", "wrong") else "improvement" if pair == ("wrong", "correct") else "change"
    )
    changes.append(FieldChange(field=field, before=shown(a), after=shown(b), direction=direction))


def _by_errors(before: int, after: int) -> Direction:
    if after > before:
        return "regression"
    return "improvement" if after < before else "change"


def format_comparison(comparison: Comparison) -> str:
    """Plain text for the terminal: the figures, then every changed case."""
    lines = [f"compare {comparison.run_a} -> {comparison.run_b}", ""]
    lines.append(f"{'figure':<28}{'A':>10}{'B':>10}{'delta':>10}")
    lines.extend(
        f"{m.name:<28}{_num(m.a):>10}{_num(m.b):>10}{_num(m.delta, signed=True):>10}" for m in comparison.metrics
    )
    sections = (
        ("Regressions", comparison.regressions),
        ("Improvements", comparison.improvements),
        ("Mixed", comparison.mixed),
        ("Other changes (not scored either way)", comparison.changed),
    )
    for title, diffs in sections:
        lines += ["", f"{title}: {len(diffs)}"]
        for diff in diffs:
            parts = "; ".join(f"{c.field} {c.before} -> {c.after}" for c in diff.changes)
            lines.append(f"  {diff.key:<32} {parts}")
    if comparison.only_a or comparison.only_b:
        lines += ["", f"Only in A: {len(comparison.only_a)}   Only in B: {len(comparison.only_b)}"]
        lines += _some("A only", comparison.only_a) + _some("B only", comparison.only_b)
        lines.insert(1, "note: the runs cover different cases, so their figures are not directly comparable")
    return "\n".join(lines) + "\n"


def _some(title: str, keys: tuple[str, ...], shown: int = 20) -> list[str]:
    lines = [f"  {title}: {key}" for key in keys[:shown]]
    if len(keys) > shown:
        lines.append(f"  {title}: ... and {len(keys) - shown} more")
    return lines


def _num(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"
