"""Connecting to GitHub's MCP tools three ways: the offline sandbox in process, the hosted server over
streamable HTTP, or any server command over stdio."""

from __future__ import annotations

import os
import shlex
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal

import httpx2
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from agent.github import GitHubError
from agent.models import UsageError

if TYPE_CHECKING:
    from agent.sandbox.faults import Faults
    from agent.sandbox.store import SandboxStore

__all__ = ["PASSED_ENV", "REMOTE_URL", "ConnectionKind", "connect", "stdio_parameters"]

# The hosted server with only the issues toolset, so a token's other powers are not even offered.
REMOTE_URL = "https://api.githubcopilot.com/mcp/x/issues"

ConnectionKind = Literal["sandbox", "remote", "stdio"]

# Passed on to a stdio server besides the SDK's minimal environment: toolset selection, our state dir.
PASSED_ENV = (
    "GITHUB_TOOLSETS",
    "GITHUB_TOOLS",
    "GITHUB_READ_ONLY",
    "GITHUB_HOST",
    "DISTRIBUTED_TRIAGE_HOME",
    "XDG_STATE_HOME",
    "VIRTUAL_ENV",
)


def stdio_parameters(command: str, token: str | None = None) -> StdioServerParameters:
    """How to start a user-named MCP server command, with the GitHub token in its environment."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"cannot read the GitHub MCP server command {command!r}: {exc}") from None
    if not argv:
        raise UsageError("the GitHub MCP server command is empty; e.g. 'github-mcp-server stdio'")
    env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
    if token:
        env["GITHUB_PERSONAL_ACCESS_TOKEN"] = token
    return StdioServerParameters(command=argv[0], args=argv[1:], env=env)


@asynccontextmanager
async def connect(
    kind: ConnectionKind,
    *,
    store: SandboxStore | None = None,
    faults: Faults | None = None,
    url: str = REMOTE_URL,
    token: str | None = None,
    command: str | None = None,
    read_timeout_seconds: float = 120.0,
) -> AsyncIterator[Client]:
    """An MCP client connected to GitHub: `sandbox` in process over `store` (default: the seeded state-dir
    store), `remote` over streamable HTTP to `url` with a bearer token (default `$GITHUB_TOKEN`), or
    `stdio` by starting `command` with the token as `GITHUB_PERSONAL_ACCESS_TOKEN`.

    A server that cannot be reached or refuses the session is a `GitHubError`; a missing token, an empty
    command or a command that cannot be started is a `UsageError`."""
    async with AsyncExitStack() as stack:
        if kind == "sandbox":
            from agent.sandbox import build_server, default_store

            target: Any = build_server(store if store is not None else default_store(), faults)
            where = "the sandbox"
        elif kind == "remote":
            token = token or os.environ.get("GITHUB_TOKEN")
            if not token:
                raise UsageError(
                    "--github remote needs a GitHub token: set GITHUB_TOKEN (a token that may triage the repository)"
                )
            headers = {"Authorization": f"Bearer {token}", "User-Agent": "distributed-triage"}
            timeout = httpx2.Timeout(30.0, read=max(read_timeout_seconds, 30.0))
            http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=timeout))
            target, where = streamable_http_client(url, http_client=http), f"the GitHub MCP server at {url}"
        elif kind == "stdio":
            if not command:
                raise UsageError("--github stdio needs a command, e.g. --github-command 'github-mcp-server stdio'")
            target = stdio_parameters(command, token or os.environ.get("GITHUB_TOKEN"))
            where = f"the GitHub MCP server started with {command!r}"
        else:
            raise UsageError(f"unknown GitHub connection {kind!r}: use sandbox, remote or stdio")
        try:
            client = await stack.enter_async_context(Client(target, read_timeout_seconds=read_timeout_seconds))
        except FileNotFoundError as error:
            raise UsageError(f"cannot start {where}: {error.strerror}: {error.filename}") from error
        except (MCPError, OSError, httpx2.HTTPError, ExceptionGroup) as error:
            leaves = _leaves(error)
            if not all(isinstance(leaf, MCPError | OSError | httpx2.HTTPError) for leaf in leaves):
                raise
            reasons = "; ".join(dict.fromkeys(str(leaf) or type(leaf).__name__ for leaf in leaves))
            hint = " (is the token valid, and may it use the issues toolset?)" if kind == "remote" else ""
            raise GitHubError(f"cannot open a session with {where}: {reasons}{hint}", kind="transient") from error
        yield client


def _leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, which is how the SDK's task groups report them."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]
