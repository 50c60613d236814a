import os
import shlex
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream

from agent.connection import connect
from agent.github import GitHubError, call_json
from agent.models import UsageError
from agent.sandbox import EXAMPLES_PATH, DatasetRecord, IssueSeed, SandboxStore, default_store

pytestmark = pytest.mark.anyio

GET_1001 = {"method": "get", "owner": "pytorch", "repo": "pytorch", "issue_number": 1001}


def test_the_default_store_is_seeded_once_and_then_kept(tmp_path: Path) -> None:
    path = tmp_path / "state" / "sandbox.sqlite3"
    with default_store(path) as store:
        assert store.count() == 10
        store.set_labels("pytorch/pytorch", 1001, ["oncall: distributed", "triaged"])
        store.put(IssueSeed(repo="pytorch/pytorch", number=2000, title="added by a test"))
    with default_store(path) as again:
        assert again.count() == 11
        assert again.require("pytorch/pytorch", 1001).labels == ("oncall: distributed", "triaged")


def test_the_default_store_lives_in_the_state_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTRIBUTED_TRIAGE_HOME", str(tmp_path))
    default_store().close()
    assert (tmp_path / "sandbox.sqlite3").exists()


def test_the_example_issues_cover_the_queue_and_stay_invented() -> None:
    records = [DatasetRecord.parse_line(line) for line in EXAMPLES_PATH.read_text(encoding="utf-8").splitlines()]
    assert [r.number for r in records] == list(range(1001, 1011))
    assert all("oncall: distributed" in r.labels and r.repo == "pytorch/pytorch" for r in records)
    labels = {r.number: set(r.labels) for r in records}
    assert {"oncall: distributed parallelisms", "module: ddp"} <= labels[1007]
    assert "oncall: pt2" in labels[1009]
    demo = records[0]
    assert "fully_shard" in (demo.body or "") and "Traceback" in (demo.body or "")
    assert labels[1001] == {"oncall: distributed"}
    assert "<!--" in (records[9].body or "") and "high priority" in (records[9].body or "")


async def test_the_sandbox_is_served_over_stdio(tmp_path: Path) -> None:
    db = tmp_path / "stdio.sqlite3"
    default_store(db).close()
    command = shlex.join([sys.executable, "-m", "agent.sandbox", "--db", str(db)])
    with anyio.fail_after(60):
        async with connect("stdio", command=command, token="not-used") as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            issue = await call_json(client, "issue_read", GET_1001)
            await call_json(client, "issue_write", {**GET_1001, "method": "update", "labels": ["x"]})
    assert "issue_write" in tools
    assert issue["labels"] == ["oncall: distributed"]
    with SandboxStore(db) as store:
        assert store.require("pytorch/pytorch", 1001).labels == ("x",)


async def test_a_stdio_command_that_does_not_exist_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="cannot start"):
        async with connect("stdio", command="/nonexistent/github-mcp-server stdio"):
            pass


@asynccontextmanager
async def _http_sandbox(db: Path, token: str) -> AsyncIterator[str]:
    """Start `python -m agent.sandbox --transport http --port 0` and yield the URL it prints."""
    argv = [
        sys.executable,
        "-m",
        "agent.sandbox",
        "--db",
        str(db),
        "--transport",
        "http",
        "--port",
        "0",
        "--bearer-token-env",
        "SANDBOX_TEST_TOKEN",
    ]
    process: Process = await anyio.open_process(argv, env={**os.environ, "SANDBOX_TEST_TOKEN": token}, stderr=-1)
    async with process:
        try:
            assert process.stderr is not None
            seen = ""
            with anyio.fail_after(60):
                async for chunk in TextReceiveStream(process.stderr):
                    seen += chunk
                    if "listening on " in seen and "\n" in seen.split("listening on ", 1)[1]:
                        break
            yield seen.split("listening on ", 1)[1].split()[0]
        finally:
            process.terminate()
            await process.wait()


async def test_the_sandbox_is_served_over_streamable_http_on_loopback(tmp_path: Path) -> None:
    db = tmp_path / "http.sqlite3"
    default_store(db).close()
    async with _http_sandbox(db, "s3cret") as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
        with anyio.fail_after(60):
            async with connect("remote", url=url, token="s3cret") as client:
                issue = await call_json(client, "issue_read", GET_1001)
            with pytest.raises(GitHubError, match="cannot open a session") as refused:
                async with connect("remote", url=url, token="wrong"):
                    pass
    assert issue["number"] == 1001
    assert refused.value.kind == "transient"
