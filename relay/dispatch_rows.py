"""The rows per (delivery, target repo): the statements that make them from a delivery's targets and claim them.

A stored delivery carries its targets as JSON (`deliveries.fanout`) until its rows are made; then
the column is cleared, in the same transaction. Rows are made when a claim would otherwise come up
short, oldest delivery first, so a burst of webhooks costs one row each at intake and the rows come
at the dispatcher's pace. `INSERT OR IGNORE` on the primary key makes a second expansion add nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

__all__ = ["RECORD_SQL", "SCHEMA", "claim", "expand"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS dispatches (
    delivery_id      TEXT NOT NULL REFERENCES deliveries(delivery_id) ON DELETE CASCADE,
    repo             TEXT NOT NULL COLLATE NOCASE,
    level            TEXT NOT NULL,
    check_run_wanted INTEGER NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'dispatched', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL NOT NULL,
    lease_until      REAL,
    dispatched_at    REAL,
    last_error       TEXT,
    redeemed_run_id  INTEGER,
    PRIMARY KEY (delivery_id, repo)
);
CREATE INDEX IF NOT EXISTS dispatches_due ON dispatches (next_attempt_at) WHERE status = 'pending';
"""

RECORD_SQL = """
SELECT d.delivery_id, d.repo, d.level, d.check_run_wanted, d.status, d.attempts, d.next_attempt_at,
       d.dispatched_at, d.last_error, d.redeemed_run_id,
       v.event, v.upstream_repo, v.pr_number, v.head_sha, v.received_at
FROM dispatches d JOIN deliveries v USING (delivery_id)
"""
"""A dispatch row with the facts of its delivery; add the WHERE clause."""

_CLAIM = (
    "UPDATE dispatches SET lease_until = ?, attempts = attempts + 1 WHERE rowid IN ("
    " SELECT rowid FROM dispatches WHERE status = 'pending' AND next_attempt_at <= ?"
    " AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_attempt_at LIMIT ?)"
    " RETURNING delivery_id, repo"
)
_EXPAND = (
    "INSERT OR IGNORE INTO dispatches (delivery_id, repo, level, check_run_wanted, status, next_attempt_at)"
    " SELECT d.delivery_id, t.value ->> 0, t.value ->> 1, t.value ->> 2, 'pending', d.received_at"
    " FROM json_each(:ids) k JOIN deliveries d ON d.delivery_id = k.value, json_each(d.fanout) t"
)
_EXPANDED = (
    "UPDATE deliveries SET fanout = NULL"
    " WHERE fanout IS NOT NULL AND delivery_id IN (SELECT value FROM json_each(:ids))"
)
_OLDEST_UNEXPANDED = "SELECT delivery_id FROM deliveries WHERE fanout IS NOT NULL ORDER BY received_at LIMIT ?"


def expand(conn: sqlite3.Connection, delivery_ids: Sequence[str]) -> int:
    """Make the dispatch rows of these deliveries from their targets; how many had not had them made before."""
    ids = json.dumps(list(delivery_ids))
    conn.execute(_EXPAND, {"ids": ids})
    return conn.execute(_EXPANDED, {"ids": ids}).rowcount


def claim(conn: sqlite3.Connection, now: float, *, limit: int, lease_seconds: float) -> list[tuple[str, str]]:
    """Lease up to `limit` due pending rows, counting an attempt on each; their (delivery id, repo)."""
    lease = (now + lease_seconds, now, now)
    keys = [(row[0], row[1]) for row in conn.execute(_CLAIM, (*lease, limit))]
    # Rows already made go first; newer deliveries get theirs only when the claim would come up short.
    if len(keys) < limit:
        oldest = [row[0] for row in conn.execute(_OLDEST_UNEXPANDED, (limit,))]
        if oldest and expand(conn, oldest):
            keys += [(row[0], row[1]) for row in conn.execute(_CLAIM, (*lease, limit - len(keys)))]
    return keys
