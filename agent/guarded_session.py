"""The only way the bot reaches GitHub: an MCP session held to one issue and to the skill's rules.

A model's tool calls go through `GuardedSession.call_tool`, which answers anything it may not do with an
error result the model can read, and never raises for what a model sends. The trusted applier uses
`read()` and `apply(effects)`. GitHub's `issue_write` replaces the whole label set, so every label
write here is the union of what it adds and the labels live on the issue when it is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, JsonValue, TypeAdapter, ValidationError

from agent.arguments import ArgumentError, as_issue_number, as_label_list, as_page, as_text, scope_query
from agent.comments import match_template_body, posted_by_bot, render_comment
from agent.github import GitHubError, ToolCaller, classify, read_snapshot
from agent.guard import GuardRules, screen_labels
from agent.models import Effects, IssueRef, IssueSnapshot, Note
from agent.skillpack import SkillPack

__all__ = ["READ_TOOLS", "WRITE_TOOLS", "GuardViolation", "GuardedSession", "ToolCallRecord"]

READ_TOOLS = ("issue_read", "search_issues", "list_issues")
WRITE_TOOLS = ("issue_write", "add_issue_comment")
_READ_METHODS = ("get", "get_comments", "get_labels")
_VALUE: TypeAdapter[JsonValue] = TypeAdapter(JsonValue)


class GuardViolation(ValueError):
    """Trusted code asked the session for something the policy forbids: a bug, not a model's mistake."""


class ToolCallRecord(BaseModel):
    """One call through the session, allowed or not, as the audit log stores it."""

    model_config = ConfigDict(frozen=True)

    tool: str
    arguments: dict[str, JsonValue]
    allowed: bool
    reason: str
    origin: Literal["model", "trusted"] = "model"
    sent: dict[str, JsonValue] | None = None
    dry_run: bool = False


class _Refused(Exception):
    """A model's call the guard will not make; the message is what the model reads."""


def _raise_for(result: CallToolResult, tool: str) -> None:
    failure = classify(result)
    if failure is not None:
        raise GitHubError.from_failure(tool, failure)


def _answer(text: str, *, error: bool = False) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=error)


def _json_safe(arguments: object) -> dict[str, JsonValue]:
    if not isinstance(arguments, Mapping):
        return {"<arguments>": repr(arguments)}
    safe: dict[str, JsonValue] = {}
    for key, value in arguments.items():
        try:
            safe[str(key)] = _VALUE.validate_python(value)
        except ValidationError:
            safe[str(key)] = repr(value)
    return safe


class _Recorder:
    """The caller as trusted code sees it: every call is recorded, nothing is filtered."""

    def __init__(self, session: GuardedSession) -> None:
        self._session = session

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
        return await self._session._send(name, arguments or {}, origin="trusted", reason="trusted read")


