from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import anyio
import pytest

from relay.dispatcher import backoff
from tests.relay.conftest import StartRelay
from tests.relay.github_emulator import Failure, GitHubEmulator
from tests.relay.harness import REPOS, client, post_webhook, relay_config, settled
from tests.relay.oidc_issuer import OidcIssuerEmulator
from tests.relay.payloads import pull_request_event, push_event
from tests.relay.process import relay_process, write_config
from tests.relay.servers import bind

# -- backoff (pure) ------------------------------------------------------------------------------


def test_backoff_doubles_from_the_initial_delay_up_to_the_cap() -> None:
    delays = [backoff(n, initial=2, maximum=30, retry_after=None, jitter=0.999999) for n in range(1, 7)]
    assert [round(d) for d in delays] == [2, 4, 8, 16, 30, 30]


def test_backoff_jitter_stays_within_the_upper_half_of_the_step() -> None:
    assert backoff(3, initial=1, maximum=60, retry_after=None, jitter=0.0) == 2.0
    assert 3.99 < backoff(3, initial=1, maximum=60, retry_after=None, jitter=0.9999) <= 4.0


def test_backoff_never_retries_before_githubs_retry_after() -> None:
    assert backoff(1, initial=1, maximum=60, retry_after=45, jitter=0.5) == 45
    assert backoff(6, initial=1, maximum=60, retry_after=5, jitter=0.0) == 16


# -- retries against the GitHub emulator ---------------------------------------------------------

pytestmark = pytest.mark.anyio


async def test_a_5xx_for_one_repo_is_retried_and_every_repo_gets_exactly_one_dispatch(start_relay: StartRelay) -> None:
    async with start_relay() as h:
        h.github.fail("l2org/two", Failure(502), Failure(503))
        await h.webhook("pull_request", pull_request_event(), delivery="d-partial")
        with anyio.fail_after(5):
            records = await settled(h.relay, "d-partial")
        assert {r.repo: (r.status, r.attempts) for r in records} == {
            repo: ("dispatched", 3 if repo == "l2org/two" else 1) for repo in REPOS
        }
        assert sorted(d.repo for d in h.github.dispatches) == sorted(REPOS)
        assert h.github.failed_dispatches == [("l2org/two", 502), ("l2org/two", 503)]


async def test_a_secondary_rate_limit_is_retried(start_relay: StartRelay) -> None:
    async with start_relay() as h:
        limited = Failure(403, {"retry-after": "0"}, "You have exceeded a secondary rate limit")
        h.github.fail("l4org/five", limited, Failure(429))
        await h.webhook("push", push_event(), delivery="d-limited")
        with anyio.fail_after(5):
            records = await settled(h.relay, "d-limited")
        assert {r.status for r in records} == {"dispatched"}
        assert len(h.github.dispatched_to("l4org/five")) == 1


async def test_a_retry_waits_at_least_as_long_as_retry_after_says(start_relay: StartRelay) -> None:
    async with start_relay() as h:
        h.github.fail("l1org/one", Failure(403, {"retry-after": "120"}, "secondary rate limit"))
        await h.webhook("push", push_event(), delivery="d-wait")
        with anyio.fail_after(5):
            while True:
                changed = h.relay.outbox.watch()
                record = await h.relay.outbox.get("d-wait", "l1org/one")
                if record is not None and record.last_error:
                    break
                await changed.wait()
        assert record.status == "pending"
        assert record.next_attempt_at >= h.clock() + 115
        assert "rate limited" in record.last_error


async def test_a_repo_that_keeps_failing_is_recorded_failed_after_the_last_attempt(start_relay: StartRelay) -> None:
    async with start_relay() as h:
        h.github.fail("l2org/three", *[Failure(500)] * 5)
        await h.webhook("pull_request", pull_request_event(), delivery="d-total")
        with anyio.fail_after(5):
            records = await settled(h.relay, "d-total")
        failed = [r for r in records if r.status == "failed"]
        assert [(r.repo, r.attempts) for r in failed] == [("l2org/three", 3)]
        assert "HTTP 500" in (failed[0].last_error or "")
        assert "attempt 3 of 3" in (failed[0].last_error or "")
        assert len(h.github.failed_dispatches) == 3


async def test_a_refusal_is_not_retried(start_relay: StartRelay) -> None:
    async with start_relay() as h:
        h.github.fail("l3org/four", Failure(422, message="Invalid request"))
        await h.webhook("pull_request", pull_request_event(), delivery="d-422")
        with anyio.fail_after(5):
            record = next(r for r in await settled(h.relay, "d-422") if r.repo == "l3org/four")
        assert (record.status, record.attempts) == ("failed", 1)
        assert "Invalid request" in (record.last_error or "")


