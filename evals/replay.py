"""Replay: an issue put back into the sandbox as it stood before triage, then triaged in dry-run.

The engine runs through `agent.pipeline.triage`, the code path behind `agent triage`: it reads the
issue over MCP from the sandbox server, plans, and the guard turns the plan into effects. Nothing is
written. One sandbox serves a whole run; each case replaces its issue in the store before it runs.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from types import TracebackType

from agent.connection import connect
from agent.engine import Engine
from agent.github import ToolCaller
from agent.pipeline import triage
from agent.result import TriageResult
from agent.sandbox import SandboxStore
from agent.skillpack import SkillPack
from evals.dataset import DatasetIssue
from evals.gold import GoldRules
from evals.scenarios import Case, before_triage

__all__ = ["Replayer"]


class Replayer:
    """Owns one in-memory sandbox and one MCP connection to it for as long as it is open."""

    def __init__(self, engine: Engine, pack: SkillPack, rules: GoldRules) -> None:
        self.engine = engine
        self.pack = pack
        self.rules = rules
        self.store = SandboxStore()
        self._stack = AsyncExitStack()
        self._caller: ToolCaller | None = None

    async def __aenter__(self) -> Replayer:
        self._stack.callback(self.store.close)
        self._caller = await self._stack.enter_async_context(connect("sandbox", store=self.store))
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._caller = None
        await self._stack.aclose()

    async def replay(self, issue: DatasetIssue, case: Case) -> TriageResult:
        """Put the case's issue in the sandbox and triage it in dry-run."""
        if self._caller is None:
            raise RuntimeError("open the Replayer with `async with` before replaying cases")
        self.store.put(before_triage(issue, case, self.rules))
        return await triage(issue.ref, caller=self._caller, engine=self.engine, pack=self.pack, apply=False)
