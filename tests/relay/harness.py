"""A running relay on loopback, wired to a local GitHub emulator and a local OIDC issuer."""

from __future__ import annotations

import functools
import json
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from relay.app import Relay, create_app, open_relay
from relay.config import RelayConfig, Secrets
from relay.outbox import DispatchRecord
from tests.relay.github_emulator import GitHubEmulator
from tests.relay.oidc_issuer import OidcIssuerEmulator
from tests.relay.payloads import encode, sign
from tests.relay.servers import bind, serve

__all__ = [
    "ALLOWLIST",
    "APP_ID",
    "CALLBACK_KEY",
    "REPOS",
    "WEBHOOK_SECRET",
    "Clock",
    "Harness",
    "client",
    "post_webhook",
    "relay_config",
    "report_body",
    "running_relay",
    "secrets_for",
    "settled",
]

APP_ID = 424242
WEBHOOK_SECRET = b"test-webhook-secret"
CALLBACK_KEY = b"k" * 48
ALLOWLIST = """\
L1:
  - l1org/one
L2:
  - l2org/two: "alice, bob"
  - l2org/three
L3:
  npu:
    l3org/four: [carol]
L4:
  - l4org/five: "@dave"
"""
REPOS = ("l1org/one", "l2org/three", "l2org/two", "l3org/four", "l4org/five")


@functools.cache
def _tls() -> ssl.SSLContext:
    return httpx2.create_ssl_context()


def client() -> httpx2.AsyncClient:
    """An HTTP client; building a TLS context costs ~50 ms, so all tests share one."""
    return httpx2.AsyncClient(timeout=10.0, verify=_tls())


class Clock:
    """Real wall time plus an offset the test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def secrets_for(app_key_pem: str) -> Secrets:
    return Secrets(webhook_secret=WEBHOOK_SECRET, app_private_key=app_key_pem, callback_token_key=CALLBACK_KEY)


def relay_config(
    tmp_path: Path, *, github_url: str, issuer_url: str, relay_url: str, allowlist: str = ALLOWLIST, **sections: Any
) -> RelayConfig:
    allowlist_path = tmp_path / "allowlist.yaml"
    if not allowlist_path.exists():
        allowlist_path.write_text(allowlist)
    raw: dict[str, Any] = {
        "upstream_repo": "pytorch/pytorch",
        "github": {"app_id": APP_ID, "api_url": github_url},
        "allowlist": {"source": str(allowlist_path)},
        "callback": {"public_url": f"{relay_url}/github/callback"},
        "oidc": {"issuers": [{"issuer": issuer_url}]},
        "dispatch": {"workers": 4, "max_attempts": 3, "backoff_initial_seconds": 0.01, "backoff_max_seconds": 0.05},
        "store": {"database": str(tmp_path / "relay.sqlite3")},
    }
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return RelayConfig.model_validate(raw)


async def post_webhook(
    http: httpx2.AsyncClient,
    url: str,
    event: str,
    payload: dict[str, Any],
    *,
    delivery: str | None = None,
    signature: str | None = None,
    body: bytes | None = None,
) -> httpx2.Response:
    """Post as GitHub does; `signature=""` leaves the signature header out."""
    raw = encode(payload) if body is None else body
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(WEBHOOK_SECRET, raw) if signature is None else signature,
        "Content-Type": "application/json",
    }
    if signature == "":
        del headers["X-Hub-Signature-256"]
    return await http.post(f"{url}/github/webhook", content=raw, headers=headers)


@dataclass
class Harness:
    relay: Relay
    url: str
    github: GitHubEmulator
    issuer: OidcIssuerEmulator
    http: httpx2.AsyncClient
    clock: Clock

    async def webhook(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        delivery: str | None = None,
        signature: str | None = None,
        body: bytes | None = None,
    ) -> httpx2.Response:
        return await post_webhook(
            self.http, self.url, event, payload, delivery=delivery, signature=signature, body=body
        )

    async def callback(self, body: dict[str, Any] | bytes, *, token: str | None) -> httpx2.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.http.post(f"{self.url}/github/callback", content=content, headers=headers)


@asynccontextmanager
async def running_relay(
    tmp_path: Path,
    github: GitHubEmulator,
    issuer: OidcIssuerEmulator,
    app_key_pem: str,
    /,
    *,
    background: bool = True,
    clock: Clock | None = None,
    **sections: Any,
) -> AsyncIterator[Harness]:
    sock, url = bind()
    config = relay_config(tmp_path, github_url=github.url, issuer_url=issuer.url, relay_url=url, **sections)
    clock = clock or Clock()
    async with (
        client() as http,
        open_relay(config, secrets_for(app_key_pem), http=http, clock=clock) as relay,
        serve(create_app(relay, background=background), sock),
    ):
        yield Harness(relay=relay, url=url, github=github, issuer=issuer, http=http, clock=clock)


def report_body(
    client_payload: dict[str, Any],
    status: str,
    conclusion: str | None = None,
    *,
    run_id: int = 5001,
    run_attempt: int = 1,
    job_name: str = "test",
    workflow: str = "downstream-ci",
    **workflow_fields: Any,
) -> dict[str, Any]:
    """A callback body as `python -m relay report` sends it, for the job of `client_payload`'s dispatch."""
    return {
        "event_type": client_payload["event_type"],
        "delivery_id": client_payload["delivery_id"],
        "callback_token": client_payload["callback_token"],
        "workflow": {
            "schema_version": "1",
            "status": status,
            "conclusion": conclusion,
            "name": workflow,
            "url": f"https://github.com/x/y/actions/runs/{run_id}",
            "run_id": str(run_id),
            "run_attempt": str(run_attempt),
            "job_name": job_name,
            "check_run_id": f"{run_id}-{run_attempt}-{job_name}",
            **workflow_fields,
        },
    }


async def settled(relay: Relay, delivery_id: str, count: int | None = None) -> list[DispatchRecord]:
    """The delivery's outbox rows once none is pending any more (bound it with anyio.fail_after)."""
    while True:
        changed = relay.outbox.watch()
        records = await relay.outbox.for_delivery(delivery_id)
        if records and all(r.status != "pending" for r in records) and (count is None or len(records) == count):
            return records
        await changed.wait()
