"""The sandbox's issue values: what goes into the store, what comes out, and the dataset line format."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.yaml_file import field_errors

__all__ = [
    "UNKNOWN_DATE",
    "CommentSeed",
    "DatasetComment",
    "DatasetError",
    "DatasetRecord",
    "IssueKey",
    "IssueSeed",
    "LabelInfo",
    "StoredComment",
    "StoredIssue",
    "format_time",
    "parse_time",
]

State = Literal["open", "closed"]
StateReason = Literal["completed", "not_planned", "duplicate", "reopened"]

# GitHub always knows when an issue was opened; a captured record sometimes does not.
UNKNOWN_DATE = datetime(1970, 1, 1, tzinfo=UTC)

_ISSUE_URL = re.compile(r"^https://github\.com/(?P<owner>[^/\s]+)/(?P<name>[^/\s]+)/issues/(?P<number>[0-9]+)")


class DatasetError(ValueError):
    """A dataset line is not a usable issue record; the message names the line and the field."""


def parse_time(value: str | date | datetime) -> datetime:
    """Read `YYYY-MM-DD` or an ISO 8601 timestamp as an aware UTC time, to the second as GitHub keeps it."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        text = value.strip()
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, the form github-mcp-server prints."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class IssueKey(BaseModel):
    model_config = ConfigDict(frozen=True)

    repo: str = Field(description="owner/name")
    number: int = Field(ge=1)

    def __str__(self) -> str:
        return f"{self.repo}#{self.number}"


class CommentSeed(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    author: str
    body: str
    created_at: datetime

    @field_validator("created_at", mode="before")
    @classmethod
    def _time(cls, value: str | date | datetime) -> datetime:
        return parse_time(value)


class IssueSeed(BaseModel):
    """An issue to put into the store as it stands at one moment (e.g. before triage, for replay)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    repo: str = Field(pattern=r"^[^/\s]+/[^/\s]+$")
    number: int = Field(ge=1)
    title: str
    body: str = ""
    state: State = "open"
    state_reason: StateReason | None = None
    author: str = "ghost"
    created_at: datetime = UNKNOWN_DATE
    updated_at: datetime | None = Field(default=None, description="Defaults to the latest known activity.")
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    comments: tuple[CommentSeed, ...] = ()

    @field_validator("created_at", "updated_at", mode="before")
    @classmethod
    def _time(cls, value: str | date | datetime | None) -> datetime | None:
        return None if value is None else parse_time(value)

    @property
    def key(self) -> IssueKey:
        return IssueKey(repo=self.repo, number=self.number)

    def last_activity(self) -> datetime:
        if self.updated_at is not None:
            return self.updated_at
        return max([self.created_at, *(comment.created_at for comment in self.comments)])


class LabelInfo(BaseModel):
    """A repository label definition, as `get_labels` reports it."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    color: str = "ededed"
    description: str = ""


class StoredComment(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    author: str
    body: str
    created_at: datetime
    updated_at: datetime


class StoredIssue(BaseModel):
    """An issue as the store holds it now."""

    model_config = ConfigDict(frozen=True)

    id: int
    repo: str
    number: int
    title: str
    body: str
    state: State
    state_reason: StateReason | None
    author: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    labels: tuple[str, ...]
    assignees: tuple[str, ...]
    comments: tuple[StoredComment, ...]

    @property
    def key(self) -> IssueKey:
        return IssueKey(repo=self.repo, number=self.number)

    @property
    def owner(self) -> str:
        return self.repo.split("/", 1)[0]

    @property
    def html_url(self) -> str:
        return f"https://github.com/{self.repo}/issues/{self.number}"

    def has_label(self, name: str) -> bool:
        """GitHub label names compare without regard to case; `triaged` still never matches `bot-triaged`."""
        wanted = name.casefold()
        return any(label.casefold() == wanted for label in self.labels)


class DatasetComment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    author: str | None = None
    date: str | None = None
    text: str | None = None


class DatasetRecord(BaseModel):
    """One line of the evaluation data format (see the data README): a captured issue and its labels."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    number: int = Field(ge=1)
    url: str
    title: str
    state: State = "open"
    labels: tuple[str, ...] = ()
    labels_visible: bool = True
    opened: str | None = None
    author: str | None = None
    body: str | None = None
    body_partial: bool = False
    comments: tuple[DatasetComment, ...] = ()

    @field_validator("state", mode="before")
    @classmethod
    def _state(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def repo(self) -> str:
        match = _ISSUE_URL.match(self.url)
        if match is None:
            raise DatasetError(f"issue #{self.number}: url {self.url!r} is not a github.com issue URL")
        return f"{match['owner']}/{match['name']}"

    @classmethod
    def parse_line(cls, line: str, *, where: str = "line") -> DatasetRecord:
        try:
            return cls.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from exc
        except ValidationError as exc:
            fields = field_errors(exc)
            raise DatasetError(f"{where}: {fields}") from exc

    def to_seed(self, *, labels: tuple[str, ...] | None = None) -> IssueSeed:
        """The issue as the store should hold it; `labels` overrides the captured ones (e.g. pre-triage)."""
        created = parse_time(self.opened) if self.opened else None
        comments: list[CommentSeed] = []
        previous = created
        for comment in self.comments:
            if comment.text is None:
                continue
            # A continuation fragment carries no date of its own; it belongs right after the one before.
            moment = parse_time(comment.date) if comment.date else previous
            if moment is None:
                moment = UNKNOWN_DATE
            comments.append(CommentSeed(author=comment.author or "ghost", body=comment.text, created_at=moment))
            previous = moment
        if created is None:
            created = min((c.created_at for c in comments), default=UNKNOWN_DATE)
        # Captured dates are days and sometimes disagree; keep the thread after the opening post.
        comments = [c if c.created_at >= created else c.model_copy(update={"created_at": created}) for c in comments]
        return IssueSeed(
            repo=self.repo,
            number=self.number,
            title=self.title,
            body=self.body or "",
            state=self.state,
            state_reason="completed" if self.state == "closed" else None,
            author=self.author or "ghost",
            created_at=created,
            labels=tuple(self.labels) if labels is None else labels,
            comments=tuple(comments),
        )
