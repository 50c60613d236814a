"""The guard proxy: a `GuardedSession` served as an MCP server, so any MCP client (an IDE, Claude Code)
can use GitHub under the triage policy. Tool names and input schemas are the wrapped server's own."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ListToolsResult, Tool

from agent.guarded_session import WRITE_TOOLS, GuardedSession

__all__ = ["ToolLister", "build_proxy", "guarded_tools", "serve_proxy"]


_GUARD_NOTES = {
    "issue_read": "Guarded: only issue {ref}, methods get, get_comments, get_labels.",
    "search_issues": "Guarded: always searches {repo} only.",
    "list_issues": "Guarded: lists {repo} only.",
    "issue_write": "Guarded: only method update on {ref} with labels; labels are added to the live set, "
    "never removed, and only the skill's allowlist is accepted.",
    "add_issue_comment": "Guarded: only on {ref}, and only a comment template of the skill, word for word, once.",
}


@runtime_checkable
class ToolLister(Protocol):
    async def list_tools(self, *, cursor: str | None = None) -> ListToolsResult: ...


async def guarded_tools(session: GuardedSession, lister: ToolLister) -> list[Tool]:
    """The wrapped server's tools the guard can allow, with their schemas and a note on the limits."""
    tools: list[Tool] = []
    cursor: str | None = None
    while True:
        page = await lister.list_tools(cursor=cursor)
        tools.extend(tool for tool in page.tools if tool.name in _GUARD_NOTES)
        cursor = page.next_cursor
        if cursor is None:
            break
    where = {"ref": str(session.ref), "repo": session.ref.full_repo}
    return [
        tool.model_copy(
            update={
                "description": f"{tool.description or ''}\n\n{_GUARD_NOTES[tool.name].format(**where)}".strip(),
                # Write results are the guard's own summaries, not the wrapped server's structured output.
                "output_schema": None if tool.name in WRITE_TOOLS else tool.output_schema,
            }
        )
        for tool in tools
    ]


class _GuardProxy(MCPServer[Any]):
    def __init__(self, session: GuardedSession, tools: list[Tool]) -> None:
        super().__init__(
            name="distributed-triage-guard",
            instructions=f"GitHub tools limited to issue {session.ref} under the {session.pack.meta.name} policy.",
        )
        self._session = session
        self._tools = tools

    async def list_tools(self) -> list[Tool]:
        return list(self._tools)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult:
        return await self._session.call_tool(name, arguments)


async def build_proxy(session: GuardedSession, lister: ToolLister | None = None) -> MCPServer[Any]:
    """An MCP server whose tools are the session's: any MCP client can use GitHub under the policy.

    Tools and schemas are listed from `lister` (default: the session's caller, e.g. an `mcp.Client`).
    """
    source = lister if lister is not None else session.caller
    if not isinstance(source, ToolLister):
        raise TypeError("the guard proxy needs a caller that can list its tools (an mcp.Client)")
    return _GuardProxy(session, await guarded_tools(session, source))


async def serve_proxy(session: GuardedSession) -> None:
    """Serve the guarded tools over stdio until the client goes away."""
    server = await build_proxy(session)
    await server.run_stdio_async()
