"""The JSON the real github-mcp-server answers with, built from stored issues.

Three shapes exist because the real server reaches GitHub three ways: `issue_read get` trims a REST
issue (labels as names, lower-case state), `search_issues` passes REST search hits through (labels as
objects), and `list_issues` trims a GraphQL node (upper-case state, no html_url). Empty fields are
left out, as Go's `omitempty` does, so clients must tolerate missing keys.
"""

from __future__ import annotations

from typing import Any

from agent.sandbox.records import LabelInfo, StoredComment, StoredIssue, format_time

__all__ = ["API", "comment_json", "graphql_issue_json", "label_json", "minimal_issue_json", "search_item_json"]

API = "https://api.github.com"
Json = dict[str, Any]


def _user(login: str) -> Json:
    return {"login": login, "profile_url": f"https://github.com/{login}"}


def _drop_empty(fields: Json) -> Json:
    return {key: value for key, value in fields.items() if value not in (None, "", [], 0, False)}


def minimal_issue_json(issue: StoredIssue) -> Json:
    """`issue_read get`."""
    fields = {
        "number": issue.number,
        "title": issue.title,
        "body": issue.body,
        "state": issue.state,
        "state_reason": issue.state_reason,
        "html_url": issue.html_url,
        "user": _user(issue.author),
        "author_association": "NONE",
        "labels": list(issue.labels),
        "assignees": list(issue.assignees),
        "comments": len(issue.comments),
        "created_at": format_time(issue.created_at),
        "updated_at": format_time(issue.updated_at),
        "closed_at": format_time(issue.closed_at) if issue.closed_at else None,
    }
    return {"number": issue.number, "title": issue.title, "state": issue.state, **_drop_empty(fields)}


def comment_json(issue: StoredIssue, comment: StoredComment) -> Json:
    """One element of `issue_read get_comments`."""
    fields = {
        "id": comment.id,
        "body": comment.body,
        "html_url": f"{issue.html_url}#issuecomment-{comment.id}",
        "user": _user(comment.author),
        "author_association": "NONE",
        "created_at": format_time(comment.created_at),
        "updated_at": format_time(comment.updated_at),
    }
    return {"id": comment.id, "html_url": fields["html_url"], **_drop_empty(fields)}


def label_json(label: LabelInfo) -> Json:
    """One element of `issue_read get_labels`."""
    return {"id": label.id, "name": label.name, "color": label.color, "description": label.description}


def search_item_json(issue: StoredIssue, labels: list[LabelInfo]) -> Json:
    """One hit of `search_issues`: the REST issue object, labels included as objects."""
    return {
        "id": issue.id,
        "number": issue.number,
        "title": issue.title,
        "state": issue.state,
        "state_reason": issue.state_reason,
        "locked": False,
        "url": f"{API}/repos/{issue.repo}/issues/{issue.number}",
        "repository_url": f"{API}/repos/{issue.repo}",
        "html_url": issue.html_url,
        "user": {"login": issue.author},
        "labels": [{**label_json(label), "default": False} for label in labels],
        "assignees": [{"login": login} for login in issue.assignees],
        "comments": len(issue.comments),
        "created_at": format_time(issue.created_at),
        "updated_at": format_time(issue.updated_at),
        "closed_at": format_time(issue.closed_at) if issue.closed_at else None,
        "author_association": "NONE",
        "body": issue.body,
    }


def graphql_issue_json(issue: StoredIssue) -> Json:
    """One element of `list_issues`."""
    fields = {
        "body": issue.body,
        "labels": list(issue.labels),
        "comments": len(issue.comments),
    }
    return {
        "number": issue.number,
        "title": issue.title,
        "state": issue.state.upper(),
        "user": {"login": issue.author},
        "created_at": format_time(issue.created_at),
        "updated_at": format_time(issue.updated_at),
        **_drop_empty(fields),
    }
