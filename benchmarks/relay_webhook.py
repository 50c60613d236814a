"""How fast the relay answers GitHub webhooks, against a bare Starlette endpoint measured in the same run.

    python benchmarks/relay_webhook.py                      # 3,000 requests, 16 at a time, 20 repos
    python benchmarks/relay_webhook.py --requests 500       # a quicker look

Each endpoint runs under uvicorn in its own process, listening on loopback; this process drives both
with the same keep-alive HTTP/1.1 load (a minimal client, so the load generator is not what gets
measured). Every request is a ~25 KB `pull_request` webhook with a new delivery id, so the relay
verifies the HMAC, routes, and writes the delivery plus one outbox row per allowlisted repo to SQLite
before answering; the bare endpoint only reads the body and answers. Dispatch workers are not
started: what GitHub waits for is the answer, and dispatching happens after it.

Targets: relay p99 under 50 ms, and relay throughput at least 50 % of the bare endpoint's.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing
import random
import statistics
import string
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

SECRET = b"benchmark-webhook-secret"


def _payload() -> bytes:
    """A pull_request webhook shaped and sized like GitHub's (~27 KB), with prose that does not compress away."""
    rng = random.Random(160001)
    words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 10))) for _ in range(3000)]

    def prose(count: int) -> str:
        return " ".join(rng.choice(words) for _ in range(count))

    def user(login: str) -> dict[str, Any]:
        base = f"https://api.github.com/users/{login}"
        fields = ("followers", "following{/other_user}", "gists{/gist_id}", "starred{/owner}{/repo}", "orgs", "repos")
        return {"login": login, "id": rng.randint(1, 10**8), "type": "User", "url": base} | {
            f"{name.split('{')[0]}_url": f"{base}/{name}" for name in fields
        }

    def repo(full_name: str) -> dict[str, Any]:
        base = f"https://api.github.com/repos/{full_name}"
        return {
            "id": rng.randint(1, 10**9),
            "full_name": full_name,
            "owner": user(full_name.split("/")[0]),
            "description": prose(20),
            "topics": rng.sample(words, 12),
            **{f"{name}_url": f"{base}/{name}{{/{name[:-1]}}}" for name in rng.sample(words, 60)},
        }

    event = {
        "action": "synchronize",
        "number": 160001,
        "pull_request": {
            "number": 160001,
            "title": prose(8),
            "body": prose(900),
            "labels": [{"name": name, "color": "ededed"} for name in ("ciflow/trunk", "release notes: distributed")],
            "requested_reviewers": [user(rng.choice(words)) for _ in range(3)],
            "head": {"ref": "feature", "sha": "a" * 40, "repo": repo("contributor/pytorch")},
            "base": {"ref": "main", "sha": "b" * 40, "repo": repo("pytorch/pytorch")},
            "user": user("contributor"),
        },
        "repository": repo("pytorch/pytorch"),
        "sender": user("contributor"),
    }
    return json.dumps(event).encode()


def _allowlist(repos: int) -> str:
    names = [f"backend-{i:02d}/pytorch-ci" for i in range(repos)]
    quarter = max(repos // 4, 1)
    lines = ["L1:", *(f"  - {n}" for n in names[:quarter])]
    lines += ["L2:", *(f'  - {n}: "oncall"' for n in names[quarter : 2 * quarter])]
    lines += ["L3:", "  npu:", *(f"    {n}: [oncall]" for n in names[2 * quarter : 3 * quarter])]
    lines += ["L4:", *(f"  - {n}" for n in names[3 * quarter :])]
    return "\n".join(lines) + "\n"


# -- the servers (child processes) ---------------------------------------------------------------


def _serve(kind: str, repos: int, directory: str, ready: Connection) -> None:
    import anyio
    import uvicorn
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from relay.app import create_app, open_relay
    from relay.cli import listen
    from relay.config import RelayConfig, Secrets

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            ready.send(sockets[0].getsockname()[1])

    async def bare(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"status": "ok"})

    async def main() -> None:
        sock = listen("127.0.0.1", 0)
        settings = uvicorn.Config(None, log_level="warning", access_log=False, lifespan="on")  # type: ignore[arg-type]
        if kind == "bare":
            settings.app = Starlette(routes=[Route("/github/webhook", bare, methods=["POST"])])
            await Server(settings).serve(sockets=[sock])
            return
        (Path(directory) / "allowlist.yaml").write_text(_allowlist(repos))
        config = RelayConfig.model_validate(
            {
                "github": {"app_id": 1},
                "allowlist": {"source": str(Path(directory) / "allowlist.yaml")},
                "callback": {"public_url": "http://127.0.0.1:1/github/callback"},
                "store": {"database": str(Path(directory) / "relay.sqlite3")},
            }
        )
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        secrets = Secrets(webhook_secret=SECRET, app_private_key=key.decode(), callback_token_key=b"c" * 48)
        async with open_relay(config, secrets) as relay:
            settings.app = create_app(relay, background=False)
            await Server(settings).serve(sockets=[sock])

    anyio.run(main)


# -- the load (this process) ---------------------------------------------------------------------


async def _load(port: int, body: bytes, requests: int, concurrency: int) -> tuple[float, list[float]]:
    signature = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    head = (
        "POST /github/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-GitHub-Event: pull_request\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\n"
    ).encode()
    counter = iter(range(requests))
    latencies: list[float] = []

    async def worker(prefix: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for n in counter:
            delivery = f"X-GitHub-Delivery: bench-{prefix}-{n}-{time.monotonic_ns()}\r\n\r\n".encode()
            started = time.perf_counter()
            writer.write(head + delivery + body)
            headers = await reader.readuntil(b"\r\n\r\n")
            status = int(headers.split(b" ", 2)[1])
            lines = headers.split(b"\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length"))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status not in (200, 202):
                raise RuntimeError(f"unexpected HTTP {status}")
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return time.perf_counter() - started, latencies


def _measure(kind: str, args: argparse.Namespace, body: bytes) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    with tempfile.TemporaryDirectory() as directory:
        child = context.Process(target=_serve, args=(kind, args.repos, directory, send), daemon=True)
        child.start()
        try:
            if not receive.poll(60):
                raise RuntimeError(f"the {kind} server did not start")
            port = receive.recv()
            asyncio.run(_load(port, body, args.warmup, args.concurrency))
            elapsed, latencies = asyncio.run(_load(port, body, args.requests, args.concurrency))
        finally:
            child.terminate()
            child.join(10)
    latencies.sort()
    return {
        "throughput": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(int(len(latencies) * 0.99), len(latencies) - 1)] * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repos", type=int, default=20, help="allowlisted downstream repos (outbox rows per webhook)")
    args = parser.parse_args(argv)
    body = _payload()
    print(
        f"{args.requests} webhooks of {len(body) / 1024:.1f} KB, {args.concurrency} concurrent, "
        f"{args.repos} allowlisted repos, loopback, {multiprocessing.cpu_count()} CPUs"
    )
    results = {kind: _measure(kind, args, body) for kind in ("bare", "relay")}
    print(f"{'endpoint':<10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for kind, result in results.items():
        print(f"{kind:<10}{result['throughput']:>10.0f}{result['p50']:>10.2f}{result['p99']:>10.2f}")
    ratio = results["relay"]["throughput"] / results["bare"]["throughput"]
    p99 = results["relay"]["p99"]
    print(f"relay throughput / bare throughput: {ratio:.2f} (target >= 0.50: {'met' if ratio >= 0.5 else 'MISSED'})")
    print(f"relay p99: {p99:.1f} ms (target < 50 ms: {'met' if p99 < 50 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
