from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from relay.callback_token import CallbackClaims, CallbackTokens
from tests.relay.conftest import StartRelay
from tests.relay.harness import CALLBACK_KEY, Harness, report_body, settled
from tests.relay.payloads import pull_request_event

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def dispatched(
    start_relay: StartRelay, **options: Any
) -> AsyncIterator[tuple[Harness, dict[str, dict[str, Any]]]]:
    """A relay that has fanned PR #4242 out; yields it and each repo's client_payload."""
    async with start_relay(**options) as h:
        await h.webhook("pull_request", pull_request_event("opened", number=4242, sha="a" * 40), delivery="d-1")
        with anyio.fail_after(5):
            await settled(h.relay, "d-1")
        yield h, {d.repo: d.client_payload for d in h.github.dispatches}


# -- authentication ------------------------------------------------------------------------------


async def test_a_callback_without_a_bearer_token_is_401(start_relay: StartRelay) -> None:
    async with dispatched(start_relay) as (h, payloads):
        answer = await h.callback(report_body(payloads["l2org/two"], "in_progress"), token=None)
        assert answer.status_code == 401
        assert "id-token: write" in answer.json()["error"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong audience", "wrong audience"),
        ("wrong issuer", "not trusted"),
        ("expired", "expired"),
        ("forged", "signature does not verify"),
        ("unknown key", "publishes no key"),
        ("not a jwt", "not a JWT"),
    ],
)
async def test_a_callback_with_a_bad_oidc_token_is_401_and_says_why(
    start_relay: StartRelay, forger_key: rsa.RSAPrivateKey, case: str, expected: str
) -> None:
    async with dispatched(start_relay) as (h, payloads):
        repo = "l2org/two"
        tokens: dict[str, Callable[[], str]] = {
            "wrong audience": lambda: h.issuer.token(repo, audience="someone-else"),
            "wrong issuer": lambda: h.issuer.token(repo, issuer="https://token.example.org"),
            "expired": lambda: h.issuer.token(repo, now=h.clock() - 3600),
            "forged": lambda: h.issuer.token(repo, key=forger_key),
            "unknown key": lambda: h.issuer.token(repo, key=forger_key, kid="forger"),
            "not a jwt": lambda: "not-a-token",
        }
        token = tokens[case]()
        answer = await h.callback(report_body(payloads[repo], "in_progress"), token=token)
        assert answer.status_code == 401
        assert expected in answer.json()["error"]
        assert await h.relay.results.query() == []


async def test_l1_and_unknown_repos_get_200_ignored_with_the_reason_and_change_nothing(
    start_relay: StartRelay,
) -> None:
    async with dispatched(start_relay) as (h, payloads):
        l1 = await h.callback(report_body(payloads["l1org/one"], "in_progress"), token=h.issuer.token("l1org/one"))
        stranger = await h.callback(report_body(payloads["l1org/one"], "in_progress"), token=h.issuer.token("x/y"))
        assert (l1.status_code, stranger.status_code) == (200, 200)
        assert l1.json() == {
            "status": "ignored",
            "reason": "l1org/one is at level L1; results are recorded from L2 up",
        }
        assert stranger.json() == {"status": "ignored", "reason": "x/y is not on the allowlist"}
        assert await h.relay.results.query() == []


async def test_callbacks_beyond_the_per_repo_rate_limit_are_429(start_relay: StartRelay) -> None:
    async with dispatched(start_relay, callback={"rate_limit_per_minute": 2}) as (h, payloads):
        body = report_body(payloads["l2org/two"], "in_progress")
        answers = [(await h.callback(body, token=h.issuer.token("l2org/two"))).status_code for _ in range(3)]
        other = await h.callback(report_body(payloads["l3org/four"], "in_progress"), token=h.issuer.token("l3org/four"))
        assert answers == [200, 200, 429]
        assert other.status_code == 200  # the limit is per repo


# -- solicitation: the callback token ------------------------------------------------------------


async def test_a_repo_cannot_report_on_a_dispatch_made_to_another_repo(start_relay: StartRelay) -> None:
    async with dispatched(start_relay) as (h, payloads):
        stolen = report_body(payloads["l2org/two"], "in_progress")
        answer = await h.callback(stolen, token=h.issuer.token("l2org/three"))
        assert answer.status_code == 403
        assert "issued to l2org/two" in answer.json()["error"]


