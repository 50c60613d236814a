"""Command-line flags that set the sandbox's faults, for `python -m agent.sandbox` and the main CLI."""

from __future__ import annotations

import argparse

from agent.sandbox.faults import Faults, HumanEdit

__all__ = ["add_fault_arguments", "faults_from_arguments"]


def add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("faults (for tests and benchmarks)")
    group.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="delay every tool call")
    group.add_argument("--fail-next", type=int, default=0, metavar="N", help="the next N calls answer with a 5xx")
    group.add_argument("--fail-tool", metavar="TOOL", help="only calls of TOOL count for --fail-next")
    group.add_argument("--fail-status", type=int, default=502, metavar="CODE", help="5xx status (default: 502)")
    group.add_argument("--rate-limit-next", type=int, default=0, metavar="N", help="the next N calls hit a rate limit")
    group.add_argument("--rate-limit-tool", metavar="TOOL", help="only calls of TOOL count for --rate-limit-next")
    group.add_argument("--retry-after", type=int, default=2, metavar="SECONDS", help="Retry-After of a rate limit")
    group.add_argument(
        "--human-remove-label",
        action="append",
        default=[],
        metavar="LABEL",
        help="right after the next issue_read, a person removes LABEL (repeatable)",
    )
    group.add_argument(
        "--human-add-label",
        action="append",
        default=[],
        metavar="LABEL",
        help="right after the next issue_read, a person adds LABEL (repeatable)",
    )
    group.add_argument("--human-edit-issue", type=int, metavar="N", help="only after a read of issue N")
    group.add_argument(
        "--drop-label-writes", action="store_true", help="accept label writes but change nothing (no triage access)"
    )


def faults_from_arguments(args: argparse.Namespace) -> Faults:
    edit = None
    if args.human_remove_label or args.human_add_label:
        edit = HumanEdit(
            remove_labels=tuple(args.human_remove_label),
            add_labels=tuple(args.human_add_label),
            issue_number=args.human_edit_issue,
        )
    return Faults(
        latency_seconds=args.latency,
        fail_next=args.fail_next,
        fail_tool=args.fail_tool,
        fail_status=args.fail_status,
        rate_limit_next=args.rate_limit_next,
        rate_limit_tool=args.rate_limit_tool,
        retry_after_seconds=args.retry_after,
        human_edit=edit,
        drop_label_writes=args.drop_label_writes,
    )
