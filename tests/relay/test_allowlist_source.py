from __future__ import annotations

import logging
from pathlib import Path

import pytest

from relay.allowlist import AllowlistError
from relay.allowlist_source import AllowlistSource, fetch_url
from relay.config import AllowlistSettings
from tests.relay.github_emulator import GitHubEmulator
from tests.relay.harness import client

pytestmark = pytest.mark.anyio


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_github_blob_url_is_read_raw_through_the_contents_api() -> None:
    url, headers = fetch_url("https://github.com/pytorch/pytorch/blob/main/.github/allowlist.yml", "https://api.x/v3/")
    assert url == "https://api.x/v3/repos/pytorch/pytorch/contents/.github/allowlist.yml?ref=main"
    assert headers == {"Accept": "application/vnd.github.raw+json"}
    assert fetch_url("https://example.org/allowlist.yml", "https://api.x") == ("https://example.org/allowlist.yml", {})


async def test_a_changed_file_is_picked_up_at_the_next_look_but_not_before_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "allowlist.yaml"
    path.write_text("L1:\n  - a/one\n")
    ticks = Ticks()
    settings = AllowlistSettings(source=str(path), reload_interval_seconds=60)
    async with client() as http:
        source = AllowlistSource(settings, http=http, api_url="https://api.github.com", clock=ticks)
        await source.load()
        path.write_text("L1:\n  - a/one\nL2:\n  - b/two\n")
        ticks.now += 30
        assert not await source.refresh()
        assert source.current.level("b/two") is None
        ticks.now += 31
        assert await source.refresh()
        assert source.current.level("b/two") == "L2"
        ticks.now += 61
        assert not await source.refresh()  # looked, nothing changed


async def test_a_broken_edit_keeps_the_previous_allowlist_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "allowlist.yaml"
    path.write_text("L2:\n  - a/one\n")
    async with client() as http:
        source = AllowlistSource(AllowlistSettings(source=str(path)), http=http, api_url="https://api.github.com")
        await source.load()
        path.write_text("L2:\n  - a/one\n  - nonsense\n")
        with caplog.at_level(logging.ERROR, logger="relay.allowlist_source"):
            assert not await source.refresh(force=True)
        assert source.current.level("a/one") == "L2"
        assert "L2[1]: 'nonsense' is not owner/repo" in caplog.text


async def test_a_missing_or_broken_allowlist_at_start_is_an_error_naming_it(tmp_path: Path) -> None:
    async with client() as http:
        missing = AllowlistSource(
            AllowlistSettings(source=str(tmp_path / "nope.yaml")), http=http, api_url="https://api.github.com"
        )
        with pytest.raises(AllowlistError, match=r"nope\.yaml"):
            await missing.load()
        (tmp_path / "bad.yaml").write_text("L4:\n  - x\n")
        broken = AllowlistSource(
            AllowlistSettings(source=str(tmp_path / "bad.yaml")), http=http, api_url="https://api.github.com"
        )
        with pytest.raises(AllowlistError, match=r"bad.yaml: L4\[0\]"):
            await broken.load()


async def test_a_url_allowlist_is_fetched_conditionally_and_reloaded_when_it_changes(github: GitHubEmulator) -> None:
    github.files["pytorch/pytorch/.github/allowlist.yml"] = ("L2:\n  - a/one\n", '"v1"')
    blob = "https://github.com/pytorch/pytorch/blob/main/.github/allowlist.yml"
    async with client() as http:
        source = AllowlistSource(
            AllowlistSettings(source=blob, reload_interval_seconds=1), http=http, api_url=github.url
        )
        await source.load()
        assert not await source.refresh(force=True)  # 304: unchanged
        github.files["pytorch/pytorch/.github/allowlist.yml"] = ("L2:\n  - a/one\n  - b/two\n", '"v2"')
        assert await source.refresh(force=True)
        assert source.current.level("b/two") == "L2"
    assert github.file_requests == [None, '"v1"', '"v1"']
