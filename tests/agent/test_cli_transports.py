"""`agent triage --apply` as a user runs it, against the sandbox served over stdio and over HTTP."""

import json
import os
import shlex
import sys
from pathlib import Path

import anyio
import pytest

from agent.sandbox import SandboxStore, default_store
from tests.agent.sandbox.test_serving import _http_sandbox

pytestmark = pytest.mark.anyio


async def run_cli(*args: str, home: Path, token: str | None = None) -> tuple[int, dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if k not in {"GITHUB_TOKEN", "ANTHROPIC_API_KEY"}}
    env["DISTRIBUTED_TRIAGE_HOME"] = str(home)
    if token:
        env["GITHUB_TOKEN"] = token
    with anyio.fail_after(120):
        done = await anyio.run_process([sys.executable, "-m", "agent", *args, "--json"], env=env, check=False)
    return done.returncode, json.loads(done.stdout)


def labels(db: Path, number: int) -> set[str]:
    with SandboxStore(db) as store:
        return set(store.require("pytorch/pytorch", number).labels)


async def test_apply_over_a_stdio_github_server_writes_through_the_guard(tmp_path: Path) -> None:
    db = tmp_path / "stdio.sqlite3"
    default_store(db).close()
    before = labels(db, 1004)
    server = shlex.join([sys.executable, "-m", "agent.sandbox", "--db", str(db)])
    code, result = await run_cli(
        "triage", "1004", "--apply", "--github", "stdio", "--github-command", server, home=tmp_path
    )
    assert code == 0, result
    effects = result["effects"]
    assert isinstance(effects, dict)
    assert labels(db, 1004) == before | set(effects["add_labels"])
    assert "module: dtensor" in effects["add_labels"]


async def test_apply_over_a_remote_http_github_server_with_a_token(tmp_path: Path) -> None:
    db = tmp_path / "http.sqlite3"
    default_store(db).close()
    before = labels(db, 1003)
    async with _http_sandbox(db, "tok3n") as url:
        code, result = await run_cli(
            "triage", "1003", "--apply", "--github", "remote", "--github-url", url, home=tmp_path, token="tok3n"
        )
    assert code == 0, result
    effects = result["effects"]
    assert isinstance(effects, dict)
    assert labels(db, 1003) == before | set(effects["add_labels"])
    assert "oncall: distributed checkpointing" in effects["add_labels"]
