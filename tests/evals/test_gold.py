from __future__ import annotations

from typing import Any

import pytest

from agent.skillpack import SkillPack
from evals.gold import Gold, GoldRules, Routing, derive_gold
from tests.evals.factories import issue

RULES = GoldRules.from_pack(SkillPack.load())
PAR, INFRA, CKPT = "oncall: distributed parallelisms", "oncall: distributed infra", "oncall: distributed checkpointing"
Q = "oncall: distributed"


def gold(*labels: str, **fields: Any) -> Gold:
    return derive_gold(issue(7, *labels, **fields), RULES)


@pytest.mark.parametrize(
    ("labels", "sub_oncall", "source"),
    [
        ((Q, INFRA, "module: fsdp"), INFRA, "label"),
        ((Q, "module: fsdp"), PAR, "modules"),
        ((Q, "module: c10d", "module: rpc"), INFRA, "modules"),
        ((Q, "module: fsdp", "module: nccl"), INFRA, "modules"),
        (("module: distributed_checkpoint", "module: fsdp"), CKPT, "modules"),
        (("module: tensorpipe",), INFRA, "modules"),
        (("pipeline parallelism",), PAR, "modules"),
        ((Q, "triaged"), None, None),
        (("module: distributed",), None, None),
    ],
)
def test_sub_oncall_is_the_label_else_the_modules_routed_by_precedence(
    labels: tuple[str, ...], sub_oncall: str | None, source: str | None
) -> None:
    g = gold(*labels)
    assert (g.sub_oncall, g.sub_oncall_from) == (sub_oncall, source)


@pytest.mark.parametrize(
    ("labels", "modules"),
    [
        ((Q, "module: fsdp", "module: dtensor"), ("module: dtensor", "module: fsdp")),
        ((Q, "module: rpc", "module: tensorpipe"), ("module: rpc",)),
        (("pipeline parallelism",), ("module: pipelining",)),
        ((Q, "module: distributed_checkpoint"), None),
        ((Q, "module: performance", "enhancement"), None),
        ((Q, "module: checkpoint"), None),
        (("module: distributed", "module: cuda"), None),
    ],
)
def test_modules_are_allowlisted_primary_labels_and_certain_retired_names(
    labels: tuple[str, ...], modules: tuple[str, ...] | None
) -> None:
    assert gold(*labels).modules == modules


@pytest.mark.parametrize(
    ("labels", "distributed"),
    [
        ((Q,), True),
        (("distributed",), True),
        (("oncall: r2p",), True),
        (("module: sparse", Q), True),
        (("module: cuda", "triaged"), False),
        (("oncall: pt2",), False),
        (("module: binaries", "module: regression", "bot-triaged"), False),
        (("module: ddp", "oncall: pt2"), True),
    ],
)
def test_distributed_or_not_follows_whether_any_label_is_distributed(
    labels: tuple[str, ...], distributed: bool
) -> None:
    assert gold(*labels).distributed is distributed


@pytest.mark.parametrize(
    ("labels", "visible", "reason"),
    [
        ((), False, "labels were not captured"),
        (("bug", "high priority"), True, "no label says who owns it"),
        (("module: crash",), True, "no label says who owns it"),
        ((Q, PAR, INFRA), True, "carries 2 sub-oncalls"),
        (("module: activation checkpointing",), True, "no label says who owns it"),
    ],
)
def test_issues_without_usable_gold_are_excluded_with_the_reason(
    labels: tuple[str, ...], visible: bool, reason: str
) -> None:
    excluded = gold(*labels, labels_visible=visible).excluded
    assert excluded is not None and excluded.startswith(reason)


@pytest.mark.parametrize(
    ("labels", "issue_type"),
    [
        ((Q, "feature"), "feature"),
        ((Q, "feature request"), "feature"),
        ((Q, "enhancement", "module: performance"), "enhancement"),
        ((Q, "module: regression"), "bug"),
        ((Q, "bug"), "bug"),
        ((Q, "feature", "bug"), None),
        ((Q, "triaged"), None),
    ],
)
def test_type_comes_from_type_labels_and_bug_only_labels(labels: tuple[str, ...], issue_type: str | None) -> None:
    assert gold(*labels).issue_type == issue_type


@pytest.mark.parametrize(
    ("labels", "repro", "high"),
    [
        ((Q, "needs reproduction"), True, None),
        ((Q, "high priority", "triage review"), None, True),
        ((Q, "triaged"), False, False),
        ((Q,), None, None),
    ],
)
def test_sparse_flags_are_defined_only_where_a_label_or_triaged_settles_them(
    labels: tuple[str, ...], repro: bool | None, high: bool | None
) -> None:
    g = gold(*labels)
    assert (g.needs_reproduction, g.high_priority) == (repro, high)


def test_a_bot_marker_or_a_bot_comment_flags_the_case_as_bot_touched() -> None:
    assert gold(Q, "ptd-bot-triaged").bot_touched
    bot_comment = [{"author": "pytorch-bot[bot]", "date": "2024-03-02", "text": "x"}]
    assert gold(Q, comments=bot_comment).bot_touched
    assert not gold(Q, "triaged").bot_touched


def test_a_not_distributed_issue_has_no_routing_gold_even_with_a_module_from_elsewhere() -> None:
    g = gold("module: cuda", "oncall: pt2")
    assert (g.distributed, g.sub_oncall, g.modules, g.pt2) == (False, None, None, True)


def test_routing_comes_from_the_rubric_and_gold_follows_whatever_routing_it_is_given() -> None:
    assert RULES.routing.modules["module: DeviceMesh"] == INFRA
    assert RULES.routing.precedence == (CKPT, INFRA, PAR)
    other = RULES.model_copy(update={"routing": Routing(modules={"module: fsdp": CKPT}, precedence=(CKPT,))})
    assert derive_gold(issue(7, Q, "module: fsdp"), other).sub_oncall == CKPT
