"""One queue issue, as the sweep works it: a fresh read, the pipeline, a new plan after a concurrent edit,
and proof of the outcome on the live issue."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from agent.audit import AuditLog
from agent.engine import Engine, Usage
from agent.github import GitHubError, ToolCaller, read_snapshot
from agent.guarded_session import GuardedSession
from agent.models import Effects, IssueRef, IssueSnapshot, split_repo
from agent.pipeline import triage, verify
from agent.result import TriageResult
from agent.skillpack import SkillPack
from agent.sweep.record import IssueRecord, Phase
from agent.sweep.selection import PARENT_MARKER, Recorded, queue_status

__all__ = ["IssueWorker"]

_log = logging.getLogger(__name__)


class IssueWorker:
    """Never raises for one issue's trouble: every outcome, failures included, is an `IssueRecord`."""

    def __init__(
        self,
        *,
        caller: ToolCaller,
        pack: SkillPack,
        repo: str,
        apply: bool,
        audit: AuditLog | None = None,
        parent_marker: str = PARENT_MARKER,
        stale_retries: int = 1,
    ) -> None:
        self.caller = caller
        self.pack = pack
        self.policy = pack.policy
        self.owner, self.repo = split_repo(repo)
        self.apply = apply
        self.audit = audit
        self.parent_marker = parent_marker
        self.stale_retries = stale_retries
        self.records: Mapping[int, Recorded] = {}

    def ref(self, number: int) -> IssueRef:
        return IssueRef(owner=self.owner, repo=self.repo, number=number)

    def owes(self, snapshot: IssueSnapshot, phase: Phase) -> bool:
        """Whether the issue, as read now, still needs what `phase` does."""
        status = queue_status(
            snapshot.labels,
            self.policy,
            parent_marker=self.parent_marker,
            recorded=self.records.get(snapshot.ref.number),
        )
        return status == ("human_classified" if phase == 1 else "pending")

    async def triage(
        self,
        number: int,
        phase: Phase,
        engine: Engine,
        *,
        snapshot: IssueSnapshot | None = None,
        retries: int | None = None,
    ) -> IssueRecord:
        ref = self.ref(number)
        clock = time.monotonic()
        usage = Usage()
        attempts = 0
        retries = self.stale_retries if retries is None else retries
        try:
            while True:
                attempts += 1
                fresh = snapshot if snapshot is not None else await read_snapshot(self.caller, ref)
                snapshot = None
                if not self.owes(fresh, phase):
                    return IssueRecord(issue=number, phase=phase, status="skipped", reason="not_pending", usage=usage)
                result = await triage(
                    ref,
                    caller=self.caller,
                    engine=engine,
                    pack=self.pack,
                    apply=self.apply,
                    audit=self.audit,
                    snapshot=fresh,
                )
                usage += result.usage
                if not (_stale(result) and attempts <= retries):
                    break
            record = _record_of(result, number, phase, usage, attempts)
            if result.status == "applied" and result.effects is not None:
                record = await self._verify(ref, result.effects, record)
        except GitHubError as error:
            record = IssueRecord(issue=number, phase=phase, status="failed", failure=f"GitHub: {error}", usage=usage)
        except Exception as error:  # noqa: BLE001  # the per-issue top level: one issue's bug must not end the night
            _log.exception("sweep: %s failed unexpectedly", ref)
            failure = f"unexpected {type(error).__name__}: {error}"
            record = IssueRecord(issue=number, phase=phase, status="failed", failure=failure, usage=usage)
        return record.model_copy(update={"seconds": time.monotonic() - clock, "attempts": attempts})

    async def _verify(self, ref: IssueRef, planned: Effects, record: IssueRecord) -> IssueRecord:
        """Prove the outcome on the live issue: every promised label is there and nothing is owed any more."""
        policy = self.policy
        live = await read_snapshot(self.caller, ref)
        missing = verify(planned, live)
        reapplied = False
        if policy.marker in missing:
            # Upstream lost markers to transient errors; the marker is the bot's own bookkeeping, so put it back.
            session = GuardedSession(self.caller, ref, self.pack)
            live = await session.apply(Effects(add_labels=(policy.marker,)))
            reapplied = True
            missing = verify(planned, live)
        update: dict[str, object] = {"marker_reapplied": reapplied}
        # A left-for-humans outcome is a finished one here, whatever the policy does with it tomorrow.
        settled = policy.model_copy(update={"requeue_high_priority": False})
        status = queue_status(live.labels, settled, parent_marker=self.parent_marker)
        if missing:
            update |= {"status": "failed", "failure": f"labels missing on the live issue: {', '.join(missing)}"}
        elif status in ("pending", "human_classified"):
            live_labels = ", ".join(live.labels)
            update |= {"status": "failed", "failure": f"the live issue still owes triage (labels: {live_labels})"}
        else:
            update["verified"] = True
        return record.model_copy(update=update)


def _stale(result: TriageResult) -> bool:
    return result.failure_kind == "stale"


def _record_of(result: TriageResult, issue: int, phase: Phase, usage: Usage, attempts: int) -> IssueRecord:
    effects = result.effects
    return IssueRecord(
        issue=issue,
        phase=phase,
        status=result.status,
        decision=result.plan.decision if result.plan else None,
        outcome=effects.outcome if effects else None,
        added=effects.add_labels if effects else (),
        templates=effects.templates if effects else (),
        failure=result.failure,
        usage=usage,
        attempts=attempts,
    )
