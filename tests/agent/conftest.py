from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from agent.sandbox import CommentSeed, IssueSeed, SandboxStore

DAY = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[SandboxStore]:
    """pytorch/pytorch#7, a DTensor issue in the queue with five comments (shared by the GitHub-layer tests)."""
    with SandboxStore() as opened:
        opened.put(
            IssueSeed(
                repo="pytorch/pytorch",
                number=7,
                title="DTensor redistribute fails",
                body="snippet",
                author="pat",
                created_at=DAY,
                labels=("oncall: distributed", "module: dtensor"),
                comments=tuple(
                    CommentSeed(author=f"u{n}", body=f"c{n}", created_at=DAY + timedelta(hours=n)) for n in range(5)
                ),
            )
        )
        yield opened
