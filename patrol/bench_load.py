"""The ingest bench's load generator: VDA 5050 robot states at a set rate, as cheaply as possible.

A bench that wants to tell what the subscriber can take must not be limited by its own publisher.
paho's `publish` costs tens of microseconds per message in Python (and a wake-up of its network
thread each time), which on a slow 2-core host capped the old load process near 5-10k msg/s. This
publisher speaks MQTT 3.1.1 itself over a plain socket: CONNECT, QoS 0 PUBLISH packets built from
pre-encoded per-robot prefixes, one `sendall` per 5 ms tick, DISCONNECT. Every message of a tick
carries the tick's send time as its VDA 5050 `timestamp`, so publish-to-visible latency is measured
from the moment the bytes left. It imports only the standard library: a spawned load process
starts in a fraction of a second.

Each process reports what it sent and the rate it actually offered (sent / time from its first to
its last send): when a host cannot offer the set rate the bench says so instead of crediting it.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MANUFACTURER = "bench"
TICK_S = 0.005
_TS_LEN = len("2026-11-29T04:00:00.000000Z")


def state_template(serial: str, x: float, y: float) -> bytes:
    """A robot state with `"TS"` where the timestamp goes."""
    return json.dumps({
        "headerId": 0, "timestamp": "TS", "version": "2.1.0", "manufacturer": MANUFACTURER,
        "serialNumber": serial, "orderId": "", "orderUpdateId": 0, "lastNodeId": "", "lastNodeSequenceId": 0,
        "driving": True, "operatingMode": "AUTOMATIC", "nodeStates": [], "edgeStates": [], "actionStates": [],
        "batteryState": {"batteryCharge": 77.5, "charging": False}, "errors": [],
        "safetyState": {"eStop": "NONE", "fieldViolation": False},
        "agvPosition": {"x": x, "y": y, "theta": 0.5, "mapId": "park", "positionInitialized": True},
    }).encode()


def state_topic(i: int) -> str:
    return f"uagv/v2/{MANUFACTURER}/r{i:04d}/state"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_packet(client_id: str) -> bytes:
    """MQTT 3.1.1 CONNECT: clean session, keepalive off (the load process lives a few seconds)."""
    cid = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x00" + len(cid).to_bytes(2, "big") + cid
    return b"\x10" + _varint(len(body)) + body


def publish_parts(topic: str, payload_template: bytes) -> tuple[bytes, bytes]:
    """A QoS 0 PUBLISH packet split where the timestamp goes: head + b'"' + ts + b'"' + tail."""
    head, tail = payload_template.split(b'"TS"')
    t = topic.encode()
    body_len = 2 + len(t) + len(head) + 2 + _TS_LEN + len(tail)
    return b"\x30" + _varint(body_len) + len(t).to_bytes(2, "big") + t + head + b'"', b'"' + tail


def now_stamp() -> bytes:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z").encode()


@dataclass(frozen=True)
class LoadReport:
    sent: int
    offered_msg_s: float  # what this process actually offered: sent / (last send - first send + one tick)
    cpu_s: float


def publish_states(host: str, port: int, rate: float, amount: float, robots: list[int],
                   positions: list[tuple[float, float]], client_id: str) -> LoadReport:
    """Publish states of `robots` at `rate` msg/s for `amount` seconds (rate 0: `amount` messages,
    as fast as the socket takes them)."""
    packets = [publish_parts(state_topic(i), state_template(f"r{i:04d}", *positions[i % len(positions)]))
               for i in robots]
    cpu = time.process_time()
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(connect_packet(client_id))
        ack = b""
        while len(ack) < 4:
            more = sock.recv(4 - len(ack))
            if not more:
                raise ConnectionError("broker closed the connection before CONNACK")
            ack += more
        if ack[0] != 0x20 or ack[3] != 0:
            raise ConnectionError(f"broker refused the load publisher: CONNACK {ack.hex()}")
        total = int(rate * amount) if rate else int(amount)
        n = len(packets)
        sent = 0
        start = time.perf_counter()
        last = start
        while sent < total:
            due = min(total, int((time.perf_counter() - start) * rate) + 1) if rate else min(total, sent + 1000)
            if due > sent:
                stamp = now_stamp()
                sock.sendall(b"".join([b"".join((head, stamp, tail))
                                       for head, tail in (packets[k % n] for k in range(sent, due))]))
                sent = due
                last = time.perf_counter()
            if rate and sent < total:
                time.sleep(TICK_S)
        sock.sendall(b"\xe0\x00")  # DISCONNECT
        offered = sent / (last - start + (TICK_S if rate else 0.0)) if last > start else 0.0
    return LoadReport(sent, offered, time.process_time() - cpu)


def load_process(host: str, port: int, rate: float, amount: float, robots: list[int],
                 positions: list[tuple[float, float]], client_id: str, done: Any) -> None:
    """Entry point of a spawned load process; puts its LoadReport (or the error text) on `done`."""
    try:
        done.put(publish_states(host, port, rate, amount, robots, positions, client_id))
    except Exception as err:  # reported to the bench, which prints it
        done.put(f"{type(err).__name__}: {err}")
