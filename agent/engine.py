"""What every engine offers: a plan for one issue, with what it cost to get it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field

from agent.models import IssueSnapshot, Plan

if TYPE_CHECKING:
    from agent.guarded_session import GuardedSession
    from agent.skillpack import SkillPack

__all__ = ["Engine", "EngineFailure", "Proposal", "Usage"]


class Usage(BaseModel):
    """Token usage and cost of one triage; zero for the rules engine."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    output_tokens: int = 0
    turns: int = 0
    tool_calls: int = 0
    wall_seconds: float = 0.0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields})


class Proposal(BaseModel):
    model_config = ConfigDict(frozen=True)

    plan: Plan
    engine: str
    usage: Usage = Usage()
    flags: tuple[str, ...] = Field(
        default=(), description="Suspicious things found in the issue text (hidden comments, fake tool output)."
    )


class EngineFailure(Exception):
    """The engine could not produce a plan (refusal, turn limit, API error, timeout).

    Callers turn this into a safe outcome: nothing written, the run recorded as failed.
    """

    def __init__(self, reason: str, usage: Usage | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.usage = usage or Usage()


class Engine(Protocol):
    name: str

    async def propose(self, snapshot: IssueSnapshot, pack: SkillPack, github: GuardedSession) -> Proposal:
        """Plan the triage of `snapshot`. `github` is the only way an engine may reach GitHub."""
        ...
