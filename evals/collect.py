"""Collect a dataset from a live queue: list the issues carrying a label, read each one, write JSONL.

Everything goes through the GitHub MCP tools (`list_issues`, then `issue_read` for each issue), so it
works against the hosted server, a local github-mcp-server, or the sandbox.
"""

from __future__ import annotations

from typing import Literal

from agent.github import ToolCaller, read_snapshot
from agent.listing import list_labelled
from agent.models import IssueRef, IssueSnapshot, split_repo
from evals.dataset import DatasetComment, DatasetIssue

__all__ = ["collect", "to_dataset_issue"]

_STATES: dict[str, Literal["OPEN", "CLOSED"] | None] = {"open": "OPEN", "closed": "CLOSED", "all": None}


async def collect(
    caller: ToolCaller,
    repo: str,
    *,
    label: str,
    state: Literal["open", "closed", "all"] = "open",
    limit: int | None = None,
) -> list[DatasetIssue]:
    """Every issue of `repo` carrying `label` (oldest first), read in full, as dataset records."""
    owner, name = split_repo(repo)
    listed = await list_labelled(caller, repo, label, state=_STATES[state], limit=limit)
    return [
        to_dataset_issue(await read_snapshot(caller, IssueRef(owner=owner, repo=name, number=issue.number)))
        for issue in listed
    ]


def to_dataset_issue(snapshot: IssueSnapshot) -> DatasetIssue:
    """An issue as read now, in the dataset's shape: labels captured, body whole."""
    ref = snapshot.ref
    return DatasetIssue(
        number=ref.number,
        url=f"https://github.com/{ref.full_repo}/issues/{ref.number}",
        title=snapshot.title,
        state=snapshot.state,
        labels=snapshot.labels,
        labels_visible=True,
        opened=snapshot.created_at.date() if snapshot.created_at else None,
        author=snapshot.author,
        body=snapshot.body or None,
        body_partial=False,
        comments=tuple(
            DatasetComment(author=c.author, date=c.created_at.date() if c.created_at else None, text=c.body)
            for c in snapshot.comments
        ),
    )
