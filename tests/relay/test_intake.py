from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import anyio
import lz4.frame
import pytest

from relay import intake
from relay.database import Database
from relay.journal import Journal
from relay.outbox import Delivery, OutboxBusy, SqliteOutbox, Target

pytestmark = pytest.mark.anyio

TARGETS = (
    Target(repo="a/one", level="L2", check_run_wanted=False),
    Target(repo="b/two", level="L4", check_run_wanted=True),
)


def _delivery(delivery_id: str, body: bytes = b'{"n": 1}', received_at: float = 100.0) -> Delivery:
    return Delivery(
        delivery_id=delivery_id,
        event="pull_request",
        action="synchronize",
        upstream_repo="pytorch/pytorch",
        pr_number=9,
        head_sha="c" * 40,
        received_at=received_at,
        body=body,
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "relay.db")
    yield database
    database.close()


async def test_a_recorded_delivery_is_answered_before_its_rows_exist_and_stored_soon_after(db: Database) -> None:
    outbox = await SqliteOutbox.open(db)
    assert await outbox.record(_delivery("d-1"), TARGETS)
    assert outbox.intake.holds("d-1")
    assert db.conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 0
    with anyio.fail_after(5):
        while outbox.intake.holds("d-1"):
            await outbox.watch().wait()
    assert [r.repo for r in await outbox.for_delivery("d-1")] == ["a/one", "b/two"]
    await outbox.close()


def test_deliveries_answered_just_before_a_crash_are_stored_when_the_relay_starts_again(tmp_path: Path) -> None:
    child = textwrap.dedent(
        f"""
        import asyncio, os
        from pathlib import Path
        from relay.database import Database
        from relay.outbox import Delivery, SqliteOutbox, Target

        async def main():
            outbox = await SqliteOutbox.open(Database(Path({str(tmp_path / "relay.db")!r})))
            target = Target(repo="a/one", level="L2", check_run_wanted=False)
            for n in range(50):
                delivery = Delivery(delivery_id=f"d-{{n}}", event="push", action=None, upstream_repo="pytorch/pytorch",
                                    pr_number=None, head_sha="c" * 40, received_at=1.0, body=b'{{"n": %d}}' % n)
                assert await outbox.record(delivery, [target])
            os._exit(0)  # the answers are out; nothing has reached SQLite

        asyncio.run(main())
        """
    )
    subprocess.run([sys.executable, "-c", child], check=True, timeout=60)

    async def restart() -> None:
        database = Database(tmp_path / "relay.db")
        try:
            outbox = await SqliteOutbox.open(database)
            assert database.conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 50
            tasks = await outbox.claim_due(10.0, limit=100, lease_seconds=60)
            assert sorted(t.delivery.body for t in tasks) == sorted(b'{"n": %d}' % n for n in range(50))
            assert not await outbox.record(_delivery("d-7"), TARGETS)
            await outbox.close()
        finally:
            database.close()

    anyio.run(restart)


async def test_a_full_journal_holds_the_answer_until_the_database_catches_up(db: Database) -> None:
    outbox = await SqliteOutbox.open(db, journal_bytes=4096)
    big = b"x" * 2500
    assert await outbox.record(_delivery("d-1", big), TARGETS)
    with anyio.fail_after(5):
        assert await outbox.record(_delivery("d-2", big), TARGETS)  # waits for d-1 to be stored
    assert len(await outbox.for_delivery("d-2")) == 2
    await outbox.close()


