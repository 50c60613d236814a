from datetime import UTC, datetime, timedelta

import pytest
from mcp import Client

from agent.github import GitHubError
from agent.sandbox import Faults, IssueSeed, SandboxStore, build_server
from agent.sweep.queue import list_queue
from tests.agent.sweep.support import BOT, INFRA, REPO, Q

START = datetime(2025, 6, 1, tzinfo=UTC)


def _put(store: SandboxStore, number: int, *labels: str, state: str = "open") -> None:
    store.put(
        IssueSeed.model_validate(
            {
                "repo": REPO,
                "number": number,
                "title": f"issue {number}",
                "labels": labels,
                "state": state,
                "created_at": START + timedelta(hours=number),
            }
        )
    )


@pytest.mark.anyio
async def test_every_open_queue_issue_is_listed_across_pages_oldest_first() -> None:
    store = SandboxStore(":memory:")
    store.put_many(
        IssueSeed(repo=REPO, number=n, title=f"issue {n}", labels=(Q, BOT), created_at=START + timedelta(hours=n))
        for n in range(1, 251)
    )
    async with Client(build_server(store)) as client:
        issues = await list_queue(client, REPO, Q)
    assert [issue.number for issue in issues] == list(range(1, 251))
    assert issues[0].labels == (Q, BOT)
    assert issues[0].created_at == START + timedelta(hours=1)


@pytest.mark.anyio
async def test_closed_issues_and_look_alike_labels_are_not_in_the_queue() -> None:
    store = SandboxStore(":memory:")
    _put(store, 1, Q)
    _put(store, 2, INFRA)
    _put(store, 3, "oncall: distributed (old)")
    _put(store, 4, Q, state="closed")
    async with Client(build_server(store)) as client:
        issues = await list_queue(client, REPO, Q)
    assert [issue.number for issue in issues] == [1]


@pytest.mark.anyio
async def test_a_listing_that_keeps_failing_is_an_error_naming_the_repository() -> None:
    store = SandboxStore(":memory:")
    _put(store, 1, Q)
    async with Client(build_server(store, Faults(fail_next=1, fail_tool="list_issues"))) as client:
        with pytest.raises(GitHubError, match="502"):
            await list_queue(client, REPO, Q)
