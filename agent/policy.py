"""The guard's policy: which labels mean what, as data loaded from `policy.yaml`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.yaml_file import load_yaml_model

__all__ = ["Policy", "PolicyError"]


class PolicyError(ValueError):
    """The policy file is missing or malformed; the message names the field."""


class Policy(BaseModel):
    """Everything the guard and the sweep need to know about label meaning.

    The guard is generic over this: nothing in it names a PyTorch label.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue_label: str = Field(description="Only issues carrying exactly this label are touched.")
    marker: str = Field(description="Added whenever the bot has processed an issue (except high priority).")
    known_markers: tuple[str, ...] = Field(
        description="Every marker any version of the bot or its parent used; never requested by a plan."
    )
    exclusive_groups: dict[str, tuple[str, ...]] = Field(
        description="Groups of which an issue may carry at most one label (the sub-oncalls)."
    )
    routing_group: str = Field(description="The exclusive group that holds the sub-oncalls.")
    continue_after_routing: tuple[str, ...] = Field(
        description="Sub-oncalls whose routing continues to module classification."
    )
    module_prefix: str = "module: "
    secondary_modules: tuple[str, ...] = Field(
        default=(), description="`module:` labels that do not count as a primary classification."
    )
    confident_label: str = Field(description="Added only on a confident, complete outcome.")
    review_label: str
    reproduction_label: str
    forbid_confident_with: tuple[str, ...] = Field(
        description="Labels whose presence in the result forbids the confident label."
    )
    never_request: tuple[str, ...] = Field(description="Labels a plan may never ask for (humans decide).")
    protected_labels: tuple[str, ...] = Field(
        default=(), description="Labels called out as never removed; the guard removes nothing anyway."
    )
    bot_authors: tuple[str, ...] = Field(description="Authors whose comments count as the bot's own.")
    template_similarity: float = Field(
        default=0.6, ge=0.0, le=1.0, description="How close a bot comment must be to a template to count as it."
    )
    requeue_high_priority: bool = Field(
        default=False,
        description="Whether the sweep picks again an issue the high-priority flow left for humans.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        if self.routing_group not in self.exclusive_groups:
            raise ValueError(f"routing_group {self.routing_group!r} is not one of exclusive_groups")
        missing = set(self.continue_after_routing) - set(self.sub_oncalls)
        if missing:
            raise ValueError(f"continue_after_routing names labels outside the routing group: {sorted(missing)}")
        if self.marker not in self.known_markers:
            raise ValueError(f"marker {self.marker!r} must also be listed in known_markers")
        return self

    @property
    def sub_oncalls(self) -> tuple[str, ...]:
        return self.exclusive_groups[self.routing_group]

    def is_primary_module(self, label: str) -> bool:
        return label.startswith(self.module_prefix) and label not in self.secondary_modules

    def with_marker(self, marker: str) -> Policy:
        """The same policy with another marker (e.g. upstream's dedicated `ptd-bot-triaged`)."""
        known = self.known_markers if marker in self.known_markers else (*self.known_markers, marker)
        return self.model_copy(update={"marker": marker, "known_markers": known})

    @classmethod
    def load(cls, path: Path) -> Policy:
        return load_yaml_model(path, cls, what="policy", error=PolicyError)
