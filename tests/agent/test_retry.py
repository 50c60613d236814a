from collections.abc import AsyncIterator

import pytest
from mcp import MCPError

from agent.connection import connect
from agent.github import ToolCaller
from agent.models import UsageError
from agent.retry import RetryingCaller
from agent.sandbox import Faults, SandboxStore

pytestmark = pytest.mark.anyio

GET = {"method": "get", "owner": "pytorch", "repo": "pytorch", "issue_number": 7}


class Sleeps:
    """Records the waits a RetryingCaller asks for instead of waiting."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.fixture
async def flaky(store: SandboxStore) -> AsyncIterator[tuple[ToolCaller, Faults]]:
    faults = Faults()
    async with connect("sandbox", store=store, faults=faults) as client:
        yield client, faults


async def test_transient_errors_are_retried_with_exponential_backoff(flaky: tuple[ToolCaller, Faults]) -> None:
    client, faults = flaky
    faults.fail_next = 2
    sleeps = Sleeps()
    caller = RetryingCaller(client, attempts=4, base_delay=1.0, sleep=sleeps)
    result = await caller.call_tool("issue_read", GET)
    assert not result.is_error
    assert sleeps.seconds == [1.0, 2.0]
    assert [event.kind for event in caller.history] == ["transient", "transient"]


async def test_a_rate_limit_waits_at_least_its_retry_after(flaky: tuple[ToolCaller, Faults]) -> None:
    client, faults = flaky
    faults.rate_limit_next, faults.retry_after_seconds = 1, 7
    sleeps = Sleeps()
    result = await RetryingCaller(client, sleep=sleeps).call_tool("issue_read", GET)
    assert not result.is_error and sleeps.seconds == [7.0]


async def test_attempts_are_bounded_and_the_last_error_is_returned(flaky: tuple[ToolCaller, Faults]) -> None:
    client, faults = flaky
    faults.fail_next = 10
    sleeps = Sleeps()
    result = await RetryingCaller(client, attempts=3, sleep=sleeps).call_tool("issue_read", GET)
    assert result.is_error and faults.fail_next == 7 and sleeps.seconds == [1.0, 2.0]


async def test_a_retry_after_longer_than_the_limit_is_handed_back_at_once(flaky: tuple[ToolCaller, Faults]) -> None:
    client, faults = flaky
    faults.rate_limit_next, faults.retry_after_seconds = 1, 3600
    sleeps = Sleeps()
    result = await RetryingCaller(client, max_retry_after=120.0, sleep=sleeps).call_tool("issue_read", GET)
    assert result.is_error and sleeps.seconds == []


async def test_permanent_errors_are_not_retried(flaky: tuple[ToolCaller, Faults]) -> None:
    client, _ = flaky
    sleeps = Sleeps()
    result = await RetryingCaller(client, sleep=sleeps).call_tool("issue_read", {**GET, "issue_number": 8})
    assert result.is_error and sleeps.seconds == []


async def test_a_comment_is_not_reposted_after_a_5xx_but_is_after_a_rate_limit(
    flaky: tuple[ToolCaller, Faults], store: SandboxStore
) -> None:
    client, faults = flaky
    comment = {"owner": "pytorch", "repo": "pytorch", "issue_number": 7, "body": "template"}
    caller = RetryingCaller(client, sleep=Sleeps())
    faults.fail_next = 1
    assert (await caller.call_tool("add_issue_comment", comment)).is_error
    assert faults.kinds() == ["server_error"]
    faults.rate_limit_next = 1
    assert not (await caller.call_tool("add_issue_comment", comment)).is_error
    assert [c.body for c in store.require("pytorch/pytorch", 7).comments].count("template") == 1


async def test_a_timed_out_read_is_retried_and_then_raised(store: SandboxStore) -> None:
    sleeps = Sleeps()
    async with connect("sandbox", store=store, faults=Faults(latency_seconds=60.0), read_timeout_seconds=0.1) as c:
        caller = RetryingCaller(c, attempts=2, sleep=sleeps)
        with pytest.raises(MCPError):
            await caller.call_tool("issue_read", GET)
        with pytest.raises(MCPError):
            await caller.call_tool("add_issue_comment", {**GET, "body": "x"})
    assert [event.kind for event in caller.history] == ["timeout"] and sleeps.seconds == [1.0]


def test_a_retrying_caller_needs_an_attempt() -> None:
    with pytest.raises(UsageError, match="at least one attempt"):
        RetryingCaller(RetryingCaller.__new__(RetryingCaller), attempts=0)
