"""The offline GitHub: a local store of issues served as an MCP server with github-mcp-server's tools."""

from __future__ import annotations

from agent.sandbox.faults import Faults, HumanEdit, Injected
from agent.sandbox.options import add_fault_arguments, faults_from_arguments
from agent.sandbox.records import CommentSeed, DatasetRecord, IssueSeed, StoredComment, StoredIssue
from agent.sandbox.server import DEFAULT_VIEWER, build_server
from agent.sandbox.serving import EXAMPLES_PATH, Transport, default_store, serve
from agent.sandbox.store import IssueNotFound, SandboxStore

__all__ = [
    "DEFAULT_VIEWER",
    "EXAMPLES_PATH",
    "CommentSeed",
    "DatasetRecord",
    "Faults",
    "HumanEdit",
    "Injected",
    "IssueNotFound",
    "IssueSeed",
    "SandboxStore",
    "StoredComment",
    "StoredIssue",
    "Transport",
    "add_fault_arguments",
    "build_server",
    "default_store",
    "faults_from_arguments",
    "serve",
]
