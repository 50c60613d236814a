"""The sandbox's issues in SQLite: a file shared by several processes, or memory for one test."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from agent.sandbox.records import (
    DatasetRecord,
    IssueSeed,
    LabelInfo,
    StoredComment,
    StoredIssue,
    format_time,
    parse_time,
)
from agent.sandbox.tables import (
    create_schema,
    hydrate,
    issue_row,
    label_id,
    put_seed,
    replace_assignees,
    replace_labels,
)

__all__ = ["IssueNotFound", "OrderBy", "SandboxStore"]

OrderBy = Literal["created_at", "updated_at", "comments"]


class IssueNotFound(LookupError):
    def __init__(self, repo: str, number: int) -> None:
        super().__init__(f"{repo}#{number} is not in the sandbox")
        self.repo = repo
        self.number = number


def _now() -> datetime:
    return datetime.now(UTC)


class SandboxStore:
    """Issues, labels and comments. Every write is one `BEGIN IMMEDIATE` transaction, so two processes
    sharing a file (the sweep runs two) serialise instead of losing each other's label edits."""

    def __init__(
        self, path: Path | str = ":memory:", *, clock: Callable[[], datetime] = _now, busy_seconds: float = 30.0
    ) -> None:
        self.path = path if str(path) == ":memory:" else Path(path)
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), timeout=busy_seconds, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_seconds * 1000)}")
        self._db.execute("PRAGMA foreign_keys = ON")
        if isinstance(self.path, Path):
            self._db.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL still never corrupts the file; a power cut may drop the last commits.
            self._db.execute("PRAGMA synchronous = NORMAL")
        with self._write() as db:
            create_schema(db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SandboxStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        # One read transaction, so an issue, its labels and its comments come from the same moment.
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                self._db.execute("COMMIT")

    # -- loading ----------------------------------------------------------------------------------

    def put(self, seed: IssueSeed) -> StoredIssue:
        """Add the issue, or replace it wholesale (labels and comments too) if its number is taken."""
        with self._write() as db:
            issue_id = put_seed(db, seed)
            return hydrate(db, [issue_row(db, issue_id)])[0]

    def put_many(self, seeds: Iterable[IssueSeed]) -> int:
        count = 0
        with self._write() as db:
            for seed in seeds:
                put_seed(db, seed)
                count += 1
        return count

    def load_jsonl(self, path: Path | str) -> int:
        """Load every record of a dataset-format JSONL file; returns how many issues were stored."""
        source = Path(path)
        seeds = [
            DatasetRecord.parse_line(line, where=f"{source}:{lineno}").to_seed()
            for lineno, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1)
            if line.strip()
        ]
        return self.put_many(seeds)

    # -- reading ----------------------------------------------------------------------------------

    def get(self, repo: str, number: int) -> StoredIssue | None:
        with self._read() as db:
            row = db.execute("SELECT * FROM issues WHERE repo = ? AND number = ?", (repo, number)).fetchone()
            return None if row is None else hydrate(db, [row])[0]

    def require(self, repo: str, number: int) -> StoredIssue:
        issue = self.get(repo, number)
        if issue is None:
            raise IssueNotFound(repo, number)
        return issue

    def has_repo(self, repo: str) -> bool:
        with self._read() as db:
            return db.execute("SELECT 1 FROM issues WHERE repo = ? LIMIT 1", (repo,)).fetchone() is not None

    def count(self) -> int:
        with self._read() as db:
            return int(db.execute("SELECT COUNT(*) FROM issues").fetchone()[0])

    def issues(self, repo: str | None = None) -> list[StoredIssue]:
        """Every issue (of one repository), in number order."""
        with self._read() as db:
            if repo is None:
                rows = db.execute("SELECT * FROM issues ORDER BY repo, number").fetchall()
            else:
                rows = db.execute("SELECT * FROM issues WHERE repo = ? ORDER BY number", (repo,)).fetchall()
            return hydrate(db, rows)

    def list_issues(
        self,
        repo: str,
        *,
        state: Literal["open", "closed"] | None = None,
        labels: Sequence[str] = (),
        since: datetime | None = None,
        order_by: OrderBy = "created_at",
        descending: bool = True,
        offset: int = 0,
        limit: int = 30,
    ) -> tuple[list[StoredIssue], int]:
        """One page of a repository's issues and the total that match. An issue matches `labels` only
        when it carries every one of them, each compared by whole name."""
        where: list[str] = ["repo = ?"]
        params: list[object] = [repo]
        if state is not None:
            where.append("state = ?")
            params.append(state)
        if since is not None:
            where.append("updated_at >= ?")
            params.append(format_time(since))
        wanted = list({label.casefold(): label for label in labels}.values())
        if wanted:
            marks = ", ".join("?" * len(wanted))
            where.append(
                f"id IN (SELECT issue_id FROM issue_labels WHERE name IN ({marks})"
                " GROUP BY issue_id HAVING COUNT(*) = ?)"
            )
            params.extend([*wanted, len(wanted)])
        key = "(SELECT COUNT(*) FROM comments c WHERE c.issue_id = issues.id)" if order_by == "comments" else order_by
        direction = "DESC" if descending else "ASC"
        clause = " AND ".join(where)
        with self._read() as db:
            total = int(db.execute(f"SELECT COUNT(*) FROM issues WHERE {clause}", params).fetchone()[0])
            rows = db.execute(
                f"SELECT * FROM issues WHERE {clause} ORDER BY {key} {direction}, number {direction} LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
            return hydrate(db, rows), total

    def labels_of(self, repo: str, number: int) -> list[LabelInfo]:
        """The issue's labels with their repository definitions."""
        issue = self.require(repo, number)
        with self._read() as db:
            rows = {
                str(r["name"]).casefold(): r
                for r in db.execute("SELECT * FROM repo_labels WHERE repo = ?", (repo,)).fetchall()
            }
        result = []
        for name in issue.labels:
            row = rows.get(name.casefold())
            color, description = (str(row["color"]), str(row["description"])) if row else ("ededed", "")
            result.append(LabelInfo(id=label_id(repo, name), name=name, color=color, description=description))
        return result

    # -- writing ----------------------------------------------------------------------------------

    def create(
        self,
        repo: str,
        *,
        title: str,
        author: str,
        body: str = "",
        labels: Sequence[str] = (),
        assignees: Sequence[str] = (),
    ) -> StoredIssue:
        with self._write() as db:
            number = int(
                db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM issues WHERE repo = ?", (repo,)).fetchone()[0]
            )
            now = format_time(parse_time(self._clock()))
            issue_id = db.execute(
                "INSERT INTO issues (repo, number, title, body, state, author, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'open', ?, ?, ?)",
                (repo, number, title, body, author, now, now),
            ).lastrowid
            assert issue_id is not None  # an INSERT always reports its rowid
            replace_labels(db, issue_id, repo, labels)
            replace_assignees(db, issue_id, assignees)
            return hydrate(db, [issue_row(db, issue_id)])[0]

    def update(
        self,
        repo: str,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: Literal["open", "closed"] | None = None,
        state_reason: Literal["completed", "not_planned", "duplicate"] | None = None,
        labels: Sequence[str] | None = None,
        assignees: Sequence[str] | None = None,
    ) -> StoredIssue:
        """Edit the issue like `PATCH /issues/{n}`: `labels` and `assignees` REPLACE the sets (an empty
        sequence clears them); None leaves a field alone. `updated_at` moves when anything changed."""
        relabel = None if labels is None else (lambda _current: labels)
        return self._edit(
            repo, number, relabel, title=title, body=body, state=state, state_reason=state_reason, assignees=assignees
        )

    def set_labels(self, repo: str, number: int, labels: Sequence[str]) -> StoredIssue:
        return self.update(repo, number, labels=labels)

    def add_labels(self, repo: str, number: int, labels: Sequence[str]) -> StoredIssue:
        """What a person clicking in the UI does: only the named labels are added."""
        return self._edit(repo, number, lambda current: [*current, *labels])

    def remove_labels(self, repo: str, number: int, labels: Sequence[str]) -> StoredIssue:
        gone = {label.casefold() for label in labels}
        return self._edit(repo, number, lambda current: [label for label in current if label.casefold() not in gone])

    def _edit(
        self,
        repo: str,
        number: int,
        relabel: Callable[[tuple[str, ...]], Sequence[str]] | None,
        *,
        title: str | None = None,
        body: str | None = None,
        state: Literal["open", "closed"] | None = None,
        state_reason: Literal["completed", "not_planned", "duplicate"] | None = None,
        assignees: Sequence[str] | None = None,
    ) -> StoredIssue:
        # Reading the current labels inside the write transaction makes add/remove atomic across processes.
        with self._write() as db:
            row = db.execute("SELECT * FROM issues WHERE repo = ? AND number = ?", (repo, number)).fetchone()
            if row is None:
                raise IssueNotFound(repo, number)
            before = hydrate(db, [row])[0]
            fields: dict[str, str | None] = {}
            if title is not None and title != before.title:
                fields["title"] = title
            if body is not None and body != before.body:
                fields["body"] = body
            if state is not None and state != before.state:
                fields["state"] = state
                fields["state_reason"] = (state_reason or "completed") if state == "closed" else "reopened"
                fields["closed_at"] = format_time(parse_time(self._clock())) if state == "closed" else None
            changed = bool(fields)
            if relabel is not None:
                changed |= replace_labels(db, before.id, repo, relabel(before.labels))
            if assignees is not None:
                changed |= replace_assignees(db, before.id, assignees)
            if changed:
                fields["updated_at"] = self._next_time(before.updated_at)
                assignments = ", ".join(f"{name} = ?" for name in fields)
                db.execute(f"UPDATE issues SET {assignments} WHERE id = ?", [*fields.values(), before.id])
            return hydrate(db, [issue_row(db, before.id)])[0]

    def add_comment(self, repo: str, number: int, *, author: str, body: str) -> StoredComment:
        with self._write() as db:
            row = db.execute(
                "SELECT id, updated_at FROM issues WHERE repo = ? AND number = ?", (repo, number)
            ).fetchone()
            if row is None:
                raise IssueNotFound(repo, number)
            moment = self._next_time(parse_time(str(row["updated_at"])))
            comment_id = db.execute(
                "INSERT INTO comments (issue_id, author, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (row["id"], author, body, moment, moment),
            ).lastrowid
            assert comment_id is not None  # an INSERT always reports its rowid
            db.execute("UPDATE issues SET updated_at = ? WHERE id = ?", (moment, row["id"]))
        return StoredComment(
            id=comment_id, author=author, body=body, created_at=parse_time(moment), updated_at=parse_time(moment)
        )

    # -- internals --------------------------------------------------------------------------------

    def _next_time(self, previous: datetime) -> str:
        # GitHub keeps seconds; two writes within one second must still move `updated_at`.
        now = parse_time(self._clock())
        return format_time(now if now > previous else previous + timedelta(seconds=1))
