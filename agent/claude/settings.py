"""How the Claude engine runs: model, bounds, mode and prices, loaded from YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.models import UsageError
from agent.yaml_file import load_yaml_model

__all__ = ["DEFAULT_SETTINGS_PATH", "ClaudeSettings", "Prices", "SettingsError", "min_cacheable_tokens"]

DEFAULT_SETTINGS_PATH = Path(__file__).with_name("settings.yaml")

Mode = Literal["plan", "direct"]


class SettingsError(UsageError):
    """The settings file is missing or malformed; the message names the field."""


class Prices(BaseModel):
    """US dollars per million tokens. Prices change; they live in configuration, not code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    cache_write: float = Field(ge=0, description="Writing the prompt cache (5-minute entries).")
    cache_read: float = Field(ge=0)
    output: float = Field(ge=0)
    batch_discount: float = Field(
        default=0.5, ge=0, le=1, description="Fraction of the price the Message Batches API charges."
    )


class ClaudeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = "claude-sonnet-5-5"
    mode: Mode = "plan"
    max_turns: int = Field(default=8, ge=1, le=50, description="Model replies allowed for one issue.")
    timeout_seconds: float = Field(default=180.0, gt=0, description="Wall-clock bound on one issue's loop.")
    # Above about 21k output tokens the SDK insists on streaming, which the loop does not use.
    max_tokens: int = Field(default=4096, ge=256, le=21_000, description="Output tokens allowed per reply.")
    max_tool_output_chars: int = Field(default=20_000, ge=1000, description="Longer tool results are clipped.")
    prices: Prices
    second_opinion: bool = Field(
        default=False,
        description="Check Claude against the rules engine; a HIGH-confidence disagreement on the "
        "sub-oncall adds the review label.",
    )
    min_cacheable_tokens: int | None = Field(
        default=None, ge=1, description="Override the model's minimum cacheable prompt length."
    )
    batch_poll_seconds: float = Field(default=30.0, ge=0)
    batch_timeout_seconds: float = Field(default=24 * 3600.0, gt=0)

    @classmethod
    def load(cls, path: Path | None = None) -> ClaudeSettings:
        """The shipped defaults, or the YAML file at `path`."""
        source = path or DEFAULT_SETTINGS_PATH
        return load_yaml_model(source, cls, what="Claude settings", error=SettingsError)

    def cacheable_minimum(self) -> int:
        return self.min_cacheable_tokens or min_cacheable_tokens(self.model)


# The shortest prompt prefix each model family caches; shorter prefixes are silently not cached.
# Checked in order, first match wins; unknown models get the largest value, so a warning errs loud.
_CACHE_MINIMUMS: tuple[tuple[str, int], ...] = (
    ("claude-haiku-3", 2048),
    ("claude-3-haiku", 2048),
    ("claude-3-5-haiku", 2048),
    ("claude-haiku", 4096),
    ("claude-opus-4-5", 4096),
    ("claude-opus-4-6", 4096),
    ("claude-sonnet", 1024),
    ("claude-opus", 1024),
    ("claude-3", 1024),
)
_UNKNOWN_MODEL_MINIMUM = 4096


def min_cacheable_tokens(model: str) -> int:
    for prefix, tokens in _CACHE_MINIMUMS:
        if model.startswith(prefix):
            return tokens
    return _UNKNOWN_MODEL_MINIMUM
