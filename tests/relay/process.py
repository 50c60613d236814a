"""`python -m relay serve` as a real child process, for tests that kill it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import yaml
from anyio.abc import ByteReceiveStream, Process

from relay.config import ENV_APP_PRIVATE_KEY, ENV_CALLBACK_TOKEN_SECRET, ENV_WEBHOOK_SECRET, RelayConfig
from tests.relay.harness import CALLBACK_KEY, WEBHOOK_SECRET

__all__ = ["LogReader", "RelayProcess", "relay_process"]

ROOT = Path(__file__).resolve().parents[2]


class LogReader:
    """The child's stderr, line by line, kept for later questions."""

    def __init__(self, stream: ByteReceiveStream) -> None:
        self._stream = stream
        self._buffer = b""
        self.lines: list[str] = []

    async def wait_for(self, pattern: str, count: int = 1) -> list[re.Match[str]]:
        """Read until `count` lines match `pattern`; fails if the child exits first."""
        regex = re.compile(pattern)
        while len(matches := [m for line in self.lines if (m := regex.search(line))]) < count:
            try:
                chunk = await self._stream.receive()
            except anyio.EndOfStream:
                raise AssertionError("the relay exited:\n" + "\n".join(self.lines)) from None
            self._buffer += chunk
            *complete, self._buffer = self._buffer.split(b"\n")
            self.lines.extend(line.decode(errors="replace") for line in complete)
        return matches


@dataclass
class RelayProcess:
    process: Process
    url: str
    log: LogReader


def write_config(config: RelayConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return path


@asynccontextmanager
async def relay_process(config_path: Path, app_key_pem: str) -> AsyncIterator[RelayProcess]:
    env = {
        **os.environ,
        ENV_WEBHOOK_SECRET: WEBHOOK_SECRET.decode(),
        ENV_CALLBACK_TOKEN_SECRET: CALLBACK_KEY.decode(),
        ENV_APP_PRIVATE_KEY: app_key_pem,
    }
    command = [sys.executable, "-m", "relay", "serve", "--config", str(config_path), "--port", "0"]
    process = await anyio.open_process(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    log = LogReader(process.stderr)
    try:
        with anyio.fail_after(20):
            (match,) = await log.wait_for(r"relay listening on (http://\S+)")
        yield RelayProcess(process, match.group(1), log)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        await process.aclose()
