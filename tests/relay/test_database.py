from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from relay.database import SCHEMA_VERSION, Database, DatabaseOutdated
from tests.relay.held_writer import held_writer

pytestmark = pytest.mark.anyio


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "d.db")
    database.create("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    yield database
    database.close()


def test_a_new_file_is_marked_with_the_current_layout_and_opens_again(tmp_path: Path) -> None:
    Database(tmp_path / "new.db").close()
    with sqlite3.connect(tmp_path / "new.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    Database(tmp_path / "new.db").close()


@pytest.mark.parametrize("version", [0, SCHEMA_VERSION + 1])
def test_a_file_with_tables_of_another_layout_is_refused_each_time_and_left_as_it_was(
    tmp_path: Path, version: int
) -> None:
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("CREATE TABLE deliveries (delivery_id TEXT PRIMARY KEY, body_zlib BLOB)")
        conn.execute(f"PRAGMA user_version = {version}")
    for _ in range(2):  # the refusal lets go of the file: the second is refused for the same reason, not as busy
        with pytest.raises(DatabaseOutdated, match=f"layout {version}, and this relay reads layout {SCHEMA_VERSION}"):
            Database(tmp_path / "old.db")
    with sqlite3.connect(tmp_path / "old.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == version
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


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


def _insert_many(conn: sqlite3.Connection, items: list[tuple[int, str | None]]) -> list[int]:
    rows = ", ".join(["(?, ?)"] * len(items))
    conn.execute(f"INSERT INTO t VALUES {rows}", [value for item in items for value in item])
    return [k for k, _ in items]


async def test_batched_writes_queued_together_share_one_call_and_each_gets_its_own_result(db: Database) -> None:
    calls: list[list[int]] = []

    def insert(conn: sqlite3.Connection, items: list[tuple[int, str | None]]) -> list[int]:
        calls.append([k for k, _ in items])
        return _insert_many(conn, items)

    results: dict[int, int] = {}

    async def one(k: int) -> None:
        item: tuple[int, str | None] = (k, f"v{k}")
        results[k] = await db.write_batched(insert, item)

    async with held_writer(db) as tg:
        for k in range(8):
            tg.start_soon(one, k)
    assert calls == [list(range(8))]
    assert results == {k: k for k in range(8)}
    assert db.conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 8


async def test_a_failing_item_of_a_batched_write_fails_alone(db: Database) -> None:
    outcomes: dict[int, object] = {}

    async def one(k: int, v: str | None) -> None:
        try:
            outcomes[k] = await db.write_batched(_insert_many, (k, v))
        except sqlite3.IntegrityError as exc:
            outcomes[k] = exc

    async with anyio.create_task_group() as tg:
        for k in range(10):
            tg.start_soon(one, k, None if k == 6 else "ok")  # NOT NULL violation for k=6
    assert isinstance(outcomes.pop(6), sqlite3.IntegrityError)
    assert outcomes == {k: k for k in range(10) if k != 6}
    assert db.conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 9


async def test_a_batched_write_that_answers_for_the_wrong_number_of_items_is_an_error(db: Database) -> None:
    with pytest.raises(RuntimeError, match="returned 0 results for 1 writes"):
        await db.write_batched(lambda conn, items: [], "item")


def _insert_blob(k: int, blob: bytes) -> Callable[[sqlite3.Connection], object]:
    return lambda conn: conn.execute("INSERT INTO t VALUES (?, ?)", (k, blob))


async def test_checkpoints_between_steady_writes_let_the_log_start_over_instead_of_growing(db: Database) -> None:
    blob = b"x" * 64 * 1024
    written = anyio.Event()

    async def keep_checkpointing() -> None:
        while not written.is_set():
            await db.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(keep_checkpointing)
        for k in range(100):  # 6.4 MB in all
            await db.write(_insert_blob(k, blob))
        written.set()
    log = db.path.with_name(db.path.name + "-wal")
    assert log.stat().st_size < 1024 * 1024
    assert db.conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 100