async def test_a_callback_for_a_delivery_never_dispatched_is_403(start_relay: StartRelay) -> None:
    async with dispatched(start_relay) as (h, payloads):
        tokens = CallbackTokens(CALLBACK_KEY, ttl=3600)
        claims = CallbackClaims(delivery_id="never", repo="l2org/two", pr_number=4242, head_sha="a" * 40)
        body = report_body(payloads["l2org/two"], "in_progress")
        body.update(delivery_id="never", callback_token=tokens.mint(claims, issued_at=h.clock()))
        answer = await h.callback(body, token=h.issuer.token("l2org/two"))
        assert answer.status_code == 403
        assert "no dispatch of delivery never to l2org/two" in answer.json()["error"]


async def test_a_forged_or_missing_callback_token_is_403(start_relay: StartRelay) -> None:
    async with dispatched(start_relay) as (h, payloads):
        forged = CallbackTokens(b"f" * 48, ttl=3600).mint(
            CallbackClaims(delivery_id="d-1", repo="l2org/two", pr_number=4242, head_sha="a" * 40), issued_at=h.clock()
        )
        body = report_body(payloads["l2org/two"], "in_progress")
        answer = await h.callback({**body, "callback_token": forged}, token=h.issuer.token("l2org/two"))
        assert answer.status_code == 403
        missing = {k: v for k, v in body.items() if k != "callback_token"}
        answer = await h.callback(missing, token=h.issuer.token("l2org/two"))
        assert answer.status_code == 400
        assert "callback_token" in answer.json()["error"]


async def test_a_token_bound_to_another_pr_or_sha_is_403(start_relay: StartRelay) -> None:
    async with dispatched(start_relay) as (h, payloads):
        other = CallbackTokens(CALLBACK_KEY, ttl=3600).mint(
            CallbackClaims(delivery_id="d-1", repo="l2org/two", pr_number=1, head_sha="b" * 40), issued_at=h.clock()
        )
        body = {**report_body(payloads["l2org/two"], "in_progress"), "callback_token": other}
        answer = await h.callback(body, token=h.issuer.token("l2org/two"))
        assert answer.status_code == 403
        assert "PR and head SHA" in answer.json()["error"]


async def test_a_token_redeemed_by_one_workflow_run_is_refused_to_any_other(start_relay: StartRelay) -> None:
    async with dispatched(start_relay) as (h, payloads):
        payload = payloads["l2org/two"]
        first = await h.callback(
            report_body(payload, "in_progress", run_id=1), token=h.issuer.token("l2org/two", run_id=1)
        )
        replay = await h.callback(
            report_body(payload, "in_progress", run_id=2), token=h.issuer.token("l2org/two", run_id=2)
        )
        second_job = await h.callback(
            report_body(payload, "in_progress", run_id=1, job_name="lint"), token=h.issuer.token("l2org/two", run_id=1)
        )
        assert (first.status_code, replay.status_code, second_job.status_code) == (200, 403, 200)
        assert "already redeemed by workflow run 1" in replay.json()["error"]


async def test_a_body_claiming_another_run_than_the_oidc_token_is_403(start_relay: StartRelay) -> None:
    async with dispatched(start_relay) as (h, payloads):
        body = report_body(payloads["l2org/two"], "in_progress", run_id=7)
        answer = await h.callback(body, token=h.issuer.token("l2org/two", run_id=8))
        assert answer.status_code == 403
        assert "run_id 7" in answer.json()["error"]


async def test_an_expired_callback_token_is_403(start_relay: StartRelay) -> None:
    async with dispatched(start_relay, store={"status_ttl_seconds": 600}) as (h, payloads):
        h.clock.advance(601)
        body = report_body(payloads["l2org/two"], "in_progress")
        answer = await h.callback(body, token=h.issuer.token("l2org/two", now=h.clock()))
        assert answer.status_code == 403
        assert "expired" in answer.json()["error"]


async def test_an_invalid_body_is_400_naming_the_field(start_relay: StartRelay) -> None:
    async with dispatched(start_relay) as (h, payloads):
        body = report_body(payloads["l2org/two"], "completed")  # completed without a conclusion
        answer = await h.callback(body, token=h.issuer.token("l2org/two"))
        assert answer.status_code == 400
        assert "workflow" in answer.json()["error"] and "conclusion" in answer.json()["error"]
        broken = await h.callback(b"{nope", token=h.issuer.token("l2org/two"))
        assert broken.status_code == 400


# -- the state machine ---------------------------------------------------------------------------


async def _post(h: Harness, payload: dict[str, Any], status: str, conclusion: str | None = None, **kw: Any) -> Any:
    token = h.issuer.token("l2org/two", now=h.clock(), run_attempt=kw.get("run_attempt", 1))
    return await h.callback(report_body(payload, status, conclusion, **kw), token=token)


