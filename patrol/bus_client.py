"""A paho client driven by the asyncio event loop, reading its socket in large chunks.

paho's parser asks the socket for one byte (packet type), then one byte per remaining-length
byte, then the rest: about four `recv` system calls per message, each releasing the GIL. This
subclass serves those reads from a user-space buffer filled by one `recv` of up to `RECV_CHUNK`
bytes, so a readable event yields many messages for one system call.

It also takes a socket opened elsewhere (`use_socket`): the bus does the blocking TCP connect and
TLS handshake in a worker thread and hands the connected socket over here, so that everything paho
does (CONNECT, callbacks, reads, writes) stays on the event loop thread.

The hot path, `take_publishes`, parses whole QoS 0/1 PUBLISH packets straight from that buffer
(MQTT 3.1.1 framing: fixed header, remaining length, topic, packet id, payload), hands topic and
payload to the bus and acknowledges QoS 1, skipping paho's per-message state machine, MQTTMessage
object and callback-filter walk. It only works at a packet boundary (paho holds no partial packet)
and stops at anything else (another packet type, QoS 2, MQTT 5, an incomplete or suspicious
packet, a topic that is not UTF-8): paho then reads that packet from the same buffer as before, so
its state never disagrees with ours.

Two of paho's private methods are overridden (`_sock_recv`, `_create_socket`) and three private
members are used (`_in_packet`, `_send_puback`, `_last_bytes_received`); their contracts (return
bytes or raise BlockingIOError; return a connected socket) were read in
paho-mqtt 2.2.0 (pyproject pins 2.2.x for that reason) and are exercised by tests/service/test_bus_loop_io.py.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

RECV_CHUNK = 256 * 1024
Deliver = Callable[[str, bytes], bool]
"""Takes one message; False: take no more now (the taker's buffer is full)."""


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

    def _raw_recv(self, bufsize: int) -> bytes:
        """One read from the socket (tests feed recorded chunks here)."""
        return super()._sock_recv(bufsize)

    def _sock_recv(self, bufsize: int) -> bytes:
        pos = self._rx_pos
        have = len(self._rx) - pos
        if have <= 0:
            try:
                data = self._raw_recv(max(bufsize, RECV_CHUNK))
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

    def take_publishes(self, deliver: Deliver, limit: int) -> int:
        """Deliver up to `limit` whole QoS 0/1 PUBLISH packets from the head of the read buffer; how many.

        Stops, leaving the bytes to paho, at the first packet it does not take (see the module docstring)."""
        if self._in_packet["command"] != 0 or self._protocol != mqtt.MQTTv311 or self._manual_ack:
            return 0
        buf = self._rx
        pos = self._rx_pos
        end = len(buf)
        taken = 0
        while taken < limit and pos < end:
            head = buf[pos]
            if head & 0xF0 != 0x30:
                break  # not a PUBLISH
            qos = (head >> 1) & 3
            if qos > 1:
                break
            i = pos + 1
            length = 0
            shift = 0
            while i < end and shift <= 21:
                byte = buf[i]
                i += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            else:
                break  # remaining length incomplete (or over 4 bytes: paho reports it)
            stop = i + length
            if stop > end or length < 2:
                break  # incomplete, or too short for a topic length: paho reads or rejects it
            topic_end = i + 2 + ((buf[i] << 8) | buf[i + 1])
            body = topic_end + 2 if qos else topic_end
            if body > stop or topic_end == i + 2:
                break  # malformed (or an empty topic): paho reports it
            try:
                topic = buf[i + 2:topic_end].decode()
            except UnicodeDecodeError:
                break
            pos = stop
            self._rx_pos = pos  # consumed before delivering: whatever deliver does, it is not read twice
            more = deliver(topic, buf[body:stop])
            if qos:
                self._send_puback((buf[topic_end] << 8) | buf[topic_end + 1])
            taken += 1
            if not more:
                break
        if taken:
            if pos >= end:
                self.reset_rx()
            self._last_bytes_received = time.monotonic()
        return taken
