"""How fast the relay answers GitHub webhooks, against a bare Starlette endpoint measured in the same run.

    python benchmarks/relay_webhook.py                          # 15 rounds of 2,000 requests per endpoint
    python benchmarks/relay_webhook.py --rounds 4 --requests 500 --processes 2   # a quicker look
    python benchmarks/relay_webhook.py --outbox discard         # diagnostic: every check, no durable write

Each endpoint runs under uvicorn in its own process, listening on loopback, and both are started
before the first measurement; this process drives them with the same keep-alive HTTP/1.1 load (a
minimal client, so the load generator is not what gets measured). Every request is a ~25 KB
`pull_request` webhook (one of 32 different PRs, signed in advance) with a new delivery id, so the
relay verifies the HMAC, routes, and writes the delivery to its intake journal before answering (an
answer other than 202 stops the run); its SQLite rows (the delivery with its targets, and the batch's
bodies compressed together) are stored in batches by the writer thread meanwhile, and that work is
measured too. The bare endpoint reads the body and answers 200. Dispatch workers are not started:
what GitHub waits for is the answer, and dispatching happens after it; that includes making the rows
per (delivery, target repo), which the dispatcher does as it claims deliveries.

The load generator shares the machine's CPUs with the servers, and so does whatever else runs there:
the endpoints take turns in rounds (which one goes first alternates, and each turn starts once every
server is idle), each round gives a ratio, and the verdict is the median ratio. Each endpoint runs in
`--processes` separately started processes, a pair per round in turn: one process can be luckier or
unluckier than another for its whole life (where the scheduler puts its threads, its memory layout),
by 5-10 % on a small shared machine, and one pair would carry that into every round. CPU time per
request of each server process (all its threads) and of the load generator is printed too, from
/proc where there is one.

`--outbox discard` is a diagnostic, not a relay figure: the relay does every check and routes, then
throws the delivery away instead of recording it, which shows how much of the gap is the durable write.

Targets: relay p99 under 50 ms, and relay throughput at least 50 % of the bare endpoint's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import multiprocessing
import os
import random
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from relay.delivery import Delivery, Target
from relay.webhook import UnhandledEvents, WebhookEndpoint

SECRET = b"benchmark-webhook-secret"


def _payloads(count: int) -> list[bytes]:
    """`count` pull_request webhooks shaped and sized like GitHub's (~25 KB): the upstream repository is the
    same in each, as it is for every PR; the PR, its author, its fork and its prose differ, and the prose
    does not compress away."""
    shared = random.Random(160001)
    words = ["".join(shared.choice(string.ascii_lowercase) for _ in range(shared.randint(2, 10))) for _ in range(3000)]

    def webhook(rng: random.Random, upstream: dict[str, Any] | None) -> dict[str, Any]:
        def prose(count: int) -> str:
            return " ".join(rng.choice(words) for _ in range(count))

        def user(login: str) -> dict[str, Any]:
            base = f"https://api.github.com/users/{login}"
            fields = ("followers", "following{/other_user}", "gists{/gist_id}", "starred{/owner}{/repo}", "orgs")
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

        upstream = upstream or repo("pytorch/pytorch")
        author = rng.choice(words)
        number = rng.randint(100000, 170000)
        return {
            "action": "synchronize",
            "number": number,
            "pull_request": {
                "number": number,
                "title": prose(8),
                "body": prose(900),
                "labels": [
                    {"name": name, "color": "ededed"} for name in ("ciflow/trunk", "release notes: distributed")
                ],
                "requested_reviewers": [user(rng.choice(words)) for _ in range(3)],
                "head": {"ref": prose(1), "sha": rng.randbytes(20).hex(), "repo": repo(f"{author}/pytorch")},
                "base": {"ref": "main", "sha": "b" * 40, "repo": upstream},
                "user": user(author),
            },
            "repository": upstream,
            "sender": user(author),
        }

    upstream = webhook(shared, None)["repository"]
    return [json.dumps(webhook(random.Random(seed), upstream)).encode() for seed in range(count)]


def _allowlist(repos: int) -> str:
    names = [f"backend-{i:02d}/pytorch-ci" for i in range(repos)]
    quarter = max(repos // 4, 1)
    lines = ["L1:", *(f"  - {n}" for n in names[:quarter])]
    lines += ["L2:", *(f'  - {n}: "oncall"' for n in names[quarter : 2 * quarter])]
    lines += ["L3:", "  npu:", *(f"    {n}: [oncall]" for n in names[2 * quarter : 3 * quarter])]
    lines += ["L4:", *(f"  - {n}" for n in names[3 * quarter :])]
    return "\n".join(lines) + "\n"


# -- the servers (child processes) ---------------------------------------------------------------


class _Discarding:
    """Accepts every delivery and stores nothing (the `--outbox discard` diagnostic)."""

    async def record(self, delivery: Delivery, targets: Sequence[Target]) -> bool:
        return True


def _serve(kind: str, repos: int, directory: str, discard: bool, ready: Connection) -> None:
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
            if discard:
                webhook = WebhookEndpoint(
                    secret=SECRET,
                    upstream_repo=config.upstream_repo,
                    allowlist=lambda: relay.allowlist.current,
                    outbox=_Discarding(),
                    handlers=UnhandledEvents(),
                )
                relay = dataclasses.replace(relay, webhook=webhook)
            settings.app = create_app(relay, background=False)
            await Server(settings).serve(sockets=[sock])

    anyio.run(main)


# -- the load (this process) ---------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process so far (Linux); None where /proc is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_idle(pids: Sequence[int], *, window: float = 0.2, limit: float = 15.0) -> None:
    """Wait until no server process uses more than 5 % of a CPU over `window` seconds.

    A relay keeps working briefly after its load ends (its last commits, a checkpoint); measuring the
    other endpoint meanwhile would charge that work to it.
    """
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = [_cpu_seconds(pid) for pid in pids]
        time.sleep(window)
        after = [_cpu_seconds(pid) for pid in pids]
        if all(b is None or a is None or a - b <= 0.05 * window for b, a in zip(before, after, strict=True)):
            return


async def _load(
    port: int, bodies: Sequence[bytes], requests: int, concurrency: int, expected: int
) -> tuple[float, list[float]]:
    heads = [
        (
            "POST /github/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-GitHub-Event: pull_request\r\nContent-Length: {len(body)}\r\n"
            f"X-Hub-Signature-256: sha256={hmac.new(SECRET, body, hashlib.sha256).hexdigest()}\r\n"
        ).encode()
        for body in bodies
    ]
    counter = iter(range(requests))
    latencies: list[float] = []

    async def worker(prefix: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for n in counter:
            delivery = f"X-GitHub-Delivery: bench-{prefix}-{n}-{time.monotonic_ns()}\r\n\r\n".encode()
            started = time.perf_counter()
            writer.write(heads[n % len(bodies)] + delivery + bodies[n % len(bodies)])
            headers = await reader.readuntil(b"\r\n\r\n")
            status = int(headers.split(b" ", 2)[1])
            lines = headers.split(b"\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length"))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != expected:  # an `ignored` or `duplicate` answer would skip the work being measured
                raise RuntimeError(f"expected HTTP {expected}, got {status}")
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return time.perf_counter() - started, latencies


@dataclass
class Run:
    """One endpoint's share of one round."""

    throughput: float
    latencies: list[float]
    server_cpu: float | None
    """Seconds of the server process's CPU per request (all its threads)."""
    client_cpu: float
    """Seconds of this process's CPU per request: the load generator's cost."""


