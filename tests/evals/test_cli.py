from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.sandbox import IssueSeed, SandboxStore
from evals.cli import main
from evals.dataset import load_dataset
from evals.runs import load_run

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_run_with_the_rules_engine_saves_the_run_and_both_reports(
    invented: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "runs"
    status, out, err = run_cli(capsys, "run", "--dataset", str(invented), "--engine", "rules", "--out", str(out_dir))
    assert status == 0, err
    assert "decision accuracy" in out and "human-only" in out and "excluded:" in out
    assert err.splitlines()[-1].startswith("11/11 cases")
    saved = sorted(out_dir.glob("*.json"))
    assert len(saved) == 1 and saved[0].with_suffix(".html").is_file() and saved[0].with_suffix(".md").is_file()
    run = load_run(saved[0])
    assert run.info.engine == "rules" and len(run.records) == 11 and len(run.exclusions) == 2
    assert all(record.status == "planned" for record in run.records)


def test_compare_and_report_work_on_saved_runs(
    invented: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(2):
        assert run_cli(capsys, "run", "--dataset", str(invented), "--engine", "rules", "--out", str(tmp_path))[0] == 0
    first, second = sorted(tmp_path.glob("*.json"))
    status, out, _ = run_cli(capsys, "compare", str(first), str(second))
    assert status == 0 and "Regressions: 0" in out and "Improvements: 0" in out
    (tmp_path / "again").mkdir()
    status, out, _ = run_cli(capsys, "report", str(first), "--out", str(tmp_path / "again"))
    assert status == 0 and (tmp_path / "again" / first.with_suffix(".html").name).is_file()


def test_a_malformed_dataset_is_a_usage_error_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    good = {"number": 1, "url": "https://github.com/pytorch/pytorch/issues/1", "title": "t", "labels_visible": True}
    bad.write_text(json.dumps(good) + "\n" + '{"number": "two"\n', encoding="utf-8")
    status, _, err = run_cli(capsys, "run", "--dataset", str(bad), "--engine", "rules", "--out", str(tmp_path))
    assert status == 2 and f"{bad}:2:" in err


def test_a_missing_run_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_cli(capsys, "compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    assert status == 2 and "cannot read run" in err


def test_collect_writes_a_dataset_the_run_command_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "sandbox.sqlite3"
    with SandboxStore(db) as store:
        store.put(IssueSeed(repo="pytorch/pytorch", number=31, title="x", labels=("oncall: distributed",)))
        store.put(IssueSeed(repo="pytorch/pytorch", number=32, title="y", labels=("module: cuda",)))
    out = tmp_path / "queue.jsonl"
    status, text, err = run_cli(
        capsys,
        "collect",
        "--repo",
        "pytorch/pytorch",
        "--github",
        "sandbox",
        "--sandbox-db",
        str(db),
        "--out",
        str(out),
    )
    assert status == 0, err
    assert "wrote 1 issues" in text
    assert [issue.number for issue in load_dataset(out)] == [31]


def test_python_dash_m_evals_runs_end_to_end(invented: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "evals", "run", "--dataset", str(invented), "--engine", "rules", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "sub-oncall accuracy" in done.stdout and "report:" in done.stdout
