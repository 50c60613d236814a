"""Listing a repository's issues that carry a label, page by page, through the `list_issues` tool."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.github import GitHubError, ToolCaller, call_json
from agent.models import split_repo

__all__ = ["ListedIssue", "list_labelled"]

_PAGE = 100
# A runaway cursor (a server that always says there is more) must not loop for ever.
_MAX_PAGES = 500


class _Label(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str


class ListedIssue(BaseModel):
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

    issues: list[ListedIssue]
    page_info: _PageInfo = Field(default_factory=_PageInfo, alias="pageInfo")


async def list_labelled(
    caller: ToolCaller,
    repo: str,
    label: str,
    *,
    state: Literal["OPEN", "CLOSED"] | None = "OPEN",
    limit: int | None = None,
) -> list[ListedIssue]:
    """Issues of `repo` listed with `label`, oldest first, without duplicates (None state: open and closed).

    Label matching here is the server's; callers that must be exact check `ListedIssue.labels` themselves.
    """
    owner, name = split_repo(repo)
    found: dict[int, ListedIssue] = {}
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        arguments: dict[str, Any] = {
            "owner": owner,
            "repo": name,
            "labels": [label],
            "orderBy": "CREATED_AT",
            "direction": "ASC",
            "perPage": _PAGE,
        }
        if state is not None:
            arguments["state"] = state
        if cursor:
            arguments["after"] = cursor
        try:
            page = _Page.model_validate(await call_json(caller, "list_issues", arguments))
        except ValidationError as error:
            raise GitHubError(f"the list_issues answer for {repo} is not a page of issues: {error}") from error
        for issue in page.issues:
            found.setdefault(issue.number, issue)
        if limit is not None and len(found) >= limit:
            return list(found.values())[:limit]
        if not page.page_info.has_next_page or not page.page_info.end_cursor or not page.issues:
            return list(found.values())
        cursor = page.page_info.end_cursor
    raise GitHubError(f"listing {repo} did not end after {_MAX_PAGES} pages")
