"""Reading tool arguments the way github-mcp-server reads them, with the same error texts.

The real server takes the raw JSON arguments: numbers may come as numbers or numeric strings, a list
must be a real JSON array, and a wrong type is reported in Go's words. Clients written against the
sandbox therefore meet the same refusals they will meet in production.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "ParamError",
    "go_type",
    "optional_bool",
    "optional_int",
    "optional_str",
    "optional_str_list",
    "pagination",
    "required_int",
    "required_str",
]

Args = dict[str, Any]


class ParamError(ValueError):
    """An argument is missing or has the wrong type; the text is what the real server would answer."""


def go_type(value: object) -> str:
    """The Go type name a decoded JSON value has on the real server (what its `%T` prints)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return type(value).__name__


def _to_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected number, got {go_type(value)}")
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"invalid numeric value: {value}") from None
    else:
        number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValueError("non-finite numeric value")
    if number != math.trunc(number):
        raise ValueError(f"non-integer numeric value: {value}")
    return int(number)


def required_str(args: Args, name: str) -> str:
    if name not in args:
        raise ParamError(f"missing required parameter: {name}")
    value = args[name]
    if not isinstance(value, str):
        raise ParamError(f"parameter {name} is not of type string")
    if not value:
        raise ParamError(f"missing required parameter: {name}")
    return value


def optional_str(args: Args, name: str) -> str:
    if name not in args:
        return ""
    value = args[name]
    if not isinstance(value, str):
        raise ParamError(f"parameter {name} is not of type string, is {go_type(value)}")
    return value


def optional_bool(args: Args, name: str, default: bool) -> bool:
    if name not in args:
        return default
    value = args[name]
    if not isinstance(value, bool):
        raise ParamError(f"parameter {name} is not of type bool, is {go_type(value)}")
    return value


def required_int(args: Args, name: str) -> int:
    if name not in args:
        raise ParamError(f"missing required parameter: {name}")
    try:
        number = _to_int(args[name])
    except ValueError as exc:
        raise ParamError(f"parameter {name} is not a valid number: {exc}") from None
    if number == 0:
        raise ParamError(f"missing required parameter: {name}")
    return number


def optional_int(args: Args, name: str, default: int = 0) -> int:
    """Absent or zero gives `default`, as the real server's helper does."""
    if name not in args:
        return default
    try:
        number = _to_int(args[name])
    except ValueError as exc:
        raise ParamError(f"parameter {name} is not a valid number: {exc}") from None
    return number or default


def optional_str_list(args: Args, name: str) -> tuple[list[str], bool]:
    """The list and whether it was given at all. JSON null counts as not given; a JSON string that
    merely looks like a list (`'["a"]'`) is refused, never parsed."""
    value = args.get(name)
    if value is None:
        return [], False
    if not isinstance(value, list):
        raise ParamError(f"parameter {name} could not be coerced to []string, is {go_type(value)}")
    for item in value:
        if not isinstance(item, str):
            raise ParamError(f"parameter {name} is not of type string, is {go_type(item)}")
    return list(value), True


def pagination(args: Args) -> tuple[int, int]:
    """REST paging: page from 1, perPage 30 by default; GitHub caps a page at 100."""
    page = optional_int(args, "page", 1)
    per_page = optional_int(args, "perPage", 30)
    return max(page, 1), min(max(per_page, 1), 100)
