from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from relay.cli import main
from relay.config import load_secrets
from relay.database import Database
from tests.relay.harness import client, relay_config
from tests.relay.process import ROOT, LogReader, write_config

EXAMPLE = ROOT / "examples" / "relay.yaml"


def _secrets(app_key_pem: str) -> dict[str, str]:
    return {
        "RELAY_WEBHOOK_SECRET": "webhook-secret",
        "RELAY_CALLBACK_TOKEN_SECRET": "c" * 48,
        "RELAY_GITHUB_APP_PRIVATE_KEY": app_key_pem,
    }


@pytest.mark.parametrize(
    "missing", ["RELAY_WEBHOOK_SECRET", "RELAY_CALLBACK_TOKEN_SECRET", "RELAY_GITHUB_APP_PRIVATE_KEY"]
)
def test_serve_stops_at_start_naming_a_missing_secret(
    app_key_pem: str, missing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = _secrets(app_key_pem)
    del environ[missing]
    assert main(["serve", "--config", str(EXAMPLE)], environ) == 2
    assert missing in capsys.readouterr().err


def test_serve_stops_at_start_naming_a_bad_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "relay.yaml").write_text(EXAMPLE.read_text().replace("app_id: 123456", "app_id: -1"))
    assert main(["serve", "--config", str(tmp_path / "relay.yaml")], {}) == 2
    assert "github.app_id" in capsys.readouterr().err


def test_serve_stops_at_start_naming_a_bad_allowlist_entry(
    tmp_path: Path, app_key_pem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = relay_config(
        tmp_path,
        github_url="http://127.0.0.1:9",
        issuer_url="http://127.0.0.1:9",
        relay_url="http://127.0.0.1:9",
        allowlist="L2:\n  - fine/repo\n  - broken\n",
    )
    path = write_config(config, tmp_path / "relay.yaml")
    assert main(["serve", "--config", str(path)], _secrets(app_key_pem)) == 2
    assert "L2[1]: 'broken' is not owner/repo" in capsys.readouterr().err


def _unreachable_config(tmp_path: Path) -> tuple[Path, Path]:
    """A config pointing at nothing (serve must stop before it calls out); its path and its database path."""
    config = relay_config(
        tmp_path, github_url="http://127.0.0.1:9", issuer_url="http://127.0.0.1:9", relay_url="http://127.0.0.1:9"
    )
    config.store.database.parent.mkdir(parents=True, exist_ok=True)
    return write_config(config, tmp_path / "relay.yaml"), config.store.database


def test_serve_refuses_a_database_another_relay_holds(
    tmp_path: Path, app_key_pem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, database = _unreachable_config(tmp_path)
    holder = Database(database)
    try:
        assert main(["serve", "--config", str(path)], _secrets(app_key_pem)) == 2
    finally:
        holder.close()
    assert "another relay process" in capsys.readouterr().err


def test_serve_refuses_a_database_of_another_table_layout_and_says_what_to_do(
    tmp_path: Path, app_key_pem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, database = _unreachable_config(tmp_path)
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE deliveries (delivery_id TEXT PRIMARY KEY, body_zlib BLOB)")
    assert main(["serve", "--config", str(path)], _secrets(app_key_pem)) == 2
    assert "move the file (and its .journal) away" in capsys.readouterr().err


def test_dev_key_writes_a_private_key_the_relay_accepts_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "keys" / "dev-app.pem"
    assert main(["dev-key", str(key)], {}) == 0
    assert key.stat().st_mode & 0o777 == 0o600
    environ = {**_secrets(""), "RELAY_GITHUB_APP_PRIVATE_KEY": "", "RELAY_GITHUB_APP_PRIVATE_KEY_FILE": str(key)}
    assert "PRIVATE KEY" in load_secrets(environ).app_private_key
    assert main(["dev-key", str(key)], {}) == 2
    assert "refusing to overwrite" in capsys.readouterr().err


@pytest.mark.anyio
async def test_the_example_config_serves_and_stops_cleanly_on_sigterm(tmp_path: Path, app_key_pem: str) -> None:
    env = {**os.environ, **_secrets(app_key_pem), "HOME": str(tmp_path)}  # the example's database lives under ~
    command = [sys.executable, "-m", "relay", "serve", "--config", str(EXAMPLE), "--port", "0"]
    async with await anyio.open_process(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL) as process:
        assert process.stderr is not None
        log = LogReader(process.stderr)
        with anyio.fail_after(20):
            (listening,) = await log.wait_for(r"relay listening on (http://\S+)")
            async with client() as http:
                health = await http.get(f"{listening.group(1)}/healthz")
            process.send_signal(signal.SIGTERM)
            assert await process.wait() == 0
    assert health.json() == {"status": "ok", "allowlisted_repos": 4}
    assert (tmp_path / ".local/state/distributed-triage/relay.sqlite3").exists()
