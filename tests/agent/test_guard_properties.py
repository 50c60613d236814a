"""Properties of the guard over random plans and random issues: what no plan can ever make it do."""

from __future__ import annotations

import contextlib
import warnings
from typing import get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.comments import SEPARATOR, hidden_marker
from agent.guard import effects
from agent.models import Comment, Confidence, Decision, Effects, IssueRef, IssueSnapshot, Plan
from agent.skillpack import SkillPack

# On a failure hypothesis imports its patch writer, whose libcst dependency warns on import; with
# warnings as errors that turns a readable counterexample into an INTERNALERROR. Import it quietly now.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    import hypothesis.extra._patching  # noqa: F401  (imported only to be cached without the warning)

PACK = SkillPack.load()
POLICY = PACK.policy
ALLOWED = sorted(PACK.allowlist)
SPECIAL = [
    POLICY.queue_label,
    *POLICY.known_markers,
    *POLICY.never_request,
    *POLICY.sub_oncalls,
    "oncall: pt2",
    "module: inductor",
    "oncall: distributed ",
    "Triaged",
]
JUNK = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12).map(str.strip)
LABEL = st.one_of(st.sampled_from(ALLOWED), st.sampled_from(SPECIAL), JUNK.filter(bool))
KEYS = sorted(PACK.templates)
TEMPLATE_KEY = st.one_of(st.sampled_from(KEYS), st.sampled_from(["close_issue", "free_text", ""]))


@st.composite
def comments(draw: st.DrawFn) -> Comment:
    author = draw(st.sampled_from([*POLICY.bot_authors, "someone[bot]", "reporter", "maintainer"]))
    body = draw(
        st.one_of(
            st.sampled_from([PACK.templates[key].comment for key in KEYS]),
            st.sampled_from([hidden_marker(key) for key in KEYS]),
            st.text(max_size=80),
        )
    )
    return Comment(author=author, body=body)


@st.composite
def issues(draw: st.DrawFn) -> IssueSnapshot:
    labels = draw(st.lists(LABEL, max_size=8, unique=True))
    if draw(st.booleans()) and POLICY.queue_label not in labels:
        labels.append(POLICY.queue_label)
    return IssueSnapshot(
        ref=IssueRef(owner="pytorch", repo="pytorch", number=1),
        title="t",
        labels=tuple(labels),
        comments=tuple(draw(st.lists(comments(), max_size=3))),
    )


PLANS = st.builds(
    Plan,
    decision=st.sampled_from(get_args(Decision)),
    labels=st.lists(LABEL, max_size=10),
    templates=st.lists(TEMPLATE_KEY, max_size=4),
    confidence=st.sampled_from(get_args(Confidence)),
    reasoning=st.just("r"),
)


def guard(plan: Plan, issue: IssueSnapshot) -> Effects:
    return effects(plan, issue, POLICY, allowlist=PACK.allowlist, templates=PACK.templates)


@settings(max_examples=600)
@given(PLANS, issues())
def test_no_plan_makes_the_guard_break_a_constraint(plan: Plan, issue: IssueSnapshot) -> None:
    result = guard(plan, issue)
    existing = set(issue.labels)
    added = set(result.add_labels)
    final = existing | added

    if POLICY.queue_label not in existing:
        assert result == Effects(notes=result.notes, outcome="skipped")
        assert not result.changes_anything
        return

    assert len(result.add_labels) == len(added)
    assert added <= PACK.allowlist | {POLICY.marker}
    assert not added & existing
    assert not added & set(POLICY.never_request)
    assert not added & (set(POLICY.known_markers) - {POLICY.marker})

    subs_before = [label for label in existing if label in POLICY.sub_oncalls]
    subs_added = [label for label in added if label in POLICY.sub_oncalls]
    assert len(subs_added) <= (0 if subs_before else 1)

    if POLICY.confident_label in added:
        assert not final & set(POLICY.forbid_confident_with)
        assert plan.decision != "high_priority"
        assert plan.confidence != "LOW"
    if plan.decision == "high_priority":
        assert POLICY.marker not in added
        assert POLICY.review_label in final
    elif POLICY.marker not in existing:
        assert POLICY.marker in added
    if plan.decision == "not_distributed":
        assert POLICY.review_label in final
    if plan.decision == "needs_reproduction":
        assert POLICY.reproduction_label in final


@settings(max_examples=400)
@given(PLANS, issues())
def test_a_comment_is_only_ever_made_of_template_texts(plan: Plan, issue: IssueSnapshot) -> None:
    result = guard(plan, issue)
    assert set(result.templates) <= set(KEYS)
    assert len(set(result.templates)) == len(result.templates)
    if result.comment is None:
        assert result.templates == ()
        return
    parts = result.comment.split(SEPARATOR)
    assert len(parts) == len(result.templates)
    for key, part in zip(result.templates, parts, strict=True):
        assert part == f"{hidden_marker(key)}\n{PACK.templates[key].comment}"


@settings(max_examples=400)
@given(PLANS, issues())
def test_every_requested_label_that_is_not_added_is_explained(plan: Plan, issue: IssueSnapshot) -> None:
    result = guard(plan, issue)
    if POLICY.queue_label not in issue.labels:
        return
    notes = " ".join(str(note) for note in result.notes)
    for label in plan.labels:
        if label not in result.add_labels:
            assert repr(label) in notes


@settings(max_examples=400)
@given(PLANS, issues())
def test_running_the_same_plan_again_after_applying_it_changes_nothing(plan: Plan, issue: IssueSnapshot) -> None:
    first = guard(plan, issue)
    posted = () if first.comment is None else (Comment(author=POLICY.bot_authors[0], body=first.comment),)
    after = issue.model_copy(
        update={"labels": (*issue.labels, *first.add_labels), "comments": (*issue.comments, *posted)}
    )
    again = guard(plan, after)
    assert not again.changes_anything
    assert again.outcome == first.outcome
