"""Broker security: per-account Mosquitto passwords (hashed as `mosquitto_passwd` does) and ACLs.

Each robot gets its own account that may publish only its own `state`/`connection`/`visualization`/
`factsheet` and read only its own `order`/`instantActions`; the service account reads every robot and
writes orders; sensor gateways get `zigbee2mqtt/#` and `homeassistant/#`; vision workers get
`parkpatrol/vision/#` and `parkpatrol/cameras/#`.

    paths = write_broker_config(out_dir, [BrokerAccount.robot("Acme", "dog-1", password=...), ...],
                                listener_port=1883)
    # paths.config is a complete mosquitto.conf; auth_config_lines(paths) are its password/ACL lines.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from robots.vda5050.topics import DEFAULT_INTERFACE, ROBOT_PUBLISHES, ROBOT_SUBSCRIBES, check_level

PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default for $7$
SALT_BYTES = 12
HASH_BYTES = 64
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@\-]{1,128}$")
_HASH_RE = re.compile(r"^\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$")


class AccountRole(StrEnum):
    ROBOT = "robot"
    SERVICE = "service"
    SENSOR_GATEWAY = "sensor_gateway"
    VISION_WORKER = "vision_worker"


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> str:
    """`$7$<iterations>$<salt>$<hash>`: PBKDF2-HMAC-SHA512 with a 12-byte salt, as mosquitto_passwd writes."""
    if not password:
        raise ValueError("refusing to hash an empty password")
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, HASH_BYTES)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """True when `password` matches a `$7$` hash."""
    m = _HASH_RE.match(hashed)
    if m is None:
        return False
    salt, expected = base64.b64decode(m.group(2)), base64.b64decode(m.group(3))
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, int(m.group(1)), len(expected))
    return hmac.compare_digest(digest, expected)


def is_password_hash(value: str) -> bool:
    return _HASH_RE.match(value) is not None


def new_password(nbytes: int = 18) -> str:
    """A random password (URL-safe base64, 24 characters for the default 18 bytes)."""
    return secrets.token_urlsafe(nbytes)


@dataclass(frozen=True)
class BrokerAccount:
    """One broker login. Give `password` (hashed when written) or an existing `password_hash`."""

    username: str
    role: AccountRole
    password: str | None = None
    password_hash: str | None = None
    manufacturer: str | None = None
    serial_number: str | None = None
    interface: str = DEFAULT_INTERFACE

    def __post_init__(self) -> None:
        if not _USERNAME_RE.match(self.username):
            raise ValueError(f"username {self.username!r}: use 1-128 of A-Z a-z 0-9 _ . @ -")
        if (self.password is None) == (self.password_hash is None):
            raise ValueError(f"account {self.username!r}: give exactly one of password or password_hash")
        if self.password_hash is not None and not is_password_hash(self.password_hash):
            raise ValueError(f"account {self.username!r}: password_hash is not a mosquitto $7$ hash")
        if self.password is not None and not self.password:
            raise ValueError(f"account {self.username!r}: empty password")
        check_level("interface", self.interface)
        if self.role is AccountRole.ROBOT:
            if not self.manufacturer or not self.serial_number:
                raise ValueError(f"robot account {self.username!r} needs manufacturer and serial_number")
            check_level("manufacturer", self.manufacturer)
            check_level("serialNumber", self.serial_number)

    @classmethod
    def robot(cls, manufacturer: str, serial_number: str, *, password: str | None = None,
              password_hash: str | None = None, username: str | None = None,
              interface: str = DEFAULT_INTERFACE) -> BrokerAccount:
        return cls(username or f"robot-{serial_number}", AccountRole.ROBOT, password, password_hash,
                   manufacturer, serial_number, interface)

    @classmethod
    def service(cls, username: str = "parkpatrol-service", *, password: str | None = None,
                password_hash: str | None = None, interface: str = DEFAULT_INTERFACE) -> BrokerAccount:
        return cls(username, AccountRole.SERVICE, password, password_hash, interface=interface)

    @classmethod
    def sensor_gateway(cls, username: str, *, password: str | None = None,
                       password_hash: str | None = None) -> BrokerAccount:
        return cls(username, AccountRole.SENSOR_GATEWAY, password, password_hash)

    @classmethod
    def vision_worker(cls, username: str, *, password: str | None = None,
                      password_hash: str | None = None) -> BrokerAccount:
        return cls(username, AccountRole.VISION_WORKER, password, password_hash)

    def hashed(self) -> str:
        if self.password_hash is not None:
            return self.password_hash
        assert self.password is not None
        return hash_password(self.password)

    def acl_rules(self) -> list[str]:
        """This account's `topic <access> <filter>` lines."""
        if self.role is AccountRole.ROBOT:
            base = f"{self.interface}/v2/{self.manufacturer}/{self.serial_number}"
            return ([f"topic write {base}/{t.value}" for t in ROBOT_PUBLISHES]
                    + [f"topic read {base}/{t.value}" for t in ROBOT_SUBSCRIBES])
        if self.role is AccountRole.SERVICE:
            every = f"{self.interface}/v2/+/+"
            return ([f"topic read {every}/{t.value}" for t in ROBOT_PUBLISHES]
                    + [f"topic write {every}/{t.value}" for t in ROBOT_SUBSCRIBES]
                    + ["topic readwrite parkpatrol/#", "topic readwrite zigbee2mqtt/#",
                       "topic readwrite homeassistant/#", "topic read $SYS/#"])
        if self.role is AccountRole.SENSOR_GATEWAY:
            return ["topic readwrite zigbee2mqtt/#", "topic readwrite homeassistant/#"]
        return ["topic readwrite parkpatrol/vision/#", "topic readwrite parkpatrol/cameras/#"]


