from datetime import UTC, datetime, timedelta

import pytest
from mcp import Client

from agent.listing import list_labelled
from agent.sandbox import IssueSeed, SandboxStore, build_server

pytestmark = pytest.mark.anyio

REPO = "pytorch/pytorch"
LABEL = "oncall: distributed"
START = datetime(2025, 1, 1, tzinfo=UTC)


def _store() -> SandboxStore:
    store = SandboxStore(":memory:")
    store.put_many(
        IssueSeed(
            repo=REPO,
            number=n,
            title=f"issue {n}",
            labels=(LABEL,) if n % 5 else ("module: nn",),
            state="closed" if n % 3 == 0 else "open",
            created_at=START + timedelta(hours=n),
        )
        for n in range(1, 231)
    )
    return store


async def test_open_issues_with_the_label_come_oldest_first_across_pages() -> None:
    async with Client(build_server(_store())) as client:
        listed = await list_labelled(client, REPO, LABEL)
    expected = [n for n in range(1, 231) if n % 5 and n % 3]
    assert [issue.number for issue in listed] == expected


async def test_no_state_lists_open_and_closed_issues() -> None:
    async with Client(build_server(_store())) as client:
        listed = await list_labelled(client, REPO, LABEL, state=None)
    assert [issue.number for issue in listed] == [n for n in range(1, 231) if n % 5]


async def test_a_limit_stops_the_listing_early() -> None:
    async with Client(build_server(_store())) as client:
        listed = await list_labelled(client, REPO, LABEL, state="CLOSED", limit=7)
    assert [issue.number for issue in listed] == [n for n in range(1, 231) if n % 5 and n % 3 == 0][:7]
