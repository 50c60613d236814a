"""The sandbox's SQLite tables, and moving issues between rows and typed values."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence

from agent.sandbox.records import IssueSeed, StoredComment, StoredIssue, format_time, parse_time

__all__ = ["create_schema", "hydrate", "issue_row", "label_id", "put_seed", "replace_assignees", "replace_labels"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS issues (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo TEXT NOT NULL,
    number INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    state_reason TEXT,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at TEXT,
    UNIQUE (repo, number)
);
CREATE TABLE IF NOT EXISTS issue_labels (
    issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (issue_id, name)
);
CREATE TABLE IF NOT EXISTS issue_assignees (
    issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    login TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (issue_id, login)
);
CREATE TABLE IF NOT EXISTS comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    issue_id INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS comments_issue ON comments (issue_id, id);
CREATE TABLE IF NOT EXISTS repo_labels (
    repo TEXT NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    color TEXT NOT NULL,
    description TEXT NOT NULL,
    PRIMARY KEY (repo, name)
);
"""

# Ids in the ranges GitHub uses, so an issue id, a comment id and an issue number are never confused.
ID_BASES = {"issues": 3_100_000_000, "comments": 3_500_000_000}


def create_schema(db: sqlite3.Connection) -> None:
    # executescript would commit on its own; the schema goes in with the caller's transaction.
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    for table, base in ID_BASES.items():
        if db.execute("SELECT 1 FROM sqlite_sequence WHERE name = ?", (table,)).fetchone() is None:
            db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, base))


def put_seed(db: sqlite3.Connection, seed: IssueSeed) -> int:
    """Insert the seed, or overwrite the issue with its number (keeping its id); returns the id."""
    closed_at = format_time(seed.last_activity()) if seed.state == "closed" else None
    values = (seed.title, seed.body, seed.state, seed.state_reason, seed.author, format_time(seed.created_at))
    row = db.execute("SELECT id FROM issues WHERE repo = ? AND number = ?", (seed.repo, seed.number)).fetchone()
    if row is None:
        issue_id = db.execute(
            "INSERT INTO issues (repo, number, title, body, state, state_reason, author, created_at, updated_at,"
            " closed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seed.repo, seed.number, *values, format_time(seed.last_activity()), closed_at),
        ).lastrowid
        assert issue_id is not None  # an INSERT always reports its rowid
    else:
        issue_id = int(row["id"])
        db.execute(
            "UPDATE issues SET title = ?, body = ?, state = ?, state_reason = ?, author = ?, created_at = ?,"
            " updated_at = ?, closed_at = ? WHERE id = ?",
            (*values, format_time(seed.last_activity()), closed_at, issue_id),
        )
        db.execute("DELETE FROM comments WHERE issue_id = ?", (issue_id,))
    replace_labels(db, issue_id, seed.repo, seed.labels)
    replace_assignees(db, issue_id, seed.assignees)
    db.executemany(
        "INSERT INTO comments (issue_id, author, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        [(issue_id, c.author, c.body, format_time(c.created_at), format_time(c.created_at)) for c in seed.comments],
    )
    return issue_id


def replace_labels(db: sqlite3.Connection, issue_id: int, repo: str, labels: Sequence[str]) -> bool:
    known = {
        str(r["name"]).casefold(): str(r["name"])
        for r in db.execute("SELECT name FROM repo_labels WHERE repo = ?", (repo,)).fetchall()
    }
    wanted: dict[str, str] = {}
    for label in labels:
        # A name that differs only in case is the same repository label, spelt as the repository spells it.
        wanted.setdefault(label.casefold(), known.get(label.casefold(), label))
    for folded, name in wanted.items():
        if folded not in known:
            db.execute(
                "INSERT INTO repo_labels (repo, name, color, description) VALUES (?, ?, 'ededed', '')", (repo, name)
            )
    current = [
        str(r["name"])
        for r in db.execute("SELECT name FROM issue_labels WHERE issue_id = ? ORDER BY position", (issue_id,))
    ]
    if current == list(wanted.values()):
        return False
    db.execute("DELETE FROM issue_labels WHERE issue_id = ?", (issue_id,))
    db.executemany(
        "INSERT INTO issue_labels (issue_id, position, name) VALUES (?, ?, ?)",
        [(issue_id, position, name) for position, name in enumerate(wanted.values())],
    )
    return {n.casefold() for n in current} != set(wanted)


def replace_assignees(db: sqlite3.Connection, issue_id: int, logins: Sequence[str]) -> bool:
    wanted = list({login.casefold(): login for login in logins}.values())
    current = [
        str(r["login"])
        for r in db.execute("SELECT login FROM issue_assignees WHERE issue_id = ? ORDER BY position", (issue_id,))
    ]
    if current == wanted:
        return False
    db.execute("DELETE FROM issue_assignees WHERE issue_id = ?", (issue_id,))
    db.executemany(
        "INSERT INTO issue_assignees (issue_id, position, login) VALUES (?, ?, ?)",
        [(issue_id, position, login) for position, login in enumerate(wanted)],
    )
    return True


def issue_row(db: sqlite3.Connection, issue_id: int) -> sqlite3.Row:
    row: sqlite3.Row = db.execute("SELECT * FROM issues WHERE id = ?", (issue_id,)).fetchone()
    return row


def hydrate(db: sqlite3.Connection, rows: Sequence[sqlite3.Row]) -> list[StoredIssue]:
    ids = [int(row["id"]) for row in rows]
    labels: dict[int, list[str]] = {i: [] for i in ids}
    assignees: dict[int, list[str]] = {i: [] for i in ids}
    comments: dict[int, list[StoredComment]] = {i: [] for i in ids}
    # SQLite caps the number of bound parameters, so large listings are fetched in slices.
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        query = f"SELECT issue_id, name FROM issue_labels WHERE issue_id IN ({marks}) ORDER BY position"
        for r in db.execute(query, chunk):
            labels[int(r["issue_id"])].append(str(r["name"]))
        query = f"SELECT issue_id, login FROM issue_assignees WHERE issue_id IN ({marks}) ORDER BY position"
        for r in db.execute(query, chunk):
            assignees[int(r["issue_id"])].append(str(r["login"]))
        for r in db.execute(f"SELECT * FROM comments WHERE issue_id IN ({marks}) ORDER BY created_at, id", chunk):
            comments[int(r["issue_id"])].append(
                StoredComment(
                    id=int(r["id"]),
                    author=str(r["author"]),
                    body=str(r["body"]),
                    created_at=parse_time(str(r["created_at"])),
                    updated_at=parse_time(str(r["updated_at"])),
                )
            )
    return [
        StoredIssue(
            id=int(row["id"]),
            repo=str(row["repo"]),
            number=int(row["number"]),
            title=str(row["title"]),
            body=str(row["body"]),
            state=row["state"],
            state_reason=row["state_reason"],
            author=str(row["author"]),
            created_at=parse_time(str(row["created_at"])),
            updated_at=parse_time(str(row["updated_at"])),
            closed_at=None if row["closed_at"] is None else parse_time(str(row["closed_at"])),
            labels=tuple(labels[int(row["id"])]),
            assignees=tuple(assignees[int(row["id"])]),
            comments=tuple(comments[int(row["id"])]),
        )
        for row in rows
    ]


def label_id(repo: str, name: str) -> str:
    """A stable GraphQL-looking node id for a repository label."""
    digest = hashlib.sha1(f"{repo}\0{name.casefold()}".encode(), usedforsecurity=False).hexdigest()[:16]
    return f"LA_kw{digest}"
