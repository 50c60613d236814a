"""The allowlist: which downstream repos take part, at which level, with which oncalls.

File format (the one upstream keeps in `pytorch/pytorch/.github/allowlist.yml`): top-level keys `L1`,
`L2`, `L3`, `L4`, each optional. `L1`, `L2` and `L4` are lists whose items are `owner/repo` or a
one-key mapping `owner/repo: "oncall1, oncall2"`. `L3` maps a device name (the suffix of the
`ciflow/crcr/<device>` label) to a mapping of `owner/repo` to its oncalls.

Lookups ignore case, because GitHub repo names do and the OIDC `repository` claim may be spelled
differently from the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict

__all__ = [
    "LABEL_PREFIX",
    "LEVELS",
    "Allowlist",
    "AllowlistEntry",
    "AllowlistError",
    "Level",
    "is_repo_name",
    "level_at_least",
    "parse_allowlist",
]

Level = Literal["L1", "L2", "L3", "L4"]
LEVELS: tuple[Level, ...] = ("L1", "L2", "L3", "L4")
LABEL_PREFIX = "ciflow/crcr/"

_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_DEVICE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class AllowlistError(ValueError):
    """The allowlist text is malformed; the message names the offending entry."""


def is_repo_name(value: str) -> bool:
    return bool(_REPO.match(value))


def level_at_least(level: Level | None, minimum: Level) -> bool:
    return level is not None and LEVELS.index(level) >= LEVELS.index(minimum)


class AllowlistEntry(BaseModel):
    """One downstream repo as the allowlist declares it."""

    model_config = ConfigDict(frozen=True)

    repo: str
    level: Level
    oncalls: tuple[str, ...] = ()
    device: str | None = None
    """Set for L3 entries: the device whose `ciflow/crcr/<device>` label asks for check runs."""


class Allowlist:
    """A parsed allowlist with case-insensitive lookups."""

    def __init__(self, entries: Iterable[AllowlistEntry]) -> None:
        self._entries = tuple(sorted(entries, key=lambda e: e.repo.lower()))
        self._by_repo = {entry.repo.lower(): entry for entry in self._entries}

    @property
    def entries(self) -> tuple[AllowlistEntry, ...]:
        """Every entry, sorted by repo: the dispatch targets."""
        return self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, repo: str) -> AllowlistEntry | None:
        return self._by_repo.get(repo.lower())

    def level(self, repo: str) -> Level | None:
        entry = self.entry(repo)
        return None if entry is None else entry.level

    def for_device(self, device: str) -> tuple[AllowlistEntry, ...]:
        """The L3 entries registered under `device`."""
        return tuple(e for e in self._entries if e.device is not None and e.device.lower() == device.lower())

    def for_label(self, label: str) -> tuple[AllowlistEntry, ...]:
        """The L3 entries a `ciflow/crcr/<device>` label selects; none for any other label."""
        if not label.startswith(LABEL_PREFIX):
            return ()
        return self.for_device(label.removeprefix(LABEL_PREFIX))

    def check_run_wanted(self, repo: str, labels: Iterable[str]) -> bool:
        """Whether results of `repo` belong on the PR: L4 always, L3 when its device label is present."""
        entry = self.entry(repo)
        if entry is None:
            return False
        if entry.level == "L4":
            return True
        return entry.level == "L3" and any(entry in self.for_label(label) for label in labels)


def parse_allowlist(text: str) -> Allowlist:
    """Parse allowlist YAML; any malformed entry raises AllowlistError naming it."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AllowlistError(f"not valid YAML: {exc}") from exc
    if raw is None:
        return Allowlist(())
    if not isinstance(raw, Mapping):
        raise AllowlistError("the top level must be a mapping with keys L1, L2, L3, L4")
    unknown = [str(key) for key in raw if key not in LEVELS]
    if unknown:
        raise AllowlistError(f"unknown top-level key(s) {', '.join(unknown)}; expected L1, L2, L3, L4")
    seen: dict[str, str] = {}
    entries: list[AllowlistEntry] = []

    def add(where: str, repo: object, level: Level, oncalls: object, device: str | None = None) -> None:
        name = _repo(where, repo)
        if name.lower() in seen:
            raise AllowlistError(f"{where}: {name} is already listed at {seen[name.lower()]}")
        seen[name.lower()] = where
        entries.append(AllowlistEntry(repo=name, level=level, oncalls=_oncalls(where, oncalls), device=device))

    for level in ("L1", "L2", "L4"):
        items = raw.get(level) or []
        if not isinstance(items, list):
            raise AllowlistError(f"{level} must be a list of owner/repo entries")
        for index, item in enumerate(items):
            where = f"{level}[{index}]"
            if isinstance(item, Mapping):
                if len(item) != 1:
                    raise AllowlistError(f"{where}: a mapping entry must have exactly one key (owner/repo)")
                ((repo, oncalls),) = item.items()
                add(where, repo, level, oncalls)
            else:
                add(where, item, level, None)

    devices = raw.get("L3") or {}
    if not isinstance(devices, Mapping):
        raise AllowlistError("L3 must be a mapping of device -> {owner/repo: [oncalls]}")
    for device, repos in devices.items():
        if not isinstance(device, str) or not _DEVICE.match(device):
            raise AllowlistError(f"L3: device name {device!r} must be letters, digits, '.', '_' or '-'")
        if repos is None:
            continue
        if not isinstance(repos, Mapping):
            raise AllowlistError(f"L3.{device} must be a mapping of owner/repo to oncalls")
        for repo, oncalls in repos.items():
            add(f"L3.{device}.{repo}", repo, "L3", oncalls, device)
    return Allowlist(entries)


def _repo(where: str, value: object) -> str:
    if not isinstance(value, str):
        raise AllowlistError(f"{where}: expected owner/repo, got {value!r}")
    name = value.strip().strip("/").strip()
    if not is_repo_name(name):
        raise AllowlistError(f"{where}: {value!r} is not owner/repo")
    return name


def _oncalls(where: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[object] = list(value.split(","))
    elif isinstance(value, list):
        items = list(value)
    else:
        raise AllowlistError(f"{where}: oncalls must be a comma-separated string or a list, got {value!r}")
    handles: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise AllowlistError(f"{where}: oncall {item!r} is not a GitHub handle")
        handle = item.strip().lstrip("@").strip()
        if handle:
            handles.append(handle)
    return tuple(handles)
