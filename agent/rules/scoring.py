"""From hits to judgements: module scores after confusions, distributed evidence, route, modules.

Scores are sums of hit weights (term weight x channel weight, comments discounted, repeats with
diminishing returns). Every threshold and weight comes from the rubric.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace

from agent.models import Confidence
from agent.rules.rubric import Condition, Rubric, Term
from agent.rules.signals import MARKERS, Hit, Signals, route_owner
from agent.rules.text import IssueText, Segment

__all__ = ["Evidence", "ModuleChoice", "RouteChoice", "choose_modules", "choose_route", "collect", "holds"]

_USAGE_CHANNELS = frozenset({"code", "import", "frame", "root_frame"})


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything found in one issue, scored per owner (module label, route, or the markers)."""

    rubric: Rubric
    hits: Mapping[str, tuple[Hit, ...]]
    raw: Mapping[str, float]
    score: Mapping[str, float]
    discounts: Mapping[str, tuple[str, ...]]
    negated: tuple[str, ...]

    def of(self, owner: str) -> float:
        return self.score.get(owner, 0.0)

    def channels(self, owner: str) -> frozenset[str]:
        return frozenset(h.channel for h in self.hits.get(owner, ()))

    def strongest(self, owner: str, limit: int = 3) -> list[str]:
        """The hits that contributed most to `owner`, described for the reasoning."""
        parts = _contributions(self.hits.get(owner, ()), self.rubric)
        ranked = sorted(parts.items(), key=lambda item: (-item[1], item[0][0]))
        described: list[str] = []
        for (text, channel), _ in ranked:
            label = {"root_frame": "innermost frame", "label": "existing label"}.get(channel, channel)
            entry = f"{label} '{text}'"
            if entry not in described:
                described.append(entry)
            if len(described) == limit:
                break
        return described

    def usage(self) -> float:
        """Distributed evidence from code, imports and frames only: what the reporter actually runs."""
        total = 0.0
        for owner in self._distributed_owners():
            hits = [h for h in self.hits.get(owner, ()) if h.channel in _USAGE_CHANNELS]
            total += sum(_contributions(hits, self.rubric).values())
        return total

    def total(self) -> float:
        """All distributed evidence, after confusions."""
        return sum(self.of(owner) for owner in self._distributed_owners())

    def _distributed_owners(self) -> list[str]:
        owners = [m.label for m in self.rubric.modules if m.counts_as_distributed]
        owners += [route_owner(key) for key in self.rubric.routing.signals]
        owners.append(MARKERS)
        return owners


@dataclass(frozen=True, slots=True)
class RouteChoice:
    route: str
    score: float
    forced_by: tuple[str, ...]
    candidates: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModuleChoice:
    labels: tuple[str, ...]
    top_score: float
    confidence: Confidence


def _contributions(hits: Iterable[Hit], rubric: Rubric) -> dict[tuple[str, str], float]:
    """Weight per (term, channel): repeats add a capped, diminishing bonus."""
    counts: dict[tuple[str, str, str], tuple[Term, int]] = {}
    for hit in hits:
        key = (hit.term.text, hit.channel, hit.source)
        term, n = counts.get(key, (hit.term, 0))
        counts[key] = (term, n + 1)
    scoring = rubric.scoring
    parts: dict[tuple[str, str], float] = defaultdict(float)
    for (text, channel, source), (term, n) in counts.items():
        repeat = 1 + scoring.repeat_bonus * (min(n, scoring.repeat_cap) - 1)
        factor = scoring.comment_factor if source == "comment" else 1.0
        parts[(text, channel)] += term.weight * scoring.channel_weight(channel) * factor * repeat
    return dict(parts)


def holds(condition: Condition, text: IssueText, signals: Signals) -> list[str]:
    """The matched terms if `condition` holds in the parts of `text` it looks at, else an empty list."""
    if condition.channels or not condition.comments:
        wanted = set(condition.channels) or {"title", "prose", "code"}
        kept = [s for s in text.segments if _channel_of(s) in wanted]
        text = replace(text, segments=tuple(s for s in kept if condition.comments or s.source != "comment"))
    found = signals.any_of(condition.when_any, text)
    if found:
        return found
    if condition.when_all:
        groups = [signals.any_of(group, text) for group in condition.when_all]
        if all(groups):
            return [g[0] for g in groups]
    return []


