"""`POST /github/callback`: a downstream job reports its state, and the relay records what it can vouch for.

Order: OIDC bearer (401), allowlist level (L1 and unknown: 200 ignored), rate limit (429), body
(413/400), callback token and its binding to the OIDC repo, the dispatch, PR, SHA and workflow
run (403), state transition (409 when invalid), then the results row. Nothing in the body is taken
as identity: the repo comes from the token, the PR and SHA from the relay's own dispatch record.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Protocol

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent.yaml_file import field_errors
from relay.allowlist import Allowlist, Level, level_at_least
from relay.callback_schema import CallbackBody, body_digest, canonical_json
from relay.callback_token import CallbackTokenError, CallbackTokens
from relay.endpoint import BodyTooLarge, problem, read_body
from relay.oidc import OidcError, OidcUnavailable, VerifiedIdentity
from relay.outbox import Outbox
from relay.ratelimit import RateLimiter
from relay.results import ResultsStore, build_row, timings
from relay.state import Applied, Duplicate, JobKey, JobReport, JobStore, plan_transition

__all__ = ["CallbackEndpoint", "TokenVerifier"]

log = logging.getLogger(__name__)

_CAS_ATTEMPTS = 5


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> VerifiedIdentity: ...


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class CallbackEndpoint:
    def __init__(
        self,
        *,
        verifier: TokenVerifier,
        allowlist: Callable[[], Allowlist],
        limiter: RateLimiter,
        tokens: CallbackTokens,
        outbox: Outbox,
        jobs: JobStore,
        results: ResultsStore,
        max_body_bytes: int,
        rate_limit: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = verifier
        self._allowlist = allowlist
        self._limiter = limiter
        self._tokens = tokens
        self._outbox = outbox
        self._jobs = jobs
        self._results = results
        self._max_body = max_body_bytes
        self._rate_limit = rate_limit
        self._clock = clock

    async def handle(self, request: Request) -> Response:
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not bearer.strip():
            return problem(401, "missing bearer token: send the job's OIDC token (the job needs id-token: write)")
        try:
            identity = await self._verifier.verify(bearer.strip())
        except OidcError as exc:
            return problem(401, f"OIDC token refused: {exc}")
        except OidcUnavailable as exc:
            log.warning("cannot verify a callback: %s", exc)
            return problem(503, "the relay cannot reach the token issuer's keys right now; try again shortly")
        entry = self._allowlist().entry(identity.repository)
        if entry is None:
            return _ignored(f"{identity.repository} is not on the allowlist")
        if not level_at_least(entry.level, "L2"):
            return _ignored(f"{entry.repo} is at level {entry.level}; results are recorded from L2 up")
        if not await self._limiter.allow(entry.repo):
            return problem(429, f"rate limit exceeded for {entry.repo}: {self._rate_limit} callbacks per minute")
        try:
            return await self._accept(request, identity, entry.repo, entry.level)
        except _Refused as exc:
            log.info("callback from %s refused (%d): %s", entry.repo, exc.status, exc)
            return problem(exc.status, str(exc))

    async def _accept(self, request: Request, identity: VerifiedIdentity, repo: str, level: Level) -> Response:
        try:
            text = (await read_body(request, self._max_body)).decode("utf-8")
            raw = json.loads(text)
            body = CallbackBody.model_validate(raw)
        except BodyTooLarge as exc:
            raise _Refused(413, str(exc)) from exc
        except ValidationError as exc:
            fields = field_errors(exc, root="body")
            raise _Refused(400, f"callback body is invalid: {fields}") from exc
        except ValueError as exc:  # also UnicodeDecodeError
            raise _Refused(400, "callback body is not UTF-8 JSON") from exc
        report = body.workflow
        try:
            claims = self._tokens.verify(body.callback_token)
        except CallbackTokenError as exc:
            raise _Refused(403, str(exc)) from exc
        if claims.delivery_id != body.delivery_id or claims.repo.lower() != repo.lower():
            raise _Refused(403, f"callback_token was issued to {claims.repo} for delivery {claims.delivery_id}")
        dispatch = await self._outbox.get(body.delivery_id, repo)
        if dispatch is None:
            raise _Refused(403, f"no dispatch of delivery {body.delivery_id} to {repo} is on record")
        if (dispatch.pr_number or 0) != claims.pr_number or dispatch.head_sha != claims.head_sha:
            raise _Refused(403, "callback_token does not match the PR and head SHA of that dispatch")
        if identity.run_id is not None and identity.run_id != report.run_id:
            raise _Refused(403, f"workflow.run_id {report.run_id} is not the run the OIDC token was issued to")
        if identity.run_attempt is not None and identity.run_attempt != report.run_attempt:
            raise _Refused(403, f"workflow.run_attempt {report.run_attempt} is not the OIDC token's run attempt")
        holder = await self._outbox.redeem(body.delivery_id, repo, report.run_id)
        if holder != report.run_id:
            raise _Refused(403, f"callback_token was already redeemed by workflow run {holder}; one dispatch, one run")

        key = JobKey(
            delivery_id=body.delivery_id,
            repo=dispatch.repo,
            run_id=report.run_id,
            run_attempt=report.run_attempt,
            job_name=report.job_name,
        )
        change = JobReport(
            status=report.status,
            conclusion=report.conclusion,
            workflow_name=report.name,
            check_run_id=report.check_run_id,
            digest=body_digest(raw),
        )
        for _ in range(_CAS_ATTEMPTS):
            transition = plan_transition(await self._jobs.get(key), key, change, self._clock())
            if isinstance(transition, Applied):
                if not await self._jobs.put_if(transition.record, transition.expected):
                    continue  # another callback for this job won the race; decide again from its result
                job, duplicate = transition.record, False
            elif isinstance(transition, Duplicate):
                job, duplicate = transition.record, True
            else:
                raise _Refused(409, f"invalid transition: {transition.message}")
            break
        else:
            raise _Refused(409, f"{key}: changed by concurrent callbacks; send the report again")

        if job.state == report.status:
            # A duplicate rewrites the identical row, which repairs a row lost after the state was saved.
            row = build_row(level=level, dispatch=dispatch, job=job, report=report, raw_body=canonical_json(raw))
            await self._results.upsert(row)
        queue, execution = timings(dispatch, job)
        answer: dict[str, object] = {
            "status": "duplicate" if duplicate else job.state,
            "job": str(key),
            "queue_time": queue,
            "execution_time": execution,
        }
        if duplicate:
            answer["state"] = job.state
        return JSONResponse(answer)


def _ignored(reason: str) -> JSONResponse:
    return JSONResponse({"status": "ignored", "reason": reason})
