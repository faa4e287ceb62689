"""`parkpatrol broker-config`: broker accounts from the robot registry plus the park's own accounts.

Robots get one account each (hash stored in the registry, password shown once by `robot add`).
The service, the Zigbee2MQTT gateway and the vision workers get accounts kept in
`<data_dir>/broker-accounts.json` (hashes only); a missing one is created with a random
password that is printed once. The service's password comes from `broker.password` when set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from patrol.config import Settings
from patrol.fleet.registry import RobotRegistry
from patrol.store.db import Store
from robots.security import BrokerAccount, hash_password, new_password, write_broker_config

PARK_ACCOUNTS = ("service", "sensor_gateway", "vision_worker")
DEFAULT_USERNAMES = {"service": "parkpatrol-service", "sensor_gateway": "zigbee2mqtt",
                     "vision_worker": "parkpatrol-vision"}


def _load_park_accounts(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object of accounts")
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def _save_private(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


async def build_accounts(settings: Settings, registry: RobotRegistry) -> tuple[list[BrokerAccount], dict[str, str]]:
    """All broker accounts, and the passwords created in this call (to show once)."""
    new_secrets: dict[str, str] = {}
    accounts: list[BrokerAccount] = []
    interface = settings.broker.vda_interface
    for rec in registry.all():
        pw_hash = rec.broker_password_hash
        if not pw_hash:
            pw = new_password()
            pw_hash = hash_password(pw)
            await registry.update(rec.robot_id, broker_password_hash=pw_hash)
            new_secrets[rec.broker_username] = pw
        accounts.append(BrokerAccount.robot(rec.manufacturer, rec.serial_number, password_hash=pw_hash,
                                            username=rec.broker_username, interface=interface))
    store_path = settings.data_dir / "broker-accounts.json"
    park = _load_park_accounts(store_path)
    for role in PARK_ACCOUNTS:
        entry = park.get(role, {})
        username = entry.get("username") or (
            settings.broker.username if role == "service" and settings.broker.username else DEFAULT_USERNAMES[role])
        if role == "service" and settings.broker.password:
            pw_hash = hash_password(settings.broker.password)
        elif entry.get("password_hash"):
            pw_hash = entry["password_hash"]
        else:
            pw = new_password()
            pw_hash = hash_password(pw)
            new_secrets[username] = pw
        park[role] = {"username": username, "password_hash": pw_hash}
        if role == "service":
            accounts.append(BrokerAccount.service(username, password_hash=pw_hash, interface=interface))
        elif role == "sensor_gateway":
            accounts.append(BrokerAccount.sensor_gateway(username, password_hash=pw_hash))
        else:
            accounts.append(BrokerAccount.vision_worker(username, password_hash=pw_hash))
    _save_private(store_path, park)
    return accounts, new_secrets


async def write_from_registry(settings: Settings, out_dir: Path, *, port: int = 1883
                              ) -> tuple[list[Path], dict[str, str]]:
    store = Store(settings.database_url)
    try:
        await store.migrate()
        registry = RobotRegistry(store.sessions)
        await registry.load()
        accounts, new_secrets = await build_accounts(settings, registry)
    finally:
        await store.close()
    paths = write_broker_config(out_dir, accounts, listener_port=port,
                                persistence_dir=out_dir / "data")
    return [paths.config, paths.password_file, paths.acl_file], new_secrets
