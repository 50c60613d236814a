"""A local stand-in for the parts of the GitHub REST API the relay uses.

It checks what GitHub checks (an RS256 App JWT from the right App, installation tokens scoped to
their installation and unexpired, the dispatch body's limits), records what the relay sent, and can
fail or stall on demand. Tests wait on its records with `wait_for`, never with sleeps.
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["Failure", "GitHubEmulator", "RecordedDispatch"]


@dataclass(frozen=True)
class RecordedDispatch:
    repo: str
    event_type: str
    client_payload: dict[str, Any]


@dataclass(frozen=True)
class Failure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "injected failure"


class GitHubEmulator:
    def __init__(
        self,
        *,
        app_id: int,
        public_key: Any,
        installed: Iterable[str],
        token_lifetime: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.app_id = app_id
        self.url = ""  # set by whoever serves it
        self._public_key = public_key
        self.installations = {repo.lower(): 100 + index for index, repo in enumerate(installed)}
        self.token_lifetime = token_lifetime
        self.dispatches: list[RecordedDispatch] = []
        self.failed_dispatches: list[tuple[str, int]] = []
        self.check_runs: list[tuple[str, dict[str, Any]]] = []
        self.tokens_minted: list[int] = []
        self.installation_lookups: list[str] = []
        self.held: list[str] = []
        self.files: dict[str, tuple[str, str]] = {}
        self.file_requests: list[str | None] = []
        self._tokens: dict[str, tuple[int, float]] = {}
        self._failures: dict[str, deque[Failure]] = defaultdict(deque)
        self._holds: dict[str, anyio.Event] = {}
        self._hold_tokens: anyio.Event | None = None
        self._changed = anyio.Event()
        self.app = Starlette(
            routes=[
                Route("/repos/{owner}/{repo}/installation", self._installation, methods=["GET"]),
                Route("/app/installations/{installation:int}/access_tokens", self._mint, methods=["POST"]),
                Route("/repos/{owner}/{repo}/dispatches", self._dispatch, methods=["POST"]),
                Route("/repos/{owner}/{repo}/check-runs", self._check_run, methods=["POST"]),
                Route("/repos/{owner}/{repo}/contents/{path:path}", self._contents, methods=["GET"]),
            ]
        )

    # -- controls -------------------------------------------------------------------------------

    def fail(self, repo: str, *failures: Failure) -> None:
        """The next dispatches to `repo` answer with these failures, in order."""
        self._failures[repo.lower()].extend(failures)

    def hold(self, repo: str) -> None:
        """Dispatches to `repo` stall until released, then fail with 503 unrecorded."""
        self._holds[repo.lower()] = anyio.Event()

    def hold_tokens(self) -> None:
        """Installation token requests stall until released, then fail with 503."""
        self._hold_tokens = anyio.Event()

    def release(self) -> None:
        for event in self._holds.values():
            event.set()
        self._holds.clear()
        if self._hold_tokens is not None:
            self._hold_tokens.set()
            self._hold_tokens = None

    def dispatched_to(self, repo: str) -> list[RecordedDispatch]:
        return [d for d in self.dispatches if d.repo.lower() == repo.lower()]

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        """Return once `condition()` holds; bound it with anyio.fail_after."""
        while not condition():
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    # -- endpoints ------------------------------------------------------------------------------

    def _app_jwt_error(self, request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return JSONResponse({"message": "A JSON web token could not be decoded"}, status_code=401)
        try:
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            return JSONResponse({"message": f"A JSON web token could not be decoded: {exc}"}, status_code=401)
        if not claims["iat"] - 60 <= self.clock() < claims["exp"]:
            return JSONResponse(
                {"message": "'Expiration time' claim ('exp') is too far in the future"}, status_code=401
            )
        if claims["iss"] != str(self.app_id) or claims["exp"] - claims["iat"] > 600:
            return JSONResponse({"message": "Integration not found or JWT lifetime over 10 minutes"}, status_code=401)
        return None

    def _token_for(self, request: Request, repo: str) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        installation, expires = self._tokens.get(token, (None, 0.0))
        if scheme.lower() not in ("bearer", "token") or installation is None or expires <= self.clock():
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        if self.installations.get(repo.lower()) != installation:
            return JSONResponse({"message": "Resource not accessible by integration"}, status_code=403)
        return None

    async def _installation(self, request: Request) -> Response:
        if (error := self._app_jwt_error(request)) is not None:
            return error
        repo = f"{request.path_params['owner']}/{request.path_params['repo']}"
        self.installation_lookups.append(repo)
        installation = self.installations.get(repo.lower())
        if installation is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        return JSONResponse({"id": installation, "account": {"login": request.path_params["owner"]}})

    async def _mint(self, request: Request) -> Response:
        if (error := self._app_jwt_error(request)) is not None:
            return error
        installation = request.path_params["installation"]
        if installation not in self.installations.values():
            return JSONResponse({"message": "Not Found"}, status_code=404)
        if self._hold_tokens is not None:
            self.held.append(f"token:{installation}")
            self._notify()
            await self._hold_tokens.wait()
            return JSONResponse({"message": "released"}, status_code=503)
        token = "ghs_" + secrets.token_hex(16)
        expires = self.clock() + self.token_lifetime
        self._tokens[token] = (installation, expires)
        self.tokens_minted.append(installation)
        self._notify()
        expires_at = datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z")
        return JSONResponse({"token": token, "expires_at": expires_at}, status_code=201)

    async def _dispatch(self, request: Request) -> Response:
        repo = f"{request.path_params['owner']}/{request.path_params['repo']}"
        if (error := self._token_for(request, repo)) is not None:
            return error
        body = await request.json()
        event_type, payload = body.get("event_type"), body.get("client_payload", {})
        if not isinstance(event_type, str) or not 1 <= len(event_type) <= 100:
            return JSONResponse({"message": "Invalid request: event_type"}, status_code=422)
        if not isinstance(payload, dict) or len(payload) > 10:
            return JSONResponse({"message": "client_payload has more than 10 properties"}, status_code=422)
        hold = self._holds.get(repo.lower())
        if hold is not None:
            self.held.append(repo)
            self._notify()
            await hold.wait()
            return JSONResponse({"message": "released"}, status_code=503)
        failures = self._failures[repo.lower()]
        if failures:
            failure = failures.popleft()
            self.failed_dispatches.append((repo, failure.status))
            self._notify()
            return JSONResponse({"message": failure.message}, status_code=failure.status, headers=failure.headers)
        self.dispatches.append(RecordedDispatch(repo, event_type, payload))
        self._notify()
        return Response(status_code=204)

    async def _check_run(self, request: Request) -> Response:
        repo = f"{request.path_params['owner']}/{request.path_params['repo']}"
        if (error := self._token_for(request, repo)) is not None:
            return error
        self.check_runs.append((repo, await request.json()))
        self._notify()
        return JSONResponse({"id": len(self.check_runs)}, status_code=201)

    async def _contents(self, request: Request) -> Response:
        path = f"{request.path_params['owner']}/{request.path_params['repo']}/{request.path_params['path']}"
        self.file_requests.append(request.headers.get("if-none-match"))
        if path not in self.files:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        text, etag = self.files[path]
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304)
        return Response(text, headers={"etag": etag}, media_type="application/vnd.github.raw")
