from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from relay.database import Database

pytestmark = pytest.mark.anyio


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "d.db")
    database.create("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    yield database
    database.close()


def _insert(k: int, v: str | None) -> Callable[[sqlite3.Connection], int]:
    return lambda conn: conn.execute("INSERT INTO t VALUES (?, ?)", (k, v)).rowcount


async def test_concurrent_writes_all_commit_and_each_gets_its_own_result(db: Database) -> None:
    results: dict[int, object] = {}

    async def one(k: int) -> None:
        results[k] = await db.write(_insert(k, f"v{k}"))

    async with anyio.create_task_group() as tg:
        for k in range(50):
            tg.start_soon(one, k)
    assert results == dict.fromkeys(range(50), 1)
    assert db.conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 50


async def test_a_failing_write_reports_its_error_and_does_not_undo_the_others(db: Database) -> None:
    outcomes: dict[int, object] = {}

    async def one(k: int, v: str | None) -> None:
        try:
            outcomes[k] = await db.write(_insert(k, v))
        except sqlite3.IntegrityError as exc:
            outcomes[k] = exc

    async with anyio.create_task_group() as tg:
        for k in range(10):
            tg.start_soon(one, k, None if k == 4 else "ok")  # NOT NULL violation for k=4
    assert isinstance(outcomes.pop(4), sqlite3.IntegrityError)
    assert outcomes == dict.fromkeys([0, 1, 2, 3, 5, 6, 7, 8, 9], 1)
    assert db.conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 9


async def test_a_write_to_a_closed_database_is_refused(tmp_path: Path) -> None:
    db = Database(tmp_path / "c.db")
    db.close()
    with pytest.raises(RuntimeError, match="closed"):
        await db.write(lambda conn: None)
