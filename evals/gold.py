"""Gold: what the labels humans gave an issue say the triage should have concluded.

Labels are read as captured, long after triage, so only what they show for certain becomes gold;
every field is `None` (undefined, not scored) when the labels do not settle it.

- **distributed**: true when any distributed label is present: the queue label, a sub-oncall, a
  distributed module from the allowlist (except those the rubric says do not alone show distributed
  work, such as activation checkpointing), or one of the retired or team names below. False only when
  the labels were captured, none of them is distributed, and one names another owner: an `oncall:`
  label or a `module:` label of another area. Cross-cutting `module:` labels (crash, regression,
  docs...) name no owner and settle nothing.
- **sub_oncall**: the explicit sub-oncall label; else derived from the module labels (current and
  certain retired ones) by the rubric's routing table (each module's `route`) and its precedence
  (checkpointing, then infra, then parallelisms). Undefined when no label routes.
- **modules**: the labels on the allowlist's primary modules, plus retired names whose successor is
  certain. Undefined when there is none: a human who classified only the queue said nothing of modules.
- **issue_type**: `feature` / `enhancement` from the type labels (`feature request` is the old name of
  `feature`), `bug` from `bug` or a label only bug reports carry (crash, regression, silent correctness).
- **needs_reproduction** / **high_priority**: true when the label is present; false when a human marked
  the issue `triaged` without it (a confident triage that did not ask for it); undefined otherwise.

Retired names, mapped only where the successor is certain:

| label | counts as distributed | sub-oncall | module |
|---|---|---|---|
| `module: distributed`, `distributed` | yes | - (said nothing about the area) | - |
| `module: distributed_checkpoint` | yes | checkpointing (DCP is that team's remit) | - (no module label replaced it) |
| `module: tensorpipe` | yes | infra | `module: rpc`: PyTorch uses TensorPipe only as the RPC agent's transport |
| `pipeline parallelism` | yes | parallelisms | `module: pipelining`, the same feature under its current name |
| `oncall: r2p` | yes | - : that queue held elastic and other production tooling, not one area | - |
| `pt_distributed_rampup`, `pt2d-triage-nov2024`, `release notes: distributed (...)` | yes | - | - |

`module: checkpoint` is not mapped: it names activation checkpointing as often as saving state.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.rules.rubric import Rubric
from agent.skillpack import SkillPack
from evals.dataset import DatasetIssue

__all__ = ["Gold", "GoldRules", "IssueType", "Routing", "derive_gold"]

IssueType = Literal["bug", "feature", "enhancement"]

_PARALLELISMS = "oncall: distributed parallelisms"
_INFRA = "oncall: distributed infra"
_CHECKPOINTING = "oncall: distributed checkpointing"

_GENERIC_DISTRIBUTED = frozenset(
    {"module: distributed", "distributed", "oncall: r2p", "pt_distributed_rampup", "pt2d-triage-nov2024"}
)
_DISTRIBUTED_PREFIXES = ("release notes: distributed",)
# retired label -> (sub-oncall it certainly routes to, current module label it certainly is)
_RETIRED: dict[str, tuple[str | None, str | None]] = {
    "module: distributed_checkpoint": (_CHECKPOINTING, None),
    "module: tensorpipe": (_INFRA, "module: rpc"),
    "pipeline parallelism": (_PARALLELISMS, "module: pipelining"),
}
# `module:` labels about a kind of problem rather than an owning area.
_CROSS_CUTTING = frozenset(
    {
        "module: crash",
        "module: regression",
        "module: flaky-tests",
        "module: docs",
        "module: bc-breaking",
        "module: error checking",
        "module: correctness (silent)",
        "module: memory usage",
        "module: performance",
        "module: bootcamp",
    }
)
_BUG_ONLY = frozenset({"bug", "module: crash", "module: regression", "module: correctness (silent)"})
_TYPES: dict[str, IssueType] = {"feature": "feature", "feature request": "feature", "enhancement": "enhancement"}
_PT2 = "oncall: pt2"
_HIGH_PRIORITY = "high priority"


class Routing(BaseModel):
    """Which sub-oncall a module label routes to, and which sub-oncall wins when several apply."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    modules: dict[str, str]
    precedence: tuple[str, ...] = Field(description="Sub-oncalls, the winner first.")
    not_evidence: frozenset[str] = Field(
        default=frozenset(), description="Module labels that alone do not show an issue is distributed."
    )

    @classmethod
    def from_rubric(cls, rubric: Rubric) -> Routing:
        """The rubric's routing table: each module's route, and the routes' precedence."""
        return cls(
            modules={module.label: rubric.sub_oncalls[module.route] for module in rubric.modules},
            precedence=tuple(rubric.sub_oncalls[key] for key in rubric.routing.precedence),
            not_evidence=frozenset(m.label for m in rubric.modules if not m.counts_as_distributed),
        )


