"""Template comments: how the bot renders them and how it recognises one it already posted."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence

from agent.models import Comment
from agent.policy import Policy
from agent.skillpack import Template

__all__ = [
    "SEPARATOR",
    "hidden_marker",
    "is_bot_author",
    "match_template_body",
    "posted_by_bot",
    "render_comment",
    "strip_hidden_markers",
]

# Joins several templates posted in one comment; a horizontal rule in GitHub markdown.
SEPARATOR = "\n\n---\n\n"
_MARKER_PREFIX = "distributed-triage"
_MARKER = re.compile(r"<!--\s*distributed-triage:(?P<key>[A-Za-z0-9_.-]+)\s*-->")
_SPACE = re.compile(r"\s+")


def hidden_marker(key: str) -> str:
    """The invisible tag our posts carry so a rerun knows the template is already there."""
    return f"<!-- {_MARKER_PREFIX}:{key} -->"


def strip_hidden_markers(text: str) -> str:
    return _MARKER.sub("", text)


def render_comment(keys: Sequence[str], templates: Mapping[str, Template]) -> str:
    """One comment holding each template's text, each tagged with its hidden marker."""
    if not keys:
        raise ValueError("render_comment needs at least one template key")
    return SEPARATOR.join(f"{hidden_marker(key)}\n{templates[key].comment}" for key in keys)


def is_bot_author(author: str, policy: Policy) -> bool:
    return author in policy.bot_authors or author.endswith("[bot]")


def _normal(text: str) -> str:
    return _SPACE.sub(" ", strip_hidden_markers(text)).strip().lower()


def _recognised(body: str, template: Template, threshold: float) -> bool:
    """An earlier or reworded version of the same request.

    Phrases catch a rewording (about half of them must appear, at least two); the similarity ratio
    catches a lightly edited copy whose phrases changed.
    """
    text = _normal(body)
    phrases = [p.lower() for p in template.recognize if p.strip()]
    if phrases:
        needed = min(len(phrases), max(2, math.ceil(len(phrases) / 2)))
        if sum(phrase in text for phrase in phrases) >= needed:
            return True
    matcher = difflib.SequenceMatcher(None, text, _normal(template.comment), autojunk=False)
    # The cheap upper bounds first: most comments are nowhere near the template's length.
    bounds = (matcher.real_quick_ratio, matcher.quick_ratio, matcher.ratio)
    return all(bound() >= threshold for bound in bounds)


def posted_by_bot(key: str, template: Template, comments: Iterable[Comment], policy: Policy) -> str | None:
    """Why `key` counts as already posted on the issue, or None when it does not.

    Our hidden marker counts from any author: the worst a forged one does is keep the bot from asking
    the reporter for details, and trusting it keeps reruns quiet when the bot posts under a human
    account. Exact and reworded texts count only from bot authors, so a human quoting the request
    does not silence it.
    """
    exact = _normal(template.comment)
    for comment in comments:
        if any(m["key"] == key for m in _MARKER.finditer(comment.body)):
            return f"a comment by {comment.author} carries the hidden marker of {key!r}"
        if not is_bot_author(comment.author, policy):
            continue
        if exact in _normal(comment.body):
            return f"{comment.author} already posted the exact text of {key!r}"
        if _recognised(comment.body, template, policy.template_similarity):
            return f"{comment.author} already posted an equivalent of {key!r}"
    return None


def match_template_body(body: str, templates: Mapping[str, Template]) -> str | None:
    """The template key whose text `body` is (with or without our hidden markers), else None."""
    markers = {m["key"] for m in _MARKER.finditer(body)}
    text = strip_hidden_markers(body).strip()
    for key, template in templates.items():
        if text == template.comment.strip() and markers <= {key}:
            return key
    return None
