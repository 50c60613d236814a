from pathlib import Path

import pytest

from agent.policy import Policy, PolicyError
from agent.skillpack import DATA_ROOT

SHIPPED = DATA_ROOT / "skills" / "distributed-triage" / "policy.yaml"


def test_shipped_policy_loads_with_three_sub_oncalls() -> None:
    policy = Policy.load(SHIPPED)
    assert len(policy.sub_oncalls) == 3
    assert policy.marker in policy.known_markers
    assert set(policy.continue_after_routing) <= set(policy.sub_oncalls)


def test_module_performance_is_not_a_primary_module() -> None:
    policy = Policy.load(SHIPPED)
    assert policy.is_primary_module("module: fsdp")
    assert not policy.is_primary_module("module: performance")
    assert not policy.is_primary_module("oncall: distributed infra")


def test_with_marker_switches_to_the_dedicated_marker() -> None:
    policy = Policy.load(SHIPPED).with_marker("ptd-bot-triaged")
    assert policy.marker == "ptd-bot-triaged"
    assert "bot-triaged" in policy.known_markers


def test_an_unknown_field_is_named_in_the_error(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text(SHIPPED.read_text(encoding="utf-8") + "\nqueue_lable: oops\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="queue_lable"):
        Policy.load(bad)


def test_a_routing_group_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text(
        SHIPPED.read_text(encoding="utf-8").replace("routing_group: sub_oncall", "routing_group: nope"),
        encoding="utf-8",
    )
    with pytest.raises(PolicyError, match="routing_group"):
        Policy.load(bad)


def test_a_missing_policy_file_says_which(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        Policy.load(tmp_path / "absent.yaml")


def test_invalid_yaml_is_a_policy_error(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("queue_label: [unclosed", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid YAML"):
        Policy.load(bad)


def test_a_policy_file_that_is_not_a_mapping_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("- queue_label\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"policy .*policy\.yaml must be a mapping of settings"):
        Policy.load(bad)