async def test_a_repo_without_the_app_installed_fails_at_once(start_relay: StartRelay) -> None:
    async with start_relay() as h:
        h.github.installations.pop("l1org/one")
        await h.webhook("push", push_event(), delivery="d-uninstalled")
        with anyio.fail_after(5):
            record = next(r for r in await settled(h.relay, "d-uninstalled") if r.repo == "l1org/one")
        assert (record.status, record.attempts) == ("failed", 1)
        assert "installation" in (record.last_error or "") and "404" in (record.last_error or "")


async def test_when_github_is_unreachable_every_target_fails_after_its_attempts(start_relay: StartRelay) -> None:
    sock, dead_url = bind()
    sock.close()  # nothing listens there any more: connections are refused
    async with start_relay(github={"api_url": dead_url}) as h:
        await h.webhook("push", push_event(), delivery="d-down")
        with anyio.fail_after(5):
            records = await settled(h.relay, "d-down")
        assert {(r.status, r.attempts) for r in records} == {("failed", 3)}
        assert all("ConnectError" in (r.last_error or "") for r in records)


async def test_one_installation_token_serves_many_dispatches_within_its_lifetime(start_relay: StartRelay) -> None:
    async with start_relay() as h:
        for delivery in ("d-a", "d-b"):
            await h.webhook("push", push_event(), delivery=delivery)
            with anyio.fail_after(5):
                await settled(h.relay, delivery)
        assert len(h.github.dispatches) == 2 * len(REPOS)
        assert sorted(h.github.tokens_minted) == sorted(h.github.installations.values())


async def test_a_relay_restarted_after_recording_dispatches_sends_them_then(start_relay: StartRelay) -> None:
    async with start_relay(background=False) as h:
        await h.webhook("pull_request", pull_request_event(), delivery="d-later")
    assert h.github.dispatches == []
    async with start_relay() as h:
        with anyio.fail_after(5):
            records = await settled(h.relay, "d-later")
        assert {(r.status, r.attempts) for r in records} == {("dispatched", 1)}
        assert sorted(d.repo for d in h.github.dispatches) == sorted(REPOS)


# -- a real crash: SIGKILL of `python -m relay serve` --------------------------------------------


def _statuses(database: Path, delivery: str) -> dict[str, str]:
    with closing(sqlite3.connect(database)) as conn:
        rows = conn.execute("SELECT repo, status FROM dispatches WHERE delivery_id = ?", (delivery,))
        return dict(rows.fetchall())


async def test_a_relay_killed_before_any_dispatch_left_sends_each_one_once_after_restart(
    tmp_path: Path, github: GitHubEmulator, issuer: OidcIssuerEmulator, app_key_pem: str
) -> None:
    config = relay_config(tmp_path, github_url=github.url, issuer_url=issuer.url, relay_url="http://127.0.0.1:9")
    path = write_config(config, tmp_path / "relay.yaml")
    github.hold_tokens()  # the workers get stuck before anything reaches a downstream repo
    async with client() as http:
        async with relay_process(path, app_key_pem) as relay:
            answer = await post_webhook(http, relay.url, "push", push_event(), delivery="d-crash")
            assert answer.status_code == 202
            with anyio.fail_after(10):
                await github.wait_for(lambda: len(github.held) == config.dispatch.workers)
            relay.process.kill()
        github.release()
        assert github.dispatches == []
        async with relay_process(path, app_key_pem) as relay:
            with anyio.fail_after(10):
                await relay.log.wait_for(r"dispatched push d-crash to ", count=len(REPOS))
                await relay.log.wait_for(r"in flight when the relay stopped")
            assert set(_statuses(config.store.database, "d-crash").values()) == {"dispatched"}
    assert sorted(d.repo for d in github.dispatches) == sorted(REPOS)


async def test_a_relay_killed_mid_fan_out_finishes_the_rest_after_restart_and_repeats_none(
    tmp_path: Path, github: GitHubEmulator, issuer: OidcIssuerEmulator, app_key_pem: str
) -> None:
    config = relay_config(tmp_path, github_url=github.url, issuer_url=issuer.url, relay_url="http://127.0.0.1:9")
    path = write_config(config, tmp_path / "relay.yaml")
    stuck = ("l3org/four", "l4org/five")
    for repo in stuck:
        github.hold(repo)
    async with client() as http:
        async with relay_process(path, app_key_pem) as relay:
            await post_webhook(http, relay.url, "pull_request", pull_request_event(), delivery="d-mid")
            with anyio.fail_after(10):
                await relay.log.wait_for(r"dispatched pull_request d-mid to ", count=len(REPOS) - len(stuck))
                await github.wait_for(lambda: len(github.held) == len(stuck))
            relay.process.kill()
        github.release()
        done_before = sorted(d.repo for d in github.dispatches)
        assert done_before == sorted(set(REPOS) - set(stuck))
        async with relay_process(path, app_key_pem) as relay:
            with anyio.fail_after(10):
                await relay.log.wait_for(r"dispatched pull_request d-mid to ", count=len(stuck))
            assert set(_statuses(config.store.database, "d-mid").values()) == {"dispatched"}
    assert sorted(d.repo for d in github.dispatches) == sorted(REPOS)
