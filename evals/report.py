"""Run reports: one HTML page with inline SVG charts, a markdown summary, and the terminal summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from agent.templating import render
from evals.charts import Chart, bar_chart, matrix_chart
from evals.metrics import PRF, Ratio
from evals.runs import CaseRecord, Run
from evals.scoring import CaseScore, Summary

__all__ = ["Figure", "figures", "format_summary", "render_html", "render_markdown", "write_reports"]


class Figure(BaseModel):
    """One headline figure on all cases and on the cases no bot touched, with what it is computed on."""

    model_config = ConfigDict(frozen=True)

    name: str
    all: str
    human: str
    basis: str


def _ratio(value: Ratio) -> str:
    return "n/a (0 scored)" if value.value is None else f"{value.value:.3f} ({value.hits}/{value.total})"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _pr(value: PRF) -> str:
    return f"P {_num(value.precision)} R {_num(value.recall)} (tp {value.tp}, fp {value.fp}, fn {value.fn})"


def _prf(value: PRF) -> str:
    return f"P {_num(value.precision)} R {_num(value.recall)} F1 {_num(value.f1)}"


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}s"


def figures(run: Run) -> tuple[Figure, ...]:
    a, h = run.scores.all, run.scores.human_only

    def row(name: str, basis: str, show: Callable[[Summary], str]) -> Figure:
        return Figure(name=name, all=show(a), human=show(h), basis=basis)

    return (
        row("cases", "replayed cases (all families, all attempts)", lambda s: f"{s.cases} ({s.failed} failed)"),
        row("decision accuracy", "cases with an expected decision", lambda s: _ratio(s.decision)),
        row(
            "sub-oncall accuracy", "routing + module_only cases with a gold sub-oncall", lambda s: _ratio(s.sub_oncall)
        ),
        row("modules micro", "routing cases, gold modules, parallelisms", lambda s: _prf(s.modules.micro)),
        row("modules macro", "same cases, averaged over labels", lambda s: _prf(s.modules.macro)),
        row("applied-label precision", "added labels the gold can judge", lambda s: _ratio(s.applied_precision)),
        row("abstention (triage review)", "routing + module_only cases", lambda s: _ratio(s.abstention)),
        row("not distributed", "all cases; positive = flagged not distributed", lambda s: _pr(s.not_distributed)),
        row("type", "routing + module_only, type gold, not infra/ckpt", lambda s: _ratio(s.issue_type)),
        row("needs reproduction", "label or `triaged` says; not infra/ckpt", lambda s: _pr(s.needs_reproduction)),
        row("high priority", "cases where the label or `triaged` says", lambda s: _pr(s.high_priority)),
        row(
            "guard notes",
            "notes / cases with any note",
            lambda s: f"{sum(s.guard_notes.values())} / {s.cases_with_notes}",
        ),
        row("tokens in / out", "all cases", lambda s: f"{s.input_tokens} / {s.output_tokens}"),
        row("cost", "all cases", lambda s: f"${s.cost_usd:.4f}"),
        row(
            "latency p50 / p95",
            "per case, end to end",
            lambda s: f"{_s(s.latency_p50)} / {_s(s.latency_p95)}",
        ),
    )


class _Errors(BaseModel):
    model_config = ConfigDict(frozen=True)

    record: CaseRecord
    wrong: tuple[str, ...]


def _errors(run: Run) -> list[_Errors]:
    """Every case with a wrong scored field, each wrong field as `field: expected -> predicted`."""
    found = []
    for record in run.records:
        v = record.verdicts
        wrong = ["failed"] if v.failed else []
        if v.decision == "wrong":
            wrong.append(f"decision: {v.decision_expected} -> {v.decision_predicted}")
        if v.sub_oncall == "wrong":
            wrong.append(f"sub-oncall: {v.sub_oncall_expected} -> {v.sub_oncall_predicted or 'none'}")
        if v.type == "wrong":
            wrong.append(f"type: {v.type_expected} -> {v.type_predicted}")
        if v.modules_scored and v.modules_missing:
            wrong.append(f"modules missing: {', '.join(v.modules_missing)}")
        if v.modules_scored and v.modules_extra:
            wrong.append(f"modules extra: {', '.join(v.modules_extra)}")
        wrong += [f"wrong label: {a.label}" for a in v.applied if a.verdict == "wrong" and not _shown(a.label, v)]
        if wrong:
            found.append(_Errors(record=record, wrong=tuple(wrong)))
    return found


def _shown(label: str, v: CaseScore) -> bool:
    """Whether a wrong applied label is already told by the sub-oncall or module lines."""
    return (v.sub_oncall == "wrong" and label == v.sub_oncall_predicted) or (
        v.modules_scored and label in v.modules_extra
    )


def _charts(summary: Summary) -> list[Chart]:
    charts = []
    if summary.decision_confusion.labels:
        charts.append(matrix_chart("Decision: expected vs predicted", summary.decision_confusion))
    if summary.sub_oncall_confusion.total:
        charts.append(matrix_chart("Sub-oncall: expected vs predicted", summary.sub_oncall_confusion))
        charts.append(bar_chart("Sub-oncall precision and recall", summary.sub_oncall_classes))
    if summary.modules.per_label:
        charts.append(bar_chart("Module labels: precision and recall", summary.modules.per_label))
    return charts


def _context(run: Run) -> dict[str, object]:
    reasons = Counter(e.reason for e in run.exclusions)
    return {
        "run": run,
        "info": run.info,
        "figures": figures(run),
        "summary": run.scores.all,
        "charts": _charts(run.scores.all),
        "errors": _errors(run),
        "exclusion_reasons": reasons.most_common(),
    }


def render_html(run: Run) -> str:
    return render("reports/run.html", **_context(run))


def render_markdown(run: Run) -> str:
    return render("reports/run.md.j2", **_context(run))


def write_reports(run: Run, directory: Path) -> tuple[Path, Path]:
    """Write `<run_id>.html` and `<run_id>.md` beside the run file."""
    directory.mkdir(parents=True, exist_ok=True)
    html = directory / f"{run.info.run_id}.html"
    markdown = directory / f"{run.info.run_id}.md"
    html.write_text(render_html(run), encoding="utf-8")
    markdown.write_text(render_markdown(run), encoding="utf-8")
    return html, markdown


def format_summary(run: Run) -> str:
    """The one-screen terminal summary printed at the end of a run."""
    info = run.info
    families = ", ".join(f"{f} {n}" for f, n in run.scores.all.by_family.items())
    lines = [
        f"run {info.run_id}: engine {info.engine}, {info.issues} issues, {info.seconds:.1f}s",
        f"cases: {families or 'none'}; excluded issues: {len(run.exclusions)}",
        "",
        f"{'figure':<28}{'all cases':<44}human-only",
    ]
    lines += [f"{f.name:<28}{f.all:<44}{f.human}" for f in figures(run)]
    by_family = run.scores.all.decision_by_family
    if by_family:
        lines += ["", "decision accuracy by family: " + "; ".join(f"{f} {_ratio(r)}" for f, r in by_family.items())]
    reasons = Counter(e.reason for e in run.exclusions)
    if reasons:
        lines += ["", "excluded:"] + [f"  {n:>4}  {reason}" for reason, n in reasons.most_common()]
    return "\n".join(lines) + "\n"
