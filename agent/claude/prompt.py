"""The words the model reads: the cached system prefix (skill pack) and the delimited issue data."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import get_args

from anthropic.types import TextBlockParam
from pydantic import BaseModel, ConfigDict

from agent.claude.settings import Mode
from agent.claude.untrusted import Finding, Inspection, inspect_untrusted
from agent.models import Decision, IssueSnapshot
from agent.skillpack import SkillPack
from agent.templating import render

__all__ = [
    "ToolNote",
    "estimate_tokens",
    "issue_message",
    "reminder",
    "system_blocks",
    "system_prompt",
]

# Upstream's read tools clip to the same sizes; a longer issue is almost always pasted logs.
BODY_LIMIT = 20_000
COMMENT_LIMIT = 4_000
MAX_COMMENTS = 50


class ToolNote(BaseModel):
    """A tool the system prompt mentions by name (the relay's tools, once configured)."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str


def estimate_tokens(text: str) -> int:
    """A rough count (four characters a token), good enough to compare with cache minimums."""
    return math.ceil(len(text) / 4)


def system_prompt(pack: SkillPack, *, mode: Mode, extra_tools: Sequence[ToolNote] = ()) -> str:
    """The skill pack rendered as the system prompt; identical for every issue, so it caches."""
    return render(
        "prompts/system.md.j2",
        mode=mode,
        skill=pack.meta,
        instructions=pack.instructions,
        rubric=pack.rubric_text,
        labels=pack.labels,
        templates=pack.templates,
        policy=pack.policy,
        decisions=get_args(Decision),
        extra_tools=extra_tools,
    )


def system_blocks(text: str) -> list[TextBlockParam]:
    """The system prompt as one block marked for prompt caching (tools and system form the prefix)."""
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


def _clipped(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[... {len(text) - limit} more characters clipped]"


def issue_message(snapshot: IssueSnapshot, *, one_shot: bool = False) -> Inspection:
    """The issue as the first user message (trusted facts first, then the untrusted text, delimited),
    with what the inspection of every untrusted part found."""
    findings: list[Finding] = []

    def shown(text: str, where: str, limit: int) -> str:
        inspection = inspect_untrusted(_clipped(text, limit), where=where)
        findings.extend(inspection.findings)
        return inspection.text

    comments = snapshot.comments[-MAX_COMMENTS:]
    first = len(snapshot.comments) - len(comments) + 1
    data = {
        "title": shown(snapshot.title, "title", 1000),
        "author": shown(snapshot.author or "unknown", "author", 200),
        "body": shown(snapshot.body, "body", BODY_LIMIT) if snapshot.body.strip() else "(empty)",
        "comments": [
            {
                "number": n,
                "author": shown(c.author, f"comment {n} author", 200),
                "created_at": c.created_at.isoformat() if c.created_at else None,
                "body": shown(c.body, f"comment {n} by {c.author}", COMMENT_LIMIT),
            }
            for n, c in enumerate(comments, start=first)
        ],
    }
    # The delimiter id is derived from the content, so text inside cannot know (and close) it.
    nonce = hashlib.sha256(repr(sorted(data.items())).encode("utf-8")).hexdigest()[:16]
    text = render(
        "prompts/issue.md.j2",
        repo=snapshot.ref.full_repo,
        number=snapshot.ref.number,
        one_shot=one_shot,
        labels=snapshot.labels,
        findings=[str(f) for f in findings],
        nonce=nonce,
        state=snapshot.state,
        created_at=snapshot.created_at.isoformat() if snapshot.created_at else None,
        omitted_comments=first - 1,
        **data,
    )
    return Inspection(text=text, findings=tuple(findings))


def reminder(pack: SkillPack, *, remaining: int) -> str:
    return render("prompts/reminder.md.j2", review_label=pack.policy.review_label, remaining=remaining)
