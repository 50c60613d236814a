"""The sweep's spending cap: start an issue only when its estimated cost still fits.

The estimate is the running mean of what finished issues cost (from their token usage); before the
first one finishes it is the configured cost of a typical issue. Issues in flight hold their
estimate, so K concurrent workers cannot together overshoot the cap.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agent.engine import Usage

__all__ = ["TYPICAL_ISSUE_USAGE", "Budget"]


# Tokens of an ordinary Claude triage: a few turns over a cached skill prefix.
TYPICAL_ISSUE_USAGE = Usage(
    input_tokens=6_000, cache_creation_input_tokens=8_000, cache_read_input_tokens=16_000, output_tokens=1_500
)


class Budget(BaseModel):
    """Not thread-safe by design: the sweep touches it only from its own event loop."""

    model_config = ConfigDict(validate_assignment=True)

    limit_usd: float | None = Field(default=None, ge=0, description="None: no cap.")
    typical_usd: float = Field(default=0.0, ge=0, description="The estimate before any issue finished.")
    spent_usd: float = 0.0
    finished: int = 0
    reserved: int = 0

    @property
    def estimate_usd(self) -> float:
        return self.spent_usd / self.finished if self.finished else self.typical_usd

    def reserve(self) -> bool:
        """Hold one issue's estimate if it fits under the cap; False means stop starting issues."""
        needed = self.spent_usd + (self.reserved + 1) * self.estimate_usd
        if self.limit_usd is not None and needed > self.limit_usd:
            return False
        self.reserved += 1
        return True

    def settle(self, cost_usd: float) -> None:
        """Replace one reservation by what the issue really cost."""
        self.reserved = max(0, self.reserved - 1)
        self.spent_usd += cost_usd
        self.finished += 1

    def release(self) -> None:
        """Drop one reservation that was never spent (the issue was skipped before any model call)."""
        self.reserved = max(0, self.reserved - 1)
