"""Eval datasets: historical issues with the labels humans gave them, one JSON object per line."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.models import IssueRef
from agent.yaml_file import field_errors

__all__ = ["DatasetComment", "DatasetError", "DatasetIssue", "dataset_digest", "load_dataset", "write_dataset"]


class DatasetError(ValueError):
    """The dataset file is missing or malformed; the message names the file and line."""


class DatasetComment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    author: str | None = None
    date: dt.date | None = Field(default=None, description="Null for a continuation fragment of a long comment.")
    text: str | None = Field(default=None, description="Null when only the author and date were captured.")


class DatasetIssue(BaseModel):
    """One issue as captured: labels as they stood then, texts possibly excerpted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: int = Field(ge=1)
    url: str
    title: str
    state: Literal["open", "closed"] = "open"
    labels: tuple[str, ...] = ()
    labels_visible: bool = Field(description="False when the labels were not captured, not when there were none.")
    opened: dt.date | None = None
    author: str | None = None
    body: str | None = Field(default=None, description="Often an excerpt; null when only comments were captured.")
    body_partial: bool = False
    comments: tuple[DatasetComment, ...] = ()

    @property
    def ref(self) -> IssueRef:
        return IssueRef.parse(self.url)


def load_dataset(path: Path) -> list[DatasetIssue]:
    """Read a JSONL dataset, refusing bad lines with the line number and what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"cannot read dataset {path}: {exc.strerror}") from exc
    issues: list[DatasetIssue] = []
    seen: dict[int, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            issue = DatasetIssue.model_validate_json(line)
        except ValidationError as exc:
            problems = field_errors(exc, root="<line>")
            raise DatasetError(f"{where}: not a dataset issue: {problems}") from exc
        try:
            ref = issue.ref
        except ValueError as exc:
            raise DatasetError(f"{where}: url {issue.url!r} is not a GitHub issue URL") from exc
        if ref.number != issue.number:
            raise DatasetError(f"{where}: number {issue.number} does not match url {issue.url}")
        if issue.number in seen:
            raise DatasetError(f"{where}: issue {issue.number} already appeared on line {seen[issue.number]}")
        seen[issue.number] = lineno
        issues.append(issue)
    if not issues:
        raise DatasetError(f"dataset {path} holds no issues")
    return issues


def write_dataset(path: Path, issues: list[DatasetIssue]) -> None:
    """Write issues as JSONL in the same shape `load_dataset` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(issue.model_dump(mode="json"), ensure_ascii=False) for issue in issues]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def dataset_digest(path: Path) -> str:
    """A short content hash, so a run records exactly which dataset it scored."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
