from __future__ import annotations

import pytest

from agent.rules import Rubric, Signals, read_issue
from agent.rules.rubric import Term

from .conftest import make_issue


def _found(signals: Signals, rubric: Rubric, term: str, body: str, *, kind: str = "phrase") -> list[bool]:
    text = read_issue(make_issue("x", body), rubric.text_filters)
    return [neg for _, neg in signals.find(Term(text=term), text, kind=kind)]  # type: ignore[arg-type]  # test passes literals


@pytest.mark.parametrize("spelling", ["all reduce", "all-reduce", "allreduce", "all_reduce", "ALLREDUCE"])
def test_a_phrase_space_matches_underscore_hyphen_or_nothing(signals: Signals, rubric: Rubric, spelling: str) -> None:
    assert _found(signals, rubric, "all reduce", f"the {spelling} is slow") == [False]


def test_a_phrase_is_a_whole_word_and_an_underscore_separates_words(signals: Signals, rubric: Rubric) -> None:
    assert _found(signals, rubric, "gather", "allgather_coalesced gathers") == []
    assert _found(signals, rubric, "allgather", "allgather_coalesced") == [False]
    assert _found(signals, rubric, "mpi", "we use mpi4py") == []


def test_a_phrase_with_an_underscore_is_one_whole_identifier(signals: Signals, rubric: Rubric) -> None:
    assert _found(signals, rubric, "get_state_dict", "call get_state_dict_type() first") == []
    assert _found(signals, rubric, "world_size", "dist.get_world_size() is 8") == []
    assert _found(signals, rubric, "get_state_dict", "then model.get_state_dict() fails") == [False]
    assert _found(signals, rubric, "state dict", "then get_state_dict() fails") == [False]


def test_one_mention_counts_once_for_an_owner_even_when_several_terms_match_it(
    signals: Signals, rubric: Rubric
) -> None:
    text = read_issue(make_issue("DTensor fails", "Wrapped in FullyShardedDataParallel."), rubric.text_filters)
    hits, _ = signals.hits(text)
    assert [(h.term.text, h.channel) for h in hits if h.owner == "module: dtensor"] == [("dtensor", "title")]
    assert len([h for h in hits if h.owner == "module: fsdp"]) == 1


def test_a_whole_word_phrase_does_not_match_inside_an_identifier(signals: Signals, rubric: Rubric) -> None:
    text = read_issue(make_issue("x", "scatter_add is wrong, but a plain scatter works"), rubric.text_filters)
    whole = Term(text="scatter", whole=True)
    assert [neg for _, neg in signals.find(whole, text)] == [False]
    assert len(list(signals.find(Term(text="scatter"), text))) == 2


def test_a_trailing_star_matches_word_endings(signals: Signals, rubric: Rubric) -> None:
    assert _found(signals, rubric, "hang*", "it hangs, then keeps hanging") == [False, False]


def test_a_leading_caret_anchors_after_title_tags(signals: Signals, rubric: Rubric) -> None:
    text = read_issue(make_issue("[FSDP2][rfc] Support HSDP"), rubric.text_filters)
    assert [s.source for s, _ in signals.find(Term(text="^support"), text)] == ["title"]
    text = read_issue(make_issue("Crash when we support HSDP"), rubric.text_filters)
    assert list(signals.find(Term(text="^support"), text)) == []


def test_a_hash_matches_a_number(signals: Signals, rubric: Rubric) -> None:
    assert _found(signals, rubric, "# nodes", "on 16 nodes, not on nodes") == [False]


def test_api_names_are_case_sensitive(signals: Signals, rubric: Rubric) -> None:
    assert _found(signals, rubric, "DTensor", "a dtensor and a DTensor", kind="api") == [False]


@pytest.mark.parametrize(
    ("body", "negated"),
    [
        ("We are not using DDP here.", [True]),
        ("Plain model, without FSDP or DDP wrapping.", [True]),
        ("This has nothing to do with DDP.", [True]),
        ("FSDP should broadcast like a module does, similar to DDP.", [True]),
        ("Training with DDP does not converge.", [False]),
        ("It does not work with DDP at all.", [False]),
        ("DDP is not the problem", [False]),
        ("It works with FSDP but not with DDP.", [False]),
        ("Fine on one GPU, not with DDP on two.", [False]),
        ("We wrap with FSDP but not DDP.", [True]),
        ("It works. This is not a DDP bug.", [True]),
    ],
)
def test_negated_and_comparative_mentions_are_marked(
    signals: Signals, rubric: Rubric, body: str, negated: list[bool]
) -> None:
    assert _found(signals, rubric, "ddp", body) == negated


def test_negation_does_not_apply_inside_code(signals: Signals, rubric: Rubric) -> None:
    assert _found(signals, rubric, "ddp", "```\n# not using ddp\nmodel = ddp(model)\n```") == [False, False]


def test_the_longest_import_prefix_decides_the_module(signals: Signals, rubric: Rubric) -> None:
    body = "```\nfrom torch.distributed.tensor.experimental._attention import context_parallel\n```"
    hits, _ = signals.hits(read_issue(make_issue("x", body), rubric.text_filters))
    owners = {h.owner for h in hits if h.kind == "import"}
    assert owners == {"module: context parallel"}


def test_the_innermost_distributed_frame_of_a_traceback_is_the_root(signals: Signals, rubric: Rubric) -> None:
    body = (
        "```\nTraceback (most recent call last):\n"
        '  File "/x/torch/distributed/fsdp/_fully_shard/_fully_shard.py", line 10, in f\n'
        '  File "/x/torch/distributed/tensor/_api.py", line 20, in g\n'
        '  File "/x/torch/nn/modules/module.py", line 30, in h\n'
        "ValueError: bad\n```"
    )
    hits, _ = signals.hits(read_issue(make_issue("x", body), rubric.text_filters))
    frames = {(h.owner, h.channel) for h in hits if h.kind == "frame"}
    assert ("module: fsdp", "frame") in frames
    assert ("module: dtensor", "root_frame") in frames
    assert not any(owner == "module: fsdp" and channel == "root_frame" for owner, channel in frames)


def test_any_of_reports_only_unnegated_terms(signals: Signals, rubric: Rubric) -> None:
    text = read_issue(make_issue("x", "No deadlock anywhere, but the result is wrong."), rubric.text_filters)
    assert signals.any_of((Term(text="deadlock*"), Term(text="wrong")), text) == ["wrong"]


def test_a_link_to_source_counts_as_a_frame_but_never_as_the_innermost_one(signals: Signals, rubric: Rubric) -> None:
    body = "See https://github.com/pytorch/pytorch/blob/v2.5.0/torch/distributed/fsdp/_flat_param.py#L10 for it."
    hits, _ = signals.hits(read_issue(make_issue("x", body), rubric.text_filters))
    assert [(h.owner, h.channel) for h in hits if h.kind == "frame"] == [("module: fsdp", "frame")]
