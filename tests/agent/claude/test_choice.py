"""Engine choice, the Step-0 gate, the second opinion and precomputed (batch) proposals."""

from __future__ import annotations

import pytest

from agent.claude import (
    ClaudeEngine,
    ClaudeSettings,
    MissingApiKey,
    PrecomputedEngine,
    SecondOpinion,
    Step0Gate,
    choose_engine,
)
from agent.cli import main
from agent.engine import EngineFailure, Proposal
from agent.models import IssueRef, IssueSnapshot, Plan
from agent.rules import RulesEngine
from agent.sandbox import IssueSeed
from agent.skillpack import SkillPack
from tests.agent.claude.issues import CLASSIFIED, FSDP_HANG, guarded, seeded_store, snapshot_of
from tests.agent.claude.scripted import GOOD_PLAN, ScriptedModel, reply, tool_use

KEY = {"ANTHROPIC_API_KEY": "sk-ant-test-fake"}
CHECKPOINT_ISSUE = IssueSnapshot(
    ref=IssueRef(owner="pytorch", repo="pytorch", number=101),
    title="dcp.load does not accept a custom planner for optimizer state",
    body="With torch.distributed.checkpoint, `dcp.load(sd, checkpoint_id=path, planner=MyPlanner())` raises "
    "TypeError.\n```python\nimport torch.distributed.checkpoint as dcp\n"
    "dcp.load(sd, checkpoint_id='ckpt', planner=MyPlanner())\n```\nTypeError: unexpected planner",
    labels=("oncall: distributed",),
)


def claude_answering(plan: dict[str, object]) -> tuple[ClaudeEngine, ScriptedModel]:
    model = ScriptedModel([reply(tool_use("submit_plan", plan))])
    return ClaudeEngine(ClaudeSettings.load(), model_api=model), model


def test_rules_is_chosen_by_name_and_by_auto_without_a_key() -> None:
    assert isinstance(choose_engine("rules", environ=KEY), RulesEngine)
    assert isinstance(choose_engine("auto", environ={}), RulesEngine)


def test_auto_with_a_key_is_claude_behind_the_step0_gate() -> None:
    engine = choose_engine("auto", environ=KEY)

    assert isinstance(engine, Step0Gate) and isinstance(engine.inner, ClaudeEngine)
    assert engine.name == "claude"


def test_claude_without_a_key_explains_how_to_set_one() -> None:
    with pytest.raises(MissingApiKey) as error:
        choose_engine("claude", environ={"ANTHROPIC_API_KEY": "  "})

    assert "export ANTHROPIC_API_KEY=" in str(error.value)


def test_the_cli_exits_2_with_the_explanation_when_claude_has_no_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("DISTRIBUTED_TRIAGE_HOME", str(tmp_path))

    assert main(["triage", "pytorch/pytorch#101", "--engine", "claude"]) == 2
    assert "export ANTHROPIC_API_KEY=" in capsys.readouterr().err


def test_mode_and_model_from_the_command_line_override_the_settings() -> None:
    engine = choose_engine("claude", mode="direct", model="claude-opus-5-5", environ=KEY)

    assert isinstance(engine, Step0Gate) and isinstance(engine.inner, ClaudeEngine)
    assert (engine.inner.settings.mode, engine.inner.settings.model) == ("direct", "claude-opus-5-5")


def test_the_second_opinion_setting_wraps_claude_in_it() -> None:
    settings = ClaudeSettings.load().model_copy(update={"second_opinion": True})

    engine = choose_engine("claude", settings=settings, environ=KEY)

    assert isinstance(engine, Step0Gate) and isinstance(engine.inner, SecondOpinion)


@pytest.mark.anyio
@pytest.mark.parametrize("seed", [CLASSIFIED, FSDP_HANG.model_copy(update={"labels": ("module: fsdp",)})])
async def test_step0_and_out_of_queue_issues_never_reach_the_model(seed: IssueSeed) -> None:
    pack = SkillPack.load()
    model = ScriptedModel([])
    engine = Step0Gate(ClaudeEngine(ClaudeSettings.load(), model_api=model), RulesEngine())
    store = seeded_store()

    async with guarded(store, pack, CLASSIFIED) as github:
        proposal = await engine.propose(snapshot_of(seed), pack, github)

    assert proposal.engine == "rules"
    assert model.requests == []


@pytest.mark.anyio
async def test_an_issue_with_only_a_module_label_still_goes_to_the_model() -> None:
    pack = SkillPack.load()
    claude, model = claude_answering(GOOD_PLAN)
    seed = FSDP_HANG.model_copy(update={"labels": ("oncall: distributed", "module: fsdp")})

    async with guarded(seeded_store(), pack) as github:
        proposal = await Step0Gate(claude, RulesEngine()).propose(snapshot_of(seed), pack, github)

    assert proposal.engine == "claude" and len(model.requests) == 1


@pytest.mark.anyio
async def test_a_confident_rules_engine_routing_elsewhere_adds_the_review_label() -> None:
    pack = SkillPack.load()
    claude, _ = claude_answering(GOOD_PLAN)  # parallelisms, where the rules engine says checkpointing

    async with guarded(seeded_store(), pack) as github:
        proposal = await SecondOpinion(claude, RulesEngine()).propose(CHECKPOINT_ISSUE, pack, github)

    assert proposal.plan.labels == [*GOOD_PLAN["labels"], "triage review"]
    assert "oncall: distributed checkpointing" in proposal.plan.reasoning
    assert proposal.engine == "claude"


@pytest.mark.anyio
async def test_an_agreeing_second_opinion_leaves_the_plan_alone() -> None:
    pack = SkillPack.load()
    agreeing = {**GOOD_PLAN, "decision": "route", "labels": ["oncall: distributed checkpointing"]}
    claude, _ = claude_answering(agreeing)

    async with guarded(seeded_store(), pack) as github:
        proposal = await SecondOpinion(claude, RulesEngine()).propose(CHECKPOINT_ISSUE, pack, github)

    assert proposal.plan == Plan.model_validate(agreeing)


@pytest.mark.anyio
async def test_an_existing_sub_oncall_is_not_second_guessed() -> None:
    pack = SkillPack.load()
    claude, _ = claude_answering(GOOD_PLAN)
    issue = CHECKPOINT_ISSUE.model_copy(update={"labels": ("oncall: distributed", "oncall: distributed infra")})

    async with guarded(seeded_store(), pack) as github:
        proposal = await SecondOpinion(claude, RulesEngine()).propose(issue, pack, github)

    assert proposal.plan == Plan.model_validate(GOOD_PLAN)


@pytest.mark.anyio
async def test_a_precomputed_engine_returns_its_proposal_or_raises_its_failure() -> None:
    pack = SkillPack.load()
    proposal = Proposal(plan=Plan.model_validate(GOOD_PLAN), engine="claude-batch")
    failure = EngineFailure("the batch request was expired")

    async with guarded(seeded_store(), pack) as github:
        assert await PrecomputedEngine(proposal).propose(snapshot_of(FSDP_HANG), pack, github) is proposal
        with pytest.raises(EngineFailure) as raised:
            await PrecomputedEngine(failure).propose(snapshot_of(FSDP_HANG), pack, github)

    assert raised.value is failure
