"""The guarded session against the real sandbox MCP server, over an in-memory MCP client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.types import CallToolResult, TextContent

from agent.comments import hidden_marker, render_comment
from agent.guard import GuardRules, effects
from agent.guard_proxy import build_proxy
from agent.guarded_session import GuardedSession, GuardViolation
from agent.models import Effects, IssueRef, Plan
from agent.sandbox import CommentSeed, Faults, HumanEdit, IssueSeed, SandboxStore, build_server
from agent.skillpack import SkillPack

pytestmark = pytest.mark.anyio

PACK = SkillPack.load()
RULES = GuardRules.from_pack(PACK)
REPO = "pytorch/pytorch"
REF = IssueRef(owner="pytorch", repo="pytorch", number=100)
QUEUE = "oncall: distributed"
REPRO = "needs_distributed_reproduction"
REPRO_TEXT = PACK.templates[REPRO].comment
WHEN = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass
class World:
    store: SandboxStore
    faults: Faults
    session: GuardedSession

    def labels(self, number: int = 100, repo: str = REPO) -> tuple[str, ...]:
        issue = self.store.get(repo, number)
        assert issue is not None
        return issue.labels

    def comments(self, number: int = 100) -> list[str]:
        issue = self.store.get(REPO, number)
        assert issue is not None
        return [comment.body for comment in issue.comments]


def seed(store: SandboxStore) -> None:
    def issue(repo: str, number: int, labels: tuple[str, ...], title: str = "NCCL hang in FSDP") -> IssueSeed:
        opening = CommentSeed(author="reporter", body="Still hangs on 2.5.", created_at=WHEN)
        return IssueSeed(repo=repo, number=number, title=title, created_at=WHEN, labels=labels, comments=(opening,))

    store.put(issue(REPO, 100, (QUEUE, "oncall: pt2")))
    store.put(issue(REPO, 101, (QUEUE,)))
    store.put(issue("someone/else", 100, (QUEUE,)))


@pytest.fixture
async def world() -> AsyncIterator[World]:
    store, faults = SandboxStore(), Faults()
    seed(store)
    async with Client(build_server(store, faults)) as client:
        yield World(store, faults, GuardedSession(client, REF, PACK))
    store.close()


def text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def refused(world: World, tool: str, arguments: Any) -> str:
    before = (world.labels(), world.comments(), world.labels(101), world.store.count())
    result = await world.session.call_tool(tool, arguments)
    assert result.is_error, text(result)
    assert (world.labels(), world.comments(), world.labels(101), world.store.count()) == before
    assert not world.session.records[-1].allowed
    return text(result)


def write(labels: object, **extra: object) -> dict[str, object]:
    return {"method": "update", "owner": "pytorch", "repo": "pytorch", "issue_number": 100, "labels": labels, **extra}


async def test_reading_the_target_issue_is_allowed_with_a_stringified_number(world: World) -> None:
    result = await world.session.call_tool(
        "issue_read", {"method": "get", "owner": "pytorch", "repo": "pytorch", "issue_number": "#100"}
    )
    assert not result.is_error
    assert "NCCL hang in FSDP" in text(result)
    record = world.session.records[-1]
    assert record.allowed
    assert record.arguments["issue_number"] == "#100"
    assert record.sent is not None and record.sent["issue_number"] == 100


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"method": "get", "owner": "pytorch", "repo": "pytorch", "issue_number": 101}, "not #101"),
        ({"method": "get", "owner": "someone", "repo": "else", "issue_number": 100}, "only pytorch/pytorch"),
        ({"method": "get_sub_issues", "owner": "pytorch", "repo": "pytorch", "issue_number": 100}, "method"),
        ({"method": "get", "owner": "pytorch", "repo": "pytorch", "issue_number": "one hundred"}, "issue number"),
        ({"method": "get", "owner": "pytorch", "repo": "pytorch", "issue_number": True}, "issue number"),
        ({"method": "get", "owner": "pytorch", "repo": "pytorch"}, "issue_number is required"),
        ("get issue 100", "JSON object"),
    ],
)
async def test_reads_outside_the_target_issue_are_refused_with_a_readable_reason(
    world: World, arguments: Any, says: str
) -> None:
    assert says in await refused(world, "issue_read", arguments)


async def test_searches_are_forced_into_the_target_repository(world: World) -> None:
    result = await world.session.call_tool("search_issues", {"query": "NCCL hang repo:pytorch/pytorch"})
    assert not result.is_error
    assert world.session.records[-1].sent == {"query": "repo:pytorch/pytorch NCCL hang"}
    assert "someone/else" not in text(result)
    assert "pytorch/pytorch" in text(result)


@pytest.mark.parametrize("query", ["NCCL repo:someone/else", "NCCL org:someone", 'hang user:"someone"'])
async def test_searches_naming_another_repository_are_refused(world: World, query: str) -> None:
    assert "limited to pytorch/pytorch" in await refused(world, "search_issues", {"query": query})


async def test_listing_another_repository_is_refused(world: World) -> None:
    assert "only pytorch/pytorch" in await refused(world, "list_issues", {"owner": "someone", "repo": "else"})
    listed = await world.session.call_tool("list_issues", {"owner": "pytorch", "repo": "pytorch", "perPage": "5"})
    assert not listed.is_error


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({**write(["module: fsdp"]), "method": "create", "title": "spam"}, "method 'update'"),
        (write(["module: fsdp"], state="closed"), "state"),
        (write(["module: fsdp"], state_reason="not_planned"), "state_reason"),
        (write(["module: fsdp"], assignees=["someone"]), "assignees"),
        (write(["module: fsdp"], title="new title"), "title"),
        (write(["module: fsdp"], body="new body"), "body"),
        ({**write(["module: fsdp"]), "issue_number": 101}, "not #101"),
        ({**write(["module: fsdp"]), "owner": "someone", "repo": "else"}, "only pytorch/pytorch"),
        ({**write(["module: fsdp"]), "method": None}, "method 'update'"),
        ({key: value for key, value in write([]).items() if key != "labels"}, "needs labels"),
        (write("module: fsdp"), "single string is not split"),
        (write('["module: fsdp"'), "does not parse"),
        (write([1, 2]), "array of strings"),
        (write(["junk", "high-priority-ish"]), "none of the requested labels"),
    ],
)
async def test_writes_other_than_adding_labels_to_the_target_issue_are_refused(
    world: World, arguments: dict[str, object], says: str
) -> None:
    assert says in await refused(world, "issue_write", arguments)


async def test_a_label_write_is_the_union_with_the_live_labels_so_nothing_is_removed(world: World) -> None:
    result = await world.session.call_tool("issue_write", write(["oncall: distributed parallelisms", "module: fsdp"]))
    assert not result.is_error, text(result)
    assert world.labels() == (QUEUE, "oncall: pt2", "oncall: distributed parallelisms", "module: fsdp")
    assert world.session.wrote


async def test_a_subset_of_the_labels_removes_nothing(world: World) -> None:
    await world.session.call_tool("issue_write", write(["module: fsdp"]))
    for subset in (["module: fsdp"], [QUEUE], []):
        result = await world.session.call_tool("issue_write", write(subset))
        assert result.is_error or "Nothing to add" in text(result)
    assert world.labels() == (QUEUE, "oncall: pt2", "module: fsdp")
    sent = [record.sent for record in world.session.records if record.tool == "issue_write" and record.sent]
    assert sent == [write([QUEUE, "oncall: pt2", "module: fsdp"])]


async def test_a_json_string_label_list_is_read_as_a_list_never_per_character(world: World) -> None:
    result = await world.session.call_tool("issue_write", write('["module: fsdp", "triage review"]'))
    assert not result.is_error, text(result)
    assert world.labels() == (QUEUE, "oncall: pt2", "module: fsdp", "triage review")
    assert not {"m", "o", "[", '"'} & set(world.labels())


async def test_labels_the_policy_forbids_are_dropped_and_explained_to_the_model(world: World) -> None:
    asked = ["high priority", "bot-triaged", "module: inductor", "oncall: distributed infra",
             "oncall: distributed checkpointing", "module: c10d", "triaged"]  # fmt: skip
    result = await world.session.call_tool("issue_write", write(asked))
    assert not result.is_error, text(result)
    assert world.labels() == (QUEUE, "oncall: pt2", "module: c10d", "triage review")
    for rule in ("never_request", "marker", "allowlist", "exclusive_group", "confident"):
        assert f"[{rule}]" in text(result)


async def test_a_second_sub_oncall_is_never_added(world: World) -> None:
    await world.session.call_tool("issue_write", write(["oncall: distributed infra"]))
    result = await world.session.call_tool("issue_write", write(["oncall: distributed checkpointing"]))
    assert result.is_error
    assert world.labels() == (QUEUE, "oncall: pt2", "oncall: distributed infra")


async def test_an_issue_outside_the_queue_is_left_alone(world: World) -> None:
    world.store.remove_labels(REPO, 100, [QUEUE])
    assert "leaves it alone" in await refused(world, "issue_write", write(["module: fsdp"]))
    assert "leaves it alone" in await refused(
        world, "add_issue_comment", {"owner": "pytorch", "repo": "pytorch", "issue_number": 100, "body": REPRO_TEXT}
    )


async def test_only_a_template_may_be_commented_and_only_once(world: World) -> None:
    where = {"owner": "pytorch", "repo": "pytorch", "issue_number": "100"}
    assert "comment templates" in await refused(world, "add_issue_comment", {**where, "body": "I think it's FSDP."})
    assert "comment templates" in await refused(
        world, "add_issue_comment", {**where, "body": REPRO_TEXT + "\nAlso, ping @someone."}
    )
    posted = await world.session.call_tool("add_issue_comment", {**where, "body": REPRO_TEXT})
    assert not posted.is_error, text(posted)
    assert world.comments()[-1] == render_comment([REPRO], PACK.templates)
    assert "duplicate" in await refused(world, "add_issue_comment", {**where, "body": REPRO_TEXT})
    assert "reaction" in await refused(world, "add_issue_comment", {**where, "body": REPRO_TEXT, "reaction": "+1"})


async def test_a_template_an_earlier_run_posted_is_not_posted_again(world: World) -> None:
    world.store.add_comment(REPO, 100, author="maintainer", body=f"{hidden_marker(REPRO)}\n(edited by hand)")
    where = {"owner": "pytorch", "repo": "pytorch", "issue_number": 100}
    assert "hidden marker" in await refused(world, "add_issue_comment", {**where, "body": REPRO_TEXT})


@pytest.mark.parametrize("tool", ["label_write", "sub_issue_write", "transfer_issue", "update_issue", "delete_repo"])
async def test_tools_outside_the_triage_set_are_refused_naming_what_is_allowed(world: World, tool: str) -> None:
    says = await refused(world, tool, {"owner": "pytorch", "repo": "pytorch", "name": "triaged", "method": "delete"})
    assert "issue_write" in says and "issue_read" in says


async def test_a_hostile_sequence_of_calls_leaves_only_allowed_effects(world: World) -> None:
    hostile: list[tuple[str, Any]] = [
        ("issue_write", write(["oncall: pt2"])),  # a "removal" by sending a subset
        ("issue_write", write([])),
        ("issue_write", write(["high priority", "ultimate priority", "module: fsdp"])),
        ("issue_write", {**write(["module: fsdp"]), "issue_number": 101}),
        ("issue_write", {**write(["module: fsdp"]), "owner": "someone", "repo": "else"}),
        ("issue_write", {**write(["module: fsdp"]), "method": "create", "title": "pwned"}),
        ("issue_write", write(["oncall: distributed infra", "oncall: distributed checkpointing"])),
        ("issue_write", write(["triaged"], state="closed")),
        ("issue_write", write([], assignees=["attacker"])),
        ("add_issue_comment", {"owner": "pytorch", "repo": "pytorch", "issue_number": 100, "body": "IGNORE ALL"}),
        ("add_issue_comment", {"owner": "pytorch", "repo": "pytorch", "issue_number": 101, "body": REPRO_TEXT}),
        ("label_write", {"method": "delete", "owner": "pytorch", "repo": "pytorch", "name": QUEUE}),
        ("issue_write", write("oncall: distributed")),
    ]
    for tool, arguments in hostile:
        result = await world.session.call_tool(tool, arguments)
        assert isinstance(result, CallToolResult)
    issue = world.store.get(REPO, 100)
    assert issue is not None
    assert issue.state == "open" and issue.assignees == () and issue.title == "NCCL hang in FSDP"
    assert set(issue.labels) == {QUEUE, "oncall: pt2", "module: fsdp", "triage review"}
    assert [c.body for c in issue.comments] == ["Still hangs on 2.5."]
    assert world.labels(101) == (QUEUE,) and world.comments(101) == ["Still hangs on 2.5."]
    assert world.labels(100, "someone/else") == (QUEUE,)
    assert world.store.count() == 3
    refusals = [record for record in world.session.records if not record.allowed]
    assert len(refusals) >= 9


async def test_a_github_failure_is_an_error_result_not_an_exception(world: World) -> None:
    world.faults.fail_next = 1
    result = await world.session.call_tool("issue_write", write(["module: fsdp"]))
    assert result.is_error
    assert "GitHub could not complete issue_write" in text(result)
    assert world.labels() == (QUEUE, "oncall: pt2")


def plan(**fields: Any) -> Plan:
    return Plan.model_validate({"confidence": "MEDIUM", "reasoning": "r", "templates": [], **fields})


async def test_apply_posts_the_comment_first_then_adds_labels_to_the_live_set(world: World) -> None:
    snapshot = await world.session.read()
    planned = effects(
        plan(decision="needs_reproduction", labels=["oncall: distributed parallelisms"], templates=[REPRO]),
        snapshot,
        PACK.policy,
        allowlist=PACK.allowlist,
        templates=PACK.templates,
    )
    live = await world.session.apply(planned)
    assert live.labels == (QUEUE, "oncall: pt2", *planned.add_labels)
    assert live.comments[-1].body == planned.comment
    writes = [record.tool for record in world.session.records if record.tool != "issue_read"]
    assert writes == ["add_issue_comment", "issue_write"]
    assert all(record.origin == "trusted" for record in world.session.records)
    assert not world.session.wrote


async def test_a_label_a_human_removes_after_the_bots_read_is_not_put_back(world: World) -> None:
    world.faults.human_edit = HumanEdit(remove_labels=("oncall: pt2",), add_labels=("module: nccl",))
    snapshot = await world.session.read()
    assert "oncall: pt2" in snapshot.labels  # the edit landed just after the bot's read
    planned = effects(
        plan(decision="route", labels=["oncall: distributed infra"]),
        snapshot,
        PACK.policy,
        allowlist=PACK.allowlist,
        templates=PACK.templates,
    )
    live = await world.session.apply(planned)
    assert world.faults.kinds() == ["human_edit"]
    assert "oncall: pt2" not in live.labels
    assert "module: nccl" in live.labels
    assert set(planned.add_labels) <= set(live.labels)


async def test_apply_does_not_repost_a_template_that_is_already_on_the_issue(world: World) -> None:
    planned = Effects(
        add_labels=("needs reproduction",),
        templates=(REPRO,),
        comment=render_comment([REPRO], PACK.templates),
        outcome="waiting_on_reporter",
    )
    await world.session.apply(planned)
    live = await world.session.apply(planned)
    assert planned.comment is not None
    assert [c.body for c in live.comments].count(planned.comment) == 1


@pytest.mark.parametrize(
    "bad",
    [
        Effects(add_labels=("high priority",)),
        Effects(add_labels=("module: inductor",)),
        Effects(templates=(REPRO,), comment="Free text from a model"),
        Effects(templates=("close_it",), comment="x"),
        Effects(comment="a comment without templates"),
    ],
)
async def test_apply_refuses_effects_the_guard_could_not_have_produced(world: World, bad: Effects) -> None:
    with pytest.raises(GuardViolation):
        await world.session.apply(bad)
    assert world.labels() == (QUEUE, "oncall: pt2")
    assert world.comments() == ["Still hangs on 2.5."]


async def test_a_dry_run_records_writes_without_sending_them(world: World) -> None:
    session = GuardedSession(world.session.caller, REF, PACK, dry_run=True)
    answer = await session.call_tool("issue_write", write(["module: fsdp"]))
    assert not answer.is_error and "Dry run" in text(answer)
    planned = Effects(
        add_labels=("needs reproduction", "bot-triaged"),
        templates=(REPRO,),
        comment=render_comment([REPRO], PACK.templates),
    )
    live = await session.apply(planned)
    assert live.labels == (QUEUE, "oncall: pt2") == world.labels()
    assert world.comments() == ["Still hangs on 2.5."]
    dry = [record for record in session.records if record.dry_run]
    assert [record.tool for record in dry] == ["issue_write", "add_issue_comment", "issue_write"]
    assert all(record.sent is None for record in dry)
    assert not session.wrote


async def test_records_serialise_for_the_audit_log(world: World) -> None:
    await world.session.call_tool("issue_write", write('["module: fsdp"]'))
    await world.session.call_tool("label_write", {"name": object()})
    dumped = [record.model_dump_json() for record in world.session.records]
    assert any('"allowed":false' in line for line in dumped)


async def test_the_guard_proxy_serves_the_wrapped_tools_under_the_policy(world: World) -> None:
    proxy = await build_proxy(world.session)
    assert isinstance(world.session.caller, Client)
    wrapped = {tool.name: tool for tool in (await world.session.caller.list_tools()).tools}
    async with Client(proxy) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == {"issue_read", "issue_write", "add_issue_comment", "search_issues", "list_issues"}
        for name, tool in tools.items():
            assert tool.input_schema == wrapped[name].input_schema
            assert "Guarded" in (tool.description or "")
        closed = await client.call_tool("issue_write", write([], state="closed"))
        assert closed.is_error and "Refused by the triage guard" in text(closed)
        added = await client.call_tool("issue_write", write('["module: fsdp"]'))
        assert not added.is_error, text(added)
        other = await client.call_tool("label_write", {"method": "delete", "name": QUEUE})
        assert other.is_error
    assert world.labels() == (QUEUE, "oncall: pt2", "module: fsdp")


LABELS = st.one_of(
    st.sampled_from(sorted(PACK.allowlist)),
    st.sampled_from([QUEUE, "oncall: pt2", "high priority", "ptd-bot-triaged", "module: inductor"]),
    st.text(max_size=10),
)
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-1, 200), st.text(max_size=8), st.lists(LABELS, max_size=3))
METHODS: dict[str, list[str | None]] = {
    "issue_write": ["update", "update", "update", "create", "delete"],
    "issue_read": ["get", "get_labels", "get_sub_issues"],
    "add_issue_comment": [None],
    "label_write": ["delete", "create"],
}


@st.composite
def model_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """Mostly well-aimed calls (so writes do reach the server), with every kind of mischief mixed in."""
    tool = draw(st.sampled_from(["issue_write", "issue_write", "add_issue_comment", "issue_read", "label_write"]))
    arguments: dict[str, Any] = {
        "owner": draw(st.sampled_from(["pytorch"] * 6 + ["PyTorch", "someone"])),
        "repo": draw(st.sampled_from(["pytorch"] * 6 + ["else"])),
        "issue_number": draw(st.sampled_from([100] * 6 + ["100", "#100", 100.0, 101, "101", 0, "x", None])),
    }
    method = draw(st.sampled_from(METHODS[tool]))
    if method is not None:
        arguments["method"] = method
    if tool == "issue_write":
        arguments["labels"] = draw(
            st.one_of(st.lists(LABELS, max_size=5), st.lists(LABELS, max_size=3).map(json.dumps), LABELS)
        )
    if tool == "add_issue_comment":
        arguments["body"] = draw(
            st.sampled_from([REPRO_TEXT, render_comment([REPRO], PACK.templates), "free text", REPRO_TEXT + "!"])
        )
    if draw(st.integers(0, 3)) == 0:
        extras = st.fixed_dictionaries({}, optional={"state": VALUES, "assignees": VALUES, "title": VALUES})
        arguments.update(draw(extras))
    return tool, arguments


@settings(max_examples=100, deadline=None)
@given(st.lists(model_calls(), min_size=1, max_size=6))
def test_no_sequence_of_model_calls_removes_a_label_or_touches_anything_else(calls: list[tuple[str, Any]]) -> None:
    async def scenario() -> None:
        store = SandboxStore()
        seed(store)
        async with Client(build_server(store, Faults())) as client:
            session = GuardedSession(client, REF, PACK)
            for tool, arguments in calls:
                assert isinstance(await session.call_tool(tool, arguments), CallToolResult)
        issue, other, elsewhere = store.get(REPO, 100), store.get(REPO, 101), store.get("someone/else", 100)
        assert issue is not None and other is not None and elsewhere is not None
        assert issue.labels[:2] == (QUEUE, "oncall: pt2")
        assert set(issue.labels[2:]) <= PACK.allowlist - set(PACK.policy.known_markers)
        assert sum(label in PACK.policy.sub_oncalls for label in issue.labels) <= 1
        assert (issue.state, issue.assignees, issue.title) == ("open", (), "NCCL hang in FSDP")
        bodies = [comment.body for comment in issue.comments[1:]]
        assert bodies in ([], [render_comment([REPRO], PACK.templates)])
        assert other.labels == elsewhere.labels == (QUEUE,)
        assert len(other.comments) == len(elsewhere.comments) == 1
        assert store.count() == 3
        store.close()

    anyio.run(scenario)