@dataclass
class Server:
    kind: str
    expected: int
    port: int
    pid: int

    def run(self, bodies: Sequence[bytes], requests: int, concurrency: int) -> Run:
        server_before, client_before = _cpu_seconds(self.pid), time.process_time()
        elapsed, latencies = asyncio.run(_load(self.port, bodies, requests, concurrency, self.expected))
        server_after, client_after = _cpu_seconds(self.pid), time.process_time()
        return Run(
            throughput=len(latencies) / elapsed,
            latencies=latencies,
            server_cpu=None
            if server_before is None or server_after is None
            else (server_after - server_before) / requests,
            client_cpu=(client_after - client_before) / requests,
        )


@contextlib.contextmanager
def _servers(repos: int, discard: bool, processes: int) -> Iterator[list[dict[str, Server]]]:
    """`processes` pairs of servers, each in its own process, started before any measurement and stopped after all."""
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as directory, contextlib.ExitStack() as stack:
        pairs: list[dict[str, Server]] = []
        for number in range(processes):
            pair = {}
            for kind, expected in (("bare", 200), ("relay", 202)):
                home = Path(directory) / f"{kind}-{number}"
                home.mkdir()
                receive, send = context.Pipe(duplex=False)
                child = context.Process(target=_serve, args=(kind, repos, str(home), discard, send), daemon=True)
                child.start()
                stack.callback(child.join, 10)
                stack.callback(child.terminate)
                if not receive.poll(60):
                    raise RuntimeError(f"the {kind} server did not start")
                assert child.pid is not None
                pair[kind] = Server(kind, expected, receive.recv(), child.pid)
            pairs.append(pair)
        yield pairs


