"""Which queue issues the sweep owes work, decided from their labels alone (plus the bot's own record).

The marker problem: the first-level triage bot adds `bot-triaged` when it hands an issue to the
`oncall: distributed` queue, and the skill's own marker is also `bot-triaged`. So "carries the
marker" cannot by itself mean "this bot finished it". Upstream lost issues that way (a failed
hand-off carried the parent's marker and the cron never picked it up). The rule below is right
whichever marker the policy names.

A marker is *dedicated* when it differs from the parent bot's marker (`parent_marker`, by default
`bot-triaged`): only this bot applies it. Otherwise it is *shared* and proves nothing alone.
The parent never picks a sub-oncall and never adds the confident label (`triaged`) to a hand-off,
so those are second-level outcomes whoever wrote them; the review and reproduction labels are weak
evidence, since the parent may add them too. The first rule that matches decides:

1. the exact queue label is missing                               -> out_of_queue
2. the dedicated marker is present                                -> finished
3. this bot's run record says it finished the issue                -> finished
4. a primary module label and a sub-oncall (Step 0) while Step 0
   still owes the marker, or the confident label where nothing
   forbids it                                                     -> human_classified (Phase 1)
5. the confident label (a human or an earlier run closed triage)   -> finished
6. the record says the high-priority flow left it for humans       -> left_for_humans
7. the shared marker with a sub-oncall                             -> finished
8. the review label without this policy's marker (what the
   high-priority flow leaves)                                      -> left_for_humans
9. the shared marker with the review or reproduction label
   (waiting on a human or the reporter)                            -> finished
10. anything else                                                  -> pending (Phase 2)

`left_for_humans` becomes `pending` when the policy sets `requeue_high_priority`.

Known limit: under a shared marker, this bot's own high-priority outcome on an issue the parent
marked looks like rule 9; only the run record (rule 6) tells it apart, so `requeue_high_priority`
needs the record under a shared marker.

Labels always match exactly: `bot-triaged` is not `triaged`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from agent.policy import Policy

__all__ = [
    "PARENT_MARKER",
    "QueueIssue",
    "QueueStatus",
    "Recorded",
    "Selection",
    "queue_status",
    "select",
]

PARENT_MARKER = "bot-triaged"

QueueStatus = Literal["out_of_queue", "finished", "human_classified", "left_for_humans", "pending"]
Recorded = Literal["finished", "left_for_humans"]


def queue_status(
    labels: Iterable[str],
    policy: Policy,
    *,
    parent_marker: str = PARENT_MARKER,
    recorded: Recorded | None = None,
) -> QueueStatus:
    """What the sweep owes an issue carrying `labels` (see the module docstring for the rule)."""
    have = frozenset(labels)
    marker = policy.marker
    dedicated = marker != parent_marker
    has_marker = marker in have
    routed = any(label in have for label in policy.sub_oncalls)
    waiting = policy.review_label in have or policy.reproduction_label in have

    left: QueueStatus = "pending" if policy.requeue_high_priority else "left_for_humans"
    if policy.queue_label not in have:
        return "out_of_queue"
    if (dedicated and has_marker) or recorded == "finished":
        return "finished"
    if _human_classified(have, policy) and _step0_owes(have, policy):
        return "human_classified"
    if policy.confident_label in have:
        return "finished"
    if recorded == "left_for_humans":
        return left
    if has_marker and routed:
        return "finished"
    if policy.review_label in have and not has_marker:
        return left
    if has_marker and waiting:
        return "finished"
    return "pending"


def _human_classified(have: Collection[str], policy: Policy) -> bool:
    return any(policy.is_primary_module(label) for label in have) and any(label in have for label in policy.sub_oncalls)


def _step0_owes(have: Collection[str], policy: Policy) -> bool:
    if policy.marker not in have:
        return True
    confident_allowed = not any(label in have for label in policy.forbid_confident_with)
    return confident_allowed and policy.confident_label not in have


class QueueIssue(BaseModel):
    """One open issue as the queue listing shows it."""

    model_config = ConfigDict(frozen=True)

    number: int
    title: str = ""
    labels: tuple[str, ...] = ()
    created_at: datetime | None = None


class Selection(BaseModel):
    """The sweep's work list: Phase 1 (no model) and Phase 2 (oldest first, capped)."""

    model_config = ConfigDict(frozen=True)

    phase1: tuple[QueueIssue, ...] = ()
    phase2: tuple[QueueIssue, ...] = ()
    beyond_limit: tuple[QueueIssue, ...] = ()
    statuses: dict[int, QueueStatus] = {}

    def count(self, status: QueueStatus) -> int:
        return sum(1 for value in self.statuses.values() if value == status)


def select(
    issues: Iterable[QueueIssue],
    policy: Policy,
    *,
    limit: int | None = None,
    parent_marker: str = PARENT_MARKER,
    records: Mapping[int, Recorded] | None = None,
) -> Selection:
    """Sort the listed issues into the two phases; Phase 2 is oldest first and holds at most `limit`."""
    records = records or {}
    phase1: list[QueueIssue] = []
    pending: list[QueueIssue] = []
    statuses: dict[int, QueueStatus] = {}
    for issue in issues:
        status = queue_status(issue.labels, policy, parent_marker=parent_marker, recorded=records.get(issue.number))
        statuses[issue.number] = status
        if status == "human_classified":
            phase1.append(issue)
        elif status == "pending":
            pending.append(issue)
    pending.sort(key=_age)
    phase1.sort(key=_age)
    cut = len(pending) if limit is None else limit
    return Selection(
        phase1=tuple(phase1), phase2=tuple(pending[:cut]), beyond_limit=tuple(pending[cut:]), statuses=statuses
    )


def _age(issue: QueueIssue) -> tuple[float, int]:
    # Issue numbers grow with creation time; they break ties and stand in when a date is missing.
    return (issue.created_at.timestamp() if issue.created_at else float("inf"), issue.number)
