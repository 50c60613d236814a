"""The values that cross the triage pipeline: issue reference, snapshot, plan and effects."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "DEFAULT_REPO",
    "Comment",
    "Confidence",
    "Decision",
    "Effects",
    "IssueRef",
    "IssueSnapshot",
    "Note",
    "Outcome",
    "Plan",
    "UsageError",
]

DEFAULT_REPO = "pytorch/pytorch"

Decision = Literal[
    "already_classified",
    "not_distributed",
    "route",
    "classify",
    "low_confidence",
    "high_priority",
    "needs_reproduction",
]
Confidence = Literal["HIGH", "MEDIUM", "LOW"]
Outcome = Literal["triaged", "review", "waiting_on_reporter", "routed", "marked", "skipped", "no_action"]


class UsageError(ValueError):
    """The caller asked for something malformed; the message says what to do instead."""


_REPO = r"(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/(?P<repo>[A-Za-z0-9._-]{1,100})"
_SHORT = re.compile(rf"^{_REPO}#(?P<number>[1-9][0-9]*)$")
_URL = re.compile(rf"^https://github\.com/{_REPO}/issues/(?P<number>[1-9][0-9]*)/?(?:[#?].*)?$")
_NUMBER = re.compile(r"^#?(?P<number>[1-9][0-9]*)$")
_REPO_ONLY = re.compile(rf"^{_REPO}$")


class IssueRef(BaseModel):
    """One issue in one repository."""

    model_config = ConfigDict(frozen=True)

    owner: str
    repo: str
    number: int = Field(ge=1)

    @property
    def full_repo(self) -> str:
        return f"{self.owner}/{self.repo}"

    def __str__(self) -> str:
        return f"{self.owner}/{self.repo}#{self.number}"

    @classmethod
    def parse(cls, text: str, *, repo: str = DEFAULT_REPO) -> IssueRef:
        """Accept `owner/repo#N`, an issue URL, or a bare `N` (read in `repo`)."""
        value = text.strip()
        match = _SHORT.match(value) or _URL.match(value)
        if match:
            return cls(owner=match["owner"], repo=match["repo"], number=int(match["number"]))
        match = _NUMBER.match(value)
        if match:
            owner, name = split_repo(repo)
            return cls(owner=owner, repo=name, number=int(match["number"]))
        raise UsageError(
            f"cannot read {text!r} as an issue: give owner/repo#N, "
            "https://github.com/owner/repo/issues/N, or N together with --repo owner/repo"
        )


def split_repo(repo: str) -> tuple[str, str]:
    """Split `owner/name`, refusing anything else with a usage error."""
    match = _REPO_ONLY.match(repo.strip())
    if not match:
        raise UsageError(f"--repo must look like owner/name, got {repo!r}")
    return match["owner"], match["repo"]


class Comment(BaseModel):
    model_config = ConfigDict(frozen=True)

    author: str
    body: str
    created_at: datetime | None = None


class IssueSnapshot(BaseModel):
    """An issue as read at one moment; `updated_at` is what the stale-plan check compares."""

    model_config = ConfigDict(frozen=True)

    ref: IssueRef
    title: str
    body: str = ""
    state: Literal["open", "closed"] = "open"
    author: str | None = None
    labels: tuple[str, ...] = ()
    comments: tuple[Comment, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def has_label(self, name: str) -> bool:
        """Exact match only: `bot-triaged` is not `triaged`."""
        return name in self.labels


class Plan(BaseModel):
    """What an engine proposes. Engines never write; the guard turns this into `Effects`."""

    model_config = ConfigDict(extra="forbid")

    decision: Decision = Field(description="Which step of the skill decided the outcome.")
    labels: list[str] = Field(description="Labels to ADD. Nothing is ever removed.")
    templates: list[str] = Field(
        default_factory=list, description="Keys of comment templates to post; free text is never posted."
    )
    confidence: Confidence = Field(description="HIGH, MEDIUM or LOW, calibrated as the rubric says.")
    reasoning: str = Field(description="Two to six sentences naming the signals that decided the plan.")

    @field_validator("labels", "templates")
    @classmethod
    def _strip(cls, values: list[str]) -> list[str]:
        return [v.strip() for v in values if v.strip()]


class Note(BaseModel):
    """Why the guard dropped, rewrote or added something."""

    model_config = ConfigDict(frozen=True)

    rule: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.detail}"


class Effects(BaseModel):
    """What applying a plan will do: only additions and template comments."""

    model_config = ConfigDict(frozen=True)

    add_labels: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()
    comment: str | None = None
    notes: tuple[Note, ...] = ()
    outcome: Outcome = "no_action"

    @property
    def changes_anything(self) -> bool:
        return bool(self.add_labels) or self.comment is not None
