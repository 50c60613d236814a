"""Holding the database's writer thread busy, so the writes a test starts meanwhile share one commit."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import anyio.lowlevel
import anyio.to_thread

from relay.database import Database

__all__ = ["held_writer"]


@asynccontextmanager
async def held_writer(db: Database) -> AsyncIterator[anyio.abc.TaskGroup]:
    """A task group whose tasks' writes queue up behind a busy writer until the block ends."""
    entered, release = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        entered.set()
        release.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(db.write, hold)
        try:
            with anyio.fail_after(5):
                await anyio.to_thread.run_sync(entered.wait)
            yield tg
            await anyio.lowlevel.checkpoint()  # the tasks started in the block have queued their writes
        finally:
            release.set()  # even on failure, or the writer thread would wait forever
