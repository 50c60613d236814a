"""Serving the sandbox over stdio or streamable HTTP, and the default store the CLI uses."""

from __future__ import annotations

import hmac
import socket
import sys
from pathlib import Path
from typing import Literal

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from agent.paths import state_dir
from agent.sandbox.faults import Faults
from agent.sandbox.server import build_server
from agent.sandbox.store import SandboxStore

__all__ = ["EXAMPLES_PATH", "Transport", "default_store", "serve"]

Transport = Literal["stdio", "http"]

# Shipped inside the package so a wheel install has the demo issues too.
EXAMPLES_PATH = Path(__file__).with_name("examples.jsonl")


def default_store(path: Path | str | None = None) -> SandboxStore:
    """The sandbox file (default: `sandbox.sqlite3` in the state directory). A file that does not exist
    yet is created and seeded with the example issues once; after that it is kept as it is, so changes
    written with --apply are still there for the next command."""
    if path is not None and str(path) == ":memory:":
        store = SandboxStore(":memory:")
        store.load_jsonl(EXAMPLES_PATH)
        return store
    target = Path(path) if path is not None else state_dir() / "sandbox.sqlite3"
    fresh = not target.exists()
    store = SandboxStore(target)
    if fresh:
        # Two processes racing here both seed; loading replaces by number, so the result is the same.
        store.load_jsonl(EXAMPLES_PATH)
    return store


async def serve(
    store: SandboxStore | Path | str | None = None,
    *,
    transport: Transport = "stdio",
    host: str = "127.0.0.1",
    port: int = 8765,
    faults: Faults | None = None,
    bearer_token: str | None = None,
) -> None:
    """Serve the sandbox until cancelled. Over HTTP the endpoint is `http://host:port/mcp` (port 0 picks
    a free one) and its address is printed on stderr; with `bearer_token`, requests without
    `Authorization: Bearer <token>` are refused, so clients can prove they send the header."""
    if not isinstance(store, SandboxStore):
        store = default_store(store)
    server = build_server(store, faults)
    if transport == "stdio":
        await server.run_stdio_async()
        return
    app: ASGIApp = server.streamable_http_app(host=host)
    if bearer_token:
        app = _BearerGate(app, bearer_token)
    listener = _bind(host, port)
    bound = listener.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"sandbox GitHub MCP server listening on http://{shown}:{bound}/mcp", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve(sockets=[listener])


def _bind(host: str, port: int) -> socket.socket:
    # Binding here (not inside uvicorn) tells us the real port before serving, even for port 0.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(128)
    listener.set_inheritable(True)
    return listener


class _BearerGate:
    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                await send(
                    {"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]}
                )
                await send({"type": "http.response.body", "body": b"missing or wrong bearer token\n"})
                return
        await self.app(scope, receive, send)
