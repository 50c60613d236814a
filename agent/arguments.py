"""Tool arguments as models send them: repaired when the intent is unambiguous, refused otherwise.

Models send `"123"` for a number and `'["a", "b"]'` for a list often enough that upstream's bot went
green while every call failed. A plain string where a list belongs is refused rather than guessed at:
iterating it would turn one label into a list of characters.
"""

from __future__ import annotations

import json
import re

from agent.models import IssueRef

__all__ = ["ArgumentError", "as_issue_number", "as_label_list", "as_page", "as_text", "scope_query"]

_NUMBER = re.compile(r"^#?\s*(?P<digits>[0-9]+)$")
# A search qualifier that chooses where to search; its value may be quoted.
_SCOPE = re.compile(r'(?<!\S)-?(?P<key>repo|org|user|owner):(?:"(?P<quoted>[^"]*)"|(?P<bare>\S+))', re.IGNORECASE)
_PER_PAGE_MAX = 100


class ArgumentError(ValueError):
    """An argument the guard cannot read; the message tells the model what to send instead."""


def as_issue_number(value: object, field: str) -> int:
    """An issue number from `123`, `123.0`, `"123"` or `"#123"`."""
    if isinstance(value, bool):
        raise ArgumentError(f"{field} must be an issue number like 123, not {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and (match := _NUMBER.match(value.strip())):
        number = int(match["digits"])
    else:
        raise ArgumentError(f"{field} must be an issue number like 123, not {value!r}")
    if number < 1:
        raise ArgumentError(f"{field} must be at least 1, not {number}")
    return number


def as_page(value: object, field: str) -> int:
    """A page or page size, read like an issue number; page sizes are capped as GitHub caps them."""
    number = as_issue_number(value, field)
    return min(number, _PER_PAGE_MAX) if field == "perPage" else number


def as_text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise ArgumentError(f"{field} must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ArgumentError(f"{field} must not be empty")
    return value


def as_label_list(value: object, field: str) -> list[str]:
    """A list of names from a JSON array, or from a string holding one (`'["a", "b"]'`)."""
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("["):
            raise ArgumentError(
                f'{field} must be an array of strings such as ["module: fsdp"]; '
                f"a single string is not split into {field}: {value!r}"
            )
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArgumentError(f"{field} looks like a JSON array but does not parse: {exc.msg}") from exc
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ArgumentError(f'{field} must be an array of strings such as ["module: fsdp"], not {value!r}')
    return [item.strip() for item in value if item.strip()]


def scope_query(query: str, ref: IssueRef) -> str:
    """`query` searched in `ref`'s repository only. Qualifiers naming it are dropped, others refused."""

    def drop_own(match: re.Match[str]) -> str:
        key, where = match["key"].lower(), (match["quoted"] if match["quoted"] is not None else match["bare"])
        own = ref.full_repo if key == "repo" else ref.owner
        if where.casefold() != own.casefold():
            raise ArgumentError(f"searches are limited to {ref.full_repo}; remove {match.group(0)!r}")
        return ""

    rest = " ".join(_SCOPE.sub(drop_own, query).split())
    return f"repo:{ref.full_repo} {rest}".strip()
