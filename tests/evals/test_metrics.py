from __future__ import annotations

import pytest

from evals.metrics import confusion, per_class, percentile, prf, ratio, set_scores


@pytest.mark.parametrize(
    ("tp", "fp", "fn", "precision", "recall", "f1"),
    [
        (0, 0, 0, None, None, None),
        (3, 1, 0, 0.75, 1.0, 6 / 7),
        (0, 2, 0, 0.0, None, None),
        (0, 0, 2, None, 0.0, None),
        (0, 1, 1, 0.0, 0.0, 0.0),
        (2, 2, 2, 0.5, 0.5, 0.5),
    ],
)
def test_prf_is_undefined_rather_than_zero_when_there_is_nothing_to_divide(
    tp: int, fp: int, fn: int, precision: float | None, recall: float | None, f1: float | None
) -> None:
    score = prf(tp, fp, fn)
    assert score.precision == (None if precision is None else pytest.approx(precision))
    assert score.recall == (None if recall is None else pytest.approx(recall))
    assert score.f1 == (None if f1 is None else pytest.approx(f1))


def test_ratio_keeps_its_denominator_and_has_no_value_when_empty() -> None:
    assert (ratio([True, False, True]).hits, ratio([True, False, True]).total) == (2, 3)
    assert ratio([True, False, True]).value == pytest.approx(2 / 3)
    assert ratio([]).value is None


def test_confusion_puts_known_labels_first_and_counts_each_pair() -> None:
    matrix = confusion([("a", "a"), ("a", "b"), ("c", "a"), ("a", "a")], order=("b", "a"))
    assert matrix.labels == ("b", "a", "c")
    assert matrix.counts == ((0, 0, 0), (1, 2, 0), (0, 1, 0))
    assert (matrix.total, matrix.diagonal) == (4, 2)


def test_per_class_scores_each_class_against_all_others() -> None:
    pairs = [("x", "x"), ("x", "y"), ("y", "y"), ("y", "y"), ("z", "y")]
    scores = {s.label: s for s in per_class(pairs, ("x", "y", "z"))}
    assert (scores["x"].scores.precision, scores["x"].scores.recall) == (1.0, 0.5)
    assert scores["y"].scores.precision == pytest.approx(2 / 4)
    assert scores["y"].scores.recall == 1.0
    assert (scores["z"].scores.precision, scores["z"].scores.recall, scores["z"].support) == (None, 0.0, 1)


def test_set_scores_micro_pools_decisions_and_macro_averages_labels() -> None:
    pairs = [
        (frozenset({"fsdp"}), frozenset({"fsdp"})),
        (frozenset({"fsdp", "dtensor"}), frozenset({"fsdp"})),
        (frozenset({"ddp"}), frozenset({"fsdp"})),
    ]
    scores = set_scores(pairs)
    assert (scores.micro.tp, scores.micro.fp, scores.micro.fn) == (2, 1, 2)
    assert scores.micro.precision == pytest.approx(2 / 3)
    assert scores.micro.recall == pytest.approx(2 / 4)
    per = {s.label: s.scores for s in scores.per_label}
    assert per["fsdp"].precision == pytest.approx(2 / 3) and per["fsdp"].recall == 1.0
    assert per["ddp"].precision is None and per["ddp"].recall == 0.0
    # macro: fsdp (2/3, 1.0), ddp (0, 0), dtensor (0, 0); never-predicted labels count as 0 precision
    assert scores.macro.precision == pytest.approx((2 / 3) / 3)
    assert scores.macro.recall == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([5.0], 95, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([4.0, 1.0, 3.0, 2.0], 95, 4.0),
        ([float(i) for i in range(1, 101)], 95, 95.0),
    ],
)
def test_percentile_is_nearest_rank(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


def test_percentile_refuses_a_quantile_outside_0_to_100() -> None:
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], 150)
