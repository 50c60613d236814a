"""Command-line options shared by `agent triage`, `agent sweep` and `agent guard-proxy`, and what they open."""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal, cast

from agent.claude import ClaudeSettings, choose_engine
from agent.connection import REMOTE_URL, connect
from agent.engine import Engine
from agent.github import ToolCaller
from agent.models import DEFAULT_REPO, UsageError
from agent.sandbox import default_store
from agent.skillpack import SkillPack

__all__ = [
    "EngineName",
    "GitHubKind",
    "add_connection_arguments",
    "add_engine_arguments",
    "claude_settings",
    "engine_from_args",
    "github_kind",
    "load_pack",
    "open_github",
]

GitHubKind = Literal["sandbox", "remote", "stdio"]
EngineName = Literal["rules", "claude", "auto"]


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("GitHub connection")
    group.add_argument("--repo", default=DEFAULT_REPO, help="repository for bare issue numbers (default: %(default)s)")
    group.add_argument(
        "--github",
        choices=["sandbox", "remote", "stdio"],
        default=None,
        help="sandbox: the offline store (default without GITHUB_TOKEN); remote: the hosted GitHub MCP server "
        "(default with GITHUB_TOKEN); stdio: a GitHub MCP server command given with --github-command",
    )
    group.add_argument("--github-command", help="for --github stdio, e.g. 'github-mcp-server stdio'")
    group.add_argument(
        "--github-url",
        default=REMOTE_URL,
        help="for --github remote: the GitHub MCP endpoint (default: %(default)s; GitHub Enterprise has its own)",
    )
    group.add_argument("--sandbox-db", type=Path, help="for --github sandbox: the sandbox SQLite file")


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("engine")
    group.add_argument(
        "--engine",
        choices=["rules", "claude", "auto"],
        default="auto",
        help="rules: offline rules engine; claude: Claude (needs ANTHROPIC_API_KEY); "
        "auto: Claude when a key is set, else rules (default)",
    )
    group.add_argument(
        "--mode",
        choices=["plan", "direct"],
        default=None,
        help="Claude only. plan: the model submits a plan the guard applies (the settings' default); "
        "direct: the model also gets the write tools, each call through the guard",
    )
    group.add_argument("--model", help="Claude model (default from the Claude settings)")
    group.add_argument(
        "--claude-settings",
        type=Path,
        help="Claude settings YAML: model, mode, turn limit, timeout, prices, second_opinion "
        "(default: the shipped agent/claude/settings.yaml)",
    )
    group.add_argument("--skill", default="distributed-triage", help="skill name or folder (default: %(default)s)")
    group.add_argument("--marker", help="override the policy's marker label (e.g. ptd-bot-triaged)")
    group.add_argument(
        "--audit", type=Path, help="audit log SQLite file (default: audit.sqlite3 in the state directory)"
    )


def claude_settings(args: argparse.Namespace) -> ClaudeSettings:
    """The Claude settings file, with --model and --mode laid over it."""
    settings = ClaudeSettings.load(args.claude_settings)
    overrides = {key: value for key in ("model", "mode") if (value := getattr(args, key, None)) is not None}
    return settings.model_copy(update=overrides) if overrides else settings


def engine_from_args(args: argparse.Namespace) -> Engine:
    return choose_engine(cast(EngineName, args.engine), settings=claude_settings(args))


def load_pack(args: argparse.Namespace) -> SkillPack:
    pack = SkillPack.load(args.skill)
    marker: str | None = getattr(args, "marker", None)
    if marker:
        pack = pack.model_copy(update={"policy": pack.policy.with_marker(marker)})
    return pack


def github_kind(args: argparse.Namespace) -> GitHubKind:
    if args.github is not None:
        return cast(GitHubKind, args.github)
    return "remote" if os.environ.get("GITHUB_TOKEN") else "sandbox"


@asynccontextmanager
async def open_github(args: argparse.Namespace) -> AsyncIterator[ToolCaller]:
    kind = github_kind(args)
    if kind == "stdio" and not args.github_command:
        raise UsageError("--github stdio needs --github-command, e.g. --github-command 'github-mcp-server stdio'")
    store = default_store(args.sandbox_db) if kind == "sandbox" else None
    async with connect(
        kind, store=store, command=args.github_command, url=args.github_url, token=os.environ.get("GITHUB_TOKEN")
    ) as c:
        yield c
