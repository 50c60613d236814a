"""An issue split into the parts the rules weigh differently: title, prose, code, frames and imports.

Pure parsing, no rubric terms: what counts as a heading to skip or a line to ignore comes in as
`TextFilters`. Comments by the bot itself are left out, so the bot never reads its own templates
back as evidence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from agent.models import IssueSnapshot
from agent.rules.rubric import TextFilters

__all__ = ["Frame", "ImportLine", "IssueText", "Segment", "Source", "read_issue"]

Source = Literal["title", "body", "comment"]
Kind = Literal["prose", "code"]


@dataclass(frozen=True, slots=True)
class Segment:
    source: Source
    kind: Kind
    text: str


@dataclass(frozen=True, slots=True)
class Frame:
    """One stack frame; `group` numbers the traceback it belongs to, frames in call order.

    A `link` is a reporter's link to a line of PyTorch source: it points at code, but it is not
    where anything failed, so it is never the innermost frame.
    """

    path: str
    group: int
    source: Source
    link: bool = False


@dataclass(frozen=True, slots=True)
class ImportLine:
    """An import statement: the module and the names it pulls in (as candidate dotted paths)."""

    paths: tuple[str, ...]
    source: Source


@dataclass(frozen=True, slots=True)
class IssueText:
    segments: tuple[Segment, ...]
    frames: tuple[Frame, ...]
    imports: tuple[ImportLine, ...]
    code_lines: int
    commenters: int
    has_traceback: bool

    def of(
        self, *, sources: Iterable[Source] = ("title", "body", "comment"), kind: Kind | None = None
    ) -> Iterator[Segment]:
        wanted = set(sources)
        return (s for s in self.segments if s.source in wanted and (kind is None or s.kind == kind))


_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*(?P<title>.*?)\s*#*\s*$")
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_ENV_START = re.compile(r"collecting environment information", re.IGNORECASE)
_PY_FRAME = re.compile(r'File "(?P<path>[^"\n]+)", line \d+')
_CPP_FRAME = re.compile(
    r"(?P<path>(?:[\w.\-]+/)*torch/csrc/distributed/[\w/.\-]+?\.(?:cpp|cc|cu|cuh|h|hpp))\"?:(?P<line>\d+)(?![:\d])"
)
# A source location outside the `File "..."` form: rich tracebacks, warnings, log prefixes.
_PATH_LINE = re.compile(r'(?<![\w"/.])(?P<path>(?:[\w.\-~]+)?(?:/[\w.\-]+)+\.py):\d+\b')
# A link to a line of PyTorch's own source: the reporter pointing at where the problem lives.
_SOURCE_LINK = re.compile(
    r"github\.com/pytorch/pytorch/blob/[\w.\-]+/(?P<path>torch/[\w/.\-]+?\.(?:py|cpp|cc|cu|h|hpp))"
)
_TRACEBACK_START = re.compile(r"Traceback \(most recent call last\)|During handling of|The above exception")
_FROM_IMPORT = re.compile(r"^\s*(?:>>>\s*)?from\s+(?P<module>[A-Za-z_][\w.]*)\s+import\s+\(?(?P<names>[\w\s,]+)")
_IMPORT = re.compile(
    r"^\s*(?:>>>\s*)?import\s+(?P<modules>[A-Za-z_][\w.]*(?:\s+as\s+\w+)?(?:\s*,\s*[A-Za-z_][\w.]*(?:\s+as\s+\w+)?)*)"
)
# Lines that look like source or a launch command: what a reproduction is made of.
_SOURCE = re.compile(
    r"^\s*(?:>>>\s*|\$\s*)?(?:import\s|from\s+\S+\s+import\s|def\s|class\s|@\w|for\s.+:|while\s.+:|if\s.+:|"
    r"with\s.+:|return\b|print\(|\w[\w.\[\]'\"]*\s*[+\-*/]?=(?!=)|\w[\w.]*\(.*\)\s*$|"
    r"(?:python3?|torchrun|srun|mpirun|deepspeed|accelerate|bash|sh)\s)"
)
_LOG = re.compile(
    r"^\s*(?:\[rank\d*\]:?\s*)?(?:File \"|Traceback|\^+|\w*(?:Error|Exception|Warning)\b|During handling|"
    r"The above exception|frame #\d|\d{4}-\d\d-\d\d|\[?[WEI]\d{4}|NCCL INFO|INFO|WARNING|ERROR)"
)
# An unfenced line that is still code: source, a prompt, a traceback line, or indented markdown code.
_CODE_LIKE = re.compile(r"^(?: {4}|\t)\S|^\s*(?:>>>|Traceback \(|File \")")


def _clean(text: str, hide: tuple[re.Pattern[str], ...]) -> str:
    text = _HTML_COMMENT.sub(" ", text.replace("\r\n", "\n"))
    for pattern in hide:
        text = pattern.sub(" ", text)
    return text


def _section_skipped(title: str, filters: TextFilters) -> bool:
    words = re.sub(r"[^\w\s]", " ", title).strip().lower()
    return any(words.startswith(name.lower()) for name in filters.ignore_sections)


def _kept_lines(text: str, filters: TextFilters, ignore: tuple[re.Pattern[str], ...]) -> Iterator[tuple[str, bool]]:
    """Yield (line, fenced) for lines that can be evidence; env sections and ignored lines dropped."""
    skipping_section = skipping_env = fenced = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
            if not fenced:
                skipping_env = False
            continue
        if not fenced:
            heading = _HEADING.match(line)
            if heading:
                skipping_section = _section_skipped(heading["title"], filters)
                skipping_env = False
                if not skipping_section:
                    yield heading["title"], False
                continue
        if _ENV_START.search(line):
            skipping_env = True
        if skipping_section or skipping_env or any(p.search(line) for p in ignore):
            continue
        yield line, fenced


def _segments(text: str, source: Source, filters: TextFilters, ignore: tuple[re.Pattern[str], ...]) -> list[Segment]:
    segments: list[Segment] = []
    kind: Kind | None = None
    lines: list[str] = []
    for line, fenced in _kept_lines(text, filters, ignore):
        code = fenced or _CODE_LIKE.match(line) or _IMPORT.match(line) or _FROM_IMPORT.match(line)
        this: Kind = "code" if code else "prose"
        if kind is not None and this != kind:
            segments.append(Segment(source, kind, "\n".join(lines)))
            lines = []
        kind = this
        lines.append(line.replace("`", "") if this == "prose" else line)
    if kind is not None and lines:
        segments.append(Segment(source, kind, "\n".join(lines)))
    return [s for s in segments if s.text.strip()]


def _frames(segments: Iterable[Segment], start_group: int) -> tuple[list[Frame], int, bool]:
    frames: list[Frame] = []
    group = start_group
    seen_traceback = False
    for segment in segments:
        group += 1
        for line in segment.text.split("\n"):
            if _TRACEBACK_START.search(line):
                group += 1
                seen_traceback = True
            python = [m["path"] for m in _PY_FRAME.finditer(line)]
            seen_traceback = seen_traceback or bool(python)
            if not python and segment.kind == "code":
                python = [m["path"] for m in _PATH_LINE.finditer(line)]
            frames += [Frame(path.replace("\\", "/"), group, segment.source) for path in python]
            frames += [Frame(m["path"], group, segment.source, link=True) for m in _SOURCE_LINK.finditer(line)]
            for match in _CPP_FRAME.finditer(line):
                # A C++ location in an error message is where the error was raised: its own traceback.
                group += 1
                frames.append(Frame(match["path"].replace("\\", "/"), group, segment.source))
                group += 1
    return frames, group, seen_traceback


def _imports(segments: Iterable[Segment]) -> list[ImportLine]:
    found: list[ImportLine] = []
    for segment in segments:
        for line in segment.text.split("\n"):
            match = _FROM_IMPORT.match(line)
            if match:
                module = match["module"]
                names = [n.split()[0] for n in match["names"].split(",") if n.split()]
                found.append(ImportLine((module, *(f"{module}.{n}" for n in names)), segment.source))
                continue
            match = _IMPORT.match(line)
            if match:
                found.extend(ImportLine((part.split()[0],), segment.source) for part in match["modules"].split(","))
    return found


def _code_lines(segments: Iterable[Segment]) -> int:
    count = 0
    for segment in segments:
        if segment.kind != "code":
            continue
        after_frame = False
        for line in segment.text.split("\n"):
            # A traceback echoes the source line under each frame; that is not code anyone wrote down.
            if _SOURCE.match(line) and not _LOG.match(line) and not after_frame:
                count += 1
            after_frame = bool(_PY_FRAME.search(line))
    return count


def read_issue(
    snapshot: IssueSnapshot,
    filters: TextFilters,
    *,
    hide: Iterable[str] = (),
    is_bot: Callable[[str], bool] | None = None,
) -> IssueText:
    """Split `snapshot` into weighted parts. `hide` lists phrases (label names) that are never evidence."""
    hidden = tuple(re.compile(re.escape(h), re.IGNORECASE) for h in sorted(set(hide), key=len, reverse=True) if h)
    ignore = tuple(re.compile(p, re.IGNORECASE) for p in filters.ignore_lines)
    segments: list[Segment] = []
    title = _clean(snapshot.title, hidden).replace("`", "").strip()
    if title:
        segments.append(Segment("title", "prose", title))
    segments += _segments(_clean(snapshot.body or "", hidden), "body", filters, ignore)
    human = [c for c in snapshot.comments if is_bot is None or not is_bot(c.author)]
    for comment in human:
        segments += _segments(_clean(comment.body, hidden), "comment", filters, ignore)
    frames, _, traceback = _frames(segments, 0)
    commenters = {c.author for c in human if c.author != snapshot.author}
    return IssueText(
        segments=tuple(segments),
        frames=tuple(frames),
        imports=tuple(_imports(segments)),
        code_lines=_code_lines(segments),
        commenters=len(commenters),
        has_traceback=traceback,
    )
