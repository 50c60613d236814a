"""The engine over real HTTP, replayed from cassettes, against the guarded sandbox session.

Expectations are read from the cassette itself, so a re-recorded cassette checks the same things.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import pytest
from vcr.cassette import Cassette

from agent.audit import AuditLog
from agent.claude import ClaudeEngine, ClaudeSettings, MissingApiKey
from agent.cli import main
from agent.engine import EngineFailure
from agent.sandbox import default_store
from agent.skillpack import SkillPack
from tests.agent.claude.issues import FSDP_HANG, guarded, seeded_store, snapshot_of

pytestmark = pytest.mark.anyio


def replies(cassette: Cassette) -> list[dict[str, Any]]:
    return [json.loads(response["body"]["string"]) for response in cassette.responses]


def submitted_plan(reply: dict[str, Any]) -> dict[str, Any]:
    [plan] = [block["input"] for block in reply["content"] if block.get("name") == "submit_plan"]
    return plan  # type: ignore[no-any-return]  # JSON from the cassette


def total(cassette: Cassette, field: str) -> int:
    return sum(reply["usage"].get(field) or 0 for reply in replies(cassette))


def test_without_a_key_the_engine_refuses_to_start_and_says_how_to_set_one() -> None:
    with pytest.raises(MissingApiKey) as error:
        ClaudeEngine(ClaudeSettings.load(), environ={})

    assert "export ANTHROPIC_API_KEY=" in str(error.value)


@pytest.mark.vcr
async def test_a_plan_comes_back_over_http(vcr: Cassette, anthropic_api_key: str) -> None:
    pack = SkillPack.load()

    async with (
        anthropic.AsyncAnthropic(api_key=anthropic_api_key, max_retries=0) as client,
        guarded(seeded_store(), pack) as github,
    ):
        proposal = await ClaudeEngine(ClaudeSettings.load(), client).propose(snapshot_of(FSDP_HANG), pack, github)

    recorded = replies(vcr)
    assert proposal.plan.model_dump() == submitted_plan(recorded[-1])
    usage = proposal.usage
    assert usage.turns == len(recorded)
    assert usage.input_tokens == total(vcr, "input_tokens") > 0
    assert usage.cache_creation_input_tokens == total(vcr, "cache_creation_input_tokens")
    assert usage.cache_read_input_tokens == total(vcr, "cache_read_input_tokens")
    assert usage.output_tokens == total(vcr, "output_tokens") > 0
    assert usage.cost_usd > 0
    assert all(reply["stop_reason"] == "tool_use" for reply in recorded)


@pytest.mark.vcr
async def test_a_search_then_a_plan_over_http(vcr: Cassette, anthropic_api_key: str) -> None:
    pack = SkillPack.load()

    async with (
        anthropic.AsyncAnthropic(api_key=anthropic_api_key, max_retries=0) as client,
        guarded(seeded_store(), pack) as github,
    ):
        proposal = await ClaudeEngine(ClaudeSettings.load(), client).propose(snapshot_of(FSDP_HANG), pack, github)
        records = list(github.records)

    recorded = replies(vcr)
    searches = [b for reply in recorded for b in reply["content"] if b.get("name") == "search_issues"]
    assert proposal.plan.model_dump() == submitted_plan(recorded[-1])
    assert proposal.usage.turns == len(recorded)
    assert proposal.usage.tool_calls == len(searches) + 1
    assert [r.tool for r in records] == ["search_issues"] * len(searches)
    assert proposal.usage.cache_read_input_tokens == total(vcr, "cache_read_input_tokens")


@pytest.mark.vcr
async def test_an_unknown_model_fails_the_run_over_http(vcr: Cassette, anthropic_api_key: str) -> None:
    pack = SkillPack.load()
    settings = ClaudeSettings.load().model_copy(update={"model": "claude-no-such-model"})

    async with (
        anthropic.AsyncAnthropic(api_key=anthropic_api_key, max_retries=0) as client,
        guarded(seeded_store(), pack) as github,
    ):
        with pytest.raises(EngineFailure) as failure:
            await ClaudeEngine(settings, client).propose(snapshot_of(FSDP_HANG), pack, github)

    assert failure.value.reason.startswith("Claude API error: NotFoundError 404")
    assert failure.value.usage.turns == 0


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anthropic_api_key: str) -> Path:
    monkeypatch.setenv("DISTRIBUTED_TRIAGE_HOME", str(tmp_path))
    monkeypatch.setenv("ANTHROPIC_API_KEY", anthropic_api_key)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    return tmp_path


@pytest.mark.vcr
def test_the_cli_prints_usage_and_cost_and_the_audit_log_keeps_them(
    vcr: Cassette, cli_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["triage", "1001", "--engine", "claude", "--github", "sandbox", "--apply"])

    out = capsys.readouterr().out
    assert code == 0, out
    recorded = replies(vcr)
    tokens = f"tokens in={total(vcr, 'input_tokens')} cache-write={total(vcr, 'cache_creation_input_tokens')}"
    assert f"usage:      {len(recorded)} turns" in out and tokens in out
    [row] = AuditLog(cli_home / "audit.sqlite3").rows()
    assert (row.engine, row.status, row.decision) == ("claude", "applied", submitted_plan(recorded[-1])["decision"])
    assert row.cost_usd > 0 and f"${row.cost_usd:.4f}" in out
    stored = json.loads(row.result_json)["usage"]
    assert stored["output_tokens"] == total(vcr, "output_tokens")


@pytest.mark.vcr
def test_the_cli_exits_1_and_writes_nothing_when_the_model_call_fails(
    cli_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["triage", "1001", "--engine", "claude", "--model", "claude-no-such-model", "--apply"])

    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED: Claude API error: NotFoundError 404" in out
    [row] = AuditLog(cli_home / "audit.sqlite3").rows()
    assert (row.status, row.applied) == ("failed", False)
    assert row.failure is not None and "NotFoundError" in row.failure
    assert default_store(cli_home / "sandbox.sqlite3").require("pytorch/pytorch", 1001).labels == (
        "oncall: distributed",
    )
