"""The agent's one jinja2 environment: prompts, reports and HUD pages all render through it.

A missing variable is an error (`StrictUndefined`), so a renamed field can never turn into an empty
stretch of prompt. Only `.html` templates are autoescaped: prompts and markdown must reach the model
and the reader exactly as written.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2

from agent.skillpack import DATA_ROOT

__all__ = ["TEMPLATE_ROOT", "environment", "render"]

TEMPLATE_ROOT = DATA_ROOT / "templates"


@cache
def environment() -> jinja2.Environment:
    """The configured environment, built once per process."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_ROOT),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm"), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(name: str, /, **context: Any) -> str:
    """Render the template at `name` (relative to templates/) with `context`."""
    return environment().get_template(name).render(**context)
