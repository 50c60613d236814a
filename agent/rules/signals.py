"""Finding rubric terms in an issue: phrases and APIs in text, import prefixes, stack-frame paths.

A `Hit` says which rubric owner (a module label, a route, or the generic markers) a term belongs to,
where it was found and how much that place counts. Negated mentions ("not using DDP") are dropped
and reported separately.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from agent.rules.rubric import Channel, Negation, Rubric, SignalSet, Term
from agent.rules.text import IssueText, Segment

__all__ = ["MARKERS", "Hit", "Kind", "Signals", "route_owner"]

Kind = Literal["phrase", "api", "import", "frame", "label"]
MARKERS = "distributed markers"
_ALL_CHANNELS: tuple[Channel, ...] = ("title", "prose", "code")
_CLAUSE_END = re.compile(r"[.;:!?\n]|\bbut\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.;:!?\n]")
_TOKEN = re.compile(r"[\w'./+\-]+")


def route_owner(route: str) -> str:
    return f"route: {route}"


@dataclass(frozen=True, slots=True)
class Hit:
    owner: str
    term: Term
    kind: Kind
    channel: str
    source: str

    def describe(self) -> str:
        where = {"root_frame": "innermost frame", "import": "import", "frame": "frame", "label": "label"}
        return f"{where.get(self.channel, self.channel)} '{self.term.text}'"


@lru_cache(maxsize=4096)
def _phrase(text: str, whole: bool = False) -> re.Pattern[str]:
    anchored = text.startswith("^")
    body = text[1:] if anchored else text
    special = {" ": r"[\s_\-]*", "*": r"\w*", "#": r"\d+"}
    core = "".join(special.get(ch, re.escape(ch)) for ch in body)
    # Underscores separate words in phrases: "allgather_coalesced" mentions allgather. A phrase that
    # is itself an identifier (it has an underscore) is one whole name: get_state_dict is not
    # get_state_dict_type, nor is world_size get_world_size.
    edge = r"\w" if whole or "_" in body else r"[^\W_]"
    head = r"^\s*(?:\[[^\]\n]*\]\s*)*" if anchored else (rf"(?<!{edge})" if re.match(r"[\w#]", body) else "")
    tail = rf"(?!{edge})" if re.search(r"[\w*]$", body) else ""
    return re.compile(head + core + tail, re.IGNORECASE | re.MULTILINE)


@lru_cache(maxsize=4096)
def _api(text: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(text)}(?!\w)")


def _channel(segment: Segment) -> Channel:
    return "title" if segment.source == "title" else "prose" if segment.kind == "prose" else "code"


class Signals:
    """The rubric's terms, ready to search one issue at a time."""

    def __init__(self, rubric: Rubric) -> None:
        self.rubric = rubric
        self._owners: list[tuple[str, SignalSet]] = [(m.label, m.signals) for m in rubric.modules]
        self._owners += [(route_owner(key), sset) for key, sset in rubric.routing.signals.items()]
        self._owners.append((MARKERS, rubric.not_distributed.markers))
        self._negation = rubric.negation

    # -- text terms -------------------------------------------------------------------------------

    def find(self, term: Term, text: IssueText, *, kind: Kind = "phrase") -> Iterator[tuple[Segment, bool]]:
        """Each (segment, negated) where `term` occurs in a channel it may count in."""
        for segment, _, _, negated in self._spans(term, text, kind):
            yield segment, negated

    def _spans(self, term: Term, text: IssueText, kind: Kind) -> Iterator[tuple[Segment, int, int, bool]]:
        channels = term.channels or _ALL_CHANNELS
        pattern = _phrase(term.text, term.whole) if kind == "phrase" else _api(term.text)
        for segment in text.segments:
            channel = _channel(segment)
            if channel not in channels:
                continue
            for match in pattern.finditer(segment.text):
                negated = channel != "code" and _negated(segment.text, match.start(), self._negation)
                yield segment, match.start(), match.end(), negated

    def any_of(self, terms: Sequence[Term], text: IssueText) -> list[str]:
        """The texts of `terms` that occur un-negated somewhere in `text`."""
        return [t.text for t in terms if any(not neg for _, neg in self.find(t, text))]

    # -- all owners -------------------------------------------------------------------------------

    def hits(self, text: IssueText) -> tuple[list[Hit], list[str]]:
        """Every un-negated hit of every owner, and the term texts that were found only negated.

        One stretch of text is one mention: where several terms of the same owner match overlapping
        text ("DTensor" as a name and as a word, "fully sharded" inside "fully sharded data
        parallel"), only the heaviest (then the longest) counts.
        """
        hits: list[Hit] = []
        negated: set[str] = set()
        for owner, sset in self._owners:
            matches: list[tuple[Segment, int, int, bool, Term, Kind]] = []
            pairs: tuple[tuple[Kind, tuple[Term, ...]], ...] = (("phrase", sset.phrases), ("api", sset.apis))
            for kind, terms in pairs:
                for term in terms:
                    matches += [(seg, a, b, neg, term, kind) for seg, a, b, neg in self._spans(term, text, kind)]
            matches.sort(key=lambda m: (-m[4].weight, m[1] - m[2]))
            taken: dict[int, list[tuple[int, int]]] = defaultdict(list)
            for segment, start, end, neg, term, kind in matches:
                spans = taken[id(segment)]
                if any(start < b and a < end for a, b in spans):
                    continue
                spans.append((start, end))
                if neg:
                    negated.add(term.text)
                else:
                    hits.append(Hit(owner, term, kind, _channel(segment), segment.source))
        hits += self._import_hits(text)
        hits += self._frame_hits(text)
        found = {h.term.text for h in hits if h.kind in ("phrase", "api")}
        return hits, sorted(negated - found)

    def _longest(self, candidate: str, kind: Literal["imports", "frames"]) -> list[tuple[str, Term]]:
        best: list[tuple[str, Term]] = []
        best_len = 0
        for owner, sset in self._owners:
            for term in getattr(sset, kind):
                if kind == "imports":
                    ok = candidate == term.text or candidate.startswith(term.text + ".")
                else:
                    ok = term.text in candidate
                if not ok or len(term.text) < best_len:
                    continue
                if len(term.text) > best_len:
                    best, best_len = [], len(term.text)
                best.append((owner, term))
        return best

    def _import_hits(self, text: IssueText) -> Iterator[Hit]:
        for line in text.imports:
            seen: set[tuple[str, str]] = set()
            for path in line.paths:
                for owner, term in self._longest(path, "imports"):
                    if (owner, term.text) not in seen:
                        seen.add((owner, term.text))
                        yield Hit(owner, term, "import", "import", line.source)

    def _frame_hits(self, text: IssueText) -> Iterator[Hit]:
        matched = [(frame, self._longest(frame.path, "frames")) for frame in text.frames]
        last_in_group: dict[int, int] = {}
        for index, (frame, owners) in enumerate(matched):
            if owners and not frame.link:
                last_in_group[frame.group] = index
        roots = set(last_in_group.values())
        for index, (frame, owners) in enumerate(matched):
            channel = "root_frame" if index in roots else "frame"
            for owner, term in owners:
                yield Hit(owner, term, "frame", channel, frame.source)


