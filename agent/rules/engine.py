"""The rules engine: the skill's steps decided offline from the rubric, with no model and no network."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent.comments import posted_by_bot
from agent.engine import Proposal, Usage
from agent.models import IssueSnapshot
from agent.rules.decision import decide
from agent.rules.rubric import Rubric
from agent.rules.signals import Signals

if TYPE_CHECKING:
    from agent.guarded_session import GuardedSession
    from agent.skillpack import SkillPack

__all__ = ["RulesEngine"]


class RulesEngine:
    """Deterministic engine over the pack's rubric. It never touches GitHub, not even to read."""

    name = "rules"

    def __init__(self, rubric: Rubric | None = None) -> None:
        self._fixed = rubric
        self._loaded: dict[Path, Signals] = {}

    def signals_for(self, pack: SkillPack) -> Signals:
        """The rubric for `pack`, loaded once and checked against the pack's policy, labels and templates."""
        key = pack.rubric_path
        if key not in self._loaded:
            rubric = self._fixed or Rubric.load(pack.rubric_path)
            rubric.check(pack.policy, allowlist=pack.allowlist, templates=pack.templates.keys())
            self._loaded[key] = Signals(rubric)
        return self._loaded[key]

    async def propose(self, snapshot: IssueSnapshot, pack: SkillPack, github: GuardedSession) -> Proposal:
        signals = self.signals_for(pack)
        posted = {
            key: why
            for key, template in pack.templates.items()
            if (why := posted_by_bot(key, template, snapshot.comments, pack.policy)) is not None
        }
        plan = decide(snapshot, signals.rubric, pack.policy, signals=signals, posted=posted)
        return Proposal(plan=plan, engine=self.name, usage=Usage())
