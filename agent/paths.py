"""Where the bot keeps its state on this machine: the sandbox store, the audit log, sweep runs."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["state_dir"]


def state_dir() -> Path:
    """`$DISTRIBUTED_TRIAGE_HOME`, else `$XDG_STATE_HOME/distributed-triage`, else `~/.local/state/...`."""
    explicit = os.environ.get("DISTRIBUTED_TRIAGE_HOME")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "distributed-triage"
