from datetime import UTC, datetime

import pytest

from agent.sandbox.query import parse_query
from agent.sandbox.records import StoredIssue

MOMENT = datetime(2026, 1, 1, tzinfo=UTC)


def _issue(labels: tuple[str, ...] = (), *, state: str = "open", repo: str = "pytorch/pytorch") -> StoredIssue:
    return StoredIssue.model_validate(
        {
            "id": 1,
            "repo": repo,
            "number": 5,
            "title": "FSDP2 backward fails",
            "body": "Calling fully_shard twice",
            "state": state,
            "state_reason": None,
            "author": "Lena",
            "created_at": MOMENT,
            "updated_at": MOMENT,
            "closed_at": None,
            "labels": labels,
            "assignees": (),
            "comments": (),
        }
    )


def test_a_quoted_label_qualifier_keeps_its_spaces_and_matches_the_whole_name() -> None:
    query = parse_query('label:"oncall: distributed"')
    assert query.matches(_issue(("oncall: distributed",)))
    assert not query.matches(_issue(("oncall: distributed parallelisms",)))


def test_a_label_never_matches_a_longer_label_containing_it() -> None:
    assert not parse_query("label:triaged").matches(_issue(("bot-triaged",)))
    assert parse_query("label:triaged").matches(_issue(("Triaged",)))


def test_negated_labels_exclude_and_comma_lists_are_alternatives() -> None:
    pending = parse_query('label:"oncall: distributed" -label:bot-triaged -label:triaged')
    assert pending.matches(_issue(("oncall: distributed",)))
    assert not pending.matches(_issue(("oncall: distributed", "bot-triaged")))
    either = parse_query("label:feature,enhancement")
    assert either.matches(_issue(("enhancement",)))
    assert not either.matches(_issue(("bug",)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("repo:pytorch/pytorch is:open", True),
        ("repo:pytorch/vision", False),
        ("is:closed", False),
        ("state:open is:issue", True),
        ("is:pr", False),
        ("fsdp2 fully_shard", True),
        ('"backward fails"', True),
        ("fsdp2 -fully_shard", False),
        ("author:lena", True),
        ("no:label", True),
        ("milestone:2.9", False),
    ],
)
def test_qualifiers_and_free_words(text: str, expected: bool) -> None:
    assert parse_query(text).matches(_issue()) is expected
