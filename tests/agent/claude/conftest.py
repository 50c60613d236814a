"""Recording setup for the Claude engine's HTTP tests (pytest-recording over vcrpy, which patches httpx2).

Replay is the default (`--record-mode` unset means "none") and needs no key: a fake one is used. To
re-record against the real API: `ANTHROPIC_API_KEY=... pytest tests/agent/claude --record-mode=rewrite`.
A recording is saved as `cassettes/<module>/<test>.yaml` and then replaces the hand-written
`handwritten_<test>.yaml`, which may be deleted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from vcr.cassette import Cassette

FAKE_KEY = "sk-ant-test-fake"


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, object]:
    return {
        "filter_headers": ["x-api-key", "authorization"],
        "decode_compressed_response": True,
        # Matching stays on method and URI (vcrpy's default): a re-recorded prompt must still replay.
        "match_on": ["method", "scheme", "host", "port", "path", "query"],
        "ignore_localhost": True,
    }


@pytest.fixture
def default_cassette_name(request: pytest.FixtureRequest, record_mode: str, vcr_cassette_dir: str) -> str:
    """A real recording when there is one (or is being made), else the hand-written cassette."""
    name: str = request.node.name
    if record_mode != "none" or (Path(vcr_cassette_dir) / f"{name}.yaml").exists():
        return name
    return f"handwritten_{name}"


@pytest.fixture
def anthropic_api_key(record_mode: str) -> str:
    if record_mode == "none":
        return FAKE_KEY
    key = os.environ.get("ANTHROPIC_API_KEY", "")
    if not key:
        pytest.fail("recording needs a real key: export ANTHROPIC_API_KEY=sk-ant-...")
    return key


@pytest.fixture(autouse=True)
def _cassette_fully_played(vcr: Cassette | None, record_mode: str) -> Iterator[None]:
    """A replay that skips a recorded interaction means the code under test changed its conversation."""
    yield
    if vcr is not None and record_mode == "none":
        assert vcr.all_played, f"{vcr._path} has interactions the test never requested"
