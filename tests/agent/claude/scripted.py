"""A scripted model and batches API: real SDK types out, every request kept for the test to read.

Tests of the loop logic use these instead of HTTP; the HTTP path itself is covered by cassettes.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import anyio
from anthropic.types import Message, MessageParam, TextBlockParam, ToolChoiceParam, ToolParam
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse
from anthropic.types.messages.batch_create_params import Request

_ids = itertools.count(1)

MODEL = "claude-sonnet-5-5"
USAGE = {"input_tokens": 900, "output_tokens": 120, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2400}


def tool_use(name: str, arguments: dict[str, Any], *, id: str | None = None) -> dict[str, Any]:
    return {"type": "tool_use", "id": id or f"toolu_{next(_ids):04d}", "name": name, "input": arguments}


def text(words: str) -> dict[str, Any]:
    return {"type": "text", "text": words}


def reply(
    *blocks: dict[str, Any],
    stop_reason: str | None = None,
    usage: dict[str, int] | None = None,
    stop_details: dict[str, Any] | None = None,
) -> Message:
    """A Messages API response, validated by the SDK's own model."""
    reason = stop_reason or ("tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn")
    return Message.model_validate(
        {
            "id": f"msg_{next(_ids):04d}",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": list(blocks),
            "stop_reason": reason,
            "stop_sequence": None,
            "stop_details": stop_details,
            "usage": usage or USAGE,
        }
    )


GOOD_PLAN: dict[str, Any] = {
    "decision": "classify",
    "labels": ["oncall: distributed parallelisms", "module: fsdp"],
    "templates": [],
    "confidence": "HIGH",
    "reasoning": "The traceback runs through fully_shard and the reporter wraps the model in FSDP2.",
}

Step = Message | Callable[[list[MessageParam]], Message] | BaseException


class ScriptedModel:
    """Answers `messages.create` from a script; a step may be a reply, a function of the messages, or an error."""

    def __init__(self, steps: Sequence[Step], *, hang: anyio.Event | None = None) -> None:
        self._steps = list(steps)
        self._hang = hang
        self.requests: list[dict[str, Any]] = []

    async def create(
        self,
        *,
        max_tokens: int,
        messages: Iterable[MessageParam],
        model: str,
        system: Iterable[TextBlockParam],
        tools: Iterable[ToolParam],
        tool_choice: ToolChoiceParam,
    ) -> Message:
        history = copy.deepcopy(list(messages))
        self.requests.append(
            {
                "model": model,
                "max_tokens": max_tokens,
                "system": list(system),
                "tools": list(tools),
                "tool_choice": tool_choice,
                "messages": history,
            }
        )
        if self._hang is not None:
            await self._hang.wait()
        if not self._steps:
            raise AssertionError("the loop asked the scripted model for more replies than the script has")
        step = self._steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step if isinstance(step, Message) else step(history)

    def tool_results(self, request: int) -> list[dict[str, Any]]:
        """The tool_result blocks the loop sent in request number `request`."""
        last = self.requests[request]["messages"][-1]
        assert last["role"] == "user"
        return [block for block in last["content"] if isinstance(block, dict) and block["type"] == "tool_result"]


def batch(status: str, *, batch_id: str = "msgbatch_01", counts: dict[str, int] | None = None) -> MessageBatch:
    return MessageBatch.model_validate(
        {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts or {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
            "created_at": "2026-10-01T00:00:00Z",
            "expires_at": "2026-10-02T00:00:00Z",
            "ended_at": "2026-10-01T00:10:00Z" if status == "ended" else None,
            "results_url": f"https://api.anthropic.com/v1/messages/batches/{batch_id}/results"
            if status == "ended"
            else None,
        }
    )


class ScriptedBatches:
    """Answers `messages.batches.create/retrieve/results`; results map custom_id to a result dict."""

    def __init__(self, results: Callable[[list[Request]], list[dict[str, Any]]], *, polls: int = 1) -> None:
        self._results = results
        self._polls = polls
        self.created: list[list[Request]] = []
        self.retrieved = 0

    async def create(self, *, requests: Iterable[Request]) -> MessageBatch:
        self.created.append(list(requests))
        return batch("in_progress")

    async def retrieve(self, message_batch_id: str) -> MessageBatch:
        self.retrieved += 1
        return batch("ended" if self.retrieved >= self._polls else "in_progress", batch_id=message_batch_id)

    async def results(self, message_batch_id: str) -> AsyncIterator[MessageBatchIndividualResponse]:
        lines = [MessageBatchIndividualResponse.model_validate(line) for line in self._results(self.created[-1])]

        async def stream() -> AsyncIterator[MessageBatchIndividualResponse]:
            for line in lines:
                yield line

        return stream()
