"""The real service under uvicorn on a free port in a background thread, for browser tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, TypeVar

import uvicorn

from patrol.app import Loop, Subsystem, create_app
from patrol.config import Settings
from patrol.fleet.registry import RobotKind
from patrol.roles import Role
from patrol.runtime import Runtime

T = TypeVar("T")


@dataclass
class LiveServer:
    url: str
    runtime: Runtime
    loop: asyncio.AbstractEventLoop

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run a coroutine on the server's event loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def add_user(self, role: Role) -> tuple[str, str]:
        name, password = f"ui-{role.value}", f"pw-{role.value}-0123456789"
        if name not in {u.username for u in self.call(self.runtime.auth.list_users())}:
            self.call(self.runtime.auth.add_user(name, password, role))
        return name, password

    def add_robot(self, manufacturer: str, serial: str) -> None:
        async def add() -> None:
            await self.runtime.registry.add(manufacturer, serial, RobotKind.PATROL_DOG)
            self.runtime.fleet.seed_from_registry()

        self.call(add())


@contextlib.contextmanager
def live_server(settings: Settings, subsystems: list[Subsystem] | None = None) -> Iterator[LiveServer]:
    captured: list[tuple[Runtime, asyncio.AbstractEventLoop]] = []

    async def capture(rt: Runtime, stack: AsyncExitStack) -> list[Loop]:
        captured.append((rt, asyncio.get_running_loop()))
        return []

    app = create_app(settings, subsystems=[*(subsystems or []), Subsystem("test-capture", capture)])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="console-test-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start under uvicorn (see the log above)")
            time.sleep(0.05)
        rt, loop = captured[0]
        yield LiveServer(f"http://127.0.0.1:{port}", rt, loop)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
