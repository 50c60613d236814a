from __future__ import annotations

import pytest

from agent.rules import Rubric, Signals, read_issue
from agent.rules.criteria import high_priority_reasons, judge_type, reproduction_reason

from .conftest import make_issue


@pytest.mark.parametrize(
    ("title", "body", "kind"),
    [
        ("[Docs][FSDP] Explain prefetch limits", "The page does not say how many all-gathers run ahead.", "task"),
        ("DISABLED test_ddp_hooks (__main__.DistributedTest)", "Flaky on the periodic job.", "task"),
        ("[RFC] Per-module reduce dtype for DDP", "Let users pick the reduction dtype per bucket.", "request"),
        ("DDP raises on unused parameters", "It used to be fine.", "bug"),
        ("Memory use per rank with FSDP", "Thinking about ways to see memory per rank.", "unclear"),
        (
            "Check bucket names in debug mode",
            "## Feature\n\nA hang took days to debug; a check would catch it.",
            "request",
        ),
        ("FSDP device_mesh argument", "### 📚 The doc issue\n\nThe argument is missing from the page.", "task"),
    ],
)
def test_issues_are_told_apart_as_bug_request_task_or_unclear(
    rubric: Rubric, signals: Signals, title: str, body: str, kind: str
) -> None:
    assert judge_type(read_issue(make_issue(title, body), rubric.text_filters), signals, rubric).kind == kind


def test_a_traceback_makes_a_bug_report_even_without_failure_words_in_the_title(
    rubric: Rubric, signals: Signals
) -> None:
    body = '```\nTraceback (most recent call last):\n  File "/v/torch/distributed/x.py", line 3, in f\nKeyError: 1\n```'
    text = read_issue(make_issue("Odd behaviour in our trainer", body), rubric.text_filters)
    judged = judge_type(text, signals, rubric)
    assert judged.kind == "bug"
    assert judged.labels == ()


def test_each_high_priority_reason_names_the_phrase_that_fired(rubric: Rubric, signals: Signals) -> None:
    body = "Training on 4 nodes hangs forever; another run ended in Segmentation fault."
    reasons = high_priority_reasons(read_issue(make_issue("Job stuck", body), rubric.text_filters), signals, rubric)
    assert any(r.startswith("crash (") for r in reasons)
    assert any(r.startswith("multi_node_hang (") for r in reasons)


def test_many_distinct_commenters_count_as_many_users_affected(rubric: Rubric, signals: Signals) -> None:
    people = [(f"user{i}", "same here") for i in range(rubric.high_priority.many_commenters)]
    text = read_issue(make_issue("DDP slow", "slow", comments=people), rubric.text_filters)
    assert any(r.startswith("many_users") for r in high_priority_reasons(text, signals, rubric))
    few = read_issue(make_issue("DDP slow", "slow", comments=people[:2]), rubric.text_filters)
    assert high_priority_reasons(few, signals, rubric) == []


def test_a_gist_link_counts_as_a_reproduction_and_prose_does_not(rubric: Rubric, signals: Signals) -> None:
    linked = read_issue(make_issue("t", "Script: https://gist.github.com/someone/abc123"), rubric.text_filters)
    prose = read_issue(make_issue("t", "It breaks when we train for long."), rubric.text_filters)
    assert reproduction_reason(linked, signals, rubric) is not None
    assert reproduction_reason(prose, signals, rubric) is None
