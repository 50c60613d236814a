"""The relay end to end over loopback: upstream webhook in, dispatches out, callbacks back, results stored."""

from __future__ import annotations

import anyio
import pytest

from tests.relay.conftest import StartRelay
from tests.relay.harness import REPOS, report_body
from tests.relay.payloads import pull_request_event

pytestmark = pytest.mark.anyio


async def test_a_pull_request_fans_out_and_a_job_reports_back_into_the_results_store(start_relay: StartRelay) -> None:
    async with start_relay() as h:
        answer = await h.webhook("pull_request", pull_request_event("opened"), delivery="d-1")
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"status": "queued", "delivery_id": "d-1", "targets": len(REPOS)}
        with anyio.fail_after(5):
            await h.github.wait_for(lambda: len(h.github.dispatches) == len(REPOS))
        assert sorted(d.repo for d in h.github.dispatches) == sorted(REPOS)

        payload = h.github.dispatched_to("l2org/two")[0].client_payload
        token = h.issuer.token("l2org/two")
        started = await h.callback(report_body(payload, "in_progress"), token=token)
        assert started.status_code == 200, started.text
        assert started.json()["status"] == "in_progress"
        done = await h.callback(report_body(payload, "completed", "success"), token=token)
        assert done.status_code == 200, done.text

        rows = await h.relay.results.query(downstream_repo="l2org/two")
        assert len(rows) == 1
        assert rows[0].status == "completed"
        assert rows[0].conclusion == "success"
        assert rows[0].queue_time is not None and rows[0].execution_time is not None
