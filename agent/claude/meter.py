"""What one issue cost: tokens by kind summed over turns, tool calls, wall time, and dollars."""

from __future__ import annotations

import time

from anthropic.types import Usage as ApiUsage

from agent.claude.settings import Prices
from agent.engine import Usage

__all__ = ["Meter", "cost_usd"]


def cost_usd(usage: Usage, prices: Prices, *, batch: bool = False) -> float:
    """Dollars for `usage` at `prices` (per million tokens); batch requests get the batch discount."""
    dollars = (
        usage.input_tokens * prices.input
        + usage.cache_creation_input_tokens * prices.cache_write
        + usage.cache_read_input_tokens * prices.cache_read
        + usage.output_tokens * prices.output
    ) / 1_000_000
    return dollars * (prices.batch_discount if batch else 1.0)


class Meter:
    """Accumulates usage as replies arrive, so a failure can still report what it spent."""

    def __init__(self, prices: Prices, *, batch: bool = False) -> None:
        self._prices = prices
        self._batch = batch
        self._started = time.monotonic()
        self._total = Usage()

    def add_reply(self, usage: ApiUsage) -> None:
        self._total += Usage(
            input_tokens=usage.input_tokens,
            cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
            cache_read_input_tokens=usage.cache_read_input_tokens or 0,
            output_tokens=usage.output_tokens,
            turns=1,
        )

    def add_tool_calls(self, count: int) -> None:
        self._total += Usage(tool_calls=count)

    def usage(self) -> Usage:
        spent = self._total.model_copy(update={"wall_seconds": time.monotonic() - self._started})
        return spent.model_copy(update={"cost_usd": cost_usd(spent, self._prices, batch=self._batch)})
