"""The part of GitHub's issue search syntax the sandbox understands, parsed into a value and matched."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

from agent.sandbox.records import StoredIssue

__all__ = ["SearchQuery", "parse_query"]

# A term is an optional `-`, then `key:"quoted value"`, `key:value`, a "quoted phrase" or a bare word.
_TERM = re.compile(
    r'(?P<neg>-)?(?:(?P<key>[a-zA-Z_-]+):(?:"(?P<qval>[^"]*)"|(?P<val>\S+))|"(?P<phrase>[^"]*)"|(?P<word>\S+))'
)


class SearchQuery(BaseModel):
    """Every part must hold for an issue to match. Each entry of `labels` is a set of alternatives
    (`label:a,b` means a or b); label names are compared whole, ignoring case, as GitHub does."""

    model_config = ConfigDict(frozen=True)

    repos: tuple[str, ...] = ()
    state: str | None = None
    pull_requests: bool = False
    labels: tuple[frozenset[str], ...] = ()
    without_labels: frozenset[str] = frozenset()
    no_labels: bool = False
    authors: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    excluded_text: tuple[str, ...] = ()

    def matches(self, issue: StoredIssue) -> bool:
        if self.pull_requests:
            return False  # the sandbox holds issues only
        if self.repos and issue.repo.casefold() not in self.repos:
            return False
        if self.state is not None and issue.state != self.state:
            return False
        carried = {label.casefold() for label in issue.labels}
        if any(not (alternatives & carried) for alternatives in self.labels):
            return False
        if self.without_labels & carried or (self.no_labels and carried):
            return False
        if self.authors and issue.author.casefold() not in self.authors:
            return False
        haystack = f"{issue.title}\n{issue.body}".casefold()
        return all(word in haystack for word in self.text) and not any(w in haystack for w in self.excluded_text)


def parse_query(query: str) -> SearchQuery:
    """Read qualifiers `repo:`, `is:`/`state:`, `label:`, `-label:`, `no:label`, `author:` and free words.
    An unknown qualifier is searched for as text, which (as on GitHub) usually matches nothing."""
    repos: list[str] = []
    labels: list[frozenset[str]] = []
    without: set[str] = set()
    authors: list[str] = []
    text: list[str] = []
    excluded: list[str] = []
    state: str | None = None
    pull_requests = no_labels = False
    for term in _TERM.finditer(query):
        negated = term["neg"] is not None
        key = (term["key"] or "").casefold()
        value = term["qval"] if term["qval"] is not None else term["val"]
        if not key:
            words = (term["phrase"] if term["phrase"] is not None else term["word"] or "").casefold()
            if words:
                (excluded if negated else text).append(words)
            continue
        assert value is not None  # a key always comes with a value in the pattern
        folded = value.casefold()
        quoted = term["qval"] is not None
        names = frozenset([folded] if quoted else [part for part in folded.split(",") if part])
        if key == "repo":
            repos.append(folded)
        elif key in ("is", "state") and folded in ("open", "closed"):
            state = folded
        elif key == "is" and folded in ("pr", "pull-request"):
            pull_requests = True
        elif key in ("is", "type") and folded == "issue":
            continue
        elif key == "label" and negated:
            without |= names
        elif key == "label":
            labels.append(names)
        elif key == "no" and folded == "label":
            no_labels = True
        elif key == "author":
            authors.append(folded)
        else:
            (excluded if negated else text).append(f"{key}:{folded}")
    return SearchQuery(
        repos=tuple(repos),
        state=state,
        pull_requests=pull_requests,
        labels=tuple(labels),
        without_labels=frozenset(without),
        no_labels=no_labels,
        authors=tuple(authors),
        text=tuple(text),
        excluded_text=tuple(excluded),
    )
