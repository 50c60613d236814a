"""Loading a pydantic model from a YAML file, with errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

__all__ = ["field_errors", "load_yaml_model"]

_M = TypeVar("_M", bound=BaseModel)


def field_errors(error: ValidationError, *, root: str = "<root>") -> str:
    """`a.b: message; c: message`, the form every validation error of the project is reported in;
    `root` names the whole value when the error is about it rather than a field."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or root}: {e['msg']}" for e in error.errors())


def load_yaml_model(path: Path, model: type[_M], *, what: str, error: type[ValueError]) -> _M:
    """Read `path` as `model`; every failure is an `error` whose message starts with `what` and the path."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise error(f"{what} {path} must be a mapping of settings")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(f"{what} {path} is invalid: {field_errors(exc)}") from exc