def _check_unique(accounts: Sequence[BrokerAccount]) -> None:
    seen: set[str] = set()
    robots: set[tuple[str | None, str | None, str]] = set()
    for a in accounts:
        if a.username in seen:
            raise ValueError(f"username {a.username!r} appears twice")
        seen.add(a.username)
        if a.role is AccountRole.ROBOT:
            key = (a.manufacturer, a.serial_number, a.interface)
            if key in robots:
                raise ValueError(f"robot {a.manufacturer}/{a.serial_number} has two accounts")
            robots.add(key)


def password_file_text(accounts: Iterable[BrokerAccount]) -> str:
    return "".join(f"{a.username}:{a.hashed()}\n" for a in accounts)


def acl_text(accounts: Iterable[BrokerAccount]) -> str:
    """A Mosquitto ACL file: one `user` block per account; anything not listed is denied."""
    blocks = ["# ParkPatrol broker ACL (generated by `parkpatrol broker-config`; edits are overwritten)\n"]
    for a in accounts:
        blocks.append(f"# {a.role.value}" + (f" {a.manufacturer}/{a.serial_number}" if a.manufacturer else "")
                      + f"\nuser {a.username}\n" + "".join(r + "\n" for r in a.acl_rules()))
    return "\n".join(blocks)


@dataclass(frozen=True)
class BrokerConfigPaths:
    config: Path
    password_file: Path
    acl_file: Path


def auth_config_lines(paths: BrokerConfigPaths) -> list[str]:
    """The config lines that switch on these accounts (for `MosquittoProcess(extra_config=...)`)."""
    return [f"password_file {paths.password_file}", f"acl_file {paths.acl_file}"]


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_broker_config(out_dir: Path, accounts: Sequence[BrokerAccount], *, listener_port: int = 1883,
                        bind_address: str | None = None, persistence_dir: Path | None = None,
                        tls_cert: Path | None = None, tls_key: Path | None = None,
                        tls_ca: Path | None = None) -> BrokerConfigPaths:
    """Write `mosquitto.conf`, `passwd` (hashed, mode 0600) and `acl` into `out_dir`.

    Anonymous clients are refused. With `tls_cert`/`tls_key` the listener speaks TLS (MQTT over 8883 style).
    """
    if not accounts:
        raise ValueError("no broker accounts given; add at least the service account")
    if not 0 < listener_port < 65536:
        raise ValueError(f"listener_port {listener_port} is not a TCP port")
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("give both tls_cert and tls_key, or neither")
    _check_unique(accounts)
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = BrokerConfigPaths(out_dir / "mosquitto.conf", out_dir / "passwd", out_dir / "acl")
    _write_private(paths.password_file, password_file_text(accounts))
    _write_private(paths.acl_file, acl_text(accounts))
    lines = [
        "# ParkPatrol Mosquitto configuration (generated by `parkpatrol broker-config`)",
        "per_listener_settings false",
        f"listener {listener_port}" + (f" {bind_address}" if bind_address else ""),
        "allow_anonymous false",
        *auth_config_lines(paths),
    ]
    if tls_cert is not None and tls_key is not None:
        lines += [f"certfile {tls_cert.resolve()}", f"keyfile {tls_key.resolve()}"]
        if tls_ca is not None:
            lines.append(f"cafile {tls_ca.resolve()}")
    if persistence_dir is not None:
        lines += ["persistence true", f"persistence_location {persistence_dir.resolve()}/"]
    _write_private(paths.config, "\n".join(lines) + "\n")
    return paths


def accounts_from_json(data: Any) -> list[BrokerAccount]:
    """Accounts from JSON: a list of objects with `role`, `username`, `password` or `passwordHash`, and for
    robots `manufacturer` and `serialNumber` (optional `interface`). Errors name the entry."""
    if not isinstance(data, list):
        raise ValueError("accounts JSON must be a list of objects")
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ValueError(f"accounts[{i}] is not an object")
        try:
            role = AccountRole(item.get("role", ""))
            serial = item.get("serialNumber")
            username = item.get("username") or (f"robot-{serial}" if role is AccountRole.ROBOT else None)
            if not username:
                raise ValueError("username is missing")
            out.append(BrokerAccount(
                username=str(username), role=role, password=item.get("password"),
                password_hash=item.get("passwordHash"), manufacturer=item.get("manufacturer"),
                serial_number=serial, interface=item.get("interface", DEFAULT_INTERFACE)))
        except (ValueError, TypeError) as e:
            raise ValueError(f"accounts[{i}]: {e}") from None
    return out


def load_accounts_file(path: Path) -> list[BrokerAccount]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from None
    try:
        return accounts_from_json(data)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
