"""Small deterministic engines for harness tests: they plan from keywords, so the outcome of each case is known."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.engine import Proposal, Usage
from agent.models import IssueSnapshot, Plan

if TYPE_CHECKING:
    from agent.guarded_session import GuardedSession
    from agent.skillpack import SkillPack

PAR, INFRA, CKPT = "oncall: distributed parallelisms", "oncall: distributed infra", "oncall: distributed checkpointing"


class KeywordEngine:
    """Plans from a few words of the title; remembers every snapshot it was shown."""

    name = "keywords"

    def __init__(self, *, nccl_to: str = INFRA, knows_dcp: bool = True) -> None:
        self.seen: list[IssueSnapshot] = []
        self.nccl_to = nccl_to
        self.knows_dcp = knows_dcp

    async def propose(self, snapshot: IssueSnapshot, pack: SkillPack, github: GuardedSession) -> Proposal:
        self.seen.append(snapshot)
        policy = pack.policy
        title = snapshot.title.lower()
        has_sub = any(label in policy.sub_oncalls for label in snapshot.labels)
        has_module = any(policy.is_primary_module(label) for label in snapshot.labels)
        usage = Usage(input_tokens=10, output_tokens=2, cost_usd=0.001)
        if has_sub and has_module:
            plan = Plan(
                decision="already_classified", labels=["bot-triaged", "triaged"], confidence="HIGH", reasoning="x"
            )
        elif "single-gpu" in title or "cuda out of memory" in title:
            plan = Plan(
                decision="not_distributed",
                labels=["triage review", "bot-triaged"],
                templates=["not_distributed"],
                confidence="HIGH",
                reasoning="no distributed code",
            )
        elif "fsdp" in title:
            labels = [PAR, "module: fsdp", "bot-triaged", "triaged"]
            plan = Plan(decision="classify", labels=labels, confidence="HIGH", reasoning="FSDP named")
        elif "nccl" in title or "init_process_group" in title:
            labels = [self.nccl_to, "bot-triaged", "triaged"]
            plan = Plan(decision="route", labels=labels, confidence="HIGH", reasoning="c10d")
        elif "dcp" in title and self.knows_dcp:
            plan = Plan(decision="route", labels=[CKPT, "bot-triaged", "triaged"], confidence="HIGH", reasoning="DCP")
        else:
            plan = Plan(
                decision="low_confidence", labels=["triage review", "bot-triaged"], confidence="LOW", reasoning="vague"
            )
        return Proposal(plan=plan, engine=self.name, usage=usage)


class CrashingEngine:
    """Raises a programming error on issues whose title mentions DTensor, and plans nothing else."""

    name = "crashing"

    async def propose(self, snapshot: IssueSnapshot, pack: SkillPack, github: GuardedSession) -> Proposal:
        if "dtensor" in snapshot.title.lower():
            raise RuntimeError("engine bug")
        plan = Plan(decision="low_confidence", labels=["triage review", "bot-triaged"], confidence="LOW", reasoning="x")
        return Proposal(plan=plan, engine=self.name)
