from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.connection import connect
from agent.sandbox import CommentSeed, IssueSeed, SandboxStore
from evals.collect import collect
from evals.dataset import DatasetComment

pytestmark = pytest.mark.anyio
Q = "oncall: distributed"


def seed(number: int, *labels: str, state: str = "open", comments: int = 0) -> IssueSeed:
    opened = datetime(2024, 1, 1 + number % 28, tzinfo=UTC)
    return IssueSeed.model_validate(
        {
            "repo": "pytorch/pytorch",
            "number": number,
            "title": f"Invented {number}",
            "body": f"Body {number}",
            "state": state,
            "author": "reporter",
            "created_at": opened,
            "labels": labels,
            "comments": [
                CommentSeed(author=f"helper{i}", body=f"reply {i}", created_at=opened) for i in range(comments)
            ],
        }
    )


async def test_collect_reads_every_issue_in_the_queue_over_mcp_with_labels_and_comments() -> None:
    store = SandboxStore()
    store.put_many([seed(1, Q, "module: fsdp", comments=2), seed(2, "module: cuda"), seed(3, Q, state="closed")])
    async with connect("sandbox", store=store) as caller:
        issues = await collect(caller, "pytorch/pytorch", label=Q, state="all")
        open_only = await collect(caller, "pytorch/pytorch", label=Q)
    assert [i.number for i in issues] == [1, 3]
    first = issues[0]
    assert first.url == "https://github.com/pytorch/pytorch/issues/1"
    assert set(first.labels) == {Q, "module: fsdp"} and first.labels_visible
    assert first.body == "Body 1" and first.author == "reporter" and first.opened is not None
    assert first.comments == (
        DatasetComment(author="helper0", date=first.opened, text="reply 0"),
        DatasetComment(author="helper1", date=first.opened, text="reply 1"),
    )
    assert [i.number for i in open_only] == [1]


async def test_collect_follows_pages_and_stops_at_the_limit() -> None:
    store = SandboxStore()
    store.put_many([seed(n, Q) for n in range(1, 121)])
    async with connect("sandbox", store=store) as caller:
        everything = await collect(caller, "pytorch/pytorch", label=Q)
        some = await collect(caller, "pytorch/pytorch", label=Q, limit=7)
    assert len(everything) == 120 and len({i.number for i in everything}) == 120
    assert len(some) == 7
