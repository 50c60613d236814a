"""Phase 1's engine: no model, because a human already classified the issue (Step 0)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.engine import Proposal
from agent.models import IssueSnapshot, Plan

if TYPE_CHECKING:
    from agent.guarded_session import GuardedSession
    from agent.skillpack import SkillPack

__all__ = ["HumanClassifiedEngine"]


class HumanClassifiedEngine:
    """Proposes Step 0's outcome; the guard turns it into the marker plus the confident label."""

    name = "phase1"

    async def propose(self, snapshot: IssueSnapshot, pack: SkillPack, github: GuardedSession) -> Proposal:
        policy = pack.policy
        modules = [label for label in snapshot.labels if policy.is_primary_module(label)]
        routes = [label for label in snapshot.labels if label in policy.sub_oncalls]
        plan = Plan(
            decision="already_classified",
            labels=[],
            confidence="HIGH",
            reasoning=f"A human already classified this issue: {', '.join(modules)} under {', '.join(routes)}. "
            "Step 0 only marks it.",
        )
        return Proposal(plan=plan, engine=self.name)
