"""A paho client driven by the asyncio event loop, reading its socket in large chunks.

paho's parser asks the socket for one byte (packet type), then one byte per remaining-length
byte, then the rest: about four `recv` system calls per message, each releasing the GIL. This
subclass serves those reads from a user-space buffer filled by one `recv` of up to `RECV_CHUNK`
bytes, so a readable event yields many messages for one system call.

It also takes a socket opened elsewhere (`use_socket`): the bus does the blocking TCP connect and
TLS handshake in a worker thread and hands the connected socket over here, so that everything paho
does (CONNECT, callbacks, reads, writes) stays on the event loop thread.

Two of paho's private methods are overridden (`_sock_recv`, `_create_socket`); both are small and
their contracts (return bytes or raise BlockingIOError; return a connected socket) were read in
paho-mqtt 2.2.0 (pyproject pins 2.2.x for that reason) and are exercised by tests/service/test_bus_loop_io.py.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

import paho.mqtt.client as mqtt

RECV_CHUNK = 256 * 1024


class LoopClient(mqtt.Client):
    """paho client for an external (asyncio) loop; see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rx = b""
        self._rx_pos = 0
        self._premade: socket.socket | ssl.SSLSocket | None = None
        self.rx_exhausted = False  # set when a real recv found no data: wait for the next readable event

    def use_socket(self, sock: socket.socket | ssl.SSLSocket) -> None:
        """The next `reconnect()` uses this connected socket instead of opening its own."""
        self._premade = sock

    def reset_rx(self) -> None:
        self._rx = b""
        self._rx_pos = 0

    @property
    def rx_buffered(self) -> int:
        """Bytes read from the socket that paho has not parsed yet."""
        return len(self._rx) - self._rx_pos

    def _create_socket(self) -> Any:
        sock, self._premade = self._premade, None
        self.reset_rx()
        if sock is None:  # paho reconnecting on its own (MQTT 3.1 downgrade after a refused 3.1.1): blocking
            return super()._create_socket()
        return sock

    def _sock_recv(self, bufsize: int) -> bytes:
        pos = self._rx_pos
        have = len(self._rx) - pos
        if have <= 0:
            try:
                data = super()._sock_recv(max(bufsize, RECV_CHUNK))
            except BlockingIOError:
                self.rx_exhausted = True
                raise
            if len(data) <= bufsize:  # includes b"" (connection closed): paho handles it
                self._rx, self._rx_pos = b"", 0
                return data
            self._rx, pos, have = data, 0, len(data)
        if bufsize >= have:
            out = self._rx[pos:] if pos else self._rx
            self._rx, self._rx_pos = b"", 0
            return out
        self._rx_pos = pos + bufsize
        return self._rx[pos:pos + bufsize]
