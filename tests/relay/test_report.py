from __future__ import annotations

import io
import json
import re
import shlex
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from relay.cli import _parser, main
from relay.report import ReportError, ReportRequest, report
from tests.relay.conftest import StartRelay
from tests.relay.harness import Harness, settled
from tests.relay.oidc_issuer import OidcIssuerEmulator
from tests.relay.payloads import pull_request_event
from tests.relay.servers import serve

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _actions_environment(tmp_path: Path, issuer: OidcIssuerEmulator, client_payload: dict[str, Any]) -> dict[str, str]:
    """The variables GitHub Actions sets for a job started by repository_dispatch."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": client_payload["event_type"], "client_payload": client_payload}))
    return {
        "GITHUB_EVENT_PATH": str(event),
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{issuer.url}/actions-token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": issuer.actions_request_token,
        "GITHUB_RUN_ID": "5001",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_JOB": "test",
        "GITHUB_WORKFLOW": "pytorch-upstream",
        "GITHUB_REPOSITORY": issuer.actions_repository,
        "GITHUB_SERVER_URL": "https://github.com",
    }


async def _dispatched_job(h: Harness, tmp_path: Path, repo: str = "l2org/two") -> dict[str, str]:
    await h.webhook("pull_request", pull_request_event(), delivery="d-1")
    with anyio.fail_after(5):
        await settled(h.relay, "d-1")
    h.issuer.actions_repository = repo
    return _actions_environment(tmp_path, h.issuer, h.github.dispatched_to(repo)[0].client_payload)


async def test_a_downstream_job_reports_start_and_end_through_the_relay(
    start_relay: StartRelay, tmp_path: Path
) -> None:
    async with start_relay() as h:
        environ = await _dispatched_job(h, tmp_path)
        started = await report(ReportRequest(status="in_progress"), environ, http=h.http)
        ended = await report(
            ReportRequest(status="completed", conclusion="success", test_results='{"passed": 5, "skipped": 1}'),
            environ,
            http=h.http,
        )
        assert (started["status"], ended["status"]) == ("in_progress", "completed")
        (row,) = await h.relay.results.query()
        assert (row.downstream_repo, row.workflow_name, row.job_name, row.conclusion) == (
            "l2org/two",
            "pytorch-upstream",
            "test",
            "success",
        )
        assert (row.reported.run_url, row.reported.total_tests) == (
            "https://github.com/l2org/two/actions/runs/5001",
            6,
        )


async def test_the_command_fails_with_the_relays_own_message(
    start_relay: StartRelay, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with start_relay() as h:
        environ = await _dispatched_job(h, tmp_path)
        argv = ["report", "--status", "completed", "--conclusion", "failure"]
        code = await anyio.to_thread.run_sync(main, argv, environ)
        assert code == 1
        error = capsys.readouterr().err
        assert "the relay refused the report (HTTP 409)" in error
        assert "completed without an in_progress report" in error


async def test_an_l1_repo_is_told_its_results_are_ignored_and_the_step_stays_green(
    start_relay: StartRelay, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with start_relay() as h:
        environ = await _dispatched_job(h, tmp_path, repo="l1org/one")
        code = await anyio.to_thread.run_sync(main, ["report", "--status", "in_progress"], environ)
        assert code == 0
        assert json.loads(capsys.readouterr().out)["status"] == "ignored"


async def test_a_job_without_id_token_permission_is_told_what_to_add(start_relay: StartRelay, tmp_path: Path) -> None:
    async with start_relay() as h:
        environ = await _dispatched_job(h, tmp_path)
        del environ["ACTIONS_ID_TOKEN_REQUEST_URL"]
        with pytest.raises(ReportError, match="id-token: write"):
            await report(ReportRequest(status="in_progress"), environ, http=h.http)


async def test_a_workflow_not_started_by_the_relay_cannot_report(tmp_path: Path, issuer: OidcIssuerEmulator) -> None:
    event = tmp_path / "push.json"
    event.write_text(json.dumps({"ref": "refs/heads/main"}))
    with pytest.raises(ReportError, match="not a relay dispatch"):
        await report(ReportRequest(status="in_progress"), {"GITHUB_EVENT_PATH": str(event)})


async def test_a_completed_report_without_a_conclusion_is_refused_before_sending(
    tmp_path: Path, issuer: OidcIssuerEmulator
) -> None:
    environ = _actions_environment(
        tmp_path, issuer, {"event_type": "push", "delivery_id": "d", "callback_token": "t", "callback_url": issuer.url}
    )
    with pytest.raises(ReportError, match="needs a conclusion"):
        await report(ReportRequest(status="completed"), environ)


async def test_a_busy_relay_gets_the_identical_report_again(tmp_path: Path, issuer: OidcIssuerEmulator) -> None:
    bodies: list[bytes] = []

    async def flaky(request: Request) -> JSONResponse:
        bodies.append(await request.body())
        if len(bodies) == 1:
            return JSONResponse({"error": "busy"}, status_code=503)
        return JSONResponse({"status": "in_progress"})

    async with serve(Starlette(routes=[Route("/github/callback", flaky, methods=["POST"])])) as url:
        environ = _actions_environment(
            tmp_path,
            issuer,
            {"event_type": "push", "delivery_id": "d", "callback_token": "t", "callback_url": f"{url}/github/callback"},
        )
        answer = await report(ReportRequest(status="in_progress"), environ, retry_delays=(0.0,), out=io.StringIO())
    assert answer == {"status": "in_progress"}
    assert len(bodies) == 2 and bodies[0] == bodies[1]


def test_the_example_workflow_reads_only_keys_the_relay_sends_and_calls_the_reporter_correctly() -> None:
    text = (EXAMPLES / "downstream-workflow.yml").read_text()
    workflow = yaml.safe_load(text)
    assert workflow[True]["repository_dispatch"]["types"] == ["pull_request", "push"]  # YAML reads `on` as True
    assert workflow["permissions"]["id-token"] == "write"
    sent = {"event_type", "delivery_id", "payload", "upstream_repo", "head_sha", "pr_number", "callback_token"}
    assert set(re.findall(r"client_payload\.(\w+)", text)) <= sent
    commands = [
        " ".join(step["run"].split())
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "relay report" in step.get("run", "")
    ]
    assert len(commands) == 2
    for command in commands:
        command = command.replace("${{ job.status }}", "failure").replace("$JOB_NAME", "shard-1")
        argv = shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "X", command))
        assert argv[:3] == ["python", "-m", "relay"]
        assert _parser().parse_args(argv[3:]).command == "report"
