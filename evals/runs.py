"""A saved eval run: what was run, every case with its plan, effects, gold and verdicts, and the scores."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from agent.engine import Usage
from agent.models import Decision, Effects, IssueRef, Plan
from agent.policy import Policy
from agent.result import Status, TriageResult
from evals.gold import Gold
from evals.scenarios import Case, Exclusion, Family
from evals.scoring import CaseScore, RunScores, judge, score_run

__all__ = ["CaseInput", "CaseOutcome", "CaseRecord", "Run", "RunError", "RunInfo", "load_run", "run_id_for", "save_run"]

SCHEMA_VERSION: Literal[1] = 1


class RunError(ValueError):
    """A run file is missing or not a run; the message says which and why."""


class CaseInput(BaseModel):
    """What the engine was shown, in brief (the dataset holds the texts)."""

    model_config = ConfigDict(frozen=True)

    url: str
    title: str
    labels: tuple[str, ...] = Field(description="The labels the issue was replayed with.")
    captured_labels: tuple[str, ...] = Field(description="The labels as captured, which the gold is read from.")
    comments: int
    body_chars: int
    body_partial: bool


class CaseOutcome(BaseModel):
    """One replayed case: what it was, what came of it, and its gold. Verdicts are derived from this."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    family: Family
    number: int
    attempt: int = 1
    input: CaseInput
    status: Status
    failure: str | None = None
    plan: Plan | None = None
    effects: Effects | None = None
    usage: Usage = Usage()
    seconds: float = 0.0
    tool_calls: int = 0
    gold: Gold
    expected_decisions: tuple[Decision, ...] = ()

    @property
    def key(self) -> str:
        return self.case_id if self.attempt == 1 else f"{self.case_id}#{self.attempt}"

    def judged(self, policy: Policy, *, engine: str, started_at: datetime) -> CaseRecord:
        """This outcome with verdicts from the current scoring rules."""
        case = Case(
            case_id=self.case_id,
            family=self.family,
            number=self.number,
            labels=self.input.labels,
            expected_decisions=self.expected_decisions,
            gold=self.gold,
        )
        result = TriageResult(
            ref=IssueRef.parse(self.input.url),
            engine=engine,
            status=self.status,
            plan=self.plan,
            effects=self.effects,
            failure=self.failure,
            usage=self.usage,
            seconds=self.seconds,
            started_at=started_at,
        )
        verdicts = judge(case, result, policy, attempt=self.attempt)
        return CaseRecord.model_validate({**dict(self), "verdicts": verdicts})


class CaseRecord(CaseOutcome):
    verdicts: CaseScore


class RunInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    engine: str
    dataset: str
    dataset_digest: str
    issues: int = Field(description="Issues read from the dataset (after --limit).")
    limit: int | None = None
    repeat: int = 1
    families: tuple[Family, ...]
    sub_oncalls: tuple[str, ...] = Field(description="The policy's sub-oncalls, the classes of the routing score.")
    skill: str
    marker: str
    started_at: datetime
    finished_at: datetime
    seconds: float


class Run(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    info: RunInfo
    records: tuple[CaseRecord, ...]
    exclusions: tuple[Exclusion, ...]
    scores: RunScores


def run_id_for(engine: str, started: datetime) -> str:
    return f"{started:%Y%m%d-%H%M%S}-{engine}"


def save_run(run: Run, directory: Path) -> tuple[Run, Path]:
    """Write `<run_id>.json` into `directory`, never over another run: a taken id gets a `-2`, `-3`... suffix.

    Returns the run as saved (its id may have changed) and the file's path.
    """
    directory.mkdir(parents=True, exist_ok=True)
    run_id, n = run.info.run_id, 1
    while True:
        path = directory / f"{run_id}.json"
        try:
            with path.open("x", encoding="utf-8") as out:
                saved = run if run_id == run.info.run_id else _renamed(run, run_id)
                out.write(saved.model_dump_json(indent=1) + "\n")
                return saved, path
        except FileExistsError:
            n += 1
            run_id = f"{run.info.run_id}-{n}"


def _renamed(run: Run, run_id: str) -> Run:
    return run.model_copy(update={"info": run.info.model_copy(update={"run_id": run_id})})


class _Envelope(BaseModel):
    """A run file as stored; its saved scores are not read back, they are recomputed."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal[1]
    info: RunInfo
    records: list[JsonValue]
    exclusions: tuple[Exclusion, ...]


def load_run(path: Path, policy: Policy | None = None) -> Run:
    """Read a run file and recompute its scores. With `policy`, every case is judged again by the
    current scoring rules, so runs saved by an older version compare on equal terms."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunError(f"cannot read run {path}: {exc.strerror}") from exc
    try:
        stored = _Envelope.model_validate_json(text)
        if policy is None:
            records = tuple(CaseRecord.model_validate(raw) for raw in stored.records)
        else:
            info = stored.info
            outcomes = (CaseOutcome.model_validate(raw) for raw in stored.records)
            records = tuple(o.judged(policy, engine=info.engine, started_at=info.started_at) for o in outcomes)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "<file>"
        problem = f"{exc.error_count()} problems; first at {where}: {first['msg']}"
        raise RunError(f"{path} is not an eval run file ({problem})") from exc
    sub_oncalls = policy.sub_oncalls if policy is not None else stored.info.sub_oncalls
    scores = score_run([record.verdicts for record in records], sub_oncalls)
    return Run(info=stored.info, records=records, exclusions=stored.exclusions, scores=scores)
