"""Service configuration: `parkpatrol.toml` plus `PARKPATROL_*` environment variables.

Precedence (highest first): explicit overrides (CLI flags), environment variables
(`PARKPATROL_BROKER__URL=mqtt://…`, nested keys joined by `__`), the TOML file, defaults.
Every model forbids unknown keys; an error names the key, the file and the line.
Secrets (`auth.secret_key`, broker password) belong in the environment: outside demo mode the
service refuses to start with a missing or placeholder secret.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from patrol.sensors.policy import SensorPolicy

DEFAULT_CONFIG_FILE = "parkpatrol.toml"
CONFIG_ENV = "PARKPATROL_CONFIG"
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "placeholder", "parkpatrol"})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrokerSettings(Strict):
    url: str = Field("embedded", description='"embedded", mqtt://host:port or mqtts://host:port')
    username: str | None = None
    password: str | None = None
    client_id: str = "parkpatrol-service"
    keepalive_s: int = Field(30, ge=5, le=3600)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    vda_interface: str = "uagv"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v == "embedded" or re.fullmatch(r"mqtts?://[^\s/:]+(:\d{1,5})?/?", v):
            return v
        raise ValueError('must be "embedded" or mqtt://host[:port] / mqtts://host[:port]')


class DatabaseSettings(Strict):
    url: str | None = Field(None, description="SQLAlchemy async URL; default SQLite in the data directory")
    write_buffer: int = Field(10_000, ge=100, le=1_000_000,
                              description="store writes kept in memory while the database is unavailable; "
                                          "beyond this they are dropped (counted in /api/metrics store.dropped)")
    retry_max_delay_s: float = Field(2.0, ge=0.05, le=60,
                                     description="longest wait between retries of a buffered write")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or v.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            return v
        raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")


class HttpSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    cors_origins: tuple[str, ...] = ()
    ssl_certfile: Path | None = Field(None, description="PEM certificate: serve HTTPS")
    ssl_keyfile: Path | None = Field(None, description="PEM private key of ssl_certfile")


class AuthSettings(Strict):
    secret_key: str = ""
    token_ttl_s: int = Field(8 * 3600, ge=60, le=30 * 24 * 3600)
    cookie_secure: bool = False


class ParkSettings(Strict):
    map_file: Path | None = Field(None, description="GeoJSON park; default: the shipped sample park")


class FleetSettings(Strict):
    auto_accept: bool = Field(False, description="register unknown robots automatically (demo only)")
    offline_after_s: float = Field(10.0, gt=0)
    low_battery_pct: float = Field(20.0, ge=0, le=100)
    max_payload_bytes: int = Field(256 * 1024, ge=1024)
    visit_retention_days: int = Field(400, ge=1, le=3650,
                                      description="checkpoint visits older than this are deleted")


class VisionSettings(Strict):
    enabled: bool = True
    camera_base_url: str | None = Field(
        None, description="replace scheme://host:port of every camera stream URL (e.g. the simulator's)")
    model: Path | None = None


class Settings(BaseSettings):
    """The whole configuration of a ParkPatrol service."""

    model_config = SettingsConfigDict(env_prefix="PARKPATROL_", env_nested_delimiter="__", extra="forbid",
                                      frozen=True)

    demo: bool = False
    data_dir: Path = Path("parkpatrol-data")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    broker: BrokerSettings = BrokerSettings()
    database: DatabaseSettings = DatabaseSettings()
    http: HttpSettings = HttpSettings()
    auth: AuthSettings = AuthSettings()
    park: ParkSettings = ParkSettings()
    fleet: FleetSettings = FleetSettings()
    vision: VisionSettings = VisionSettings()
    sensors: SensorPolicy = SensorPolicy()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # the TOML file is merged into init kwargs by load_settings(), so it ranks below env
        return (env_settings, init_settings)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{(self.data_dir / 'parkpatrol.db').resolve()}"

    def check_secrets(self) -> None:
        """Refuse placeholder secrets outside demo mode."""
        if self.demo:
            return
        key = self.auth.secret_key
        if key.lower() in PLACEHOLDER_SECRETS or len(key) < 32:
            raise ConfigError(
                "auth.secret_key is missing or a placeholder: set PARKPATROL_AUTH__SECRET_KEY to a random "
                "string of at least 32 characters "
                "(e.g. `python -c 'import secrets;print(secrets.token_hex(32))'`)")
        if self.broker.username and (self.broker.password or "").lower() in PLACEHOLDER_SECRETS:
            raise ConfigError("broker.password is a placeholder: set PARKPATROL_BROKER__PASSWORD")


class ConfigError(Exception):
    """A configuration problem, with where it is and what to do."""


def _find_line(text: str, loc: tuple[str | int, ...]) -> int | None:
    """Line (1-based) where the key at `loc` is written in a TOML text, best effort.

    An exact key wins; else the deepest written key or section that `loc` lies under.
    """
    keys = [str(k) for k in loc if isinstance(k, str)]
    if not keys:
        return None
    section: list[str] = []
    key_re = re.compile(r'^\s*"?([A-Za-z0-9_\-.]+)"?\s*=')
    header_re = re.compile(r"^\s*\[\s*([A-Za-z0-9_\-. \"]+)\s*\]")
    best: tuple[int, int] | None = None  # (depth, line)
    for number, line in enumerate(text.splitlines(), start=1):
        h = header_re.match(line)
        if h:
            section = [p.strip().strip('"') for p in h.group(1).split(".")]
            full = section
        else:
            m = key_re.match(line)
            if not m:
                continue
            full = section + [p.strip() for p in m.group(1).split(".")]
        if full == keys[: len(full)] and (best is None or len(full) > best[0]):
            best = (len(full), number)
    return best[1] if best else None


def _format_errors(err: ValidationError, source: str, text: str | None) -> str:
    parts = []
    for e in err.errors():
        loc = tuple(e["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        where = source
        if text is not None:
            line = _find_line(text, loc)
            if line is not None:
                where = f"{source}:{line}"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see README for the keys)"
        parts.append(f"{where}: {key}: {msg}")
    return "invalid configuration:\n  " + "\n  ".join(parts)


def load_settings(path: Path | str | Literal[False] | None = None, overrides: Mapping[str, Any] | None = None,
                  env: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (if any), the environment and `overrides` into validated `Settings`.

    `path` None means `$PARKPATROL_CONFIG`, else `./parkpatrol.toml` when it exists; False: no file.
    Raises `ConfigError` naming the key, file and line of every problem.
    """
    environ = os.environ if env is None else env
    explicit = path is not None or CONFIG_ENV in environ
    file = Path(path if path else environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))
    data: dict[str, Any] = {}
    text: str | None = None
    if path is False:
        pass
    elif file.exists():
        text = file.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{file}: not valid TOML: {e}") from e
    elif explicit:
        raise ConfigError(f"{file}: configuration file not found")
    merged = _deep_merge(data, dict(overrides or {}))
    saved: dict[str, str] | None = None
    if env is not None:  # tests pass an explicit environment
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
    try:
        return Settings(**merged)
    except ValidationError as e:
        raise ConfigError(_format_errors(e, str(file) if text is not None else "environment", text)) from e
    finally:
        if saved is not None:
            os.environ.clear()
            os.environ.update(saved)


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out
