import pytest

from agent.connection import PASSED_ENV, connect, stdio_parameters
from agent.models import UsageError

pytestmark = pytest.mark.anyio


async def test_remote_without_a_token_says_to_set_github_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    with pytest.raises(UsageError, match="GITHUB_TOKEN"):
        async with connect("remote"):
            pass


async def test_stdio_without_a_command_and_unknown_kinds_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="needs a command"):
        async with connect("stdio"):
            pass
    with pytest.raises(UsageError, match="unknown GitHub connection"):
        async with connect("carrier-pigeon"):  # type: ignore[arg-type]  # the misuse under test
            pass


def test_a_stdio_command_is_split_like_a_shell_and_gets_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PASSED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_TOOLSETS", "issues")
    monkeypatch.setenv("UNRELATED_SECRET", "never passed on")
    parameters = stdio_parameters(
        "docker run -i --rm -e 'GITHUB_TOOLSETS=issues' ghcr.io/github/github-mcp-server", "tok"
    )
    assert parameters.command == "docker"
    assert parameters.args[-2:] == ["GITHUB_TOOLSETS=issues", "ghcr.io/github/github-mcp-server"]
    assert parameters.env == {"GITHUB_TOOLSETS": "issues", "GITHUB_PERSONAL_ACCESS_TOKEN": "tok"}
    with pytest.raises(UsageError, match="empty"):
        stdio_parameters("   ")
    with pytest.raises(UsageError, match="cannot read"):
        stdio_parameters("github-mcp-server 'stdio")
