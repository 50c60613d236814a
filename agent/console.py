"""How a triage result reads on a terminal."""

from __future__ import annotations

import textwrap

from agent.result import TriageResult

__all__ = ["render"]


def render(result: TriageResult) -> str:
    lines = [f"{result.ref}  engine={result.engine}  status={result.status}"]
    if result.failure:
        lines.append(f"FAILED: {result.failure}")
    if result.plan is not None:
        lines.append(f"decision:   {result.plan.decision} ({result.plan.confidence} confidence)")
    if result.effects is not None:
        effects = result.effects
        lines.append(f"outcome:    {effects.outcome}")
        lines.append(f"add labels: {', '.join(effects.add_labels) if effects.add_labels else '(none)'}")
        lines.append(f"comment:    {', '.join(effects.templates) if effects.templates else '(none)'}")
        if effects.comment:
            lines.extend("  | " + line for line in effects.comment.splitlines())
        lines.extend(f"guard:      {note}" for note in effects.notes)
    lines.extend(f"flagged:    {flag}" for flag in result.flags)
    if result.plan is not None:
        lines.append("reasoning:")
        lines.extend(textwrap.wrap(result.plan.reasoning, width=100, initial_indent="  ", subsequent_indent="  "))
    if result.live_labels is not None:
        lines.append(f"live labels: {', '.join(result.live_labels)}")
    usage = result.usage
    if usage.turns:
        lines.append(
            f"usage:      {usage.turns} turns, {usage.tool_calls} tool calls, tokens in={usage.input_tokens} "
            f"cache-write={usage.cache_creation_input_tokens} cache-read={usage.cache_read_input_tokens} "
            f"out={usage.output_tokens}, ${usage.cost_usd:.4f}"
        )
    lines.append(
        f"time:       {result.seconds:.2f}s" + ("  (dry run: nothing written)" if result.status == "planned" else "")
    )
    return "\n".join(lines)
