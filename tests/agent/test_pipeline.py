from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client

from agent.audit import AuditLog
from agent.connection import connect
from agent.engine import EngineFailure, Proposal, Usage
from agent.guarded_session import GuardedSession
from agent.models import IssueRef, IssueSnapshot, Plan
from agent.pipeline import triage
from agent.rules import RulesEngine
from agent.sandbox import Faults, HumanEdit, SandboxStore, default_store
from agent.skillpack import SkillPack

pytestmark = pytest.mark.anyio

REPO = "pytorch/pytorch"
FSDP_ISSUE = IssueRef.parse("pytorch/pytorch#1001")
PACK = SkillPack.load()


class FixedEngine:
    """An engine that proposes one given plan, or fails with a given reason."""

    name = "fixed"

    def __init__(self, plan: Plan | None = None, failure: str | None = None) -> None:
        self.plan, self.failure = plan, failure

    async def propose(self, snapshot: IssueSnapshot, pack: SkillPack, github: GuardedSession) -> Proposal:
        if self.plan is None:
            raise EngineFailure(self.failure or "no plan", Usage(turns=3, input_tokens=10))
        return Proposal(plan=self.plan, engine=self.name)


@pytest.fixture
def store() -> SandboxStore:
    return default_store(":memory:")


@pytest.fixture
async def client(store: SandboxStore) -> AsyncIterator[Client]:
    async with connect("sandbox", store=store) as connected:
        yield connected


def labels_of(store: SandboxStore, number: int) -> set[str]:
    return set(store.require(REPO, number).labels)


async def test_a_dry_run_plans_but_writes_nothing(store: SandboxStore, client: Client) -> None:
    before = labels_of(store, 1001)
    result = await triage(FSDP_ISSUE, caller=client, engine=RulesEngine(), pack=PACK)
    assert result.status == "planned"
    assert result.effects is not None and "module: fsdp" in result.effects.add_labels
    assert labels_of(store, 1001) == before
    assert store.require(REPO, 1001).comments == ()


async def test_apply_adds_exactly_the_planned_labels(store: SandboxStore, client: Client) -> None:
    before = labels_of(store, 1001)
    result = await triage(FSDP_ISSUE, caller=client, engine=RulesEngine(), pack=PACK, apply=True)
    assert result.status == "applied" and result.applied
    assert result.effects is not None
    assert labels_of(store, 1001) == before | set(result.effects.add_labels)
    assert set(result.live_labels or ()) == labels_of(store, 1001)


async def test_apply_posts_the_template_once_even_when_run_twice(store: SandboxStore, client: Client) -> None:
    plan = Plan(
        decision="not_distributed",
        labels=["triage review"],
        templates=["not_distributed"],
        confidence="HIGH",
        reasoning="single GPU",
    )
    ref = IssueRef.parse("1006")
    first = await triage(ref, caller=client, engine=FixedEngine(plan), pack=PACK, apply=True)
    second = await triage(ref, caller=client, engine=FixedEngine(plan), pack=PACK, apply=True)
    assert first.status == "applied"
    assert second.effects is not None and second.effects.comment is None
    comments = store.require(REPO, 1006).comments
    assert len(comments) == 1
    assert PACK.templates["not_distributed"].comment in comments[0].body


async def test_a_plan_made_stale_by_a_human_edit_is_refused_and_nothing_written(store: SandboxStore) -> None:
    faults = Faults(human_edit=HumanEdit(add_labels=("module: ddp",), issue_number=1001))
    before = labels_of(store, 1001)
    async with connect("sandbox", store=store, faults=faults) as client:
        result = await triage(FSDP_ISSUE, caller=client, engine=RulesEngine(), pack=PACK, apply=True)
    assert (result.status, result.failure_kind) == ("failed", "stale")
    assert labels_of(store, 1001) == before | {"module: ddp"}


async def test_an_engine_failure_is_a_failed_run_that_writes_nothing(store: SandboxStore, client: Client) -> None:
    before = labels_of(store, 1001)
    result = await triage(FSDP_ISSUE, caller=client, engine=FixedEngine(failure="model refused"), pack=PACK, apply=True)
    assert (result.status, result.failure_kind, result.failure) == ("failed", "engine", "model refused")
    assert result.usage.turns == 3
    assert labels_of(store, 1001) == before


async def test_labels_silently_dropped_by_github_make_the_run_fail(store: SandboxStore) -> None:
    async with connect("sandbox", store=store, faults=Faults(drop_label_writes=True)) as client:
        result = await triage(FSDP_ISSUE, caller=client, engine=RulesEngine(), pack=PACK, apply=True)
    assert (result.status, result.failure_kind) == ("failed", "unverified")
    assert result.failure is not None and "missing after apply" in result.failure


async def test_an_issue_outside_the_queue_is_left_alone(store: SandboxStore, client: Client) -> None:
    store.remove_labels(REPO, 1001, ["oncall: distributed"])
    before = labels_of(store, 1001)
    result = await triage(FSDP_ISSUE, caller=client, engine=RulesEngine(), pack=PACK, apply=True)
    assert result.effects is not None and result.effects.outcome == "skipped"
    assert result.ok
    assert labels_of(store, 1001) == before


async def test_a_missing_issue_is_a_failed_run_not_a_crash(client: Client) -> None:
    result = await triage(IssueRef.parse("999999"), caller=client, engine=RulesEngine(), pack=PACK)
    assert (result.status, result.failure_kind) == ("failed", "github")


async def test_every_run_is_audited_with_its_outcome(client: Client, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.sqlite3")
    await triage(FSDP_ISSUE, caller=client, engine=RulesEngine(), pack=PACK, audit=audit)
    await triage(FSDP_ISSUE, caller=client, engine=FixedEngine(failure="timeout"), pack=PACK, audit=audit)
    rows = list(audit.rows(str(FSDP_ISSUE)))
    assert [(row.status, row.decision, row.failure) for row in rows] == [
        ("planned", "classify", None),
        ("failed", None, "timeout"),
    ]
    assert audit.result_of(rows[0]).effects is not None


async def test_rerunning_on_an_issue_the_bot_finished_writes_nothing_and_succeeds(
    store: SandboxStore, client: Client
) -> None:
    first = await triage(FSDP_ISSUE, caller=client, engine=RulesEngine(), pack=PACK, apply=True)
    after_first = store.require(REPO, 1001)
    again = await triage(FSDP_ISSUE, caller=client, engine=RulesEngine(), pack=PACK, apply=True)
    assert first.applied
    assert again.effects is not None and not again.effects.changes_anything
    assert (again.status, again.applied) == ("applied", False)
    assert store.require(REPO, 1001).updated_at == after_first.updated_at


async def test_a_github_failure_after_planning_keeps_the_plan_in_the_record(store: SandboxStore) -> None:
    faults = Faults(fail_next=5, fail_tool="issue_write")
    async with connect("sandbox", store=store, faults=faults) as client:
        result = await triage(FSDP_ISSUE, caller=client, engine=RulesEngine(), pack=PACK, apply=True)
    assert (result.status, result.failure_kind) == ("failed", "github")
    assert result.plan is not None and result.effects is not None
