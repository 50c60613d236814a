from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from relay.database import Database, DatabaseBusy
from relay.outbox import Delivery, SqliteOutbox, Target
from tests.relay.held_writer import held_writer

pytestmark = pytest.mark.anyio

TARGETS = [
    Target(repo="a/one", level="L1", check_run_wanted=False),
    Target(repo="b/two", level="L4", check_run_wanted=True),
]


def _delivery(delivery_id: str = "d-1", received_at: float = 100.0) -> Delivery:
    return Delivery(
        delivery_id=delivery_id,
        event="pull_request",
        action="opened",
        upstream_repo="pytorch/pytorch",
        pr_number=5,
        head_sha="a" * 40,
        received_at=received_at,
        body="{}",
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "o.db")
    yield database
    database.close()


async def test_a_known_delivery_is_not_recorded_again_even_with_new_targets(db: Database) -> None:
    outbox = await SqliteOutbox.open(db)
    assert await outbox.record(_delivery(), TARGETS)
    assert not await outbox.record(_delivery(), [*TARGETS, Target(repo="c/three", level="L2", check_run_wanted=False)])
    assert [r.repo for r in await outbox.for_delivery("d-1")] == ["a/one", "b/two"]


async def test_claiming_counts_an_attempt_and_leases_the_row_until_released(db: Database) -> None:
    outbox = await SqliteOutbox.open(db)
    await outbox.record(_delivery(), TARGETS)
    await outbox.settle()  # claiming sees stored rows only
    claimed = await outbox.claim_due(200.0, limit=10, lease_seconds=60)
    assert [(t.record.repo, t.record.attempts) for t in claimed] == [("a/one", 1), ("b/two", 1)]
    assert await outbox.claim_due(201.0, limit=10, lease_seconds=60) == []
    assert await outbox.next_due() == 260.0
    assert await outbox.release_leases() == 2
    again = await outbox.claim_due(201.0, limit=1, lease_seconds=60)
    assert [(t.record.attempts, t.delivery.delivery_id) for t in again] == [(2, "d-1")]


async def test_a_retry_is_due_only_at_its_time_and_settled_rows_are_never_claimed(db: Database) -> None:
    outbox = await SqliteOutbox.open(db)
    await outbox.record(_delivery(), TARGETS)
    await outbox.settle()
    await outbox.claim_due(200.0, limit=10, lease_seconds=60)
    await outbox.mark_retry("d-1", "a/one", 300.0, "HTTP 502")
    await outbox.mark_dispatched("d-1", "b/two", 201.0)
    assert await outbox.claim_due(299.0, limit=10, lease_seconds=60) == []
    assert [t.record.repo for t in await outbox.claim_due(300.0, limit=10, lease_seconds=60)] == ["a/one"]
    await outbox.mark_failed("d-1", "a/one", "gave up")
    assert await outbox.next_due() is None
    records = {r.repo: (r.status, r.last_error) for r in await outbox.for_delivery("d-1")}
    assert records == {"a/one": ("failed", "gave up"), "b/two": ("dispatched", None)}


def _dispatch_rows(db: Database) -> list[tuple[str, str]]:
    return [tuple(r) for r in db.conn.execute("SELECT delivery_id, repo FROM dispatches ORDER BY delivery_id, repo")]


async def test_dispatch_rows_are_made_when_a_claim_needs_them_oldest_delivery_first(db: Database) -> None:
    outbox = await SqliteOutbox.open(db)
    for n, received in ((3, 300.0), (1, 100.0), (2, 200.0)):
        await outbox.record(_delivery(f"d-{n}", received), TARGETS)
    await outbox.settle()
    assert _dispatch_rows(db) == []  # stored with their targets, no rows yet
    assert await outbox.next_due() == 100.0  # the oldest delivery is due at once
    claimed = await outbox.claim_due(1000.0, limit=3, lease_seconds=60)
    keys = [(t.record.delivery_id, t.record.repo) for t in claimed]
    assert keys == [("d-1", "a/one"), ("d-1", "b/two"), ("d-2", "a/one")]
    assert db.conn.execute("SELECT COUNT(*) FROM deliveries WHERE fanout IS NOT NULL").fetchone()[0] == 0


