"""Retrying GitHub tool calls: transient errors and secondary rate limits, with backoff that honours
Retry-After, and never a second try of a call that may already have happened."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio
from mcp import MCPError
from mcp.types import REQUEST_TIMEOUT, CallToolResult
from pydantic import BaseModel, ConfigDict

from agent.github import ErrorKind, ToolCaller, classify
from agent.models import UsageError

__all__ = ["RetryEvent", "RetryingCaller"]


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
