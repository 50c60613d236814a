"""Where the allowlist comes from, and keeping it current without asking too often.

A file is looked at (stat) at most once per interval and re-read only when it changed; a URL is
fetched at most once per interval with `If-None-Match`, so an unchanged file costs a 304. A change
that does not parse is logged and the previous allowlist stays in force: a typo in a PR to the
allowlist must not stop the relay.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx2

from relay.allowlist import Allowlist, AllowlistError, parse_allowlist
from relay.config import AllowlistSettings

__all__ = ["AllowlistSource", "fetch_url"]

log = logging.getLogger(__name__)

_BLOB = re.compile(r"^https://github\.com/(?P<owner>[^/]+)/(?P<repo>[^/]+)/blob/(?P<ref>[^/]+)/(?P<path>.+)$")


def fetch_url(source: str, api_url: str) -> tuple[str, dict[str, str]]:
    """The URL and headers to fetch `source` raw; a github.com blob URL goes through the contents API."""
    match = _BLOB.match(source)
    if match:
        url = f"{api_url.rstrip('/')}/repos/{match['owner']}/{match['repo']}/contents/{match['path']}"
        return f"{url}?ref={match['ref']}", {"Accept": "application/vnd.github.raw+json"}
    return source, {}


class AllowlistSource:
    """The current allowlist, reloaded from its source when that changes."""

    def __init__(
        self,
        settings: AllowlistSettings,
        *,
        http: httpx2.AsyncClient,
        api_url: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._http = http
        self._api_url = api_url
        self._clock = clock
        self._current: Allowlist | None = None
        self._fingerprint: object = None
        self._checked_at: float | None = None

    @property
    def current(self) -> Allowlist:
        if self._current is None:
            raise RuntimeError("AllowlistSource.load() must run before the allowlist is read")
        return self._current

    async def load(self) -> Allowlist:
        """The first load; unlike later reloads, a failure here is fatal (AllowlistError)."""
        await self.refresh(force=True, strict=True)
        return self.current

    async def refresh(self, *, force: bool = False, strict: bool = False) -> bool:
        """Look for a change unless one was looked for within the interval; True when it was applied."""
        now = self._clock()
        if (
            not force
            and self._checked_at is not None
            and now - self._checked_at < self._settings.reload_interval_seconds
        ):
            return False
        self._checked_at = now
        try:
            changed = await self._read()
        except AllowlistError as exc:
            if strict:
                raise
            log.error("allowlist %s: keeping the previous version: %s", self._settings.source, exc)
            return False
        if changed is None:
            return False
        text, fingerprint = changed
        try:
            allowlist = parse_allowlist(text)
        except AllowlistError as exc:
            if strict:
                raise AllowlistError(f"allowlist {self._settings.source}: {exc}") from exc
            log.error("allowlist %s is invalid, keeping the previous version: %s", self._settings.source, exc)
            self._fingerprint = fingerprint
            return False
        self._current, self._fingerprint = allowlist, fingerprint
        log.info("allowlist %s loaded: %d repos", self._settings.source, len(allowlist))
        return True

    async def watch(self) -> None:
        """Reload forever, one look per interval."""
        while True:
            await anyio.sleep(self._settings.reload_interval_seconds)
            await self.refresh()

    async def _read(self) -> tuple[str, object] | None:
        """The new text and its fingerprint, or None when the source is unchanged."""
        if self._settings.is_url:
            return await self._read_url()
        path = Path(self._settings.source)
        try:
            stat = path.stat()
            fingerprint: object = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if fingerprint == self._fingerprint:
                return None
            return path.read_text(encoding="utf-8"), fingerprint
        except OSError as exc:
            raise AllowlistError(f"cannot read allowlist {path}: {exc.strerror or exc}") from exc

    async def _read_url(self) -> tuple[str, object] | None:
        url, headers = fetch_url(self._settings.source, self._api_url)
        if isinstance(self._fingerprint, str) and self._fingerprint:
            headers["If-None-Match"] = self._fingerprint
        try:
            response = await self._http.get(url, headers=headers)
        except httpx2.HTTPError as exc:
            raise AllowlistError(f"cannot fetch allowlist {url}: {exc}") from exc
        if response.status_code == 304:
            return None
        if response.status_code != 200:
            raise AllowlistError(f"cannot fetch allowlist {url}: HTTP {response.status_code}")
        return response.text, response.headers.get("etag", "")
