"""Upstream webhook payloads shaped like GitHub's, trimmed to what the relay reads plus some bulk."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

__all__ = ["UPSTREAM", "pull_request_event", "push_event", "sign"]

UPSTREAM = "pytorch/pytorch"


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _repository(full_name: str) -> dict[str, Any]:
    owner, name = full_name.split("/")
    return {
        "id": 65600975,
        "name": name,
        "full_name": full_name,
        "private": False,
        "owner": {"login": owner, "id": 21003710, "type": "Organization"},
        "html_url": f"https://github.com/{full_name}",
        "default_branch": "main",
    }


def pull_request_event(
    action: str = "opened",
    *,
    number: int = 4242,
    sha: str = "a" * 40,
    labels: tuple[str, ...] = (),
    repo: str = UPSTREAM,
    label: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "state": "open",
            "title": "[c10d] make ProcessGroupNCCL abort non-blocking",
            "body": "Fixes a hang on shutdown.\n" * 40,
            "user": {"login": "contributor", "id": 1},
            "labels": [{"name": name, "color": "ededed"} for name in labels],
            "head": {"ref": "feature", "sha": sha, "repo": _repository("contributor/pytorch")},
            "base": {"ref": "main", "sha": "b" * 40, "repo": _repository(repo)},
            "merged": False,
        },
        "repository": _repository(repo),
        "sender": {"login": "contributor", "id": 1},
        "installation": {"id": 1},
    }
    if label is not None:
        event["label"] = {"name": label}
    return event


def push_event(*, after: str = "c" * 40, ref: str = "refs/heads/main", repo: str = UPSTREAM) -> dict[str, Any]:
    return {
        "ref": ref,
        "before": "d" * 40,
        "after": after,
        "deleted": after == "0" * 40,
        "repository": _repository(repo),
        "commits": [{"id": after, "message": "Update", "author": {"name": "a"}}],
        "sender": {"login": "pytorchmergebot", "id": 2},
    }


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()
