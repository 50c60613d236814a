"""The triage rubric as data: module signals, routing, traps and criteria, loaded from YAML.

Every word the rules engine looks for lives in the rubric file, not in code. This module only
describes the file's shape and checks that its parts refer to each other (and to the policy and
allowlist) consistently.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent.policy import Policy
from agent.yaml_file import load_yaml_model

__all__ = [
    "Channel",
    "Condition",
    "Confidence",
    "Confusion",
    "EdgeCase",
    "HighPriority",
    "Module",
    "Negation",
    "NotDistributed",
    "Reproduction",
    "Routing",
    "Rubric",
    "RubricError",
    "Scoring",
    "SignalSet",
    "Term",
    "TextFilters",
    "Trap",
    "Types",
]

Channel = Literal["title", "prose", "code"]


class RubricError(ValueError):
    """The rubric file is missing, malformed, or disagrees with the policy; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Term(_Strict):
    """One thing to look for. A bare string in YAML is a term of weight 1.

    Phrases: case-insensitive, whole words; a space also matches `_`, `-` or nothing; a trailing `*`
    matches any word ending; `#` matches a number; a leading `^` anchors at the start of the text
    (after `[tags]`).
    APIs: case-sensitive identifiers. Imports: dotted module prefixes. Frames: path fragments.
    """

    text: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0, le=10)
    channels: tuple[Channel, ...] = Field(default=(), description="Where it counts; empty means everywhere.")
    whole: bool = Field(
        default=False,
        description="A phrase that matches only a whole identifier: scatter is not scatter_add. Always so "
        "for phrases with an underscore.",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"text": data} if isinstance(data, str) else data


class SignalSet(_Strict):
    phrases: tuple[Term, ...] = ()
    apis: tuple[Term, ...] = ()
    imports: tuple[Term, ...] = ()
    frames: tuple[Term, ...] = ()

    def terms(self) -> Iterator[Term]:
        yield from (*self.phrases, *self.apis, *self.imports, *self.frames)


class Condition(_Strict):
    """Holds when any `when_any` phrase matches, or when every `when_all` group has a match."""

    when_any: tuple[Term, ...] = ()
    when_all: tuple[tuple[Term, ...], ...] = ()
    channels: tuple[Channel, ...] = Field(default=(), description="Only look here; empty means everywhere.")
    comments: bool = Field(default=True, description="Whether comments count, or only the title and description.")

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if not self.when_any and not self.when_all:
            raise ValueError("give when_any or when_all (or both)")
        if any(not group for group in self.when_all):
            raise ValueError("when_all groups must not be empty")
        return self


class Confusion(_Strict):
    """A known mix-up: a note for humans and models, and optionally a discount on the module's score."""

    note: str = Field(min_length=1)
    factor: float = Field(default=1.0, ge=0.0, le=1.0)
    yield_to: tuple[str, ...] = Field(default=(), description="Discount when one of these modules is evident.")
    when_any: tuple[Term, ...] = Field(default=(), description="Discount when one of these phrases appears.")
    unless_root_frame: bool = Field(
        default=True, description="Keep the full score when the innermost distributed frame is this module's."
    )
    unless_any: tuple[Term, ...] = Field(
        default=(), description="Keep the full score when one of these phrases appears: the module's own subject."
    )

    @model_validator(mode="after")
    def _coherent(self) -> Confusion:
        conditional = bool(self.yield_to or self.when_any)
        if conditional and self.factor >= 1.0:
            raise ValueError("a confusion with yield_to/when_any needs a factor below 1")
        if not conditional and self.factor < 1.0:
            raise ValueError("a factor below 1 needs yield_to or when_any to say when it applies")
        return self


class Module(_Strict):
    label: str
    route: str = Field(description="Key of the sub-oncall this module's issues go to.")
    summary: str
    counts_as_distributed: bool = Field(
        default=True, description="Whether this module's signals alone show that an issue is distributed."
    )
    signals: SignalSet
    confusions: tuple[Confusion, ...] = ()


class EdgeCase(Condition):
    name: str
    note: str
    route: str


