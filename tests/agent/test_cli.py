import json
from pathlib import Path

import pytest

from agent.audit import AuditLog
from agent.cli import main
from agent.sandbox import SandboxStore, default_store


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DISTRIBUTED_TRIAGE_HOME", str(tmp_path))
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    return tmp_path


def sandbox_labels(home: Path, number: int) -> set[str]:
    with SandboxStore(home / "sandbox.sqlite3") as store:
        return set(store.require("pytorch/pytorch", number).labels)


def test_triage_prints_the_plan_and_writes_nothing_by_default(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triage", "pytorch/pytorch#1001"]) == 0
    out = capsys.readouterr().out
    assert "decision:   classify" in out
    assert "module: fsdp" in out
    assert "dry run: nothing written" in out
    assert "module: fsdp" not in sandbox_labels(home, 1001)


def test_apply_changes_exactly_the_planned_labels_and_audits(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    default_store(home / "sandbox.sqlite3").close()
    before = sandbox_labels(home, 1001)
    assert main(["triage", "1001", "--apply", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "applied"
    assert sandbox_labels(home, 1001) == before | set(result["effects"]["add_labels"])
    rows = list(AuditLog(home / "audit.sqlite3").rows())
    assert [(row.issue, row.status) for row in rows] == [("pytorch/pytorch#1001", "applied")]


def test_the_marker_option_switches_the_marker(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triage", "1001", "--json", "--marker", "ptd-bot-triaged"]) == 0
    added = json.loads(capsys.readouterr().out)["effects"]["add_labels"]
    assert "ptd-bot-triaged" in added
    assert "bot-triaged" not in added


def test_an_unreadable_issue_reference_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triage", "pytorch#12"]) == 2
    assert "owner/repo#N" in capsys.readouterr().err


def test_claude_without_a_key_explains_how_to_set_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triage", "1001", "--engine", "claude"]) == 2
    assert "ANTHROPIC_API_KEY" in capsys.readouterr().err


def test_stdio_without_a_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triage", "1001", "--github", "stdio"]) == 2
    assert "--github-command" in capsys.readouterr().err


def test_remote_without_a_token_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triage", "1001", "--github", "remote"]) == 2
    assert "GITHUB_TOKEN" in capsys.readouterr().err


def test_an_issue_missing_from_github_is_a_failed_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triage", "424242"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_a_skill_folder_that_does_not_exist_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triage", "1001", "--skill", "/nonexistent/skill"]) == 2
    assert "no skill folder" in capsys.readouterr().err
