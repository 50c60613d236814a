from pathlib import Path

import pytest

from agent.claude.settings import ClaudeSettings, SettingsError, min_cacheable_tokens


def test_the_shipped_settings_load_with_a_current_sonnet_in_plan_mode() -> None:
    settings = ClaudeSettings.load()

    assert settings.model == "claude-sonnet-5-5"
    assert settings.mode == "plan"
    assert settings.prices.output > settings.prices.input > settings.prices.cache_read


def test_an_unknown_key_in_the_settings_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "claude.yaml"
    path.write_text(
        "model: claude-sonnet-5-5\nmax_turn: 3\nprices: {input: 3, cache_write: 3.75, cache_read: 0.3, output: 15}\n",
        encoding="utf-8",
    )

    with pytest.raises(SettingsError, match="max_turn"):
        ClaudeSettings.load(path)


def test_a_missing_settings_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        ClaudeSettings.load(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("model", "tokens"),
    [
        ("claude-sonnet-5-5", 1024),
        ("claude-sonnet-4-5-20250929", 1024),
        ("claude-opus-4-6", 4096),
        ("claude-opus-5-5", 1024),
        ("claude-haiku-4-5", 4096),
        ("claude-3-5-haiku-20241022", 2048),
        ("some-future-model", 4096),
    ],
)
def test_minimum_cacheable_length_by_model(model: str, tokens: int) -> None:
    assert min_cacheable_tokens(model) == tokens


def test_an_explicit_minimum_overrides_the_models() -> None:
    settings = ClaudeSettings.load().model_copy(update={"min_cacheable_tokens": 512})

    assert settings.cacheable_minimum() == 512
