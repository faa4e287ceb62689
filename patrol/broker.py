"""The embedded MQTT broker: a Mosquitto child process, or an in-process amqtt broker.

`broker.url = "embedded"` in the configuration starts one of these for a one-machine park.
Mosquitto is preferred (MQTT 3.1.1 and 5, persistence, ACLs); amqtt is the fallback where the
binary is missing. Both listen on 127.0.0.1 only, on a free port chosen at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The embedded broker could not be started."""


@dataclass(frozen=True)
class BrokerEndpoint:
    """Where a broker listens, and which engine serves it."""

    host: str
    port: int
    engine: str  # "mosquitto", "amqtt" or "external"

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(host: str, port: int, timeout: float = 10.0) -> bool:
    """Block until something accepts TCP connections on host:port, or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


def mosquitto_binary() -> str | None:
    """Path of the `mosquitto` binary, looked up on PATH and in /usr/sbin."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if Path(candidate).exists():
            return candidate
    return None


@dataclass
class MosquittoProcess:
    """A private Mosquitto on a free port with a generated config.

    `extra_config` lines are appended (e.g. `password_file`, `acl_file`, TLS listeners).
    Persistence is on, in `data_dir`, so a restart keeps QoS 1 sessions and retained messages.
    """

    data_dir: Path
    port: int = 0
    host: str = "127.0.0.1"
    extra_config: list[str] = field(default_factory=list)
    allow_anonymous: bool = True
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def endpoint(self) -> BrokerEndpoint:
        return BrokerEndpoint(self.host, self.port, "mosquitto")

    @property
    def config_path(self) -> Path:
        return self.data_dir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "mosquitto.log"

    def write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port(self.host)
        lines = [
            "per_listener_settings false",
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            "persistence true",
            f"persistence_location {self.data_dir}/",
            "autosave_interval 1",
            "max_queued_messages 100000",
            "max_inflight_messages 0",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            *self.extra_config,
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # started as root, mosquitto would switch to the `mosquitto` user and lose access to our
            # (private) data, password and ACL files: the embedded broker runs as the service's user
            lines.append("user root")
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return self.config_path

    def start(self, timeout: float = 10.0) -> BrokerEndpoint:
        binary = mosquitto_binary()
        if binary is None:
            raise BrokerError("mosquitto is not installed (apt-get install mosquitto)")
        if self._proc is not None and self._proc.poll() is None:
            return self.endpoint
        self.write_config()
        self._proc = subprocess.Popen(
            [binary, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        if not wait_port(self.host, self.port, timeout):
            err = b""
            if self._proc.poll() is not None and self._proc.stderr is not None:
                err = self._proc.stderr.read()
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            raise BrokerError(
                f"mosquitto did not start on {self.host}:{self.port}: {err.decode(errors='replace')} {tail}"
            )
        log.info("mosquitto listening on %s:%d (data %s)", self.host, self.port, self.data_dir)
        return self.endpoint

    def stop(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if proc.stderr is not None:
            proc.stderr.close()

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> MosquittoProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def mosquitto(data_dir: Path, **kwargs: Any) -> Iterator[MosquittoProcess]:
    proc = MosquittoProcess(data_dir=data_dir, **kwargs)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@contextlib.asynccontextmanager
async def amqtt_broker(host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[BrokerEndpoint]:
    """An in-process amqtt broker (MQTT 3.1.1), used where Mosquitto is not installed."""
    from amqtt.broker import Broker

    port = port or free_port(host)
    config: dict[str, Any] = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    try:
        yield BrokerEndpoint(host, port, "amqtt")
    finally:
        with contextlib.suppress(Exception):
            await broker.shutdown()


@contextlib.asynccontextmanager
async def embedded_broker(data_dir: Path, *, extra_config: list[str] | None = None,
                          allow_anonymous: bool = True) -> AsyncIterator[BrokerEndpoint]:
    """Mosquitto as a child process when the binary exists, else amqtt in this process."""
    if mosquitto_binary() is not None:
        proc = MosquittoProcess(data_dir=data_dir / "broker", extra_config=extra_config or [],
                                allow_anonymous=allow_anonymous)
        endpoint = await asyncio.to_thread(proc.start)
        try:
            yield endpoint
        finally:
            await asyncio.to_thread(proc.stop)
    else:
        log.warning("mosquitto not found; starting the embedded amqtt broker (MQTT 3.1.1, no ACLs)")
        async with amqtt_broker() as endpoint:
            yield endpoint
