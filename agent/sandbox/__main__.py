"""`python -m agent.sandbox`: serve the sandbox on its own, e.g. as the command of `--github stdio`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio
from pydantic import ValidationError

from agent.sandbox.options import add_fault_arguments, faults_from_arguments
from agent.sandbox.records import DatasetError
from agent.sandbox.serving import default_store, serve


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agent.sandbox", description="Serve the sandbox GitHub MCP server over stdio or HTTP."
    )
    parser.add_argument("--db", type=Path, help="SQLite file (default: the seeded one in the state directory)")
    parser.add_argument("--load", type=Path, help="load issues from a dataset-format JSONL file first")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="HTTP port; 0 picks a free one (default: %(default)s)")
    parser.add_argument(
        "--bearer-token-env", metavar="VAR", help="over HTTP, require `Authorization: Bearer $VAR` on every request"
    )
    add_fault_arguments(parser)
    args = parser.parse_args(argv)
    token = None
    if args.bearer_token_env:
        token = os.environ.get(args.bearer_token_env)
        if not token:
            parser.error(f"--bearer-token-env {args.bearer_token_env}: that environment variable is not set")
    try:
        faults = faults_from_arguments(args)
        store = default_store(args.db)
        if args.load:
            print(f"loaded {store.load_jsonl(args.load)} issues from {args.load}", file=sys.stderr)
    except (ValidationError, DatasetError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        anyio.run(
            lambda: serve(
                store, transport=args.transport, host=args.host, port=args.port, faults=faults, bearer_token=token
            )
        )
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
