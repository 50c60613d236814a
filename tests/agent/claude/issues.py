"""Sandbox issues for the Claude engine tests, and a guarded session on one of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp import Client

from agent.guarded_session import GuardedSession
from agent.models import Comment, IssueRef, IssueSnapshot
from agent.sandbox import CommentSeed, Faults, IssueSeed, SandboxStore, build_server
from agent.skillpack import SkillPack

REPO = "pytorch/pytorch"
QUEUE = "oncall: distributed"

FSDP_HANG = IssueSeed(
    repo=REPO,
    number=101,
    title="FSDP2 fully_shard hangs at the first allreduce on two nodes",
    body="Running fully_shard on 2 nodes x 8 GPUs with torchrun hangs.\n\n```\nimport torch\n"
    "from torch.distributed.fsdp import fully_shard\n...\n```\nTraceback ends in "
    "torch/distributed/fsdp/_fully_shard/_fsdp_collectives.py",
    author="reporter",
    created_at="2026-09-01T10:00:00Z",
    labels=(QUEUE,),
    comments=(CommentSeed(author="colleague", body="Same here with 2.9.", created_at="2026-09-02T10:00:00Z"),),
)
OLD_FSDP_HANG = IssueSeed(
    repo=REPO,
    number=102,
    title="fully_shard deadlock when reshard_after_forward=False",
    body="Closed duplicate of an FSDP2 hang.",
    state="closed",
    state_reason="completed",
    created_at="2026-05-01T10:00:00Z",
    labels=(QUEUE, "oncall: distributed parallelisms", "module: fsdp"),
)
CLASSIFIED = IssueSeed(
    repo=REPO,
    number=103,
    title="DTensor redistribute is slow",
    body="redistribute from Shard(0) to Replicate() takes 2 s.",
    created_at="2026-09-03T10:00:00Z",
    labels=(QUEUE, "oncall: distributed parallelisms", "module: dtensor"),
)
OTHER_QUEUE_ISSUE = IssueSeed(
    repo=REPO,
    number=6007,
    title="c10d store timeout",
    body="TCPStore times out.",
    created_at="2026-09-04T10:00:00Z",
    labels=(QUEUE,),
)
OTHER_REPO_ISSUE = IssueSeed(
    repo="pytorch/vision",
    number=101,
    title="resize is slow",
    body="torchvision resize.",
    created_at="2026-09-04T10:00:00Z",
    labels=(QUEUE,),
)
SEEDS = (FSDP_HANG, OLD_FSDP_HANG, CLASSIFIED, OTHER_QUEUE_ISSUE, OTHER_REPO_ISSUE)


def seeded_store() -> SandboxStore:
    store = SandboxStore()
    store.put_many(SEEDS)
    return store


def snapshot_of(seed: IssueSeed) -> IssueSnapshot:
    owner, name = seed.repo.split("/")
    return IssueSnapshot(
        ref=IssueRef(owner=owner, repo=name, number=seed.number),
        title=seed.title,
        body=seed.body,
        author=seed.author,
        labels=seed.labels,
        comments=tuple(Comment(author=c.author, body=c.body, created_at=c.created_at) for c in seed.comments),
        created_at=seed.created_at,
    )


@asynccontextmanager
async def guarded(
    store: SandboxStore,
    pack: SkillPack,
    seed: IssueSeed = FSDP_HANG,
    *,
    faults: Faults | None = None,
    dry_run: bool = False,
) -> AsyncIterator[GuardedSession]:
    """A guarded session on `seed`'s issue, talking MCP to the sandbox server in memory."""
    owner, name = seed.repo.split("/")
    async with Client(build_server(store, faults)) as client:
        yield GuardedSession(client, IssueRef(owner=owner, repo=name, number=seed.number), pack, dry_run=dry_run)