def _negated(text: str, start: int, negation: Negation) -> bool:
    """Whether a cue ("not using", "without") governs the term starting at `start`."""
    before = text[max(0, start - 200) : start].replace("’", "'")
    clause = _CLAUSE_END.split(before)[-1]
    tokens = _TOKEN.findall(clause)
    fillers = {f.lower() for f in negation.fillers}
    cues = [tuple(c.lower().split()) for c in negation.cues]
    for between in range(min(negation.window, len(tokens)) + 1):
        gap = tokens[len(tokens) - between :]
        if not all(t.lower() in fillers or _is_name(t) for t in gap):
            break
        before_gap = [t.lower() for t in tokens[: len(tokens) - between]]
        for cue in cues:
            if len(before_gap) >= len(cue) and tuple(before_gap[-len(cue) :]) == cue:
                sentence = _TOKEN.findall(_SENTENCE_END.split(before)[-1])
                earlier = sentence[: len(sentence) - between - len(cue)]
                return not _contrast(" ".join(cue), earlier, negation)
    return False


def _contrast(cue: str, earlier: list[str], negation: Negation) -> bool:
    """Whether a contrast cue follows a success in its sentence: "works with DDP but not with FSDP"."""
    if cue not in {c.lower() for c in negation.contrast_cues}:
        return False
    return bool({t.lower() for t in earlier} & {w.lower() for w in negation.success})


def _is_name(token: str) -> bool:
    """A token that names something (FSDP, torch.compile, DTensor) rather than an ordinary word."""
    return any(c.isupper() or c.isdigit() or c in "_./" for c in token)
