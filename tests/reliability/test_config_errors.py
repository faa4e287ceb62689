"""Configuration mistakes give precise errors (key, file:line, what to do) and start nothing:
`parkpatrol serve --config bad.toml` exits 2 before it binds a port, creates a data directory
or starts a broker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from patrol.broker import free_port
from patrol.cli import main
from patrol.config import ConfigError, load_settings

pytestmark = pytest.mark.reliability

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET_ENV = {"PARKPATROL_AUTH__SECRET_KEY": "s" * 48}

# (name, TOML text, fragments the error must contain)
MISTAKES: list[tuple[str, str, list[str]]] = [
    ("unknown key", '[broker]\nurl = "mqtt://127.0.0.1:1"\nusrname = "x"\n', [":3:", "broker.usrname", "unknown key"]),
    ("unknown section", 'demo = false\n\n[brokr]\nurl = "x"\n', [":3:", "brokr", "unknown key"]),
    ("wrong type", '[http]\nport = "eighty"\n', [":2:", "http.port", "integer"]),
    ("out of range", "[http]\nport = 70000\n", [":2:", "http.port", "65535"]),
    ("bad broker url", '[broker]\nurl = "http://127.0.0.1:1883"\n', [":2:", "broker.url", "mqtt://"]),
    ("bad database url", '[database]\nurl = "mysql://x"\n', [":2:", "database.url", "sqlite+aiosqlite://"]),
    ("keepalive too short", "[broker]\nkeepalive_s = 1\n", [":2:", "broker.keepalive_s", "greater than or equal"]),
    ("bad log level", 'log_level = "LOUD"\n', [":1:", "log_level", "DEBUG"]),
    ("camera stale limit", "[sensors]\ncamera_status_stale_s = 0\n", [":2:", "sensors.camera_status_stale_s",
                                                                      "greater than 0"]),
    ("not TOML", "[broker\nurl = 1\n", ["not valid TOML", "line 1"]),
    ("two mistakes", '[http]\nport = -1\n[fleet]\noffline_after_s = 0\n', [":2:", ":4:", "http.port",
                                                                         "fleet.offline_after_s"]),
]


@pytest.mark.parametrize(("name", "text", "fragments"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_config_mistake_is_reported_precisely(tmp_path: Path, name: str, text: str, fragments: list[str]) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={})
    msg = str(err.value)
    assert str(cfg) in msg
    for fragment in fragments:
        assert fragment in msg, f"{name}: {fragment!r} missing from {msg!r}"


def test_missing_file_and_placeholder_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})
    data = tmp_path / "data"
    cfg = tmp_path / "ok.toml"
    cfg.write_text(f'data_dir = "{data}"\n[auth]\nsecret_key = "changeme"\n', encoding="utf-8")
    assert main(["serve", "--config", str(cfg)]) == 2
    assert "PARKPATROL_AUTH__SECRET_KEY" in capsys.readouterr().err
    assert not data.exists(), "a refused configuration must not create the data directory"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_serve_with_a_bad_config_exits_2_without_binding(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f'data_dir = "{data}"\n[broker]\nurl = "embedded"\nretries = 3\n[http]\nport = {port}\n',
                   encoding="utf-8")
    env = {**os.environ, **SECRET_ENV, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "patrol.cli", "serve", "--config", str(cfg)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"{cfg}:4: broker.retries: unknown key" in proc.stderr
    assert "Traceback" not in proc.stderr and "Uvicorn running" not in proc.stderr + proc.stdout
    assert _port_free(port)
    assert not data.exists() and not (tmp_path / "parkpatrol-data").exists()
