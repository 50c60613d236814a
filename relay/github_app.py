"""The relay's identity towards GitHub: App JWT, per-repo installation tokens, and the calls it makes.

Installation tokens live an hour. One is minted when first needed and reused only while it has more
than a margin left, so a dispatch never goes out with a token that expires in flight.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import httpx2
import jwt

__all__ = ["GitHubApp", "GitHubError", "classify_response"]

_API_VERSION = "2022-11-28"
_JWT_BACKDATE = 60  # GitHub's advice: allow for clock drift between us and them
_JWT_LIFETIME = 540  # GitHub refuses App JWTs living more than 10 minutes


class GitHubError(Exception):
    """A GitHub call failed. `retryable` says whether the same call may succeed later."""

    def __init__(
        self, message: str, *, status: int | None = None, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


def classify_response(response: httpx2.Response, *, action: str, now: float) -> GitHubError:
    """Turn an error response into a GitHubError, telling rate limits and outages from refusals."""
    status = response.status_code
    detail = _message(response)
    retry_after = _seconds(response.headers.get("retry-after"), now)
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = _float(response.headers.get("x-ratelimit-reset"))
        if reset is not None:
            retry_after = max(retry_after or 0.0, reset - now)
    if status in (403, 429) and retry_after is None and "secondary rate limit" in detail.lower():
        retry_after = 60.0  # GitHub's advice when a secondary limit comes without Retry-After
    rate_limited = status == 429 or (status == 403 and retry_after is not None)
    retryable = rate_limited or status >= 500
    kind = "rate limited" if rate_limited else f"HTTP {status}"
    return GitHubError(
        f"{action}: {kind}: {detail}" if detail else f"{action}: {kind}",
        status=status,
        retryable=retryable,
        retry_after=retry_after,
    )


def _message(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    message = body.get("message") if isinstance(body, dict) else None
    return str(message)[:200] if message else ""


def _float(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def _seconds(value: str | None, now: float) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    seconds = _float(value)
    if seconds is not None or value is None:
        return None if seconds is None else max(seconds, 0.0)
    try:
        return max(parsedate_to_datetime(value).timestamp() - now, 0.0)
    except (TypeError, ValueError):
        return None


class GitHubApp:
    """Calls GitHub as the App (JWT) or as one of its installations (installation token)."""

    def __init__(
        self,
        *,
        app_id: int,
        private_key: str,
        api_url: str,
        http: httpx2.AsyncClient,
        refresh_margin: float = 300.0,
        timeout: float = 20.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._app_id = app_id
        self._private_key = private_key
        self._api = api_url.rstrip("/")
        self._http = http
        self._margin = refresh_margin
        self._timeout = timeout
        self._clock = clock
        self._jwt: tuple[str, float] | None = None
        self._installations: dict[str, int] = {}
        self._tokens: dict[int, tuple[str, float]] = {}
        self._locks: dict[int, anyio.Lock] = {}

    def app_jwt(self) -> str:
        """An RS256 JWT identifying the App, reused while it has a minute left."""
        now = self._clock()
        if self._jwt is not None and self._jwt[1] - now > 60:
            return self._jwt[0]
        issued = int(now) - _JWT_BACKDATE
        expires = int(now) + _JWT_LIFETIME
        token = jwt.encode({"iat": issued, "exp": expires, "iss": str(self._app_id)}, self._private_key, "RS256")
        self._jwt = (token, float(expires))
        return token

    async def installation_id(self, repo: str) -> int:
        """The App's installation on `repo`; GitHubError 404 when the App is not installed there."""
        key = repo.lower()
        if key not in self._installations:
            action = f"find the App's installation on {repo}"
            body = await self._call("GET", f"/repos/{repo}/installation", self.app_jwt(), action=action)
            if not isinstance(body.get("id"), int):
                raise GitHubError(f"{action}: the answer has no installation id")
            self._installations[key] = body["id"]
        return self._installations[key]

    async def installation_token(self, repo: str) -> str:
        installation = await self.installation_id(repo)
        lock = self._locks.setdefault(installation, anyio.Lock())
        async with lock:
            cached = self._tokens.get(installation)
            if cached is not None and cached[1] - self._clock() > self._margin:
                return cached[0]
            try:
                body = await self._call(
                    "POST",
                    f"/app/installations/{installation}/access_tokens",
                    self.app_jwt(),
                    action=f"mint installation token for {repo}",
                )
            except GitHubError as exc:
                if exc.status == 404:  # uninstalled since we looked it up; look again next time
                    self._installations.pop(repo.lower(), None)
                raise
            token, expires_at = body.get("token"), body.get("expires_at")
            if not isinstance(token, str) or not isinstance(expires_at, str):
                raise GitHubError(f"mint installation token for {repo}: the answer has no token or expiry")
            expires = datetime.fromisoformat(expires_at.replace("Z", "+00:00")).timestamp()
            self._tokens[installation] = (token, expires)
            return token

    async def dispatch(self, repo: str, event_type: str, client_payload: Mapping[str, object]) -> None:
        """Send `repository_dispatch` to `repo` with its own installation token."""
        token = await self.installation_token(repo)
        await self._call(
            "POST",
            f"/repos/{repo}/dispatches",
            token,
            json={"event_type": event_type, "client_payload": client_payload},
            action=f"dispatch {event_type} to {repo}",
        )

    async def _call(
        self, method: str, path: str, credential: str, *, action: str, json: object = None
    ) -> dict[str, Any]:
        headers = {
            "Authorization": f"Bearer {credential}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": _API_VERSION,
            "User-Agent": "crcr-relay",
        }
        try:
            response = await self._http.request(
                method, self._api + path, headers=headers, json=json, timeout=self._timeout
            )
        except httpx2.TransportError as exc:
            raise GitHubError(f"{action}: {type(exc).__name__}: {exc}", retryable=True) from exc
        if response.status_code >= 400:
            raise classify_response(response, action=action, now=self._clock())
        if response.status_code == 204 or not response.content:
            return {}
        try:
            body = response.json()
        except ValueError as exc:
            raise GitHubError(f"{action}: GitHub sent a body that is not JSON", status=response.status_code) from exc
        if not isinstance(body, dict):
            raise GitHubError(f"{action}: GitHub sent an unexpected body", status=response.status_code)
        return body
