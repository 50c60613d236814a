"""A progress display for long runs: a redrawn bar on a terminal, plain periodic lines in logs."""

from __future__ import annotations

import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Counts finished cases. On a TTY the bar redraws in place; otherwise a line every tenth of the run."""

    def __init__(self, total: int, stream: TextIO, *, label: str = "cases", width: int = 30) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self._stream = stream
        self._label = label
        self._width = width
        self._tty = stream.isatty()
        self._started = time.monotonic()
        self._next_line = 1

    def advance(self, *, failed: bool = False, note: str = "") -> None:
        self.done += 1
        self.failed += int(failed)
        if self._tty:
            self._draw(note)
        elif self.done * 10 >= self._next_line * self.total or self.done == self.total:
            self._next_line = self.done * 10 // max(self.total, 1) + 1
            self._stream.write(self._line() + "\n")
            self._stream.flush()

    def close(self) -> None:
        if self._tty and self.total:
            self._stream.write("\n")
            self._stream.flush()

    def _line(self) -> str:
        elapsed = time.monotonic() - self._started
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.done}/{self.total} {self._label}{failed} ({elapsed:.1f}s)"

    def _draw(self, note: str) -> None:
        filled = self._width * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (self._width - filled)
        text = f"\r[{bar}] {self._line()} {note}"[:120]
        self._stream.write(text.ljust(120))
        self._stream.flush()