async def test_in_progress_then_completed_is_accepted_with_relay_measured_times(start_relay: StartRelay) -> None:
    async with dispatched(start_relay) as (h, payloads):
        h.clock.advance(120)
        started = await _post(h, payloads["l2org/two"], "in_progress")
        h.clock.advance(600)
        done = await _post(h, payloads["l2org/two"], "completed", "failure")
        assert (started.json()["status"], done.json()["status"]) == ("in_progress", "completed")
        assert 120 <= started.json()["queue_time"] < 125
        assert 600 <= done.json()["execution_time"] < 605
        (row,) = await h.relay.results.query()
        assert (row.status, row.conclusion, row.timed_out) == ("completed", "failure", False)
        assert row.queue_time == started.json()["queue_time"]
        assert row.execution_time == done.json()["execution_time"]


async def test_completed_without_in_progress_is_409(start_relay: StartRelay) -> None:
    async with dispatched(start_relay) as (h, payloads):
        answer = await _post(h, payloads["l2org/two"], "completed", "success")
        assert answer.status_code == 409
        assert "completed without an in_progress report" in answer.json()["error"]
        assert await h.relay.results.query() == []


async def test_an_exact_duplicate_is_200_and_changes_nothing(start_relay: StartRelay) -> None:
    async with dispatched(start_relay) as (h, payloads):
        await _post(h, payloads["l2org/two"], "in_progress")
        again = await _post(h, payloads["l2org/two"], "in_progress")
        assert again.status_code == 200
        assert again.json()["status"] == "duplicate"
        await _post(h, payloads["l2org/two"], "completed", "success")
        (before,) = await h.relay.results.query()
        h.clock.advance(30)
        late_start = await _post(h, payloads["l2org/two"], "in_progress")
        late_end = await _post(h, payloads["l2org/two"], "completed", "success")
        assert [late_start.json()["status"], late_end.json()["status"]] == ["duplicate", "duplicate"]
        assert late_end.json()["state"] == "completed"
        assert await h.relay.results.query() == [before]


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (("completed", "success"), ("completed", "failure"), "already completed with conclusion success"),
        (("completed", "success"), ("in_progress", None), "already completed"),
        ((None, None), ("in_progress", None), "a second, different in_progress report"),
    ],
)
async def test_an_invalid_transition_is_409_with_a_clear_message(
    start_relay: StartRelay, first: tuple[str | None, str | None], second: tuple[str, str | None], message: str
) -> None:
    async with dispatched(start_relay) as (h, payloads):
        payload = payloads["l2org/two"]
        await _post(h, payload, "in_progress")
        if first[0] is not None:
            await _post(h, payload, first[0], first[1])
        # A different body (another artifact URL) makes the second report no duplicate.
        answer = await _post(h, payload, second[0], second[1], artifact_url="https://example.org/other")
        assert answer.status_code == 409
        assert "invalid transition" in answer.json()["error"]
        assert message in answer.json()["error"]


async def test_each_job_of_a_run_and_each_attempt_has_its_own_state(start_relay: StartRelay) -> None:
    async with dispatched(start_relay) as (h, payloads):
        payload = payloads["l2org/two"]
        for job in ("build", "test"):
            assert (await _post(h, payload, "in_progress", job_name=job)).status_code == 200
        await _post(h, payload, "completed", "failure", job_name="test")
        rerun = await _post(h, payload, "in_progress", job_name="test", run_attempt=2)
        assert rerun.status_code == 200
        assert rerun.json()["queue_time"] is None  # a re-run's queue time would count the first run
        rows = {(r.job_name, r.reported.run_attempt): r.status for r in await h.relay.results.query()}
        assert rows == {("build", 1): "in_progress", ("test", 1): "completed", ("test", 2): "in_progress"}


async def test_stored_rows_take_identity_from_the_token_and_the_dispatch_not_from_the_body(
    start_relay: StartRelay,
) -> None:
    async with dispatched(start_relay) as (h, payloads):
        body = report_body(payloads["l3org/four"], "in_progress", test_results={"passed": 3, "failed": 1})
        body["payload"] = {"pull_request": {"number": 1, "head": {"sha": "e" * 40}}}  # echoed and ignored
        body["workflow"]["downstream_repo"] = "l4org/five"
        answer = await h.callback(body, token=h.issuer.token("l3org/four"))
        assert answer.status_code == 200
        (row,) = await h.relay.results.query()
        assert (row.downstream_repo, row.downstream_repo_level, row.pr_number, row.head_sha) == (
            "l3org/four",
            "L3",
            4242,
            "a" * 40,
        )
        assert (row.reported.total_tests, row.reported.failed_tests) == (4, 1)
        assert row.reported.body is not None and '"l4org/five"' in row.reported.body