def _channel_of(segment: Segment) -> str:
    return "title" if segment.source == "title" else segment.kind


def collect(text: IssueText, signals: Signals, existing_labels: Collection[str]) -> Evidence:
    rubric = signals.rubric
    found, negated = signals.hits(text)
    by_owner: dict[str, list[Hit]] = defaultdict(list)
    for hit in found:
        by_owner[hit.owner].append(hit)
    for label in rubric.module_labels:
        if label in existing_labels:
            by_owner[label].append(Hit(label, Term(text=label), "label", "label", "body"))
    raw = {owner: sum(_contributions(hits, rubric).values()) for owner, hits in by_owner.items()}
    score = dict(raw)
    discounts: dict[str, tuple[str, ...]] = {}
    for module in rubric.modules:
        hits = by_owner.get(module.label, [])
        if not hits or any(h.channel == "label" for h in hits):
            continue
        applied: list[str] = []
        for confusion in module.confusions:
            if confusion.factor >= 1.0:
                continue
            if confusion.unless_root_frame and any(h.channel == "root_frame" for h in hits):
                continue
            if confusion.unless_any and signals.any_of(confusion.unless_any, text):
                continue
            evident = [o for o in confusion.yield_to if raw.get(o, 0.0) >= rubric.confidence.medium]
            yields = not confusion.yield_to or bool(evident)
            when = not confusion.when_any or bool(signals.any_of(confusion.when_any, text))
            if yields and when:
                score[module.label] *= confusion.factor
                applied.append(confusion.note)
        if applied:
            discounts[module.label] = tuple(applied)
    return Evidence(
        rubric=rubric,
        hits={owner: tuple(hits) for owner, hits in by_owner.items()},
        raw=raw,
        score=score,
        discounts=discounts,
        negated=tuple(negated),
    )


def _route_owners(rubric: Rubric, route: str) -> list[str]:
    return [m.label for m in rubric.modules if m.route == route] + [route_owner(route)]


def choose_route(evidence: Evidence, text: IssueText, signals: Signals) -> RouteChoice:
    """Step 2: the edge cases first, then the evident routes in precedence order, else the default."""
    rubric = evidence.rubric
    routing = rubric.routing
    scores = {key: max(evidence.of(o) for o in _route_owners(rubric, key)) for key in rubric.sub_oncalls}
    best = max(scores.values())
    discussed = set(routing.discussed_channels)

    def evident(key: str) -> bool:
        owners = _route_owners(rubric, key)
        # A module label someone already set is that route's classification, however loud the text.
        if any("label" in evidence.channels(o) for o in owners):
            return True
        if scores[key] < routing.min_score or scores[key] < routing.min_share * best:
            return False
        return key == routing.default or any(evidence.channels(o) & discussed for o in owners if evidence.of(o) > 0)

    candidates = tuple(key for key in routing.precedence if evident(key))
    forced: dict[str, list[str]] = defaultdict(list)
    for edge in routing.edge_cases:
        if holds(edge, text, signals):
            forced[edge.route].append(edge.name)
    for key in routing.precedence:
        if key in forced or key in candidates:
            return RouteChoice(key, scores[key], tuple(forced.get(key, ())), candidates)
    return RouteChoice(routing.default, scores[routing.default], (), candidates)


def choose_modules(evidence: Evidence) -> ModuleChoice:
    """Step 3: the top module and any other clearly evident ones, with calibrated confidence."""
    rubric = evidence.rubric
    conf = rubric.confidence
    ranked = sorted(((evidence.of(label), label) for label in rubric.module_labels), key=lambda x: (-x[0], x[1]))
    top_score, _ = ranked[0]
    if top_score < conf.medium:
        return ModuleChoice((), top_score, "LOW")
    discussed = set(rubric.routing.discussed_channels)
    chosen = [
        label
        for score, label in ranked
        if score >= conf.medium
        and score >= conf.secondary_share * top_score
        and (score == top_score or evidence.channels(label) & discussed)
    ]
    strong = any(evidence.channels(label) & set(conf.strong_channels) for label in chosen[:1])
    confidence: Confidence = "HIGH" if top_score >= conf.high and strong else "MEDIUM"
    return ModuleChoice(tuple(chosen), top_score, confidence)
