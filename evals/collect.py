"""Collect a dataset from a live queue: list the issues carrying a label, read each one, write JSONL.

Everything goes through the GitHub MCP tools (`list_issues`, then `issue_read` for each issue), so it
works against the hosted server, a local github-mcp-server, or the sandbox.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from agent.github import GitHubError, ToolCaller, call_json, read_snapshot
from agent.models import IssueRef, IssueSnapshot, split_repo
from evals.dataset import DatasetComment, DatasetIssue

__all__ = ["collect", "to_dataset_issue"]

_PAGE = 50


class _Listed(BaseModel):
    model_config = ConfigDict(extra="ignore")

    number: int


class _PageInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    hasNextPage: bool = False
    endCursor: str | None = None


class _Page(BaseModel):
    model_config = ConfigDict(extra="ignore")

    issues: list[_Listed] = []
    pageInfo: _PageInfo = _PageInfo()


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
    numbers: list[int] = []
    cursor: str | None = None
    while limit is None or len(numbers) < limit:
        arguments: dict[str, Any] = {
            "owner": owner,
            "repo": name,
            "labels": [label],
            "orderBy": "CREATED_AT",
            "direction": "ASC",
            "perPage": _PAGE,
        }
        if state != "all":
            arguments["state"] = state.upper()
        if cursor:
            arguments["after"] = cursor
        page = await _list_page(caller, arguments)
        numbers += [issue.number for issue in page.issues]
        if not page.pageInfo.hasNextPage or not page.pageInfo.endCursor or not page.issues:
            break
        cursor = page.pageInfo.endCursor
    chosen = list(dict.fromkeys(numbers))[:limit]
    return [to_dataset_issue(await read_snapshot(caller, IssueRef(owner=owner, repo=name, number=n))) for n in chosen]


async def _list_page(caller: ToolCaller, arguments: dict[str, Any]) -> _Page:
    raw = await call_json(caller, "list_issues", arguments)
    try:
        return _Page.model_validate(raw)
    except ValidationError as exc:
        raise GitHubError(
            f"list_issues answered something that is not a page of issues: {exc.errors()[0]['msg']}"
        ) from None


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
