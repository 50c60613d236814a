"""The GitHub connection: the one call protocol every part uses, the three ways to connect, reading an
issue snapshot, and sorting tool errors by what the caller should do about them."""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

import anyio
import httpx2
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT, CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from agent.models import Comment, IssueRef, IssueSnapshot, UsageError

if TYPE_CHECKING:
    from agent.sandbox.faults import Faults
    from agent.sandbox.store import SandboxStore

__all__ = [
    "REMOTE_URL",
    "ConnectionKind",
    "ErrorKind",
    "GitHubError",
    "RetryEvent",
    "RetryingCaller",
    "ToolCaller",
    "ToolFailure",
    "call_json",
    "classify",
    "classify_text",
    "connect",
    "read_snapshot",
    "result_text",
    "stdio_parameters",
]

# The hosted server with only the issues toolset, so a token's other powers are not even offered.
REMOTE_URL = "https://api.githubcopilot.com/mcp/x/issues"

ConnectionKind = Literal["sandbox", "remote", "stdio"]
ErrorKind = Literal["transient", "rate_limited", "permanent"]

# Passed on to a stdio server besides the SDK's minimal environment: toolset selection, our state dir.
_PASSED_ENV = (
    "GITHUB_TOOLSETS",
    "GITHUB_TOOLS",
    "GITHUB_READ_ONLY",
    "GITHUB_HOST",
    "DISTRIBUTED_TRIAGE_HOME",
    "XDG_STATE_HOME",
    "VIRTUAL_ENV",
)


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


# -- retrying --------------------------------------------------------------------------------------


class RetryEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    tool: str
    kind: ErrorKind | Literal["timeout"]
    attempt: int
    delay: float


def _repeatable(name: str, arguments: dict[str, Any] | None) -> bool:
    # A 5xx or a timeout may come after GitHub already did the work; doing it twice must be harmless.
    # Replacing labels is; posting a comment or opening an issue is not.
    if name == "add_issue_comment":
        return False
    return not (name == "issue_write" and (arguments or {}).get("method") == "create")


class RetryingCaller:
    """A `ToolCaller` that retries transient errors and rate limits with exponential backoff, waiting at
    least the Retry-After GitHub asks for, for a bounded number of attempts. A rate-limited request was
    not performed, so it is always retried; a 5xx or timeout is retried only for repeatable calls."""

    def __init__(
        self,
        inner: ToolCaller,
        *,
        attempts: int = 4,
        base_delay: float = 1.0,
        max_delay: float = 30.0,
        max_retry_after: float = 120.0,
        default_rate_limit_wait: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if attempts < 1:
            raise UsageError("RetryingCaller needs at least one attempt")
        self.inner, self.attempts, self.sleep = inner, attempts, sleep
        self.base_delay, self.max_delay = base_delay, max_delay
        self.max_retry_after, self.default_rate_limit_wait = max_retry_after, default_rate_limit_wait
        self.history: list[RetryEvent] = []

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
        repeatable = _repeatable(name, arguments)
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
            try:
                result = await self.inner.call_tool(name, arguments)
            except (TimeoutError, MCPError) as error:
                timed_out = not isinstance(error, MCPError) or error.code == REQUEST_TIMEOUT
                if last or not repeatable or not timed_out:
                    raise
                await self._wait(RetryEvent(tool=name, kind="timeout", attempt=attempt, delay=backoff))
                continue
            failure = classify(result)
            if failure is None or failure.kind == "permanent" or last:
                return result
            if failure.kind == "transient":
                if not repeatable:
                    return result
                delay = backoff
            else:
                delay = max(
                    backoff, failure.retry_after if failure.retry_after is not None else self.default_rate_limit_wait
                )
                if delay > self.max_retry_after:
                    return result  # waiting that long belongs to the caller's schedule, not to one call
            await self._wait(RetryEvent(tool=name, kind=failure.kind, attempt=attempt, delay=delay))
        raise AssertionError("unreachable: the last attempt always returns or raises")

    async def _wait(self, event: RetryEvent) -> None:
        self.history.append(event)
        await self.sleep(event.delay)


# -- connecting ------------------------------------------------------------------------------------


def stdio_parameters(command: str, token: str | None = None) -> StdioServerParameters:
    """How to start a user-named MCP server command, with the GitHub token in its environment."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"cannot read the GitHub MCP server command {command!r}: {exc}") from None
    if not argv:
        raise UsageError("the GitHub MCP server command is empty; e.g. 'github-mcp-server stdio'")
    env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
    if token:
        env["GITHUB_PERSONAL_ACCESS_TOKEN"] = token
    return StdioServerParameters(command=argv[0], args=argv[1:], env=env)


@asynccontextmanager
async def connect(
    kind: ConnectionKind,
    *,
    store: SandboxStore | None = None,
    faults: Faults | None = None,
    url: str = REMOTE_URL,
    token: str | None = None,
    command: str | None = None,
    read_timeout_seconds: float = 120.0,
) -> AsyncIterator[Client]:
    """An MCP client connected to GitHub: `sandbox` in process over `store` (default: the seeded state-dir
    store), `remote` over streamable HTTP to `url` with a bearer token (default `$GITHUB_TOKEN`), or
    `stdio` by starting `command` with the token as `GITHUB_PERSONAL_ACCESS_TOKEN`.

    A server that cannot be reached or refuses the session is a `GitHubError`; a missing token, an empty
    command or a command that cannot be started is a `UsageError`."""
    async with AsyncExitStack() as stack:
        if kind == "sandbox":
            from agent.sandbox import build_server, default_store

            target: Any = build_server(store if store is not None else default_store(), faults)
            where = "the sandbox"
        elif kind == "remote":
            token = token or os.environ.get("GITHUB_TOKEN")
            if not token:
                raise UsageError(
                    "--github remote needs a GitHub token: set GITHUB_TOKEN (a token that may triage the repository)"
                )
            headers = {"Authorization": f"Bearer {token}", "User-Agent": "distributed-triage"}
            timeout = httpx2.Timeout(30.0, read=max(read_timeout_seconds, 30.0))
            http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=timeout))
            target, where = streamable_http_client(url, http_client=http), f"the GitHub MCP server at {url}"
        elif kind == "stdio":
            if not command:
                raise UsageError("--github stdio needs a command, e.g. --github-command 'github-mcp-server stdio'")
            target = stdio_parameters(command, token or os.environ.get("GITHUB_TOKEN"))
            where = f"the GitHub MCP server started with {command!r}"
        else:
            raise UsageError(f"unknown GitHub connection {kind!r}: use sandbox, remote or stdio")
        try:
            client = await stack.enter_async_context(Client(target, read_timeout_seconds=read_timeout_seconds))
        except FileNotFoundError as error:
            raise UsageError(f"cannot start {where}: {error.strerror}: {error.filename}") from error
        except (MCPError, OSError, httpx2.HTTPError, ExceptionGroup) as error:
            leaves = _leaves(error)
            if not all(isinstance(leaf, MCPError | OSError | httpx2.HTTPError) for leaf in leaves):
                raise
            reasons = "; ".join(dict.fromkeys(str(leaf) or type(leaf).__name__ for leaf in leaves))
            hint = " (is the token valid, and may it use the issues toolset?)" if kind == "remote" else ""
            raise GitHubError(f"cannot open a session with {where}: {reasons}{hint}", kind="transient") from error
        yield client


def _leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, which is how the SDK's task groups report them."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]
