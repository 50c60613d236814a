from __future__ import annotations

import re
from pathlib import Path

from evals.report import format_summary, render_html, render_markdown, write_reports
from evals.runs import Run


def test_the_html_report_draws_its_charts_inline_and_loads_nothing_from_elsewhere(run_a: Run) -> None:
    html = render_html(run_a)
    assert html.count("<svg") >= 3
    assert "<rect" in html and "Decision: expected vs predicted" in html
    assert not re.search(r"<script|<link|<img|<iframe|\bsrc=|url\(|@import", html)
    external = re.findall(r"https?://[^\s\"'<>]+", html)
    assert external and all(re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+/issues/\d+", u) for u in external)


def test_the_html_report_escapes_issue_text(run_a: Run) -> None:
    record = run_a.records[0]
    hostile = record.input.model_copy(update={"title": "<script>alert(1)</script>"})
    broken = record.model_copy(update={"input": hostile, "status": "failed", "failure": "<b>x</b>"})
    verdicts = broken.verdicts.model_copy(update={"failed": True})
    run = run_a.model_copy(update={"records": (broken.model_copy(update={"verdicts": verdicts}), *run_a.records[1:])})
    html = render_html(run)
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_the_markdown_summary_has_the_figures_table_on_both_case_sets(run_a: Run) -> None:
    markdown = render_markdown(run_a)
    assert "| figure | all cases | human-only | computed on |" in markdown
    assert "| decision accuracy |" in markdown and "| module label |" in markdown
    assert "| mislabelled | 1.000 (1/1) |" in markdown
    assert "Excluded issues: 2" in markdown


def test_reports_are_written_beside_each_other_and_the_summary_fits_a_screen(run_a: Run, tmp_path: Path) -> None:
    html, markdown = write_reports(run_a, tmp_path)
    assert html.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert markdown.suffix == ".md"
    summary = format_summary(run_a)
    assert len(summary.splitlines()) <= 30
    assert "decision accuracy" in summary and "excluded:" in summary
