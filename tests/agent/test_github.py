import json
from datetime import UTC, datetime, timedelta

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from agent.connection import connect
from agent.github import GitHubError, call_json, classify_text, read_snapshot
from agent.models import IssueRef
from agent.sandbox import CommentSeed, Faults, IssueSeed, SandboxStore

pytestmark = pytest.mark.anyio

REF = IssueRef(owner="pytorch", repo="pytorch", number=7)
DAY = datetime(2026, 1, 1, tzinfo=UTC)
GET = {"method": "get", "owner": "pytorch", "repo": "pytorch", "issue_number": 7}
API = "https://api.github.com/repos/pytorch/pytorch/issues/7"


@pytest.mark.parametrize(
    ("text", "kind", "status", "retry_after", "not_found"),
    [
        (f"failed to get issue: GET {API}: 404 Not Found []", "permanent", 404, None, True),
        (f"failed to update issue: PATCH {API}: 502 Bad Gateway []", "transient", 502, None, False),
        (
            f"failed to create comment: POST {API}/comments: 403 You have exceeded a secondary rate limit. "
            "Please wait a few minutes before you try again. [retry after 7s]",
            "rate_limited",
            403,
            7.0,
            False,
        ),
        (
            "failed to search issues: GET https://api.github.com/search/issues: 403 API rate limit exceeded for "
            "user ID 1. [rate reset in 5m3s]",
            "rate_limited",
            403,
            303.0,
            False,
        ),
        ("failed to list issues: 429 Too Many Requests (Retry-After: 12)", "rate_limited", 429, 12.0, False),
        (
            'Failed to get issue labels: non-200 OK status code: 503 Service Unavailable body: ""',
            "transient",
            503,
            None,
            False,
        ),
        ("unexpected status 500: boom", "transient", 500, None, False),
        ("failed to get issue comments: context deadline exceeded", "transient", None, None, False),
        ("parameter labels could not be coerced to []string, is string", "permanent", None, None, False),
        (
            "Failed to get issue labels: Could not resolve to an Issue with the number of 7.",
            "permanent",
            None,
            None,
            True,
        ),
        (
            f"failed to update issue: PATCH {API}: 403 Resource not accessible by integration []",
            "permanent",
            403,
            None,
            False,
        ),
    ],
)
def test_tool_errors_are_sorted_by_what_to_do_about_them(
    text: str, kind: str, status: int | None, retry_after: float | None, not_found: bool
) -> None:
    failure = classify_text(text)
    assert (failure.kind, failure.status, failure.retry_after, failure.not_found) == (
        kind,
        status,
        retry_after,
        not_found,
    )


async def test_a_snapshot_holds_the_issue_and_every_comment_across_pages(store: SandboxStore) -> None:
    async with connect("sandbox", store=store) as client:
        snapshot = await read_snapshot(client, REF, per_page=2)
    assert (snapshot.title, snapshot.body, snapshot.author, snapshot.state) == (
        "DTensor redistribute fails",
        "snippet",
        "pat",
        "open",
    )
    assert snapshot.labels == ("oncall: distributed", "module: dtensor")
    assert [c.body for c in snapshot.comments] == ["c0", "c1", "c2", "c3", "c4"]
    assert snapshot.comments[4].created_at == DAY + timedelta(hours=4)
    assert (snapshot.created_at, snapshot.updated_at) == (DAY, DAY + timedelta(hours=4))


async def test_a_page_size_above_githubs_cap_still_reads_the_whole_thread(store: SandboxStore) -> None:
    many = tuple(CommentSeed(author="u", body=f"c{n}", created_at=DAY + timedelta(minutes=n)) for n in range(150))
    store.put(IssueSeed(repo="pytorch/pytorch", number=7, title="long thread", created_at=DAY, comments=many))
    async with connect("sandbox", store=store) as client:
        snapshot = await read_snapshot(client, REF, per_page=500)
    assert len(snapshot.comments) == 150


async def test_a_missing_issue_is_a_not_found_github_error(store: SandboxStore) -> None:
    async with connect("sandbox", store=store) as client:
        with pytest.raises(GitHubError, match="pytorch/pytorch#8 does not exist") as caught:
            await read_snapshot(client, REF.model_copy(update={"number": 8}))
    assert caught.value.not_found and caught.value.kind == "permanent"


async def test_a_server_error_while_reading_is_a_transient_github_error(store: SandboxStore) -> None:
    async with connect("sandbox", store=store, faults=Faults(fail_next=1, fail_tool="issue_read")) as client:
        with pytest.raises(GitHubError, match="502") as caught:
            await read_snapshot(client, REF)
    assert caught.value.kind == "transient"


async def test_a_thread_longer_than_the_page_limit_is_refused_not_cut(store: SandboxStore) -> None:
    async with connect("sandbox", store=store) as client:
        with pytest.raises(GitHubError, match="more than 4 comments"):
            await read_snapshot(client, REF, per_page=2, max_pages=2)


def _other_server(issue: object, comments: object) -> MCPServer:
    """A server of another generation: its own JSON shapes for the same tool."""
    server = MCPServer("other-github")

    @server.tool()
    def issue_read(
        method: str, owner: str, repo: str, issue_number: int, page: int = 1, perPage: int = 30
    ) -> str:  # the wire name
        return json.dumps(issue if method == "get" else (comments if page == 1 else []))

    return server


async def test_snapshot_parsing_tolerates_other_server_shapes() -> None:
    issue = {
        "number": 7,
        "title": "t",
        "state": "OPEN",
        "labels": [{"name": "a", "color": "fff"}, "b"],
        "updated_at": "2026-01-02T03:04:05Z",
    }
    comments = {"comments": [{"body": "hi"}, {"user": {"login": "x"}, "created_at": "2026-01-03T00:00:00Z"}]}
    async with Client(_other_server(issue, comments)) as client:
        snapshot = await read_snapshot(client, REF)
    assert (snapshot.state, snapshot.labels, snapshot.body, snapshot.author) == ("open", ("a", "b"), "", None)
    assert [(c.author, c.body) for c in snapshot.comments] == [("ghost", "hi"), ("x", "")]
    assert snapshot.updated_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


async def test_an_answer_that_is_not_an_issue_is_a_github_error() -> None:
    async with Client(_other_server({"state": "merged"}, [])) as client:
        with pytest.raises(GitHubError, match="unexpected answer"):
            await read_snapshot(client, REF)
    async with Client(_other_server({"title": "t"}, "not a list")) as client:
        with pytest.raises(GitHubError, match="expected a list"):
            await read_snapshot(client, REF)


async def test_call_json_refuses_text_that_is_not_json() -> None:
    server = MCPServer("plain")

    @server.tool(structured_output=False)
    def hello() -> str:
        return "hello there"

    async with Client(server) as client:
        with pytest.raises(GitHubError, match="not JSON"):
            await call_json(client, "hello", {})
