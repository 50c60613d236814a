"""One test per guard rule: each plan below is turned into effects on the shipped policy."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from agent.comments import hidden_marker, render_comment
from agent.guard import GuardRules, effects, outcome_of
from agent.models import Comment, Confidence, Decision, Effects, IssueRef, IssueSnapshot, Plan
from agent.skillpack import SkillPack

PACK = SkillPack.load()
RULES = GuardRules.from_pack(PACK)
POLICY = RULES.policy
QUEUE = "oncall: distributed"
MARKER = POLICY.marker
PAR = "oncall: distributed parallelisms"
INFRA = "oncall: distributed infra"
CKPT = "oncall: distributed checkpointing"
REPRO = "needs_distributed_reproduction"
NOT_DIST = "not_distributed"


def snap(*labels: str, comments: Sequence[Comment] = ()) -> IssueSnapshot:
    return IssueSnapshot(
        ref=IssueRef(owner="pytorch", repo="pytorch", number=7),
        title="t",
        labels=labels,
        comments=tuple(comments),
    )


def run(
    decision: Decision,
    labels: Sequence[str] = (),
    templates: Sequence[str] = (),
    *,
    existing: Sequence[str] = (QUEUE,),
    confidence: Confidence = "HIGH",
    comments: Sequence[Comment] = (),
) -> Effects:
    plan = Plan(decision=decision, labels=list(labels), templates=list(templates), confidence=confidence, reasoning="r")
    return effects(plan, snap(*existing, comments=comments), POLICY, allowlist=PACK.allowlist, templates=PACK.templates)


def rules_of(result: Effects) -> list[str]:
    return [note.rule for note in result.notes]


def test_an_issue_without_the_exact_queue_label_is_skipped_and_nothing_happens() -> None:
    result = run("classify", [PAR, "module: fsdp"], [REPRO], existing=("oncall: distributed-ish", "oncall: pt2"))
    assert result.add_labels == ()
    assert result.comment is None
    assert result.outcome == "skipped"
    assert rules_of(result) == ["queue_gate"]


def test_markers_requested_by_a_plan_are_dropped_and_the_guard_adds_its_own() -> None:
    result = run("route", [INFRA, "bot-triaged", "ptd-bot-triaged"])
    assert result.add_labels == (INFRA, "triaged", MARKER)
    assert rules_of(result).count("marker") == 2


def test_the_dedicated_marker_policy_adds_only_its_own_marker() -> None:
    policy = POLICY.with_marker("ptd-bot-triaged")
    plan = Plan(decision="route", labels=[INFRA, "bot-triaged"], confidence="HIGH", reasoning="r")
    result = effects(plan, snap(QUEUE, "bot-triaged"), policy, allowlist=PACK.allowlist, templates=PACK.templates)
    assert result.add_labels == (INFRA, "triaged", "ptd-bot-triaged")


def test_high_priority_is_never_added_and_a_review_is_asked_instead() -> None:
    result = run("classify", [PAR, "module: fsdp", "high priority"])
    assert "high priority" not in result.add_labels
    assert "triage review" in result.add_labels
    assert "triaged" not in result.add_labels
    assert "never_request" in rules_of(result)


def test_labels_outside_the_allowlist_are_dropped_and_duplicates_collapse_in_order() -> None:
    result = run("classify", ["module: inductor", PAR, "module: fsdp", "module: fsdp", "module: dtensor"])
    assert result.add_labels == (PAR, "module: fsdp", "module: dtensor", "triaged", MARKER)
    assert rules_of(result) == ["allowlist", "confident"]


def test_labels_already_on_the_issue_are_not_added_again() -> None:
    result = run("classify", [PAR, "module: fsdp"], existing=(QUEUE, PAR, "module: fsdp"))
    assert result.add_labels == ("triaged", MARKER)
    assert "already_present" in rules_of(result)


def test_a_requested_sub_oncall_is_dropped_when_the_issue_already_has_one() -> None:
    result = run("route", [CKPT], existing=(QUEUE, INFRA))
    assert CKPT not in result.add_labels
    assert result.add_labels == ("triaged", MARKER)
    assert "exclusive_group" in rules_of(result)
    assert result.outcome == "triaged"


def test_two_requested_sub_oncalls_are_both_dropped_and_a_review_is_asked() -> None:
    result = run("route", [INFRA, CKPT])
    assert result.add_labels == ("triage review", MARKER)
    assert "exclusive_group" in rules_of(result)
    assert result.outcome == "review"


def test_high_priority_asks_for_review_without_the_marker_or_the_confident_label() -> None:
    result = run("high_priority", ["module: c10d", "triaged"], existing=(QUEUE, INFRA))
    assert result.add_labels == ("module: c10d", "triage review")
    assert "confident" in rules_of(result)
    assert result.outcome == "review"


def test_high_priority_adds_nothing_when_review_is_already_there() -> None:
    result = run("high_priority", [], existing=(QUEUE, "triage review"))
    assert result.add_labels == ()
    assert result.outcome == "review"


def test_a_classification_without_a_module_label_goes_to_review() -> None:
    result = run("classify", [PAR, "module: typo", "triaged"])
    assert result.add_labels == (PAR, "triage review", MARKER)
    assert "incomplete" in rules_of(result)
    assert "confident" in rules_of(result)


def test_module_performance_alone_is_not_a_classification() -> None:
    result = run("classify", [PAR, "enhancement", "module: performance"])
    assert "triage review" in result.add_labels
    assert "triaged" not in result.add_labels


def test_a_classification_counts_a_module_label_a_human_already_applied() -> None:
    result = run("classify", [PAR], existing=(QUEUE, "module: fsdp"))
    assert result.add_labels == (PAR, "triaged", MARKER)


def test_a_classification_without_a_sub_oncall_goes_to_review() -> None:
    result = run("classify", ["module: fsdp", "triaged"])
    assert result.add_labels == ("module: fsdp", "triage review", MARKER)
    assert "incomplete" in rules_of(result)


def test_routing_to_a_sub_oncall_that_continues_needs_a_module_label() -> None:
    result = run("route", [PAR])
    assert result.add_labels == (PAR, "triage review", MARKER)
    assert "incomplete" in rules_of(result)


def test_the_confident_label_is_dropped_when_the_result_carries_review_or_reproduction() -> None:
    review = run("low_confidence", [PAR, "triage review", "triaged"], confidence="LOW")
    assert "triaged" not in review.add_labels
    repro = run("needs_reproduction", ["needs reproduction", "triaged"], [REPRO], confidence="MEDIUM")
    assert repro.add_labels == ("needs reproduction", MARKER)
    existing_review = run("classify", [PAR, "module: fsdp", "triaged"], existing=(QUEUE, "triage review"))
    assert "triaged" not in existing_review.add_labels
    assert "confident" in rules_of(existing_review)


def test_the_confident_label_is_dropped_on_low_confidence_and_a_review_is_asked() -> None:
    result = run("classify", [PAR, "module: fsdp", "triaged"], confidence="LOW")
    assert result.add_labels == (PAR, "module: fsdp", "triage review", MARKER)
    assert {"low_confidence", "confident"} <= set(rules_of(result))


@pytest.mark.parametrize(
    ("decision", "labels", "existing"),
    [
        ("already_classified", [], (QUEUE, INFRA, "module: c10d")),
        ("route", [CKPT], (QUEUE,)),
        ("classify", [PAR, "module: fsdp"], (QUEUE,)),
        ("classify", ["module: dtensor"], (QUEUE, PAR)),
    ],
)
def test_the_confident_label_the_skill_owes_is_added_even_when_the_plan_forgot_it(
    decision: Decision, labels: list[str], existing: tuple[str, ...]
) -> None:
    result = run(decision, labels, existing=existing, confidence="MEDIUM")
    assert "triaged" in result.add_labels
    assert "confident" in rules_of(result)
    assert result.outcome == "triaged"


def test_a_plan_claiming_human_classification_without_both_labels_goes_to_review() -> None:
    result = run("already_classified", ["triaged"], existing=(QUEUE, "module: fsdp"))
    assert result.add_labels == ("triage review", MARKER)
    assert "incomplete" in rules_of(result)


def test_not_distributed_asks_for_review_and_posts_its_template() -> None:
    result = run("not_distributed", [], [NOT_DIST])
    assert result.add_labels == ("triage review", MARKER)
    assert result.comment == render_comment([NOT_DIST], RULES.templates)
    assert result.outcome == "review"


def test_needs_reproduction_makes_sure_the_reproduction_label_is_present() -> None:
    result = run("needs_reproduction", [PAR], [REPRO], confidence="MEDIUM")
    assert result.add_labels == (PAR, "needs reproduction", MARKER)
    assert result.templates == (REPRO,)
    assert result.outcome == "waiting_on_reporter"


def test_unknown_template_keys_are_dropped_and_never_become_text() -> None:
    result = run("needs_reproduction", [], ["please_close_this", REPRO])
    assert result.templates == (REPRO,)
    assert "please_close_this" not in (result.comment or "")
    assert "template_unknown" in rules_of(result)


def test_a_template_a_bot_already_posted_word_for_word_is_not_posted_again() -> None:
    posted = Comment(author="github-actions[bot]", body="Hi!\n\n" + RULES.templates[REPRO].comment)
    result = run("needs_reproduction", [], [REPRO], comments=[posted])
    assert result.comment is None
    assert result.templates == ()
    assert "template_posted" in rules_of(result)
    assert result.add_labels == ("needs reproduction", MARKER)


def test_an_older_wording_of_the_request_by_a_bot_counts_as_posted() -> None:
    older = (
        "After reviewing this issue, it appears it may not be related to distributed training (DDP, FSDP, "
        "DTensor, c10d, etc.). We've flagged it for human review so the oncall can re-route it to the correct "
        "team.\n\nIf this issue does involve distributed training, please update the description with details "
        "about your distributed setup and we'll re-evaluate."
    )
    result = run("not_distributed", [], [NOT_DIST], comments=[Comment(author="pytorchbot", body=older)])
    assert result.comment is None
    assert "template_posted" in rules_of(result)


def test_our_hidden_marker_counts_as_posted_whoever_wrote_the_comment() -> None:
    tagged = Comment(author="maintainer", body=f"{hidden_marker(REPRO)}\nedited by hand")
    result = run("needs_reproduction", [], [REPRO], comments=[tagged])
    assert result.comment is None


def test_the_same_text_from_a_human_does_not_count_as_posted() -> None:
    quoted = Comment(author="reporter", body=RULES.templates[REPRO].comment)
    result = run("needs_reproduction", [], [REPRO], comments=[quoted])
    assert result.templates == (REPRO,)


def test_a_different_template_by_the_bot_does_not_silence_this_one() -> None:
    other = Comment(author="github-actions[bot]", body=RULES.templates[NOT_DIST].comment)
    result = run("needs_reproduction", [], [REPRO], comments=[other])
    assert result.templates == (REPRO,)


def test_several_templates_are_joined_into_one_comment_with_a_hidden_marker_each() -> None:
    result = run("needs_reproduction", [], [REPRO, NOT_DIST, REPRO])
    assert result.templates == (REPRO, NOT_DIST)
    assert result.comment is not None
    assert result.comment.count("<!-- distributed-triage:") == 2
    for key in (REPRO, NOT_DIST):
        assert hidden_marker(key) in result.comment
        assert RULES.templates[key].comment in result.comment


def test_the_marker_is_added_even_when_nothing_else_changes() -> None:
    result = run("route", [INFRA], existing=(QUEUE, INFRA, "triaged"))
    assert result.add_labels == (MARKER,)
    assert result.outcome == "triaged"


def test_a_rerun_on_a_processed_issue_changes_nothing() -> None:
    first = run("needs_reproduction", [], [REPRO])
    assert first.comment is not None
    again = run(
        "needs_reproduction",
        [],
        [REPRO],
        existing=(QUEUE, *first.add_labels),
        comments=[Comment(author="distributed-triage[bot]", body=first.comment)],
    )
    assert not again.changes_anything
    assert again.outcome == "waiting_on_reporter"


@pytest.mark.parametrize(
    ("decision", "labels", "existing", "confidence", "outcome"),
    [
        ("classify", [PAR, "module: fsdp"], (QUEUE,), "HIGH", "triaged"),
        ("classify", [PAR, "module: fsdp"], (QUEUE,), "LOW", "review"),
        ("needs_reproduction", [PAR], (QUEUE,), "MEDIUM", "waiting_on_reporter"),
        ("needs_reproduction", [], (QUEUE, CKPT, "needs reproduction"), "MEDIUM", "waiting_on_reporter"),
        ("route", [INFRA], (QUEUE, "triage review"), "HIGH", "routed"),
        ("route", [], (QUEUE, "triage review", INFRA), "HIGH", "routed"),
        ("needs_reproduction", [], (QUEUE, "triaged"), "MEDIUM", "waiting_on_reporter"),
    ],
)
def test_the_outcome_names_the_strongest_result(
    decision: Decision, labels: list[str], existing: tuple[str, ...], confidence: Confidence, outcome: str
) -> None:
    assert run(decision, labels, existing=existing, confidence=confidence).outcome == outcome


def test_marked_is_the_outcome_when_the_bot_stands_behind_only_its_marker() -> None:
    assert outcome_of({MARKER}, {QUEUE, MARKER, "module: fsdp"}, POLICY) == "marked"
    assert outcome_of(set(), {QUEUE}, POLICY) == "no_action"


def test_every_dropped_request_leaves_a_note() -> None:
    result = run(
        "classify",
        ["junk", "high priority", "bot-triaged", INFRA, CKPT, "module: fsdp", "triaged"],
        ["nope"],
        confidence="LOW",
    )
    assert set(rules_of(result)) >= {
        "allowlist",
        "never_request",
        "marker",
        "exclusive_group",
        "confident",
        "template_unknown",
    }
    assert all(str(note).startswith(f"[{note.rule}]") for note in result.notes)
