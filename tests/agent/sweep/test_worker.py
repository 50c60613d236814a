from pathlib import Path
from typing import Any

import pytest
from mcp.types import CallToolResult

from agent.github import ToolCaller
from agent.sandbox import Faults, HumanEdit, SandboxStore
from tests.agent.sweep.support import BOT, INFRA, REPO, Q, ScriptedEngine, seed, sweep_once


def _labels(store: SandboxStore, number: int) -> tuple[str, ...]:
    return store.require(REPO, number).labels


@pytest.mark.anyio
async def test_a_person_editing_the_issue_between_read_and_write_gets_a_fresh_plan(tmp_path: Path) -> None:
    store = SandboxStore(":memory:")
    seed(store, 1, Q)
    faults = Faults(human_edit=HumanEdit(add_labels=("module: ddp",), issue_number=1))
    engine = ScriptedEngine()
    out = await sweep_once(store, tmp_path / "sweep.sqlite3", engine, faults=faults, apply=True)
    assert faults.kinds() == ["human_edit"]
    assert engine.calls == [1, 1]
    assert out.summary.retried == (1,)
    assert out.summary.statuses == {"applied": 1}
    assert {"module: ddp", INFRA, BOT} <= set(_labels(store, 1))


@pytest.mark.anyio
async def test_label_writes_github_drops_silently_count_as_failures(tmp_path: Path) -> None:
    store = SandboxStore(":memory:")
    seed(store, 1, Q)
    faults = Faults(drop_label_writes=True)
    out = await sweep_once(store, tmp_path / "sweep.sqlite3", ScriptedEngine(), faults=faults, apply=True)
    assert _labels(store, 1) == (Q,)
    assert out.summary.statuses == {"failed": 1}
    assert out.summary.exit_code == 1


class _LoseMarkerAfterWrite:
    """After the first label write, someone (or a lost request) takes the marker off again."""

    def __init__(self, inner: ToolCaller, faults: Faults) -> None:
        self.inner = inner
        self.faults = faults
        self.armed = False

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
        result = await self.inner.call_tool(name, arguments)
        if name == "issue_write" and not self.armed:
            self.armed = True
            self.faults.human_edit = HumanEdit(remove_labels=(BOT,), issue_number=1)
        return result


@pytest.mark.anyio
async def test_a_marker_missing_on_the_live_issue_is_put_back_and_the_outcome_verified(tmp_path: Path) -> None:
    store = SandboxStore(":memory:")
    seed(store, 1, Q)
    faults = Faults()
    out = await sweep_once(
        store,
        tmp_path / "sweep.sqlite3",
        ScriptedEngine(),
        faults=faults,
        apply=True,
        wrap=lambda client: _LoseMarkerAfterWrite(client, faults),
    )
    assert faults.kinds() == ["human_edit"]
    assert BOT in _labels(store, 1)
    assert out.summary.marker_reapplied == (1,)
    assert out.summary.statuses == {"applied": 1}
