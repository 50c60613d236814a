"""Metric arithmetic: ratios, precision/recall/F1, confusion matrices, percentiles. Pure functions only."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

__all__ = [
    "PRF",
    "ClassScore",
    "Confusion",
    "Ratio",
    "SetScores",
    "confusion",
    "per_class",
    "percentile",
    "prf",
    "ratio",
    "set_scores",
]


class Ratio(BaseModel):
    """`hits` of `total`; `value` is None when nothing was scored (never a misleading 0 or 1)."""

    model_config = ConfigDict(frozen=True)

    hits: int = 0
    total: int = 0

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None


class PRF(BaseModel):
    model_config = ConfigDict(frozen=True)

    tp: int = 0
    fp: int = 0
    fn: int = 0
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None


class ClassScore(BaseModel):
    """One class of a multi-class decision, or one label of a multi-label one."""

    model_config = ConfigDict(frozen=True)

    label: str
    scores: PRF

    @property
    def support(self) -> int:
        return self.scores.tp + self.scores.fn


class Confusion(BaseModel):
    """Counts of (expected, predicted): `counts[i][j]` is expected `labels[i]`, predicted `labels[j]`."""

    model_config = ConfigDict(frozen=True)

    labels: tuple[str, ...] = ()
    counts: tuple[tuple[int, ...], ...] = ()

    @property
    def total(self) -> int:
        return sum(map(sum, self.counts))

    @property
    def diagonal(self) -> int:
        return sum(self.counts[i][i] for i in range(len(self.labels)))


class SetScores(BaseModel):
    """Multi-label scores: micro over all decisions, macro over labels, and each label."""

    model_config = ConfigDict(frozen=True)

    cases: int = 0
    micro: PRF = PRF()
    macro: PRF = PRF()
    per_label: tuple[ClassScore, ...] = ()


def ratio(flags: Iterable[bool]) -> Ratio:
    values = list(flags)
    return Ratio(hits=sum(values), total=len(values))


def prf(tp: int, fp: int, fn: int) -> PRF:
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PRF(tp=tp, fp=fp, fn=fn, precision=precision, recall=recall, f1=f1)


def confusion(pairs: Sequence[tuple[str, str]], order: Sequence[str] = ()) -> Confusion:
    """Tabulate (expected, predicted) pairs; labels in `order` first, any others after, sorted."""
    seen = {label for pair in pairs for label in pair}
    labels = [label for label in order if label in seen] + sorted(seen - set(order))
    index = {label: i for i, label in enumerate(labels)}
    grid = [[0] * len(labels) for _ in labels]
    for expected, predicted in pairs:
        grid[index[expected]][index[predicted]] += 1
    return Confusion(labels=tuple(labels), counts=tuple(tuple(row) for row in grid))


def per_class(pairs: Sequence[tuple[str, str]], classes: Sequence[str]) -> tuple[ClassScore, ...]:
    """Precision and recall of each class of a single-label decision."""
    scores = []
    for label in classes:
        tp = sum(1 for e, p in pairs if e == label and p == label)
        fp = sum(1 for e, p in pairs if e != label and p == label)
        fn = sum(1 for e, p in pairs if e == label and p != label)
        scores.append(ClassScore(label=label, scores=prf(tp, fp, fn)))
    return tuple(scores)


def set_scores(pairs: Sequence[tuple[frozenset[str], frozenset[str]]]) -> SetScores:
    """Score (expected, predicted) label sets. Macro averages the labels that have any support or prediction."""
    labels = sorted({label for expected, predicted in pairs for label in expected | predicted})
    per_label = []
    for label in labels:
        tp = sum(1 for e, p in pairs if label in e and label in p)
        fp = sum(1 for e, p in pairs if label not in e and label in p)
        fn = sum(1 for e, p in pairs if label in e and label not in p)
        per_label.append(ClassScore(label=label, scores=prf(tp, fp, fn)))
    micro = prf(
        sum(s.scores.tp for s in per_label), sum(s.scores.fp for s in per_label), sum(s.scores.fn for s in per_label)
    )
    return SetScores(cases=len(pairs), micro=micro, macro=_macro(per_label), per_label=tuple(per_label))


def _macro(per_label: Sequence[ClassScore]) -> PRF:
    # A label never predicted has no precision; it counts as 0 so that silence is not rewarded.
    if not per_label:
        return PRF()
    precision = sum(s.scores.precision or 0.0 for s in per_label) / len(per_label)
    recall = sum(s.scores.recall or 0.0 for s in per_label) / len(per_label)
    f1 = sum(s.scores.f1 or 0.0 for s in per_label) / len(per_label)
    return PRF(precision=precision, recall=recall, f1=f1)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
