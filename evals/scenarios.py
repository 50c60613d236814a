"""Scenario families: the situations a labelled issue is replayed in, and how it looked before triage.

Before second-level triage an issue carries only the queue label (and `oncall: pt2` when the PT-level
bot gave it one). Every other captured label is an *outcome* of triage or of later work on the issue
and is stripped: sub-oncalls, module labels (current and retired), `triaged`, the bot markers,
`triage review`, `needs reproduction`, type labels, `high priority`, and the housekeeping labels that
came later (`Stale`, `release notes: ...`, `topic: ...`). Comments by bots are dropped too; human
comments stay, as the bot reads them all (some were written after triage: a known leak of hindsight).

Families:

- `routing`: every issue the labels show to be distributed, in the queue with nothing else. The
  engine owes the whole triage.
- `already_classified`: issues with gold modules and a gold sub-oncall, placed with those labels
  (current names), as a human who classified them fully would have left them. Step 0 must decide.
- `module_only`: issues with gold modules, placed with the modules but no sub-oncall, as the PT-level
  bot leaves them. Routing is still owed (Step 2), not Step 0.
- `mislabelled`: issues whose labels show they are not distributed (captured labels, none of them
  distributed, another team's `oncall:` or `module:` label present), placed in the queue. Step 1 must
  flag them.

Expected decision (the step that should decide, in the skill's order), scored only where it is
defined: `not_distributed` and `already_classified` for their families; otherwise `high_priority` when
the gold says so; `route` for infra or checkpointing (the skill stops there); `needs_reproduction`
when the gold says so; `classify` for parallelisms (routing family only when gold modules exist; the
module-only family also accepts `route`, as the modules were given).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.models import Decision
from agent.sandbox.records import UNKNOWN_DATE, CommentSeed, IssueSeed
from evals.dataset import DatasetIssue
from evals.gold import Gold, GoldRules, derive_gold

__all__ = ["FAMILIES", "Case", "Exclusion", "Family", "ScenarioSet", "before_triage", "build_cases"]

Family = Literal["routing", "already_classified", "module_only", "mislabelled"]
FAMILIES: tuple[Family, ...] = ("routing", "already_classified", "module_only", "mislabelled")
_KEPT = ("oncall: pt2",)


class Case(BaseModel):
    """One issue in one family: the labels it is replayed with and what should come of it."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    family: Family
    number: int
    labels: tuple[str, ...] = Field(description="The labels the issue carries when the engine sees it.")
    expected_decisions: tuple[Decision, ...] = Field(
        default=(), description="Accepted decisions, the canonical one first; empty when not scored."
    )
    gold: Gold


class Exclusion(BaseModel):
    """An issue no case is built from, and why."""

    model_config = ConfigDict(frozen=True)

    number: int
    reason: str


class ScenarioSet(BaseModel):
    model_config = ConfigDict(frozen=True)

    cases: tuple[Case, ...]
    exclusions: tuple[Exclusion, ...]


def build_cases(issues: Iterable[DatasetIssue], rules: GoldRules, families: Iterable[Family] = FAMILIES) -> ScenarioSet:
    """Every case of the chosen families, family by family, in dataset order; and the excluded issues."""
    wanted = set(families)
    cases: list[Case] = []
    exclusions: list[Exclusion] = []
    for issue in issues:
        gold = derive_gold(issue, rules)
        if gold.excluded is not None:
            exclusions.append(Exclusion(number=issue.number, reason=gold.excluded))
            continue
        cases.extend(case for case in _cases_of(issue, gold, rules) if case.family in wanted)
    order = {family: i for i, family in enumerate(FAMILIES)}
    cases.sort(key=lambda case: order[case.family])
    return ScenarioSet(cases=tuple(cases), exclusions=tuple(exclusions))


def _cases_of(issue: DatasetIssue, gold: Gold, rules: GoldRules) -> list[Case]:
    base = (rules.queue_label, *(label for label in _KEPT if label in issue.labels))
    modules = gold.modules or ()

    def case(family: Family, labels: tuple[str, ...], expected: tuple[Decision, ...]) -> Case:
        return Case(
            case_id=f"{family}/{issue.number}",
            family=family,
            number=issue.number,
            labels=labels,
            expected_decisions=expected,
            gold=gold,
        )

    if not gold.distributed:
        return [case("mislabelled", base, ("not_distributed",))]
    found = [case("routing", base, _owed(gold, rules, module_given=False))]
    if modules and gold.sub_oncall:
        found.append(case("already_classified", (*base, *modules, gold.sub_oncall), ("already_classified",)))
    if modules:
        found.append(case("module_only", (*base, *modules), _owed(gold, rules, module_given=True)))
    return found


def _owed(gold: Gold, rules: GoldRules, *, module_given: bool) -> tuple[Decision, ...]:
    """The decision an issue still owing routing should get, or () when the labels do not say.

    Follows the skill's order: high priority can end any route; infra and checkpointing stop after
    routing; only parallelisms (or an unknown route) goes on to modules and the reproduction check.
    """
    if gold.high_priority:
        return ("high_priority",)
    if gold.sub_oncall is not None and gold.sub_oncall not in rules.classify_after:
        return ("route",)
    if gold.needs_reproduction:
        return ("needs_reproduction",)
    if gold.sub_oncall is None:
        return ()
    if module_given:
        return ("classify", "route")
    return ("classify",) if gold.modules else ()


def before_triage(issue: DatasetIssue, case: Case, rules: GoldRules) -> IssueSeed:
    """The issue as the sandbox should hold it for this case: open, the case's labels, human comments only."""
    ref = issue.ref
    opened = _midnight(issue.opened)
    comments: list[CommentSeed] = []
    previous = opened or UNKNOWN_DATE
    for comment in issue.comments:
        # A continuation fragment has no date; it belongs right after the comment before it.
        moment = max(_midnight(comment.date) or previous, opened or UNKNOWN_DATE)
        previous = moment
        if comment.text is not None and not rules.is_bot(comment.author):
            comments.append(CommentSeed(author=comment.author or "ghost", body=comment.text, created_at=moment))
    return IssueSeed(
        repo=ref.full_repo,
        number=ref.number,
        title=issue.title,
        body=issue.body or "",
        state="open",
        author=issue.author or "ghost",
        created_at=opened or min((c.created_at for c in comments), default=UNKNOWN_DATE),
        labels=case.labels,
        comments=tuple(comments),
    )


def _midnight(day: dt.date | None) -> dt.datetime | None:
    return None if day is None else dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
