"""Running a command-line handler with the project's exit statuses: 0 done, 1 failed, 2 usage error."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable

import anyio

from agent.claude import MissingApiKey, SettingsError
from agent.github import GitHubError
from agent.models import UsageError
from agent.policy import PolicyError
from agent.rules.rubric import RubricError
from agent.skillpack import SkillPackError

__all__ = ["USAGE_ERRORS", "run_command"]

# Errors the user fixes by changing the command, a file or the environment.
USAGE_ERRORS: tuple[type[Exception], ...] = (
    UsageError,
    SkillPackError,
    PolicyError,
    RubricError,
    SettingsError,
    MissingApiKey,
)


def run_command(
    handler: Callable[[argparse.Namespace], Awaitable[int]],
    args: argparse.Namespace,
    *,
    usage_errors: tuple[type[Exception], ...] = (),
) -> int:
    """Run `handler(args)`; usage errors exit 2 with their message, a GitHub connection failure exits 1."""
    try:
        status: int = anyio.run(handler, args)
        return status
    except USAGE_ERRORS + usage_errors as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except GitHubError as error:
        # The connection itself failed (refused session, bad token): nothing was read or written.
        print(f"error: GitHub: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: point stdout at /dev/null so the exit flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
