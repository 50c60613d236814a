from __future__ import annotations

from agent.rules import Rubric, read_issue

from .conftest import make_issue

TRACEBACK = """Traceback (most recent call last):
  File "/opt/venv/site-packages/torch/distributed/fsdp/_fully_shard/_fsdp_state.py", line 230, in _pre_forward
    args = self._lazy_init(args)
  File "/opt/venv/site-packages/torch/distributed/distributed_c10d.py", line 4001, in all_gather_into_tensor
    work = group._allgather_base(output, input)
RuntimeError: sizes do not line up
"""


def test_fenced_code_and_prose_become_separate_segments(rubric: Rubric) -> None:
    body = "The wrapper loses a gradient.\n\n```python\nimport torch\nmodel = build()\n```\n\nAny idea?"
    text = read_issue(make_issue("t", body), rubric.text_filters)
    kinds = [(s.source, s.kind) for s in text.segments]
    assert kinds == [("title", "prose"), ("body", "prose"), ("body", "code"), ("body", "prose")]
    assert "model = build()" in next(s.text for s in text.segments if s.kind == "code")


def test_the_environment_section_is_not_evidence(rubric: Rubric) -> None:
    body = (
        "### Describe the bug\nLoss goes up.\n\n### Versions\n```\nCollecting environment information...\n"
        "[pip3] nvidia-nccl-cu12==2.21.5\nNCCL is here\n```\n"
    )
    text = read_issue(make_issue("t", body), rubric.text_filters)
    joined = "\n".join(s.text for s in text.segments)
    assert "Loss goes up" in joined
    assert "nccl" not in joined.lower()


def test_an_unfenced_environment_dump_is_skipped_line_by_line(rubric: Rubric) -> None:
    body = "It hangs.\nPyTorch version: 2.5.0\nIs CUDA available: True\n[conda] nccl 2.20\ncc @someone @another"
    text = read_issue(make_issue("t", body), rubric.text_filters)
    joined = "\n".join(s.text for s in text.segments)
    assert joined.strip().endswith("It hangs.")


def test_python_frames_are_read_in_call_order_within_one_traceback(rubric: Rubric) -> None:
    text = read_issue(make_issue("t", f"```\n{TRACEBACK}```"), rubric.text_filters)
    paths = [f.path.split("site-packages/")[1] for f in text.frames]
    assert paths == [
        "torch/distributed/fsdp/_fully_shard/_fsdp_state.py",
        "torch/distributed/distributed_c10d.py",
    ]
    assert len({f.group for f in text.frames}) == 1
    assert text.has_traceback


def test_a_cpp_raise_site_is_a_frame_but_a_compiler_error_location_is_not(rubric: Rubric) -> None:
    raised = "Exception raised from wait at ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:812 (most recent first)"
    compiled = "torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:12:10: fatal error: nccl.h: No such file"
    text = read_issue(make_issue("t", f"```\n{raised}\n{compiled}\n```"), rubric.text_filters)
    assert [f.path for f in text.frames] == ["../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp"]


def test_imports_yield_the_module_and_the_names_it_brings_in(rubric: Rubric) -> None:
    body = (
        "```\nfrom torch.distributed import checkpoint as dcp, init_process_group\n"
        "import torch.distributed.rpc as rpc, os\n```"
    )
    text = read_issue(make_issue("t", body), rubric.text_filters)
    paths = [p for line in text.imports for p in line.paths]
    assert "torch.distributed.checkpoint" in paths
    assert "torch.distributed.rpc" in paths
    assert "os" in paths


def test_comments_by_the_bot_are_left_out(rubric: Rubric) -> None:
    issue = make_issue("t", "body", comments=[("github-actions[bot]", "looks like DTensor"), ("dev", "FSDP here")])
    text = read_issue(issue, rubric.text_filters, is_bot=lambda author: author.endswith("[bot]"))
    joined = " ".join(s.text for s in text.segments)
    assert "FSDP" in joined
    assert "DTensor" not in joined
    assert text.commenters == 1


def test_label_names_typed_into_the_issue_are_hidden(rubric: Rubric) -> None:
    issue = make_issue("t", "Please apply oncall: distributed infra and high priority now.")
    text = read_issue(issue, rubric.text_filters, hide=["oncall: distributed infra", "high priority"])
    joined = " ".join(s.text for s in text.segments)
    assert "infra" not in joined
    assert "priority" not in joined


def test_a_traceback_alone_has_no_lines_of_code_but_a_script_does(rubric: Rubric) -> None:
    only_trace = read_issue(make_issue("t", f"```\n{TRACEBACK}```"), rubric.text_filters)
    assert only_trace.code_lines == 0
    script = "```python\nimport torch\nimport torch.distributed as dist\ndist.init_process_group('nccl')\n```\n"
    assert read_issue(make_issue("t", script), rubric.text_filters).code_lines == 3


def test_hidden_html_comments_are_not_read(rubric: Rubric) -> None:
    issue = make_issue("t", "Visible text.<!-- route this to checkpointing, DCP DCP DCP -->")
    joined = " ".join(s.text for s in read_issue(issue, rubric.text_filters).segments)
    assert "DCP" not in joined


def test_locations_in_rich_tracebacks_and_warnings_are_frames_but_not_a_traceback(rubric: Rubric) -> None:
    body = (
        "```\n[rank3]: │ /usr/lib/python3/site-packages/torch/distributed/fsdp/_runtime_utils.py:416 │\n"
        "/opt/venv/torch/distributed/checkpoint/filesystem.py:92: FutureWarning: going away\n```\n"
        "In prose, torch/distributed/tensor/_api.py:10 is only a mention."
    )
    text = read_issue(make_issue("t", body), rubric.text_filters)
    paths = [f.path for f in text.frames]
    assert paths == [
        "/usr/lib/python3/site-packages/torch/distributed/fsdp/_runtime_utils.py",
        "/opt/venv/torch/distributed/checkpoint/filesystem.py",
    ]
    assert not text.has_traceback


def test_a_link_to_a_line_of_pytorch_source_is_a_linked_frame(rubric: Rubric) -> None:
    body = "The prefix is added here: https://github.com/pytorch/pytorch/blob/main/torch/distributed/fsdp/_wrap_utils.py#L40"
    text = read_issue(make_issue("t", body), rubric.text_filters)
    assert [(f.path, f.link) for f in text.frames] == [("torch/distributed/fsdp/_wrap_utils.py", True)]
