"""Keeps the sweep's writes under GitHub's secondary rate limits.

GitHub documents at most 80 content-creating requests a minute and 500 an hour. A comment creates
content and counts against both. A label edit (`issue_write` update, a PATCH) creates nothing, so it is
not held to the hourly content budget, but it is still held to the per-minute pace: GitHub asks
clients to space out mutating requests, and going over costs a lockout far longer than the wait.
Reads are not paced here: they are bounded by the sweep's concurrency and retried on a
secondary-limit answer.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio
from mcp.types import CallToolResult
from pydantic import BaseModel, ConfigDict, Field

from agent.github import ToolCaller, classify
from agent.guarded_session import WRITE_TOOLS

__all__ = ["PaceLimits", "PacedCaller", "WriteKind", "WritePacer", "write_kind"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
WriteKind = Literal["content", "edit"]


def write_kind(name: str, arguments: dict[str, Any] | None) -> WriteKind:
    """A label update edits an issue; a comment, or anything that opens an issue, creates content."""
    if name == "issue_write" and (arguments or {}).get("method") == "update":
        return "edit"
    return "content"


class PaceLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    per_minute: int = Field(default=80, ge=1, description="Writes of either kind a minute.")
    per_hour: int = Field(default=500, ge=1, description="Content-creating writes an hour.")
    margin_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Added to each window: a write leaves here a little before GitHub counts it, and not "
        "always equally late, so a window exactly full here could read one over there.",
    )

    def windows(self) -> tuple[tuple[int, float, frozenset[WriteKind]], ...]:
        """(limit, seconds, kinds counted) for each window."""
        every: frozenset[WriteKind] = frozenset({"content", "edit"})
        return (
            (self.per_minute, 60.0 + self.margin_seconds, every),
            (self.per_hour, 3600.0 + self.margin_seconds, frozenset({"content"})),
        )


class WritePacer:
    """A sliding-window limiter over every window at once; `acquire()` waits for a free slot.

    Waiters are served one at a time in arrival order, so a burst of concurrent issues is spread
    out instead of stampeding when a window opens.
    """

    def __init__(
        self, limits: PaceLimits | None = None, *, clock: Clock = time.monotonic, sleep: Sleep = anyio.sleep
    ) -> None:
        self.limits = limits or PaceLimits()
        self._windows = self.limits.windows()
        self._clock = clock
        self._sleep = sleep
        self._lock = anyio.Lock()
        self._stamps: deque[tuple[float, WriteKind]] = deque()
        self._longest = max(seconds for _, seconds, _ in self._windows)
        self._paused_until = float("-inf")
        self.total = 0
        self.peak_per_minute = 0
        self.waited_seconds = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every writer for `seconds`: GitHub's secondary limit is per token, not per request."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    async def acquire(self, kind: WriteKind = "content") -> None:
        async with self._lock:
            while True:
                now = self._clock()
                wait = self._wait(now, kind)
                if wait <= 0:
                    break
                self.waited_seconds += wait
                await self._sleep(wait)
            self._stamps.append((now, kind))
            self.total += 1
            self.peak_per_minute = max(self.peak_per_minute, self._count_since(now - 60.0))

    def _wait(self, now: float, kind: WriteKind) -> float:
        while self._stamps and self._stamps[0][0] <= now - self._longest:
            self._stamps.popleft()
        wait = max(0.0, self._paused_until - now)
        for limit, seconds, kinds in self._windows:
            if kind not in kinds:
                continue
            inside = [stamp for stamp, counted in self._stamps if stamp > now - seconds and counted in kinds]
            if len(inside) >= limit:
                # The slot frees when the oldest write that keeps the window full falls out of it.
                wait = max(wait, inside[-limit] + seconds - now)
        return wait

    def _count_since(self, start: float) -> int:
        return sum(1 for stamp, _ in self._stamps if stamp > start)


class PacedCaller:
    """A `ToolCaller` whose write calls each wait for the pacer first; reads pass straight through.

    Put it beneath the retrying caller, so every retried attempt of a write is paced as well. A
    secondary-limit answer to any call pauses all writers for its Retry-After (or `default_pause`).
    """

    def __init__(
        self,
        inner: ToolCaller,
        pacer: WritePacer,
        *,
        writes: tuple[str, ...] = WRITE_TOOLS,
        default_pause: float = 60.0,
    ) -> None:
        self.inner = inner
        self.pacer = pacer
        self.writes = writes
        self.default_pause = default_pause

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
        if name in self.writes:
            await self.pacer.acquire(write_kind(name, arguments))
        result = await self.inner.call_tool(name, arguments)
        failure = classify(result)
        if failure is not None and failure.kind == "rate_limited":
            self.pacer.pause(failure.retry_after if failure.retry_after is not None else self.default_pause)
        return result