async def test_a_journal_that_stays_full_is_reported_and_the_delivery_can_come_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "_FULL_WAIT", 0.2)
    monkeypatch.setattr(intake, "_RETRY_DELAY", 0.05)
    outbox = await SqliteOutbox.open(db, journal_bytes=4096)
    db.conn.execute("CREATE TABLE stuck (x)")
    db.conn.execute(  # the database refuses every delivery while `stuck` has a row
        "CREATE TRIGGER refuse BEFORE INSERT ON deliveries WHEN EXISTS (SELECT 1 FROM stuck)"
        " BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    db.conn.execute("INSERT INTO stuck VALUES (1)")
    assert await outbox.record(_delivery("d-1", b"x" * 2500), TARGETS)
    with pytest.raises(OutboxBusy, match="journal has been full"):
        await outbox.record(_delivery("d-2", b"y" * 2500), TARGETS)
    db.conn.execute("DELETE FROM stuck")
    with anyio.fail_after(5):
        assert await outbox.record(_delivery("d-2", b"y" * 2500), TARGETS)
        await outbox.settle()
    claimed = await outbox.claim_due(500.0, limit=10, lease_seconds=5)
    assert sorted({(t.record.delivery_id, t.delivery.body[:1]) for t in claimed}) == [("d-1", b"x"), ("d-2", b"y")]
    await outbox.close()


async def test_with_synchronous_full_concurrent_deliveries_share_the_syncs_they_wait_for(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs: list[int] = []
    original = Journal.sync

    def counted(self: Journal) -> None:
        syncs.append(self.next_seq)
        original(self)

    monkeypatch.setattr(Journal, "sync", counted)
    outbox = await SqliteOutbox.open(db, sync_each=True)
    async with anyio.create_task_group() as tg:
        for n in range(20):
            tg.start_soon(outbox.record, _delivery(f"d-{n}"), TARGETS)
    assert 1 <= len(syncs) < 20
    assert max(syncs) == 21  # the last sync covered the last record
    await outbox.close()


async def test_purging_drops_the_body_packs_no_delivery_uses_and_forgets_the_ids(db: Database) -> None:
    outbox = await SqliteOutbox.open(db)
    await outbox.record(_delivery("old", received_at=10.0), TARGETS)
    await outbox.settle()
    await outbox.record(_delivery("new", received_at=500.0), TARGETS)
    await outbox.settle()
    assert db.conn.execute("SELECT COUNT(*) FROM bodies").fetchone()[0] == 2
    assert await outbox.purge(before=100.0) == 1
    assert db.conn.execute("SELECT COUNT(*) FROM bodies").fetchone()[0] == 1
    tasks = await outbox.claim_due(600.0, limit=10, lease_seconds=5)
    assert {t.delivery.delivery_id for t in tasks} == {"new"}
    await outbox.close()


async def test_claims_a_few_rows_at_a_time_decompress_their_batchs_pack_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = await SqliteOutbox.open(db)
    for n in range(10):
        await outbox.record(_delivery(f"d-{n}", body=b'{"n": %d}' % n, received_at=100.0 + n), TARGETS)
    await outbox.settle()
    reads: list[int] = []
    decompress = lz4.frame.decompress

    def counted(blob: bytes) -> bytes:
        reads.append(len(blob))
        return bytes(decompress(blob))

    monkeypatch.setattr(lz4.frame, "decompress", counted)
    bodies = []
    while tasks := await outbox.claim_due(200.0, limit=3, lease_seconds=60):
        bodies += [t.delivery.body for t in tasks]
    assert sorted(set(bodies)) == sorted(b'{"n": %d}' % n for n in range(10))
    assert len(reads) == 1
    await outbox.close()


async def test_after_a_purge_a_new_pack_is_read_from_the_database_not_from_the_one_read_before(db: Database) -> None:
    outbox = await SqliteOutbox.open(db)
    await outbox.record(_delivery("old", body=b'{"old": 1}', received_at=10.0), TARGETS)
    await outbox.settle()
    assert {t.delivery.body for t in await outbox.claim_due(20.0, limit=10, lease_seconds=5)} == {b'{"old": 1}'}
    assert await outbox.purge(before=100.0) == 1
    assert db.conn.execute("SELECT COUNT(*) FROM bodies").fetchone()[0] == 0
    await outbox.record(_delivery("new", body=b'{"new": 2}', received_at=500.0), TARGETS)
    await outbox.settle()
    assert db.conn.execute("SELECT pack_id FROM bodies").fetchone()[0] == 1  # the id the old pack had
    assert {t.delivery.body for t in await outbox.claim_due(600.0, limit=10, lease_seconds=5)} == {b'{"new": 2}'}
    await outbox.close()


async def test_a_replay_that_meets_stored_deliveries_leaves_them_and_their_dispatch_rows_as_they_are(
    db: Database,
) -> None:
    outbox = await SqliteOutbox.open(db)
    await outbox.record(_delivery("d-1", body=b'{"first": true}'), TARGETS)
    assert len(await outbox.for_delivery("d-1")) == 2
    await outbox.close()
    # A database older than its journal (restored from a copy, say): replay starts from the first record.
    await db.write(lambda conn: conn.execute("UPDATE journal SET next_seq = 1, position = 0"))
    await db.write(lambda conn: conn.execute("DELETE FROM dispatches WHERE repo = 'b/two'"))
    await db.write(lambda conn: conn.execute("UPDATE dispatches SET status = 'dispatched'"))

    outbox = await SqliteOutbox.open(db)

    rows = await outbox.for_delivery("d-1")
    assert [(r.repo, r.status) for r in rows] == [("a/one", "dispatched")]
    assert db.conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 1
    assert db.conn.execute("SELECT body_pack FROM deliveries").fetchone()[0] == 1  # the first pack still holds it
    await outbox.close()
