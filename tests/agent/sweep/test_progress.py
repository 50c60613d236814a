import io

import pytest

from agent.sweep.progress import BarProgress, LineProgress, describe, progress_for
from agent.sweep.record import IssueRecord

APPLIED = IssueRecord(issue=12, phase=2, status="applied", decision="classify", outcome="triaged")
FAILED = IssueRecord(issue=13, phase=2, status="failed", failure="GitHub: 502")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_ci_logs_get_one_plain_line_per_issue() -> None:
    out = io.StringIO()
    progress = LineProgress(out)
    progress.start(2)
    progress.update(APPLIED)
    progress.update(FAILED)
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[1] == "sweep: [1/2] phase 2 #12 applied classify -> triaged"
    assert lines[2] == "sweep: [2/2] phase 2 #13 failed: GitHub: 502"
    assert "\r" not in out.getvalue()


def test_a_terminal_gets_a_redrawn_bar_with_failures_kept_above_it() -> None:
    out = _Terminal()
    progress = BarProgress(out, width=10)
    progress.start(2)
    progress.update(APPLIED)
    progress.update(FAILED)
    progress.close()
    text = out.getvalue()
    assert "\r\033[K[#####-----] 1/2" in text
    assert "#13 failed: GitHub: 502\n" in text
    assert text.rstrip("\n").endswith("failed 1  $0.00")


def test_progress_for_picks_the_bar_only_on_an_interactive_terminal_outside_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert isinstance(progress_for(_Terminal()), BarProgress)
    assert isinstance(progress_for(io.StringIO()), LineProgress)
    monkeypatch.setenv("CI", "true")
    assert isinstance(progress_for(_Terminal()), LineProgress)


def test_a_skipped_issue_says_why() -> None:
    assert describe(IssueRecord(issue=4, phase=2, status="skipped", reason="busy")) == "#4 skipped (busy)"
