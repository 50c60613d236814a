"""The guard: turns any plan into effects the skill allows, and says why for everything it changed.

`effects(plan, snapshot, policy, allowlist=..., templates=...)` is pure: everything it depends on is
an argument. `GuardRules` bundles the same three values for the session (`GuardRules.from_pack`);
`screen_labels` is the part of the rules that also applies to a model's direct `issue_write`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from agent.comments import posted_by_bot, render_comment
from agent.models import Decision, Effects, IssueSnapshot, Note, Outcome, Plan
from agent.policy import Policy
from agent.skillpack import Template

if TYPE_CHECKING:
    from agent.skillpack import SkillPack

__all__ = ["GuardRules", "LabelScreen", "effects", "outcome_of", "screen_labels"]

# Decisions that end in a complete classification, where the confident label is owed.
_CONFIDENT_DECISIONS: frozenset[Decision] = frozenset({"already_classified", "route", "classify"})
# Decisions on which a LOW confidence means "a human should look".
_REVIEW_WHEN_LOW: frozenset[Decision] = frozenset({"already_classified", "route", "classify", "low_confidence"})


class GuardRules(BaseModel):
    """What the guard enforces: the policy, the label allowlist and the known templates."""

    model_config = ConfigDict(frozen=True)

    policy: Policy
    allowlist: frozenset[str]
    templates: dict[str, Template]

    @classmethod
    def from_pack(cls, pack: SkillPack) -> GuardRules:
        return cls(policy=pack.policy, allowlist=pack.allowlist, templates=dict(pack.templates))

    @property
    def writable(self) -> frozenset[str]:
        """Every label the bot may ever put on an issue: the allowlist plus its own marker."""
        return self.allowlist | {self.policy.marker}


class LabelScreen(BaseModel):
    """Requested labels after the label rules: what survives, and whether a human should look."""

    model_config = ConfigDict(frozen=True)

    kept: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()
    wants_review: bool = False

    def new(self, existing: Collection[str]) -> tuple[str, ...]:
        return tuple(label for label in self.kept if label not in existing)


def _quoted(labels: Iterable[str]) -> str:
    return ", ".join(repr(label) for label in labels)


def screen_labels(requested: Sequence[str], existing: Collection[str], rules: GuardRules) -> LabelScreen:
    """Apply markers, never-request, allowlist and exclusive-group rules to requested labels.

    `kept` keeps the request's order, without duplicates, and may include labels already present.
    """
    policy = rules.policy
    notes: list[Note] = []
    wants_review = False
    kept: list[str] = []
    for label in requested:
        if label in kept:
            continue
        if label in policy.known_markers:
            notes.append(Note(rule="marker", detail=f"dropped {label!r}: the guard adds the marker itself"))
        elif label in policy.never_request:
            wants_review = True
            notes.append(
                Note(rule="never_request", detail=f"dropped {label!r}: humans decide it; asked for a review instead")
            )
        elif label not in rules.allowlist:
            notes.append(Note(rule="allowlist", detail=f"dropped {label!r}: not in the label allowlist"))
        else:
            kept.append(label)

    for group, members in policy.exclusive_groups.items():
        present = [label for label in members if label in existing]
        asked = [label for label in kept if label in members and label not in present]
        if present and asked:
            notes.append(
                Note(
                    rule="exclusive_group",
                    detail=f"dropped {_quoted(asked)}: the issue already has {present[0]!r} ({group} holds one)",
                )
            )
        elif len(asked) > 1:
            wants_review = True
            notes.append(
                Note(
                    rule="exclusive_group",
                    detail=f"dropped {_quoted(asked)}: {group} holds one label; asked for a review instead",
                )
            )
        else:
            continue
        kept = [label for label in kept if label not in asked]

    present_now = [label for label in kept if label in existing]
    if present_now:
        notes.append(Note(rule="already_present", detail=f"not re-added: {_quoted(present_now)}"))
    return LabelScreen(kept=tuple(kept), notes=tuple(notes), wants_review=wants_review)


def _complete(decision: Decision, result: Collection[str], policy: Policy) -> str | None:
    """Why a classifying decision is incomplete on the resulting labels, or None when it is complete."""
    subs = [label for label in result if label in policy.sub_oncalls]
    has_module = any(policy.is_primary_module(label) for label in result)
    if not subs:
        return f"{decision} left the issue without a sub-oncall"
    if decision == "route" and any(label not in policy.continue_after_routing for label in subs):
        return None
    if not has_module:
        return f"{decision} left the issue ({subs[0]!r}) without a module label"
    return None


def _why_not_confident(
    decision: Decision, confidence: str, incomplete: str | None, blockers: Sequence[str]
) -> str | None:
    if decision not in _CONFIDENT_DECISIONS:
        return f"the plan decided {decision}"
    if incomplete:
        return incomplete
    if confidence == "LOW":
        return "confidence is LOW"
    if blockers:
        return f"the issue will carry {_quoted(blockers)}"
    return None


def outcome_of(wanted: Collection[str], result: Collection[str], policy: Policy) -> Outcome:
    """The summary outcome: the strongest statement the labels the bot stands behind make."""
    if policy.confident_label in wanted:
        return "triaged"
    if policy.review_label in wanted:
        return "review"
    if policy.reproduction_label in wanted:
        return "waiting_on_reporter"
    if any(label in policy.sub_oncalls for label in result):
        return "routed"
    if policy.marker in wanted:
        return "marked"
    return "no_action"


def effects(
    plan: Plan,
    snapshot: IssueSnapshot,
    policy: Policy,
    *,
    allowlist: Collection[str],
    templates: Mapping[str, Template],
) -> Effects:
    """The allowed effects of `plan` on the issue as `snapshot` shows it.

    `allowlist` is the skill's label allowlist and `templates` its comment templates by key
    (`pack.allowlist`, `pack.templates`).

    The guard adds what the skill owes even when a plan forgot it: `triage review` on high priority,
    not-distributed, low confidence, incomplete classifications and labels humans must decide;
    `needs reproduction` on that decision; the confident label on a complete, confident
    classification (Step 0, a terminal route, a HIGH/MEDIUM module classification); and the marker
    whenever the bot processed the issue, except in the high-priority flow. Nothing is ever removed.
    """
    rules = GuardRules(policy=policy, allowlist=frozenset(allowlist), templates=dict(templates))
    existing = frozenset(snapshot.labels)
    if policy.queue_label not in existing:
        note = Note(rule="queue_gate", detail=f"skipped: the issue does not carry {policy.queue_label!r}")
        return Effects(notes=(note,), outcome="skipped")

    screen = screen_labels(plan.labels, existing, rules)
    notes = list(screen.notes)
    asked_confident = policy.confident_label in screen.kept
    wanted = [label for label in screen.kept if label != policy.confident_label]

    def ensure(label: str, rule: str, why: str) -> None:
        if label not in wanted:
            wanted.append(label)
            if label not in existing:
                notes.append(Note(rule=rule, detail=f"added {label!r}: {why}"))

    decision = plan.decision
    if screen.wants_review:
        ensure(policy.review_label, "review", "a dropped request needs a human decision")
    if decision == "high_priority":
        ensure(policy.review_label, "high_priority", "high priority is confirmed by a human")
    elif decision == "not_distributed":
        ensure(policy.review_label, "not_distributed", "the oncall re-routes issues outside distributed")
    elif decision == "needs_reproduction":
        ensure(policy.reproduction_label, "needs_reproduction", "the reporter owes a reproduction")
    elif decision == "low_confidence":
        ensure(policy.review_label, "low_confidence", "an unsure classification goes to a human")
    if plan.confidence == "LOW" and decision in _REVIEW_WHEN_LOW:
        ensure(policy.review_label, "low_confidence", "LOW confidence is paired with a review")

    incomplete = None
    if decision in _CONFIDENT_DECISIONS:
        incomplete = _complete(decision, existing | set(wanted), policy)
        if incomplete:
            ensure(policy.review_label, "incomplete", incomplete)

    blockers = [label for label in policy.forbid_confident_with if label in existing or label in wanted]
    blocked_by = _why_not_confident(decision, plan.confidence, incomplete, blockers)
    if blocked_by is None:
        if asked_confident:
            wanted.append(policy.confident_label)
        else:
            ensure(policy.confident_label, "confident", "the skill marks a complete, confident outcome")
    elif asked_confident and policy.confident_label not in existing:
        notes.append(Note(rule="confident", detail=f"dropped {policy.confident_label!r}: {blocked_by}"))

    if decision != "high_priority":
        wanted.append(policy.marker)

    keys: list[str] = []
    for key in dict.fromkeys(plan.templates):
        template = rules.templates.get(key)
        if template is None:
            notes.append(Note(rule="template_unknown", detail=f"dropped template {key!r}: no such template"))
            continue
        reason = posted_by_bot(key, template, snapshot.comments, policy)
        if reason:
            notes.append(Note(rule="template_posted", detail=f"not posted again: {reason}"))
            continue
        keys.append(key)

    return Effects(
        add_labels=tuple(label for label in dict.fromkeys(wanted) if label not in existing),
        templates=tuple(keys),
        comment=render_comment(keys, rules.templates) if keys else None,
        notes=tuple(notes),
        outcome=outcome_of(wanted, existing | set(wanted), policy),
    )
