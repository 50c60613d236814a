"""The triage of one issue, end to end: read, plan, guard, and (with apply) write and verify.

This is the one code path behind `agent triage`, the sweep and the eval replay.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from agent.audit import AuditLog
from agent.engine import Engine, EngineFailure
from agent.github import GitHubError, ToolCaller
from agent.guard import effects
from agent.guarded_session import GuardedSession
from agent.models import Effects, IssueRef, IssueSnapshot
from agent.result import FailureKind, TriageResult
from agent.skillpack import SkillPack

__all__ = ["triage", "verify"]


async def triage(
    ref: IssueRef,
    *,
    caller: ToolCaller,
    engine: Engine,
    pack: SkillPack,
    apply: bool = False,
    audit: AuditLog | None = None,
    snapshot: IssueSnapshot | None = None,
) -> TriageResult:
    """Triage one issue. Never raises for GitHub or model trouble: that is a `failed` result."""
    started, clock = datetime.now(UTC), time.monotonic()
    session = GuardedSession(caller, ref, pack, dry_run=not apply)
    fields: dict[str, object] = {}
    try:
        await _run(fields, session, engine, pack, apply, snapshot)
    except EngineFailure as failure:
        fields.update(_failed("engine", failure.reason), usage=failure.usage)
    except GitHubError as error:
        # Whatever was planned before GitHub failed stays in the record.
        fields.update(_failed("github", f"GitHub: {error}"))
    result = TriageResult.model_validate(
        {
            "ref": ref,
            "engine": engine.name,
            "started_at": started,
            "seconds": time.monotonic() - clock,
            "tool_calls": tuple(session.records),
            **fields,
        }
    )
    if audit is not None:
        audit.record(result)
    return result


async def _run(
    fields: dict[str, object],
    session: GuardedSession,
    engine: Engine,
    pack: SkillPack,
    apply: bool,
    snapshot: IssueSnapshot | None,
) -> None:
    """Fill `fields` of the result step by step, so a failure part-way keeps what came before it."""
    before = snapshot or await session.read()
    proposal = await engine.propose(before, pack, session)
    planned = effects(proposal.plan, before, pack.policy, allowlist=pack.allowlist, templates=pack.templates)
    fields.update(plan=proposal.plan, effects=planned, usage=proposal.usage, flags=proposal.flags)
    if not apply:
        fields.update(status="planned")
        return
    if not planned.changes_anything:
        # Outside the queue, or the issue already carries all the plan asks for (the guard always owes
        # the marker otherwise): there is nothing to write and nothing left undone.
        fields.update(status="applied", live_labels=before.labels)
        return
    fresh = await session.read()
    if _changed_by_others(before, fresh, session):
        fields.update(_failed("stale", "stale plan: the issue changed after it was read"))
        return
    live = await session.apply(planned)
    missing = verify(planned, live)
    if missing:
        live = await session.apply(planned.model_copy(update={"comment": None, "templates": ()}))
        missing = verify(planned, live)
    fields.update(live_labels=live.labels)
    if missing:
        fields.update(_failed("unverified", f"labels missing after apply: {', '.join(missing)}"))
        return
    fields.update(status="applied", applied=True)


def _failed(kind: FailureKind, reason: str) -> dict[str, object]:
    return {"status": "failed", "failure_kind": kind, "failure": reason}


def verify(planned: Effects, live: IssueSnapshot) -> tuple[str, ...]:
    """Labels the effects promised that the live issue does not carry."""
    return tuple(label for label in planned.add_labels if not live.has_label(label))


def _changed_by_others(before: IssueSnapshot, fresh: IssueSnapshot, session: GuardedSession) -> bool:
    # In direct mode the model's own guarded writes move `updated_at`; only foreign changes count.
    if session.wrote:
        return False
    return (before.updated_at, before.labels, len(before.comments)) != (
        fresh.updated_at,
        fresh.labels,
        len(fresh.comments),
    )