class GuardedSession:
    """Tool calls on behalf of one issue (`ref`), held to the rules of `pack`."""

    def __init__(self, caller: ToolCaller, ref: IssueRef, pack: SkillPack, *, dry_run: bool = False) -> None:
        self.caller = caller
        self.ref = ref
        self.pack = pack
        self.rules = GuardRules.from_pack(pack)
        self.dry_run = dry_run
        self.records: list[ToolCallRecord] = []
        self._posted: set[str] = set()

    @property
    def wrote(self) -> bool:
        """Whether a model's write reached GitHub through this session."""
        return any(r.origin == "model" and r.sent is not None and r.tool in WRITE_TOOLS for r in self.records)

    # -- the model's door ---------------------------------------------------------------------------

    async def call_tool(self, name: str, arguments: object = None) -> CallToolResult:
        """Run a model's tool call under the policy. Refusals and GitHub failures are error results."""
        received = _json_safe(arguments if arguments is not None else {})
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, Mapping):
            return self._refuse(name, received, "the arguments must be a JSON object")
        args = {str(key): value for key, value in arguments.items()}
        handler = {
            "issue_read": self._issue_read,
            "search_issues": self._search_issues,
            "list_issues": self._list_issues,
            "issue_write": self._issue_write,
            "add_issue_comment": self._add_issue_comment,
        }.get(name)
        if handler is None:
            return self._refuse(name, received, self._unknown_tool(name))
        try:
            return await handler(args, received)
        except (_Refused, ArgumentError) as refusal:
            return self._refuse(name, received, str(refusal))
        except GitHubError as failure:
            self._record(name, received, allowed=True, reason=f"GitHub failed: {failure}")
            return _answer(f"GitHub could not complete {name}: {failure}. You may retry.", error=True)

    def _unknown_tool(self, name: str) -> str:
        hints = {
            "label_write": "label_write edits the repository's label definitions, never allowed here;"
            " add labels to this issue with issue_write (method update, labels only)",
            "sub_issue_write": "sub-issues are not part of triage",
            "get_issue": "this server names it issue_read (method get)",
            "get_issue_comments": "this server names it issue_read (method get_comments)",
            "update_issue": "this server names it issue_write (method update, labels only)",
        }
        allowed = ", ".join((*READ_TOOLS, *WRITE_TOOLS))
        return f"{hints.get(name, f'{name!r} is not available to the triage bot')}. Tools you may call: {allowed}."

    def _refuse(self, tool: str, received: dict[str, JsonValue], why: str) -> CallToolResult:
        self._record(tool, received, allowed=False, reason=why)
        return _answer(f"Refused by the triage guard: {why}", error=True)

    def _record(
        self,
        tool: str,
        received: dict[str, JsonValue],
        *,
        allowed: bool,
        reason: str,
        sent: dict[str, Any] | None = None,
        origin: Literal["model", "trusted"] = "model",
    ) -> None:
        record = ToolCallRecord(
            tool=tool,
            arguments=received,
            allowed=allowed,
            reason=reason,
            origin=origin,
            sent=None if sent is None else _json_safe(sent),
            dry_run=self.dry_run and tool in WRITE_TOOLS,
        )
        self.records.append(record)

    async def _send(
        self,
        tool: str,
        sent: dict[str, Any],
        *,
        origin: Literal["model", "trusted"],
        reason: str,
        received: dict[str, JsonValue] | None = None,
    ) -> CallToolResult:
        """Forward one call (a write in a dry run is only recorded) and record it."""
        if self.dry_run and tool in WRITE_TOOLS:
            self._record(tool, received or _json_safe(sent), allowed=True, reason=f"dry run: {reason}", origin=origin)
            return _answer(f"Dry run: not sent. {reason}")
        self._record(tool, received or _json_safe(sent), allowed=True, reason=reason, sent=sent, origin=origin)
        return await self.caller.call_tool(tool, sent)

    def _target(self, args: dict[str, Any], *, with_number: bool) -> dict[str, Any]:
        """Pop owner/repo (and issue_number) and check they name the target issue; missing ones default to it."""
        owner, repo = args.pop("owner", self.ref.owner), args.pop("repo", self.ref.repo)
        if not isinstance(owner, str) or not isinstance(repo, str):
            raise _Refused("owner and repo must be strings")
        if (owner.casefold(), repo.casefold()) != (self.ref.owner.casefold(), self.ref.repo.casefold()):
            raise _Refused(f"only {self.ref.full_repo} may be used in this run, not {owner}/{repo}")
        target: dict[str, Any] = {"owner": self.ref.owner, "repo": self.ref.repo}
        if with_number:
            if "issue_number" not in args:
                raise _Refused(f"issue_number is required; this run works on issue {self.ref.number}")
            number = as_issue_number(args.pop("issue_number"), "issue_number")
            if number != self.ref.number:
                raise _Refused(f"only issue {self.ref} may be read or changed in this run, not #{number}")
            target["issue_number"] = number
        return target

    @staticmethod
    def _no_extras(args: dict[str, Any], tool: str) -> None:
        if args:
            raise _Refused(f"{tool} does not accept {', '.join(sorted(map(str, args)))} here")

    async def _issue_read(self, args: dict[str, Any], received: dict[str, JsonValue]) -> CallToolResult:
        sent = self._target(args, with_number=True)
        method = args.pop("method", None)
        if method not in _READ_METHODS:
            raise _Refused(f"issue_read method must be one of {', '.join(_READ_METHODS)}; got {method!r}")
        sent["method"] = method
        for key in ("page", "perPage"):
            if key in args:
                sent[key] = as_page(args.pop(key), key)
        self._no_extras(args, "issue_read")
        reason = "read of the target issue"
        return await self._send("issue_read", sent, origin="model", reason=reason, received=received)

    async def _search_issues(self, args: dict[str, Any], received: dict[str, JsonValue]) -> CallToolResult:
        self._target(args, with_number=False)
        if "query" not in args:
            raise _Refused("search_issues needs a query")
        sent: dict[str, Any] = {"query": scope_query(as_text(args.pop("query"), "query"), self.ref)}
        for key in ("sort", "order"):
            if key in args:
                sent[key] = as_text(args.pop(key), key)
        for key in ("page", "perPage"):
            if key in args:
                sent[key] = as_page(args.pop(key), key)
        if "fields" in args:
            sent["fields"] = as_label_list(args.pop("fields"), "fields")
        self._no_extras(args, "search_issues")
        reason = f"search scoped to {self.ref.full_repo}"
        return await self._send("search_issues", sent, origin="model", reason=reason, received=received)

    async def _list_issues(self, args: dict[str, Any], received: dict[str, JsonValue]) -> CallToolResult:
        sent = self._target(args, with_number=False)
        for key in ("state", "orderBy", "direction", "since", "after"):
            if key in args:
                sent[key] = as_text(args.pop(key), key)
        if "perPage" in args:
            sent["perPage"] = as_page(args.pop("perPage"), "perPage")
        for key in ("labels", "fields"):
            if key in args:
                sent[key] = as_label_list(args.pop(key), key)
        self._no_extras(args, "list_issues")
        reason = f"listing of {self.ref.full_repo}"
        return await self._send("list_issues", sent, origin="model", reason=reason, received=received)

    async def _issue_write(self, args: dict[str, Any], received: dict[str, JsonValue]) -> CallToolResult:
        method = args.pop("method", None)
        if method != "update":
            raise _Refused(f"issue_write may only use method 'update' on {self.ref}; got {method!r}")
        target = self._target(args, with_number=True)
        if "labels" not in args:
            raise _Refused("issue_write needs labels: the labels to add (nothing else may be changed)")
        requested = as_label_list(args.pop("labels"), "labels")
        if args:
            raise _Refused(
                f"issue_write may only add labels; {', '.join(sorted(map(str, args)))} cannot be changed by the bot"
            )
        live = await read_snapshot(_Recorder(self), self.ref)
        policy = self.rules.policy
        if policy.queue_label not in live.labels:
            raise _Refused(f"{self.ref} does not carry {policy.queue_label!r}; the bot leaves it alone")
        screen = screen_labels(requested, live.labels, self.rules)
        notes = list(screen.notes)
        new = list(screen.new(live.labels))
        if screen.wants_review and policy.review_label not in live.labels and policy.review_label not in new:
            new.append(policy.review_label)
        final = {*live.labels, *new}
        blockers = [label for label in policy.forbid_confident_with if label in final]
        if policy.confident_label in new and blockers:
            new.remove(policy.confident_label)
            detail = f"dropped {policy.confident_label!r}: the issue carries {blockers}"
            notes.append(Note(rule="confident", detail=detail))
        explained = "".join(f"\n- {note}" for note in notes)
        if not new:
            if requested and not screen.kept:
                raise _Refused(f"none of the requested labels may be added:{explained}")
            self._record("issue_write", received, allowed=True, reason="nothing to add")
            return _answer(f"Nothing to add: the issue already carries every allowed label asked for.{explained}")
        union = [*live.labels, *new]
        result = await self._send(
            "issue_write",
            {**target, "method": "update", "labels": union},
            origin="model",
            reason=f"adds {', '.join(new)} to the live labels",
            received=received,
        )
        if result.is_error:
            return result
        done = "Dry run, nothing sent: would add" if self.dry_run else "Added"
        return _answer(f"{done} {', '.join(new)}. Labels then: {', '.join(union)}.{explained}")

    async def _add_issue_comment(self, args: dict[str, Any], received: dict[str, JsonValue]) -> CallToolResult:
        target = self._target(args, with_number=True)
        body = as_text(args.pop("body", None), "body")
        self._no_extras(args, "add_issue_comment")
        key = match_template_body(body, self.rules.templates)
        if key is None:
            keys = ", ".join(self.rules.templates)
            raise _Refused(f"only the skill's comment templates may be posted, word for word ({keys})")
        live = await read_snapshot(_Recorder(self), self.ref)
        if self.rules.policy.queue_label not in live.labels:
            raise _Refused(f"{self.ref} does not carry {self.rules.policy.queue_label!r}; the bot leaves it alone")
        already = posted_by_bot(key, self.rules.templates[key], live.comments, self.rules.policy)
        if key in self._posted:
            already = f"{key!r} was already posted in this run"
        if already:
            raise _Refused(f"not posting a duplicate: {already}")
        result = await self._send(
            "add_issue_comment",
            {**target, "body": render_comment([key], self.rules.templates)},
            origin="model",
            reason=f"template {key!r}",
            received=received,
        )
        if not result.is_error:
            self._posted.add(key)
        return result

    # -- the trusted applier's door -----------------------------------------------------------------

    async def read(self) -> IssueSnapshot:
        """The target issue as it is now."""
        return await read_snapshot(_Recorder(self), self.ref)

    def _check(self, effects: Effects) -> None:
        stray = [label for label in effects.add_labels if label not in self.rules.writable]
        if stray:
            raise GuardViolation(f"effects add labels outside the allowlist and marker: {stray}")
        unknown = [key for key in effects.templates if key not in self.rules.templates]
        if unknown:
            raise GuardViolation(f"effects name unknown templates: {unknown}")
        expected = render_comment(effects.templates, self.rules.templates) if effects.templates else None
        if effects.comment != expected:
            raise GuardViolation("the effects' comment is not exactly the rendering of their templates")

    async def apply(self, effects: Effects) -> IssueSnapshot:
        """Post the comment, then add the labels to the live set; return the issue as it is afterwards.

        Templates found on the issue by now (a rerun, a retry) are not posted again. In a dry run
        nothing is sent and the issue is returned as it is.
        """
        self._check(effects)
        recorder = _Recorder(self)
        live = await read_snapshot(recorder, self.ref)
        target = {"owner": self.ref.owner, "repo": self.ref.repo, "issue_number": self.ref.number}
        keys = [
            key
            for key in effects.templates
            if key not in self._posted
            and not posted_by_bot(key, self.rules.templates[key], live.comments, self.rules.policy)
        ]
        if keys:
            body = render_comment(keys, self.rules.templates)
            result = await self._send(
                "add_issue_comment", {**target, "body": body}, origin="trusted", reason=f"templates {keys}"
            )
            _raise_for(result, "add_issue_comment")
            self._posted.update(keys)
            live = await read_snapshot(recorder, self.ref)
        missing = [label for label in effects.add_labels if label not in live.labels]
        if missing:
            union = [*live.labels, *missing]
            result = await self._send(
                "issue_write",
                {**target, "method": "update", "labels": union},
                origin="trusted",
                reason=f"adds {', '.join(missing)} to the live labels",
            )
            _raise_for(result, "issue_write")
        return live if self.dry_run else await read_snapshot(recorder, self.ref)
