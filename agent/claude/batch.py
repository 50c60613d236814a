"""Many issues at once through the Message Batches API: one forced `submit_plan` turn per issue.

The result for each issue is a `Proposal` or an `EngineFailure`; one failed request never sinks the
others. Results are applied by the caller through the same pipeline and guard as any other plan
(wrap each in `PrecomputedEngine`). Only send issues for which `needs_model` is true.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, Iterable, Sequence
from typing import Protocol

import anthropic
import anyio
from anthropic.types import Message, ToolParam, ToolUseBlock
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse, MessageBatchResult
from anthropic.types.messages.batch_create_params import Request

from agent.claude.meter import Meter
from agent.claude.prompt import issue_message, system_blocks, system_prompt
from agent.claude.settings import ClaudeSettings
from agent.claude.tools import SUBMIT_PLAN, InvalidPlan, parse_plan, plan_schema
from agent.engine import EngineFailure, Proposal
from agent.models import IssueSnapshot
from agent.skillpack import SkillPack

__all__ = ["BatchesAPI", "batch_requests", "run_batch"]


class BatchesAPI(Protocol):
    """The part of `AsyncAnthropic().messages.batches` batch mode uses."""

    async def create(self, *, requests: Iterable[Request]) -> MessageBatch: ...

    async def retrieve(self, message_batch_id: str) -> MessageBatch: ...

    async def results(self, message_batch_id: str) -> AsyncIterable[MessageBatchIndividualResponse]: ...


def batch_requests(snapshots: Sequence[IssueSnapshot], pack: SkillPack, settings: ClaudeSettings) -> list[Request]:
    """One request per issue, in order, with `custom_id` `issue-<index>`."""
    system = system_blocks(system_prompt(pack, mode="plan"))
    submit: ToolParam = {
        "name": SUBMIT_PLAN,
        "description": "Submit the triage plan.",
        "input_schema": plan_schema(pack),
    }
    return [
        {
            "custom_id": f"issue-{index}",
            "params": {
                "model": settings.model,
                "max_tokens": settings.max_tokens,
                "system": system,
                "tools": [submit],
                "tool_choice": {"type": "tool", "name": SUBMIT_PLAN},
                "messages": [{"role": "user", "content": issue_message(snapshot, one_shot=True).text}],
            },
        }
        for index, snapshot in enumerate(snapshots)
    ]


async def run_batch(
    snapshots: Sequence[IssueSnapshot],
    pack: SkillPack,
    settings: ClaudeSettings,
    client: anthropic.AsyncAnthropic | BatchesAPI,
) -> list[Proposal | EngineFailure]:
    """Submit, poll until the batch ends, and turn each result into a proposal or a failure."""
    if not snapshots:
        return []
    api: BatchesAPI = client.messages.batches if isinstance(client, anthropic.AsyncAnthropic) else client
    started = time.monotonic()
    try:
        with anyio.fail_after(settings.batch_timeout_seconds):
            batch = await api.create(requests=batch_requests(snapshots, pack, settings))
            while batch.processing_status != "ended":
                await anyio.sleep(settings.batch_poll_seconds)
                batch = await api.retrieve(batch.id)
            results = {line.custom_id: line.result async for line in await api.results(batch.id)}
    except TimeoutError:
        return _all_failed(len(snapshots), f"the batch did not end within {settings.batch_timeout_seconds:g} s")
    except anthropic.APIError as error:
        return _all_failed(len(snapshots), f"Claude batch API error: {type(error).__name__}: {error.message}")
    elapsed = time.monotonic() - started
    return [_outcome(results.get(f"issue-{index}"), pack, settings, elapsed) for index in range(len(snapshots))]


def _all_failed(count: int, reason: str) -> list[Proposal | EngineFailure]:
    return [EngineFailure(reason) for _ in range(count)]


def _outcome(
    result: MessageBatchResult | None, pack: SkillPack, settings: ClaudeSettings, elapsed: float
) -> Proposal | EngineFailure:
    if result is None:
        return EngineFailure("the batch returned no result for this issue")
    if result.type == "errored":
        error = result.error.error
        return EngineFailure(f"the batch request failed: {error.type}: {error.message}")
    if result.type != "succeeded":
        return EngineFailure(f"the batch request was {result.type}")
    message: Message = result.message
    meter = Meter(settings.prices, batch=True)
    meter.add_reply(message.usage)
    calls = [block for block in message.content if isinstance(block, ToolUseBlock) and block.name == SUBMIT_PLAN]
    meter.add_tool_calls(len(calls))
    usage = meter.usage().model_copy(update={"wall_seconds": elapsed})
    if message.stop_reason == "refusal":
        return EngineFailure("the model refused", usage)
    if not calls:
        return EngineFailure(f"the batch reply has no submit_plan (stop reason {message.stop_reason})", usage)
    try:
        plan = parse_plan(calls[0].input, pack)
    except InvalidPlan as problem:
        return EngineFailure(f"the batch reply's plan is invalid: {problem}", usage)
    return Proposal(plan=plan, engine="claude-batch", usage=usage)
