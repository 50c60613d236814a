"""A skill pack: instructions, label allowlist, rubric, templates and policy, loaded as one value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.policy import Policy

_M = TypeVar("_M", bound=BaseModel)

__all__ = ["DATA_ROOT", "LabelSpec", "SkillPack", "SkillPackError", "Template"]

_PACKAGE = Path(__file__).resolve().parent
# A wheel ships the data folders inside the package; a source checkout has them beside it.
DATA_ROOT = _PACKAGE / "_data" if (_PACKAGE / "_data").is_dir() else _PACKAGE.parent


class SkillPackError(ValueError):
    """A skill folder is missing a file or holds a malformed one; the message names which."""


class LabelSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    description: str = ""


class _LabelFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    description: str = ""
    labels: list[LabelSpec]


class Template(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    comment: str = Field(min_length=1)
    action: str = ""
    use_when: str = ""
    recognize: tuple[str, ...] = Field(
        default=(), description="Lower-case phrases that identify an earlier wording of the same request."
    )


class _TemplateFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    description: str = ""
    templates: dict[str, Template]


class SkillMeta(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    name: str
    description: str = ""


class SkillPack(BaseModel):
    model_config = ConfigDict(frozen=True)

    meta: SkillMeta
    instructions: str
    labels: tuple[LabelSpec, ...]
    templates: dict[str, Template]
    rubric_text: str
    rubric_path: Path = Field(description="The structured (YAML) rubric the rules engine reads.")
    policy: Policy
    source: Path

    @property
    def allowlist(self) -> frozenset[str]:
        return frozenset(label.name for label in self.labels)

    @classmethod
    def load(cls, name_or_path: str | Path = "distributed-triage", *, data_root: Path = DATA_ROOT) -> SkillPack:
        """Load a packaged skill by name, or a folder: ours or an upstream-style one."""
        folder = Path(name_or_path)
        if not folder.is_dir():
            folder = data_root / "skills" / str(name_or_path)
        if not folder.is_dir():
            raise SkillPackError(f"no skill folder {name_or_path!r} (looked in {data_root / 'skills'})")
        if (folder / "distributed-labels.json").is_file():
            return cls._load_upstream(folder, data_root)
        return cls._load_ours(folder, data_root)

    @classmethod
    def _load_ours(cls, folder: Path, data_root: Path) -> SkillPack:
        name = folder.name
        meta, instructions = _read_skill_md(folder / "SKILL.md", default_name=name)
        rubric_path = _first_file(folder / "rubric.yaml", data_root / "rubrics" / f"{name}.yaml")
        templates_path = _first_file(folder / "templates.json", data_root / "templates" / f"{name}.json")
        return cls(
            meta=meta,
            instructions=instructions,
            labels=tuple(_read_model(folder / "labels.json", _LabelFile).labels),
            templates=_read_model(templates_path, _TemplateFile).templates,
            rubric_text=_read_text(rubric_path),
            rubric_path=rubric_path,
            policy=Policy.load(folder / "policy.yaml"),
            source=folder,
        )

    @classmethod
    def _load_upstream(cls, folder: Path, data_root: Path) -> SkillPack:
        # Upstream folders carry a markdown rubric for the model; the rules engine keeps ours.
        meta, instructions = _read_skill_md(folder / "SKILL.md", default_name=folder.name)
        rubric_md = folder / "distributed-rubric.md"
        policy_path = folder / "policy.yaml"
        if not policy_path.is_file():
            policy_path = data_root / "skills" / "distributed-triage" / "policy.yaml"
        return cls(
            meta=meta,
            instructions=instructions,
            labels=tuple(_read_model(folder / "distributed-labels.json", _LabelFile).labels),
            templates=_read_model(folder / "templates.json", _TemplateFile).templates,
            rubric_text=_read_text(rubric_md) if rubric_md.is_file() else "",
            rubric_path=data_root / "rubrics" / "distributed-triage.yaml",
            policy=Policy.load(policy_path),
            source=folder,
        )


def _first_file(*candidates: Path) -> Path:
    for path in candidates:
        if path.is_file():
            return path
    raise SkillPackError(f"none of these files exists: {', '.join(str(p) for p in candidates)}")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SkillPackError(f"cannot read {path}: {exc.strerror}") from exc


def _read_skill_md(path: Path, *, default_name: str) -> tuple[SkillMeta, str]:
    text = _read_text(path)
    if not text.startswith("---\n"):
        return SkillMeta(name=default_name), text
    head, sep, body = text[4:].partition("\n---")
    if not sep:
        raise SkillPackError(f"{path}: front matter opened with '---' but never closed")
    try:
        raw = yaml.safe_load(head) or {}
        meta = SkillMeta.model_validate({"name": default_name, **raw})
    except (yaml.YAMLError, ValidationError, TypeError) as exc:
        raise SkillPackError(f"{path}: malformed front matter: {exc}") from exc
    return meta, body.lstrip("\n")


def _read_model(path: Path, model: type[_M]) -> _M:
    try:
        return model.model_validate(json.loads(_read_text(path)))
    except json.JSONDecodeError as exc:
        raise SkillPackError(f"{path} is not valid JSON: {exc}") from exc
    except ValidationError as exc:
        raise SkillPackError(f"{path} does not have the expected shape: {exc}") from exc