async def test_rows_already_made_are_claimed_before_newer_deliveries_get_theirs(db: Database) -> None:
    outbox = await SqliteOutbox.open(db)
    await outbox.record(_delivery("d-1", 100.0), TARGETS)
    await outbox.settle()
    assert len(await outbox.claim_due(100.0, limit=2, lease_seconds=60)) == 2
    await outbox.mark_retry("d-1", "a/one", 150.0, "HTTP 502")
    await outbox.mark_dispatched("d-1", "b/two", 101.0)
    await outbox.record(_delivery("d-2", 120.0), TARGETS)
    await outbox.settle()
    claimed = await outbox.claim_due(200.0, limit=1, lease_seconds=60)
    assert [(t.record.delivery_id, t.record.repo, t.record.attempts) for t in claimed] == [("d-1", "a/one", 2)]
    assert ("d-2", "a/one") not in _dispatch_rows(db)
    claimed = await outbox.claim_due(200.0, limit=5, lease_seconds=60)
    assert [(t.record.delivery_id, t.record.repo) for t in claimed] == [("d-2", "a/one"), ("d-2", "b/two")]


async def test_reading_a_delivery_makes_its_rows_once_and_a_claim_does_not_make_them_again(db: Database) -> None:
    outbox = await SqliteOutbox.open(db)
    await outbox.record(_delivery("d-1"), TARGETS)
    assert [r.status for r in await outbox.for_delivery("d-1")] == ["pending", "pending"]
    await outbox.mark_dispatched("d-1", "a/one", 101.0)
    assert [t.record.repo for t in await outbox.claim_due(200.0, limit=5, lease_seconds=60)] == ["b/two"]
    assert _dispatch_rows(db) == [("d-1", "a/one"), ("d-1", "b/two")]
    record = await outbox.get("d-1", "a/one")
    assert record is not None
    assert record.status == "dispatched"


async def test_a_callback_token_is_redeemed_by_the_first_run_only(db: Database) -> None:
    outbox = await SqliteOutbox.open(db)
    await outbox.record(_delivery(), TARGETS)
    await outbox.settle()
    assert await outbox.redeem("d-1", "a/one", 11) == 11
    assert await outbox.redeem("d-1", "A/One", 12) == 11
    assert await outbox.redeem("d-1", "b/two", 12) == 12
    assert await outbox.redeem("nope", "a/one", 11) is None


async def test_old_deliveries_are_purged_with_their_rows(db: Database) -> None:
    outbox = await SqliteOutbox.open(db)
    await outbox.record(_delivery("old", 10.0), TARGETS)
    await outbox.record(_delivery("new", 500.0), TARGETS)
    await outbox.settle()
    assert await outbox.purge(before=100.0) == 1
    assert await outbox.for_delivery("old") == []
    assert len(await outbox.for_delivery("new")) == 2
    assert db.conn.execute("SELECT COUNT(*) FROM dispatches").fetchone()[0] == 2


def test_a_second_relay_on_the_same_database_is_refused(db: Database) -> None:
    with pytest.raises(DatabaseBusy, match="another relay process"):
        Database(db.path)


async def test_the_outbox_survives_reopening(tmp_path: Path) -> None:
    first = Database(tmp_path / "o.db")
    outbox = await SqliteOutbox.open(first)
    await outbox.record(_delivery(), TARGETS)
    await outbox.close()
    first.close()
    second = Database(tmp_path / "o.db")
    try:
        reopened = await SqliteOutbox.open(second)
        assert len(await reopened.for_delivery("d-1")) == 2
        assert not await reopened.record(_delivery(), TARGETS)
        await reopened.close()
    finally:
        second.close()


async def test_a_delivery_to_more_repos_than_one_statement_can_bind_is_recorded_whole(db: Database) -> None:
    outbox = await SqliteOutbox.open(db)
    many = [Target(repo=f"org/repo-{n}", level="L1", check_run_wanted=False) for n in range(1234)]
    assert await outbox.record(_delivery(), many)
    assert len(await outbox.for_delivery("d-1")) == 1234


async def test_a_copy_arriving_before_the_first_is_stored_is_refused_and_the_first_copys_targets_count(
    db: Database,
) -> None:
    outbox = await SqliteOutbox.open(db)
    async with held_writer(db):  # the first copy cannot be stored yet
        assert await outbox.record(_delivery(), TARGETS[:1])
        assert not await outbox.record(_delivery(), TARGETS)
    assert [r.repo for r in await outbox.for_delivery("d-1")] == ["a/one"]


async def test_deliveries_recorded_at_once_are_each_stored_with_their_own_targets(db: Database) -> None:
    outbox = await SqliteOutbox.open(db)
    targets = {
        f"d-{n}": [Target(repo=f"org/r{n}-{i}", level="L2", check_run_wanted=False) for i in range(n)]
        for n in range(1, 30)
    }

    async def record(delivery_id: str) -> None:
        assert await outbox.record(_delivery(delivery_id), targets[delivery_id])

    async with anyio.create_task_group() as tg:
        for delivery_id in targets:
            tg.start_soon(record, delivery_id)
    for delivery_id, expected in targets.items():
        assert [r.repo for r in await outbox.for_delivery(delivery_id)] == sorted(t.repo for t in expected)
