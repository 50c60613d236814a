"""Invented issues for eval tests. No text here comes from the real dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evals.dataset import DatasetIssue


def issue(number: int = 7, *labels: str, visible: bool = True, **fields: Any) -> DatasetIssue:
    values: dict[str, Any] = {
        "number": number,
        "url": f"https://github.com/pytorch/pytorch/issues/{number}",
        "title": f"Invented issue {number}",
        "state": "open",
        "labels": list(labels),
        "labels_visible": visible,
        "opened": "2024-03-01",
        "author": "someone",
        "body": "An invented report.",
        "body_partial": False,
        "comments": [],
    }
    values.update(fields)
    return DatasetIssue.model_validate(values)


# A small invented dataset covering each family and each exclusion reason.
INVENTED = [
    {
        "number": 101,
        "title": "FSDP2 fully_shard raises on a meta-device module",
        "labels": ["oncall: distributed", "module: fsdp", "triaged"],
        "body": "```python\nfrom torch.distributed.fsdp import fully_shard\nfully_shard(model)\n```\nTraceback ...",
    },
    {
        "number": 102,
        "title": "init_process_group hangs with the NCCL backend across two nodes",
        "labels": ["oncall: distributed", "module: c10d", "module: nccl"],
        "body": "dist.init_process_group('nccl') never returns; NCCL_DEBUG=INFO shows ncclCommInitRank waiting.",
    },
    {
        "number": 103,
        "title": "dcp.save writes an incomplete checkpoint with async_save",
        "labels": ["oncall: distributed", "oncall: distributed checkpointing", "triaged"],
        "body": "torch.distributed.checkpoint.async_save leaves a partial .metadata file behind.",
    },
    {
        "number": 104,
        "title": "CUDA out of memory in a single-GPU convolution",
        "labels": ["module: cuda", "triaged"],
        "body": "One GPU, no distributed code: conv2d runs out of memory.",
    },
    {"number": 105, "title": "Something about training", "labels": [], "labels_visible": False, "body": "?"},
    {"number": 106, "title": "A question", "labels": ["bug"], "body": "Unclear owner."},
    {
        "number": 107,
        "title": "DTensor redistribute from Shard(0) to Replicate gives wrong values",
        "labels": ["oncall: distributed", "module: dtensor", "bot-triaged", "high priority", "triage review"],
        "body": "from torch.distributed.tensor import distribute_tensor, Shard, Replicate ...",
        "comments": [{"author": "pytorch-bot[bot]", "date": "2024-03-02", "text": "Bot note."}],
    },
]


def write_invented(path: Path) -> Path:
    lines = []
    for values in INVENTED:
        record = {
            "url": f"https://github.com/pytorch/pytorch/issues/{values['number']}",
            "state": "open",
            "labels_visible": True,
            "opened": "2024-03-01",
            "author": "someone",
            "body_partial": False,
            "comments": [],
            **values,
        }
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
