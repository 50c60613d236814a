import re
from pathlib import Path
from typing import Any

import yaml

from agent.cli import build_parser

WORKFLOW = Path(__file__).resolve().parents[3] / "examples" / "github-actions" / "distributed-triage-nightly.yml"


def _load() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return loaded


def _steps() -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = _load()["jobs"]["sweep"]["steps"]
    return steps


def test_the_workflow_runs_nightly_and_one_sweep_at_a_time() -> None:
    workflow = _load()
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"][0]["cron"] == "0 16 * * *"
    assert "workflow_dispatch" in triggers
    assert "github.repository" in workflow["concurrency"]["group"]
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_permissions_are_least_privilege() -> None:
    workflow = _load()
    assert workflow["permissions"] == {}
    assert workflow["jobs"]["sweep"]["permissions"] == {"contents": "read", "issues": "write"}


def test_every_action_is_pinned_to_a_commit_and_checkout_keeps_no_credentials() -> None:
    used = [step for step in _steps() if "uses" in step]
    assert used
    for step in used:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
    checkout = next(step for step in used if step["uses"].startswith("actions/checkout@"))
    assert checkout["with"]["persist-credentials"] is False


def test_secrets_and_inputs_reach_the_script_only_through_the_environment() -> None:
    for step in _steps():
        assert "${{" not in step.get("run", ""), step.get("name")
    sweep = next(step for step in _steps() if "python -m agent sweep" in step.get("run", ""))
    assert sweep["env"]["ANTHROPIC_API_KEY"] == "${{ secrets.ANTHROPIC_API_KEY }}"
    assert sweep["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"


def test_every_sweep_option_the_workflow_passes_exists() -> None:
    sweep = next(step for step in _steps() if "python -m agent sweep" in step.get("run", ""))
    parser = build_parser()
    argv = ["sweep", "--repo", "pytorch/pytorch", "--github", "stdio", "--github-command", "x", "--engine", "claude"]
    argv += [
        "--budget-usd",
        "10",
        "--concurrency",
        "8",
        "--apply",
        "--limit",
        "5",
        "--resume",
        "20260101T000000-ab12cd",
    ]
    parser.parse_args(argv)
    script = re.sub(r'"[^"]*"', '""', sweep["run"])  # the quoted MCP server command has options of its own
    passed = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", script))
    assert passed == {arg for arg in argv if arg.startswith("--")}


def test_the_summaries_are_kept_even_when_the_sweep_fails() -> None:
    kept = [step for step in _steps() if step.get("if") == "always()"]
    assert any("upload-artifact" in step["uses"] for step in kept)
    assert any("cache/save" in step["uses"] for step in kept)
