import pytest
from pydantic import ValidationError

from agent.models import Effects, IssueRef, IssueSnapshot, Plan, UsageError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pytorch/pytorch#123", IssueRef(owner="pytorch", repo="pytorch", number=123)),
        ("https://github.com/pytorch/pytorch/issues/45", IssueRef(owner="pytorch", repo="pytorch", number=45)),
        ("https://github.com/org/my.repo/issues/7#issuecomment-1", IssueRef(owner="org", repo="my.repo", number=7)),
        ("88", IssueRef(owner="pytorch", repo="pytorch", number=88)),
        ("#88", IssueRef(owner="pytorch", repo="pytorch", number=88)),
        ("  a-b/c_d#9 ", IssueRef(owner="a-b", repo="c_d", number=9)),
    ],
)
def test_issue_ref_parses_every_accepted_form(text: str, expected: IssueRef) -> None:
    assert IssueRef.parse(text) == expected


def test_bare_number_is_read_in_the_given_repo() -> None:
    assert IssueRef.parse("5", repo="me/fork") == IssueRef(owner="me", repo="fork", number=5)


@pytest.mark.parametrize(
    "text",
    ["", "pytorch", "pytorch/pytorch", "pytorch/pytorch#0", "-3", "12abc", "https://github.com/a/b/pull/3", "a/b#x"],
)
def test_issue_ref_refuses_anything_else_with_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        IssueRef.parse(text)


def test_a_malformed_repo_option_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        IssueRef.parse("4", repo="not a repo")


def test_issue_ref_prints_in_short_form() -> None:
    assert str(IssueRef.parse("https://github.com/pytorch/pytorch/issues/12")) == "pytorch/pytorch#12"


def test_label_matching_is_exact_not_substring() -> None:
    snapshot = IssueSnapshot(ref=IssueRef.parse("1"), title="t", labels=("bot-triaged",))
    assert not snapshot.has_label("triaged")
    assert snapshot.has_label("bot-triaged")


def test_plan_forbids_unknown_fields_and_strips_blank_labels() -> None:
    plan = Plan(decision="route", labels=[" triaged ", ""], templates=[], confidence="HIGH", reasoning="r")
    assert plan.labels == ["triaged"]
    with pytest.raises(ValidationError):
        Plan.model_validate(
            {"decision": "route", "labels": [], "confidence": "HIGH", "reasoning": "r", "remove_labels": ["x"]}
        )


def test_plan_refuses_an_unknown_decision() -> None:
    with pytest.raises(ValidationError):
        Plan.model_validate({"decision": "close", "labels": [], "confidence": "HIGH", "reasoning": "r"})


def test_effects_with_no_labels_and_no_comment_change_nothing() -> None:
    assert not Effects().changes_anything
    assert Effects(add_labels=("x",)).changes_anything
    assert Effects(comment="hello").changes_anything
