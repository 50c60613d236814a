from __future__ import annotations

import io
from pathlib import Path

import anyio
import pytest

from agent.skillpack import SkillPack
from evals.runner import RunOptions, run_eval
from evals.runs import Run
from tests.evals.engines import PAR, KeywordEngine
from tests.evals.factories import write_invented


def _run(dataset: Path, engine: KeywordEngine) -> Run:
    async def go() -> Run:
        return await run_eval(RunOptions(dataset=dataset), engine, SkillPack.load(), progress=io.StringIO())

    return anyio.run(go)


@pytest.fixture
def invented(tmp_path: Path) -> Path:
    return write_invented(tmp_path / "invented.jsonl")


@pytest.fixture
def run_a(invented: Path) -> Run:
    """Routes NCCL issues to parallelisms (wrong) and knows DCP (right)."""
    return _run(invented, KeywordEngine(nccl_to=PAR))


@pytest.fixture
def run_b(invented: Path) -> Run:
    """Routes NCCL issues to infra (right) and no longer knows DCP (wrong)."""
    return _run(invented, KeywordEngine(knows_dcp=False))
