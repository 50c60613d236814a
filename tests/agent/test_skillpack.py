import json
from pathlib import Path

import pytest

from agent.skillpack import SkillPack, SkillPackError

MODULES = [
    "fsdp", "ddp", "dtensor", "c10d", "DeviceMesh", "pipelining", "rpc", "nccl", "elastic", "data parallel",
    "symm_mem", "context parallel", "activation checkpointing", "mpi", "threaded pg", "distributed_tool",
]  # fmt: skip
OTHERS = [
    "oncall: distributed parallelisms",
    "oncall: distributed infra",
    "oncall: distributed checkpointing",
    "feature",
    "enhancement",
    "module: performance",
    "triage review",
    "needs reproduction",
    "triaged",
    "bot-triaged",
]


def test_shipped_pack_allows_exactly_the_skill_labels() -> None:
    pack = SkillPack.load("distributed-triage")
    expected = {f"module: {m}" for m in MODULES} | set(OTHERS) | {"ptd-bot-triaged"}
    assert pack.allowlist == expected
    assert all(label.description for label in pack.labels)


def test_shipped_pack_has_both_templates_and_a_structured_rubric() -> None:
    pack = SkillPack.load("distributed-triage")
    assert set(pack.templates) == {"needs_distributed_reproduction", "not_distributed"}
    assert pack.rubric_path.suffix == ".yaml"
    assert pack.rubric_text
    assert pack.policy.queue_label == "oncall: distributed"


def test_high_priority_is_never_on_the_allowlist() -> None:
    pack = SkillPack.load("distributed-triage")
    assert not set(pack.policy.never_request) & pack.allowlist


def _upstream_folder(root: Path) -> Path:
    folder = root / "distributed-triage"
    folder.mkdir()
    (folder / "SKILL.md").write_text(
        "---\nname: distributed-triage\ndescription: second-level triage\n---\n# Steps\nDo the steps.\n",
        encoding="utf-8",
    )
    labels = {"labels": [{"name": "module: fsdp", "description": "d"}, {"name": "triage review"}]}
    (folder / "distributed-labels.json").write_text(json.dumps(labels), encoding="utf-8")
    (folder / "distributed-rubric.md").write_text("# Rubric\nroute by root cause\n", encoding="utf-8")
    templates = {"templates": {"not_distributed": {"action": "a", "use_when": "u", "comment": "Not ours."}}}
    (folder / "templates.json").write_text(json.dumps(templates), encoding="utf-8")
    return folder


def test_an_upstream_style_folder_loads_with_front_matter_and_markdown_rubric(tmp_path: Path) -> None:
    pack = SkillPack.load(_upstream_folder(tmp_path))
    assert pack.meta.name == "distributed-triage"
    assert pack.meta.description == "second-level triage"
    assert pack.instructions.startswith("# Steps")
    assert pack.allowlist == {"module: fsdp", "triage review"}
    assert pack.templates["not_distributed"].comment == "Not ours."
    assert "route by root cause" in pack.rubric_text
    assert pack.rubric_path.name == "distributed-triage.yaml"


def test_a_folder_missing_its_labels_file_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "skill"
    folder.mkdir()
    shipped = SkillPack.load("distributed-triage")
    (folder / "SKILL.md").write_text("x", encoding="utf-8")
    (folder / "rubric.yaml").write_text(shipped.rubric_text, encoding="utf-8")
    (folder / "templates.json").write_text(json.dumps({"templates": {}}), encoding="utf-8")
    with pytest.raises(SkillPackError, match=r"labels\.json"):
        SkillPack.load(folder)


def test_unclosed_front_matter_is_refused(tmp_path: Path) -> None:
    folder = _upstream_folder(tmp_path)
    (folder / "SKILL.md").write_text("---\nname: x\n", encoding="utf-8")
    with pytest.raises(SkillPackError, match="never closed"):
        SkillPack.load(folder)


def test_malformed_labels_json_is_refused_with_its_path(tmp_path: Path) -> None:
    folder = _upstream_folder(tmp_path)
    (folder / "distributed-labels.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(SkillPackError, match=r"distributed-labels\.json"):
        SkillPack.load(folder)


def test_an_unknown_skill_name_is_refused() -> None:
    with pytest.raises(SkillPackError, match="no skill folder"):
        SkillPack.load("no-such-skill")
