from __future__ import annotations

import pytest

from relay.ratelimit import SlidingWindowLimiter

pytestmark = pytest.mark.anyio


class Ticks:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_repo_gets_its_limit_per_window_and_room_again_as_the_window_slides() -> None:
    ticks = Ticks()
    limiter = SlidingWindowLimiter(3, 60.0, clock=ticks)
    results = []
    for moment in (0, 10, 20, 30, 59.9, 60.1, 60.2, 70.5):
        ticks.now = moment
        results.append(await limiter.allow("org/repo"))
    assert results == [True, True, True, False, False, True, False, True]


async def test_repos_have_separate_windows_and_names_ignore_case() -> None:
    limiter = SlidingWindowLimiter(1, 60.0, clock=Ticks())
    assert await limiter.allow("org/a")
    assert await limiter.allow("org/b")
    assert not await limiter.allow("ORG/A")
