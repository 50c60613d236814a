"""Per-repo sliding-window limit on accepted callbacks.

Only accepted callbacks count, so a repo that keeps hammering after a 429 gets back in as soon as
its window has room, and refused calls cannot lock it out for longer. Keys are verified repos at
level L2 or above, so the number of windows is bounded by the allowlist.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

__all__ = ["RateLimiter", "SlidingWindowLimiter"]


class RateLimiter(Protocol):
    async def allow(self, key: str) -> bool:
        """Count one call for `key` and say whether it is within the limit."""
        ...


class SlidingWindowLimiter:
    """At most `limit` calls per key within any `window` seconds, in this process."""

    def __init__(self, limit: int, window: float = 60.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}

    async def allow(self, key: str) -> bool:
        now = self._clock()
        calls = self._calls.setdefault(key.lower(), deque())
        while calls and calls[0] <= now - self._window:
            calls.popleft()
        if len(calls) >= self._limit:
            return False
        calls.append(now)
        return True
