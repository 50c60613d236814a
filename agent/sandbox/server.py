"""The sandbox GitHub MCP server: github-mcp-server's issue tools over a `SandboxStore`.

Handlers read the raw arguments (as the real server does) instead of letting the SDK coerce them, so
a stringified list is refused here exactly as it is in production. Every failure is a tool error
result whose text is shaped like the real server's, never an exception on the wire.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import func_metadata
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from agent.sandbox import params
from agent.sandbox.faults import Faults
from agent.sandbox.params import Args, ParamError
from agent.sandbox.query import parse_query
from agent.sandbox.records import StoredIssue, parse_time
from agent.sandbox.schemas import TOOLS
from agent.sandbox.shapes import (
    API,
    comment_json,
    graphql_issue_json,
    label_json,
    minimal_issue_json,
    search_item_json,
)
from agent.sandbox.store import IssueNotFound, OrderBy, SandboxStore

__all__ = ["DEFAULT_VIEWER", "build_server"]

# Whose token the sandbox pretends to hold: comments and new issues are written as this login.
DEFAULT_VIEWER = "distributed-triage[bot]"

Handler = Callable[[Args], Any]


class _Failure(Exception):
    """A GitHub API failure, already worded as the real server words it."""


class _RawTool(Tool):
    """A tool whose handler gets the arguments exactly as the client sent them."""

    handler: Callable[[Args], Awaitable[CallToolResult]] = Field(exclude=True)

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        return await self.handler(arguments)


async def _no_arguments() -> None:
    """Placeholder signature; `_RawTool.run` never calls it."""


def _text(payload: object, *, error: bool = False) -> CallToolResult:
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=error)


def _rest_error(prefix: str, verb: str, path: str, status: int, message: str | None = None) -> str:
    # go-github's ErrorResponse text: "<VERB> <url>: <status> <message> [<errors>]"
    return f"{prefix}: {verb} {API}/{path}: {status} {message or HTTPStatus(status).phrase} []"


class _Tools:
    def __init__(self, store: SandboxStore, faults: Faults, viewer: str) -> None:
        self.store, self.faults, self.viewer = store, faults, viewer
        self.handlers: dict[str, Handler] = {
            "issue_read": self.issue_read,
            "issue_write": self.issue_write,
            "add_issue_comment": self.add_issue_comment,
            "search_issues": self.search_issues,
            "list_issues": self.list_issues,
        }

    async def call(self, name: str, args: Args) -> CallToolResult:
        if self.faults.latency_seconds:
            await anyio.sleep(self.faults.latency_seconds)
        injected = self.faults.take_error(name)
        if injected is not None:
            return _text(self._injected_error(name, args, injected), error=True)
        try:
            payload = self.handlers[name](args)
        except (ParamError, _Failure) as failure:
            return _text(str(failure), error=True)
        if name == "issue_read":
            self._after_read(args)
        return _text(payload)

    def _after_read(self, args: Args) -> None:
        number = params.required_int(args, "issue_number")
        edit = self.faults.take_human_edit("issue_read", number)
        if edit is not None:
            repo = f"{args['owner']}/{args['repo']}"
            self.store.remove_labels(repo, number, edit.remove_labels)
            self.store.add_labels(repo, number, edit.add_labels)

    def _injected_error(self, name: str, args: Args, kind: str) -> str:
        prefix, verb, path = _endpoint(name, args)
        if kind == "rate_limited":
            # The real text leaves Retry-After in the HTTP header; the sandbox appends it in the bracketed
            # style go-github uses for a primary limit's reset, so a client can honour it.
            message = (
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
                f" [retry after {self.faults.retry_after_seconds}s]"
            )
            return _rest_error(prefix, verb, path, 403, message)
        return _rest_error(prefix, verb, path, self.faults.fail_status)

    def _issue(self, args: Args, prefix: str, verb: str, suffix: str = "") -> StoredIssue:
        owner, repo = params.required_str(args, "owner"), params.required_str(args, "repo")
        number = params.required_int(args, "issue_number")
        issue = self.store.get(f"{owner}/{repo}", number)
        if issue is None:
            raise _Failure(_rest_error(prefix, verb, f"repos/{owner}/{repo}/issues/{number}{suffix}", 404))
        return issue

    def issue_read(self, args: Args) -> object:
        method = params.required_str(args, "method")
        for name in ("owner", "repo"):
            params.required_str(args, name)
        params.required_int(args, "issue_number")
        page, per_page = params.pagination(args)
        if method == "get":
            return minimal_issue_json(self._issue(args, "failed to get issue", "GET"))
        if method == "get_comments":
            issue = self._issue(args, "failed to get issue comments", "GET", "/comments")
            start = (page - 1) * per_page
            return [comment_json(issue, c) for c in issue.comments[start : start + per_page]]
        if method == "get_labels":
            number = params.required_int(args, "issue_number")
            try:
                labels = self.store.labels_of(f"{args['owner']}/{args['repo']}", number)
            except IssueNotFound:
                raise _Failure(
                    f"Failed to get issue labels: Could not resolve to an Issue with the number of {number}."
                ) from None
            return {"labels": [label_json(label) for label in labels], "totalCount": len(labels)}
        if method == "get_sub_issues":
            self._issue(args, "failed to list sub-issues", "GET", "/sub_issues")
            return []
        if method == "get_parent":
            self._issue(args, "failed to get parent issue", "GET", "/parent")
            raise _Failure(_rest_error("failed to get parent issue", "GET", _issue_path(args) + "/parent", 404))
        raise _Failure(f"unknown method: {method}")

    def issue_write(self, args: Args) -> object:
        method = params.required_str(args, "method")
        owner, repo = params.required_str(args, "owner"), params.required_str(args, "repo")
        title, body = params.optional_str(args, "title"), params.optional_str(args, "body")
        assignees, assignees_given = params.optional_str_list(args, "assignees")
        labels, labels_given = params.optional_str_list(args, "labels")
        # Accepted and type-checked like the real server; the triage never reads them back.
        params.optional_int(args, "milestone")
        params.optional_str(args, "type")
        state, reason = params.optional_str(args, "state"), params.optional_str(args, "state_reason")
        if params.optional_int(args, "duplicate_of") and reason != "duplicate":
            raise _Failure("duplicate_of can only be used when state_reason is 'duplicate'")
        full = f"{owner}/{repo}"
        if method == "create":
            if not title:
                raise _Failure("missing required parameter: title")
            if not self.store.has_repo(full):
                raise _Failure(_rest_error("failed to create issue", "POST", f"repos/{full}/issues", 404))
            _check_labels(labels, "failed to create issue", "POST", f"repos/{full}/issues")
            issue = self.store.create(
                full, title=title, body=body, author=self.viewer, labels=labels, assignees=assignees
            )
            return {"id": str(issue.id), "url": issue.html_url}
        if method != "update":
            raise _Failure("invalid method, must be either 'create' or 'update'")
        number = params.required_int(args, "issue_number")
        path = f"repos/{full}/issues/{number}"
        if state not in ("", "open", "closed") or reason not in ("", "completed", "not_planned", "duplicate"):
            raise _Failure(_rest_error("failed to update issue", "PATCH", path, 422, "Validation Failed"))
        _check_labels(labels, "failed to update issue", "PATCH", path)
        if labels_given and self.faults.drop_label_writes:
            labels_given = False  # GitHub drops label changes from a token without triage access, silently
            self.faults.note_dropped_labels("issue_write", number)
        try:
            issue = self.store.update(
                full,
                number,
                title=title or None,
                body=body or None,
                state=state or None,  # type: ignore[arg-type]  # checked against the enum just above
                state_reason=reason or None,  # type: ignore[arg-type]  # checked against the enum just above
                labels=labels if labels_given else None,
                assignees=assignees if assignees_given else None,
            )
        except IssueNotFound:
            raise _Failure(_rest_error("failed to update issue", "PATCH", path, 404)) from None
        return {"id": str(issue.id), "url": issue.html_url}

    def add_issue_comment(self, args: Args) -> object:
        owner, repo = params.required_str(args, "owner"), params.required_str(args, "repo")
        number = params.required_int(args, "issue_number")
        given = {key: params.optional_str(args, key) for key in ("body", "reaction") if key in args}
        if not given:
            raise _Failure("at least one of body or reaction is required")
        for key, value in given.items():
            if not value:
                raise _Failure(f"{key} cannot be empty when provided")
        issue = self._issue(args, "failed to create comment", "POST", "/comments")
        answer: dict[str, dict[str, str]] = {}
        if "body" in given:
            comment = self.store.add_comment(f"{owner}/{repo}", number, author=self.viewer, body=given["body"])
            answer["comment"] = {"id": str(comment.id), "url": f"{issue.html_url}#issuecomment-{comment.id}"}
        if "reaction" in given:
            # Reactions do not change anything the triage reads, so they are acknowledged, not stored.
            answer["reaction"] = {"id": "1", "url": f"{API}/{_issue_path(args)}/reactions/1"}
        return answer if len(answer) == 2 else next(iter(answer.values()))

    def search_issues(self, args: Args) -> object:
        query = params.required_str(args, "query")
        owner, repo = params.optional_str(args, "owner"), params.optional_str(args, "repo")
        sort, order = params.optional_str(args, "sort"), params.optional_str(args, "order") or "desc"
        page, per_page = params.pagination(args)
        if owner and repo:
            query = f"repo:{owner}/{repo} {query}"
        parsed = parse_query(query)
        hits = [issue for issue in self.store.issues() if parsed.matches(issue)]
        key: Callable[[StoredIssue], tuple[object, ...]] = {
            "comments": lambda i: (len(i.comments), i.number),
            "updated": lambda i: (i.updated_at, i.number),
        }.get(sort, lambda i: (i.created_at, i.number))
        hits.sort(key=key, reverse=order != "asc")
        start = (page - 1) * per_page
        items = [search_item_json(i, self.store.labels_of(i.repo, i.number)) for i in hits[start : start + per_page]]
        return {"total_count": len(hits), "incomplete_results": False, "items": items}

    def list_issues(self, args: Args) -> object:
        owner, repo = params.required_str(args, "owner"), params.required_str(args, "repo")
        state = params.optional_str(args, "state").upper()
        labels, _ = params.optional_str_list(args, "labels")
        order_by = params.optional_str(args, "orderBy").upper()
        direction = params.optional_str(args, "direction").upper()
        since_text, after = params.optional_str(args, "since"), params.optional_str(args, "after")
        per_page = params.optional_int(args, "perPage", 30)
        if "page" in args:
            raise _Failure(
                "This tool uses cursor-based pagination. Use the 'after' parameter with the 'endCursor' value "
                "from the previous response instead of 'page'."
            )
        if per_page > 100:
            raise _Failure(f"perPage value {per_page} exceeds maximum of 100")
        since = None
        if since_text:
            try:
                since = parse_time(since_text)
            except ValueError:
                raise _Failure(
                    f"failed to list issues: invalid ISO 8601 timestamp: {since_text} "
                    "(supported formats: YYYY-MM-DDThh:mm:ssZ or YYYY-MM-DD)"
                ) from None
        offset = _decode_cursor(after) if after else 0
        full = f"{owner}/{repo}"
        if not self.store.has_repo(full):
            raise _Failure(f"failed to list issues: Could not resolve to a Repository with the name '{full}'.")
        field: OrderBy = {"UPDATED_AT": "updated_at", "COMMENTS": "comments"}.get(order_by, "created_at")  # type: ignore[assignment]  # values are OrderBy literals
        issues, total = self.store.list_issues(
            full,
            state={"OPEN": "open", "CLOSED": "closed"}.get(state),  # type: ignore[arg-type]  # values are states
            labels=labels,
            since=since,
            order_by=field,
            descending=direction != "ASC",
            offset=offset,
            limit=per_page,
        )
        page_info: dict[str, object] = {"hasNextPage": offset + len(issues) < total, "hasPreviousPage": offset > 0}
        if issues:
            page_info |= {"startCursor": _encode_cursor(offset + 1), "endCursor": _encode_cursor(offset + len(issues))}
        return {"issues": [graphql_issue_json(i) for i in issues], "totalCount": total, "pageInfo": page_info}


def _issue_path(args: Args) -> str:
    return f"repos/{args.get('owner')}/{args.get('repo')}/issues/{args.get('issue_number')}"


def _endpoint(name: str, args: Args) -> tuple[str, str, str]:
    """Where the real server would have sent the request, to word an injected error."""
    method = args.get("method")
    if name == "issue_read":
        prefix = {"get_comments": "failed to get issue comments", "get_labels": "Failed to get issue labels"}
        suffix = "/comments" if method == "get_comments" else ""
        return prefix.get(str(method), "failed to get issue"), "GET", _issue_path(args) + suffix
    if name == "issue_write" and method == "create":
        return "failed to create issue", "POST", f"repos/{args.get('owner')}/{args.get('repo')}/issues"
    if name == "issue_write":
        return "failed to update issue", "PATCH", _issue_path(args)
    if name == "add_issue_comment":
        return "failed to create comment", "POST", _issue_path(args) + "/comments"
    if name == "search_issues":
        return "failed to search issues", "GET", "search/issues"
    return "failed to list issues", "POST", "graphql"


def _check_labels(labels: list[str], prefix: str, verb: str, path: str) -> None:
    if any(not label.strip() for label in labels):
        raise _Failure(_rest_error(prefix, verb, path, 422, "Validation Failed"))


def _encode_cursor(position: int) -> str:
    return base64.b64encode(f"cursor:v2:{position}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        kind, version, position = base64.b64decode(cursor, validate=True).decode().split(":")
        if (kind, version) == ("cursor", "v2") and position.isdigit():
            return int(position)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise _Failure(f"failed to list issues: `{cursor}` does not appear to be a valid cursor.")


def build_server(store: SandboxStore, faults: Faults | None = None, *, viewer: str = DEFAULT_VIEWER) -> MCPServer:
    """An MCP server with github-mcp-server's issue tools over `store`, causing `faults` when told to."""
    tools = _Tools(store, faults if faults is not None else Faults(), viewer)
    registered: list[Tool] = []
    for spec in TOOLS:

        async def handler(arguments: Args, name: str = spec.name) -> CallToolResult:
            return await tools.call(name, arguments)

        registered.append(
            _RawTool(
                fn=_no_arguments,
                name=spec.name,
                description=spec.description,
                parameters=spec.input_schema,
                fn_metadata=func_metadata(_no_arguments, structured_output=False),
                is_async=True,
                annotations=ToolAnnotations(title=spec.title, read_only_hint=spec.read_only),
                handler=handler,
            )
        )
    return MCPServer(
        "github-sandbox",
        instructions="An offline stand-in for github-mcp-server's issue tools.",
        tools=registered,
        log_level="WARNING",
    )
