import json
from pathlib import Path

import pytest

from agent.cli import build_parser, main
from agent.sandbox import SandboxStore
from tests.agent.sweep.support import REPO, Q, seed


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DISTRIBUTED_TRIAGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path / "home"


def _sandbox(tmp_path: Path) -> Path:
    path = tmp_path / "github.sqlite3"
    with SandboxStore(path) as store:
        for number in range(1, 4):
            seed(store, number, Q)
    return path


def test_help_explains_the_sweep_and_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sweep", "--help"])
    text = capsys.readouterr().out
    for option in ("--limit", "--concurrency", "--apply", "--batch", "--budget-usd", "--resume", "--per-minute"):
        assert option in text
    assert "Phase 1" in text and "bot-triaged" in text and "Exit status" in text


def test_a_dry_run_sweep_prints_the_summary_and_appends_it_to_the_job_summary(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    job_summary = tmp_path / "step-summary.md"
    job_summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(job_summary))
    sandbox = _sandbox(tmp_path)
    code = main(["sweep", "--github", "sandbox", "--sandbox-db", str(sandbox), "--engine", "rules"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out.startswith("## Distributed triage sweep")
    assert "dry run, nothing written" in out.out
    assert job_summary.read_text(encoding="utf-8").startswith("earlier step\n## Distributed triage sweep")
    [report] = (home / "sweeps").iterdir()
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    assert summary["statuses"] == {"planned": 3}
    with SandboxStore(sandbox) as store:
        assert [issue.labels for issue in store.issues(REPO)] == [(Q,)] * 3


def test_an_applied_sweep_writes_and_a_json_summary_can_be_asked_for(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox = _sandbox(tmp_path)
    argv = ["sweep", "--github", "sandbox", "--sandbox-db", str(sandbox), "--engine", "rules", "--apply", "--json"]
    code = main([*argv, "--state", str(tmp_path / "state.sqlite3"), "--report-dir", str(tmp_path / "reports")])
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert code == summary["failures"].__len__() and code in (0, 1)
    assert sum(summary["statuses"].values()) == 3
    assert (tmp_path / "reports" / summary["run_id"] / "summary.md").is_file()
    with SandboxStore(sandbox) as store:
        marked = [issue for issue in store.issues(REPO) if "bot-triaged" in issue.labels]
    assert len(marked) == summary["statuses"].get("applied", 0)


def test_batch_mode_without_claude_is_a_usage_error(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["sweep", "--github", "sandbox", "--sandbox-db", str(_sandbox(tmp_path)), "--engine", "rules", "--batch"]
    )
    assert code == 2
    assert "--batch needs the Claude engine" in capsys.readouterr().err


def test_resuming_a_run_that_does_not_exist_is_a_usage_error(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["sweep", "--github", "sandbox", "--sandbox-db", str(_sandbox(tmp_path)), "--resume", "nope"])
    assert code == 2
    assert "no sweep run 'nope'" in capsys.readouterr().err


def test_a_negative_budget_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sweep", "--budget-usd", "-1"])
    assert "must not be negative" in capsys.readouterr().err


def test_a_budget_too_small_for_one_typical_claude_triage_stops_before_any_model_call(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The key is never used: the budget refuses the first issue before the engine is asked.
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-never-sent")
    argv = ["sweep", "--github", "sandbox", "--sandbox-db", str(_sandbox(tmp_path)), "--engine", "claude"]
    code = main([*argv, "--budget-usd", "0.01", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["skipped"] == {"budget": [1, 2, 3]}
    assert "estimated at $0.0" in summary["budget_note"]