class Routing(_Strict):
    precedence: tuple[str, ...] = Field(description="Route keys, strongest first, when several are evident.")
    default: str = Field(description="Where an issue goes when no other route is evident.")
    min_score: float = Field(gt=0)
    min_share: float = Field(gt=0, le=1, description="A route must reach this share of the best route's score.")
    discussed_channels: tuple[str, ...] = Field(
        description="A route other than the default needs evidence from one of these channels."
    )
    signals: dict[str, SignalSet] = Field(default_factory=dict, description="Route-level signals, by route key.")
    modules_when_stopping: bool = Field(
        default=False,
        description="Also name HIGH/MEDIUM modules on routes the skill stops at (infra, checkpointing).",
    )
    edge_cases: tuple[EdgeCase, ...] = ()


class Scoring(_Strict):
    title: float = Field(gt=0)
    prose: float = Field(gt=0)
    code: float = Field(gt=0)
    imports: float = Field(gt=0)
    frames: float = Field(gt=0)
    root_frames: float = Field(gt=0)
    labels: float = Field(gt=0, description="Score of a module label already on the issue.")
    comment_factor: float = Field(gt=0, le=1, description="Comments count this much of the description.")
    repeat_bonus: float = Field(ge=0, le=1)
    repeat_cap: int = Field(ge=1)

    def channel_weight(self, channel: str) -> float:
        weights = {
            "title": self.title,
            "prose": self.prose,
            "code": self.code,
            "import": self.imports,
            "frame": self.frames,
            "root_frame": self.root_frames,
            "label": self.labels,
        }
        return weights[channel]


class Confidence(_Strict):
    high: float = Field(gt=0)
    medium: float = Field(gt=0)
    secondary_share: float = Field(gt=0, le=1, description="Another module is labelled at this share of the top.")
    strong_channels: tuple[str, ...] = Field(description="HIGH needs evidence from one of these channels.")
    calibration: dict[Literal["HIGH", "MEDIUM", "LOW"], str]

    @model_validator(mode="after")
    def _ordered(self) -> Confidence:
        if self.medium > self.high:
            raise ValueError("medium must not exceed high")
        return self


class Negation(_Strict):
    cues: tuple[str, ...] = Field(min_length=1, description="Phrases that negate a term right after them.")
    fillers: tuple[str, ...] = Field(default=(), description="Words allowed between a cue and the term.")
    window: int = Field(ge=0, le=8, description="At most this many words between cue and term.")
    contrast_cues: tuple[str, ...] = Field(
        default=(), description="Cues that name what fails, not what is unused, after a success in the sentence."
    )
    success: tuple[str, ...] = Field(default=(), description="Words of something working ('works', 'fine').")


class Trap(Condition):
    name: str
    note: str
    comments: bool = Field(default=False, description="Whether phrases in comments can spring the trap.")
    max_usage: float = Field(ge=0, description="Only when distributed usage (code, imports, frames) is at most this.")
    max_total: float = Field(ge=0, description="Only when all distributed evidence is at most this.")


class NotDistributed(_Strict):
    template: str
    min_evidence: float = Field(gt=0, description="Below this much distributed evidence an issue is not distributed.")
    markers: SignalSet = Field(description="Generic signs of distributed work that name no module.")
    traps: tuple[Trap, ...] = ()


class Types(_Strict):
    feature_label: str
    enhancement_label: str
    performance_label: str
    feature_templates: tuple[Term, ...] = Field(description="Issue-form headings of a feature request.")
    bug_templates: tuple[Term, ...] = Field(description="Issue-form headings of a bug report.")
    task_templates: tuple[Term, ...] = Field(default=(), description="Issue-form headings of a work item (docs).")
    task_titles: tuple[Term, ...] = Field(description="Title phrases of work items: docs, clean-ups, trackers.")
    request_titles: tuple[Term, ...] = Field(description="Title phrases that make an issue a request.")
    bug_cues: tuple[Term, ...] = Field(description="Phrases of something going wrong.")
    request_body: tuple[Term, ...] = Field(description="Body phrases that make a trace-free issue a request.")
    enhancement: tuple[Term, ...] = Field(description="A request about something that already works.")
    performance: tuple[Term, ...] = Field(description="An enhancement about speed.")


class Criterion(Condition):
    name: str
    note: str


class HighPriority(_Strict):
    criteria: tuple[Criterion, ...] = Field(min_length=1)
    many_commenters: int = Field(ge=2, description="This many distinct human commenters means many are affected.")


