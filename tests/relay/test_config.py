from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from relay.allowlist import parse_allowlist
from relay.config import ConfigError, load_config, load_secrets

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "relay.yaml"
    path.write_text(text)
    return path


MINIMAL = """\
github: {app_id: 1}
allowlist: {source: allow.yaml}
callback: {public_url: "https://relay.example.org/github/callback"}
"""


def test_the_example_config_loads_and_points_at_the_example_allowlist() -> None:
    config = load_config(EXAMPLES / "relay.yaml")
    assert config.upstream_repo == "pytorch/pytorch"
    assert config.oidc.audience == "pytorch-cross-repo-ci-relay"
    assert Path(config.allowlist.source) == EXAMPLES / "relay-allowlist.yaml"
    assert len(parse_allowlist(Path(config.allowlist.source).read_text())) > 0
    assert config.store.database.is_absolute() and "~" not in str(config.store.database)


def test_relative_paths_are_read_relative_to_the_config_file(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, MINIMAL + "store: {database: state/relay.db}\n"))
    assert Path(config.allowlist.source) == tmp_path / "allow.yaml"
    assert config.store.database == tmp_path / "state" / "relay.db"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("github: {app_id: 1, app_idd: 2}\n", "github.app_idd: Extra inputs are not permitted"),
        ("github: {api_url: 'https://api.github.com'}\n", "github.app_id: Field required"),
        ("github: {app_id: 1, api_url: 'http://ghe.example.org/api/v3'}\n", "github.api_url"),
        ("upstream_repo: pytorch\n", "upstream_repo"),
        ("dispatch: {max_attempts: 0}\n", "dispatch.max_attempts"),
        ("oidc: {issuers: []}\n", "oidc.issuers"),
        ("callback: {public_url: 'relay.example.org/cb'}\n", "callback.public_url"),
        ("sweeper: {zombie_timeout: 5}\n", "sweeper.zombie_timeout: Extra inputs are not permitted"),
        ("store: {journal_mib: 8}\n", "store.journal_mib: Input should be greater than or equal to 32"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_field(tmp_path: Path, extra: str, message: str) -> None:
    document = {**yaml.safe_load(MINIMAL), **yaml.safe_load(extra)}
    with pytest.raises(ConfigError) as error:
        load_config(_write(tmp_path, yaml.safe_dump(document)))
    assert message in str(error.value)


def test_http_is_accepted_only_for_loopback_services(tmp_path: Path) -> None:
    document = yaml.safe_load(MINIMAL)
    document["github"]["api_url"] = "http://127.0.0.1:9999"
    document["oidc"] = {"issuers": [{"issuer": "http://localhost:8080"}]}
    config = load_config(_write(tmp_path, yaml.safe_dump(document)))
    assert config.github.api_url == "http://127.0.0.1:9999"


def test_a_missing_or_unreadable_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(_write(tmp_path, "- just\n- a list\n"))


def _environment(app_key_pem: str) -> dict[str, str]:
    return {
        "RELAY_WEBHOOK_SECRET": "hook",
        "RELAY_CALLBACK_TOKEN_SECRET": "c" * 40,
        "RELAY_GITHUB_APP_PRIVATE_KEY": app_key_pem,
    }


@pytest.mark.parametrize("missing", ["RELAY_WEBHOOK_SECRET", "RELAY_CALLBACK_TOKEN_SECRET"])
def test_a_missing_secret_is_refused_naming_its_variable(app_key_pem: str, missing: str) -> None:
    environ = _environment(app_key_pem)
    del environ[missing]
    with pytest.raises(ConfigError, match=missing):
        load_secrets(environ)


def test_the_app_key_is_read_from_the_environment_or_a_file_and_must_be_rsa(app_key_pem: str, tmp_path: Path) -> None:
    environ = _environment(app_key_pem)
    assert load_secrets(environ).app_private_key == app_key_pem
    del environ["RELAY_GITHUB_APP_PRIVATE_KEY"]
    with pytest.raises(ConfigError, match="RELAY_GITHUB_APP_PRIVATE_KEY_FILE"):
        load_secrets(environ)
    (tmp_path / "app.pem").write_text(app_key_pem)
    assert load_secrets({**environ, "RELAY_GITHUB_APP_PRIVATE_KEY_FILE": str(tmp_path / "app.pem")}).app_private_key
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "ec.pem").write_bytes(ec_pem)
    with pytest.raises(ConfigError, match="must be RSA"):
        load_secrets({**environ, "RELAY_GITHUB_APP_PRIVATE_KEY_FILE": str(tmp_path / "ec.pem")})
    with pytest.raises(ConfigError, match="not an unencrypted PEM"):
        load_secrets({**environ, "RELAY_GITHUB_APP_PRIVATE_KEY": "garbage"})


def test_secrets_do_not_show_in_their_repr(app_key_pem: str) -> None:
    text = repr(load_secrets(_environment(app_key_pem)))
    assert "hook" not in text and "PRIVATE KEY" not in text
