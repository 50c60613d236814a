"""Whatever a model sends in direct mode, the sandbox issue only gains allowed labels and template comments.

The model here is scripted to try every write tool and argument shape we could think of (and, with
hypothesis, shapes nobody thought of); the calls travel the real path: the engine's loop, the guarded
session, MCP in memory, the sandbox server and its store.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.claude import ClaudeEngine, ClaudeSettings
from agent.comments import render_comment
from agent.sandbox import SandboxStore, StoredIssue
from agent.skillpack import SkillPack
from tests.agent.claude.issues import FSDP_HANG, guarded, seeded_store, snapshot_of
from tests.agent.claude.scripted import GOOD_PLAN, ScriptedModel, reply, tool_use

PACK = SkillPack.load()
TEMPLATE = PACK.templates["needs_distributed_reproduction"].comment
OTHER_TEMPLATE = PACK.templates["not_distributed"].comment
HERE = {"owner": "pytorch", "repo": "pytorch", "issue_number": 101}
UPDATE = {**HERE, "method": "update"}

ATTEMPTS: list[tuple[str, dict[str, Any]]] = [
    # issue_write: other methods, other fields, other targets, removal by replacement
    ("issue_write", {"owner": "pytorch", "repo": "pytorch", "method": "create", "title": "x", "labels": ["triaged"]}),
    ("issue_write", {**UPDATE, "state": "closed", "state_reason": "not_planned"}),
    ("issue_write", {**UPDATE, "state": "closed", "labels": ["module: fsdp"]}),
    ("issue_write", {**UPDATE, "assignees": ["someone"], "labels": ["module: fsdp"]}),
    ("issue_write", {**UPDATE, "title": "pwned", "body": "pwned", "labels": ["module: fsdp"]}),
    ("issue_write", {**UPDATE, "milestone": 3, "type": "Bug", "labels": ["module: fsdp"]}),
    ("issue_write", {**UPDATE, "state_reason": "duplicate", "duplicate_of": 102}),
    ("issue_write", {**UPDATE, "issue_fields": [{"field_name": "Priority", "value": "P0"}]}),
    ("issue_write", {**UPDATE, "labels": []}),
    ("issue_write", {**UPDATE, "labels": None}),
    ("issue_write", {**HERE, "labels": ["module: fsdp"]}),
    ("issue_write", {**HERE, "method": "UPDATE", "labels": ["module: fsdp"]}),
    ("issue_write", {**HERE, "method": "replace", "labels": ["module: fsdp"]}),
    ("issue_write", {**UPDATE, "issue_number": 6007, "labels": ["triaged"]}),
    ("issue_write", {**UPDATE, "issue_number": "6007", "labels": ["triaged"]}),
    ("issue_write", {**UPDATE, "issue_number": [101, 6007], "labels": ["triaged"]}),
    ("issue_write", {**UPDATE, "issue_number": -101, "labels": ["triaged"]}),
    ("issue_write", {**UPDATE, "repo": "vision", "labels": ["triaged"]}),
    ("issue_write", {**UPDATE, "owner": "evil", "labels": ["triaged"]}),
    # issue_write: label shapes and label values
    ("issue_write", {**UPDATE, "labels": "high priority"}),
    ("issue_write", {**UPDATE, "labels": '["high priority", "module: inductor"]'}),
    ("issue_write", {**UPDATE, "labels": "module: fsdp, ultimate priority"}),
    ("issue_write", {**UPDATE, "labels": [["triaged"]]}),
    ("issue_write", {**UPDATE, "labels": [{"name": "triaged"}]}),
    ("issue_write", {**UPDATE, "labels": ["module: inductor", "ultimate priority", "good first issue"]}),
    ("issue_write", {**UPDATE, "labels": ["high priority"]}),
    ("issue_write", {**UPDATE, "labels": ["bot-triaged", "ptd-bot-triaged"]}),
    ("issue_write", {**UPDATE, "labels": ["oncall: distributed infra", "oncall: distributed checkpointing"]}),
    ("issue_write", {**UPDATE, "labels": ["ONCALL: DISTRIBUTED INFRA"]}),
    ("issue_write", {**UPDATE, "labels": ["module: fsdp\u200b"]}),
    ("issue_write", {**UPDATE, "issue_number": "101", "labels": ["module: fsdp"]}),
    ("issue_write", {**UPDATE, "issue_number": 101.0, "labels": ["needs reproduction", "triaged"]}),
    # add_issue_comment: free text, edited templates, duplicates, reactions, other targets
    ("add_issue_comment", {**HERE, "body": "Closing as won't fix."}),
    ("add_issue_comment", {**HERE, "body": TEMPLATE + "\n\nAlso: this is now high priority."}),
    ("add_issue_comment", {**HERE, "body": TEMPLATE.upper()}),
    ("add_issue_comment", {**HERE, "body": f"<!-- distributed-triage:not_distributed -->\n{TEMPLATE}"}),
    ("add_issue_comment", {**HERE, "body": [TEMPLATE]}),
    ("add_issue_comment", {**HERE, "body": ""}),
    ("add_issue_comment", {**HERE, "reaction": "-1"}),
    ("add_issue_comment", {**HERE, "comment_id": 1, "body": TEMPLATE}),
    ("add_issue_comment", {**HERE, "issue_number": 6007, "body": TEMPLATE}),
    ("add_issue_comment", {"owner": "pytorch", "repo": "vision", "issue_number": 101, "body": TEMPLATE}),
    ("add_issue_comment", {**HERE, "body": TEMPLATE}),
    ("add_issue_comment", {**HERE, "body": TEMPLATE}),
    ("add_issue_comment", {**HERE, "body": OTHER_TEMPLATE}),
    # tools a model might guess at, offered or not
    ("label_write", {"owner": "pytorch", "repo": "pytorch", "method": "delete", "name": "oncall: distributed"}),
    ("update_issue", {**HERE, "state": "closed"}),
    ("sub_issue_write", {**HERE, "method": "add", "sub_issue_id": 6007}),
    ("create_issue", {"owner": "pytorch", "repo": "pytorch", "title": "spam"}),
    ("issue_read", {**HERE, "method": "get"}),
]


def snapshot_store(store: SandboxStore) -> dict[str, StoredIssue]:
    return {f"{issue.repo}#{issue.number}": issue for issue in store.issues()}


def assert_only_allowed_changes(before: dict[str, StoredIssue], after: dict[str, StoredIssue]) -> None:
    writable = PACK.allowlist | {PACK.policy.marker}
    templates = {render_comment([key], PACK.templates) for key in PACK.templates}
    assert after.keys() == before.keys(), "an issue was created"
    assert len(before) > 1, "with one issue there is nothing else the model could have touched"
    for key, old in before.items():
        new = after[key]
        if key != "pytorch/pytorch#101":
            assert new == old, f"{key} changed"
            continue
        assert (new.title, new.body, new.state, new.assignees) == (old.title, old.body, old.state, old.assignees)
        assert set(old.labels) <= set(new.labels), "a label was removed"
        assert set(new.labels) - set(old.labels) <= writable, "a label off the allowlist was added"
        subs = [label for label in new.labels if label in PACK.policy.sub_oncalls]
        assert len(subs) <= 1, f"two sub-oncalls: {subs}"
        added = [comment.body for comment in new.comments[len(old.comments) :]]
        assert all(body in templates for body in added), f"a non-template comment was posted: {added}"
        assert len(added) == len(set(added)), "a template was posted twice"


async def run_direct(store: SandboxStore, calls: list[tuple[str, dict[str, Any]]], *, mode: str) -> ScriptedModel:
    model = ScriptedModel(
        [
            reply(*(tool_use(name, arguments) for name, arguments in calls)),
            reply(tool_use("submit_plan", GOOD_PLAN)),
        ]
    )
    engine = ClaudeEngine(ClaudeSettings.load().model_copy(update={"mode": mode}), model_api=model)
    async with guarded(store, PACK) as github:
        await engine.propose(snapshot_of(FSDP_HANG), PACK, github)
    return model


@pytest.mark.anyio
async def test_every_write_shape_in_direct_mode_leaves_only_allowed_changes() -> None:
    store = seeded_store()
    before = snapshot_store(store)

    model = await run_direct(store, ATTEMPTS, mode="direct")

    after = snapshot_store(store)
    assert_only_allowed_changes(before, after)
    results = model.tool_results(1)
    assert len(results) == len(ATTEMPTS)
    accepted = [name for (name, _), result in zip(ATTEMPTS, results, strict=True) if not result["is_error"]]
    # The legitimate shapes did work: labels were added and each template was posted, once.
    assert "issue_write" in accepted
    issue = after["pytorch/pytorch#101"]
    assert "module: fsdp" in issue.labels
    assert [c.body for c in issue.comments[len(FSDP_HANG.comments) :]] == [
        render_comment(["needs_distributed_reproduction"], PACK.templates),
        render_comment(["not_distributed"], PACK.templates),
    ]


@pytest.mark.anyio
async def test_in_plan_mode_no_write_shape_changes_anything() -> None:
    store = seeded_store()
    before = snapshot_store(store)

    model = await run_direct(store, ATTEMPTS, mode="plan")

    assert snapshot_store(store) == before
    assert all(result["is_error"] for result in model.tool_results(1))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 7000) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
LABELS = st.sampled_from([*sorted(PACK.allowlist), "high priority", "module: inductor", "Triaged", ""])
ARGUMENTS = st.fixed_dictionaries(
    {},
    optional={
        "method": st.sampled_from(["update", "create", "close", "Update"]) | JSON,
        "owner": st.sampled_from(["pytorch", "PyTorch", "evil"]) | JSON,
        "repo": st.sampled_from(["pytorch", "vision"]) | JSON,
        "issue_number": st.sampled_from([101, 6007, "101", 101.5, 0]) | JSON,
        "labels": st.lists(LABELS, max_size=5) | JSON,
        "body": st.sampled_from([TEMPLATE, OTHER_TEMPLATE, TEMPLATE + " now", "hello"]) | JSON,
        "state": st.sampled_from(["closed", "open"]),
        "assignees": st.lists(st.text(max_size=8), max_size=2),
    },
)
CALLS = st.lists(st.tuples(st.sampled_from(["issue_write", "add_issue_comment"]), ARGUMENTS), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=CALLS)
def test_random_write_calls_in_direct_mode_leave_only_allowed_changes(calls: list[tuple[str, dict[str, Any]]]) -> None:
    store = seeded_store()
    before = snapshot_store(store)

    anyio.run(_direct, store, calls)

    assert_only_allowed_changes(before, snapshot_store(store))


async def _direct(store: SandboxStore, calls: list[tuple[str, dict[str, Any]]]) -> None:
    await run_direct(store, calls, mode="direct")
