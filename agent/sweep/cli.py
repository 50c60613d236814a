"""`python -m agent sweep`: the command-line face of the nightly sweep (wired in by `agent.cli`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from agent.audit import AuditLog
from agent.claude import anthropic_client, cost_usd, run_batch
from agent.engine import Engine, EngineFailure, Proposal
from agent.models import IssueSnapshot, UsageError
from agent.options import claude_settings, engine_from_args, load_pack, open_github
from agent.paths import state_dir
from agent.retry import RetryingCaller
from agent.skillpack import SkillPack
from agent.sweep.budget import TYPICAL_ISSUE_USAGE
from agent.sweep.pacer import PacedCaller, PaceLimits, WritePacer
from agent.sweep.progress import progress_for
from agent.sweep.report import render_markdown, summarize, write_reports
from agent.sweep.runner import BatchPlanner, Sweep, SweepSettings, open_run
from agent.sweep.selection import PARENT_MARKER
from agent.sweep.state import RunStore

__all__ = ["DESCRIPTION", "add_arguments", "run"]

DESCRIPTION = """\
Sweep the whole `oncall: distributed` queue of --repo: the nightly batch. Dry run unless --apply.

Phase 1 (no model): open queue issues a human already classified (a distributed `module:` label and
a sub-oncall) get the marker and `triaged` through the guard.
Phase 2: every issue that still owes second-level triage, oldest first, up to --limit, is triaged
by the chosen engine through the same pipeline and guard as `agent triage`.

Which issues are owed is decided by exact label names (`bot-triaged` is never `triaged`) and is
right under either marker: an issue the first-level bot handed over already carrying `bot-triaged`
is still pending; one this bot finished is never picked again; one the high-priority flow left for
humans is requeued only if the policy says so.

Writes are paced under GitHub's secondary limits: comments and label changes together at most
--per-minute, comments (content-creating writes) also at most --per-hour. 5xx answers, timeouts and
secondary-rate-limit answers are retried with backoff that honours Retry-After (a comment is not
re-sent after a 5xx, which may have posted it); one issue's failure never stops the run. With
--budget-usd the run stops before the estimated spend would pass the cap and reports what it left.

Every applied issue is checked against the live issue afterwards: a missing marker is re-applied
once; an issue that should have changed and did not counts as failed.

State lives in SQLite (--state): each run has an id and an append-only record; a killed run is
continued with --resume RUN_ID without re-triaging what it finished, and two sweeps at once never
triage the same issue. The summary (markdown and JSON) goes to --report-dir/RUN_ID/, to stdout,
and to $GITHUB_STEP_SUMMARY when set.

Exit status: 0 every issue done (or left by the budget), 1 an issue failed or the queue could not
be read, 2 usage error.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep's own options; the connection and engine options come from `agent.cli`."""
    group = parser.add_argument_group("sweep")
    group.add_argument("--apply", action="store_true", help="write the effects (default: dry run, nothing written)")
    group.add_argument("--limit", type=_positive_int, metavar="N", help="at most N Phase 2 issues (default: all)")
    group.add_argument(
        "--concurrency", type=_positive_int, default=8, metavar="K", help="issues worked on at once (default: 8)"
    )
    group.add_argument(
        "--batch",
        action="store_true",
        help="Claude only: plan Phase 2 in one Message Batches request (half price, slower), then apply each",
    )
    group.add_argument(
        "--budget-usd",
        type=_money,
        metavar="X",
        help="stop before the estimated model spend would pass X dollars (default: no cap)",
    )
    group.add_argument(
        "--typical-cost-usd",
        type=_money,
        metavar="X",
        help="the budget's per-issue estimate until the first issue's real cost is known "
        "(default: a typical triage at the configured Claude prices; 0 for the rules engine)",
    )
    group.add_argument("--resume", metavar="RUN_ID", help="continue a stopped run; finished issues are not redone")
    group.add_argument(
        "--per-minute", type=_positive_int, default=80, metavar="N", help="writes of any kind a minute (80)"
    )
    group.add_argument(
        "--per-hour", type=_positive_int, default=500, metavar="N", help="content-creating writes an hour (500)"
    )
    group.add_argument(
        "--parent-marker",
        default=PARENT_MARKER,
        help="the marker the first-level triage bot adds on hand-over (default: %(default)s)",
    )
    group.add_argument(
        "--lease-seconds",
        type=float,
        default=900.0,
        help="how long the claims of a sweep that died keep other sweeps off its issues (default: %(default)s)",
    )
    group.add_argument("--state", type=Path, help="sweep state SQLite file (default: sweep.sqlite3 in the state dir)")
    group.add_argument("--report-dir", type=Path, help="where summaries go (default: sweeps/ in the state dir)")
    group.add_argument("--json", action="store_true", help="print the summary as JSON instead of markdown")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _money(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


async def run(args: argparse.Namespace) -> int:
    pack = load_pack(args)
    engine = engine_from_args(args)
    batch = _batch_planner(args, pack, engine) if args.batch else None
    settings = SweepSettings(
        repo=args.repo,
        apply=args.apply,
        limit=args.limit,
        concurrency=args.concurrency,
        pace=PaceLimits(per_minute=args.per_minute, per_hour=args.per_hour),
        budget_usd=args.budget_usd,
        typical_cost_usd=_typical_cost(args, engine),
        lease_seconds=args.lease_seconds,
        parent_marker=args.parent_marker,
    )
    home = state_dir()
    store = RunStore(args.state or home / "sweep.sqlite3")
    audit = AuditLog(args.audit or home / "audit.sqlite3")
    pacer = WritePacer(settings.pace)
    run = open_run(store, settings, engine.name, resume=args.resume)
    async with open_github(args) as caller:
        sweep = Sweep(
            settings,
            caller=RetryingCaller(PacedCaller(caller, pacer)),
            engine=engine,
            pack=pack,
            store=store,
            pacer=pacer,
            audit=audit,
            progress=progress_for(sys.stderr),
            batch=batch,
        )
        run_id = await sweep.run(run)
    summary = summarize(store.run(run_id), store.events(run_id))
    markdown_path, json_path = write_reports(summary, (args.report_dir or home / "sweeps") / run_id)
    markdown = render_markdown(summary)
    print(summary.model_dump_json(indent=2) if args.json else markdown)
    print(f"run {run_id}: {markdown_path}, {json_path}", file=sys.stderr)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as out:
            out.write(markdown + "\n")
    return summary.exit_code


def _typical_cost(args: argparse.Namespace, engine: Engine) -> float:
    if args.typical_cost_usd is not None:
        return float(args.typical_cost_usd)
    if engine.name != "claude":
        return 0.0

    return cost_usd(TYPICAL_ISSUE_USAGE, claude_settings(args).prices, batch=bool(args.batch))


def _batch_planner(args: argparse.Namespace, pack: SkillPack, engine: Engine) -> BatchPlanner:

    if engine.name != "claude":
        raise UsageError("--batch needs the Claude engine: pass --engine claude with ANTHROPIC_API_KEY set")
    settings = claude_settings(args)
    client = anthropic_client()

    async def plan(snapshots: Sequence[IssueSnapshot]) -> list[Proposal | EngineFailure]:
        return await run_batch(snapshots, pack, settings, client)

    return plan
