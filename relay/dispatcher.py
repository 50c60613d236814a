"""Dispatch workers: drain the outbox into `repository_dispatch`, with retries and a bounded budget.

A pump, woken by every change to the outbox or by the next due time, claims due rows (a lease plus
one counted attempt each) and hands them to a fixed pool of workers. A 5xx, a network error or a
rate limit puts the row back with exponential backoff (never sooner than GitHub's Retry-After);
anything else, or the last allowed attempt, records a failure.
Because the attempt is counted before the request leaves, a crash cannot grant extra attempts, and
rows leased by a dead process are released at start. The one case the relay cannot settle is a
request that was in flight when the process died: it is sent again (at-least-once), and its
callback token can still be redeemed by one workflow run only.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from relay.callback_token import CallbackClaims, CallbackTokens
from relay.config import DispatchSettings
from relay.github_app import GitHubError
from relay.outbox import DispatchTask, Outbox

__all__ = ["DispatchClient", "Dispatcher", "backoff", "client_payload"]

log = logging.getLogger(__name__)


class DispatchClient(Protocol):
    async def dispatch(self, repo: str, event_type: str, client_payload: Mapping[str, object]) -> None: ...


def backoff(attempt: int, *, initial: float, maximum: float, retry_after: float | None, jitter: float) -> float:
    """Seconds before the next attempt: doubling from `initial`, capped, jittered, never before Retry-After.

    `jitter` in [0, 1) spreads the delay over the upper half of the step so retries of one fan-out
    do not arrive together.
    """
    step = min(maximum, initial * 2.0 ** max(attempt - 1, 0))
    delay = step * (0.5 + jitter / 2)
    return max(delay, retry_after) if retry_after is not None else delay


def client_payload(task: DispatchTask, *, callback_token: str, callback_url: str) -> dict[str, Any]:
    """The dispatch's `client_payload`: the raw webhook plus flat keys downstream workflows read.

    GitHub accepts at most 10 top-level keys; this uses 8.
    """
    delivery = task.delivery
    return {
        "event_type": delivery.event,
        "delivery_id": delivery.delivery_id,
        "payload": json.loads(delivery.body),
        "upstream_repo": delivery.upstream_repo,
        "head_sha": delivery.head_sha,
        "pr_number": delivery.pr_number,
        "callback_token": callback_token,
        "callback_url": callback_url,
    }


class Dispatcher:
    def __init__(
        self,
        *,
        outbox: Outbox,
        github: DispatchClient,
        tokens: CallbackTokens,
        callback_url: str,
        settings: DispatchSettings,
        lease_seconds: float,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._outbox = outbox
        self._github = github
        self._tokens = tokens
        self._callback_url = callback_url
        self._settings = settings
        self._lease = lease_seconds
        self._clock = clock
        self._jitter = jitter

    async def run(self) -> None:
        """Dispatch until cancelled."""
        released = await self._outbox.release_leases()
        if released:
            log.warning("%d dispatch(es) were in flight when the relay stopped; sending them again", released)
        send, receive = anyio.create_memory_object_stream[DispatchTask](0)
        async with anyio.create_task_group() as tg, send, receive:
            for _ in range(self._settings.workers):
                tg.start_soon(self._work, receive.clone())
            await self._pump(send)

    async def _pump(self, send: ObjectSendStream[DispatchTask]) -> None:
        while True:
            changed = self._outbox.watch()  # taken before reading, so no change slips between read and wait
            tasks = await self._outbox.claim_due(self._clock(), limit=self._settings.workers, lease_seconds=self._lease)
            for task in tasks:
                await send.send(task)
            if tasks:
                continue
            due = await self._outbox.next_due()
            with anyio.move_on_after(None if due is None else max(due - self._clock(), 0.0)):
                await changed.wait()

    async def _work(self, receive: ObjectReceiveStream[DispatchTask]) -> None:
        async with receive:
            async for task in receive:
                try:
                    await self._send(task)
                except Exception as exc:  # a worker's top level: one bad row must not stop the pool
                    log.exception("dispatch of %s to %s crashed", task.record.delivery_id, task.record.repo)
                    await self._outbox.mark_failed(task.record.delivery_id, task.record.repo, f"relay error: {exc!r}")

    async def _send(self, task: DispatchTask) -> None:
        record, delivery = task.record, task.delivery
        claims = CallbackClaims(
            delivery_id=delivery.delivery_id,
            repo=record.repo,
            pr_number=delivery.pr_number or 0,
            head_sha=delivery.head_sha,
        )
        token = self._tokens.mint(claims, issued_at=delivery.received_at)
        payload = client_payload(task, callback_token=token, callback_url=self._callback_url)
        try:
            await self._github.dispatch(record.repo, delivery.event, payload)
        except GitHubError as exc:
            await self._failed(task, exc)
            return
        await self._outbox.mark_dispatched(record.delivery_id, record.repo, self._clock())
        log.info("dispatched %s %s to %s", delivery.event, delivery.delivery_id, record.repo)

    async def _failed(self, task: DispatchTask, exc: GitHubError) -> None:
        record = task.record
        if exc.retryable and record.attempts < self._settings.max_attempts:
            delay = backoff(
                record.attempts,
                initial=self._settings.backoff_initial_seconds,
                maximum=self._settings.backoff_max_seconds,
                retry_after=exc.retry_after,
                jitter=self._jitter(),
            )
            log.warning(
                "%s to %s, attempt %d: %s; retrying in %.1fs",
                record.delivery_id,
                record.repo,
                record.attempts,
                exc,
                delay,
            )
            await self._outbox.mark_retry(record.delivery_id, record.repo, self._clock() + delay, str(exc))
            return
        reason = f"{exc} (attempt {record.attempts} of {self._settings.max_attempts})"
        log.error("giving up on %s to %s: %s", record.delivery_id, record.repo, reason)
        await self._outbox.mark_failed(record.delivery_id, record.repo, reason)
