"""Configuration: TOML + environment, strict keys, errors naming key, file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from patrol.cli import main
from patrol.config import ConfigError, load_settings


def test_file_env_and_precedence(tmp_path: Path) -> None:
    f = tmp_path / "parkpatrol.toml"
    f.write_text('[broker]\nurl = "mqtt://broker.park:1883"\n[http]\nport = 9000\n', encoding="utf-8")
    s = load_settings(f, env={"PARKPATROL_HTTP__PORT": "9100"})
    assert s.broker.url == "mqtt://broker.park:1883"
    assert s.http.port == 9100  # the environment wins over the file


def test_every_mistake_named_with_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('demo = false\n\n[broker]\nurl = "tcp://x"\nusernme = "a"\n\n[http]\nport = 70000\n',
                 encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_settings(f, env={})
    msg = str(e.value)
    assert f"{f}:4: broker.url" in msg
    assert f"{f}:5: broker.usernme: unknown key" in msg
    assert f"{f}:8: http.port" in msg


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    f = tmp_path / "broken.toml"
    f.write_text("[broker\nurl=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(f, env={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_placeholder_secret_refused_outside_demo() -> None:
    s = load_settings(False, {"auth": {"secret_key": "changeme"}}, env={})
    with pytest.raises(ConfigError, match="PARKPATROL_AUTH__SECRET_KEY"):
        s.check_secrets()
    load_settings(False, {"demo": True}, env={}).check_secrets()  # demo mode generates its own
    load_settings(False, {"auth": {"secret_key": "k" * 40}}, env={}).check_secrets()


def test_cli_exits_2_on_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[http]\nprot = 1\n", encoding="utf-8")
    assert main(["user", "list", "--config", str(f)]) == 2
    assert "http.prot: unknown key" in capsys.readouterr().err
