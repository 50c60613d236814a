"""`python -m relay report`: the downstream side, run as a step of a GitHub Actions job.

It reads the dispatch from `GITHUB_EVENT_PATH`, asks the Actions runtime for an OIDC token with
the relay's audience, and posts the job's state to the relay. A refusal fails the step with the
relay's own message. Only network errors and 502/503/504 are retried, always with the identical
body, which the relay answers as a duplicate if the first attempt did land.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import anyio
import httpx2
from pydantic import ValidationError

from agent.yaml_file import field_errors
from relay.callback_schema import CallbackBody, TestResults
from relay.config import check_service_url

__all__ = ["ReportError", "ReportRequest", "build_body", "report"]

DEFAULT_AUDIENCE = "pytorch-cross-repo-ci-relay"
_RETRY_STATUSES = frozenset({502, 503, 504})


class ReportError(Exception):
    """The report cannot be made or was refused; the message says why."""


@dataclass(frozen=True)
class ReportRequest:
    """What the step's command line asks for."""

    status: str
    conclusion: str | None = None
    job_name: str | None = None
    check_run_id: str | None = None
    test_results: str | None = None
    artifact_url: str | None = None
    callback_url: str | None = None
    audience: str = DEFAULT_AUDIENCE


def _env(environ: Mapping[str, str], name: str, why: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise ReportError(f"{name} is not set: {why}")
    return value


def _client_payload(environ: Mapping[str, str]) -> dict[str, Any]:
    path = _env(environ, "GITHUB_EVENT_PATH", "run this inside a GitHub Actions job")
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read the event at {path}: {exc}") from exc
    payload = event.get("client_payload") if isinstance(event, dict) else None
    if not isinstance(payload, dict) or "delivery_id" not in payload or "callback_token" not in payload:
        raise ReportError(
            "the triggering event is not a relay dispatch (no client_payload.delivery_id / callback_token); "
            "run the report only in workflows started by repository_dispatch"
        )
    return payload


def build_body(request: ReportRequest, client_payload: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The callback body for this job, validated against the relay's schema."""
    run_id = _env(environ, "GITHUB_RUN_ID", "run this inside a GitHub Actions job")
    attempt = environ.get("GITHUB_RUN_ATTEMPT", "1")
    server = environ.get("GITHUB_SERVER_URL", "https://github.com")
    repository = environ.get("GITHUB_REPOSITORY", "")
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    tests: dict[str, Any] | None = None
    if request.test_results:
        try:
            tests = TestResults.model_validate_json(request.test_results).model_dump(exclude_none=True)
        except ValidationError as exc:
            raise ReportError(f'--test-results must be JSON like {{"passed": 1, "failed": 0}}: {exc}') from exc
    workflow: dict[str, Any] = {
        "schema_version": "1",
        "status": request.status,
        "conclusion": request.conclusion,
        "name": environ.get("GITHUB_WORKFLOW", "workflow"),
        "url": f"{server}/{repository}/actions/runs/{run_id}" if repository else None,
        "run_id": run_id,
        "run_attempt": attempt,
        "job_name": request.job_name or environ.get("GITHUB_JOB", "job"),
        "check_run_id": request.check_run_id or f"{run_id}-{attempt}",
        "started_at": now if request.status == "in_progress" else None,
        "completed_at": now if request.status == "completed" else None,
        "test_results": tests,
        "artifact_url": request.artifact_url,
    }
    body = {
        "event_type": client_payload.get("event_type"),
        "delivery_id": client_payload.get("delivery_id"),
        "callback_token": client_payload.get("callback_token"),
        "workflow": {key: value for key, value in workflow.items() if value is not None or key == "conclusion"},
    }
    try:
        CallbackBody.model_validate(body)
    except ValidationError as exc:
        problems = field_errors(exc, root="")
        raise ReportError(f"the report would be refused: {problems}") from exc
    return body


def _callback_url(request: ReportRequest, client_payload: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    url = request.callback_url or environ.get("RELAY_CALLBACK_URL") or client_payload.get("callback_url")
    if not isinstance(url, str) or not url:
        raise ReportError("no callback URL: pass --callback-url, set RELAY_CALLBACK_URL, or dispatch from the relay")
    try:
        return check_service_url(url)
    except ValueError as exc:
        raise ReportError(f"callback URL refused: {exc}") from exc


async def _id_token(http: httpx2.AsyncClient, environ: Mapping[str, str], audience: str) -> str:
    why = "give the job `permissions: id-token: write` so it can prove its repository to the relay"
    url = _env(environ, "ACTIONS_ID_TOKEN_REQUEST_URL", why)
    bearer = _env(environ, "ACTIONS_ID_TOKEN_REQUEST_TOKEN", why)
    try:
        response = await http.get(url, params={"audience": audience}, headers={"Authorization": f"bearer {bearer}"})
        response.raise_for_status()
        value = response.json().get("value")
    except (httpx2.HTTPError, ValueError, AttributeError) as exc:
        raise ReportError(f"cannot obtain an OIDC token from the Actions runtime: {exc}") from exc
    if not isinstance(value, str) or not value:
        raise ReportError("the Actions runtime returned no OIDC token")
    return value


async def report(
    request: ReportRequest,
    environ: Mapping[str, str],
    *,
    http: httpx2.AsyncClient | None = None,
    retry_delays: Sequence[float] = (1.0, 3.0),
    out: TextIO = sys.stdout,
) -> dict[str, Any]:
    """Post one report; the relay's JSON answer, or ReportError with its message."""
    client_payload = _client_payload(environ)
    body = build_body(request, client_payload, environ)
    url = _callback_url(request, client_payload, environ)
    async with httpx2.AsyncClient(timeout=15.0) if http is None else nullcontext(http) as client:
        token = await _id_token(client, environ, request.audience)
        for delay in (*retry_delays, None):
            try:
                response = await client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
            except httpx2.TransportError as exc:
                if delay is None:
                    raise ReportError(f"cannot reach the relay at {url}: {exc}") from exc
                print(f"relay unreachable ({exc}); retrying in {delay:g}s", file=out)
            else:
                if response.status_code not in _RETRY_STATUSES or delay is None:
                    break
                print(f"relay answered {response.status_code}; retrying in {delay:g}s", file=out)
            await anyio.sleep(delay)
    try:
        answer = response.json()
    except ValueError:
        answer = {"error": response.text[:500]}
    if response.status_code >= 400 or not isinstance(answer, dict):
        message = answer.get("error") if isinstance(answer, dict) else None
        raise ReportError(
            f"the relay refused the report (HTTP {response.status_code}): {message or response.text[:500]}"
        )
    return answer
