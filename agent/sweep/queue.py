"""Reading the whole queue: every open issue with the queue label, oldest first, page by page."""

from __future__ import annotations

from agent.github import ToolCaller
from agent.listing import list_labelled
from agent.sweep.selection import QueueIssue

__all__ = ["list_queue"]


async def list_queue(caller: ToolCaller, repo: str, label: str) -> list[QueueIssue]:
    """Every open issue of `repo` that carries exactly `label`, in the order listed (oldest first)."""
    return [
        QueueIssue(number=issue.number, title=issue.title, labels=tuple(issue.labels), created_at=issue.created_at)
        for issue in await list_labelled(caller, repo, label, state="OPEN")
        # The server filters by label already; exact matching here keeps a lenient server honest.
        if issue.state.upper() == "OPEN" and label in issue.labels
    ]
