"""The bounded tool-use loop: ask, run the tools through the guard, answer, until a plan arrives.

It ends in exactly one of two ways: a validated `Plan`, or `EngineFailure` carrying the reason and
what was spent (refusal, no plan after two reminders, turn limit, timeout, API error).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import anthropic
import anyio
from anthropic.types import (
    Message,
    MessageParam,
    TextBlockParam,
    ToolChoiceParam,
    ToolParam,
    ToolUseBlock,
)

from agent.claude.meter import Meter
from agent.claude.tools import Toolbox
from agent.engine import EngineFailure
from agent.models import Plan

__all__ = ["MAX_REMINDERS", "Conversation", "MessagesAPI", "run_loop"]

MAX_REMINDERS = 2


class MessagesAPI(Protocol):
    """The part of `AsyncAnthropic().messages` the loop uses; a scripted model implements it too."""

    async def create(
        self,
        *,
        max_tokens: int,
        messages: Iterable[MessageParam],
        model: str,
        system: Iterable[TextBlockParam],
        tools: Iterable[ToolParam],
        tool_choice: ToolChoiceParam,
    ) -> Message: ...


@dataclass(frozen=True)
class Conversation:
    """Everything fixed for one issue's loop."""

    model: str
    max_tokens: int
    max_turns: int
    timeout_seconds: float
    system: list[TextBlockParam]
    opening: str
    remind: Callable[[int], str]


async def run_loop(api: MessagesAPI, toolbox: Toolbox, talk: Conversation, meter: Meter) -> Plan:
    messages: list[MessageParam] = [{"role": "user", "content": talk.opening}]
    reminders = 0
    try:
        with anyio.fail_after(talk.timeout_seconds):
            for _ in range(talk.max_turns):
                reply = await api.create(
                    model=talk.model,
                    max_tokens=talk.max_tokens,
                    system=talk.system,
                    tools=toolbox.definitions,
                    tool_choice={"type": "auto"},
                    messages=messages,
                )
                meter.add_reply(reply.usage)
                if reply.stop_reason == "refusal":
                    raise EngineFailure(f"the model refused{_refusal_detail(reply)}", meter.usage())
                messages.append(reply.to_param())
                calls = [block for block in reply.content if isinstance(block, ToolUseBlock)]
                if not calls:
                    if reminders == MAX_REMINDERS:
                        reason = f"the model stopped without submit_plan after {MAX_REMINDERS} reminders"
                        raise EngineFailure(reason, meter.usage())
                    reminders += 1
                    messages.append({"role": "user", "content": talk.remind(MAX_REMINDERS - reminders)})
                    continue
                meter.add_tool_calls(len(calls))
                turn = await toolbox.run(calls)
                if turn.plan is not None:
                    return turn.plan
                messages.append({"role": "user", "content": turn.results})
    except TimeoutError:
        raise EngineFailure(f"timed out after {talk.timeout_seconds:g} s", meter.usage()) from None
    except anthropic.APIError as error:
        raise EngineFailure(f"Claude API error: {_api_error(error)}", meter.usage()) from error
    raise EngineFailure(f"turn limit of {talk.max_turns} reached without submit_plan", meter.usage())


def _refusal_detail(reply: Message) -> str:
    details = reply.stop_details
    if details is None:
        return ""
    parts = [part for part in (details.category, details.explanation) if part]
    return f" ({': '.join(parts)})" if parts else ""


def _api_error(error: anthropic.APIError) -> str:
    status = f" {error.status_code}" if isinstance(error, anthropic.APIStatusError) else ""
    return f"{type(error).__name__}{status}: {error.message}"
