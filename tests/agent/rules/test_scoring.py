from __future__ import annotations

from agent.rules import IssueText, Rubric, Signals, read_issue
from agent.rules.scoring import Evidence, choose_modules, choose_route, collect

from .conftest import make_issue


def _evidence(
    rubric: Rubric, signals: Signals, title: str, body: str = "", labels: tuple[str, ...] = ()
) -> tuple[IssueText, Evidence]:
    text = read_issue(make_issue(title, body), rubric.text_filters)
    return text, collect(text, signals, set(labels))


def test_a_title_mention_outweighs_the_same_word_in_prose(rubric: Rubric, signals: Signals) -> None:
    _, in_title = _evidence(rubric, signals, "DTensor sharding", "")
    _, in_prose = _evidence(rubric, signals, "A problem", "DTensor sharding")
    assert in_title.of("module: dtensor") > in_prose.of("module: dtensor") > 0


def test_repeating_a_word_has_diminishing_returns(rubric: Rubric, signals: Signals) -> None:
    _, once = _evidence(rubric, signals, "x", "FSDP")
    _, often = _evidence(rubric, signals, "x", " ".join(["FSDP"] * 50))
    assert once.of("module: fsdp") < often.of("module: fsdp") <= 2 * once.of("module: fsdp")


def test_c10d_yields_to_an_evident_parallelism_and_says_why(rubric: Rubric, signals: Signals) -> None:
    _, evidence = _evidence(rubric, signals, "FSDP all_gather hangs", "fully_shard then all_gather in FSDP")
    assert evidence.of("module: c10d") < evidence.raw["module: c10d"]
    assert "module: c10d" in evidence.discounts


def test_an_existing_module_label_is_strong_evidence_and_is_never_discounted(rubric: Rubric, signals: Signals) -> None:
    _, evidence = _evidence(rubric, signals, "FSDP hangs", "FSDP FSDP", labels=("module: c10d",))
    assert evidence.of("module: c10d") >= rubric.scoring.labels
    assert "module: c10d" not in evidence.discounts


def test_code_alone_does_not_move_an_issue_off_the_default_route(rubric: Rubric, signals: Signals) -> None:
    body = "```python\nimport torch.distributed.checkpoint as dcp\ndcp.save(sd, checkpoint_id=p)\n```"
    text, evidence = _evidence(rubric, signals, "Training loop is slow", body)
    assert choose_route(evidence, text, signals).route == "parallelisms"


def test_nothing_evident_means_low_confidence_and_no_module(rubric: Rubric, signals: Signals) -> None:
    _, evidence = _evidence(rubric, signals, "It is slow", "Our job is slow.")
    choice = choose_modules(evidence)
    assert (choice.labels, choice.confidence) == ((), "LOW")
