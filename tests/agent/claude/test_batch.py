"""Batch mode against a scripted Message Batches API returning the SDK's own result types."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types.messages.batch_create_params import Request
from vcr.cassette import Cassette

from agent.claude import ClaudeSettings, run_batch
from agent.claude.batch import batch_requests
from agent.engine import EngineFailure, Proposal
from agent.models import IssueRef, IssueSnapshot
from agent.skillpack import SkillPack
from tests.agent.claude.scripted import GOOD_PLAN, USAGE, ScriptedBatches, reply, text, tool_use

pytestmark = pytest.mark.anyio


def issue(number: int) -> IssueSnapshot:
    return IssueSnapshot(
        ref=IssueRef(owner="pytorch", repo="pytorch", number=number),
        title=f"issue {number}",
        body="fully_shard hangs",
        labels=("oncall: distributed",),
    )


def settings() -> ClaudeSettings:
    return ClaudeSettings.load().model_copy(update={"batch_poll_seconds": 0.0})


def succeeded(custom_id: str, *blocks: dict[str, Any], stop_reason: str | None = None) -> dict[str, Any]:
    message = reply(*blocks, stop_reason=stop_reason).model_dump(mode="json")
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}


def mixed_results(requests: list[Request]) -> list[dict[str, Any]]:
    ids = [request["custom_id"] for request in requests]
    return [
        # Results arrive in any order; only custom_id ties them to issues.
        {
            "custom_id": ids[1],
            "result": {
                "type": "errored",
                "error": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            },
        },
        succeeded(ids[0], tool_use("submit_plan", GOOD_PLAN)),
        succeeded(ids[2], tool_use("submit_plan", {**GOOD_PLAN, "templates": ["free_text"]})),
        succeeded(ids[3], text("no"), stop_reason="refusal"),
        {"custom_id": ids[4], "result": {"type": "expired"}},
    ]


async def test_one_failed_request_does_not_sink_the_batch() -> None:
    pack = SkillPack.load()
    api = ScriptedBatches(mixed_results, polls=2)

    outcomes = await run_batch([issue(n) for n in range(1, 7)], pack, settings(), api)

    assert isinstance(outcomes[0], Proposal) and outcomes[0].plan.model_dump() == GOOD_PLAN
    reasons = [o.reason if isinstance(o, EngineFailure) else None for o in outcomes]
    assert reasons[1] == "the batch request failed: overloaded_error: Overloaded"
    assert reasons[2] is not None and reasons[2].startswith("the batch reply's plan is invalid: unknown template keys")
    assert reasons[3] == "the model refused"
    assert reasons[4] == "the batch request was expired"
    assert reasons[5] == "the batch returned no result for this issue"
    assert api.retrieved == 2


async def test_the_batch_is_billed_at_the_discount_and_counts_one_turn_per_issue() -> None:
    pack = SkillPack.load()
    api = ScriptedBatches(lambda requests: [succeeded(requests[0]["custom_id"], tool_use("submit_plan", GOOD_PLAN))])
    plain = settings()

    [outcome] = await run_batch([issue(7)], pack, plain, api)

    assert isinstance(outcome, Proposal)
    usage = outcome.usage
    assert (usage.turns, usage.tool_calls, usage.input_tokens, usage.cache_read_input_tokens) == (
        1,
        1,
        USAGE["input_tokens"],
        USAGE["cache_read_input_tokens"],
    )
    full = (
        USAGE["input_tokens"] * plain.prices.input
        + USAGE["cache_read_input_tokens"] * plain.prices.cache_read
        + USAGE["output_tokens"] * plain.prices.output
    ) / 1e6
    assert usage.cost_usd == pytest.approx(full * plain.prices.batch_discount)


def test_every_request_forces_submit_plan_and_shares_the_cached_system_prompt() -> None:
    pack = SkillPack.load()

    requests: list[dict[str, Any]] = json.loads(json.dumps(batch_requests([issue(1), issue(2)], pack, settings())))

    assert [r["custom_id"] for r in requests] == ["issue-0", "issue-1"]
    for request in requests:
        params = request["params"]
        assert params["tool_choice"] == {"type": "tool", "name": "submit_plan"}
        assert [tool["name"] for tool in params["tools"]] == ["submit_plan"]
        assert params["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert requests[0]["params"]["system"] == requests[1]["params"]["system"]


async def test_a_batch_api_error_fails_every_issue_without_raising() -> None:
    class Unavailable(ScriptedBatches):
        async def create(self, *, requests: Any) -> Any:
            request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages/batches")
            raise anthropic.APIConnectionError(request=request)

    outcomes = await run_batch([issue(1), issue(2)], SkillPack.load(), settings(), Unavailable(lambda _: []))

    assert [type(o) for o in outcomes] == [EngineFailure, EngineFailure]
    assert all(isinstance(o, EngineFailure) and "APIConnectionError" in o.reason for o in outcomes)


async def test_no_issues_make_no_batch() -> None:
    api = ScriptedBatches(lambda _: [])

    assert await run_batch([], SkillPack.load(), settings(), api) == []
    assert api.created == []


@pytest.mark.vcr
async def test_a_batch_round_trip_over_http(vcr: Cassette, anthropic_api_key: str, record_mode: str) -> None:
    pack = SkillPack.load()
    poll = 0.0 if record_mode == "none" else 30.0
    live = ClaudeSettings.load().model_copy(update={"batch_poll_seconds": poll})

    async with anthropic.AsyncAnthropic(api_key=anthropic_api_key, max_retries=0) as client:
        outcomes = await run_batch([issue(101), issue(102)], pack, live, client)

    lines = [json.loads(line) for line in vcr.responses[-1]["body"]["string"].decode().splitlines()]
    by_id = {line["custom_id"]: line["result"] for line in lines}
    for index, outcome in enumerate(outcomes):
        result = by_id[f"issue-{index}"]
        if result["type"] == "succeeded":
            [call] = [b for b in result["message"]["content"] if b["type"] == "tool_use"]
            assert isinstance(outcome, Proposal) and outcome.plan.model_dump() == call["input"]
            assert outcome.usage.input_tokens == result["message"]["usage"]["input_tokens"]
        else:
            assert isinstance(outcome, EngineFailure)
    assert {result["type"] for result in by_id.values()} <= {"succeeded", "errored"}
