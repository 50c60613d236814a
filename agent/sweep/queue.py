"""Reading the whole queue: every open issue with the queue label, oldest first, page by page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.github import GitHubError, ToolCaller, call_json
from agent.models import split_repo
from agent.sweep.selection import QueueIssue

__all__ = ["list_queue"]

_PAGE = 100
# A runaway cursor (a server that always says there is more) must not loop for ever.
_MAX_PAGES = 500


class _Label(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str


class _Node(BaseModel):
    model_config = ConfigDict(extra="ignore")

    number: int = Field(ge=1)
    title: str = ""
    state: str = "OPEN"
    labels: list[str] = []
    created_at: datetime | None = None

    @field_validator("labels", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        # GraphQL nodes carry names; REST-shaped answers carry label objects.
        if isinstance(value, dict) and "nodes" in value:
            value = value["nodes"]
        if isinstance(value, list):
            return [_Label.model_validate(v).name if isinstance(v, dict) else v for v in value]
        return value


class _PageInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    has_next_page: bool = Field(default=False, alias="hasNextPage")
    end_cursor: str | None = Field(default=None, alias="endCursor")


class _Page(BaseModel):
    model_config = ConfigDict(extra="ignore")

    issues: list[_Node]
    page_info: _PageInfo = Field(default_factory=_PageInfo, alias="pageInfo")


async def list_queue(caller: ToolCaller, repo: str, label: str) -> list[QueueIssue]:
    """Every open issue of `repo` that carries exactly `label`, in the order listed (oldest first)."""
    owner, name = split_repo(repo)
    found: dict[int, QueueIssue] = {}
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        arguments: dict[str, Any] = {
            "owner": owner,
            "repo": name,
            "state": "OPEN",
            "labels": [label],
            "orderBy": "CREATED_AT",
            "direction": "ASC",
            "perPage": _PAGE,
        }
        if cursor:
            arguments["after"] = cursor
        try:
            page = _Page.model_validate(await call_json(caller, "list_issues", arguments))
        except ValidationError as error:
            raise GitHubError(f"the list_issues answer for {repo} is not a page of issues: {error}") from error
        for node in page.issues:
            # The server filters by label already; exact matching here keeps a lenient server honest.
            if node.state.upper() == "OPEN" and label in node.labels:
                found[node.number] = QueueIssue(
                    number=node.number, title=node.title, labels=tuple(node.labels), created_at=node.created_at
                )
        if not page.page_info.has_next_page or not page.page_info.end_cursor:
            break
        cursor = page.page_info.end_cursor
    else:
        raise GitHubError(f"listing {repo} did not end after {_MAX_PAGES} pages")
    return list(found.values())
