from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent.rules import Rubric, RubricError
from agent.rules.rubric import Confusion, Term
from agent.skillpack import SkillPack


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _raw(pack: SkillPack) -> dict[str, object]:
    raw = yaml.safe_load(pack.rubric_path.read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    return raw


def test_the_shipped_rubric_loads_and_agrees_with_the_pack(pack: SkillPack, rubric: Rubric) -> None:
    rubric.check(pack.policy, allowlist=pack.allowlist, templates=pack.templates.keys())
    assert set(rubric.sub_oncalls.values()) == set(pack.policy.sub_oncalls)


def test_every_rubric_module_is_allowlisted_and_every_allowlisted_module_has_an_entry(
    pack: SkillPack, rubric: Rubric
) -> None:
    allowlisted = {label for label in pack.allowlist if pack.policy.is_primary_module(label)}
    assert set(rubric.module_labels) <= pack.allowlist
    assert set(rubric.module_labels) == allowlisted
    assert len(rubric.module_labels) == 16


def test_each_module_has_signals_of_every_kind_it_needs_and_a_route(rubric: Rubric) -> None:
    for module in rubric.modules:
        assert module.signals.phrases, module.label
        assert module.route in rubric.sub_oncalls, module.label
        assert module.summary.strip(), module.label


def test_device_mesh_and_symmetric_memory_route_to_infra(rubric: Rubric) -> None:
    assert rubric.module("module: DeviceMesh").route == "infra"
    assert rubric.module("module: symm_mem").route == "infra"
    assert rubric.module("module: fsdp").route == "parallelisms"


def test_routing_precedence_puts_checkpointing_before_infra_before_parallelisms(rubric: Rubric) -> None:
    assert rubric.routing.precedence == ("checkpointing", "infra", "parallelisms")
    assert rubric.routing.default == "parallelisms"


def test_an_unknown_field_is_refused_with_its_path(pack: SkillPack, tmp_path: Path) -> None:
    raw = _raw(pack)
    raw["scoring"] = {**raw["scoring"], "titel": 2.0}  # type: ignore[dict-item]  # raw YAML mapping
    with pytest.raises(RubricError, match=r"scoring\.titel"):
        Rubric.load(_write(tmp_path, raw))


def test_a_module_routed_to_an_unknown_sub_oncall_is_refused(pack: SkillPack, tmp_path: Path) -> None:
    raw = _raw(pack)
    modules = raw["modules"]
    assert isinstance(modules, list)
    modules[0] = {**modules[0], "route": "networking"}
    with pytest.raises(RubricError, match="unknown route 'networking'"):
        Rubric.load(_write(tmp_path, raw))


def test_a_confusion_yielding_to_an_unknown_module_is_refused(pack: SkillPack, tmp_path: Path) -> None:
    raw = _raw(pack)
    modules = raw["modules"]
    assert isinstance(modules, list)
    modules[0] = {**modules[0], "confusions": [{"note": "n", "factor": 0.5, "yield_to": ["module: nope"]}]}
    with pytest.raises(RubricError, match="module: nope"):
        Rubric.load(_write(tmp_path, raw))


def test_malformed_yaml_and_a_missing_file_give_a_rubric_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("modules: [unclosed", encoding="utf-8")
    with pytest.raises(RubricError, match="not valid YAML"):
        Rubric.load(bad)
    with pytest.raises(RubricError, match="cannot read"):
        Rubric.load(tmp_path / "absent.yaml")


def test_check_refuses_a_module_label_that_is_not_on_the_allowlist(pack: SkillPack, rubric: Rubric) -> None:
    with pytest.raises(RubricError, match="module: fsdp"):
        rubric.check(pack.policy, allowlist=pack.allowlist - {"module: fsdp"})


def test_check_refuses_a_template_the_pack_does_not_have(pack: SkillPack, rubric: Rubric) -> None:
    with pytest.raises(RubricError, match="not_distributed"):
        rubric.check(pack.policy, templates={"needs_distributed_reproduction"})


def test_a_bare_string_is_a_term_of_weight_one() -> None:
    term = Term.model_validate("fully_shard")
    assert (term.text, term.weight, term.channels) == ("fully_shard", 1.0, ())


def test_a_discount_without_a_condition_is_refused() -> None:
    with pytest.raises(ValueError, match="needs yield_to or when_any"):
        Confusion(note="always", factor=0.5)
    with pytest.raises(ValueError, match="needs a factor below 1"):
        Confusion(note="never", yield_to=("module: ddp",))


def test_a_regular_expression_that_does_not_compile_is_refused(pack: SkillPack, tmp_path: Path) -> None:
    raw = _raw(pack)
    raw["text_filters"] = {"ignore_sections": [], "ignore_lines": ["(unclosed"]}
    with pytest.raises(RubricError, match=r"text_filters\.ignore_lines"):
        Rubric.load(_write(tmp_path, raw))
