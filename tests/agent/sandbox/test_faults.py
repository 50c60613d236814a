import argparse
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import TextContent

from agent.sandbox import (
    Faults,
    HumanEdit,
    IssueSeed,
    SandboxStore,
    add_fault_arguments,
    build_server,
    faults_from_arguments,
)

pytestmark = pytest.mark.anyio

WHERE: dict[str, Any] = {"owner": "pytorch", "repo": "pytorch", "issue_number": 1}
QUEUE = ("oncall: distributed", "module: fsdp")


@pytest.fixture
def store() -> Iterator[SandboxStore]:
    with SandboxStore() as opened:
        opened.put(IssueSeed(repo="pytorch/pytorch", number=1, title="t", labels=QUEUE))
        opened.put(IssueSeed(repo="pytorch/pytorch", number=2, title="u", labels=QUEUE))
        yield opened


def _text(result: Any) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


async def test_the_next_calls_fail_with_a_5xx_then_recover(store: SandboxStore) -> None:
    faults = Faults(fail_next=2, fail_status=503)
    async with Client(build_server(store, faults)) as client:
        results = [await client.call_tool("issue_read", {"method": "get", **WHERE}) for _ in range(3)]
    assert [r.is_error for r in results] == [True, True, False]
    assert _text(results[0]) == (
        "failed to get issue: GET https://api.github.com/repos/pytorch/pytorch/issues/1: 503 Service Unavailable []"
    )
    assert faults.fail_next == 0 and faults.kinds() == ["server_error", "server_error"]


async def test_a_failure_aimed_at_one_tool_spares_the_others(store: SandboxStore) -> None:
    faults = Faults(fail_next=1, fail_tool="issue_write")
    async with Client(build_server(store, faults)) as client:
        read = await client.call_tool("issue_read", {"method": "get", **WHERE})
        write = await client.call_tool("issue_write", {"method": "update", "labels": ["x"], **WHERE})
    assert (read.is_error, write.is_error) == (False, True)
    assert _text(write).startswith(
        "failed to update issue: PATCH https://api.github.com/repos/pytorch/pytorch/issues/1: 502"
    )
    assert store.require("pytorch/pytorch", 1).labels == QUEUE


async def test_a_secondary_rate_limit_carries_its_retry_after_and_performs_nothing(store: SandboxStore) -> None:
    faults = Faults(rate_limit_next=1, rate_limit_tool="add_issue_comment", retry_after_seconds=7)
    async with Client(build_server(store, faults)) as client:
        limited = await client.call_tool("add_issue_comment", {"body": "hello", **WHERE})
        posted = await client.call_tool("add_issue_comment", {"body": "hello", **WHERE})
    assert limited.is_error and not posted.is_error
    assert "403 You have exceeded a secondary rate limit" in _text(limited)
    assert "[retry after 7s]" in _text(limited)
    assert [c.body for c in store.require("pytorch/pytorch", 1).comments] == ["hello"]


async def test_a_person_edits_labels_between_the_bots_read_and_its_write(store: SandboxStore) -> None:
    faults = Faults(human_edit=HumanEdit(remove_labels=("module: fsdp",), add_labels=("high priority",)))
    async with Client(build_server(store, faults)) as client:
        read = await client.call_tool("issue_read", {"method": "get", **WHERE})
        again = await client.call_tool("issue_read", {"method": "get_labels", **WHERE})
    assert '"module: fsdp"' in _text(read)  # the bot saw the issue before the edit
    assert '"module: fsdp"' not in _text(again) and '"high priority"' in _text(again)
    assert store.require("pytorch/pytorch", 1).labels == ("oncall: distributed", "high priority")
    assert faults.human_edit is None and faults.kinds() == ["human_edit"]


async def test_a_human_edit_aimed_at_one_issue_waits_for_a_read_of_that_issue(store: SandboxStore) -> None:
    faults = Faults(human_edit=HumanEdit(remove_labels=("module: fsdp",), issue_number=2))
    async with Client(build_server(store, faults)) as client:
        await client.call_tool("issue_read", {"method": "get", **WHERE})
        assert store.require("pytorch/pytorch", 2).labels == QUEUE
        await client.call_tool("issue_read", {"method": "get", **WHERE, "issue_number": 2})
    assert store.require("pytorch/pytorch", 2).labels == ("oncall: distributed",)
    assert store.require("pytorch/pytorch", 1).labels == QUEUE


async def test_dropped_label_writes_succeed_but_change_nothing(store: SandboxStore) -> None:
    faults = Faults(drop_label_writes=True)
    async with Client(build_server(store, faults)) as client:
        result = await client.call_tool("issue_write", {"method": "update", "labels": [], **WHERE})
    assert not result.is_error
    assert store.require("pytorch/pytorch", 1).labels == QUEUE
    assert faults.kinds() == ["dropped_labels"]


async def test_latency_holds_every_call_back(store: SandboxStore) -> None:
    # A call held back for a minute cannot finish inside a short deadline, however fast the machine.
    async with Client(build_server(store, Faults(latency_seconds=60.0))) as client:
        with anyio.move_on_after(0.2) as deadline:
            await client.call_tool("issue_read", {"method": "get", **WHERE})
    assert deadline.cancelled_caught


def test_faults_come_from_command_line_flags() -> None:
    parser = argparse.ArgumentParser()
    add_fault_arguments(parser)
    args = parser.parse_args(
        [
            "--latency",
            "0.5",
            "--fail-next",
            "2",
            "--fail-tool",
            "issue_write",
            "--rate-limit-next",
            "1",
            "--retry-after",
            "9",
            "--human-remove-label",
            "module: fsdp",
            "--human-edit-issue",
            "3",
            "--drop-label-writes",
        ]
    )
    faults = faults_from_arguments(args)
    assert (faults.latency_seconds, faults.fail_next, faults.fail_tool) == (0.5, 2, "issue_write")
    assert (faults.rate_limit_next, faults.retry_after_seconds, faults.drop_label_writes) == (1, 9, True)
    assert faults.human_edit == HumanEdit(remove_labels=("module: fsdp",), issue_number=3)
    assert faults_from_arguments(parser.parse_args([])) == Faults()


def test_faults_refuse_nonsense_values() -> None:
    with pytest.raises(ValueError, match="fail_status"):
        Faults(fail_status=404)
    faults = Faults()
    with pytest.raises(ValueError, match="latency_seconds"):
        faults.latency_seconds = -1.0