class GoldRules(BaseModel):
    """The label vocabulary gold is read with, taken from the skill pack so it follows the policy."""

    model_config = ConfigDict(frozen=True)

    queue_label: str
    sub_oncalls: tuple[str, ...]
    classify_after: tuple[str, ...] = Field(description="Sub-oncalls whose routing continues to modules.")
    modules: frozenset[str] = Field(description="Primary distributed module labels of the allowlist.")
    markers: tuple[str, ...]
    bot_authors: tuple[str, ...]
    confident_label: str
    reproduction_label: str
    routing: Routing

    @classmethod
    def from_pack(cls, pack: SkillPack, routing: Routing | None = None) -> GoldRules:
        """Vocabulary from the pack's policy and allowlist; routing from its rubric unless given."""
        policy = pack.policy
        if routing is None:
            routing = Routing.from_rubric(Rubric.load(pack.rubric_path))
        return cls(
            queue_label=policy.queue_label,
            sub_oncalls=policy.sub_oncalls,
            classify_after=policy.continue_after_routing,
            modules=frozenset(label for label in pack.allowlist if policy.is_primary_module(label)),
            markers=policy.known_markers,
            bot_authors=policy.bot_authors,
            confident_label=policy.confident_label,
            reproduction_label=policy.reproduction_label,
            routing=routing,
        )

    def is_bot(self, author: str | None) -> bool:
        return author is not None and (author in self.bot_authors or author.endswith("[bot]"))

    def is_distributed_label(self, label: str) -> bool:
        return (
            label == self.queue_label
            or label in self.sub_oncalls
            or (label in self.modules and label not in self.routing.not_evidence)
            or label in _GENERIC_DISTRIBUTED
            or label in _RETIRED
            or label.startswith(_DISTRIBUTED_PREFIXES)
        )

    def names_other_owner(self, label: str) -> bool:
        if label.startswith("oncall: "):
            return not self.is_distributed_label(label)
        if label.startswith("module: "):
            neutral = label in _CROSS_CUTTING or label in self.routing.not_evidence
            return not self.is_distributed_label(label) and not neutral
        return False


class Gold(BaseModel):
    """What the captured labels settle; `None` means undefined and the field is not scored."""

    model_config = ConfigDict(frozen=True)

    excluded: str | None = Field(default=None, description="Why no case can be scored on this issue.")
    distributed: bool | None = None
    sub_oncall: str | None = None
    sub_oncall_from: Literal["label", "modules"] | None = None
    modules: tuple[str, ...] | None = None
    issue_type: IssueType | None = None
    needs_reproduction: bool | None = None
    high_priority: bool | None = None
    pt2: bool = False
    bot_touched: bool = Field(description="A bot marker is among the labels or a bot commented.")


def derive_gold(issue: DatasetIssue, rules: GoldRules) -> Gold:
    """Read the gold of one issue. Pure: the same labels always give the same gold."""
    labels = set(issue.labels)
    bot_touched = bool(labels & set(rules.markers)) or any(rules.is_bot(c.author) for c in issue.comments)
    if not issue.labels_visible:
        return Gold(excluded="labels were not captured", bot_touched=bot_touched)
    explicit = sorted(labels & set(rules.sub_oncalls))
    if len(explicit) > 1:
        return Gold(excluded=f"carries {len(explicit)} sub-oncalls: {', '.join(explicit)}", bot_touched=bot_touched)
    distributed = _distributed(labels, rules)
    if distributed is None:
        return Gold(excluded="no label says who owns it (distributed or another team)", bot_touched=bot_touched)
    modules = _modules(labels, rules)
    sub_oncall, source = _sub_oncall(labels, explicit, modules, rules)
    triaged = rules.confident_label in labels
    return Gold(
        distributed=distributed,
        sub_oncall=sub_oncall if distributed else None,
        sub_oncall_from=source if distributed else None,
        modules=tuple(sorted(modules)) if modules and distributed else None,
        issue_type=_issue_type(labels),
        needs_reproduction=_flag(rules.reproduction_label in labels, triaged),
        high_priority=_flag(_HIGH_PRIORITY in labels, triaged),
        pt2=_PT2 in labels,
        bot_touched=bot_touched,
    )


def _distributed(labels: set[str], rules: GoldRules) -> bool | None:
    if any(rules.is_distributed_label(label) for label in labels):
        return True
    if any(rules.names_other_owner(label) for label in labels):
        return False
    return None


def _modules(labels: set[str], rules: GoldRules) -> set[str]:
    found = labels & rules.modules
    found |= {module for label in labels if (module := _RETIRED.get(label, (None, None))[1]) is not None}
    return found


def _sub_oncall(
    labels: set[str], explicit: list[str], modules: set[str], rules: GoldRules
) -> tuple[str | None, Literal["label", "modules"] | None]:
    if explicit:
        return explicit[0], "label"
    targets = {route for label in labels if (route := _RETIRED.get(label, (None, None))[0]) is not None}
    targets |= {rules.routing.modules[m] for m in modules if m in rules.routing.modules}
    winner = next((s for s in rules.routing.precedence if s in targets), None)
    return (winner, "modules") if winner else (None, None)


def _issue_type(labels: set[str]) -> IssueType | None:
    kinds: set[IssueType] = {_TYPES[label] for label in labels if label in _TYPES}
    if labels & _BUG_ONLY:
        kinds.add("bug")
    return kinds.pop() if len(kinds) == 1 else None


def _flag(present: bool, triaged: bool) -> bool | None:
    if present:
        return True
    return False if triaged else None
