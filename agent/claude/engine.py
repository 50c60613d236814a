"""The Claude engine: the skill pack as a cached system prompt, the issue as data, a bounded loop."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import anthropic

from agent.claude.loop import Conversation, MessagesAPI, run_loop
from agent.claude.meter import Meter
from agent.claude.prompt import ToolNote, estimate_tokens, issue_message, reminder, system_blocks, system_prompt
from agent.claude.settings import ClaudeSettings
from agent.claude.tools import ExtraTool, Toolbox
from agent.engine import Proposal
from agent.models import IssueSnapshot, UsageError
from agent.skillpack import SkillPack

if TYPE_CHECKING:
    from agent.guarded_session import GuardedSession

__all__ = ["API_KEY_VARIABLE", "ClaudeEngine", "MissingApiKey", "anthropic_client"]

API_KEY_VARIABLE = "ANTHROPIC_API_KEY"
log = logging.getLogger(__name__)


class MissingApiKey(UsageError):
    """The Claude engine was asked for, but no API key is in the environment."""

    def __init__(self) -> None:
        super().__init__(
            f"the Claude engine needs an Anthropic API key in the environment: "
            f"`export {API_KEY_VARIABLE}=sk-ant-...` (keys are made at https://console.anthropic.com/settings/keys). "
            "Without a key, use --engine rules (or --engine auto, which falls back to it)."
        )


def anthropic_client(environ: Mapping[str, str] | None = None) -> anthropic.AsyncAnthropic:
    """An async client with the key from the environment; `MissingApiKey` when there is none."""
    env = os.environ if environ is None else environ
    key = env.get(API_KEY_VARIABLE, "").strip()
    if not key:
        raise MissingApiKey()
    return anthropic.AsyncAnthropic(api_key=key)


class ClaudeEngine:
    """Implements `agent.engine.Engine`. Every failure is `EngineFailure` with the usage spent so far."""

    name = "claude"

    def __init__(
        self,
        settings: ClaudeSettings | None = None,
        client: anthropic.AsyncAnthropic | None = None,
        *,
        model_api: MessagesAPI | None = None,
        extra_tools: Sequence[ExtraTool] = (),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings or ClaudeSettings.load()
        if model_api is None:
            model_api = (client or anthropic_client(environ)).messages
        self._api = model_api
        self._extra = tuple(extra_tools)
        self._checked_cache: set[str] = set()

    async def propose(self, snapshot: IssueSnapshot, pack: SkillPack, github: GuardedSession) -> Proposal:
        settings = self.settings
        meter = Meter(settings.prices)
        toolbox = Toolbox(
            pack, github, mode=settings.mode, extra=self._extra, max_output_chars=settings.max_tool_output_chars
        )
        notes = [ToolNote(name=tool.name, description=tool.description) for tool in self._extra]
        system = system_prompt(pack, mode=settings.mode, extra_tools=notes)
        self._warn_if_uncacheable(system)
        opening = issue_message(snapshot)
        for finding in opening.findings:
            log.warning("%s: untrusted text flagged: %s", snapshot.ref, finding)
        talk = Conversation(
            model=settings.model,
            max_tokens=settings.max_tokens,
            max_turns=settings.max_turns,
            timeout_seconds=settings.timeout_seconds,
            system=system_blocks(system),
            opening=opening.text,
            remind=lambda remaining: reminder(pack, remaining=remaining),
        )
        plan = await run_loop(self._api, toolbox, talk, meter)
        flags = tuple(str(finding) for finding in opening.findings)
        return Proposal(plan=plan, engine=self.name, usage=meter.usage(), flags=flags)

    def _warn_if_uncacheable(self, system: str) -> None:
        if system in self._checked_cache:
            return
        self._checked_cache.add(system)
        estimate, minimum = estimate_tokens(system), self.settings.cacheable_minimum()
        if estimate < minimum:
            log.warning(
                "the system prompt (about %d tokens) is below %s's minimum cacheable length (%d): "
                "it will be sent in full on every turn",
                estimate,
                self.settings.model,
                minimum,
            )
