"""The record of one triage run, as the CLI prints it, the audit log stores it and the sweep reports it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from agent.engine import Usage
from agent.guarded_session import ToolCallRecord
from agent.models import Effects, IssueRef, Plan

__all__ = ["FailureKind", "Status", "TriageResult"]

Status = Literal["planned", "applied", "failed"]
# engine: no plan (refusal, turn limit, API error, timeout); github: reading or writing failed;
# stale: the issue changed after it was read; unverified: the live issue lacks labels the effects promised.
FailureKind = Literal["engine", "github", "stale", "unverified"]


class TriageResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    ref: IssueRef
    engine: str
    status: Status
    applied: bool = False
    plan: Plan | None = None
    effects: Effects | None = None
    failure: str | None = None
    failure_kind: FailureKind | None = None
    usage: Usage = Usage()
    flags: tuple[str, ...] = ()
    live_labels: tuple[str, ...] | None = None
    tool_calls: tuple[ToolCallRecord, ...] = ()
    started_at: datetime
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != "failed"
