import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from agent.command import run_command
from agent.github import GitHubError
from agent.models import UsageError


class Misuse(ValueError):
    pass


def _raising(error: BaseException) -> Callable[[argparse.Namespace], Awaitable[int]]:
    async def handler(args: argparse.Namespace) -> int:
        raise error

    return handler


async def _done(args: argparse.Namespace) -> int:
    return 7


def test_the_handler_status_is_the_exit_status() -> None:
    assert run_command(_done, argparse.Namespace()) == 7


def test_a_usage_error_exits_2_with_its_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command(_raising(UsageError("give --repo owner/name")), argparse.Namespace()) == 2
    assert capsys.readouterr().err == "error: give --repo owner/name\n"


def test_a_command_may_name_its_own_usage_errors() -> None:
    assert run_command(_raising(Misuse("bad line 3")), argparse.Namespace(), usage_errors=(Misuse,)) == 2


def test_a_github_connection_failure_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command(_raising(GitHubError("session refused")), argparse.Namespace()) == 1
    assert "session refused" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with (tmp_path / "stdout").open("w", encoding="utf-8") as stdout:
        monkeypatch.setattr(sys, "stdout", stdout)
        assert run_command(_raising(BrokenPipeError()), argparse.Namespace()) == 0


def test_anything_else_is_a_bug_and_propagates() -> None:
    with pytest.raises(ZeroDivisionError):
        run_command(_raising(ZeroDivisionError()), argparse.Namespace())
