from __future__ import annotations

from typing import Any

from agent.skillpack import SkillPack
from evals.gold import GoldRules
from evals.scenarios import Case, before_triage, build_cases
from tests.evals.factories import issue

RULES = GoldRules.from_pack(SkillPack.load())
Q = "oncall: distributed"
PAR, INFRA, CKPT = "oncall: distributed parallelisms", "oncall: distributed infra", "oncall: distributed checkpointing"


def cases_of(*labels: str, **fields: Any) -> dict[str, Case]:
    built = build_cases([issue(9, *labels, **fields)], RULES)
    return {case.family: case for case in built.cases}


def test_an_issue_with_modules_enters_routing_step0_and_module_only_families() -> None:
    cases = cases_of(Q, "module: fsdp", "triaged", "bot-triaged", "needs reproduction")
    assert set(cases) == {"routing", "already_classified", "module_only"}
    assert cases["routing"].labels == (Q,)
    assert cases["already_classified"].labels == (Q, "module: fsdp", PAR)
    assert cases["module_only"].labels == (Q, "module: fsdp")
    assert cases["already_classified"].expected_decisions == ("already_classified",)


def test_routing_keeps_only_the_queue_label_and_oncall_pt2() -> None:
    cases = cases_of(Q, "oncall: pt2", "module: dtensor", "triage review", "Stale", "module: distributed_checkpoint")
    assert cases["routing"].labels == (Q, "oncall: pt2")


def test_expected_decision_is_the_step_that_decides() -> None:
    assert cases_of(Q, "module: c10d")["routing"].expected_decisions == ("route",)
    assert cases_of(Q, "module: fsdp")["routing"].expected_decisions == ("classify",)
    assert cases_of(Q, "module: fsdp")["module_only"].expected_decisions == ("classify", "route")
    assert cases_of(Q, PAR)["routing"].expected_decisions == ()
    assert cases_of(Q, "module: fsdp", "high priority")["routing"].expected_decisions == ("high_priority",)
    assert cases_of(Q, "needs reproduction")["routing"].expected_decisions == ("needs_reproduction",)
    # Infra and checkpointing stop after routing (Step 2) unless high priority (Step 5) applies.
    assert cases_of(Q, "module: c10d", "needs reproduction")["routing"].expected_decisions == ("route",)
    assert cases_of(Q, "module: c10d", "high priority")["routing"].expected_decisions == ("high_priority",)
    assert cases_of(Q)["routing"].expected_decisions == ()


def test_a_sub_oncall_without_modules_builds_no_step0_case() -> None:
    assert set(cases_of(Q, CKPT, "triaged")) == {"routing"}


def test_an_issue_labelled_for_another_team_is_placed_in_the_queue_as_mislabelled() -> None:
    cases = cases_of("module: cuda", "oncall: pt2", "triaged")
    assert set(cases) == {"mislabelled"}
    assert cases["mislabelled"].labels == (Q, "oncall: pt2")
    assert cases["mislabelled"].expected_decisions == ("not_distributed",)


def test_excluded_issues_are_reported_with_their_reason_not_dropped() -> None:
    built = build_cases([issue(1, visible=False), issue(2, "todo"), issue(3, Q)], RULES)
    assert [(e.number, e.reason) for e in built.exclusions] == [
        (1, "labels were not captured"),
        (2, "no label says who owns it (distributed or another team)"),
    ]
    assert [c.case_id for c in built.cases] == ["routing/3"]


def test_families_come_out_grouped_in_a_fixed_order_and_can_be_chosen() -> None:
    issues = [issue(1, "module: cuda"), issue(2, Q, "module: ddp")]
    assert [c.case_id for c in build_cases(issues, RULES).cases] == [
        "routing/2",
        "already_classified/2",
        "module_only/2",
        "mislabelled/1",
    ]
    assert [c.case_id for c in build_cases(issues, RULES, ["mislabelled"]).cases] == ["mislabelled/1"]


def test_before_triage_drops_bot_comments_opens_the_issue_and_orders_undated_fragments() -> None:
    comments = [
        {"author": "alice", "date": "2024-03-05", "text": "first"},
        {"author": "alice", "date": None, "text": "continued"},
        {"author": "pytorch-bot[bot]", "date": "2024-03-06", "text": "bot"},
        {"author": None, "date": "2024-02-01", "text": "dated before the issue"},
        {"author": "bob", "date": "2024-03-07", "text": None},
    ]
    source = issue(5, Q, "module: fsdp", state="closed", comments=comments, body=None)
    case = build_cases([source], RULES).cases[0]
    seed = before_triage(source, case, RULES)
    assert (seed.state, seed.labels, seed.body, seed.repo, seed.number) == ("open", (Q,), "", "pytorch/pytorch", 5)
    assert [(c.author, c.body) for c in seed.comments] == [
        ("alice", "first"),
        ("alice", "continued"),
        ("ghost", "dated before the issue"),
    ]
    assert seed.comments[1].created_at == seed.comments[0].created_at
    assert seed.comments[2].created_at == seed.created_at
