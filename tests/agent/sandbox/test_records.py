import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.sandbox.records import UNKNOWN_DATE, DatasetError, DatasetRecord, IssueSeed, format_time, parse_time

DEV_DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "issues-dev.jsonl"


def _line(**fields: object) -> str:
    record: dict[str, object] = {
        "number": 7,
        "url": "https://github.com/octo-org/widgets/issues/7",
        "title": "A title",
        "state": "open",
        "labels": ["x"],
        "labels_visible": True,
        "opened": "2026-01-02",
        "author": "someone",
        "body": "text",
        "body_partial": False,
        "comments": [],
    }
    record.update(fields)
    return json.dumps(record)


def test_a_dataset_line_takes_its_repository_from_the_url() -> None:
    seed = DatasetRecord.parse_line(_line()).to_seed()
    assert (seed.repo, seed.number, seed.labels) == ("octo-org/widgets", 7, ("x",))
    assert seed.created_at == datetime(2026, 1, 2, tzinfo=UTC)


def test_a_continuation_fragment_without_a_date_follows_the_comment_before_it() -> None:
    comments = [
        {"author": "a", "date": "2026-01-05", "text": "first"},
        {"author": "a", "date": None, "text": "continued"},
        {"author": "b", "date": "2026-01-09", "text": "reply"},
    ]
    seed = DatasetRecord.parse_line(_line(comments=comments)).to_seed()
    assert [c.body for c in seed.comments] == ["first", "continued", "reply"]
    assert [c.created_at.day for c in seed.comments] == [5, 5, 9]
    assert seed.last_activity() == datetime(2026, 1, 9, tzinfo=UTC)


def test_missing_author_body_and_opening_date_still_give_a_usable_issue() -> None:
    comments = [{"author": None, "date": "2026-02-01", "text": "only comment"}]
    seed = DatasetRecord.parse_line(_line(author=None, body=None, opened=None, comments=comments)).to_seed()
    assert (seed.author, seed.body) == ("ghost", "")
    assert seed.created_at == datetime(2026, 2, 1, tzinfo=UTC)
    assert seed.comments[0].author == "ghost"
    bare = DatasetRecord.parse_line(_line(opened=None)).to_seed()
    assert bare.created_at == UNKNOWN_DATE


def test_the_labels_of_a_record_can_be_replaced_by_the_pre_triage_ones() -> None:
    seed = DatasetRecord.parse_line(_line(labels=["x", "triaged"])).to_seed(labels=("oncall: distributed",))
    assert seed.labels == ("oncall: distributed",)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("not json", "not JSON"),
        (_line(number="seven"), "number"),
        (_line(title=None), "title"),
    ],
)
def test_a_broken_line_is_refused_with_its_location(line: str, fragment: str) -> None:
    with pytest.raises(DatasetError, match=r"issues\.jsonl:3") as caught:
        DatasetRecord.parse_line(line, where="issues.jsonl:3")
    assert fragment in str(caught.value)


def test_a_url_outside_github_issues_is_refused() -> None:
    record = DatasetRecord.parse_line(_line(url="https://example.com/x/y/issues/7"))
    with pytest.raises(DatasetError, match=r"not a github\.com issue URL"):
        record.to_seed()


def test_times_are_read_as_utc_seconds_and_printed_with_a_z() -> None:
    assert format_time(parse_time("2026-03-04T05:06:07.891+02:00")) == "2026-03-04T03:06:07Z"
    assert format_time(parse_time("2026-03-04")) == "2026-03-04T00:00:00Z"


def test_an_issue_seed_refuses_a_repository_without_an_owner() -> None:
    with pytest.raises(ValueError, match="repo"):
        IssueSeed(repo="widgets", number=1, title="t")


@pytest.mark.skipif(not DEV_DATA.exists(), reason="../shared/data/issues-dev.jsonl is not beside this checkout")
def test_every_record_of_the_dev_dataset_becomes_a_seed() -> None:
    lines = [line for line in DEV_DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    seeds = [DatasetRecord.parse_line(line).to_seed() for line in lines]
    assert len(seeds) == len(lines)
    assert all(seed.repo == "pytorch/pytorch" for seed in seeds)
    assert all(c.created_at >= seed.created_at for seed in seeds for c in seed.comments)
