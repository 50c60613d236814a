from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pytest

from agent.engine import Engine, Usage
from agent.rules import Rubric, RubricError, RulesEngine, decide
from agent.skillpack import SkillPack

from .conftest import make_issue

if TYPE_CHECKING:
    from agent.guarded_session import GuardedSession


class _Untouchable:
    """Stands where the GitHub session goes; any use at all fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the rules engine reached for github.{name}")


def _github() -> GuardedSession:
    return cast("GuardedSession", _Untouchable())


@pytest.mark.anyio
async def test_the_engine_proposes_what_decide_returns_and_costs_nothing(pack: SkillPack, rubric: Rubric) -> None:
    engine: Engine = RulesEngine()
    issue = make_issue("fully_shard drops gradients", "```python\nfrom torch.distributed.fsdp import fully_shard\n```")
    proposal = await engine.propose(issue, pack, _github())
    assert engine.name == proposal.engine == "rules"
    assert proposal.usage == Usage()
    assert proposal.plan == decide(issue, rubric, pack.policy)


@pytest.mark.anyio
async def test_the_engine_never_touches_github(pack: SkillPack) -> None:
    engine = RulesEngine()
    for issue in (
        make_issue("x", labels=["oncall: distributed", "module: ddp", "oncall: distributed infra"]),
        make_issue("DCP save corrupts shards", "dcp.save wrote garbage"),
        make_issue("one GPU out of memory", "single GPU, CUDA out of memory"),
    ):
        await engine.propose(issue, pack, _github())


@pytest.mark.anyio
async def test_repeated_proposals_for_one_issue_are_identical(pack: SkillPack) -> None:
    engine = RulesEngine()
    issue = make_issue("DDP hangs on two nodes", "NCCL timeout after the first epoch with DDP.")
    plans = [(await engine.propose(issue, pack, _github())).plan for _ in range(3)]
    assert plans[0] == plans[1] == plans[2]


@pytest.mark.anyio
async def test_a_rubric_that_disagrees_with_the_pack_is_refused_before_any_plan(
    pack: SkillPack, rubric: Rubric
) -> None:
    stray = rubric.model_copy(update={"sub_oncalls": {**rubric.sub_oncalls, "infra": "oncall: distributed networking"}})
    engine = RulesEngine(stray)
    with pytest.raises(RubricError, match="differ from the policy"):
        await engine.propose(make_issue("x"), pack, _github())


@pytest.mark.anyio
async def test_a_template_the_bot_already_posted_is_not_requested_again_but_labels_still_are(
    pack: SkillPack,
) -> None:
    body = "With FSDP the loss diverges after switching to bf16. No idea why."
    fresh = make_issue("FSDP loss diverges with bf16", body)
    earlier = pack.templates["needs_distributed_reproduction"].comment
    seen = make_issue("FSDP loss diverges with bf16", body, comments=[("github-actions[bot]", earlier)])
    first = (await RulesEngine().propose(fresh, pack, _github())).plan
    again = (await RulesEngine().propose(seen, pack, _github())).plan
    assert first.templates == ["needs_distributed_reproduction"]
    assert again.templates == []
    assert again.labels == first.labels
    assert "left out" in again.reasoning


@pytest.mark.anyio
async def test_a_human_quoting_the_template_does_not_silence_it(pack: SkillPack) -> None:
    body = "With FSDP the loss diverges after switching to bf16. No idea why."
    quoted = pack.templates["needs_distributed_reproduction"].comment
    issue = make_issue("FSDP loss diverges with bf16", body, comments=[("someone", quoted)])
    plan = (await RulesEngine().propose(issue, pack, _github())).plan
    assert plan.templates == ["needs_distributed_reproduction"]
