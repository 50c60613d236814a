"""The callback body a downstream job posts: the relay's wire format, shared by endpoint and reporter.

Everything in it is untrusted. It is compatible with upstream's reporting action, whose body echoes
the whole `client_payload` (extra keys such as `payload` are ignored) and adds a `workflow` object.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

__all__ = ["CallbackBody", "Conclusion", "TestResults", "WorkflowReport", "body_digest", "canonical_json"]

Conclusion = Literal["success", "failure", "cancelled", "skipped", "timed_out", "neutral", "action_required", "stale"]


def _text(value: Any) -> Any:
    """Accept numbers where upstream's action sends ids as strings, and vice versa."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _http_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    return value


class TestResults(BaseModel):
    """A summary of the tests the job ran (not the list of tests)."""

    __test__ = False  # a model, not a pytest class
    model_config = ConfigDict(extra="ignore", frozen=True)

    passed: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    skipped: int = Field(default=0, ge=0)
    total: int | None = Field(default=None, ge=0)

    @property
    def counted_total(self) -> int:
        return self.total if self.total is not None else self.passed + self.failed + self.skipped


class WorkflowReport(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Annotated[str, BeforeValidator(_text)] = "1"
    status: Literal["in_progress", "completed"]
    conclusion: Conclusion | None = None
    name: str = Field(min_length=1, max_length=200, description="The workflow's name.")
    job_name: str = Field(min_length=1, max_length=200, description="Unique per matrix leg; names the check run.")
    run_id: int = Field(ge=1)
    run_attempt: int = Field(default=1, ge=1)
    check_run_id: Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=100)]
    url: Annotated[str | None, Field(max_length=2000)] = None
    started_at: Annotated[str | None, Field(max_length=64)] = None
    completed_at: Annotated[str | None, Field(max_length=64)] = None
    test_results: TestResults | None = None
    artifact_url: Annotated[str | None, Field(max_length=2000)] = None

    @model_validator(mode="after")
    def _consistent(self) -> WorkflowReport:
        if self.status == "completed" and self.conclusion is None:
            raise ValueError("a completed report needs a conclusion")
        if self.status == "in_progress" and self.conclusion is not None:
            raise ValueError("an in_progress report has no conclusion")
        _http_url(self.url)
        _http_url(self.artifact_url)
        return self


class CallbackBody(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    delivery_id: str = Field(min_length=1, max_length=200)
    callback_token: str = Field(min_length=1, max_length=4096)
    event_type: str | None = None
    workflow: WorkflowReport


def canonical_json(raw: Any) -> str:
    """A parsed JSON body written back independently of the sender's key order and spacing."""
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def body_digest(raw: Any) -> str:
    """Hash of the canonical body: equal for exact duplicates."""
    return hashlib.sha256(canonical_json(raw).encode()).hexdigest()
