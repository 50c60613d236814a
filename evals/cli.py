"""`python -m evals`: run an engine over a dataset, compare two runs, re-render a report, collect a dataset."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from agent.claude import EngineName, choose_engine
from agent.command import run_command
from agent.options import add_connection_arguments, load_pack, open_github
from agent.skillpack import SkillPack
from evals.collect import collect
from evals.compare import compare_runs, format_comparison
from evals.dataset import DatasetError, write_dataset
from evals.report import format_summary, write_reports
from evals.runner import RunOptions, run_eval
from evals.runs import RunError, load_run, save_run
from evals.scenarios import FAMILIES, Family

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="replay a dataset through an engine and score it")
    run.add_argument("--dataset", type=Path, required=True, help="JSONL dataset (see ../shared/data/README.md)")
    run.add_argument("--engine", choices=["rules", "claude", "auto"], default="rules", help="default: %(default)s")
    run.add_argument("--model", help="Claude model (default from the Claude settings)")
    run.add_argument("--limit", type=_positive, help="only the first N issues of the dataset")
    run.add_argument("--repeat", type=_positive, default=1, help="replay every case N times (default: 1)")
    run.add_argument(
        "--family",
        action="append",
        choices=FAMILIES,
        help="only these scenario families (repeatable; default: all)",
    )
    run.add_argument("--concurrency", type=_positive, default=1, help="cases in flight at once (default: 1)")
    run.add_argument("--out", type=Path, default=Path("runs"), help="directory for the run and reports (default: runs)")
    run.add_argument("--skill", default="distributed-triage", help="skill name or folder (default: %(default)s)")
    run.add_argument("--marker", help="override the policy's marker label (e.g. ptd-bot-triaged)")
    run.add_argument("--no-report", action="store_true", help="save the run JSON only")
    run.set_defaults(handler=_run)

    compare = commands.add_parser("compare", help="case-by-case regressions and improvements between two runs")
    compare.add_argument("run_a", type=Path, help="the earlier (baseline) run JSON")
    compare.add_argument("run_b", type=Path, help="the later run JSON")
    compare.add_argument("--skill", default="distributed-triage", help="skill whose policy judges both runs")
    compare.set_defaults(handler=_compare)

    report = commands.add_parser("report", help="write the HTML and markdown reports of a saved run")
    report.add_argument("run", type=Path, help="a run JSON")
    report.add_argument("--out", type=Path, help="directory (default: beside the run)")
    report.add_argument("--skill", default="distributed-triage", help="skill whose policy judges the run")
    report.set_defaults(handler=_report)

    gather = commands.add_parser("collect", help="build a dataset from a live queue over the GitHub MCP connection")
    gather.add_argument("--label", default="oncall: distributed", help="queue label (default: %(default)s)")
    gather.add_argument("--state", choices=["open", "closed", "all"], default="open", help="default: %(default)s")
    gather.add_argument("--limit", type=_positive, help="at most N issues")
    gather.add_argument("--out", type=Path, required=True, help="JSONL file to write")
    add_connection_arguments(gather)
    gather.set_defaults(handler=_collect)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


async def _run(args: argparse.Namespace) -> int:
    pack = load_pack(args)
    engine = choose_engine(cast(EngineName, args.engine), model=args.model)
    families = tuple(dict.fromkeys(cast(list[Family], args.family))) if args.family else FAMILIES
    options = RunOptions(
        dataset=args.dataset,
        limit=args.limit,
        repeat=args.repeat,
        families=families,
        concurrency=args.concurrency,
    )
    run = await run_eval(options, engine, pack, progress=sys.stderr)
    run, path = save_run(run, args.out)
    print(format_summary(run), end="")
    print(f"\nrun:      {path}")
    if not args.no_report:
        html, markdown = write_reports(run, args.out)
        print(f"report:   {html}\nsummary:  {markdown}")
    return 0


async def _compare(args: argparse.Namespace) -> int:
    # Both runs are judged again by today's scoring rules, so an old run compares on equal terms.
    policy = SkillPack.load(args.skill).policy
    print(format_comparison(compare_runs(load_run(args.run_a, policy), load_run(args.run_b, policy))), end="")
    return 0


async def _report(args: argparse.Namespace) -> int:
    run = load_run(args.run, SkillPack.load(args.skill).policy)
    html, markdown = write_reports(run, args.out or args.run.parent)
    print(f"report:   {html}\nsummary:  {markdown}")
    return 0


async def _collect(args: argparse.Namespace) -> int:
    async with open_github(args) as caller:
        issues = await collect(caller, args.repo, label=args.label, state=args.state, limit=args.limit)
    write_dataset(args.out, issues)
    print(f"wrote {len(issues)} issues labelled {args.label!r} from {args.repo} to {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.handler, args, usage_errors=(DatasetError, RunError))
