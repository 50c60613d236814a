"""What the webhook hands the outbox: one verified upstream event and the repos it fans out to."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from relay.allowlist import Level

__all__ = ["Delivery", "Target", "UpstreamEvent"]

UpstreamEvent = Literal["pull_request", "push"]


class Delivery(BaseModel):
    """One verified upstream webhook that fans out."""

    model_config = ConfigDict(frozen=True)

    delivery_id: str
    event: UpstreamEvent
    action: str | None
    upstream_repo: str
    pr_number: int | None
    head_sha: str
    received_at: float
    body: bytes = Field(repr=False)
    """The webhook body exactly as GitHub signed it; passed through as `client_payload.payload`."""


class Target(BaseModel):
    model_config = ConfigDict(frozen=True)

    repo: str
    level: Level
    check_run_wanted: bool
