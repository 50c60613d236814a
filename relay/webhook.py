"""`POST /github/webhook`: verify, filter, route, and record the fan-out durably before answering.

Order: cheap event filter (before any crypto), HMAC-SHA256 over the raw body, upstream-repo check,
routing. A dispatching event is recorded in the outbox with all its targets (durable in its intake
journal) before the answer; the answer never waits for GitHub or for SQLite, so it comes back in
milliseconds whatever the number of targets. A journal that stays full is a 503: GitHub can redeliver.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from relay.allowlist import LABEL_PREFIX, Allowlist
from relay.delivery import Delivery, Target, UpstreamEvent
from relay.endpoint import BodyTooLarge, problem, read_body
from relay.intake import OutboxBusy
from relay.webhook_schema import EventPayload, PayloadError, decode_payload

__all__ = [
    "DISPATCH_ACTIONS",
    "DeliverySink",
    "Dispatch",
    "EventHandlers",
    "HandlerOutcome",
    "Ignore",
    "LabelAdded",
    "Rerequested",
    "Route",
    "UnhandledEvents",
    "WebhookEndpoint",
    "route",
    "signature_matches",
]

log = logging.getLogger(__name__)

HANDLED_EVENTS = frozenset({"pull_request", "push", "check_run", "check_suite"})
DISPATCH_ACTIONS = frozenset({"opened", "reopened", "synchronize", "closed"})
MAX_WEBHOOK_BYTES = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB
_NULL_SHA = "0" * 40


@dataclass(frozen=True)
class Ignore:
    reason: str


@dataclass(frozen=True)
class Dispatch:
    event: UpstreamEvent
    action: str | None
    pr_number: int | None
    head_sha: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class LabelAdded:
    label: str
    pr_number: int
    head_sha: str


@dataclass(frozen=True)
class Rerequested:
    event: Literal["check_run", "check_suite"]


Route = Ignore | Dispatch | LabelAdded | Rerequested


def signature_matches(secret: bytes, body: bytes, header: str) -> bool:
    """Constant-time check of `X-Hub-Signature-256: sha256=<hex>` against the raw body."""
    scheme, _, hex_digest = header.strip().partition("=")
    try:
        claimed = bytes.fromhex(hex_digest)
    except ValueError:
        return False
    return scheme == "sha256" and hmac.compare_digest(hmac.digest(secret, body, "sha256"), claimed)


def route(event: str, payload: EventPayload) -> Route:
    """What a verified upstream event asks the relay to do."""
    action = payload.action
    if event == "push":
        if payload.after is None:
            raise PayloadError("push payload lacks `after`")
        if payload.after == _NULL_SHA:
            return Ignore("push deleted a ref; there is nothing to test")
        return Dispatch("push", None, None, payload.after, ())
    if event == "pull_request":
        if action not in DISPATCH_ACTIONS and action != "labeled":
            return Ignore(f"pull_request action {action!r} does not trigger downstream CI")
        pr = payload.pull_request
        if pr is None:
            raise PayloadError("pull_request payload lacks `pull_request`")
        if action == "labeled":
            if payload.label is None:
                raise PayloadError("labeled payload lacks `label`")
            if not payload.label.name.startswith(LABEL_PREFIX):
                return Ignore(f"label {payload.label.name!r} is not a {LABEL_PREFIX}<device> label")
            return LabelAdded(payload.label.name, pr.number, pr.head.sha)
        return Dispatch("pull_request", action, pr.number, pr.head.sha, tuple(label.name for label in pr.labels))
    if event in ("check_run", "check_suite") and action == "rerequested":
        return Rerequested("check_run" if event == "check_run" else "check_suite")
    return Ignore(f"{event} action {action!r} is not relayed")


class DeliverySink(Protocol):
    async def record(self, delivery: Delivery, targets: Sequence[Target]) -> bool:
        """Make the delivery durable with its targets; False (and nothing stored) when it is known."""
        ...


class HandlerOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: str
    detail: str


class EventHandlers(Protocol):
    """Handlers for the routed events that do not fan out (L3 labels, re-runs)."""

    async def label_added(self, delivery_id: str, event: LabelAdded, payload: Mapping[str, Any]) -> HandlerOutcome: ...

    async def rerequested(self, delivery_id: str, event: Rerequested, payload: Mapping[str, Any]) -> HandlerOutcome: ...


class UnhandledEvents:
    """Until check runs exist, label and re-run events are acknowledged and logged, and change nothing."""

    async def label_added(self, delivery_id: str, event: LabelAdded, payload: Mapping[str, Any]) -> HandlerOutcome:
        log.info("delivery %s: %s on PR #%d needs the check-run handler", delivery_id, event.label, event.pr_number)
        return HandlerOutcome(status="accepted", detail=f"{event.label}: check runs are not handled by this relay yet")

    async def rerequested(self, delivery_id: str, event: Rerequested, payload: Mapping[str, Any]) -> HandlerOutcome:
        log.info("delivery %s: %s rerequested needs the re-run handler", delivery_id, event.event)
        return HandlerOutcome(status="accepted", detail=f"{event.event} re-runs are not handled by this relay yet")


class WebhookEndpoint:
    def __init__(
        self,
        *,
        secret: bytes,
        upstream_repo: str,
        allowlist: Callable[[], Allowlist],
        outbox: DeliverySink,
        handlers: EventHandlers,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._upstream = upstream_repo.lower()
        self._allowlist = allowlist
        self._outbox = outbox
        self._handlers = handlers
        self._clock = clock
        self._targets_of: Allowlist | None = None
        self._targets_cache: dict[tuple[str, tuple[str, ...]], tuple[Target, ...]] = {}

    async def handle(self, request: Request) -> Response:
        event = request.headers.get("x-github-event", "")
        if event not in HANDLED_EVENTS:
            return JSONResponse({"status": "ignored", "reason": f"event {event or '(none)'!r} is not relayed"})
        try:
            body = await read_body(request, MAX_WEBHOOK_BYTES)
        except BodyTooLarge as exc:
            return problem(413, str(exc))
        signature = request.headers.get("x-hub-signature-256")
        if not signature:
            return problem(400, "missing X-Hub-Signature-256 header")
        if not signature_matches(self._secret, body, signature):
            return problem(401, "bad signature: X-Hub-Signature-256 does not match the body and the webhook secret")
        delivery_id = request.headers.get("x-github-delivery", "").strip()
        if not delivery_id or len(delivery_id) > 200:
            return problem(400, "missing or malformed X-GitHub-Delivery header")
        try:
            payload = decode_payload(body)
        except PayloadError as exc:
            return problem(400, str(exc))
        repo = payload.repository.full_name if payload.repository else None
        if repo is None or repo.lower() != self._upstream:
            return JSONResponse({"status": "ignored", "reason": f"repository {repo!r} is not the upstream repo"})
        try:
            decision = route(event, payload)
        except PayloadError as exc:
            return problem(400, f"{event}: {exc}")
        if isinstance(decision, Ignore):
            return JSONResponse({"status": "ignored", "reason": decision.reason})
        if isinstance(decision, Dispatch):
            return await self._fan_out(delivery_id, repo, decision, body)
        try:  # these handlers read more of the body than routing does
            whole = orjson.loads(body)
        except orjson.JSONDecodeError as exc:  # JSON orjson cannot hold, such as 1e999
            return problem(400, f"{event}: body cannot be read: {exc}")
        if isinstance(decision, LabelAdded):
            outcome = await self._handlers.label_added(delivery_id, decision, whole)
        else:
            outcome = await self._handlers.rerequested(delivery_id, decision, whole)
        return JSONResponse(outcome.model_dump())

    async def _fan_out(self, delivery_id: str, repo: str, decision: Dispatch, body: bytes) -> Response:
        allowlist = self._allowlist()
        delivery = Delivery(
            delivery_id=delivery_id,
            event=decision.event,
            action=decision.action,
            upstream_repo=repo,
            pr_number=decision.pr_number,
            head_sha=decision.head_sha,
            received_at=self._clock(),
            body=body,
        )
        targets = self._targets(allowlist, decision)
        try:
            recorded = await self._outbox.record(delivery, targets)
        except OutboxBusy as exc:  # GitHub redelivers on request; nothing was recorded
            return problem(503, str(exc))
        if not recorded:
            return JSONResponse({"status": "duplicate", "delivery_id": delivery_id})
        return JSONResponse({"status": "queued", "delivery_id": delivery_id, "targets": len(targets)}, status_code=202)

    def _targets(self, allowlist: Allowlist, decision: Dispatch) -> tuple[Target, ...]:
        """Every allowlisted repo, and whether it wants check runs; built once per allowlist and label set."""
        labels = tuple(sorted(label for label in decision.labels if label.startswith(LABEL_PREFIX)))
        key = (decision.event, labels)
        if self._targets_of is not allowlist:
            self._targets_of, self._targets_cache = allowlist, {}
        targets = self._targets_cache.get(key)
        if targets is None:
            targets = tuple(
                Target(
                    repo=entry.repo,
                    level=entry.level,
                    check_run_wanted=decision.event == "pull_request"
                    and allowlist.check_run_wanted(entry.repo, labels),
                )
                for entry in allowlist.entries
            )
            if len(self._targets_cache) < 256:  # label sets are few; bound it anyway
                self._targets_cache[key] = targets
        return targets
