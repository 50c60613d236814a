import pytest
from anthropic.types import Usage as ApiUsage

from agent.claude.meter import Meter, cost_usd
from agent.claude.settings import Prices
from agent.engine import Usage

PRICES = Prices(input=3.0, cache_write=3.75, cache_read=0.3, output=15.0, batch_discount=0.5)


def test_cost_prices_each_kind_of_token_separately() -> None:
    usage = Usage(
        input_tokens=1_000_000,
        cache_creation_input_tokens=1_000_000,
        cache_read_input_tokens=1_000_000,
        output_tokens=1_000_000,
    )

    assert cost_usd(usage, PRICES) == pytest.approx(3.0 + 3.75 + 0.3 + 15.0)
    assert cost_usd(usage, PRICES, batch=True) == pytest.approx((3.0 + 3.75 + 0.3 + 15.0) / 2)


def test_the_meter_sums_turns_and_treats_missing_cache_fields_as_zero() -> None:
    meter = Meter(PRICES)
    meter.add_reply(ApiUsage(input_tokens=100, output_tokens=10, cache_creation_input_tokens=2000))
    meter.add_reply(ApiUsage(input_tokens=50, output_tokens=20, cache_read_input_tokens=2000))
    meter.add_tool_calls(3)

    usage = meter.usage()

    assert (usage.input_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (150, 2000, 2000)
    assert (usage.output_tokens, usage.turns, usage.tool_calls) == (30, 2, 3)
    assert usage.cost_usd == pytest.approx((150 * 3.0 + 2000 * 3.75 + 2000 * 0.3 + 30 * 15.0) / 1e6)
    assert usage.wall_seconds >= 0
