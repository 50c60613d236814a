"""GitHub through MCP tools: the one call protocol every part uses, reading an issue snapshot, and sorting
tool errors by what the caller should do about them. Connecting is `agent.connection`; retrying is
`agent.retry`."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from mcp import MCPError
from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT, CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from agent.models import Comment, IssueRef, IssueSnapshot

if TYPE_CHECKING:
    pass

__all__ = [
    "ErrorKind",
    "GitHubError",
    "ToolCaller",
    "ToolFailure",
    "call_json",
    "classify",
    "classify_text",
    "read_snapshot",
    "result_text",
]


ErrorKind = Literal["transient", "rate_limited", "permanent"]


class ToolCaller(Protocol):
    """What the triage needs of a GitHub MCP connection; `mcp.Client` is one."""

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> CallToolResult: ...


# -- error sorting ---------------------------------------------------------------------------------


class ToolFailure(BaseModel):
    """A tool error result, sorted: retry soon, retry after a wait, or give up."""

    model_config = ConfigDict(frozen=True)

    kind: ErrorKind
    message: str
    status: int | None = None
    retry_after: float | None = None
    not_found: bool = False


class GitHubError(Exception):
    """GitHub (through MCP) could not do what was asked; `kind` says whether trying again may help."""

    def __init__(
        self, message: str, *, kind: ErrorKind = "permanent", retry_after: float | None = None, not_found: bool = False
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after
        self.not_found = not_found

    @classmethod
    def from_failure(cls, tool: str, failure: ToolFailure) -> GitHubError:
        return cls(
            f"{tool}: {failure.message}",
            kind=failure.kind,
            retry_after=failure.retry_after,
            not_found=failure.not_found,
        )


_STATUS = re.compile(r"(?::|unexpected status|status code:?)\s+(?P<code>[1-5][0-9]{2})\b", re.IGNORECASE)
_RATE_LIMIT = re.compile(r"secondary rate limit|rate limit exceeded|api rate limit|abuse detection", re.IGNORECASE)
_RETRY_AFTER = re.compile(r"retry[- ]after\W{0,3}(?P<seconds>[0-9]+(?:\.[0-9]+)?)", re.IGNORECASE)
_RATE_RESET = re.compile(r"rate reset in (?P<duration>(?:[0-9.]+[hms])+)", re.IGNORECASE)
_TRANSIENT = re.compile(
    r"time(?:d)? ?out|deadline exceeded|connection (?:reset|refused)|temporarily unavailable|bad gateway|"
    r"service unavailable|server error",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(r"\b404\b|could not resolve to|not found", re.IGNORECASE)


def result_text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def classify(result: CallToolResult) -> ToolFailure | None:
    """None for a successful result; otherwise what kind of failure it is."""
    return classify_text(result_text(result) or "error result without text") if result.is_error else None


def classify_text(text: str) -> ToolFailure:
    match = _STATUS.search(text)
    status = int(match["code"]) if match else None
    not_found = bool(_NOT_FOUND.search(text))
    if status == 429 or _RATE_LIMIT.search(text):
        return ToolFailure(kind="rate_limited", message=text, status=status, retry_after=_retry_after(text))
    if (status is not None and status >= 500) or (status is None and _TRANSIENT.search(text)):
        return ToolFailure(kind="transient", message=text, status=status)
    return ToolFailure(kind="permanent", message=text, status=status, not_found=not_found)


def _retry_after(text: str) -> float | None:
    if match := _RETRY_AFTER.search(text):
        return float(match["seconds"])
    if match := _RATE_RESET.search(text):
        # go-github prints the reset as a Go duration such as "5m0s".
        units = {"h": 3600.0, "m": 60.0, "s": 1.0}
        return sum(float(n) * units[u] for n, u in re.findall(r"([0-9.]+)([hms])", match["duration"]))
    return None


# -- reading ---------------------------------------------------------------------------------------


async def call_json(caller: ToolCaller, name: str, arguments: dict[str, Any]) -> Any:
    """Call a tool and decode its JSON answer; an error result or unreadable text is a `GitHubError`."""
    try:
        result = await caller.call_tool(name, arguments)
    except MCPError as error:
        kind: ErrorKind = "transient" if error.code in (REQUEST_TIMEOUT, CONNECTION_CLOSED) else "permanent"
        raise GitHubError(f"{name}: {error.message}", kind=kind) from error
    failure = classify(result)
    if failure is not None:
        raise GitHubError.from_failure(name, failure)
    text = result_text(result)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # github-mcp-server answers in text; structured content is only a fallback for other servers.
        if isinstance(result.structured_content, dict | list):
            return result.structured_content
        raise GitHubError(f"{name}: the answer is not JSON: {text[:200]!r}") from None


class _User(BaseModel):
    model_config = ConfigDict(extra="ignore")

    login: str = "ghost"


class _WireComment(BaseModel):
    model_config = ConfigDict(extra="ignore")

    body: str | None = None
    user: _User | None = None
    created_at: datetime | None = None


class _WireIssue(BaseModel):
    """`issue_read get` as any server version answers it: keys may be missing, labels names or objects."""

    model_config = ConfigDict(extra="ignore")

    title: str = ""
    body: str | None = None
    state: Literal["open", "closed"] = "open"
    user: _User | None = None
    labels: list[str] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @field_validator("state", mode="before")
    @classmethod
    def _state(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, value: object) -> object:
        if isinstance(value, list):
            return [item.get("name") if isinstance(item, dict) else item for item in value]
        return value


async def read_snapshot(
    caller: ToolCaller, ref: IssueRef, *, per_page: int = 100, max_pages: int = 50
) -> IssueSnapshot:
    """The issue with every comment, as one value. A missing issue or a server error is a `GitHubError`."""
    where = {"owner": ref.owner, "repo": ref.repo, "issue_number": ref.number}
    # GitHub serves at most 100 per page; asking for more would make a full page look like the last one.
    per_page = min(max(per_page, 1), 100)
    try:
        raw = await call_json(caller, "issue_read", {"method": "get", **where})
    except GitHubError as error:
        if error.not_found:
            raise GitHubError(f"{ref} does not exist or this token cannot see it ({error})", not_found=True) from None
        raise
    try:
        issue = _WireIssue.model_validate(raw)
    except ValidationError as exc:
        raise GitHubError(f"issue_read get {ref}: unexpected answer: {exc.errors()[0]['msg']}") from None
    comments: list[Comment] = []
    for page in range(1, max_pages + 1):
        batch = await call_json(
            caller, "issue_read", {"method": "get_comments", **where, "page": page, "perPage": per_page}
        )
        if isinstance(batch, dict):
            batch = batch.get("comments", batch.get("items", []))
        if not isinstance(batch, list):
            raise GitHubError(f"issue_read get_comments {ref}: expected a list, got {type(batch).__name__}")
        for item in batch:
            try:
                wire = _WireComment.model_validate(item)
            except ValidationError as exc:
                raise GitHubError(
                    f"issue_read get_comments {ref}: unexpected comment: {exc.errors()[0]['msg']}"
                ) from None
            author = wire.user.login if wire.user else "ghost"
            comments.append(Comment(author=author, body=wire.body or "", created_at=wire.created_at))
        if len(batch) < per_page:
            break
    else:
        # Triage on part of a thread could repeat a request the missing part already answered.
        raise GitHubError(f"{ref} has more than {max_pages * per_page} comments; refusing to triage a partial thread")
    return IssueSnapshot(
        ref=ref,
        title=issue.title,
        body=issue.body or "",
        state=issue.state,
        author=issue.user.login if issue.user else None,
        labels=tuple(label for label in issue.labels or () if label),
        comments=tuple(comments),
        created_at=issue.created_at,
        updated_at=issue.updated_at,
    )
