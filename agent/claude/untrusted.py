"""Issue text is data from strangers: make what GitHub hides visible, and flag what imitates us.

`inspect_untrusted` is pure. It returns the text the model should see (hidden HTML comments and
invisible characters spelled out in brackets) and the findings, so the prompt can name them instead of
passing them on silently. It never drops text: a human reading the transcript sees what the model saw.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Finding", "FindingKind", "Inspection", "inspect_untrusted"]

FindingKind = Literal[
    "hidden_html_comment",
    "invisible_character",
    "bidi_control",
    "hidden_tag_text",
    "fake_tool_output",
    "fake_system_prompt",
    "instruction_override",
    "delimiter_spoof",
]


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: FindingKind
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.detail}"


class Inspection(BaseModel):
    """Text ready to show the model, and what was found hidden or imitated in its untrusted parts."""

    model_config = ConfigDict(frozen=True)

    text: str
    findings: tuple[Finding, ...] = ()


_HTML_COMMENT = re.compile(r"<!--(?P<inner>.*?)(?:-->|\Z)", re.DOTALL)
_OUR_MARKER = re.compile(r"<!--\s*distributed-triage:(?P<key>[A-Za-z0-9_.-]+)\s*-->")
_INVISIBLE = frozenset(
    "\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff"
)
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_TAG_RUN = re.compile("[\U000e0000-\U000e007f]+")

_PATTERNS: tuple[tuple[FindingKind, re.Pattern[str]], ...] = (
    (
        "fake_tool_output",
        re.compile(
            r"</?(?:tool_result|tool_use|function_results|function_calls|invoke|antml:[a-z_]+)\b"
            r"|\"type\"\s*:\s*\"tool_(?:result|use)\"|\btool_use_id\b|\bsubmit_plan\b"
            r"|^\s*\[?(?:tool (?:output|result)|function result)\]?\s*:",
            re.IGNORECASE | re.MULTILINE,
        ),
    ),
    (
        "fake_system_prompt",
        re.compile(
            r"</?system(?:[-_ ]prompt)?>|<\|(?:im_start|im_end|system|endoftext)\|>|\[/?INST\]|<<SYS>>"
            r"|^\s*(?:#+\s*)?(?:system|assistant|human|developer)\s*(?:prompt|message)?\s*:",
            re.IGNORECASE | re.MULTILINE,
        ),
    ),
    (
        "instruction_override",
        re.compile(
            r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|your\s+)*"
            r"(?:previous|prior|above|earlier|system|original)\s+(?:instructions|prompts?|rules)"
            r"|\byou are now\b|\bnew instructions\s*:|\b(?:admin|developer|maintainer)\s+override\b",
            re.IGNORECASE,
        ),
    ),
    ("delimiter_spoof", re.compile(r"</?\s*(?:issue_data|untrusted|issue_comment|issue_body)\b", re.IGNORECASE)),
)

_IMITATES: dict[FindingKind, str] = {
    "fake_tool_output": "tool calls or tool output",
    "fake_system_prompt": "a system prompt or a chat role",
    "instruction_override": "an attempt to override instructions",
    "delimiter_spoof": "this bot's data delimiters",
}


def _clip(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _char_name(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'UNNAMED')}"


def _reveal_comments(text: str, where: str, findings: list[Finding]) -> str:
    def replace(match: re.Match[str]) -> str:
        ours = _OUR_MARKER.fullmatch(match.group(0))
        if ours:
            return f"[bot template marker: {ours['key']}]"
        inner = match["inner"].strip()
        unclosed = not match.group(0).endswith("-->")
        detail = f"{'unclosed (hides the rest of the text) ' if unclosed else ''}{_clip(inner)!r}"
        findings.append(Finding(kind="hidden_html_comment", where=where, detail=detail))
        return f"[hidden HTML comment: {inner}]"

    return _HTML_COMMENT.sub(replace, text)


def _reveal_characters(text: str, where: str, findings: list[Finding]) -> str:
    def tag_text(match: re.Match[str]) -> str:
        decoded = "".join(chr(ord(c) - 0xE0000) for c in match.group(0) if 0x20 <= ord(c) - 0xE0000 < 0x7F)
        findings.append(
            Finding(kind="hidden_tag_text", where=where, detail=f"invisible tag characters spell {decoded!r}")
        )
        return f"[hidden tag text: {decoded}]"

    text = _TAG_RUN.sub(tag_text, text)
    seen: dict[str, FindingKind] = {}
    out: list[str] = []
    for char in text:
        kind: FindingKind | None = (
            "invisible_character" if char in _INVISIBLE else "bidi_control" if char in _BIDI else None
        )
        if kind is None:
            out.append(char)
            continue
        seen.setdefault(char, kind)
        out.append(f"[{_char_name(char)}]")
    for char, kind in seen.items():
        count = text.count(char)
        findings.append(Finding(kind=kind, where=where, detail=f"{count} × {_char_name(char)}"))
    return "".join(out)


def inspect_untrusted(text: str, *, where: str = "text") -> Inspection:
    """Reveal hidden content in `text` and flag imitations of tool output, prompts and our delimiters."""
    findings: list[Finding] = []
    visible = _reveal_characters(_reveal_comments(text, where, findings), where, findings)
    for kind, pattern in _PATTERNS:
        hits = [m.group(0) for m in pattern.finditer(visible)]
        if hits:
            shown = ", ".join(repr(_clip(h, 40)) for h in dict.fromkeys(hits))
            findings.append(Finding(kind=kind, where=where, detail=f"looks like {_IMITATES[kind]}: {shown}"))
    return Inspection(text=visible, findings=tuple(findings))
