from typing import Any

import pytest
from mcp.types import CallToolResult

from agent.guard import effects
from agent.guarded_session import GuardedSession
from agent.models import IssueRef, IssueSnapshot
from agent.sweep.classified import HumanClassifiedEngine
from tests.agent.sweep.support import BOT, FSDP, OK, PACK, PAR, PTD, REVIEW, Q

REF = IssueRef(owner="pytorch", repo="pytorch", number=7)


class _NoGitHub:
    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
        raise AssertionError("Phase 1 must not reach GitHub while planning")


async def _effects(labels: tuple[str, ...], marker: str = BOT) -> tuple[str, ...]:
    pack = PACK.model_copy(update={"policy": PACK.policy.with_marker(marker)})
    snapshot = IssueSnapshot(ref=REF, title="t", labels=labels)
    session = GuardedSession(_NoGitHub(), REF, pack)
    proposal = await HumanClassifiedEngine().propose(snapshot, pack, session)
    assert proposal.plan.decision == "already_classified"
    assert proposal.usage.cost_usd == 0
    return effects(proposal.plan, snapshot, pack.policy, allowlist=pack.allowlist, templates=pack.templates).add_labels


@pytest.mark.anyio
async def test_a_human_classified_issue_gets_the_marker_and_the_confident_label() -> None:
    assert set(await _effects((Q, FSDP, PAR))) == {BOT, OK}
    assert set(await _effects((Q, BOT, FSDP, PAR), marker=PTD)) == {PTD, OK}


@pytest.mark.anyio
async def test_a_review_flag_a_human_left_keeps_the_confident_label_off() -> None:
    assert await _effects((Q, FSDP, PAR, REVIEW)) == (BOT,)
