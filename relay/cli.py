"""`python -m relay serve | report | dev-key`.

Exit status: 0 done, 1 the action failed (the reason is printed), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import get_args

import anyio
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from relay.allowlist import AllowlistError
from relay.app import create_app, open_relay
from relay.callback_schema import Conclusion
from relay.config import ENV_APP_PRIVATE_KEY_FILE, ConfigError, RelayConfig, Secrets, load_config, load_secrets
from relay.database import DatabaseBusy, DatabaseOutdated
from relay.report import DEFAULT_AUDIENCE, ReportError, ReportRequest, report

__all__ = ["listen", "main"]

log = logging.getLogger("relay")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m relay", description="Cross-repository CI relay (RFC-0050).")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the relay (webhooks, dispatch, callbacks)")
    serve.add_argument("--config", type=Path, required=True, help="YAML settings (secrets come from the environment)")
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port (0 picks a free port)")

    rep = commands.add_parser("report", help="from a downstream Actions job: report its state to the relay")
    rep.add_argument("--status", required=True, choices=["in_progress", "completed"])
    rep.add_argument("--conclusion", choices=get_args(Conclusion), help="required with --status completed")
    rep.add_argument("--job-name", help="default $GITHUB_JOB; must differ between matrix legs")
    rep.add_argument("--check-run-id", help="the job's check run id (${{ job.check_run_id }})")
    rep.add_argument("--test-results", help='JSON summary, e.g. {"passed": 10, "failed": 0, "skipped": 2}')
    rep.add_argument("--artifact-url", help="where the job's logs and artifacts are kept")
    rep.add_argument("--callback-url", help="default $RELAY_CALLBACK_URL, then the URL in the dispatch")
    rep.add_argument("--audience", default=DEFAULT_AUDIENCE, help="OIDC audience the relay expects")

    key = commands.add_parser("dev-key", help="write a new RSA key for local development (not a real App key)")
    key.add_argument("path", type=Path)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = os.environ if environ is None else environ
    if args.command == "serve":
        return _serve(args, env)
    if args.command == "report":
        return _report(args, env)
    return _dev_key(args.path)


def _serve(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    try:
        config = load_config(args.config)
        secrets = load_secrets(environ)
    except ConfigError as exc:
        print(f"relay: {exc}", file=sys.stderr)
        return 2
    server = config.server.model_copy(
        update={k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    )
    config = config.model_copy(update={"server": server})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        anyio.run(_run_server, config, secrets)
    except (AllowlistError, DatabaseBusy, DatabaseOutdated) as exc:
        print(f"relay: {exc}", file=sys.stderr)
        return 2
    return 0


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, which kills the process before
        # the database is closed; the relay shuts down the same way and then exits normally.
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and sockets:
            host, port = sockets[0].getsockname()[:2]
            log.info("relay listening on http://%s:%d", host, port)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket. asyncio disables Nagle's algorithm only on sockets whose protocol is
    IPPROTO_TCP, and `socket.create_server` leaves it 0: every keep-alive response would then wait
    ~40 ms for a delayed ACK."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(2048)
    return sock


async def _run_server(config: RelayConfig, secrets: Secrets) -> None:
    async with open_relay(config, secrets) as relay:
        sock = listen(config.server.host, config.server.port)
        uv = uvicorn.Config(create_app(relay), lifespan="on", log_level="info", access_log=False)
        await _Server(uv).serve(sockets=[sock])


def _report(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    request = ReportRequest(
        status=args.status,
        conclusion=args.conclusion,
        job_name=args.job_name,
        check_run_id=args.check_run_id,
        test_results=args.test_results,
        artifact_url=args.artifact_url,
        callback_url=args.callback_url,
        audience=args.audience,
    )
    try:
        answer = anyio.run(lambda: report(request, environ))
    except ReportError as exc:
        print(f"relay report: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer))
    return 0


def _dev_key(path: Path) -> int:
    if path.exists():
        print(f"relay: {path} exists; refusing to overwrite a key", file=sys.stderr)
        return 2
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    print(f"wrote {path}; use it with: export {ENV_APP_PRIVATE_KEY_FILE}={path}")
    return 0
