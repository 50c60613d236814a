import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from agent.sandbox import DEFAULT_VIEWER, CommentSeed, IssueSeed, SandboxStore, build_server

pytestmark = pytest.mark.anyio

OWNER, NAME = "pytorch", "pytorch"
REPO = f"{OWNER}/{NAME}"
DAY = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[SandboxStore]:
    with SandboxStore() as opened:
        opened.put(
            IssueSeed(
                repo=REPO,
                number=10,
                title="FSDP2 backward fails",
                body="fully_shard twice",
                author="lena",
                created_at=DAY,
                labels=("oncall: distributed", "module: fsdp"),
                comments=tuple(
                    CommentSeed(author=f"user{n}", body=f"comment {n}", created_at=DAY + timedelta(hours=n))
                    for n in range(5)
                ),
            )
        )
        opened.put(
            IssueSeed(
                repo=REPO,
                number=11,
                title="NCCL hang",
                created_at=DAY + timedelta(days=1),
                labels=("oncall: distributed", "bot-triaged"),
            )
        )
        opened.put(
            IssueSeed(
                repo=REPO,
                number=12,
                title="Old closed one",
                state="closed",
                created_at=DAY + timedelta(days=2),
                labels=("oncall: distributed", "triaged"),
            )
        )
        yield opened


@pytest.fixture
async def client(store: SandboxStore) -> AsyncIterator[Client]:
    async with Client(build_server(store)) as connected:
        yield connected


