"""The sweep's summary, built from its run record alone, so a resumed run reports all its processes."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from agent.engine import Usage
from agent.sweep.record import Event, IssueRecord, IssueStatus, Listing, Phase, SkipReason
from agent.sweep.state import RunInfo

__all__ = ["Failure", "SweepSummary", "render_markdown", "summarize", "write_reports"]


class Failure(BaseModel):
    model_config = ConfigDict(frozen=True)

    issue: int
    phase: Phase
    reason: str


class SweepSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    repo: str
    apply: bool
    engine: str
    started_at: datetime
    ended_at: datetime | None
    processes: int
    aborted: str | None = None
    listing: Listing | None = None
    statuses: dict[IssueStatus, int] = {}
    phase1: dict[IssueStatus, int] = {}
    decisions: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    failures: tuple[Failure, ...] = ()
    skipped: dict[SkipReason, tuple[int, ...]] = {}
    budget_note: str | None = None
    marker_reapplied: tuple[int, ...] = ()
    retried: tuple[int, ...] = ()
    usage: Usage = Usage()
    wall_seconds: float = 0.0
    writes: int = 0
    peak_writes_per_minute: int = 0
    paced_seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """1 when any issue failed or the run could not list the queue; a green run did its work."""
        return 1 if self.failures or self.aborted else 0

    @property
    def issues_per_minute(self) -> float:
        worked = sum(count for status, count in self.statuses.items() if status != "skipped")
        return worked / (self.wall_seconds / 60) if self.wall_seconds else 0.0


def summarize(run: RunInfo, events: list[Event]) -> SweepSummary:
    """Each issue counts once, by its last record; tokens and cost count every attempt."""
    latest: dict[int, IssueRecord] = {}
    usage = Usage()
    listing: Listing | None = None
    aborted: str | None = None
    budget_note: str | None = None
    stats = [e.stats for e in events if e.stats is not None]
    for event in events:
        if event.kind == "issue" and event.issue is not None:
            latest[event.issue.issue] = event.issue
            usage += event.issue.usage
        elif event.kind == "listed":
            listing = event.listing
        elif event.kind == "aborted":
            aborted = event.note
        elif event.kind == "budget_stop":
            budget_note = event.note
    records = sorted(latest.values(), key=lambda r: r.issue)
    worked = [r for r in records if r.status != "skipped"]
    skipped: dict[SkipReason, list[int]] = {}
    for r in records:
        if r.status == "skipped" and r.reason:
            skipped.setdefault(r.reason, []).append(r.issue)
    ends = [e.at for e in events if e.kind in ("finished", "aborted")]
    return SweepSummary(
        run_id=run.id,
        repo=run.repo,
        apply=run.apply,
        engine=run.engine,
        started_at=run.started_at,
        ended_at=ends[-1] if ends else None,
        processes=sum(1 for e in events if e.kind in ("started", "resumed")),
        aborted=aborted,
        listing=listing,
        statuses=dict(Counter(r.status for r in records if r.phase == 2)),
        phase1=dict(Counter(r.status for r in records if r.phase == 1)),
        decisions=dict(Counter(r.decision for r in worked if r.decision and r.phase == 2)),
        outcomes=dict(Counter(r.outcome for r in worked if r.outcome)),
        failures=tuple(
            Failure(issue=r.issue, phase=r.phase, reason=r.failure or "") for r in records if r.status == "failed"
        ),
        skipped={reason: tuple(numbers) for reason, numbers in skipped.items()},
        budget_note=budget_note,
        marker_reapplied=tuple(r.issue for r in records if r.marker_reapplied),
        retried=tuple(r.issue for r in records if r.attempts > 1),
        usage=usage,
        wall_seconds=sum(s.seconds for s in stats),
        writes=sum(s.writes for s in stats),
        peak_writes_per_minute=max((s.peak_writes_per_minute for s in stats), default=0),
        paced_seconds=sum(s.paced_seconds for s in stats),
    )


_SKIP_WHY: dict[SkipReason, str] = {
    "budget": "left by the budget",
    "busy": "held by another sweep",
    "done_elsewhere": "finished by another sweep",
    "not_pending": "no longer owed (changed since the listing)",
}


def _issues(repo: str, numbers: tuple[int, ...], most: int = 20) -> str:
    shown = ", ".join(f"[#{n}](https://github.com/{repo}/issues/{n})" for n in numbers[:most])
    return shown + (f" and {len(numbers) - most} more" if len(numbers) > most else "")


def _table(title: str, counts: dict[str, int]) -> list[str]:
    if not counts:
        return []
    rows = [f"| {key} | {value} |" for key, value in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return [f"| {title} | issues |", "|---|---:|", *rows, ""]


def render_markdown(s: SweepSummary) -> str:
    """The page a maintainer reads: the verdict first, then what happened, then what to look at."""
    mode = "applied" if s.apply else "dry run, nothing written"
    verdict = "FAILED" if s.exit_code else "OK"
    done = s.statuses.get("applied", 0) + s.statuses.get("planned", 0)
    lines = [
        f"## Distributed triage sweep `{s.run_id}`: {verdict}",
        "",
        f"{s.repo}, {mode}, engine `{s.engine}`. Phase 2: **{done} triaged**, "
        f"**{s.statuses.get('failed', 0)} failed**, {s.statuses.get('skipped', 0)} skipped. "
        f"Phase 1 (human-classified, marked without a model): {s.phase1.get('applied', 0) + s.phase1.get('planned', 0)}"
        f" marked, {s.phase1.get('failed', 0)} failed.",
        "",
    ]
    if s.aborted:
        lines += [f"**The run stopped early:** {s.aborted}", ""]
    if s.listing:
        q = s.listing
        lines += [
            f"Queue: {q.queue} open issues; {q.phase1} for Phase 1, {q.phase2} for Phase 2"
            + (f", {q.beyond_limit} beyond `--limit`" if q.beyond_limit else "")
            + f"; {q.finished} already finished, {q.left_for_humans} left for humans"
            + (f"; {q.done_in_run} done before this resume" if q.done_in_run else "")
            + ".",
            "",
        ]
    lines += _table("decision", s.decisions) + _table("outcome", s.outcomes)
    if s.failures:
        lines += ["### Failures", ""]
        lines += [
            f"- [#{f.issue}](https://github.com/{s.repo}/issues/{f.issue}) (phase {f.phase}): {f.reason}"
            for f in s.failures
        ]
        lines.append("")
    if s.budget_note:
        lines += [f"**Budget stop:** {s.budget_note}.", ""]
    if s.skipped:
        lines += ["### Skipped", ""]
        lines += [f"- {_SKIP_WHY[reason]}: {_issues(s.repo, numbers)}" for reason, numbers in sorted(s.skipped.items())]
        lines.append("")
    if s.marker_reapplied:
        lines += [f"Marker re-applied after verification: {_issues(s.repo, s.marker_reapplied)}.", ""]
    if s.retried:
        lines += [f"Re-planned after a concurrent edit: {_issues(s.repo, s.retried)}.", ""]
    u = s.usage
    resume = f"python -m agent sweep --resume {s.run_id}" + (" --apply" if s.apply else "")
    lines += [
        "| cost and time | |",
        "|---|---:|",
        f"| tokens in / cache write / cache read / out | {u.input_tokens} / {u.cache_creation_input_tokens} / "
        f"{u.cache_read_input_tokens} / {u.output_tokens} |",
        f"| cost | ${u.cost_usd:.4f} |",
        f"| wall time | {s.wall_seconds / 60:.1f} min ({s.processes} process{'es' if s.processes != 1 else ''}) |",
        f"| issues per minute | {s.issues_per_minute:.1f} |",
        f"| writes (peak per minute) | {s.writes} ({s.peak_writes_per_minute}) |",
        f"| time writes waited for rate limits | {s.paced_seconds:.0f} s |",
        "",
        f"Resume with `{resume}` (and the same options)." if s.exit_code or s.skipped.get("budget") else "",
    ]
    return "\n".join(lines).rstrip() + "\n"


def write_reports(summary: SweepSummary, directory: Path) -> tuple[Path, Path]:
    """`summary.md` and `summary.json` in `directory`; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    markdown, json = directory / "summary.md", directory / "summary.json"
    markdown.write_text(render_markdown(summary), encoding="utf-8")
    json.write_text(summary.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return markdown, json
