"""Trouble the sandbox can be told to cause: slow calls, server errors, secondary rate limits, a person
editing labels between the bot's read and its write, and a token whose label writes GitHub drops.

Everything is counted, nothing is random, so a test knows exactly which call will fail.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Faults", "HumanEdit", "Injected", "InjectedKind"]

InjectedKind = Literal["server_error", "rate_limited", "human_edit", "dropped_labels"]


class HumanEdit(BaseModel):
    """A label change someone makes in the web UI right after the bot's next `issue_read`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    remove_labels: tuple[str, ...] = ()
    add_labels: tuple[str, ...] = ()
    issue_number: int | None = Field(default=None, description="Only after a read of this issue; None: any issue.")


class Injected(BaseModel):
    """One fault the sandbox caused, for tests to assert on."""

    model_config = ConfigDict(frozen=True)

    kind: InjectedKind
    tool: str
    detail: str = ""


class Faults(BaseModel):
    """Set the fields (in a test, or from command-line flags); the server consumes the counters."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    latency_seconds: float = Field(default=0.0, ge=0.0, description="Added to every tool call.")
    fail_next: int = Field(default=0, ge=0, description="How many coming calls answer with a 5xx error.")
    fail_tool: str | None = Field(default=None, description="Only calls of this tool count for fail_next.")
    fail_status: int = Field(default=502, ge=500, le=599)
    rate_limit_next: int = Field(default=0, ge=0, description="How many coming calls hit a secondary rate limit.")
    rate_limit_tool: str | None = Field(default=None, description="Only calls of this tool count for rate_limit_next.")
    retry_after_seconds: int = Field(default=2, ge=0, description="The Retry-After a rate-limited answer carries.")
    human_edit: HumanEdit | None = None
    drop_label_writes: bool = Field(
        default=False,
        description="Accept `labels` in issue_write but change nothing, as GitHub does for a token "
        "without triage access.",
    )
    injected: list[Injected] = Field(default_factory=list)

    def take_error(self, tool: str) -> Literal["rate_limited", "server_error"] | None:
        """Which error, if any, this call of `tool` must answer with. Rate limits come first."""
        if self.rate_limit_next and self.rate_limit_tool in (None, tool):
            self.rate_limit_next -= 1
            self.injected.append(
                Injected(kind="rate_limited", tool=tool, detail=f"retry after {self.retry_after_seconds}s")
            )
            return "rate_limited"
        if self.fail_next and self.fail_tool in (None, tool):
            self.fail_next -= 1
            self.injected.append(Injected(kind="server_error", tool=tool, detail=str(self.fail_status)))
            return "server_error"
        return None

    def take_human_edit(self, tool: str, issue_number: int) -> HumanEdit | None:
        """The pending edit, once, right after a successful `issue_read` of the issue it is aimed at."""
        edit = self.human_edit
        if edit is None or tool != "issue_read" or edit.issue_number not in (None, issue_number):
            return None
        self.human_edit = None
        detail = f"#{issue_number}: -{list(edit.remove_labels)} +{list(edit.add_labels)}"
        self.injected.append(Injected(kind="human_edit", tool=tool, detail=detail))
        return edit

    def note_dropped_labels(self, tool: str, issue_number: int) -> None:
        self.injected.append(Injected(kind="dropped_labels", tool=tool, detail=f"#{issue_number}"))

    def kinds(self) -> list[InjectedKind]:
        return [event.kind for event in self.injected]
