"""Serving ASGI apps on real loopback sockets inside the test's event loop."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import anyio
import uvicorn
from starlette.types import ASGIApp

from relay.cli import listen

__all__ = ["bind", "serve"]


class _TestServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = anyio.Event()
        self.stop = anyio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    async def main_loop(self) -> None:
        # uvicorn polls for shutdown every 0.1 s; waiting on an event stops the server at once.
        await self.on_tick(0)
        await self.stop.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's own shutdown always pauses 0.1 s for connections to notice; tests close theirs first.
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # leave SIGINT to pytest


def bind() -> tuple[socket.socket, str]:
    """A listening socket on an ephemeral loopback port, and its base URL."""
    sock = listen("127.0.0.1", 0)
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextlib.asynccontextmanager
async def serve(app: ASGIApp, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """Run `app` under uvicorn until the block ends; yields the base URL once it accepts requests."""
    if sock is None:
        sock, url = bind()
    else:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = _TestServer(uvicorn.Config(app, lifespan="on", log_level="warning"))

    async def run() -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            server.ready.set()  # a failed start must not leave the fixture waiting

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        with anyio.fail_after(10):
            await server.ready.wait()
        if not server.started:
            raise RuntimeError("the test server did not start")
        try:
            yield url
        finally:
            server.should_exit = True
            server.stop.set()