def _percentile(latencies: list[float], fraction: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)] * 1000


def _micros(values: list[float | None]) -> str:
    known = [value for value in values if value is not None]
    return f"{statistics.median(known) * 1e6:.0f}" if len(known) == len(values) else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="webhooks per endpoint and round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--processes", type=int, default=3, help="server processes per endpoint; the rounds take them in turn"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=3000,
        help="requests per server process before measuring; the default also writes the relay's 64 MiB journal "
        "once, as a relay that has been running has",
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repos", type=int, default=20, help="allowlisted downstream repos (targets per webhook)")
    parser.add_argument(
        "--outbox",
        choices=("sqlite", "discard"),
        default="sqlite",
        help="discard: a diagnostic that skips the durable write (not a relay figure)",
    )
    args = parser.parse_args(argv)
    for name in ("requests", "rounds", "processes", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    bodies = _payloads(32)
    size = statistics.mean(map(len, bodies))
    print(
        f"{args.requests} webhooks of {size / 1024:.1f} KB per endpoint and round, {args.rounds} rounds over "
        f"{args.processes} process pair(s), {args.concurrency} concurrent, {args.repos} allowlisted repos, loopback, "
        f"{multiprocessing.cpu_count()} CPUs"
    )
    runs: dict[str, list[Run]] = {"bare": [], "relay": []}
    ratios: list[float] = []
    if args.outbox == "discard":
        print("DIAGNOSTIC: deliveries are checked and routed, then discarded; these are not relay figures")
    with _servers(args.repos, args.outbox == "discard", args.processes) as pairs:
        pids = [server.pid for pair in pairs for server in pair.values()]
        for pair in pairs:
            for server in pair.values():
                server.run(bodies, args.warmup, args.concurrency)
        # Measurements start from an idle machine and wait for one before each endpoint's turn.
        print(f"{'round':<8}{'pair':>5}{'bare req/s':>12}{'relay req/s':>13}{'ratio':>8}")
        for number in range(1, args.rounds + 1):
            index = (number - 1) % len(pairs)
            pair = pairs[index]
            # Alternate which endpoint goes first, so drift on a shared machine falls on both alike.
            order = ("bare", "relay") if number % 2 else ("relay", "bare")
            measured = {}
            for kind in order:
                _wait_idle(pids)
                measured[kind] = pair[kind].run(bodies, args.requests, args.concurrency)
            for kind, run in measured.items():
                runs[kind].append(run)
            bare, relay = measured["bare"].throughput, measured["relay"].throughput
            ratios.append(relay / bare)
            print(
                f"{number:<8}{index + 1:>5}{bare:>12.0f}{relay:>13.0f}{ratios[-1]:>8.2f}",
                flush=True,
            )
    print()
    print(f"{'endpoint':<10}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'server CPU us/req':>19}{'load CPU us/req':>17}")
    for kind, done in runs.items():
        latencies = [latency for run in done for latency in run.latencies]
        print(
            f"{kind:<10}{statistics.median(run.throughput for run in done):>8.0f}"
            f"{_percentile(latencies, 0.5):>9.2f}{_percentile(latencies, 0.99):>9.2f}"
            f"{_micros([run.server_cpu for run in done]):>19}{_micros([run.client_cpu for run in done]):>17}"
        )
    ratio = statistics.median(ratios)
    p99 = _percentile([latency for run in runs["relay"] for latency in run.latencies], 0.99)

    def verdict(target: str, met: bool) -> str:
        if args.outbox == "discard":
            return f"diagnostic, no verdict on the target {target}"
        return f"target {target}: {'met' if met else 'MISSED'}"

    print(
        f"relay throughput / bare throughput, median of {args.rounds} rounds: {ratio:.2f} "
        f"({verdict('>= 0.50', ratio >= 0.5)})"
    )
    if args.processes > 1:
        pairs_median = [
            statistics.median(ratios[start :: args.processes]) for start in range(min(args.processes, args.rounds))
        ]
        print("  median ratio of each process pair: " + ", ".join(f"{value:.2f}" for value in pairs_median))
    print(f"relay p99 over all rounds: {p99:.1f} ms ({verdict('< 50 ms', p99 < 50)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
