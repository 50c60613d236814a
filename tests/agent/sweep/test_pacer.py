import anyio
import pytest

from agent.sweep.pacer import PaceLimits, WritePacer, write_kind
from tests.agent.sweep.support import FakeTime


def _pacer(per_minute: int, per_hour: int, time: FakeTime, margin: float = 0.0) -> WritePacer:
    limits = PaceLimits(per_minute=per_minute, per_hour=per_hour, margin_seconds=margin)
    return WritePacer(limits, clock=time.clock, sleep=time.sleep)


@pytest.mark.anyio
async def test_writes_under_the_minute_limit_go_through_without_waiting() -> None:
    time = FakeTime()
    pacer = _pacer(3, 100, time)
    for _ in range(3):
        await pacer.acquire()
    assert time.sleeps == []
    assert pacer.peak_per_minute == 3


@pytest.mark.anyio
async def test_the_write_over_the_minute_limit_waits_for_the_oldest_to_leave_the_window() -> None:
    time = FakeTime()
    pacer = _pacer(2, 100, time)
    await pacer.acquire()
    time.now = 10.0
    await pacer.acquire()
    await pacer.acquire()
    assert time.sleeps == [50.0]
    assert time.now == 60.0
    assert pacer.peak_per_minute == 2


@pytest.mark.anyio
async def test_the_hour_limit_holds_even_when_every_minute_is_under_its_limit() -> None:
    time = FakeTime()
    pacer = _pacer(80, 5, time)
    for _ in range(5):
        await pacer.acquire()
        time.now += 30.0
    started = time.now
    await pacer.acquire()
    assert time.now == pytest.approx(3600.0)
    assert time.now > started


@pytest.mark.anyio
async def test_a_thousand_writes_never_exceed_either_window() -> None:
    time = FakeTime()
    pacer = _pacer(80, 500, time)
    stamps: list[float] = []
    for _ in range(1000):
        await pacer.acquire()
        stamps.append(time.now)
    for i, stamp in enumerate(stamps):
        assert sum(1 for s in stamps[i:] if s < stamp + 60.0) <= 80
        assert sum(1 for s in stamps[i:] if s < stamp + 3600.0) <= 500
    assert pacer.peak_per_minute == 80
    assert pacer.total == 1000


@pytest.mark.anyio
async def test_concurrent_writers_are_served_one_at_a_time_within_the_limit() -> None:
    time = FakeTime()
    pacer = _pacer(4, 100, time)
    done: list[float] = []

    async def writer() -> None:
        await pacer.acquire()
        done.append(time.now)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(writer)
    assert sorted(done) == [0.0] * 4 + [60.0] * 4 + [120.0] * 2


@pytest.mark.anyio
async def test_the_margin_keeps_a_full_window_from_reading_one_over_at_github() -> None:
    time = FakeTime()
    pacer = _pacer(2, 100, time, margin=1.0)
    await pacer.acquire()
    await pacer.acquire()
    await pacer.acquire()
    assert time.now == 61.0
    assert PaceLimits().margin_seconds == 1.0


@pytest.mark.anyio
async def test_label_edits_do_not_spend_the_hourly_content_budget() -> None:
    time = FakeTime()
    pacer = _pacer(80, 2, time)
    for _ in range(10):
        await pacer.acquire("edit")
        time.now += 1.0
    await pacer.acquire("content")
    await pacer.acquire("content")
    assert time.sleeps == []


@pytest.mark.anyio
async def test_label_edits_still_share_the_minute_window_with_comments() -> None:
    time = FakeTime()
    pacer = _pacer(2, 100, time)
    await pacer.acquire("content")
    await pacer.acquire("edit")
    await pacer.acquire("edit")
    assert time.sleeps == [60.0]


@pytest.mark.parametrize(
    ("tool", "arguments", "kind"),
    [
        ("issue_write", {"method": "update", "labels": ["x"]}, "edit"),
        ("issue_write", {"method": "create", "title": "t"}, "content"),
        ("add_issue_comment", {"body": "hi"}, "content"),
        ("issue_write", None, "content"),
    ],
)
def test_only_a_label_update_counts_as_an_edit(tool: str, arguments: dict[str, str] | None, kind: str) -> None:
    assert write_kind(tool, arguments) == kind
