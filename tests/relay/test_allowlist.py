from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from relay.allowlist import AllowlistError, level_at_least, parse_allowlist
from tests.relay.harness import ALLOWLIST

UPSTREAM_STYLE = """\
# Downstream repos by level; L3 is grouped by the device of its ciflow/crcr/<device> label.
L1:
  - riseproject-dev/pytorch-ci
  - google-pytorch/torch_tpu
L2:
  - Ascend/pytorch
  - vllm-project/vllm: "oncall1, oncall2"
L3:
  crcr-test:
    pytorch/crcr-test: ["@fffrog", "KarhouTam"]
L4:
"""


def test_the_upstream_file_format_parses_into_levels_oncalls_and_devices() -> None:
    allowlist = parse_allowlist(UPSTREAM_STYLE)
    assert [(e.repo, e.level) for e in allowlist.entries] == [
        ("Ascend/pytorch", "L2"),
        ("google-pytorch/torch_tpu", "L1"),
        ("pytorch/crcr-test", "L3"),
        ("riseproject-dev/pytorch-ci", "L1"),
        ("vllm-project/vllm", "L2"),
    ]
    assert allowlist.entry("vllm-project/vllm").oncalls == ("oncall1", "oncall2")  # type: ignore[union-attr]
    crcr = allowlist.entry("pytorch/crcr-test")
    assert crcr is not None and (crcr.device, crcr.oncalls) == ("crcr-test", ("fffrog", "KarhouTam"))


def test_level_lookup_ignores_case_and_unknown_repos_have_no_level() -> None:
    allowlist = parse_allowlist(UPSTREAM_STYLE)
    assert allowlist.level("ascend/PyTorch") == "L2"
    assert allowlist.level("someone/else") is None


def test_a_device_label_selects_the_l3_repos_of_that_device_and_nothing_else() -> None:
    allowlist = parse_allowlist(ALLOWLIST)
    assert [e.repo for e in allowlist.for_label("ciflow/crcr/npu")] == ["l3org/four"]
    assert allowlist.for_label("ciflow/crcr/tpu") == ()
    assert allowlist.for_label("ciflow/trunk") == ()
    assert allowlist.for_label("ciflow/oot/npu") == ()


def test_check_runs_are_wanted_for_l4_always_for_l3_with_its_label_and_never_below() -> None:
    allowlist = parse_allowlist(ALLOWLIST)
    assert allowlist.check_run_wanted("l4org/five", [])
    assert not allowlist.check_run_wanted("l3org/four", ["ciflow/trunk"])
    assert allowlist.check_run_wanted("l3org/four", ["ciflow/crcr/npu"])
    assert not allowlist.check_run_wanted("l2org/two", ["ciflow/crcr/npu"])
    assert not allowlist.check_run_wanted("x/y", ["ciflow/crcr/npu"])


def test_an_empty_file_is_an_empty_allowlist() -> None:
    assert len(parse_allowlist("")) == 0
    assert len(parse_allowlist("L1: []\nL3: {}\n")) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("L2:\n  - good/repo\n  - not-a-repo\n", "L2[1]: 'not-a-repo' is not owner/repo"),
        ("L1:\n  - {a/b: x, c/d: y}\n", "L1[0]: a mapping entry must have exactly one key"),
        ("L1:\n  - a/b\nL4:\n  - A/B\n", "L4[0]: A/B is already listed at L1[0]"),
        ("L3:\n  - a/b\n", "L3 must be a mapping"),
        ("L2:\n  a/b: x\n", "L2 must be a list"),
        ("L5:\n  - a/b\n", "unknown top-level key(s) L5"),
        ("L3:\n  'bad device':\n    a/b: []\n", "device name 'bad device'"),
        ("L3:\n  npu:\n    a/b: 3\n", "L3.npu.a/b: oncalls must be"),
        ("L2:\n  - 17\n", "L2[0]: expected owner/repo"),
        ("- a/b\n", "the top level must be a mapping"),
        ("L1: [a/b\n", "not valid YAML"),
    ],
)
def test_a_malformed_entry_is_an_error_naming_it(text: str, message: str) -> None:
    with pytest.raises(AllowlistError) as error:
        parse_allowlist(text)
    assert message in str(error.value)


def test_levels_order_from_l1_to_l4() -> None:
    assert level_at_least("L3", "L2") and level_at_least("L2", "L2")
    assert not level_at_least("L1", "L2") and not level_at_least(None, "L1")


_name = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)


@given(st.dictionaries(st.tuples(_name, _name).map("/".join), st.sampled_from(["L1", "L2", "L3", "L4"]), max_size=12))
def test_any_well_formed_allowlist_reads_back_the_levels_it_was_written_with(levels: dict[str, str]) -> None:
    document: dict[str, object] = {
        "L1": [r for r, level in levels.items() if level == "L1"],
        "L2": [{r: "someone"} for r, level in levels.items() if level == "L2"],
        "L3": {"dev": {r: ["x"] for r, level in levels.items() if level == "L3"}},
        "L4": [{r: "a, b"} for r, level in levels.items() if level == "L4"],
    }
    allowlist = parse_allowlist(yaml.safe_dump(document))
    assert {e.repo: e.level for e in allowlist.entries} == levels
