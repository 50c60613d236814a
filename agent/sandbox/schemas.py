"""The sandbox tools' names, input schemas and hints: the same shapes github-mcp-server publishes
(v0.20 and later), so a client or a guard written against one works against the other."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["TOOLS", "ToolSpec"]

Schema = dict[str, Any]


class ToolSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    title: str
    description: str
    input_schema: Schema
    read_only: bool


def _string(description: str, enum: list[str] | None = None) -> Schema:
    return {"type": "string", "description": description, **({"enum": enum} if enum else {})}


def _number(description: str, minimum: int | None = None, maximum: int | None = None) -> Schema:
    bounds = {k: v for k, v in (("minimum", minimum), ("maximum", maximum)) if v is not None}
    return {"type": "number", "description": description, **bounds}


def _strings(description: str) -> Schema:
    return {"type": "array", "description": description, "items": {"type": "string"}}


def _object(properties: Schema, required: list[str]) -> Schema:
    return {"type": "object", "properties": properties, "required": required}


_OWNER = _string("Owner of the repository")
_REPO = _string("Name of the repository")
_PAGE = _number("Page to return, from 1", minimum=1)
_PER_PAGE = _number("Results per page, 1 to 100", minimum=1, maximum=100)

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="issue_read",
        title="Get issue details",
        description="Read one issue of a repository: its details, its comments, or its labels.",
        read_only=True,
        input_schema=_object(
            {
                "method": _string(
                    "What to read. get: the issue itself; get_comments: its comments (paged); "
                    "get_sub_issues: its sub-issues; get_parent: its parent issue; get_labels: its labels.",
                    ["get", "get_comments", "get_sub_issues", "get_parent", "get_labels"],
                ),
                "owner": _OWNER,
                "repo": _REPO,
                "issue_number": _number("Number of the issue"),
                "page": _PAGE,
                "perPage": _PER_PAGE,
            },
            ["method", "owner", "repo", "issue_number"],
        ),
    ),
    ToolSpec(
        name="issue_write",
        title="Create or update issue/pull request",
        description="Create an issue, or update one. On update, `labels` replaces the whole label set "
        "(an empty list removes every label); leave it out to keep the labels as they are.",
        read_only=False,
        input_schema=_object(
            {
                "method": _string("create: open a new issue; update: change an existing one.", ["create", "update"]),
                "owner": _OWNER,
                "repo": _REPO,
                "issue_number": _number("Number of the issue to update"),
                "title": _string("Title of the issue"),
                "body": _string("Body of the issue, in Markdown"),
                "assignees": _strings("Logins to assign; replaces the current assignees"),
                "labels": _strings("Label names; replaces the current labels"),
                "milestone": _number("Milestone number"),
                "type": _string("Issue type, where the repository uses issue types"),
                "state": _string("New state", ["open", "closed"]),
                "state_reason": _string("Why the state changes", ["completed", "not_planned", "duplicate"]),
                "duplicate_of": _number("The issue this one duplicates (with state_reason duplicate)"),
            },
            ["method", "owner", "repo"],
        ),
    ),
    ToolSpec(
        name="add_issue_comment",
        title="Add comment to issue or pull request",
        description="Post a comment on an issue, or react to it. Give a body, a reaction, or both.",
        read_only=False,
        input_schema=_object(
            {
                "owner": _OWNER,
                "repo": _REPO,
                "issue_number": _number("Number of the issue"),
                "body": _string("Text of the comment, in Markdown"),
                "reaction": _string(
                    "Reaction to add", ["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"]
                ),
            },
            ["owner", "repo", "issue_number"],
        ),
    ),
    ToolSpec(
        name="search_issues",
        title="Search issues",
        description="Search issues with GitHub search syntax (repo:, is:open, is:closed, label:, -label:, "
        "no:label, author:, free words). The search is limited to issues.",
        read_only=True,
        input_schema=_object(
            {
                "query": _string("The search query"),
                "owner": _string("Owner; with repo, limits the search to that repository"),
                "repo": _string("Repository; with owner, limits the search to that repository"),
                "sort": _string(
                    "Sort by this field instead of best match",
                    [
                        "comments",
                        "reactions",
                        "reactions-+1",
                        "reactions--1",
                        "reactions-smile",
                        "reactions-thinking_face",
                        "reactions-heart",
                        "reactions-tada",
                        "interactions",
                        "created",
                        "updated",
                    ],
                ),
                "order": _string("Sort order", ["asc", "desc"]),
                "page": _PAGE,
                "perPage": _PER_PAGE,
            },
            ["query"],
        ),
    ),
    ToolSpec(
        name="list_issues",
        title="List issues",
        description="List a repository's issues, filtered and ordered. To page, pass the previous answer's "
        "pageInfo.endCursor as `after`.",
        read_only=True,
        input_schema=_object(
            {
                "owner": _OWNER,
                "repo": _REPO,
                "state": _string("Only issues in this state; both when left out", ["OPEN", "CLOSED"]),
                "labels": _strings("Only issues carrying these labels"),
                "orderBy": _string("Field to order by (give direction too)", ["CREATED_AT", "UPDATED_AT", "COMMENTS"]),
                "direction": _string("Order direction (give orderBy too)", ["ASC", "DESC"]),
                "since": _string("Only issues updated at or after this ISO 8601 time"),
                "perPage": _PER_PAGE,
                "after": _string("Cursor from the previous page's pageInfo.endCursor"),
            },
            ["owner", "repo"],
        ),
    ),
)
