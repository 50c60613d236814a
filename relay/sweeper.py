"""The sweeper: jobs silent in_progress past the zombie timeout become timed_out, old state is forgotten.

A job whose runner died, or whose run was cancelled before its final report, would otherwise stay
in_progress for ever. Its results row is completed with conclusion `timed_out` and the relay's
execution time up to the sweep. Outbox and job records older than the status TTL are dropped
(results stay): by then GitHub no longer redelivers the webhook nor keeps the run pending.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio
from pydantic import BaseModel, ConfigDict

from relay.allowlist import Allowlist
from relay.outbox import Outbox
from relay.results import ResultsStore, build_row
from relay.state import JobStore, plan_timeout

__all__ = ["SweepReport", "Sweeper"]

log = logging.getLogger(__name__)

_BATCH = 500


class SweepReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    timed_out: int
    purged_deliveries: int
    purged_jobs: int


class Sweeper:
    def __init__(
        self,
        *,
        jobs: JobStore,
        outbox: Outbox,
        results: ResultsStore,
        allowlist: Callable[[], Allowlist],
        zombie_timeout: float,
        status_ttl: float,
        interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._jobs = jobs
        self._outbox = outbox
        self._results = results
        self._allowlist = allowlist
        self._timeout = zombie_timeout
        self._ttl = status_ttl
        self._interval = interval
        self._clock = clock

    async def sweep(self) -> SweepReport:
        now = self._clock()
        timed_out = 0
        while stale := await self._jobs.stale(now - self._timeout, limit=_BATCH):
            for job in stale:
                transition = plan_timeout(job, now)
                if transition is None or not await self._jobs.put_if(transition.record, transition.expected):
                    continue  # a callback got there first
                timed_out += 1
                log.warning(
                    "%s (delivery %s) timed out after %.0fs in progress",
                    job.key,
                    job.key.delivery_id,
                    now - job.in_progress_at,
                )
                dispatch = await self._outbox.get(job.key.delivery_id, job.key.repo)
                if dispatch is None:
                    continue
                level = self._allowlist().level(job.key.repo) or dispatch.level
                row = build_row(level=level, dispatch=dispatch, job=transition.record, report=None, raw_body=None)
                await self._results.upsert(row)
            if len(stale) < _BATCH:
                break
        purged_jobs = await self._jobs.purge(now - self._ttl)
        purged_deliveries = await self._outbox.purge(now - self._ttl)
        return SweepReport(timed_out=timed_out, purged_deliveries=purged_deliveries, purged_jobs=purged_jobs)

    async def run(self) -> None:
        """Sweep once per interval until cancelled."""
        while True:
            report = await self.sweep()
            if report.timed_out or report.purged_deliveries:
                log.info("sweep: %s", report)
            await anyio.sleep(self._interval)
