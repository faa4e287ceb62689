"""A TCP relay that can go silent: bytes stop flowing both ways but no socket is closed, as when a
robot walks out of Wi-Fi range. Only MQTT keepalive can notice (the broker after 1.5 x keepalive).
It can also be cut: open connections are reset and new ones refused, as when a database server
restarts or a firewall rejects."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType


class SilentLink:
    """Relays 127.0.0.1:<port> to an upstream; `silence()` black-holes traffic, `restore()` resumes."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.silent = False
        self.cut_off = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> SilentLink:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def silence(self) -> None:
        """Stop relaying; connections stay open (no FIN, no RST) and hold whatever is sent."""
        self.silent = True

    def cut(self) -> None:
        """Reset every open connection and refuse (reset at once) new ones until `restore()`."""
        self.cut_off = True
        for w in list(self._writers):
            w.transport.abort()

    def restore(self) -> None:
        """Relay again; connections that were silenced are dropped so both ends start afresh."""
        self.silent = False
        self.cut_off = False
        for w in list(self._writers):
            w.transport.abort()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        tasks = {asyncio.create_task(self._pipe(reader, up_writer)), asyncio.create_task(self._pipe(up_reader, writer))}
        self._tasks |= tasks
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks -= tasks
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await src.read(65536):
                if self.silent:
                    continue  # swallowed: the peer never hears of it
                dst.write(data)
                await dst.drain()
