"""Steps 4 to 6 as judgements: type labels, high-priority criteria, and whether a reproduction exists."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from agent.rules.rubric import Rubric
from agent.rules.scoring import holds
from agent.rules.signals import Signals
from agent.rules.text import IssueText, Source

__all__ = ["TypeJudgement", "high_priority_reasons", "judge_type", "reproduction_reason"]


@dataclass(frozen=True, slots=True)
class TypeJudgement:
    """What kind of issue this is: a bug report, a request (typed), a work item, or unclear."""

    kind: Literal["bug", "request", "task", "unclear"]
    labels: tuple[str, ...]
    reason: str

    @property
    def is_bug(self) -> bool:
        return self.kind == "bug"

    @property
    def may_be_urgent(self) -> bool:
        """Requests and work items are never high priority; an unclear issue still can be."""
        return self.kind in ("bug", "unclear")


def _only(text: IssueText, *sources: Source) -> IssueText:
    return replace(text, segments=tuple(text.of(sources=sources)))


def judge_type(text: IssueText, signals: Signals, rubric: Rubric) -> TypeJudgement:
    """Step 4: a bug report gets no type; a request is an enhancement if the thing already works."""
    types = rubric.types
    title, body = _only(text, "title"), _only(text, "body")
    if found := signals.any_of(types.feature_templates, body):
        reason = f"feature-request form ('{found[0]}')"
    elif found := signals.any_of(types.bug_templates, body):
        return TypeJudgement("bug", (), f"bug-report form ('{found[0]}')")
    elif found := signals.any_of(types.task_templates, body):
        return TypeJudgement("task", (), f"documentation form ('{found[0]}')")
    elif found := signals.any_of(types.task_titles, title):
        return TypeJudgement("task", (), f"a work item ('{found[0]}')")
    elif found := signals.any_of(types.request_titles, title):
        reason = f"title asks for something ('{found[0]}')"
    elif text.has_traceback or (found := signals.any_of(types.bug_cues, title)):
        return TypeJudgement("bug", (), "a bug report (" + (f"'{found[0]}' in the title)" if found else "traceback)"))
    elif found := signals.any_of(types.request_body, body):
        reason = f"description asks for something ('{found[0]}')"
    elif found := signals.any_of(types.bug_cues, body):
        return TypeJudgement("bug", (), f"a bug report ('{found[0]}')")
    else:
        return TypeJudgement("unclear", (), "neither a failure nor a request")
    described = _only(text, "title", "body")
    if better := signals.any_of(types.enhancement, described):
        labels: tuple[str, ...] = (types.enhancement_label,)
        reason += f", improving what exists ('{better[0]}')"
        if speed := signals.any_of(types.performance, described):
            labels += (types.performance_label,)
            reason += f", about speed ('{speed[0]}')"
        return TypeJudgement("request", labels, reason)
    return TypeJudgement("request", (types.feature_label,), reason + ", wholly new")


def high_priority_reasons(text: IssueText, signals: Signals, rubric: Rubric) -> list[str]:
    """Step 5: which high-priority criteria the issue meets (each named with the phrase that fired)."""
    reasons = [
        f"{criterion.name} ('{found[0]}')"
        for criterion in rubric.high_priority.criteria
        if (found := holds(criterion, text, signals))
    ]
    if text.commenters >= rubric.high_priority.many_commenters:
        reasons.append(f"many_users ({text.commenters} people commented)")
    return reasons


def reproduction_reason(text: IssueText, signals: Signals, rubric: Rubric) -> str | None:
    """Step 6: why the issue already counts as reproducible, or None when it does not."""
    repro = rubric.reproduction
    if text.code_lines >= repro.min_code_lines:
        return f"{text.code_lines} lines of code or commands"
    if repro.any_block_counts and text.has_traceback:
        return "a traceback shows where it fails"
    if repro.any_block_counts and any(True for _ in text.of(kind="code")):
        return "a block of code or output to work from"
    if found := signals.any_of(repro.counts_as_repro, text):
        return f"points at a runnable reproduction ('{found[0]}')"
    if found := signals.any_of(repro.described, _only(text, "title", "body")):
        return f"the report offers a reproduction ('{found[0]}')"
    return None