class Reproduction(_Strict):
    template: str
    min_code_lines: int = Field(ge=1, description="Runnable-looking lines that make a snippet.")
    any_block_counts: bool = Field(
        default=False, description="Any block of code or output, or a traceback, is enough not to ask."
    )
    counts_as_repro: tuple[Term, ...] = Field(description="Phrases anywhere that point at a runnable reproduction.")
    described: tuple[Term, ...] = Field(
        default=(), description="Phrases in the title or description by which the reporter offers a reproduction."
    )


class TextFilters(_Strict):
    ignore_sections: tuple[str, ...] = Field(description="Markdown headings whose sections are skipped (env dumps).")
    ignore_lines: tuple[str, ...] = Field(description="Regular expressions of lines that are never evidence.")

    @field_validator("ignore_lines")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from exc
        return patterns


class Rubric(_Strict):
    version: int = Field(ge=1)
    about: str
    sub_oncalls: dict[str, str] = Field(description="Route key -> sub-oncall label.")
    modules: tuple[Module, ...] = Field(min_length=1)
    routing: Routing
    scoring: Scoring
    confidence: Confidence
    negation: Negation
    not_distributed: NotDistributed
    types: Types
    high_priority: HighPriority
    reproduction: Reproduction
    text_filters: TextFilters

    @model_validator(mode="after")
    def _consistent(self) -> Rubric:
        routes = set(self.sub_oncalls)
        labels = [m.label for m in self.modules]
        if len(set(labels)) != len(labels):
            raise ValueError(f"modules: duplicate labels {sorted({x for x in labels if labels.count(x) > 1})}")
        problems = [
            f"modules[{m.label}].route: unknown route {m.route!r}" for m in self.modules if m.route not in routes
        ]
        problems += [
            f"modules[{m.label}].confusions.yield_to: unknown module {other!r}"
            for m in self.modules
            for c in m.confusions
            for other in c.yield_to
            if other not in labels
        ]
        if sorted(self.routing.precedence) != sorted(routes):
            problems.append(f"routing.precedence must list each route once: {sorted(routes)}")
        if self.routing.default not in routes:
            problems.append(f"routing.default: unknown route {self.routing.default!r}")
        problems += [f"routing.signals: unknown route {key!r}" for key in self.routing.signals if key not in routes]
        problems += [
            f"routing.edge_cases[{e.name}].route: unknown route {e.route!r}"
            for e in self.routing.edge_cases
            if e.route not in routes
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def module_labels(self) -> tuple[str, ...]:
        return tuple(m.label for m in self.modules)

    def module(self, label: str) -> Module:
        for module in self.modules:
            if module.label == label:
                return module
        raise KeyError(label)

    def route_of(self, sub_oncall: str) -> str | None:
        return next((key for key, label in self.sub_oncalls.items() if label == sub_oncall), None)

    def check(
        self, policy: Policy, *, allowlist: Collection[str] | None = None, templates: Collection[str] | None = None
    ) -> None:
        """Refuse a rubric that names labels or templates the policy, allowlist or pack do not know."""
        problems: list[str] = []
        if set(self.sub_oncalls.values()) != set(policy.sub_oncalls):
            problems.append(
                f"sub_oncalls {sorted(self.sub_oncalls.values())} differ from the policy's {sorted(policy.sub_oncalls)}"
            )
        problems += [
            f"modules[{label}]: not a primary module label under the policy"
            for label in self.module_labels
            if not policy.is_primary_module(label)
        ]
        if allowlist is not None:
            wanted = (
                *self.module_labels,
                *self.sub_oncalls.values(),
                self.types.feature_label,
                self.types.enhancement_label,
                self.types.performance_label,
            )
            problems += [f"{label!r} is not on the label allowlist" for label in wanted if label not in allowlist]
        if templates is not None:
            for key in (self.not_distributed.template, self.reproduction.template):
                if key not in templates:
                    problems.append(f"template {key!r} is not in the skill pack")
        if problems:
            raise RubricError("rubric disagrees with the skill pack: " + "; ".join(problems))

    @classmethod
    def load(cls, path: Path) -> Rubric:
        return load_yaml_model(path, cls, what="rubric", error=RubricError)
