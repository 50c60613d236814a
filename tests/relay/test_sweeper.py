from __future__ import annotations

import anyio
import pytest

from tests.relay.conftest import StartRelay
from tests.relay.harness import Harness, report_body, settled
from tests.relay.payloads import pull_request_event

pytestmark = pytest.mark.anyio

HOUR = 3600.0


async def _report(h: Harness, repo: str, status: str, conclusion: str | None = None, job: str = "test") -> int:
    payload = h.github.dispatched_to(repo)[0].client_payload
    token = h.issuer.token(repo, now=h.clock())
    answer = await h.callback(report_body(payload, status, conclusion, job_name=job), token=token)
    return answer.status_code


async def _fanned_out(h: Harness) -> None:
    await h.webhook("pull_request", pull_request_event(), delivery="d-1")
    with anyio.fail_after(5):
        await settled(h.relay, "d-1")


async def test_a_job_silent_in_progress_past_the_timeout_becomes_timed_out(start_relay: StartRelay) -> None:
    async with start_relay(sweeper={"zombie_timeout_seconds": 6 * HOUR}) as h:
        await _fanned_out(h)
        assert await _report(h, "l2org/two", "in_progress", job="zombie") == 200
        assert await _report(h, "l2org/two", "in_progress", job="finished") == 200
        assert await _report(h, "l2org/two", "completed", "success", job="finished") == 200
        h.clock.advance(5 * HOUR)
        assert await _report(h, "l3org/four", "in_progress", job="young") == 200
        h.clock.advance(1.5 * HOUR)

        report = await h.relay.sweeper.sweep()

        assert report.timed_out == 1
        rows = {r.job_name: r for r in await h.relay.results.query()}
        zombie = rows["zombie"]
        assert (zombie.status, zombie.conclusion, zombie.timed_out) == ("completed", "timed_out", True)
        assert zombie.execution_time is not None and 6.5 * HOUR <= zombie.execution_time < 6.5 * HOUR + 60
        assert (rows["finished"].conclusion, rows["finished"].timed_out) == ("success", False)
        assert rows["young"].status == "in_progress"
        assert (await h.relay.sweeper.sweep()).timed_out == 0


async def test_a_report_arriving_after_the_timeout_is_refused(start_relay: StartRelay) -> None:
    async with start_relay() as h:
        await _fanned_out(h)
        await _report(h, "l2org/two", "in_progress")
        h.clock.advance(7 * HOUR)
        await h.relay.sweeper.sweep()
        payload = h.github.dispatched_to("l2org/two")[0].client_payload
        late = await h.callback(
            report_body(payload, "completed", "success"), token=h.issuer.token("l2org/two", now=h.clock())
        )
        assert late.status_code == 409
        assert "timed_out" in late.json()["error"]


async def test_state_older_than_the_status_ttl_is_forgotten_but_results_stay(start_relay: StartRelay) -> None:
    async with start_relay(store={"status_ttl_seconds": 24 * HOUR}) as h:
        await _fanned_out(h)
        await _report(h, "l2org/two", "in_progress")
        await _report(h, "l2org/two", "completed", "success")
        h.clock.advance(25 * HOUR)
        report = await h.relay.sweeper.sweep()
        assert (report.purged_deliveries, report.purged_jobs) == (1, 1)
        assert await h.relay.outbox.for_delivery("d-1") == []
        assert len(await h.relay.results.query()) == 1
