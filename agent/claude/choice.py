"""Which engine triages an issue: `choose_engine` and the wrappers it composes.

- `Step0Gate` keeps issues that need no judgement (already classified by a human, or outside the
  queue) away from the model: the rules engine answers them.
- `SecondOpinion` checks a plan against the rules engine: when the rules engine is HIGH confidence
  and routes to another sub-oncall, the plan also asks for the review label.
- `PrecomputedEngine` hands out a proposal made elsewhere (a batch result), so it is applied through
  the same pipeline and guard as any other.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import anthropic

from agent.claude.engine import API_KEY_VARIABLE, ClaudeEngine
from agent.claude.settings import ClaudeSettings, Mode
from agent.engine import Engine, EngineFailure, Proposal
from agent.models import IssueSnapshot, Plan, UsageError
from agent.rules import RulesEngine
from agent.skillpack import SkillPack

if TYPE_CHECKING:
    from agent.guarded_session import GuardedSession

__all__ = ["EngineName", "PrecomputedEngine", "SecondOpinion", "Step0Gate", "choose_engine", "needs_model"]

EngineName = Literal["rules", "claude", "auto"]


def needs_model(snapshot: IssueSnapshot, pack: SkillPack) -> bool:
    """False for issues outside the queue and for Step 0 (a human set a module and a sub-oncall)."""
    policy = pack.policy
    if not snapshot.has_label(policy.queue_label):
        return False
    has_module = any(policy.is_primary_module(label) and label in pack.allowlist for label in snapshot.labels)
    has_sub_oncall = any(label in policy.sub_oncalls for label in snapshot.labels)
    return not (has_module and has_sub_oncall)


class Step0Gate:
    """Sends an issue to the model only when `needs_model` says so; the rules engine takes the rest."""

    def __init__(self, inner: Engine, rules: Engine) -> None:
        self.inner = inner
        self.rules = rules
        self.name = inner.name

    async def propose(self, snapshot: IssueSnapshot, pack: SkillPack, github: GuardedSession) -> Proposal:
        engine = self.inner if needs_model(snapshot, pack) else self.rules
        return await engine.propose(snapshot, pack, github)


def _sub_oncalls(plan: Plan, pack: SkillPack) -> frozenset[str]:
    return frozenset(label for label in plan.labels if label in pack.policy.sub_oncalls)


class SecondOpinion:
    """The primary engine's plan, flagged for review when a confident rules engine routes elsewhere."""

    def __init__(self, primary: Engine, rules: Engine) -> None:
        self.primary = primary
        self.rules = rules
        self.name = primary.name

    async def propose(self, snapshot: IssueSnapshot, pack: SkillPack, github: GuardedSession) -> Proposal:
        proposal = await self.primary.propose(snapshot, pack, github)
        policy = pack.policy
        if any(label in policy.sub_oncalls for label in snapshot.labels):
            return proposal  # the existing sub-oncall stands whatever either engine thinks
        try:
            check = (await self.rules.propose(snapshot, pack, github)).plan
        except EngineFailure:
            return proposal  # the second opinion is advice; its absence changes nothing
        ours, theirs = _sub_oncalls(proposal.plan, pack), _sub_oncalls(check, pack)
        if check.confidence != "HIGH" or ours == theirs or policy.review_label in proposal.plan.labels:
            return proposal
        mine = ", ".join(sorted(ours)) or "no sub-oncall"
        other = ", ".join(sorted(theirs)) or "no sub-oncall"
        plan = proposal.plan.model_copy(
            update={
                "labels": [*proposal.plan.labels, policy.review_label],
                "reasoning": f"{proposal.plan.reasoning} [Second opinion: the rules engine is HIGH confidence "
                f"on {other}, this plan chose {mine}; a human should decide.]",
            }
        )
        return proposal.model_copy(update={"plan": plan})


class PrecomputedEngine:
    """An engine whose answer is already known (a Message Batches result)."""

    def __init__(self, result: Proposal | EngineFailure, *, name: str = "claude") -> None:
        self.result = result
        self.name = name

    async def propose(self, snapshot: IssueSnapshot, pack: SkillPack, github: GuardedSession) -> Proposal:
        if isinstance(self.result, EngineFailure):
            raise self.result
        return self.result


def _rules_engine() -> Engine:
    return RulesEngine()


def choose_engine(
    name: EngineName,
    *,
    mode: Mode | None = None,
    model: str | None = None,
    settings: ClaudeSettings | None = None,
    environ: Mapping[str, str] | None = None,
    client: anthropic.AsyncAnthropic | None = None,
    rules: Engine | None = None,
) -> Engine:
    """`rules`, `claude` (raises `MissingApiKey` without a key), or `auto`: Claude when a key is set.

    A Claude engine always comes behind `Step0Gate`, and behind `SecondOpinion` when the settings ask.
    """
    if name not in ("rules", "claude", "auto"):
        raise UsageError(f"unknown engine {name!r}: choose rules, claude or auto")
    env = os.environ if environ is None else environ
    rules = rules or _rules_engine()
    if name == "rules" or (name == "auto" and client is None and not env.get(API_KEY_VARIABLE, "").strip()):
        return rules
    base = settings or ClaudeSettings.load()
    overrides = {key: value for key, value in (("mode", mode), ("model", model)) if value is not None}
    chosen = ClaudeSettings.model_validate({**base.model_dump(), **overrides}) if overrides else base
    engine: Engine = ClaudeEngine(chosen, client, environ=env)
    if chosen.second_opinion:
        engine = SecondOpinion(engine, rules)
    return Step0Gate(engine, rules)
