from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.engine import Usage
from agent.sweep.record import Event, IssueRecord, Listing, ProcessStats
from agent.sweep.report import SweepSummary, render_markdown, summarize, write_reports
from agent.sweep.state import RunInfo

AT = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
RUN = RunInfo(
    id="20260301T160000-abc123", repo="pytorch/pytorch", apply=True, engine="claude", started_at=AT, settings_json="{}"
)


def _issue(issue: int, **fields: object) -> Event:
    record = IssueRecord.model_validate({"issue": issue, "phase": 2, **fields})
    return Event(kind="issue", at=AT, issue=record)


def _events() -> list[Event]:
    spent = Usage(input_tokens=1000, output_tokens=200, turns=2, cost_usd=0.05)
    return [
        Event(kind="started", at=AT, process="runner:1"),
        Event(kind="listed", at=AT, listing=Listing(queue=9, phase1=1, phase2=5, finished=3)),
        _issue(1, phase=1, status="applied", decision="already_classified", outcome="triaged", verified=True),
        _issue(2, status="applied", decision="classify", outcome="triaged", usage=spent, verified=True),
        _issue(3, status="failed", decision="route", failure="GitHub: 502", usage=spent),
        _issue(4, status="skipped", reason="busy"),
        _issue(5, status="skipped", reason="budget"),
        Event(kind="budget_stop", at=AT, note="budget $0.10: $0.10 spent"),
        Event(kind="finished", at=AT, stats=ProcessStats(seconds=120, writes=3, peak_writes_per_minute=3)),
        # The resumed process retries issue 3 and it works this time.
        Event(kind="resumed", at=AT, process="runner:2"),
        _issue(3, status="applied", decision="route", outcome="routed", usage=spent, verified=True, attempts=2),
        Event(kind="finished", at=AT, stats=ProcessStats(seconds=60, writes=1, peak_writes_per_minute=1)),
    ]


def test_each_issue_counts_once_by_its_last_record_while_cost_counts_every_attempt() -> None:
    s = summarize(RUN, _events())
    assert s.statuses == {"applied": 2, "skipped": 2}
    assert s.phase1 == {"applied": 1}
    assert s.decisions == {"classify": 1, "route": 1}
    assert s.outcomes == {"triaged": 2, "routed": 1}
    assert s.failures == ()
    assert s.skipped == {"busy": (4,), "budget": (5,)}
    assert s.usage.cost_usd == pytest.approx(0.15)
    assert s.usage.input_tokens == 3000
    assert (s.wall_seconds, s.writes, s.peak_writes_per_minute, s.processes) == (180, 4, 3, 2)
    assert s.retried == (3,)
    assert s.exit_code == 0


def test_a_failure_that_was_not_retried_makes_the_run_exit_non_zero() -> None:
    s = summarize(RUN, _events()[:9])
    assert [(f.issue, f.reason) for f in s.failures] == [(3, "GitHub: 502")]
    assert s.exit_code == 1


def test_a_run_that_could_not_list_the_queue_is_not_green() -> None:
    events = [Event(kind="started", at=AT), Event(kind="aborted", at=AT, note="GitHub: list_issues: 502")]
    s = summarize(RUN, events)
    assert s.exit_code == 1
    assert "stopped early" in render_markdown(s)


def test_the_markdown_leads_with_the_verdict_and_names_failures_and_leftovers() -> None:
    text = render_markdown(summarize(RUN, _events()[:9]))
    first = text.splitlines()[0]
    assert "FAILED" in first and RUN.id in first
    assert "[#3](https://github.com/pytorch/pytorch/issues/3) (phase 2): GitHub: 502" in text
    assert "left by the budget: [#5]" in text
    assert "held by another sweep: [#4]" in text
    assert f"--resume {RUN.id} --apply" in text
    assert "| classify | 1 |" in text


def test_reports_are_written_as_markdown_and_json_that_reads_back(tmp_path: Path) -> None:
    summary = summarize(RUN, _events())
    markdown, json = write_reports(summary, tmp_path / RUN.id)
    assert markdown.read_text(encoding="utf-8") == render_markdown(summary)
    assert SweepSummary.model_validate_json(json.read_text(encoding="utf-8")) == summary
