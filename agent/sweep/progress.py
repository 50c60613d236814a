"""How a running sweep shows itself: a redrawn bar on a terminal, one plain line per issue in CI logs."""

from __future__ import annotations

import os
import sys
from typing import Protocol, TextIO

from agent.sweep.record import IssueRecord

__all__ = ["BarProgress", "LineProgress", "Progress", "describe", "progress_for"]


class Progress(Protocol):
    def start(self, total: int) -> None: ...

    def update(self, record: IssueRecord) -> None: ...

    def close(self) -> None: ...


def describe(record: IssueRecord) -> str:
    """One issue's result in a few words: `#123 applied classify -> triaged`."""
    text = f"#{record.issue} {record.status}"
    if record.decision:
        text += f" {record.decision}"
    if record.outcome:
        text += f" -> {record.outcome}"
    if record.reason:
        text += f" ({record.reason})"
    if record.failure:
        text += f": {record.failure}"
    return text


class _Counts:
    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.by_status: dict[str, int] = {}
        self.cost = 0.0

    def add(self, record: IssueRecord) -> None:
        self.done += 1
        self.by_status[record.status] = self.by_status.get(record.status, 0) + 1
        self.cost += record.usage.cost_usd

    def tally(self) -> str:
        parts = [f"{status} {count}" for status, count in sorted(self.by_status.items())]
        return "  ".join([*parts, f"${self.cost:.2f}"])


class LineProgress:
    """Plain lines, safe for logs that do not understand carriage returns."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.counts = _Counts()

    def start(self, total: int) -> None:
        self.counts.total = total
        print(f"sweep: {total} issues to work on", file=self.stream, flush=True)

    def update(self, record: IssueRecord) -> None:
        self.counts.add(record)
        c = self.counts
        print(f"sweep: [{c.done}/{c.total}] phase {record.phase} {describe(record)}", file=self.stream, flush=True)

    def close(self) -> None:
        print(f"sweep: done  {self.counts.tally()}", file=self.stream, flush=True)


class BarProgress:
    """A single redrawn line; failures are printed above it so they stay on screen."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.counts = _Counts()

    def start(self, total: int) -> None:
        self.counts.total = total
        self._draw()

    def update(self, record: IssueRecord) -> None:
        self.counts.add(record)
        if record.status == "failed":
            self.stream.write("\r\033[K" + describe(record) + "\n")
        self._draw()

    def close(self) -> None:
        self._draw()
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self) -> None:
        c = self.counts
        filled = self.width * c.done // c.total if c.total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r\033[K[{bar}] {c.done}/{c.total}  {c.tally()}")
        self.stream.flush()


def progress_for(stream: TextIO = sys.stderr) -> Progress:
    """A bar on an interactive terminal; plain lines in CI or when the output is a file or pipe."""
    if stream.isatty() and not os.environ.get("CI"):
        return BarProgress(stream)
    return LineProgress(stream)
