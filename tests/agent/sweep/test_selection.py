from datetime import UTC, datetime

import pytest

from agent.policy import Policy
from agent.skillpack import DATA_ROOT
from agent.sweep.selection import QueueIssue, QueueStatus, Recorded, queue_status, select

SHARED = Policy.load(DATA_ROOT / "skills" / "distributed-triage" / "policy.yaml")
DEDICATED = SHARED.with_marker("ptd-bot-triaged")
REQUEUE = SHARED.model_copy(update={"requeue_high_priority": True})

Q = "oncall: distributed"
PAR = "oncall: distributed parallelisms"
INFRA = "oncall: distributed infra"
FSDP = "module: fsdp"
PERF = "module: performance"
BOT = "bot-triaged"
PTD = "ptd-bot-triaged"
OK = "triaged"
REVIEW = "triage review"
REPRO = "needs reproduction"

# (labels, status under the shared marker `bot-triaged`, status under the dedicated `ptd-bot-triaged`)
TABLE: list[tuple[tuple[str, ...], QueueStatus, QueueStatus]] = [
    # Fresh and handed-over issues are pending under both markers.
    ((Q,), "pending", "pending"),
    ((Q, BOT), "pending", "pending"),
    ((Q, BOT, FSDP), "pending", "pending"),
    ((Q, FSDP), "pending", "pending"),
    ((Q, PAR), "pending", "pending"),
    ((Q, "oncall: pt2", BOT), "pending", "pending"),
    # Exact matching: look-alike labels are not the queue, the marker or `triaged`.
    (("oncall: distributed infra",), "out_of_queue", "out_of_queue"),
    (("oncall: distributed ",), "out_of_queue", "out_of_queue"),
    ((Q, "not-triaged", "bot-triaged-v2"), "pending", "pending"),
    ((Q, "ptd-bot-triaged-old"), "pending", "pending"),
    # Step 0: a human classified it (primary module + sub-oncall) and Step 0 still owes something.
    ((Q, FSDP, PAR), "human_classified", "human_classified"),
    ((Q, BOT, FSDP, PAR), "human_classified", "human_classified"),
    ((Q, FSDP, PAR, OK), "human_classified", "human_classified"),
    ((Q, FSDP, PAR, REVIEW), "human_classified", "human_classified"),
    ((Q, PERF, PAR), "pending", "pending"),  # module: performance is not a distributed module
    # This bot's finished outcomes are never picked again.
    ((Q, BOT, FSDP, PAR, OK), "finished", "human_classified"),  # under ptd: an old run's work, now marked
    ((Q, PTD, FSDP, PAR, OK), "human_classified", "finished"),
    ((Q, BOT, INFRA, OK), "finished", "finished"),
    ((Q, PTD, INFRA, OK), "finished", "finished"),
    ((Q, BOT, PAR, REVIEW), "finished", "left_for_humans"),  # low confidence
    ((Q, PTD, PAR, REVIEW), "left_for_humans", "finished"),
    ((Q, BOT, REVIEW), "finished", "left_for_humans"),  # not distributed
    ((Q, PTD, REVIEW), "left_for_humans", "finished"),
    ((Q, BOT, PAR, FSDP, REPRO), "finished", "human_classified"),
    ((Q, PTD, PAR, FSDP, REPRO), "human_classified", "finished"),
    ((Q, BOT, REPRO), "finished", "pending"),
    ((Q, PTD, REPRO), "pending", "finished"),
    # The high-priority flow adds `triage review` and no marker: left for humans.
    ((Q, REVIEW), "left_for_humans", "left_for_humans"),
    ((Q, PAR, REVIEW), "left_for_humans", "left_for_humans"),
    ((Q, BOT, PAR, REVIEW), "finished", "left_for_humans"),
    # A human closed triage with the confident label.
    ((Q, OK), "finished", "finished"),
    ((Q, BOT, OK), "finished", "finished"),
]


@pytest.mark.parametrize(("labels", "shared", "dedicated"), TABLE, ids=lambda v: repr(v))
def test_queue_status_matches_the_table_under_both_markers(
    labels: tuple[str, ...], shared: QueueStatus, dedicated: QueueStatus
) -> None:
    assert queue_status(labels, SHARED) == shared
    assert queue_status(labels, DEDICATED) == dedicated


