"""`python -m agent`: triage one issue, serve the sandbox or the guard proxy, run the nightly sweep."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from agent import console
from agent.audit import AuditLog
from agent.command import run_command
from agent.guard_proxy import serve_proxy
from agent.guarded_session import GuardedSession
from agent.models import IssueRef
from agent.options import add_connection_arguments, add_engine_arguments, engine_from_args, load_pack, open_github
from agent.paths import state_dir
from agent.pipeline import triage
from agent.sandbox import add_fault_arguments, default_store, faults_from_arguments, serve
from agent.sweep import cli as sweep_cli

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.handler, args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agent",
        description="Second-level triage of PyTorch's `oncall: distributed` queue. Dry run unless --apply.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "triage",
        help="triage one issue",
        description="Plan (and with --apply, write) the second-level triage of one issue. "
        "Prints the decision, confidence, labels to add, the comment to post, guard notes and reasoning. "
        "Exit status: 0 done, 1 failed (nothing or only verified changes written), 2 usage error.",
    )
    run.add_argument("issue", help="owner/repo#N, https://github.com/owner/repo/issues/N, or N (with --repo)")
    add_connection_arguments(run)
    add_engine_arguments(run)
    run.add_argument("--apply", action="store_true", help="write the effects (default: dry run, nothing written)")
    run.add_argument("--json", action="store_true", help="print the full result as JSON")
    run.set_defaults(handler=_triage)

    sandbox = commands.add_parser(
        "sandbox",
        help="serve the offline sandbox GitHub MCP server",
        description="Serve the sandbox GitHub MCP server (same tools and semantics as github-mcp-server's "
        "issues toolset) over stdio or streamable HTTP.",
    )
    sandbox.add_argument("--db", type=Path, help="sandbox SQLite file (default: the seeded one in the state dir)")
    sandbox.add_argument("--load", type=Path, help="load issues from a JSONL file (dataset format) first")
    sandbox.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765, help="HTTP port; 0 picks a free one (default: %(default)s)")
    add_fault_arguments(sandbox)
    sandbox.set_defaults(handler=_sandbox)

    proxy = commands.add_parser(
        "guard-proxy",
        help="serve GitHub MCP tools for one issue under the triage policy",
        description="Serve, over stdio, the GitHub MCP tools of the chosen connection scoped to one issue and "
        "filtered by the guard, so any MCP client can only do what the triage bot may do.",
    )
    proxy.add_argument("issue", help="the one issue the proxy allows")
    add_connection_arguments(proxy)
    proxy.add_argument("--skill", default="distributed-triage", help="skill name or folder (default: %(default)s)")
    proxy.set_defaults(handler=_guard_proxy)

    sweep = commands.add_parser(
        "sweep",
        help="the nightly sweep over the whole queue",
        description=sweep_cli.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_connection_arguments(sweep)
    add_engine_arguments(sweep)
    sweep_cli.add_arguments(sweep)
    sweep.set_defaults(handler=sweep_cli.run)
    return parser


async def _triage(args: argparse.Namespace) -> int:
    ref = IssueRef.parse(args.issue, repo=args.repo)
    pack = load_pack(args)
    engine = engine_from_args(args)
    audit = AuditLog(args.audit or state_dir() / "audit.sqlite3")
    async with open_github(args) as caller:
        result = await triage(ref, caller=caller, engine=engine, pack=pack, apply=args.apply, audit=audit)
    print(result.model_dump_json(indent=2) if args.json else console.render(result))
    return 0 if result.ok else 1


async def _sandbox(args: argparse.Namespace) -> int:
    store = default_store(args.db)
    if args.load:
        loaded = store.load_jsonl(args.load)
        print(f"loaded {loaded} issues from {args.load}", file=sys.stderr)
    await serve(store, transport=args.transport, host=args.host, port=args.port, faults=faults_from_arguments(args))
    return 0


async def _guard_proxy(args: argparse.Namespace) -> int:
    ref = IssueRef.parse(args.issue, repo=args.repo)
    pack = load_pack(args)
    async with open_github(args) as caller:
        await serve_proxy(GuardedSession(caller, ref, pack))
    return 0
