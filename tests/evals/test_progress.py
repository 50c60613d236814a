from __future__ import annotations

import io

from evals.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_redraws_in_place_and_ends_with_a_newline() -> None:
    stream = Terminal()
    progress = Progress(4, stream, width=8)
    for n in range(4):
        progress.advance(failed=n == 2, note=f"case {n}")
    progress.close()
    text = stream.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n")
    assert "[########] 4/4 cases, 1 failed" in text and "\n" not in text[:-1]
    assert "[####----] 2/4 cases" in text


def test_in_a_log_it_writes_about_ten_plain_lines_whatever_the_size() -> None:
    stream = io.StringIO()
    progress = Progress(1000, stream)
    for _ in range(1000):
        progress.advance()
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 and lines[0].startswith("100/1000 cases") and lines[-1].startswith("1000/1000 cases")


def test_a_small_run_reports_every_case_in_a_log() -> None:
    stream = io.StringIO()
    progress = Progress(3, stream)
    for _ in range(3):
        progress.advance()
    assert [line.split(" (")[0] for line in stream.getvalue().splitlines()] == ["1/3 cases", "2/3 cases", "3/3 cases"]