def _text(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


async def _ok(client: Client, tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, _text(result)
    return json.loads(_text(result))


async def _error(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    return _text(result)


def _where(number: int = 10) -> dict[str, Any]:
    return {"owner": OWNER, "repo": NAME, "issue_number": number}


async def test_the_tools_and_their_schemas_match_github_mcp_server(client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"issue_read", "issue_write", "add_issue_comment", "search_issues", "list_issues"}
    for name in ("issue_read", "issue_write", "add_issue_comment"):
        assert tools[name].input_schema["properties"]["issue_number"]["type"] == "number"
    assert tools["issue_write"].input_schema["properties"]["labels"]["items"] == {"type": "string"}
    assert tools["issue_write"].input_schema["required"] == ["method", "owner", "repo"]
    assert tools["issue_read"].input_schema["properties"]["method"]["enum"] == [
        "get",
        "get_comments",
        "get_sub_issues",
        "get_parent",
        "get_labels",
    ]
    assert tools["list_issues"].input_schema["properties"]["state"]["enum"] == ["OPEN", "CLOSED"]
    assert tools["issue_read"].annotations is not None and tools["issue_read"].annotations.read_only_hint


async def test_get_returns_a_minimal_issue_with_label_names(client: Client) -> None:
    issue = await _ok(client, "issue_read", method="get", **_where())
    assert issue["labels"] == ["oncall: distributed", "module: fsdp"]
    assert (issue["number"], issue["state"], issue["user"]["login"], issue["comments"]) == (10, "open", "lena", 5)
    assert issue["html_url"] == "https://github.com/pytorch/pytorch/issues/10"
    assert issue["created_at"] == "2026-01-01T00:00:00Z" and issue["updated_at"] == "2026-01-01T04:00:00Z"


async def test_an_issue_without_labels_leaves_the_key_out_as_the_real_server_does(
    client: Client, store: SandboxStore
) -> None:
    store.put(IssueSeed(repo=REPO, number=13, title="bare"))
    assert "labels" not in await _ok(client, "issue_read", method="get", **_where(13))


async def test_a_numeric_string_issue_number_is_accepted_like_the_current_server(client: Client) -> None:
    issue = await _ok(client, "issue_read", method="get", owner=OWNER, repo=NAME, issue_number="10")
    assert issue["number"] == 10


async def test_get_comments_pages_through_the_thread(client: Client) -> None:
    first = await _ok(client, "issue_read", method="get_comments", page=1, perPage=2, **_where())
    last = await _ok(client, "issue_read", method="get_comments", page=3, perPage=2, **_where())
    assert [c["body"] for c in first] == ["comment 0", "comment 1"]
    assert [c["user"]["login"] for c in last] == ["user4"]
    assert first[0]["html_url"].startswith("https://github.com/pytorch/pytorch/issues/10#issuecomment-")


async def test_get_labels_returns_label_objects_and_a_count(client: Client) -> None:
    labels = await _ok(client, "issue_read", method="get_labels", **_where())
    assert labels["totalCount"] == 2
    assert [label["name"] for label in labels["labels"]] == ["oncall: distributed", "module: fsdp"]
    assert set(labels["labels"][0]) == {"id", "name", "color", "description"}


async def test_an_unknown_issue_answers_like_github_does(client: Client) -> None:
    text = await _error(client, "issue_read", method="get", **_where(999))
    assert text == "failed to get issue: GET https://api.github.com/repos/pytorch/pytorch/issues/999: 404 Not Found []"
    labels = await _error(client, "issue_read", method="get_labels", **_where(999))
    assert "Could not resolve to an Issue with the number of 999" in labels


async def test_an_unknown_method_and_missing_parameters_are_named(client: Client) -> None:
    assert await _error(client, "issue_read", method="get_history", **_where()) == "unknown method: get_history"
    assert await _error(client, "issue_read", method="get", owner=OWNER, repo=NAME) == (
        "missing required parameter: issue_number"
    )
    assert "not a valid number" in await _error(
        client, "issue_read", method="get", owner=OWNER, repo=NAME, issue_number=True
    )


async def test_update_with_labels_replaces_the_whole_set(client: Client, store: SandboxStore) -> None:
    answer = await _ok(client, "issue_write", method="update", labels=["module: fsdp", "triaged"], **_where())
    assert answer["url"] == "https://github.com/pytorch/pytorch/issues/10"
    assert store.require(REPO, 10).labels == ("module: fsdp", "triaged")


async def test_update_with_an_empty_label_list_clears_every_label(client: Client, store: SandboxStore) -> None:
    await _ok(client, "issue_write", method="update", labels=[], **_where())
    assert store.require(REPO, 10).labels == ()


async def test_update_without_labels_or_with_null_labels_leaves_them_alone(client: Client, store: SandboxStore) -> None:
    await _ok(client, "issue_write", method="update", title="renamed", **_where())
    await _ok(client, "issue_write", method="update", labels=None, **_where())
    issue = store.require(REPO, 10)
    assert (issue.title, issue.labels) == ("renamed", ("oncall: distributed", "module: fsdp"))


async def test_a_stringified_label_list_is_refused_not_parsed(client: Client, store: SandboxStore) -> None:
    text = await _error(client, "issue_write", method="update", labels='["triaged"]', **_where())
    assert text == "parameter labels could not be coerced to []string, is string"
    assert store.require(REPO, 10).labels == ("oncall: distributed", "module: fsdp")


async def test_update_changes_state_and_assignees_like_the_real_server(client: Client, store: SandboxStore) -> None:
    await _ok(
        client,
        "issue_write",
        method="update",
        state="closed",
        state_reason="not_planned",
        assignees=["someone"],
        **_where(),
    )
    issue = store.require(REPO, 10)
    assert (issue.state, issue.state_reason, issue.assignees) == ("closed", "not_planned", ("someone",))


async def test_a_write_moves_updated_at(client: Client) -> None:
    before = (await _ok(client, "issue_read", method="get", **_where()))["updated_at"]
    await _ok(client, "issue_write", method="update", labels=["x"], **_where())
    after = (await _ok(client, "issue_read", method="get", **_where()))["updated_at"]
    assert after > before


async def test_update_of_a_missing_issue_and_bad_methods_are_errors(client: Client) -> None:
    missing = await _error(client, "issue_write", method="update", labels=["x"], **_where(999))
    assert missing.startswith(
        "failed to update issue: PATCH https://api.github.com/repos/pytorch/pytorch/issues/999: 404"
    )
    assert await _error(client, "issue_write", method="delete", **_where()) == (
        "invalid method, must be either 'create' or 'update'"
    )
    assert "422" in await _error(client, "issue_write", method="update", labels=["  "], **_where())


async def test_create_opens_a_new_issue_as_the_token_owner(client: Client, store: SandboxStore) -> None:
    answer = await _ok(client, "issue_write", method="create", owner=OWNER, repo=NAME, title="new", labels=["a"])
    assert answer["url"] == "https://github.com/pytorch/pytorch/issues/13"
    created = store.require(REPO, 13)
    assert (created.author, created.labels) == (DEFAULT_VIEWER, ("a",))
    assert await _error(client, "issue_write", method="create", owner=OWNER, repo=NAME) == (
        "missing required parameter: title"
    )


async def test_add_issue_comment_posts_as_the_token_owner(client: Client, store: SandboxStore) -> None:
    answer = await _ok(client, "add_issue_comment", body="Could you share a script?", **_where(11))
    comment = store.require(REPO, 11).comments[-1]
    assert (comment.author, comment.body) == (DEFAULT_VIEWER, "Could you share a script?")
    assert answer == {
        "id": str(comment.id),
        "url": f"https://github.com/pytorch/pytorch/issues/11#issuecomment-{comment.id}",
    }


async def test_add_issue_comment_needs_a_body_or_reaction(client: Client) -> None:
    assert await _error(client, "add_issue_comment", **_where()) == "at least one of body or reaction is required"
    assert await _error(client, "add_issue_comment", body="", **_where()) == "body cannot be empty when provided"
    missing = await _error(client, "add_issue_comment", body="hi", **_where(999))
    assert "POST https://api.github.com/repos/pytorch/pytorch/issues/999/comments: 404" in missing


async def test_search_filters_by_exact_labels_state_and_words(client: Client) -> None:
    pending = await _ok(
        client,
        "search_issues",
        query='repo:pytorch/pytorch is:open label:"oncall: distributed" -label:bot-triaged -label:triaged',
    )
    assert [item["number"] for item in pending["items"]] == [10]
    assert pending["items"][0]["labels"][1]["name"] == "module: fsdp"
    triaged = await _ok(client, "search_issues", query="label:triaged", owner=OWNER, repo=NAME)
    assert [item["number"] for item in triaged["items"]] == [12]
    words = await _ok(client, "search_issues", query="nccl hang")
    assert [item["number"] for item in words["items"]] == [11]


async def test_search_sorts_and_pages(client: Client) -> None:
    oldest = await _ok(client, "search_issues", query="repo:pytorch/pytorch", sort="created", order="asc", perPage=2)
    second = await _ok(
        client, "search_issues", query="repo:pytorch/pytorch", sort="created", order="asc", perPage=2, page=2
    )
    assert oldest["total_count"] == 3
    assert [i["number"] for i in oldest["items"]] + [i["number"] for i in second["items"]] == [10, 11, 12]


async def test_list_filters_by_state_and_requires_every_label(client: Client) -> None:
    listed = await _ok(client, "list_issues", owner=OWNER, repo=NAME, state="OPEN", labels=["oncall: distributed"])
    assert [i["number"] for i in listed["issues"]] == [11, 10]
    assert listed["issues"][0]["state"] == "OPEN"
    exact = await _ok(client, "list_issues", owner=OWNER, repo=NAME, labels=["triaged"])
    assert [i["number"] for i in exact["issues"]] == [12]
    both = await _ok(client, "list_issues", owner=OWNER, repo=NAME, labels=["oncall: distributed", "module: fsdp"])
    assert [i["number"] for i in both["issues"]] == [10]


async def test_list_pages_with_cursors_oldest_first(client: Client) -> None:
    seen: list[int] = []
    arguments: dict[str, Any] = {
        "owner": OWNER,
        "repo": NAME,
        "orderBy": "CREATED_AT",
        "direction": "ASC",
        "perPage": 2,
    }
    for _ in range(3):
        page = await _ok(client, "list_issues", **arguments)
        seen += [i["number"] for i in page["issues"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        arguments["after"] = page["pageInfo"]["endCursor"]
    assert seen == [10, 11, 12]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasPreviousPage"]


async def test_list_since_keeps_recently_updated_issues(client: Client) -> None:
    recent = await _ok(client, "list_issues", owner=OWNER, repo=NAME, since="2026-01-02T00:00:00Z")
    assert sorted(i["number"] for i in recent["issues"]) == [11, 12]


async def test_list_refuses_page_numbers_bad_cursors_and_unknown_repositories(client: Client) -> None:
    assert "cursor-based pagination" in await _error(client, "list_issues", owner=OWNER, repo=NAME, page=2)
    assert "does not appear to be a valid cursor" in await _error(
        client, "list_issues", owner=OWNER, repo=NAME, after="bogus"
    )
    assert "Could not resolve to a Repository with the name 'pytorch/vision'" in await _error(
        client, "list_issues", owner=OWNER, repo="vision"
    )
    assert "invalid ISO 8601 timestamp" in await _error(client, "list_issues", owner=OWNER, repo=NAME, since="May")


async def test_an_unknown_tool_is_an_error_result(client: Client) -> None:
    assert "Unknown tool: label_write" in await _error(client, "label_write", owner=OWNER, repo=NAME, name="x")
