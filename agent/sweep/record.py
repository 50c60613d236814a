"""The values the sweep writes to its run record: one event per thing that happened, never updated."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.engine import Usage
from agent.models import Decision, Outcome

__all__ = ["Event", "EventKind", "IssueRecord", "IssueStatus", "Listing", "Phase", "ProcessStats", "SkipReason"]

Phase = Literal[1, 2]
IssueStatus = Literal["applied", "planned", "failed", "skipped"]
# budget: the cap would be exceeded; busy: another sweep holds the issue; done_elsewhere: another sweep
# finished it after this one listed the queue; not_pending: the fresh read shows nothing is owed.
SkipReason = Literal["budget", "busy", "done_elsewhere", "not_pending"]
EventKind = Literal["started", "resumed", "listed", "issue", "budget_stop", "finished", "aborted"]


class IssueRecord(BaseModel):
    """What the sweep did to one issue in one attempt."""

    model_config = ConfigDict(frozen=True)

    issue: int
    phase: Phase
    status: IssueStatus = Field(
        description="applied: written and verified; planned: dry run; failed: see `failure`; "
        "skipped: not triaged, see `reason`."
    )
    decision: Decision | None = None
    outcome: Outcome | None = None
    added: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()
    failure: str | None = None
    reason: SkipReason | None = None
    usage: Usage = Usage()
    seconds: float = 0.0
    verified: bool = False
    marker_reapplied: bool = False
    attempts: int = 1


class Listing(BaseModel):
    """What the queue held when a process listed it, by what the sweep owed each issue."""

    model_config = ConfigDict(frozen=True)

    queue: int = 0
    phase1: int = 0
    phase2: int = 0
    beyond_limit: int = 0
    finished: int = 0
    left_for_humans: int = 0
    done_in_run: int = Field(default=0, description="Already finished earlier in this run (a resume).")


class ProcessStats(BaseModel):
    """What one process of a run did, written when it stops."""

    model_config = ConfigDict(frozen=True)

    seconds: float = 0.0
    writes: int = 0
    peak_writes_per_minute: int = 0
    paced_seconds: float = Field(default=0.0, description="Time writes waited for the rate limits.")


class Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: EventKind
    at: datetime
    issue: IssueRecord | None = None
    listing: Listing | None = None
    stats: ProcessStats | None = None
    note: str | None = None
    process: str | None = Field(default=None, description="host:pid of the process that wrote it.")
