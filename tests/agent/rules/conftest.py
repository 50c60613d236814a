"""Shared pieces for the rules-engine tests: the shipped pack and a one-call way to triage an invented issue."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from agent.models import Comment, IssueRef, IssueSnapshot, Plan
from agent.rules import Rubric, Signals, decide
from agent.skillpack import SkillPack

QUEUE = "oncall: distributed"
Triage = Callable[..., Plan]


def make_issue(
    title: str,
    body: str = "",
    *,
    labels: Sequence[str] = (QUEUE,),
    comments: Sequence[tuple[str, str]] = (),
    author: str = "reporter",
) -> IssueSnapshot:
    return IssueSnapshot(
        ref=IssueRef(owner="pytorch", repo="pytorch", number=4242),
        title=title,
        body=body,
        author=author,
        labels=tuple(labels),
        comments=tuple(Comment(author=who, body=text) for who, text in comments),
    )


@pytest.fixture(scope="session")
def pack() -> SkillPack:
    return SkillPack.load()


@pytest.fixture(scope="session")
def rubric(pack: SkillPack) -> Rubric:
    return Rubric.load(pack.rubric_path)


@pytest.fixture(scope="session")
def signals(rubric: Rubric) -> Signals:
    return Signals(rubric)


@pytest.fixture(scope="session")
def triage(pack: SkillPack, rubric: Rubric, signals: Signals) -> Triage:
    def run(title: str, body: str = "", **kwargs: object) -> Plan:
        return decide(make_issue(title, body, **kwargs), rubric, pack.policy, signals=signals)  # type: ignore[arg-type]  # kwargs mirror make_issue

    return run
