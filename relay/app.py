"""Assembling the relay: open its parts from a config, and serve them as a Starlette app.

`open_relay` does everything that can fail on bad input (database lock, first allowlist load)
before any request is served, so a broken deployment stops at start with a readable error. The
app's lifespan runs the background work: dispatch workers, the sweeper and the allowlist reloader.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from relay.allowlist import Allowlist
from relay.allowlist_source import AllowlistSource
from relay.callback import CallbackEndpoint
from relay.callback_token import CallbackTokens
from relay.config import RelayConfig, Secrets
from relay.database import Database
from relay.dispatcher import Dispatcher
from relay.github_app import GitHubApp
from relay.oidc import OidcVerifier
from relay.outbox import SqliteOutbox
from relay.ratelimit import SlidingWindowLimiter
from relay.results import SqliteResultsStore
from relay.state import SqliteJobStore
from relay.sweeper import Sweeper
from relay.webhook import EventHandlers, UnhandledEvents, WebhookEndpoint

__all__ = ["Relay", "create_app", "open_relay"]


@dataclass
class Relay:
    """The relay's parts, opened together and closed together."""

    config: RelayConfig
    database: Database
    outbox: SqliteOutbox
    jobs: SqliteJobStore
    results: SqliteResultsStore
    allowlist: AllowlistSource
    github: GitHubApp
    dispatcher: Dispatcher
    sweeper: Sweeper
    webhook: WebhookEndpoint
    callback: CallbackEndpoint


@asynccontextmanager
async def open_relay(
    config: RelayConfig,
    secrets: Secrets,
    *,
    http: httpx2.AsyncClient | None = None,
    handlers: EventHandlers | None = None,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Relay]:
    """Open the database, load the allowlist and wire every part; AllowlistError or DatabaseBusy on failure."""
    async with AsyncExitStack() as stack:
        if http is None:
            http = await stack.enter_async_context(httpx2.AsyncClient(timeout=config.github.timeout_seconds))
        database = Database(config.store.database, synchronous=config.store.synchronous)
        stack.callback(database.close)
        outbox = await SqliteOutbox.open(
            database, journal_bytes=config.store.journal_mib << 20, sync_each=config.store.synchronous == "full"
        )
        stack.push_async_callback(outbox.close)  # before the database closes: it stores what is pending
        jobs, results = SqliteJobStore(database), SqliteResultsStore(database)
        allowlist = AllowlistSource(config.allowlist, http=http, api_url=config.github.api_url)
        await allowlist.load()
        github = GitHubApp(
            app_id=config.github.app_id,
            private_key=secrets.app_private_key,
            api_url=config.github.api_url,
            http=http,
            refresh_margin=config.github.token_refresh_margin_seconds,
            timeout=config.github.timeout_seconds,
            clock=clock,
        )
        tokens = CallbackTokens(secrets.callback_token_key, ttl=config.store.status_ttl_seconds, clock=clock)
        dispatcher = Dispatcher(
            outbox=outbox,
            github=github,
            tokens=tokens,
            callback_url=config.callback.public_url,
            settings=config.dispatch,
            # Longer than a token mint plus a dispatch can take, so a live request is never leased twice.
            lease_seconds=4 * config.github.timeout_seconds + 30,
            clock=clock,
        )

        def current() -> Allowlist:
            return allowlist.current  # whichever version the reloader last installed

        yield Relay(
            config=config,
            database=database,
            outbox=outbox,
            jobs=jobs,
            results=results,
            allowlist=allowlist,
            github=github,
            dispatcher=dispatcher,
            sweeper=Sweeper(
                jobs=jobs,
                outbox=outbox,
                results=results,
                allowlist=current,
                zombie_timeout=config.sweeper.zombie_timeout_seconds,
                status_ttl=config.store.status_ttl_seconds,
                interval=config.sweeper.interval_seconds,
                clock=clock,
            ),
            webhook=WebhookEndpoint(
                secret=secrets.webhook_secret,
                upstream_repo=config.upstream_repo,
                allowlist=current,
                outbox=outbox,
                handlers=handlers or UnhandledEvents(),
                clock=clock,
            ),
            callback=CallbackEndpoint(
                verifier=OidcVerifier(config.oidc, http=http, clock=clock),
                allowlist=current,
                limiter=SlidingWindowLimiter(config.callback.rate_limit_per_minute),
                tokens=tokens,
                outbox=outbox,
                jobs=jobs,
                results=results,
                max_body_bytes=config.callback.max_body_bytes,
                rate_limit=config.callback.rate_limit_per_minute,
                clock=clock,
            ),
        )


def create_app(relay: Relay, *, background: bool = True) -> Starlette:
    """The HTTP app; with `background=False` nothing is dispatched, swept or reloaded (tests, benchmarks)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:
            tg.start_soon(relay.database.checkpoints)
            if background:
                tg.start_soon(relay.dispatcher.run)
                tg.start_soon(relay.sweeper.run)
                tg.start_soon(relay.allowlist.watch)
            yield
            tg.cancel_scope.cancel()

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "allowlisted_repos": len(relay.allowlist.current)})

    return Starlette(
        routes=[
            Route("/github/webhook", relay.webhook.handle, methods=["POST"]),
            Route("/github/callback", relay.callback.handle, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
