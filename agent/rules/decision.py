"""The skill's Steps 0-6 as one pure function: `decide(snapshot, rubric, policy) -> Plan`.

Label names come from the policy and the rubric; this module names none. The plan lists labels to
add only; the guard adds the marker and enforces the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agent.comments import is_bot_author
from agent.models import Confidence, Decision, IssueSnapshot, Plan
from agent.policy import Policy
from agent.rules.criteria import high_priority_reasons, judge_type, reproduction_reason
from agent.rules.rubric import Rubric
from agent.rules.scoring import Evidence, choose_modules, choose_route, collect, holds
from agent.rules.signals import Signals, route_owner
from agent.rules.text import IssueText, read_issue

__all__ = ["decide"]


def decide(
    snapshot: IssueSnapshot,
    rubric: Rubric,
    policy: Policy,
    *,
    signals: Signals | None = None,
    posted: Mapping[str, str] | None = None,
) -> Plan:
    """Plan the triage of one issue. Deterministic: the same inputs give the same plan.

    `posted` maps template keys already on the issue to why they count as posted; those templates are
    left out of the plan (the labels still go on), as the skill's comment rule says.
    """
    plan = _decide(snapshot, rubric, policy, signals or Signals(rubric))
    skipped = [key for key in plan.templates if posted and key in posted]
    if not skipped:
        return plan
    why = "; ".join(posted[key] for key in skipped if posted)
    return plan.model_copy(
        update={
            "templates": [key for key in plan.templates if key not in skipped],
            "reasoning": f"{plan.reasoning} Template(s) {', '.join(skipped)} left out: {why}.",
        }
    )


def _decide(snapshot: IssueSnapshot, rubric: Rubric, policy: Policy, signals: Signals) -> Plan:
    existing = set(snapshot.labels)
    modules_present = [x for x in snapshot.labels if x in rubric.module_labels and policy.is_primary_module(x)]
    subs_present = [x for x in snapshot.labels if x in policy.sub_oncalls]

    if modules_present and subs_present:
        return _plan(
            "already_classified",
            [policy.confident_label],
            "HIGH",
            [
                f"Step 0: already classified by a human ({', '.join(modules_present)} with {subs_present[0]})",
                "nothing is left to decide",
            ],
        )

    text = read_issue(
        snapshot,
        rubric.text_filters,
        hide=_hidden_labels(rubric, policy),
        is_bot=lambda author: is_bot_author(author, policy),
    )
    evidence = collect(text, signals, existing)
    notes: list[str] = []
    aside = [f"negated mentions ignored: {', '.join(evidence.negated[:4])}"] if evidence.negated else []

    if not modules_present and not subs_present:
        verdict = _not_distributed(evidence, text, signals)
        if verdict is not None:
            why, confidence = verdict
            return _plan(
                "not_distributed",
                [policy.review_label],
                confidence,
                [f"Step 1: not a distributed issue: {why}", *aside],
                templates=[rubric.not_distributed.template],
            )

    new_labels: list[str] = []
    if subs_present:
        sub_oncall = subs_present[0]
        route_confidence: Confidence = "HIGH"
        notes.insert(0, f"Step 2: kept the existing sub-oncall {sub_oncall}")
    else:
        choice = choose_route(evidence, text, signals)
        sub_oncall = rubric.sub_oncalls[choice.route]
        new_labels.append(sub_oncall)
        route_confidence = "HIGH" if choice.forced_by or choice.score >= rubric.confidence.high else "MEDIUM"
        notes.insert(0, _route_sentence(choice.route, choice.forced_by, evidence, sub_oncall))

    kind = judge_type(text, signals, rubric)
    urgent = high_priority_reasons(text, signals, rubric) if kind.may_be_urgent else []
    if sub_oncall not in policy.continue_after_routing:
        if rubric.routing.modules_when_stopping:
            modules = choose_modules(evidence)
            new_labels += [m for m in modules.labels if m not in existing]
            if modules.labels:
                notes.append(f"modules named as well: {', '.join(modules.labels)} ({modules.confidence})")
        if urgent:
            return _plan(
                "high_priority",
                [*new_labels, policy.review_label],
                route_confidence,
                [*notes, f"Step 5: high priority for a human to confirm: {', '.join(urgent)}", *aside],
            )
        return _plan("route", [*new_labels, policy.confident_label], route_confidence, [*notes, *aside])

    modules = choose_modules(evidence)
    if modules.labels:
        named = "; ".join(f"{m} from {', '.join(evidence.strongest(m))}" for m in modules.labels)
        notes.append(f"Step 3: {named} ({modules.confidence})")
    else:
        notes.append("Step 3: no module is evident enough to name (LOW)")
    new_labels += [m for m in modules.labels if m not in existing]
    new_labels += [x for x in kind.labels if x not in existing]
    if kind.labels:
        notes.append(f"Step 4: {', '.join(kind.labels)}: {kind.reason}")

    if urgent:
        notes.append(f"Step 5: high priority for a human to confirm: {', '.join(urgent)}")
    wants_repro = kind.is_bug and reproduction_reason(text, signals, rubric) is None
    templates: list[str] = []
    if wants_repro:
        new_labels.append(policy.reproduction_label)
        templates.append(rubric.reproduction.template)
        notes.append("Step 6: no script, snippet or steps to reproduce")

    confidence = modules.confidence
    decision: Decision
    if urgent:
        decision = "high_priority"
        new_labels.append(policy.review_label)
    elif confidence == "LOW":
        decision = "low_confidence"
        new_labels.append(policy.review_label)
    elif wants_repro:
        decision = "needs_reproduction"
    else:
        decision = "classify"
        new_labels.append(policy.confident_label)
    return _plan(decision, new_labels, confidence, [*notes, *aside], templates=templates)


def _not_distributed(evidence: Evidence, text: IssueText, signals: Signals) -> tuple[str, Confidence] | None:
    rubric = evidence.rubric
    total, usage = evidence.total(), evidence.usage()
    for trap in rubric.not_distributed.traps:
        found = holds(trap, text, signals)
        if found and usage <= trap.max_usage and total <= trap.max_total:
            confidence: Confidence = "HIGH" if total < rubric.confidence.medium else "MEDIUM"
            return f"{trap.name} ('{found[0]}'), distributed usage {usage:.1f}, evidence {total:.1f}", confidence
    if total < rubric.not_distributed.min_evidence:
        return f"nothing in it points at distributed work (evidence {total:.1f})", "MEDIUM"
    return None


def _route_sentence(route: str, forced_by: Sequence[str], evidence: Evidence, label: str) -> str:
    rubric = evidence.rubric
    if forced_by:
        return f"Step 2: routed to {label} by edge case {', '.join(forced_by)}"
    owners = [m.label for m in rubric.modules if m.route == route] + [route_owner(route)]
    best = max(owners, key=lambda o: (evidence.of(o), o))
    if evidence.of(best) <= 0 or (route == rubric.routing.default and evidence.of(best) < rubric.routing.min_score):
        return f"Step 2: routed to {label}, the default when nothing points elsewhere"
    signals = ", ".join(evidence.strongest(best))
    return f"Step 2: routed to {label} (score {evidence.of(best):.1f}, {signals})"


def _hidden_labels(rubric: Rubric, policy: Policy) -> list[str]:
    """Label names typed into an issue are requests, not evidence; single words stay (they are prose)."""
    names = [
        *rubric.module_labels,
        *rubric.sub_oncalls.values(),
        rubric.types.performance_label,
        policy.queue_label,
        policy.review_label,
        policy.reproduction_label,
        *policy.known_markers,
        *policy.never_request,
        *policy.protected_labels,
    ]
    return [n for n in names if any(c in n for c in ": -")]


def _plan(
    decision: Decision,
    labels: Sequence[str],
    confidence: Confidence,
    notes: Sequence[str],
    *,
    templates: Sequence[str] = (),
) -> Plan:
    unique = list(dict.fromkeys(labels))
    sentences = [n.rstrip(".") + "." for n in notes if n][:6]
    if len(sentences) < 2:
        sentences.append(f"Decision: {decision} at {confidence} confidence.")
    return Plan(
        decision=decision,
        labels=unique,
        templates=list(dict.fromkeys(templates)),
        confidence=confidence,
        reasoning=" ".join(sentences),
    )