def test_an_issue_handed_over_with_the_parents_marker_is_pending_under_both_markers() -> None:
    for policy in (SHARED, DEDICATED):
        assert queue_status((Q, BOT), policy) == "pending"


def test_bot_triaged_is_never_taken_for_triaged() -> None:
    # A substring test would call this finished (rule 5) under either marker.
    assert queue_status((Q, BOT), SHARED) == "pending"
    assert queue_status((Q, PTD), SHARED) == "pending"


def test_every_outcome_this_bot_leaves_is_not_picked_again() -> None:
    # The labels each decision leaves after the guard, with the marker the policy names.
    outcomes = {
        "already_classified": (FSDP, PAR, OK),
        "not_distributed": (REVIEW,),
        "route": (INFRA, OK),
        "classify": (PAR, FSDP, OK),
        "low_confidence": (PAR, REVIEW),
        "needs_reproduction": (PAR, FSDP, REPRO),
    }
    for policy in (SHARED, DEDICATED):
        for handed_over in ((), (BOT,)):
            for decision, added in outcomes.items():
                labels = (Q, *handed_over, *added, policy.marker)
                assert queue_status(labels, policy) == "finished", (policy.marker, handed_over, decision)


@pytest.mark.parametrize(
    ("labels", "recorded", "policy", "expected"),
    [
        # The record proves this bot finished it even when a human has since taken the labels off.
        ((Q, BOT), "finished", SHARED, "finished"),
        ((Q,), "finished", DEDICATED, "finished"),
        # The record tells this bot's high-priority outcome apart from the parent's marker.
        ((Q, BOT, REVIEW), "left_for_humans", SHARED, "left_for_humans"),
        ((Q, BOT, REVIEW), "left_for_humans", REQUEUE, "pending"),
        ((Q, BOT, PAR, REVIEW), "left_for_humans", REQUEUE, "pending"),
        # Once a human has closed triage, the old record no longer matters.
        ((Q, BOT, REVIEW, OK), "left_for_humans", REQUEUE, "finished"),
        ((Q, BOT, FSDP, PAR), "left_for_humans", SHARED, "human_classified"),
    ],
)
def test_the_run_record_is_extra_evidence(
    labels: tuple[str, ...], recorded: Recorded, policy: Policy, expected: QueueStatus
) -> None:
    assert queue_status(labels, policy, recorded=recorded) == expected


def test_a_policy_that_requeues_high_priority_makes_them_pending() -> None:
    assert queue_status((Q, REVIEW), REQUEUE) == "pending"
    assert queue_status((Q, REVIEW), SHARED) == "left_for_humans"


def test_the_parent_marker_is_configurable() -> None:
    # A deployment whose first-level bot uses another marker: `bot-triaged` becomes dedicated.
    assert queue_status((Q, BOT), SHARED, parent_marker="pt-bot-triaged") == "finished"


def _issue(number: int, day: int, *labels: str) -> QueueIssue:
    return QueueIssue(number=number, labels=(Q, *labels), created_at=datetime(2026, 1, day, tzinfo=UTC))


def test_select_puts_phase_two_oldest_first_and_caps_it_at_the_limit() -> None:
    issues = [_issue(30, 3), _issue(10, 1, BOT), _issue(20, 2), _issue(40, 4, FSDP, PAR), _issue(50, 5, BOT, INFRA)]
    selection = select(issues, SHARED, limit=2)
    assert [i.number for i in selection.phase1] == [40]
    assert [i.number for i in selection.phase2] == [10, 20]
    assert [i.number for i in selection.beyond_limit] == [30]
    assert selection.statuses[50] == "finished"
    assert selection.count("pending") == 3


def test_select_breaks_equal_dates_by_issue_number_and_puts_undated_issues_last() -> None:
    undated = QueueIssue(number=1, labels=(Q,))
    issues = [undated, _issue(9, 1), _issue(8, 1)]
    assert [i.number for i in select(issues, SHARED).phase2] == [8, 9, 1]


def test_select_uses_the_record_per_issue() -> None:
    issues = [_issue(1, 1, BOT), _issue(2, 2, BOT)]
    selection = select(issues, SHARED, records={1: "finished"})
    assert [i.number for i in selection.phase2] == [2]
